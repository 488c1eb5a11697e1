"""Figures: pure functions that draw on a matplotlib Axes and return it (never ``show()``).

The model core never imports this module; the CLI and reports do. Colours come from ``sim.palette``:
the sides', the sources' leans, and the model's events (black, dashed) apart from the record's
(slate, solid), each with its own entry in the legend.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import matplotlib.dates as mdates
import matplotlib.patheffects as patheffects
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.patches import Patch

from sim.battle_dates import DAY0, battle_date
from sim.palette import (
    ATTACKERS_COLOUR,
    LEAN_COLOURS,
    MODEL_BAND_COLOUR,
    MODEL_COLOUR,
    MODEL_EVENT_STYLE,
    RECORD_COLOUR,
    RECORD_EVENT_STYLE,
    SIDE_COLOURS,
    SIDE_LABELS,
)
from sim.record import Record, town_event
from sim.run import OUTCOME_EVENT_DAYS

SYMLOG_LOSS_BELOW = 0.01  # the calibration figure: linear below this loss, logarithmic above
EVENT_LABEL_GAP_DAYS = 0.8  # events of one source closer than this share one label (their texts would overlap)
SWEEP_POINTS_DRAWN = 8  # the sector bands of more design points than this are unreadable: a stated selection
HELD_BY_RUNS = LinearSegmentedColormap.from_list(
    "held_by_runs", [SIDE_COLOURS["rebels"], "#f7f7f7", ATTACKERS_COLOUR]
)  # share of runs in which the attackers hold a sector: 0 the rebels' green, 1 the attackers' red
EVENT_OF_OUTCOME = {day: kind for kind, day in OUTCOME_EVENT_DAYS.items()}  # fall_day -> fall


def _start() -> dt.datetime:
    return dt.datetime.combine(DAY0, dt.time())


def _end_of_day(day: int) -> dt.datetime:
    return _start() + dt.timedelta(days=day + 1)


def _noon(date: dt.date) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(12))


def _mark_events(ax: Axes, events: Sequence[tuple[dt.datetime, str]], *, model: bool) -> None:
    """Vertical lines at the ``events`` (when, what) of the model (dashed, labelled at the top) or the record.

    The record's are solid and labelled at the bottom, so that the two sources' labels never meet;
    each text lies inside the axes, left of its line; events of one source closer than
    ``EVENT_LABEL_GAP_DAYS`` share a label. The lines lie behind the data. One legend entry per source.
    """
    style = MODEL_EVENT_STYLE if model else RECORD_EVENT_STYLE
    source = "model" if model else "record"
    legend = f"{source}: events ({'dashed' if model else 'solid'})"
    groups: list[list[tuple[dt.datetime, str]]] = []
    for when, what in sorted(events):
        ax.axvline(when, **style, zorder=1.5, label=None if groups else legend)
        if groups and when - groups[-1][-1][0] < dt.timedelta(days=EVENT_LABEL_GAP_DAYS):
            groups[-1].append((when, what))
        else:
            groups.append([(when, what)])
    for group in groups:
        ax.annotate(
            f"{source}: " + ", ".join(what for _, what in group),
            (mdates.date2num(group[0][0]), 0.98 if model else 0.02),
            xycoords=ax.get_xaxis_transform(),
            xytext=(-2, 0),
            textcoords="offset points",
            rotation=90,
            ha="right",
            va="top" if model else "bottom",
            fontsize=7,
            color=style["color"],
            path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")],  # legible over lines
        )


def _town_events_of_record(record: Record) -> list[tuple[dt.datetime, str]]:
    """The record's encirclement, withdrawal and fall of the town, each at noon of its date."""
    return [(_noon(town_event(record, kind).date), kind) for kind in OUTCOME_EVENT_DAYS]


def _date_axis(ax: Axes, days: int | None = 19) -> None:
    """Dates every two days ("21 May") along x; with ``days``, the axis runs from day 0 for that many days."""
    if days is not None:
        ax.set_xlim(_start(), _start() + dt.timedelta(days=days))
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=2))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.set_xlabel("2013")


def _legend_beside(ax: Axes) -> None:
    """The legend right of the axes, where it hides nothing drawn."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)


def plot_control(summary: dict[str, Any], *, record: Record | None = None, ax: Axes | None = None) -> Axes:
    """One run's share of the town and of its sectors held by the attackers by date, against the record.

    Each of the record's claims is drawn at noon of its date as its interval of the attackers' share
    (see ``ControlClaim.gov_share``), coloured by the source's lean; the run's encirclement,
    withdrawal and fall are dashed lines, the record's solid ones.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
    days = range(len(summary["gov_share_by_day"]))
    ends = [_end_of_day(d) for d in days]
    ax.plot(ends, summary["gov_share_by_day"], color=MODEL_COLOUR, marker="o", ms=3, label="model: share of town area")
    n_sectors = len(summary["sector_owner_by_day"][0]) if summary["sector_owner_by_day"] else 16
    ax.step(
        ends,
        [s / n_sectors for s in summary["gov_sectors_by_day"]],
        where="post",
        color=MODEL_BAND_COLOUR,
        linestyle="--",
        label=f"model: sectors held / {n_sectors}",
    )
    model_events = [
        (_start() + dt.timedelta(days=summary[key]), kind)
        for kind, key in OUTCOME_EVENT_DAYS.items()
        if summary.get(key) is not None
    ]
    _mark_events(ax, model_events, model=True)
    if record is not None:
        seen: set[str] = set()
        for claim in record.control_claims:
            low, high = claim.gov_share
            low, high = max(low, 0.0), min(high, 1.0)
            colour = LEAN_COLOURS[claim.lean]
            label = f"record: {claim.lean} claim" if claim.lean not in seen else None
            seen.add(claim.lean)
            ax.vlines(_noon(claim.date), low, high, color=colour, alpha=0.6, linewidth=3)
            ax.plot(_noon(claim.date), (low + high) / 2, "o", color=colour, mec="white", label=label)
        _mark_events(ax, _town_events_of_record(record), model=False)
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("held by the attackers (share of the town)")
    _date_axis(ax, days=None)
    ax.set_title(f"al-Qusayr: control of the town, scenario {summary['scenario']}, seed {summary['seed']} (one run)")
    _legend_beside(ax)
    ax.grid(alpha=0.3)
    return ax


def _point_label(values: dict[str, Any]) -> str:
    """A design point's parameter values, each named by the last part of its path: 'fighters=4000, enabled=True'."""
    return ", ".join(
        f"{name.rsplit('.', 1)[-1]}={value:.4g}" if isinstance(value, float) else f"{name.rsplit('.', 1)[-1]}={value}"
        for name, value in values.items()
    )


def _record_band(ax: Axes, targets: Sequence, outcome: str) -> None:
    """The record's targets on ``outcome`` as horizontal bands (the interval scored), each in the legend."""
    for target in targets:
        if target.outcome != outcome:
            continue
        high = target.high if math.isfinite(target.high) else ax.get_ylim()[1]
        when = f", {battle_date(target.day)}" if target.kind == "event" else ""
        scored = f"{target.low:g} to {target.high:g}" if math.isfinite(target.high) else f"at least {target.low:g}"
        label = f"record: {target.label}{when} (scored: {scored})"
        ax.axhspan(target.low, high, color=RECORD_COLOUR, alpha=0.15, label=label)


def plot_outcome_vs_parameter(
    runs, parameter: str, outcome: str, *, targets: Sequence = (), ax: Axes | None = None
) -> Axes:
    """One outcome of a sweep against one varied parameter: every run, each point's median, and the record.

    ``runs`` is the sweep's ``runs.parquet`` as a DataFrame; runs where the outcome did not happen
    (a town that never fell) are left out and counted in the title. ``targets`` are the record's
    (``sim.analysis.targets``): those on ``outcome`` are drawn as a band, the interval a run is scored against.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5), layout="constrained")
    happened = runs[runs[outcome].notna()]
    ax.scatter(happened[parameter], happened[outcome], s=12, alpha=0.5, color=MODEL_BAND_COLOUR, label="model: runs")
    medians = happened.groupby("point").agg({parameter: "first", outcome: "median"}).sort_values(parameter)
    ax.plot(
        medians[parameter], medians[outcome], "o", color=MODEL_COLOUR, ms=4, label="model: median of a point's runs"
    )
    _record_band(ax, targets, outcome)
    if runs[parameter].dtype.kind in "iuf":  # a number: the axis spans every point, those left out too
        low, high = float(runs[parameter].min()), float(runs[parameter].max())
        pad = 0.05 * (high - low) or 0.05 * abs(low) or 1.0
        ax.set_xlim(low - pad, high + pad)
    if happened.empty:
        ax.text(0.5, 0.5, "no run: it never happened", transform=ax.transAxes, ha="center", va="center")
    missing = len(runs) - len(happened)
    ax.set_xlabel(parameter)
    ax.set_ylabel(outcome.replace("_", " "))
    ax.set_title(f"{outcome.replace('_', ' ')} against {parameter}" + (f" ({missing} runs: never)" if missing else ""))
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.16), fontsize=8, borderaxespad=0)  # below: long labels
    ax.grid(alpha=0.3)
    return ax


def sweep_points_shown(points: Sequence[int], most: int = SWEEP_POINTS_DRAWN) -> list[int]:
    """The design points a figure of at most ``most`` points shows: all, or ``most`` evenly spaced in order."""
    if len(points) <= most:
        return list(points)
    return [points[i] for i in np.linspace(0, len(points) - 1, most).round().astype(int)]


def plot_sector_bands(
    runs,
    parameters: Sequence[str],
    *,
    targets: Sequence = (),
    ax: Axes | None = None,
    most: int = SWEEP_POINTS_DRAWN,
) -> Axes:
    """Sectors held by the attackers by date for each design point: median and 10-90 % band of its replicates.

    Each line is labelled by its point's values of ``parameters``; points are ordered by those values,
    and with more than ``most`` of them, ``most`` evenly spaced in that order are drawn and the title
    says so. The record's encirclement, withdrawal and fall (event ``targets`` on them) are solid lines.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
    columns = sorted(c for c in runs.columns if c.startswith("gov_sectors_d"))
    ends = [_end_of_day(int(c.removeprefix("gov_sectors_d"))) for c in columns]
    values = runs.groupby("point")[list(parameters)].first().sort_values(list(parameters))
    shown = sweep_points_shown(list(values.index), most)
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.8, len(shown)))
    for point, colour in zip(shown, colours, strict=True):
        held = runs[runs["point"] == point][columns].to_numpy(dtype=float)
        label = _point_label(values.loc[point].to_dict())
        ax.plot(ends, np.median(held, axis=0), color=colour, label=label)
        ax.fill_between(ends, *np.percentile(held, [10, 90], axis=0), color=colour, alpha=0.15)
    events = [
        (_noon(DAY0 + dt.timedelta(days=t.day)), EVENT_OF_OUTCOME[t.outcome])
        for t in targets
        if t.kind == "event" and t.outcome in EVENT_OF_OUTCOME
    ]
    _mark_events(ax, events, model=False)
    ax.set_ylim(0, 16.5)
    ax.set_ylabel("sectors held by the attackers (of 16)")
    _date_axis(ax, days=None)
    selection = "" if len(shown) == len(values) else f"; {len(shown)} of {len(values)} points, evenly spaced in order"
    ax.set_title(f"Sector control by design point: median and 10-90 % of replicates{selection}")
    _legend_beside(ax)
    ax.grid(alpha=0.3)
    return ax


SOURCE_NOTE = "Record: English Wikipedia, 'Battle of al-Qusayr (2013)' (CC BY-SA); model: qusayr"
EVENT_MARKS = (
    ("airbase-captured", "air base taken"),
    ("totally-surrounded", "encircled"),
    ("corridor", "corridor, withdrawal"),
    ("fall", "fall"),
)


def _source(ax: Axes) -> None:
    ax.annotate(SOURCE_NOTE, (0, -0.2), xycoords="axes fraction", fontsize=6, color="grey", va="top")


def draw_control_claims(ax: Axes, targets: list, record: Record, *, width: float = 4, size: float = 6) -> Axes:
    """The record's control claims on a date axis of the attackers' share of the town.

    Each control target of ``sim.analysis.targets`` (other kinds are skipped) is drawn at noon of its claim's
    date as its interval after the lean (a bar), with the claim's own figure as a dot, coloured by
    the source's lean; a day's bracket of the sides' claims (a target of no single claim) as a
    capped line in the record's colour.
    """
    claims = {c.id: c for c in record.control_claims}
    seen: set[str] = set()
    for target in targets:
        if target.kind != "control":
            continue
        when = dt.datetime.combine(record.day0 + dt.timedelta(days=target.day), dt.time(12))
        if target.id not in claims:
            label = "record: between the sides' claims of the day" if "bracket" not in seen else None
            seen.add("bracket")
            beside = when + dt.timedelta(hours=5)  # beside the day's claims, not hidden behind them
            ax.vlines(beside, target.low, target.high, color=RECORD_COLOUR, linewidth=1)
            ax.plot([beside, beside], [target.low, target.high], "_", color=RECORD_COLOUR, ms=width * 3, label=label)
            continue
        colour = LEAN_COLOURS.get(target.lean, RECORD_COLOUR)
        label = f"record: {target.lean} claim (interval after lean)" if target.lean not in seen else None
        seen.add(target.lean)
        ax.vlines(when, target.low, target.high, color=colour, alpha=0.5, linewidth=width)
        low, high = claims[target.id].gov_share
        ax.plot(when, (max(low, 0) + min(high, 1)) / 2, "o", color=colour, mec="white", ms=size, label=label)
    return ax


def plot_control_ensemble(
    share_by_day: np.ndarray, targets: list, record: Record, *, title: str = "", ax: Axes | None = None
) -> Axes:
    """The attackers' share of the town by date: ensemble median with 50 % and 90 % bands, and the record.

    ``share_by_day`` is runs x days (the share at the end of each day); ``targets`` are the control
    targets of ``sim.analysis.targets`` (each claim drawn at noon of its date as its interval after the lean,
    with the claim's own figure as a dot, coloured by lean); key events of the record (``EVENT_MARKS``)
    are solid lines.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(11.5, 5), layout="constrained")
    ends = [_end_of_day(d) for d in range(share_by_day.shape[1])]
    q05, q25, q50, q75, q95 = np.percentile(share_by_day, [5, 25, 50, 75, 95], axis=0)
    ax.fill_between(ends, q05, q95, color=MODEL_BAND_COLOUR, alpha=0.25, label="model: 90 % of runs")
    ax.fill_between(ends, q25, q75, color=MODEL_BAND_COLOUR, alpha=0.5, label="model: 50 % of runs")
    ax.plot(ends, q50, color=MODEL_COLOUR, marker="o", ms=3, label=f"model: median of {len(share_by_day)} runs")
    draw_control_claims(ax, targets, record)
    events = {e.id: e for e in record.events}
    _mark_events(ax, [(_noon(events[i].date), text) for i, text in EVENT_MARKS if i in events], model=False)
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("held by the attackers (share of the town's area)")
    _date_axis(ax)
    ax.set_title(title or "al-Qusayr 2013: control of the town, model ensemble against the record")
    _legend_beside(ax)
    ax.grid(alpha=0.3)
    _source(ax)
    return ax


def plot_sector_maps(
    held_by_day: np.ndarray, axes: np.ndarray, *, record_note: dict[int, str] | None = None
) -> np.ndarray:
    """The 16 sectors as a 4 x 4 map per day: the share of runs in which the attackers hold each.

    ``held_by_day`` is days x rows x cols (share of runs, 0-1; row 0 is the north); ``axes`` one
    Axes per day (any shape, filled in order). ``record_note`` puts a line of the record under a day.
    """
    flat = axes.ravel()
    image = None
    for day, ax in enumerate(flat):
        if day >= len(held_by_day):
            ax.axis("off")
            continue
        image = ax.imshow(held_by_day[day], cmap=HELD_BY_RUNS, vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{_end_of_day(day - 1):%d %b} (day {day})", fontsize=7)
        if record_note and day in record_note:
            ax.set_xlabel(record_note[day], fontsize=6, color=RECORD_COLOUR)
    if image is not None:
        cbar = flat[0].figure.colorbar(image, ax=list(flat), shrink=0.6)
        cbar.set_label("share of runs in which the attackers hold the sector (north up)")
    return axes


SpatialMark = tuple[int, float, bool, str]
"""A spatial claim on one sector's panel: (sector, day of the battle, whether the attackers hold it, lean)."""


def plot_sector_panels(
    share_by_day: np.ndarray, axes: np.ndarray, *, marks: list[SpatialMark] = (), taken_day: np.ndarray | None = None
) -> np.ndarray:
    """The town as small multiples: each sector's share held by the attackers over the days.

    ``share_by_day`` is runs x days x sectors (the share of the sector's cells at the end of each day);
    ``axes`` is the sectors_per_side x sectors_per_side grid of Axes (row 0 the north). Each panel
    draws the ensemble's median and 90 % band; each spatial claim on the sector (``marks``) a
    triangle at its day, up at 1 where the claim has the attackers holding it, down at 0 where the
    rebels do, coloured by the source's lean; ``taken_day`` (per sector) a dotted line at the median
    day the attackers took it for good.
    """
    days = np.arange(share_by_day.shape[1]) + 1.0  # the end of day d is day d + 1
    q05, q50, q95 = np.percentile(share_by_day, [5, 50, 95], axis=0)
    flat = axes.ravel()
    for sector, ax in enumerate(flat):
        ax.fill_between(days, q05[:, sector], q95[:, sector], color=MODEL_BAND_COLOUR, alpha=0.3, lw=0)
        ax.plot(days, q50[:, sector], color=MODEL_COLOUR, lw=1)
        if taken_day is not None and np.isfinite(taken_day[sector]):
            ax.axvline(taken_day[sector], color=MODEL_COLOUR, ls=":", lw=0.8)
        ax.set_ylim(-0.08, 1.08)
        ax.set_xlim(0, days[-1])
        ax.text(0.03, 0.5, str(sector), transform=ax.transAxes, fontsize=7, color="grey", va="center")
        ax.tick_params(labelsize=6)
    for sector, day, gov_holds, lean in marks:
        marker = "^" if gov_holds else "v"
        flat[sector].plot(day, 1.0 if gov_holds else 0.0, marker, color=LEAN_COLOURS.get(lean, RECORD_COLOUR), ms=5)
    return axes


def plot_taken_day_map(median_day: np.ndarray, never: np.ndarray, *, ax: Axes | None = None) -> Axes:
    """A map of the town's sectors (row 0 the north): the median day the attackers took each for good.

    ``median_day`` and ``never`` (the share of runs in which the sector was never taken) are rows x cols;
    a sector never taken in half the runs or more is drawn grey with "never".
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    shown = np.where(never >= 0.5, np.nan, median_day)
    image = ax.imshow(
        shown, cmap="viridis_r", vmin=0, vmax=max(np.nanmax(shown), 1.0) if np.isfinite(shown).any() else 1
    )
    for (row, col), day in np.ndenumerate(shown):
        text = "never" if np.isnan(day) else f"{day:.1f}"
        if never[row, col] and not np.isnan(day):
            text += f"\nnever {never[row, col]:.0%}"
        ax.text(
            col,
            row,
            text,
            ha="center",
            va="center",
            fontsize=8,
            color="white" if day > 0.6 * np.nanmax(shown) else "black",
        )
    ax.set_xticks(range(shown.shape[1]), ["W", *[""] * (shown.shape[1] - 2), "E"])
    ax.set_yticks(range(shown.shape[0]), ["N", *[""] * (shown.shape[0] - 2), "S"])
    ax.figure.colorbar(image, ax=ax, shrink=0.8).set_label("day of the battle (day 0 = 19 May 2013)")
    return ax


def plot_casualties(
    killed: dict[str, np.ndarray], ranges: dict[str, tuple[float, float]], *, ax: Axes | None = None
) -> Axes:
    """Killed by side over the battle: the ensemble's runs (a box in the side's colour) against the record's range.

    An open range (the record gives only a part of the side's dead) runs to the top of the plot.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    sides = list(killed)
    top = 2 * max([float(np.max(v)) for v in killed.values()] + [r[0] for r in ranges.values()] + [1.0])
    labelled = False
    for i, side in enumerate(sides):
        if side not in ranges:
            continue
        low, high = ranges[side]
        if math.isinf(high):
            high = top
            ax.annotate(
                f"record: at least {low:g}",
                (i, low),
                xytext=(0, -3),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=8,
                color=RECORD_COLOUR,
            )
        label = None if labelled else "record: the range scored (the sources' totals)"
        ax.fill_between([i - 0.35, i + 0.35], low, high, color=RECORD_COLOUR, alpha=0.2, lw=0, label=label)
        labelled = True
    boxes = ax.boxplot([killed[s] for s in sides], positions=range(len(sides)), widths=0.4, patch_artist=True)
    for box, side in zip(boxes["boxes"], sides, strict=True):
        box.set(facecolor=SIDE_COLOURS.get(side, MODEL_BAND_COLOUR), alpha=0.8, edgecolor=MODEL_COLOUR)
    for median in boxes["medians"]:
        median.set(color=MODEL_COLOUR)
    ax.set_xticks(range(len(sides)), [SIDE_LABELS.get(s, s) for s in sides])
    ax.set_yscale("log")
    ax.set_ylabel("killed in the battle (people, log scale)")
    ax.set_title("Casualties by side: model runs (box) against the record (band)")
    runs = Patch(facecolor="white", edgecolor=MODEL_COLOUR, label="model: runs (box in the side's colour)")
    ax.legend(handles=[*ax.get_legend_handles_labels()[0], runs], fontsize=8, loc="upper right")
    ax.grid(alpha=0.3, axis="y")
    _source(ax)
    return ax


def plot_strength(strength_by_day: dict[str, np.ndarray], *, ax: Axes | None = None) -> Axes:
    """Fighters able to fight by side and date, in the side's colour: median and 90 % band over the runs."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    for side, values in strength_by_day.items():
        ends = [_end_of_day(d) for d in range(values.shape[1])]
        colour = SIDE_COLOURS[side]
        ax.plot(ends, np.median(values, axis=0), color=colour, linewidth=1.8, label=SIDE_LABELS[side])
        ax.fill_between(ends, *np.percentile(values, [5, 95], axis=0), color=colour, alpha=0.2)
    ax.set_ylabel("fighters able to fight (people)")
    _date_axis(ax)
    ax.set_title("Strength by side: median and 90 % of runs")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_indices(table, outcome: str, *, unit: str = "", ax: Axes | None = None) -> Axes:
    """Sensitivity indices of one outcome: one bar per parameter with its 95 % confidence interval.

    ``table`` has columns parameter, outcome, index, value, conf (as ``sim.analysis.sensitivity`` computes).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    rows = table[table["outcome"] == outcome]
    kinds = list(dict.fromkeys(rows["index"]))
    params = list(dict.fromkeys(rows["parameter"]))
    width = 0.8 / max(len(kinds), 1)
    for k, kind in enumerate(kinds):
        part = rows[rows["index"] == kind].set_index("parameter").reindex(params)
        ax.barh(
            np.arange(len(params)) + k * width, part["value"], height=width, xerr=part["conf"], label=kind, capsize=2
        )
    ax.set_yticks(np.arange(len(params)) + width * (len(kinds) - 1) / 2, [p.split(".")[-1] for p in params])
    ax.set_xlabel(f"index{f' ({unit})' if unit else ''}; bars: 95 % confidence interval")
    ax.set_title(f"Sensitivity of {outcome.replace('_', ' ')}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    return ax


def plot_calibration(trials, best: dict[str, float], *, ax: Axes | None = None) -> Axes:
    """Calibration: replicate-averaged loss of every evaluated parameter set, by stage, and the best.

    ``trials`` has ``order``, ``loss`` and ``stage``; a stage whose name starts with "confirm" ran on
    other seeds, so the running best covers the stages before it only.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    for stage, part in trials.groupby("stage", sort=False):
        ax.plot(part["order"], part["loss"], "o", ms=4, alpha=0.7, label=stage)
    searched = trials[~trials["stage"].str.startswith("confirm")]
    ax.plot(searched["order"], searched["loss"].cummin(), color="black", linewidth=1, label="best so far (search)")
    ax.set_yscale("symlog", linthresh=SYMLOG_LOSS_BELOW)  # a perfect fit (loss 0) stays on the plot
    ax.set_xlabel("parameter set evaluated (in order)")
    ax.set_ylabel(f"loss (mean over replicates; log scale above {SYMLOG_LOSS_BELOW:g})")
    text = "\n".join(f"{k.split('.')[-1]} = {v:.4g}" for k, v in best.items())
    ax.text(1.02, 1.0, "fitted:\n" + text, transform=ax.transAxes, fontsize=7, va="top")
    ax.set_title("Calibration: loss of each parameter set")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_differences(table, *, unit: str = "", ax: Axes | None = None) -> Axes:
    """Counterfactual differences (B - A, paired over common seeds): mean with its 95 % confidence interval.

    ``table`` has columns outcome, mean, ci_low, ci_high (as ``sim.analysis.counterfactual`` computes).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    y = np.arange(len(table))
    means = table["mean"].to_numpy(dtype=float)
    errors = [means - table["ci_low"].to_numpy(dtype=float), table["ci_high"].to_numpy(dtype=float) - means]
    ax.errorbar(means, y, xerr=errors, fmt="o", color="black", capsize=3)
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_yticks(y, table["outcome"])
    ax.set_xlabel(f"paired difference B - A ({unit or 'units of each outcome'}), 95 % CI")
    ax.grid(alpha=0.3, axis="x")
    return ax


def plot_share_difference(table, *, ax: Axes | None = None) -> Axes:
    """Paired difference B - A of the share of the town held by the attackers, by date, with its 95 % CI.

    ``table`` has one row per day, outcome ``gov_share_dNN``, and columns mean, ci_low, ci_high.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    ends = [_end_of_day(int(o.removeprefix("gov_share_d"))) for o in table["outcome"]]
    ax.plot(ends, table["mean"], color="black", label="mean paired difference")
    ax.fill_between(ends, table["ci_low"], table["ci_high"], color="grey", alpha=0.3, label="95 % CI")
    ax.axhline(0, color="grey", linewidth=1)
    ax.set_ylabel("B - A, share of the town held by the attackers")
    _date_axis(ax)
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=4))  # a narrow panel: fewer dates
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_posterior_pairs(posterior, priors: dict[str, tuple[float, float]], axes: np.ndarray) -> np.ndarray:
    """The posterior sample's pairs: each input's histogram on the diagonal, each pair's scatter below it.

    ``posterior``: one row per input set, one column per input (the order of ``priors``); ``priors``:
    each input's prior range, the axes' limits (so that how much the record narrows an input shows).
    ``axes``: an n x n grid of axes for the n inputs; those above the diagonal are switched off.
    """
    names = list(priors)
    for row, y_name in enumerate(names):
        for col, x_name in enumerate(names):
            ax = axes[row, col]
            if col > row:
                ax.set_axis_off()
                continue
            if row == col:
                ax.hist(posterior[x_name], bins=20, range=priors[x_name], color="tab:blue", alpha=0.7)
                ax.set_yticks([])
            else:
                ax.plot(posterior[x_name], posterior[y_name], ".", ms=1.5, color="tab:blue", alpha=0.4)
                ax.set_ylim(*priors[y_name])
            ax.set_xlim(*priors[x_name])
            ax.tick_params(labelsize=5)
            if row == len(names) - 1:
                ax.set_xlabel(x_name.rsplit(".", 1)[-1], fontsize=6, rotation=30)
            if col == 0 and row > 0:
                ax.set_ylabel(y_name.rsplit(".", 1)[-1], fontsize=6, rotation=60)
    return axes
