"""The battle's run-time state, declared once: the squads, the tallies, the town's layers, the places, the clock.

Squads are the unit of movement and fire, but every count is in people: a squad's ``strength``
is its number of fighters able to fight. All per-squad state lives in numpy arrays of equal length
so that every rule updates it by whole-array operations (no Python loop over fighters).
``BattleState`` holds everything the rules share; ``sim.model.BattleModel`` builds it from a scenario,
and each rule (``sim.rules``) reads and updates it, taking its parameters separately.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field

import numpy as np

from sim.rng import handle

REBELS, ARMY, HEZBOLLAH, CIVILIANS = 0, 1, 2, 3
SIDE_NAMES = ("rebels", "army", "hezbollah", "civilians")
FIGHTING_SIDES = (REBELS, ARMY, HEZBOLLAH)
FIGHTING_SIDE_NAMES = tuple(SIDE_NAMES[side] for side in FIGHTING_SIDES)

# Squad status.
# the codes are ordered: status <= OFF_DUTY means alive and counted present
ACTIVE = 0  # in the fight: on the town grid (node == IN_TOWN) or at an outside place (node >= 0)
OFF_DUTY = 1  # rotated out (Hezbollah rotation): alive and counted present, not fighting
PENDING = 2  # not yet arrived (a scheduled reinforcement): not counted anywhere yet
GONE = 3  # strength 0, or withdrawn / captured whole

IN_TOWN = -1  # value of ``node`` for squads on the town grid

# Cell control codes (the ``control`` property layer).
NONE, GOV, REB, CONTESTED = 0, 1, 2, 3


@dataclass
class Squads:
    """Structure of arrays, one entry per squad."""

    side: np.ndarray  # int8: REBELS, ARMY or HEZBOLLAH
    x: np.ndarray  # int16 grid column (east)
    y: np.ndarray  # int16 grid row (north)
    node: np.ndarray  # int16: IN_TOWN, or the index of the outside place the squad is at
    strength: np.ndarray  # int32 fighters able to fight
    status: np.ndarray  # int8 ACTIVE / OFF_DUTY / PENDING / GONE
    ammo: np.ndarray  # float32 0-1, share of a full basic load (rebels; attackers stay at 1)
    unit: np.ndarray  # int16: rebel unit number (0-14), Hezbollah rotation cohort, else 0
    arrival_step: np.ndarray  # int32: step at which a PENDING squad arrives
    entry: np.ndarray  # int16: where a PENDING squad arrives (direction code or outside place)
    suppressed: np.ndarray  # float32 0-1, this step's suppression by fire support
    mine_wait_h: np.ndarray  # float64 hours an attacker squad still spends clearing its way (mines: delay)

    @classmethod
    def empty(cls, n: int) -> Squads:
        """Arrays for ``n`` squads, all GONE with strength 0."""
        return cls(
            side=np.zeros(n, np.int8),
            x=np.zeros(n, np.int16),
            y=np.zeros(n, np.int16),
            node=np.full(n, IN_TOWN, np.int16),
            strength=np.zeros(n, np.int32),
            status=np.full(n, GONE, np.int8),
            ammo=np.ones(n, np.float32),
            unit=np.zeros(n, np.int16),
            arrival_step=np.zeros(n, np.int32),
            entry=np.zeros(n, np.int16),
            suppressed=np.zeros(n, np.float32),
            mine_wait_h=np.zeros(n),
        )

    def __len__(self) -> int:
        return len(self.side)

    def in_town(self) -> np.ndarray:
        """Mask of squads fighting on the town grid."""
        return (self.status == ACTIVE) & (self.node == IN_TOWN) & (self.strength > 0)


@dataclass
class Tally:
    """People counted by side (index REBELS, ARMY, HEZBOLLAH, CIVILIANS) and fate.

    Conservation, for each side: present + killed + wounded_evacuated + captured + withdrawn
    = initial + arrived.
    """

    initial: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
    arrived: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
    killed: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
    wounded: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))  # every wound, evacuated or not
    wounded_evacuated: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
    captured: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
    withdrawn: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))


@dataclass(eq=False)
class BattleState:
    """Everything the rules read and update during a run (grids are indexed ``[x (east), y (north)]``).

    The town's layers are the arrays of the Mesa grid's property layers (views, not copies), so the
    grid and the rules see the same cells.
    """

    # --- the clock and the generators -----------------------------------------------------------
    start: dt.datetime  # when the run starts
    start_hour: float  # hours from day 0 (19 May 2013 00:00) to the run's start
    dt_h: float  # length of a step in hours
    rng: np.random.Generator  # the model's generator: every draw of the battle
    civilian_rng: np.random.Generator  # the civilians' own stream (see BattleModel)
    well_mixed: bool  # no space: everyone in range of everyone (docking tests)
    _handles: dict = field(default_factory=dict, init=False, repr=False)  # generator name -> (generator, handle)
    _held: dict = field(default_factory=dict, init=False, repr=False)  # rule -> what it computes once per model

    # --- the town grid: geometry and Mesa property layers -----------------------------------------
    shape: tuple[int, int]
    cell_m: float  # side of a cell in metres
    margin: int  # outskirts cells around the town
    town_side: int  # cells along the town's side
    n_sectors: int
    river_col: int  # grid column of the river
    river_crossing_ys: list[int]  # grid rows where the river can be crossed
    in_town_mask: np.ndarray  # bool
    built_up: np.ndarray  # building density 0-1
    river: np.ndarray  # bool: river cells off the crossings
    road: np.ndarray  # bool
    sector: np.ndarray  # int: sector id (reading order from the north-west), -1 outside the town
    control: np.ndarray  # int8: NONE, GOV, REB, CONTESTED
    civilians: np.ndarray  # int64 people
    damage: np.ndarray  # 0-1
    prepared: np.ndarray  # 0-1 rebel prepared positions
    mines: np.ndarray  # 0-1 mine and booby-trap density
    clearing_left: np.ndarray  # fighter-hours of clearing work left (rules.control)
    wounded_in_cell: np.ndarray  # int64 rebel wounded waiting in each cell
    entrances: dict[str, tuple[int, int]]  # town entrance -> grid cell
    water_station: tuple[int, int]
    tunnels: np.ndarray  # (n, 4) rows x_a, y_a, x_b, y_b

    # --- the outside places and routes ------------------------------------------------------------
    place_names: list[str]
    place_index: dict[str, int]
    place_km: np.ndarray  # (places, 2): km east and north of the town centre
    place_source: np.ndarray  # bool per place: the rebels' hinterland, where routes end
    town_node: int  # the town's index among the places
    routes: list[tuple[list[int], tuple[int, int]]]  # (places from the town outwards, entrance cell)
    network_neighbours: list[set[int]]  # places joined to each place by a route
    node_holder: np.ndarray  # int8 GOV or REB per place
    wounded_at_node: np.ndarray  # int64 rebel wounded waiting at each place
    defenders_at_start: np.ndarray  # a garrison's strength when its fight began

    # --- the forces -------------------------------------------------------------------------------
    squads: Squads
    tally: Tally
    task_force: np.ndarray  # bool per squad: the army's task force for the outside places
    en_route: np.ndarray  # bool per squad: rebel reinforcements on their way in

    # --- shared within a step -----------------------------------------------------------------------
    steps: int = 0  # steps begun (Mesa's count: step n covers (n - 1) * dt to n * dt)
    engaged: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per squad: enemies within range
    local_ratio: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per squad: local odds in effective fire
    fire_intensity: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # hits per hour aimed at each cell
    ceasefire: bool = False
    cohesion: float = 1.0  # the rebels' cohesion 0-1
    rebel_losses_seen: int = 0
    rebels_surrendered: int = 0
    rebel_arrivals_step: int = 0  # rebel fighters who entered the town this step
    hezbollah_effectiveness: float = 1.0
    routes_open: list[int] = field(default_factory=list)
    objectives: list[int] = field(default_factory=list)  # outside places the task force is attacking
    # movement's nearest targets, kept while the targets stay the same: [attackers', rebels'] x [targets
    # (-1: none yet), nearest in the row, nearest x, nearest y, found] per cell (sim.rules.movement._near)
    nearest_targets: np.ndarray = field(default_factory=lambda: np.zeros((2, 5, 0, 0), np.int64))

    # --- control of the town ----------------------------------------------------------------------
    sector_owner: np.ndarray = field(default_factory=lambda: np.zeros(0, object))  # "gov" / "reb" / "contested"
    sector_code: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.int8)
    )  # sector_owner as codes (rules.control)
    sectors_gov: int = 0
    gov_share: float = 0.0  # the attackers' share of the town's cells

    # --- outcomes: hours since day 0 of the first time each happened ------------------------------
    encirclement_hour: float | None = None
    water_cut_hour: float | None = None
    talks_hour: float | None = None
    withdrawal_hour: float | None = None
    fall_hour: float | None = None
    place_captured_hour: dict[str, float] = field(default_factory=dict)
    # per sector (state.sector's numbers): the hour from which the attackers have held it without a
    # break; nan while they do not hold it. At the run's end: the hour they took it for good.
    sector_gov_since_hour: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def rng_handle(self) -> np.ndarray:
        """``rng`` as compiled kernels take it (``sim.rng.handle``), read once per generator."""
        return self._handle("rng")

    @property
    def civilian_rng_handle(self) -> np.ndarray:
        """``civilian_rng`` as compiled kernels take it (``sim.rng.handle``)."""
        return self._handle("civilian_rng")

    def _handle(self, name: str) -> np.ndarray:
        """The handle of the generator held under ``name``, made again only when that generator is replaced."""
        generator = getattr(self, name)
        held = self._handles.get(name)
        if held is None or held[0] is not generator:
            held = self._handles[name] = (generator, handle(generator))
        return held[1]

    @property
    def cell_area_m2(self) -> float:
        """Area of a cell in square metres."""
        return self.cell_m**2

    @property
    def hour(self) -> float:
        """Hours since 19 May 2013 00:00 (day 0), at the end of the last step begun."""
        return self.start_hour + self.steps * self.dt_h

    def moment(self) -> dt.datetime:
        """The date and time at which the current step began (the start, before the first step)."""
        return self.start + dt.timedelta(hours=max(self.steps - 1, 0) * self.dt_h)

    def first_step_at(self, when: dt.datetime) -> int:
        """The first value of ``steps`` at which ``moment()`` is ``when`` or later, by ``moment``'s own arithmetic.

        ``moment()`` never decreases with ``steps``, so ``moment() >= when`` exactly when
        ``steps >= first_step_at(when)``. Steps 1 and below all begin at the start: when the start
        is already ``when`` or later, every step is (``-sys.maxsize``); when ``when`` lies beyond
        the dates a ``datetime`` holds, none is (``sys.maxsize``).
        """

        def begun(steps: int) -> bool:
            try:
                return self.start + dt.timedelta(hours=max(steps - 1, 0) * self.dt_h) >= when
            except OverflowError:
                return True

        if begun(1):
            return -sys.maxsize
        low, high = 1, 2  # not begun at low; find a high that is
        while not begun(high):
            if high > sys.maxsize // 4:
                return sys.maxsize
            low, high = high, 2 * high
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if begun(middle) else (middle, high)
        return high

    def fighting(self, side: int) -> int:
        """Fighters of ``side`` able to fight (arrived, not off duty)."""
        s = self.squads
        return int(s.strength[(s.side == side) & (s.status == ACTIVE)].sum())

    def present(self, side: int) -> int:
        """People of ``side`` present: fighters in the battle or off duty, plus rebels' waiting wounded."""
        if side == CIVILIANS:
            return int(self.civilians.sum())
        s = self.squads
        alive = int(s.strength[(s.side == side) & (s.status <= OFF_DUTY)].sum())
        if side == REBELS:
            alive += int(self.wounded_in_cell.sum() + self.wounded_at_node.sum())
        return alive

    def balance(self) -> np.ndarray:
        """Conservation gap by side (all zeros when no one is lost or made up).

        present + killed + wounded evacuated + captured + withdrawn - initial - arrived.
        """
        t = self.tally
        present = np.array([self.present(side) for side in (*FIGHTING_SIDES, CIVILIANS)], np.int64)
        return present + t.killed + t.wounded_evacuated + t.captured + t.withdrawn - t.initial - t.arrived

    def town_has_rebels(self) -> bool:
        """Whether any rebel still fights in the town."""
        s = self.squads
        return bool((s.in_town() & (s.side == REBELS)).any())
