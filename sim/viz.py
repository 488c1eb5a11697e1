"""What the web page shows: a BattleModel built from the page's controls, and its pictures.

``app.py`` (the SolaraViz page) and ``qusayr viz --bench`` use this module; the model core never
imports it. Every picture is PNG bytes, made the same way on the page and in the bench:

- the town map is drawn straight into a numpy RGB array (``town_image``) and encoded by Pillow:
  a few milliseconds, against a quarter of a second or more for the same map through matplotlib
  on this machine (its text, scatter and image layers dominate a redraw);
- the outside places and routes are a small matplotlib figure (``draw_places``), redrawn only when
  a place changes hands or a route is cut (``places_key``);
- the charts (share of the town against the record's claims, killed by side) are one matplotlib
  figure laid out once per model, whose lines are moved in place on each redraw (``Charts``).

Matplotlib is used without pyplot: a redraw leaves nothing global behind.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import matplotlib.patheffects as patheffects
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from PIL import Image as PILImage

from sim import palette
from sim.analysis import targets
from sim.battle_dates import DAY0
from sim.grid import cell_sums
from sim.installation import shipped
from sim.loading import LoadError
from sim.model import BattleModel
from sim.plots import draw_control_claims
from sim.record import Record, load_record
from sim.scenario import DEFAULT_SCENARIO, Scenario, force_overrides, load_scenario
from sim.state import ARMY, CIVILIANS, CONTESTED, GOV, HEZBOLLAH, NONE, REB, REBELS, SIDE_NAMES

SIDES = (REBELS, ARMY, HEZBOLLAH, CIVILIANS)
SIDE_COLOURS = {side: palette.SIDE_COLOURS[SIDE_NAMES[side]] for side in SIDES}  # by the state's side codes
SIDE_LABELS = {side: palette.SIDE_LABELS[SIDE_NAMES[side]] for side in SIDES}
OWNER_COLOURS = {
    "gov": palette.ATTACKERS_COLOUR,
    "reb": palette.SIDE_COLOURS["rebels"],
    "contested": palette.CONTESTED_COLOUR,
}
CELL_TINT = 0.35  # a cell's fill: its holder's colour at this strength over white (units stand out on it)


def _tint(colour: str) -> str:
    return to_hex(CELL_TINT * np.array(to_rgb(colour)) + (1 - CELL_TINT))


# cell control codes (sim.state) -> colour: outskirts nobody holds, and pale tints of the holders' colours
CONTROL_COLOURS = {
    NONE: "#f3efe4",
    GOV: _tint(OWNER_COLOURS["gov"]),
    REB: _tint(OWNER_COLOURS["reb"]),
    CONTESTED: _tint(OWNER_COLOURS["contested"]),
}
SCENARIO_VARIABLE = "QUSAYR_SCENARIO"  # how `qusayr viz` tells app.py which scenario to show
LAYERS = ("units", "civilians", "damage")  # the map's layers a user can switch on and off
DPI = 72  # the charts' resolution: small PNGs render and encode fast (docs/performance.md: step + redraw time)
EDGE_PAD_IN = 0.12  # room between the charts' text and the picture's edges (inches)
PAGE_FONT = 11  # the pictures' text, in points (= pixels at DPI 72): legible at the page's normal size
CELL_PX = 12  # pixels per 100 m cell on the town map
# where in its cell a side's disc is drawn (fractions of the cell from its south-west corner)
UNIT_OFFSETS = {REBELS: (0.3, 0.5), ARMY: (0.7, 0.7), HEZBOLLAH: (0.7, 0.3)}
ROUTE_NUMBER_AT = 0.6  # a route's number: this far along its first leg out of the town
PLACE_CLIP_KM = 9.0  # outside places further than this are drawn at this distance, named with theirs
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)  # passed on to the page's server, which then stops
ANSWER_WAIT_S = 120  # how long `qusayr viz` waits for the page to answer before saying so (it takes ~20 s here)
ANSWER_POLL_S = 0.2  # between two attempts to reach the page
STOP_GRACE_S = 15  # a stopped server still running after this is killed (its own shutdown takes 5 s at most)


# --- the model behind the page ---------------------------------------------------------------


@dataclass(frozen=True)
class Controls:
    """The page's parameter controls, each relative to the chosen scenario (the defaults change nothing)."""

    army: float = 1.0  # factor on the army and militia (start and reinforcements)
    hezbollah: float = 1.0  # factor on Hezbollah
    rebels: float = 1.0  # factor on the rebels (town, garrisons, reinforcements)
    hezbollah_present: bool = True  # whether Hezbollah takes part
    corridor: bool = True  # whether a corridor can be offered
    lethality: float = 1.0  # factor on both sides' aimed-fire lethality


def control_overrides(scenario: Scenario, controls: Controls) -> list[str]:
    """The page's controls as ``--set`` overrides of ``scenario`` (none at the defaults).

    Each control is relative to the scenario, so the defaults reproduce any variant: a force factor
    multiplies a side's starting fighters and its reinforcements (the rebels' village garrisons
    too) through ``sim.scenario.force_overrides``, as ``scale_forces`` does for all sides at once;
    ``lethality`` multiplies both sides' aimed-fire lethality; unticking Hezbollah or the corridor
    switches them off (a variant that has already switched one off stays so).
    """
    sets = force_overrides(
        scenario, {"army": controls.army, "hezbollah": controls.hezbollah, "rebels": controls.rebels}
    )
    if not controls.hezbollah_present:
        sets.append("forces.hezbollah.take_part=false")
    if not controls.corridor:
        sets.append("rules.corridor.enabled=false")
    lethality = controls.lethality
    if lethality != 1.0:
        fire = scenario.rules.fire
        sets.append(f"rules.fire.attacker_lethality_per_h={fire.attacker_lethality_per_h * lethality:.6g}")
        sets.append(f"rules.fire.rebel_lethality_per_h={fire.rebel_lethality_per_h * lethality:.6g}")
    return sets


class LiveBattle(BattleModel):
    """The battle as the page runs it: keyword controls (as SolaraViz passes them), stops at the end.

    Mesa's page passes its controls as keyword arguments and checks them against this signature,
    so each of ``Controls`` is one here too.

    Args:
        variant: scenario name or file.
        army: see ``Controls``.
        hezbollah: see ``Controls``.
        rebels: see ``Controls``.
        hezbollah_present: see ``Controls``.
        corridor: see ``Controls``.
        lethality: see ``Controls``.
        seed: the seed of the model's random generators.

    """

    def __init__(
        self,
        variant: str = DEFAULT_SCENARIO,
        army: float = Controls.army,
        hezbollah: float = Controls.hezbollah,
        rebels: float = Controls.rebels,
        hezbollah_present: bool = Controls.hezbollah_present,
        corridor: bool = Controls.corridor,
        lethality: float = Controls.lethality,
        seed: int = 1,
    ) -> None:
        base = load_scenario(variant)
        self.controls = Controls(army, hezbollah, rebels, hezbollah_present, corridor, lethality)
        self.overrides = control_overrides(base, self.controls)
        super().__init__(load_scenario(variant, self.overrides) if self.overrides else base, rng=int(seed))
        self.seed = int(seed)
        self.killed_by_step = [self.state.tally.killed.copy()]  # people killed by side, after each step

    def step(self) -> None:
        """One step of the battle; the run stops (``running`` false) at the scenario's end."""
        if self.steps > self.n_steps:  # Mesa counts the step before running it
            self.running = False
            return
        super().step()
        self.killed_by_step.append(self.state.tally.killed.copy())
        self.running = self.steps < self.n_steps


# --- text ------------------------------------------------------------------------------------


def now(model: BattleModel) -> dt.datetime:
    """The date and time at the end of the last step run (the start before the first)."""
    return dt.datetime.combine(DAY0, dt.time()) + dt.timedelta(hours=model.state.hour)


def clock_text(model: BattleModel) -> str:
    """The clock: date, hour and day of the battle (day 0 = 19 May 2013)."""
    when = now(model)
    return f"{when:%a %d %B %Y, %H:%M} (day {int(model.state.hour // 24)}, step {model.state.steps} of {model.n_steps})"


def status_text(model: BattleModel) -> str:
    """What has happened so far: the share held, the sectors, the events with their date."""
    state = model.state
    parts = [
        f"attackers hold {state.gov_share:.0%} of the town, {state.sectors_gov} of {state.n_sectors} sectors",
        f"rebel cohesion {state.cohesion:.2f}",
        f"{len(state.routes_open)} of {len(state.routes)} supply routes open",
    ]
    for hour, what in (
        (state.encirclement_hour, "encircled"),
        (state.talks_hour, "talks"),
        (state.withdrawal_hour, "withdrawal"),
        (state.fall_hour, "the town fell"),
    ):
        if hour is not None:
            when = dt.datetime.combine(DAY0, dt.time()) + dt.timedelta(hours=hour)
            parts.append(f"{what} {when:%d %b %H:%M}")
    return "; ".join(parts)


def killed_text(model: BattleModel) -> str:
    """People killed so far, by side."""
    killed = model.state.tally.killed
    return "killed so far: " + ", ".join(f"{SIDE_LABELS[s]} {killed[s]:,}" for s in SIDES)


def forces_text(model: BattleModel) -> str:
    """The forces the run started with, and the overrides the controls made."""
    forces = model.config.forces
    hezbollah = f"{forces.hezbollah.fighters:,}" if forces.hezbollah.take_part else "none"
    text = (
        f"scenario {model.config.name}, seed {getattr(model, 'seed', '?')}: rebels {forces.rebels.fighters:,}, "
        f"army and militia {forces.army.fighters:,}, Hezbollah {hezbollah} at the start"
    )
    overrides = getattr(model, "overrides", [])
    return text + (f"; overrides: {' '.join(overrides)}" if overrides else "")


# --- the town: a raster drawn with numpy ------------------------------------------------------


def _rgb(colour: str) -> np.ndarray:
    return np.array(to_rgb(colour))


def _disc(radius: int) -> np.ndarray:
    """Offsets (rows, cols) of the pixels of a disc of ``radius`` pixels."""
    r = np.arange(-radius, radius + 1)
    rows, cols = np.meshgrid(r, r, indexing="ij")
    inside = rows**2 + cols**2 <= radius**2 + radius
    return np.stack([rows[inside], cols[inside]])


def unit_radius_px(fighters: np.ndarray) -> np.ndarray:
    """A unit disc's radius in pixels: 1 for a few fighters, growing with the square root, at most 6."""
    return np.clip(np.rint(0.6 * np.sqrt(fighters)), 1, CELL_PX // 2).astype(int)


def town_image(model: BattleModel, layers: Sequence[str] = LAYERS) -> np.ndarray:
    """The town as an RGB image (rows from the north), ``CELL_PX`` pixels per cell.

    Cells are coloured by who holds them (``CONTROL_COLOURS``), with the river and the roads; the
    16 sectors are framed in black, each with a tab in its holder's colour in its north-west
    corner. ``layers`` picks from ``LAYERS``: ``damage`` darkens a cell by up to 60 %;
    ``civilians`` puts a purple square in each inhabited cell (larger for more people); ``units``
    puts one disc per side in each cell where that side has fighters (rebels west of the centre,
    army north-east, Hezbollah south-east), its radius growing with the square root of the fighters.
    """
    width, height = model.state.shape
    px = CELL_PX
    cells = np.array([_rgb(CONTROL_COLOURS[c]) for c in range(4)])[model.state.control]  # [x, y, rgb]
    cells[model.state.road] = 0.75 * cells[model.state.road] + 0.25 * _rgb("#7f8c8d")
    cells[model.state.river] = _rgb("#3274c7")
    if "damage" in layers:
        cells *= 1.0 - 0.6 * model.state.damage[..., None]
    image = np.repeat(np.repeat(cells, px, axis=0), px, axis=1)  # [x px, y px, rgb], y pointing north
    image[px - 1 :: px, :, :] *= 0.93  # faint cell edges
    image[:, px - 1 :: px, :] *= 0.93
    if "civilians" in layers and model.state.civilians.any():
        xs, ys = np.nonzero(model.state.civilians)
        share = model.state.civilians[xs, ys] / model.state.civilians.max()
        half = np.clip(np.rint(share * (px // 2 - 1)), 1, px // 2 - 1).astype(int)
        purple = _rgb(SIDE_COLOURS[CIVILIANS])
        for x, y, h in zip(xs, ys, half, strict=True):
            cx, cy = x * px + px // 2, y * px + px // 2
            image[cx - h : cx + h, cy - h : cy + h] = purple
    if "units" in layers:
        squads = model.state.squads
        idx = np.flatnonzero(squads.in_town())
        per_cell = cell_sums(model.state.shape, squads.x[idx], squads.y[idx], squads.side[idx], squads.strength[idx], 3)
        for side, (ox, oy) in UNIT_OFFSETS.items():
            xs, ys = np.nonzero(per_cell[side])
            radii = unit_radius_px(per_cell[side][xs, ys])
            colour = _rgb(SIDE_COLOURS[side])
            for radius in np.unique(radii):
                ring, disc = _disc(radius + 1), _disc(radius)
                pick = radii == radius
                for stamp, paint in ((ring, np.zeros(3)), (disc, colour)):
                    cx = (xs[pick] * px + round(ox * px))[:, None] + stamp[0][None, :]
                    cy = (ys[pick] * px + round(oy * px))[:, None] + stamp[1][None, :]
                    keep = (cx >= 0) & (cx < width * px) & (cy >= 0) & (cy < height * px)
                    image[cx[keep], cy[keep]] = paint
    m, n, size = model.state.margin, model.config.town.sectors_per_side, model.config.town.sector_cells
    edges = (m + size * np.arange(n + 1)) * px
    lo, hi = edges[0] - 1, edges[-1] + 1
    for edge in edges:
        image[edge - 1 : edge + 1, lo:hi] = 0.0
        image[lo:hi, edge - 1 : edge + 1] = 0.0
    tab = px // 2 + 2
    for sector, owner in enumerate(model.state.sector_owner):
        row, col = divmod(sector, n)  # reading order: rows from the north
        x0, y1 = edges[col] + 1, edges[n - row] - 1
        image[x0 : x0 + tab, y1 - tab : y1] = _rgb(OWNER_COLOURS[str(owner)])
    return (np.clip(image, 0, 1) * 255).astype(np.uint8).transpose(1, 0, 2)[::-1]


def encode_png(image: np.ndarray) -> bytes:
    """An RGB array as PNG bytes (fast compression: the page sends one per redraw)."""
    buffer = io.BytesIO()
    PILImage.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def figure_png(fig: Figure) -> bytes:
    """A matplotlib figure as PNG bytes, drawn on its own canvas.

    Unlike ``savefig``, drawing on the figure's canvas keeps its renderer, and with it the layout
    of every text already measured: on this machine that halves the time of a chart's redraw.
    """
    canvas = FigureCanvasAgg(fig) if not isinstance(fig.canvas, FigureCanvasAgg) else fig.canvas
    canvas.draw()
    return encode_png(np.asarray(canvas.buffer_rgba())[..., :3])


def town_png(model: BattleModel, layers: Sequence[str] = LAYERS) -> bytes:
    """The town map as PNG bytes."""
    return encode_png(town_image(model, layers))


def legend_entries(layers: Sequence[str] = LAYERS) -> list[tuple[str, str]]:
    """(colour, label) for the map's legend, for the layers shown."""
    entries = [
        (CONTROL_COLOURS[GOV], "cell held by the attackers"),
        (CONTROL_COLOURS[REB], "held by the rebels"),
        (CONTROL_COLOURS[CONTESTED], "contested"),
        (CONTROL_COLOURS[NONE], "outskirts"),
        ("#3274c7", "Orontes"),
    ]
    if "units" in layers:
        entries += [(SIDE_COLOURS[s], SIDE_LABELS[s]) for s in UNIT_OFFSETS]
    if "civilians" in layers:
        entries.append((SIDE_COLOURS[CIVILIANS], SIDE_LABELS[CIVILIANS]))
    return entries


# --- the outside places: matplotlib, redrawn only when a holder or a route changes -------------


def _clip(x_km: float, y_km: float) -> tuple[float, float]:
    """A place's position, pulled in to ``PLACE_CLIP_KM`` from the town when further."""
    distance = float(np.hypot(x_km, y_km))
    if distance <= PLACE_CLIP_KM:
        return x_km, y_km
    return x_km * PLACE_CLIP_KM / distance, y_km * PLACE_CLIP_KM / distance


def places_key(model: BattleModel) -> tuple:
    """What the places picture depends on: the model, each place's holder, the open routes."""
    return (id(model), model.state.node_holder.tobytes(), tuple(model.state.routes_open))


def draw_places(model: BattleModel, ax: Axes) -> Axes:
    """The outside places (coloured by holder) and the supply routes (open: solid green, cut: dashed red).

    Each route is numbered on its first leg out of the town, and the title says which are open:
    labels along the routes hid the places' names.
    """
    places = model.config.places
    xy = [_clip(p.x_km, p.y_km) for p in places]
    town = model.state.town_node
    status = []
    for i, (nodes, _) in enumerate(model.state.routes):
        path = np.array([xy[town]] + [xy[n] for n in nodes])
        is_open = i in model.state.routes_open
        colour = SIDE_COLOURS[REBELS] if is_open else SIDE_COLOURS[ARMY]
        ax.plot(path[:, 0], path[:, 1], color=colour, linestyle="-" if is_open else "--", linewidth=1.5, zorder=1)
        ax.annotate(
            str(i + 1),
            path[0] + ROUTE_NUMBER_AT * (path[1] - path[0]),
            fontsize=PAGE_FONT,
            fontweight="bold",
            ha="center",
            va="center",
            color=colour,
            path_effects=[patheffects.withStroke(linewidth=3, foreground="white")],
        )
        status.append(f"{i + 1} {'open' if is_open else 'cut'}")
    for i, place in enumerate(places):
        x, y = xy[i]
        colour = SIDE_COLOURS[ARMY] if model.state.node_holder[i] == GOV else SIDE_COLOURS[REBELS]
        ax.scatter([x], [y], s=80 if i == town else 25, marker="s" if i == town else "o", color=colour, zorder=2)
        distance = float(np.hypot(place.x_km, place.y_km))
        name = f"{place.name} ({distance:.0f} km)" if distance > PLACE_CLIP_KM else place.name
        ax.annotate(name, (x, y), xytext=(4, 2), textcoords="offset points", fontsize=PAGE_FONT - 1)
    ax.set_xlim(-PLACE_CLIP_KM - 1, PLACE_CLIP_KM + 3)
    ax.set_ylim(-PLACE_CLIP_KM - 1, PLACE_CLIP_KM + 1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(
        "Outside places and supply routes\n(red: the attackers', green: the rebels')\nroutes: " + ", ".join(status),
        fontsize=PAGE_FONT,
    )
    return ax


def places_png(model: BattleModel) -> bytes:
    """The places and routes as PNG bytes."""
    fig = Figure(figsize=(5.6, 6.0), dpi=DPI, layout="constrained")  # room above the map for its title
    draw_places(model, fig.subplots())
    return figure_png(fig)


# --- the charts: one matplotlib figure whose lines are updated in place --------------------------


def _hours_as_dates(hours: Sequence[float] | np.ndarray) -> np.ndarray:
    return mdates.date2num(dt.datetime.combine(DAY0, dt.time())) + np.asarray(hours, dtype=float) / 24.0


class Charts:
    """The share of the town held, against the record's claims, and the killed by side, over the battle.

    The figure, its axes, the claims and the legends are drawn once per model and kept as a
    background; ``png`` moves the lines to the model's current state and draws only them on that
    background (blitting). The background is drawn again only when the killed axis must grow
    (its top doubles: a few times a battle). ``targets`` are the control targets of
    ``sim.analysis.targets`` (each claim as its interval after the source's lean), drawn by
    ``sim.plots.draw_control_claims``.
    """

    def __init__(self, model: LiveBattle, targets: list, record: Record) -> None:
        self.fig = Figure(figsize=(7.6, 7.4), dpi=DPI, layout="constrained")
        self.fig.get_layout_engine().set(w_pad=EDGE_PAD_IN, h_pad=EDGE_PAD_IN)  # the last date whole, with room
        self.canvas = FigureCanvasAgg(self.fig)
        share_ax, killed_ax = self.fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        (self.share,) = share_ax.plot(
            [], [], color=palette.MODEL_COLOUR, linewidth=1.5, label="model: share of the town"
        )
        (self.sectors,) = share_ax.plot(
            [],
            [],
            color=palette.MODEL_BAND_COLOUR,
            linestyle="--",
            linewidth=1,
            label=f"model: sectors held / {model.state.n_sectors}",
        )
        draw_control_claims(share_ax, targets, record, width=3, size=4)
        share_ax.set_ylim(0, 1)
        share_ax.set_ylabel("held by the attackers", fontsize=PAGE_FONT)
        share_ax.set_title("Share of the town held by the attackers, against the record's claims", fontsize=PAGE_FONT)
        self.fig.legend(
            *share_ax.get_legend_handles_labels(), loc="outside upper center", ncol=2, fontsize=PAGE_FONT - 1
        )  # above the charts: inside, it would hide claims
        self.killed = {
            side: killed_ax.plot([], [], color=SIDE_COLOURS[side], label=SIDE_LABELS[side])[0] for side in SIDES
        }
        killed_ax.set_ylabel("killed (people)", fontsize=PAGE_FONT)
        killed_ax.set_title("Killed by side", fontsize=PAGE_FONT, loc="left")
        killed_ax.legend(  # above the axes, right of the title: the lines rise into any corner inside
            loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, fontsize=PAGE_FONT - 1, frameon=False, borderaxespad=0
        )
        self.now = [ax.axvline(0, color="grey", linewidth=0.8) for ax in (share_ax, killed_ax)]
        for ax in (share_ax, killed_ax):
            ax.set_xlim(model.config.time.start, model.config.time.end)
            ax.tick_params(labelsize=PAGE_FONT - 1)
            ax.grid(alpha=0.3)
        killed_ax.xaxis.set_major_locator(mdates.DayLocator(interval=2))
        killed_ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        self.killed_ax = killed_ax
        self.moving = [self.share, self.sectors, *self.killed.values(), *self.now]
        for artist in self.moving:
            artist.set_animated(True)  # left out of the background, drawn on it each time
        self.canvas.draw()  # lay the figure out once; later redraws keep that layout
        self.fig.set_layout_engine("none")
        self.background = None
        self.killed_top = 0.0

    def update(self, model: LiveBattle) -> None:
        """Move every line to the model's current state (and the killed axis's top above the highest)."""
        series = model.datacollector.model_vars
        when = _hours_as_dates(series["hour"])
        self.share.set_data(when, series["gov_share"])
        self.sectors.set_data(when, np.asarray(series["gov_sectors"], dtype=float) / model.state.n_sectors)
        killed = np.array(model.killed_by_step)
        when = _hours_as_dates(model.state.start_hour + model.state.dt_h * np.arange(len(killed)))
        for side, line in self.killed.items():
            line.set_data(when, killed[:, side])
        for line in self.now:
            line.set_xdata([when[-1], when[-1]])
        top = 20.0 * 2.0 ** np.ceil(np.log2(max(killed.max(), 1) * 1.05 / 20.0)) if killed.max() > 19 else 20.0
        if top != self.killed_top:
            self.killed_top = top
            self.killed_ax.set_ylim(0, top)
            self.background = None

    def png(self, model: LiveBattle) -> bytes:
        """The charts at the model's current state, as PNG bytes."""
        self.update(model)
        if self.background is None:
            self.canvas.draw()
            self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        else:
            self.canvas.restore_region(self.background)
        for artist in self.moving:
            artist.axes.draw_artist(artist)
        return encode_png(np.asarray(self.canvas.buffer_rgba())[..., :3])


def control_targets(record: Record, scenario: Scenario) -> list:
    """The record's control targets (``sim.analysis.targets``), as the history figures draw them."""
    return [target for target in targets.targets(record, scenario) if target.kind == "control"]


# --- timing ----------------------------------------------------------------------------------


def bench(model: LiveBattle, record: Record, *, redraws: int = 20, steps_per_redraw: int = 4) -> dict[str, Any]:
    """Time what the page does on STEP: ``steps_per_redraw`` model steps, then every picture as PNG.

    The places are redrawn only when they change, as on the page. Returns the median and the
    slowest of ``redraws`` such cycles, and the median of the model steps alone, in seconds.
    """
    charts = Charts(model, control_targets(record, model.config), record)
    key, totals, stepping = None, [], []
    for _ in range(redraws):
        started = time.perf_counter()
        for _ in range(steps_per_redraw):
            model.step()
        stepped = time.perf_counter()
        town_png(model)
        charts.png(model)
        if places_key(model) != key:
            key = places_key(model)
            places_png(model)
        totals.append(time.perf_counter() - started)
        stepping.append(stepped - started)
    return {
        "scenario": model.config.name,
        "redraws": redraws,
        "steps_per_redraw": steps_per_redraw,
        "median_s": round(statistics.median(totals), 3),
        "max_s": round(max(totals), 3),
        "median_steps_only_s": round(statistics.median(stepping), 4),
    }


def bench_page(scenario: str | Path, *, redraws: int, steps_per_redraw: int) -> dict[str, Any]:
    """``bench`` on a fresh ``LiveBattle`` of ``scenario`` against the record (``qusayr viz --bench``)."""
    return bench(LiveBattle(variant=str(scenario)), load_record(), redraws=redraws, steps_per_redraw=steps_per_redraw)


class PortUnavailableError(LoadError):
    """``--port`` names a port the page cannot listen on (in use, out of range, not permitted)."""


def listen(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:``port`` for the page's server (0: any free port).

    Bound here, before the server starts, so that a port in use is one line and exit 2, and the
    server cannot lose it to another program meanwhile.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a port left in TIME_WAIT is free
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(2048)
    except OverflowError:
        listener.close()
        raise PortUnavailableError(f"--port {port}: not a port (0 to 65535)") from None
    except OSError as exc:
        listener.close()
        raise PortUnavailableError(f"--port {port}: cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    return listener


def viz_command(scenario: str | Path, listener: socket.socket) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve ``app.py`` for ``scenario`` on ``listener``.

    ``sim.viz_server`` runs Solara's server (production mode, no reloader) on the inherited socket,
    as a child that does not outlive this process; telemetry is off: the page reaches nothing off
    the machine. Start it with ``page_server``, which passes the socket on.
    """
    command = [sys.executable, "-m", "sim.viz_server", str(shipped("app.py"))]
    command += ["--fd", str(listener.fileno()), "--parent", str(os.getpid())]
    env = {**os.environ, SCENARIO_VARIABLE: str(scenario), "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    return command, env


def page_server(scenario: str | Path, listener: socket.socket, **popen: Any) -> subprocess.Popen:
    """Start the page's server for ``scenario`` on ``listener`` (``popen``: more of ``subprocess.Popen``'s arguments).

    The server runs in its own process group, so that a Ctrl-C at the terminal reaches it once,
    through ``serve``, rather than twice (a second SIGINT cuts its shutdown short).
    """
    command, env = viz_command(scenario, listener)
    return subprocess.Popen(command, env=env, pass_fds=[listener.fileno()], process_group=0, **popen)


class _StopRequestError(Exception):
    """A signal asking ``qusayr viz`` to stop, raised out of the wait for the server (not an error)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, _frame: Any) -> None:
    raise _StopRequestError(signum)


def answers(url: str, server: subprocess.Popen, timeout_s: float = ANSWER_WAIT_S) -> bool:
    """Whether the page's server answers ``url`` (with any HTTP status) before it ends or ``timeout_s`` pass."""
    deadline = time.monotonic() + timeout_s
    while server.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # an answer all the same
        except OSError:  # not listening yet, or too slow to answer: ask again
            time.sleep(ANSWER_POLL_S)
    return False


def _serve_until_stopped(server: subprocess.Popen, url: str) -> int:
    """Tell ``url`` once the server answers it; wait for the server; on SIGTERM, SIGHUP or SIGINT stop it.

    The signal is passed on and the server waited for; one that has not ended ``STOP_GRACE_S``
    seconds after it is killed. Returns 0 when stopped, else the server's own exit status.
    """
    previous = {signum: signal.signal(signum, _raise_stop) for signum in STOP_SIGNALS}
    try:
        if answers(url, server):
            print(f"qusayr: the battle at {url} (Ctrl-C stops it)", flush=True)
        elif server.poll() is None:
            print(f"qusayr: {url} has not answered in {ANSWER_WAIT_S} s; still waiting (Ctrl-C stops it)", flush=True)
        status = server.wait()
        return status if status >= 0 else 128 - status
    except _StopRequestError as stop:
        for signum in STOP_SIGNALS:  # a second signal changes nothing: the server is stopping
            signal.signal(signum, signal.SIG_IGN)
        server.send_signal(stop.signum)
        try:
            server.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            server.kill()
        return 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve(scenario: str | Path, port: int) -> int:
    """Serve the page for ``scenario`` on 127.0.0.1:``port`` until stopped (``qusayr viz``).

    The page's address is printed once the page answers it (the server takes some seconds to start).
    The server is a child process that ends with this one however this one ends (see
    ``sim.viz_server``). Returns 0 once stopped by a signal (Ctrl-C), else the server's exit status;
    2 without app.py. A port that cannot be had raises ``PortUnavailableError`` before anything starts.
    """
    app = shipped("app.py")
    if not app.is_file():
        print(f"qusayr: {app}: the page's app.py is missing (a broken install: reinstall qusayr)", file=sys.stderr)
        return 2
    with listen(port) as listener:
        server = page_server(scenario, listener)
        port = listener.getsockname()[1]
    print(
        f"qusayr: starting the page for {scenario} on 127.0.0.1:{port}; its address follows once it answers", flush=True
    )
    return _serve_until_stopped(server, f"http://127.0.0.1:{port}/")
