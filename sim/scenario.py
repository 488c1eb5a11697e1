"""Scenario files: the schema (pydantic, unknown keys are errors), variants, overrides, loading.

A scenario describes the town grid (16 sectors), the outside places and the routes between them,
the forces and their arrivals, the exogenous inputs (fire plans, the Hezbollah rotation policy,
tactics, civilians, mines, tunnels), the time step, and the parameters of every rule
(``rules.<rule>``, declared beside each rule in ``sim/rules``). A variant names a ``base`` scenario
and holds only what it overrides; the merged mapping is validated as a whole. Every number in a
shipped scenario file carries a comment citing the record (``record:<id>``) or saying
``assumption`` or ``calibrated`` (checked by the tests).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from sim.battle_dates import BATTLE_LAST_DAY, BATTLE_START, RUN_LAST_DAY
from sim.installation import DEFAULT_SCENARIO, named_input, names
from sim.loading import InputModel, LoadError, SafeName, parse, parse_yaml, read_mapping
from sim.rules import Rules
from sim.rules.arrivals import RotationPolicy, TacticsChange
from sim.rules.fire_support import FirePlan
from sim.state import FIGHTING_SIDE_NAMES

TOWN_PLACE = "al-Qusayr"  # the place that is the town itself: every scenario has it, routes start from it

# Bounds on the counts, so that a small file cannot ask for unbounded memory or time. Each leaves
# ample room above the baseline and the scaling checks (``qusayr bench --forces-scale 10``: 113,500
# fighters in all).
MAX_FIGHTERS = 1_000_000  # assumption: 88 times the baseline's 11,350; a squad takes about 100 bytes
MAX_UNITS = 10_000  # assumption: the record's 15 units, hundreds of times over; below the int16 unit numbers
MAX_PLACES = 1_000  # assumption: the baseline's 12 places, many times over; below the int16 place indices
MAX_ITEMS = 10_000  # assumption: a list of scheduled inputs (arrivals, fire plans) longer than any battle needs
MAX_TUNNELS = 10_000  # assumption: the baseline's 20; several per built-up cell of the largest town
MAX_CIVILIANS = 10_000_000  # assumption: 400 times the record's 25,000
# assumption: a leaning of the deployment of at most e^20 (5 x 10^8) between the sectors it favours most
# and least, far past any plan; the three together stay within floating point (e^60)
DEPLOYMENT_BOUND = 20.0

Direction = Literal["north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest"]
FightingSide = Literal["rebels", "army", "hezbollah"]


class TimeSpec(InputModel):
    """The clock: the run covers ``start`` to ``end`` in steps of ``dt_minutes``."""

    start: dt.datetime = Field(description="start of the run (record: day 0 is 19 May 2013)")
    end: dt.datetime = Field(description="end of the run (default: 6 June 2013 00:00)")
    dt_minutes: int = Field(ge=1, le=240, description="length of a step in minutes")

    @model_validator(mode="after")
    def _ordered(self) -> TimeSpec:
        if self.end <= self.start:
            raise ValueError("end must come after start")
        if not (BATTLE_START <= self.start <= dt.datetime.combine(BATTLE_LAST_DAY, dt.time(23, 59))):
            raise ValueError(f"start {self.start} is outside the battle (19 May - 6 June 2013)")
        if not (BATTLE_START <= self.end <= dt.datetime.combine(RUN_LAST_DAY, dt.time())):
            raise ValueError(f"end {self.end} is outside the battle and the days after it (19 May - 10 June 2013)")
        if (24 * 60) % self.dt_minutes:
            raise ValueError("dt_minutes must divide a day (1440 minutes)")
        return self


class Cell(InputModel):
    """A cell of the town grid, counted in sector coordinates from the north-west corner."""

    col: int = Field(ge=0, description="column, west to east, in cells from the town's west edge")
    row: int = Field(ge=0, description="row, north to south, in cells from the town's north edge")


class Entrance(InputModel):
    """A road entering the town; mined when the scenario says so."""

    name: str
    cell: Cell
    mines: float = Field(0.0, ge=0, le=1, description="mine and booby-trap density at the entrance (0-1)")


class Road(InputModel):
    """A road through the town: straight runs between consecutive cells."""

    name: str
    cells: list[Cell] = Field(min_length=2, max_length=MAX_PLACES)


class TownPart(InputModel):
    """A part of the town the record names (an area such as ``north``, or a landmark) as the sectors it covers.

    Sectors are numbered row-major from the north-west corner (0 to 3 the northern row, west to east).
    The article draws no map: each part's sectors are this project's assumption.
    """

    name: str
    sectors: list[int] = Field(min_length=1, max_length=64, description="sector numbers, row-major from the north-west")
    landmark: bool = Field(
        False,
        description="a place within one of the sectors, which one unknown: taken when the first of them is, held "
        "while the last is",
    )


class TownSpec(InputModel):
    """The town as a grid: sectors_per_side x sectors_per_side sectors of sector_cells x sector_cells cells."""

    cell_m: float = Field(gt=0, description="side of a cell in metres")
    sectors_per_side: int = Field(ge=1, le=8, description="the record's 16 squares: 4 x 4")
    sector_cells: int = Field(ge=1, le=20, description="cells along a sector's side")
    margin_cells: int = Field(ge=2, le=20, description="outskirts around the town, in cells")
    built_up_by_sector: list[list[float]] = Field(description="building density 0-1, rows north to south")
    outskirts_built_up: float = Field(ge=0, le=1, description="building density of the outskirts")
    river_col: int = Field(description="grid column of the Orontes (Assi), west of the town")
    river_crossings_row: list[int] = Field(
        max_length=MAX_PLACES, description="town rows (from north) where the river can be crossed"
    )
    booby_traps: float = Field(ge=0, le=1, description="booby traps per unit of building density in rebel cells")
    entrances: list[Entrance] = Field(max_length=MAX_PLACES)
    roads: list[Road] = Field([], max_length=MAX_PLACES)
    water_station: Cell
    parts: list[TownPart] = Field(
        [], max_length=MAX_PLACES, description="where the record's parts of the town and landmarks lie"
    )
    tunnels: int = Field(
        ge=0,
        le=MAX_TUNNELS,
        description="rebel tunnels linking pairs of built-up cells (at most 10,000, assumption: the baseline's 20, "
        "several times over per built-up cell of the largest town)",
    )

    @model_validator(mode="after")
    def _tiles(self) -> TownSpec:
        n = self.sectors_per_side
        rows = self.built_up_by_sector
        if len(rows) != n or any(len(row) != n for row in rows):
            raise ValueError(
                f"built_up_by_sector must be {n} rows of {n} values so that the sectors tile the town "
                f"(got {len(rows)} rows of {[len(r) for r in rows]})"
            )
        if any(not 0 <= v <= 1 for row in rows for v in row):
            raise ValueError("built_up_by_sector values must lie in 0-1")
        side = self.town_cells
        road_cells = [cell for road in self.roads for cell in road.cells]
        for cell in [e.cell for e in self.entrances] + [self.water_station] + road_cells:
            if cell.col >= side or cell.row >= side:
                raise ValueError(f"cell {cell.col},{cell.row} is outside the town ({side} x {side} cells)")
        if any(not 0 <= row < side for row in self.river_crossings_row):
            raise ValueError(f"river_crossings_row: rows must lie in the town (0-{side - 1})")
        if not 0 <= self.river_col < self.margin_cells:
            raise ValueError(f"river_col must lie in the western outskirts (0-{self.margin_cells - 1})")
        names = [part.name for part in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"parts: a part is named twice ({sorted({x for x in names if names.count(x) > 1})})")
        for part in self.parts:
            outside = sorted({s for s in part.sectors if not 0 <= s < n * n})
            if outside or len(set(part.sectors)) != len(part.sectors):
                raise ValueError(
                    f"parts: {part.name!r}: sectors must be distinct numbers 0-{n * n - 1} (got {part.sectors})"
                )
        return self

    def sector_of(self, cell: Cell) -> int:
        """The sector (row-major from the north-west) a cell of the town lies in."""
        return (cell.row // self.sector_cells) * self.sectors_per_side + cell.col // self.sector_cells

    @property
    def part_sectors(self) -> dict[str, tuple[int, ...]]:
        """Each part's name -> its sectors."""
        return {part.name: tuple(part.sectors) for part in self.parts}

    @property
    def landmarks(self) -> frozenset[str]:
        """The names of the parts that are landmarks (a place within one of their sectors)."""
        return frozenset(part.name for part in self.parts if part.landmark)

    @property
    def town_cells(self) -> int:
        """Cells along the town's side."""
        return self.sectors_per_side * self.sector_cells

    @property
    def grid_cells(self) -> int:
        """Cells along the grid's side (town and outskirts)."""
        return self.town_cells + 2 * self.margin_cells


class PlaceSpec(InputModel):
    """An outside place: a node of the supply network (positions relative to the town centre)."""

    name: str
    x_km: float = Field(description="kilometres east of the town centre")
    y_km: float = Field(description="kilometres north of the town centre")
    holder: Literal["gov", "rebels"]
    garrison: int = Field(
        0, ge=0, le=MAX_FIGHTERS, description="rebel fighters holding it at the start (part of the rebels' fighters)"
    )
    source: bool = Field(False, description="rebel hinterland: reinforcements and supplies come from here")
    record_place: str | None = Field(None, description="the place's name in the record, when it has one")


class RouteSpec(InputModel):
    """A supply route from the town out to a rebel source, through outside places."""

    name: str
    places: list[str] = Field(
        min_length=1, max_length=MAX_PLACES, description="places from the town outwards; the last is a source"
    )
    entrance: str = Field(description="the town entrance it arrives at")


class ForceSpec(InputModel):
    """A side's fighters at the start (scheduled reinforcements come on top)."""

    fighters: int = Field(
        ge=0,
        le=MAX_FIGHTERS,
        description="fighters at the start of the battle (at most 1,000,000 with the reinforcements, assumption: "
        "88 times the baseline's 11,350, ample room for the scaling checks)",
    )
    take_part: bool = Field(True, description="false: the side takes no part at all (counterfactual)")
    squad_size: int = Field(ge=1, le=200, description="fighters per squad")
    start: list[Direction] = Field(max_length=8, description="directions of the outskirts where it starts")


class Deployment(InputModel):
    """Where the rebels stand at the start: three leanings of a sector's weight (``deployment_weights``).

    Each is the logarithm of the ratio between the weight of the sectors it favours most and least:
    0 everywhere is a uniform deployment, a positive value a deployment leaning that way.
    """

    north: float = Field(
        0.0,
        ge=-DEPLOYMENT_BOUND,
        le=DEPLOYMENT_BOUND,
        description="log of the weight of the northern row over the southern one, other things equal",
    )
    west: float = Field(
        0.0,
        ge=-DEPLOYMENT_BOUND,
        le=DEPLOYMENT_BOUND,
        description="log of the weight of the western column (the river's bank) over the eastern one",
    )
    centre: float = Field(
        0.0,
        ge=-DEPLOYMENT_BOUND,
        le=DEPLOYMENT_BOUND,
        description="log of the weight of the middle sectors over the corners, other things equal",
    )


def deployment_weights(deployment: Deployment, sectors_per_side: int) -> np.ndarray:
    """The rebels' relative deployment weight of each sector (rows north to south, columns west to east).

    For the sector in row ``r`` and column ``q`` of a ``k`` x ``k`` town::

        w = exp(north * n + west * e + centre * c)
        n = 1 - r / (k - 1)                   (1 at the northern row, 0 at the southern)
        e = 1 - q / (k - 1)                   (1 at the western column, 0 at the eastern)
        c = (d_max - d) / (d_max - d_min)     d = |r - m| + |q - m|,  m = (k - 1) / 2

    ``c`` falls off with the sector's distance from the town's middle along the streets (``d``): 1 at
    the middle sectors, 0 at the corners (for 4 x 4: 1 for the middle four, 1/2 for the other edge
    sectors, 0 for the corners); where every sector is a corner (``k = 2``) ``c = 0``, and a town of
    one sector has ``n = e = c = 0``. Only ratios matter: the squads are placed with probability
    proportional to ``w`` times building density, and the clearing work follows ``w / mean(w)``
    (``rules.control``).
    """
    k = sectors_per_side
    if k == 1:
        return np.ones((1, 1))
    r, q = np.indices((k, k), dtype=float)
    n = 1.0 - r / (k - 1)
    e = 1.0 - q / (k - 1)
    middle = (k - 1) / 2
    d = np.abs(r - middle) + np.abs(q - middle)
    spread = d.max() - d.min()
    c = (d.max() - d) / spread if spread else np.zeros_like(d)
    return np.exp(deployment.north * n + deployment.west * e + deployment.centre * c)


class RebelSpec(ForceSpec):
    """The defenders: their fighters form ``units`` units, each split into squads."""

    units: int = Field(
        ge=1,
        le=MAX_UNITS,
        description="number of rebel units (record: 15 rebel units; at most 10,000, assumption: hundreds of times "
        "the record, below the int16 unit numbers of the squads)",
    )
    start: list[Direction] = Field([], max_length=8)
    deployment: Deployment = Field(
        default_factory=Deployment,
        description="where the rebels stand at the start (default: uniform; weights: deployment_weights)",
    )


class Forces(InputModel):
    """The three fighting sides."""

    rebels: RebelSpec
    army: ForceSpec
    hezbollah: ForceSpec


class Reinforcement(InputModel):
    """A scheduled arrival (exogenous): who, how many, when and where they come in."""

    at: dt.datetime
    side: FightingSide
    fighters: int = Field(ge=0, le=MAX_FIGHTERS)
    entry: str = Field(description="attackers: a direction of the outskirts; rebels: an outside place")
    cite: str


class CivilianSpec(InputModel):
    """Civilians in the town at the start."""

    present: int = Field(
        ge=0,
        le=MAX_CIVILIANS,
        description="record: 25,000 residents stayed (at most 10,000,000, assumption: 400 times the record)",
    )


class Scenario(InputModel):
    """A whole scenario, validated; build a model from it with ``BattleModel(scenario)``."""

    name: SafeName
    description: str
    space: Literal["grid", "well_mixed"] = Field(
        "grid", description="'well_mixed': no space or terrain, everyone in range of everyone (docking tests)"
    )
    time: TimeSpec
    town: TownSpec
    places: list[PlaceSpec] = Field(
        max_length=MAX_PLACES,
        description="at most 1,000 (assumption: the baseline's 12 many times over, below the int16 place indices)",
    )
    routes: list[RouteSpec] = Field(max_length=MAX_PLACES)
    forces: Forces
    reinforcements: list[Reinforcement] = Field(
        [], max_length=MAX_ITEMS, description="at most 10,000 (assumption: more than any battle schedules)"
    )
    fire_plans: list[FirePlan] = Field([], max_length=MAX_ITEMS)
    hezbollah_rotation: list[RotationPolicy] = Field([], max_length=MAX_ITEMS)
    hezbollah_tactics: list[TacticsChange] = Field([], max_length=MAX_ITEMS)
    civilians: CivilianSpec
    rules: Rules

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [p.name for p in self.places]
        if len(set(names)) != len(names):
            raise ValueError("places: names must be unique")
        if TOWN_PLACE not in names:
            raise ValueError(f"places: the town {TOWN_PLACE!r} must be a place")
        entrances = {e.name for e in self.town.entrances}
        for route in self.routes:
            unknown = [p for p in route.places if p not in names]
            if unknown:
                raise ValueError(f"routes: {route.name!r} names unknown places {unknown}")
            if route.entrance not in entrances:
                raise ValueError(f"routes: {route.name!r} arrives at unknown entrance {route.entrance!r}")
        if not self.forces.rebels.take_part:
            raise ValueError("forces.rebels.take_part: the rebels defend the town in every scenario")
        garrisons = sum(p.garrison for p in self.places)
        forces = self.forces
        fighters = sum(f.fighters for f in (forces.rebels, forces.army, forces.hezbollah))
        fighters += sum(r.fighters for r in self.reinforcements)
        if fighters > MAX_FIGHTERS:
            raise ValueError(f"forces and reinforcements: {fighters:,} fighters in all, more than {MAX_FIGHTERS:,}")
        if garrisons > self.forces.rebels.fighters:
            raise ValueError(f"places: garrisons ({garrisons}) exceed the rebels' fighters")
        for r in self.reinforcements:
            if r.side == "rebels" and r.entry not in names:
                raise ValueError(f"reinforcements: rebel entry {r.entry!r} is not a place")
            if r.side != "rebels" and r.entry not in Direction.__args__:
                raise ValueError(f"reinforcements: attacker entry {r.entry!r} is not a direction")
        first, last = BATTLE_START, dt.datetime.combine(BATTLE_LAST_DAY, dt.time(23, 59))
        for field in ("reinforcements", "fire_plans", "hezbollah_rotation", "hezbollah_tactics"):
            for i, item in enumerate(getattr(self, field)):
                for name in ("at", "start", "end"):
                    moment = getattr(item, name, None)
                    if moment is not None and not first <= moment <= last:
                        raise ValueError(f"{field}.{i}.{name}: {moment} is outside the battle (19 May - 6 June 2013)")
        for plan in self.fire_plans:
            if plan.target != "town" and plan.target not in names:
                raise ValueError(f"fire_plans: target {plan.target!r} is neither 'town' nor a place")
        unknown = [name for name in self.rules.villages.plan if name not in names]
        if unknown:
            raise ValueError(f"rules.villages.plan: {unknown} are not places")
        return self

    def sha256(self) -> str:
        """Hash of the validated scenario (what the model actually uses)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


class ScenarioError(LoadError):
    """A scenario that cannot be used; the message names the file and the field path."""


def scenario_path(name_or_path: str | Path) -> Path:
    """A scenario's file: a path as given, or ``scenarios/<name>.yaml``."""
    return named_input(name_or_path, "scenarios", ScenarioError)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_raw_scenario(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's mapping merged onto its ``base`` (recursively), before validation.

    ``base`` is a path, or a name: the scenario of that name beside the file, else anywhere a name is looked
    for (``sim.installation``), so that a user's own variant can build on a shipped scenario.
    """
    if path in chain:
        raise ScenarioError(f"{path}: base: scenarios name each other in a loop")
    raw = read_mapping(path, "scenario", ScenarioError)
    base = raw.pop("base", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ScenarioError(f"{path}: base: must name a scenario")
    beside = path.parent / f"{base}.yaml"  # a name: the file beside this one, else found as any scenario name
    base_path = beside if "/" not in base and beside.is_file() else scenario_path(base)
    return _deep_merge(read_raw_scenario(base_path, (*chain, path)), raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``dotted.path=value`` into the path and the value, read as the files are (``5``, ``0.1``, ``false``)."""
    if "=" not in text:
        raise ScenarioError(f"--set {text}: expected dotted.path=value")
    path, _, value = text.partition("=")
    keys = path.strip().split(".")
    if not all(keys):
        raise ScenarioError(f"--set {text}: empty key in {path!r}")
    return keys, parse_yaml(value, f"--set {text}", ScenarioError)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set each ``dotted.path=value`` in a copy of ``raw``; list items are addressed by index."""
    merged = copy.deepcopy(raw)
    for text in overrides:
        keys, value = parse_override(text)
        node: Any = merged
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise ScenarioError(f"--set {text}: {'.'.join(keys[: depth + 1])} is not an item of the list")
                if last:
                    node[int(key)] = value
                else:
                    node = node[int(key)]
            elif isinstance(node, dict):
                if last:
                    node[key] = value
                else:
                    node = node.setdefault(key, {})
            else:
                raise ScenarioError(f"--set {text}: {'.'.join(keys[:depth])} is a value, not a section")
    return merged


def load_scenario(name_or_path: str | Path = DEFAULT_SCENARIO, overrides: list[str] | None = None) -> Scenario:
    """Read a scenario (merging its ``base``), apply overrides, validate; raise ScenarioError."""
    path = scenario_path(name_or_path)
    raw = apply_overrides(read_raw_scenario(path), overrides or [])
    label = str(path) + (f" (with --set {' '.join(overrides)})" if overrides else "")
    return parse(Scenario, raw, label, ScenarioError)


def force_overrides(scenario: Scenario, factors: dict[str, float]) -> list[str]:
    """``--set`` overrides multiplying each named side's fighters by its factor (none for a factor of 1).

    A side's factor applies to its fighters at the start and to its reinforcements, and the rebels'
    also to the places' garrisons (rebel fighters); each number is rounded to whole fighters.
    """
    sets: list[str] = []
    for side, factor in factors.items():
        if factor == 1.0:
            continue
        sets.append(f"forces.{side}.fighters={round(getattr(scenario.forces, side).fighters * factor)}")
        sets += [
            f"reinforcements.{i}.fighters={round(r.fighters * factor)}"
            for i, r in enumerate(scenario.reinforcements)
            if r.side == side
        ]
        if side == "rebels":
            sets += [
                f"places.{i}.garrison={round(p.garrison * factor)}" for i, p in enumerate(scenario.places) if p.garrison
            ]
    return sets


def scale_forces(scenario: Scenario, factor: float) -> Scenario:
    """The same scenario with every force multiplied by ``factor`` (start, garrisons, arrivals), validated."""
    raw = apply_overrides(scenario.model_dump(), force_overrides(scenario, dict.fromkeys(FIGHTING_SIDE_NAMES, factor)))
    return parse(Scenario, raw, f"{scenario.name} (forces times {factor:g})", ScenarioError)


def list_scenarios() -> list[str]:
    """Names of the scenarios: the shipped ones and a user's (``sim.installation``)."""
    return names("scenarios")
