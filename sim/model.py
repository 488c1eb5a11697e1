"""BattleModel: the Mesa model of the second battle of al-Qusayr.

The town is a Mesa ``OrthogonalMooreGrid`` (``model.grid``) with property layers for terrain
(``built_up``, ``river``), ``sector`` (the 16 squares), ``control``, ``civilians``, ``damage``,
``prepared`` positions and ``mines``; the outside places and routes are a Mesa ``Network``
(``model.network``). Fighters are grouped in squads whose state lives in numpy arrays
(``model.squads``, see ``sim.state``); every rule updates them by whole-array operations. A step
runs the rules in the order of ``sim.rules.PHASES``. ``model.datacollector`` collects the
model-level series, one row per step.
"""

from __future__ import annotations

import datetime as dt

import mesa
import networkx as nx
import numpy as np
from mesa.discrete_space import Network, OrthogonalMooreGrid

from sim.rules import PHASES
from sim.rules.arrivals import ROTATION_COHORTS
from sim.rules.control import update_sectors
from sim.scenario import BATTLE_START, FirePlan, RotationPolicy, Scenario, load_scenario
from sim.state import (
    ACTIVE,
    ARMY,
    CIVILIANS,
    FIGHTING_SIDES,
    GOV,
    HEZBOLLAH,
    NONE,
    OFF_DUTY,
    PENDING,
    REB,
    REBELS,
    Squads,
    Tally,
)

DIRECTIONS = ("north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest")
SIDE_INDEX = {"rebels": REBELS, "army": ARMY, "hezbollah": HEZBOLLAH}


class BattleModel(mesa.Model):
    """The battle, built from a validated scenario (the baseline when none is given).

    Args:
        config: the scenario; ``None`` loads ``scenarios/al-qusayr-2013.yaml``.
        rng: seed or numpy Generator; every random draw comes from ``self.rng``, or, for the
            civilians, from ``self.civilian_rng``, spawned from it.

    """

    def __init__(self, config: Scenario | None = None, *, rng: int | np.random.Generator | None = None) -> None:
        super().__init__(rng=rng)
        # The civilians act on nothing in the battle: drawing their fate from a stream of their own
        # (a child of the model's seed) keeps the battle's draws, and so a calibration of the
        # battle, unchanged by the civilians' parameters, which are fitted on their own.
        self._spawn_civilian_rng()
        self.config = config if config is not None else load_scenario()
        self.well_mixed = self.config.space == "well_mixed"
        self.dt_h = self.config.time.dt_minutes / 60.0
        self.start_hour = (self.config.time.start - BATTLE_START).total_seconds() / 3600.0
        self.n_steps = int((self.config.time.end - self.config.time.start).total_seconds() // (self.dt_h * 3600))
        self.direction_names = DIRECTIONS
        self._build_town()
        self._build_network()
        self._build_squads()
        self._set_clearing_work()
        self.tally.initial[:3] = [self.present(side) for side in FIGHTING_SIDES]
        self.tally.initial[CIVILIANS] = int(self.civilians.sum())
        # state the rules share
        self.engaged = np.zeros(len(self.squads), bool)
        self.local_ratio = np.full(len(self.squads), np.inf)
        self.fire_intensity = np.zeros(self.shape)
        self.ceasefire = False
        self.cohesion = 1.0
        self.rebel_losses_seen = 0
        self.rebels_surrendered = 0
        self.rebel_arrivals_step = 0
        self.hezbollah_effectiveness = self.tactics_effectiveness()
        self.routes_open: list[int] = list(range(len(self.routes)))
        self.encirclement_hour: float | None = None
        self.water_cut_hour: float | None = None
        self.talks_hour: float | None = None
        self.withdrawal_hour: float | None = None
        self.fall_hour: float | None = None
        self.place_captured_hour: dict[str, float] = {}
        self.objectives: list[int] = []  # outside places the task force is attacking
        update_sectors(self)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "hour": "hour",
                "gov_share": "gov_share",
                "gov_sectors": "sectors_gov",
                "rebels": lambda m: m.fighting(REBELS),
                "army": lambda m: m.fighting(ARMY),
                "hezbollah": lambda m: m.fighting(HEZBOLLAH),
                "civilians": lambda m: int(m.civilians.sum()),
                "rebels_wounded_waiting": lambda m: int(m.wounded_in_cell.sum() + m.wounded_at_node.sum()),
                "rebels_killed": lambda m: int(m.tally.killed[REBELS]),
                "attackers_killed": lambda m: int(m.tally.killed[ARMY] + m.tally.killed[HEZBOLLAH]),
                "civilians_killed": lambda m: int(m.tally.killed[CIVILIANS]),
                "cohesion": "cohesion",
                "routes_open": lambda m: len(m.routes_open),
                "mean_damage": lambda m: float(m.damage[m.in_town_mask].mean()),
            }
        )
        self.datacollector.collect(self)

    # --- construction ------------------------------------------------------------------------

    def reset_rng(self, rng: int | np.random.Generator | None = None) -> None:
        """Mesa's reset of the model's generator (to its first state, or a new seed), the civilians' stream with it."""
        super().reset_rng(rng)
        if rng is None:
            self.civilian_rng = np.random.Generator(type(self.civilian_rng.bit_generator)())
            self.civilian_rng.bit_generator.state = self._civilian_rng_state
        else:
            self._spawn_civilian_rng()

    def _spawn_civilian_rng(self) -> None:
        """The civilians' stream, a child of the model's generator, and its first state (for ``reset_rng``)."""
        self.civilian_rng = self.rng.spawn(1)[0]
        self._civilian_rng_state = self.civilian_rng.bit_generator.state

    def _build_town(self) -> None:
        town = self.config.town
        side = town.grid_cells
        self.cell_m = town.cell_m
        self.cell_area_m2 = town.cell_m**2
        self.margin = town.margin_cells
        self.town_side = town.town_cells
        self.grid = OrthogonalMooreGrid((side, side), torus=False, random=self.random)
        self.shape = (side, side)
        for name, default, dtype in (
            ("built_up", town.outskirts_built_up, float),
            ("river", False, bool),
            ("sector", -1, int),
            ("control", NONE, np.int8),
            ("civilians", 0, np.int64),
            ("damage", 0.0, float),
            ("prepared", 0.0, float),
            ("mines", 0.0, float),
            ("road", False, bool),
            ("clearing_left", 0.0, float),
        ):
            self.grid.create_property_layer(name, default, dtype)
        layers = self.grid._mesa_property_layers
        # direct views of the layers' arrays, indexed [x (east), y (north)]
        self.built_up = layers["built_up"].data
        self.river = layers["river"].data
        self.sector = layers["sector"].data
        self.control = layers["control"].data
        self.civilians = layers["civilians"].data
        self.damage = layers["damage"].data
        self.prepared = layers["prepared"].data
        self.mines = layers["mines"].data
        self.clearing_left = layers["clearing_left"].data
        self.road = layers["road"].data
        m, t, n = self.margin, self.town_side, town.sectors_per_side
        self.n_sectors = n * n
        self.in_town_mask = np.zeros(self.shape, bool)
        self.in_town_mask[m : m + t, m : m + t] = True
        cols = np.arange(t) // town.sector_cells  # west to east
        rows = np.arange(t) // town.sector_cells  # north to south
        # sector id in reading order on a map: row from the north * n + column from the west
        sector_xy = rows[None, ::-1] * n + cols[:, None]
        self.sector[m : m + t, m : m + t] = sector_xy
        density = np.array(town.built_up_by_sector, dtype=float).ravel()
        self.built_up[m : m + t, m : m + t] = density[sector_xy]
        self.river[town.river_col, :] = True
        for row in town.river_crossings_row:
            self.river[town.river_col, self.town_xy(0, row)[1]] = False
        self.control[self.in_town_mask] = REB
        self.prepared[self.in_town_mask] = self.built_up[self.in_town_mask]
        self.mines[self.in_town_mask] = town.booby_traps * self.built_up[self.in_town_mask]
        self.entrances = {e.name: self.town_xy(e.cell.col, e.cell.row) for e in town.entrances}
        for e in town.entrances:
            self.mines[self.entrances[e.name]] = max(e.mines, self.mines[self.entrances[e.name]])
        self.water_station = self.town_xy(town.water_station.col, town.water_station.row)
        for road in town.roads:
            for start, end in zip(road.cells, road.cells[1:], strict=False):
                (x0, y0), (x1, y1) = self.town_xy(start.col, start.row), self.town_xy(end.col, end.row)
                length = max(abs(x1 - x0), abs(y1 - y0))
                steps = np.linspace(0.0, 1.0, length + 1)
                self.road[np.rint(x0 + (x1 - x0) * steps).astype(int), np.rint(y0 + (y1 - y0) * steps).astype(int)] = (
                    True
                )
        weights = np.where(self.in_town_mask, self.built_up, 0.0).ravel()
        if weights.sum() > 0 and self.config.civilians.present:
            people = self.civilian_rng.multinomial(self.config.civilians.present, weights / weights.sum())
            self.civilians[:] = people.reshape(self.shape)
        self.tunnels = self._dig_tunnels(town.tunnels)
        self.wounded_in_cell = np.zeros(self.shape, np.int64)

    def _dig_tunnels(self, count: int) -> np.ndarray:
        """Pairs of built-up town cells joined by a tunnel, as rows (x_a, y_a, x_b, y_b)."""
        candidates = np.argwhere(self.in_town_mask & (self.built_up >= 0.3))
        if count == 0 or len(candidates) < 2:
            return np.zeros((0, 4), np.int64)
        picks = self.rng.choice(len(candidates), size=(count, 2), replace=True)
        pairs = np.hstack([candidates[picks[:, 0]], candidates[picks[:, 1]]])
        return pairs[(pairs[:, 0] != pairs[:, 2]) | (pairs[:, 1] != pairs[:, 3])]

    def _build_network(self) -> None:
        places = self.config.places
        self.place_names = [p.name for p in places]
        self.place_index = {name: i for i, name in enumerate(self.place_names)}
        self.town_node = self.place_index["al-Qusayr"]
        graph = nx.Graph()
        graph.add_nodes_from(range(len(places)))
        self.routes: list[tuple[list[int], tuple[int, int]]] = []
        for route in self.config.routes:
            nodes = [self.place_index[name] for name in route.places]
            nx.add_path(graph, [self.town_node, *nodes])
            self.routes.append((nodes, self.entrances[route.entrance]))
        self.network = Network(graph, random=self.random)
        self.network_neighbours = [set(graph.neighbors(i)) for i in range(len(places))]
        self.node_holder = np.array([GOV if p.holder == "gov" else REB for p in places], np.int8)
        self.node_holder[self.town_node] = REB
        self.wounded_at_node = np.zeros(len(places), np.int64)
        self.defenders_at_start = np.zeros(len(places))  # a garrison's strength when its fight began

    def _build_squads(self) -> None:
        """Squads of every side: rebels in town and at the places, attackers outside, arrivals pending."""
        forces = self.config.forces
        blocks: list[dict] = []
        garrisons = {self.place_index[p.name]: p.garrison for p in self.config.places if p.garrison}
        # rebels in the town, in their units
        in_town = forces.rebels.fighters - sum(garrisons.values())
        per_unit = np.diff(np.linspace(0, in_town, forces.rebels.units + 1).round().astype(int))
        for unit, fighters in enumerate(per_unit):
            blocks.append({"side": REBELS, "fighters": int(fighters), "size": forces.rebels.squad_size, "unit": unit})
        for node, fighters in garrisons.items():
            blocks.append({"side": REBELS, "fighters": fighters, "size": forces.rebels.squad_size, "node": node})
        for name in ("army", "hezbollah"):
            spec = getattr(forces, name)
            if not spec.take_part:
                continue
            blocks.append({"side": SIDE_INDEX[name], "fighters": spec.fighters, "size": spec.squad_size})
        for r in self.config.reinforcements:
            if not getattr(forces, r.side).take_part:
                continue
            size = getattr(forces, r.side).squad_size
            block = {"side": SIDE_INDEX[r.side], "fighters": r.fighters, "size": size, "pending": r}
            blocks.append(block)
        sizes = [self._split(b["fighters"], b["size"]) for b in blocks]
        self.squads = squads = Squads.empty(sum(len(s) for s in sizes))
        self.task_force = np.zeros(len(squads), bool)
        self.en_route = np.zeros(len(squads), bool)
        self.tally = Tally()
        start = 0
        for block, strengths in zip(blocks, sizes, strict=True):
            sl = slice(start, start + len(strengths))
            start += len(strengths)
            squads.side[sl] = block["side"]
            squads.strength[sl] = strengths
            squads.status[sl] = ACTIVE
            squads.unit[sl] = block.get("unit", 0)
            if block["side"] == HEZBOLLAH:
                squads.unit[sl] = np.arange(len(strengths)) % ROTATION_COHORTS
            if "pending" in block:
                self._schedule(sl, block["pending"])
            elif block["side"] == REBELS and "node" in block:
                squads.node[sl] = block["node"]
            else:
                self._place_at_start(sl, block["side"])
        if self.well_mixed:
            squads.x[:], squads.y[:] = 0, 0

    def _set_clearing_work(self) -> None:
        """Fighter-hours the attackers need to clear each town cell (the equation: ``rules.control``)."""
        p = self.config.rules.control
        town = self.in_town_mask
        weight = self._deployment_weight()
        follows = p.work_follows_deployment
        self.clearing_left[town] = (
            p.clear_fighter_h * self.built_up[town] * (1.0 - follows + follows * weight / weight.mean())
        )

    def _deployment_weight(self) -> np.ndarray:
        """The rebels' deployment weight of each town cell's sector (town cells in ``in_town_mask`` order)."""
        deployment = np.array(self.config.forces.rebels.deployment_by_sector, dtype=float).ravel()
        return deployment[self.sector[self.in_town_mask]]

    @staticmethod
    def _split(fighters: int, size: int) -> np.ndarray:
        """Squads of ``size`` fighters (the last one smaller) holding ``fighters`` in all."""
        full, rest = divmod(fighters, size)
        return np.array([size] * full + ([rest] if rest else []), dtype=np.int32)

    def _schedule(self, sl: slice, reinforcement) -> None:
        squads = self.squads
        steps = (reinforcement.at - self.config.time.start).total_seconds() / (self.dt_h * 3600.0)
        squads.status[sl] = PENDING
        squads.arrival_step[sl] = int(np.ceil(steps)) + 1  # the first step beginning at or after the arrival
        if reinforcement.side == "rebels":
            squads.entry[sl] = self.place_index[reinforcement.entry]
        else:
            squads.entry[sl] = DIRECTIONS.index(reinforcement.entry)

    def _place_at_start(self, sl: slice, side: int) -> None:
        squads = self.squads
        n = sl.stop - sl.start
        if side == REBELS:
            cells = np.argwhere(self.in_town_mask)
            weights = self.built_up[self.in_town_mask] * self._deployment_weight()
            pick = self.rng.choice(len(cells), size=n, p=weights / weights.sum())
            squads.x[sl], squads.y[sl] = cells[pick, 0], cells[pick, 1]
            return
        spec = self.config.forces.army if side == ARMY else self.config.forces.hezbollah
        idx = np.arange(sl.start, sl.stop)
        if side == ARMY:
            # the task force starts in the town when its campaign outside starts later (rules.villages)
            task = idx[: round(self.config.rules.villages.task_force_share * n)]
            self.task_force[task] = True
            if self.config.rules.villages.campaign_start is None:
                idx = idx[task.size :]
        groups = np.array_split(idx, len(spec.start))
        for direction, group in zip(spec.start, groups, strict=True):
            squads.x[group], squads.y[group] = self.entry_cells(direction, group.size)
        if side == HEZBOLLAH:
            self.squads.status[idx[self._off_duty_at_start(idx)]] = OFF_DUTY

    def _off_duty_at_start(self, idx: np.ndarray) -> np.ndarray:
        policy = self.rotation_policy()
        if policy is None:
            return np.zeros(idx.size, bool)
        cycle = policy.days_on + policy.days_off
        days = (self.config.time.start - policy.start).total_seconds() / 86400.0
        return (days + self.squads.unit[idx] * cycle / ROTATION_COHORTS) % cycle >= policy.days_on

    # --- geometry ----------------------------------------------------------------------------

    def town_xy(self, col: int, row: int) -> tuple[int, int]:
        """Grid (x, y) of a town cell given from the town's north-west corner."""
        return self.margin + col, self.margin + self.town_side - 1 - row

    def entry_cells(self, direction: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` random outskirts cells on the ``direction`` side of the town (west: beyond the river)."""
        m, t = self.margin, self.town_side
        far = m + t
        band = 3
        span = np.arange(m, far)
        xs: np.ndarray
        ys: np.ndarray
        if direction == "west":
            col = max(self.config.town.river_col - 1, 0)
            rows = np.array([self.town_xy(0, r)[1] for r in self.config.town.river_crossings_row] or list(span))
            xs = np.full(n, col)
            ys = self.rng.choice(rows, size=n)
            return xs, ys
        options = {
            "south": (span, np.arange(m - band, m)),
            "north": (span, np.arange(far, far + band)),
            "east": (np.arange(far, far + band), span),
            # a diagonal is the outskirts off that corner, on its east or west side
            "northeast": (np.arange(far, far + band), np.arange(far - 2 * band, far + band)),
            "southeast": (np.arange(far, far + band), np.arange(m - band, m + 2 * band)),
            "northwest": (np.arange(m - band, m), np.arange(far - 2 * band, far + band)),
            "southwest": (np.arange(m - band, m), np.arange(m - band, m + 2 * band)),
        }
        col_range, row_range = options[direction]
        return self.rng.choice(col_range, size=n), self.rng.choice(row_range, size=n)

    def entrance_cell_of(self, node: int) -> tuple[int, int]:
        """The town entrance of the first route through ``node``."""
        for nodes, entrance in self.routes:
            if node in nodes:
                return entrance
        return next(iter(self.entrances.values()))

    def cell_sum(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Sum of ``weights`` per grid cell, from the squads' coordinates."""
        return self.cell_sums(x, y, np.zeros(len(x), np.int64), weights, 1)[0]

    @staticmethod
    def box_sum(field: np.ndarray, radius: int) -> np.ndarray:
        """Sum of ``field`` over the (2r+1)^2 window around each cell, zero outside the grid.

        ``field`` is one grid or a stack of grids (leading axes); summed along x, then along y,
        over shifted slices of a zero-padded copy.
        """
        if radius == 0:
            return field
        width, height = field.shape[-2:]
        padded = np.zeros((*field.shape[:-2], width + 2 * radius, height + 2 * radius))
        padded[..., radius : radius + width, radius : radius + height] = field
        along_x = padded[..., 0:width, :].copy()
        for d in range(1, 2 * radius + 1):
            along_x += padded[..., d : d + width, :]
        total = along_x[..., 0:height].copy()
        for d in range(1, 2 * radius + 1):
            total += along_x[..., d : d + height]
        return total

    def cell_sums(
        self, x: np.ndarray, y: np.ndarray, layer: np.ndarray, weights: np.ndarray, layers: int
    ) -> np.ndarray:
        """Per-cell sums of ``weights`` into ``layers`` stacked grids, squad i going to grid ``layer[i]``."""
        size = self.shape[0] * self.shape[1]
        flat = layer.astype(np.int64) * size + x.astype(np.int64) * self.shape[1] + y
        return np.bincount(flat, weights=weights, minlength=layers * size).reshape(layers, *self.shape)

    def cover(self) -> np.ndarray:
        """Cover per cell: ``cover_max * built_up * (1 - damage)`` (zero in a well-mixed space)."""
        if self.well_mixed:
            return np.zeros(self.shape)
        return self.config.rules.fire.cover_max * self.built_up * (1.0 - self.damage)

    # --- clock and inputs --------------------------------------------------------------------

    @property
    def hour(self) -> float:
        """Hours since 19 May 2013 00:00 (day 0), at the end of the last step run."""
        return self.start_hour + self.steps * self.dt_h

    def moment(self) -> dt.datetime:
        """The date and time at which the current step began (the start, before the first step).

        Mesa counts a step before running it, so step n covers (n - 1) * dt to n * dt.
        """
        return self.config.time.start + dt.timedelta(hours=max(self.steps - 1, 0) * self.dt_h)

    def active_fire_plans(self) -> list[FirePlan]:
        """Fire plans in force during the current step."""
        now = self.moment()
        return [plan for plan in self.config.fire_plans if plan.start <= now < plan.end]

    def rotation_policy(self) -> RotationPolicy | None:
        """Hezbollah's rotation policy in force now."""
        now = self.moment()
        current = [p for p in self.config.hezbollah_rotation if p.start <= now]
        return current[-1] if current else None

    def tactics_effectiveness(self) -> float:
        """Hezbollah's effectiveness multiplier in force now."""
        now = self.moment()
        current = [t for t in self.config.hezbollah_tactics if t.start <= now]
        return current[-1].effectiveness if current else 1.0

    def rebel_fire_factor(self) -> float:
        """Rebel fire as a share of full, from cohesion."""
        floor = self.config.rules.cohesion.fire_floor
        return floor + (1.0 - floor) * self.cohesion

    # --- counts ------------------------------------------------------------------------------

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

    # --- the step ----------------------------------------------------------------------------

    def step(self) -> None:
        """Run the phases of ``sim.rules.PHASES`` in order, then collect."""
        for phase in PHASES:
            phase(self)
        self.datacollector.collect(self)
