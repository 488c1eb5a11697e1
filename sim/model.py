"""BattleModel: the Mesa model of the second battle of al-Qusayr.

The town is a Mesa ``OrthogonalMooreGrid`` (``model.grid``) with property layers for terrain
(``built_up``, ``river``, ``road``), ``sector`` (the 16 squares), ``control``, ``civilians``, ``damage``,
``prepared`` positions, ``mines`` and ``clearing_left``. The battle's run-time state
(``model.state``, a ``sim.state.BattleState``) holds the layers' arrays, the squads (numpy
arrays, see ``sim.state``), the outside places and routes, and the shared scalars; a step runs the
phases of ``sim.rules.phases`` on it in order. ``model.datacollector`` (``sim.series``) collects the
model-level series, one row per step.
"""

from __future__ import annotations

import itertools

import numpy as np

from sim.battle_dates import BATTLE_START
from sim.grid import DIRECTIONS, entry_cells, town_xy
from sim.lean_mesa import mesa
from sim.rules import phases
from sim.rules.arrivals import ROTATION_COHORTS, effectiveness_in_force, on_duty, policy_in_force
from sim.rules.control import update_sectors
from sim.scenario import TOWN_PLACE, Reinforcement, Scenario, deployment_weights, load_scenario
from sim.series import SeriesCollector
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
    BattleState,
    Squads,
    Tally,
)

SIDE_INDEX = {"rebels": REBELS, "army": ARMY, "hezbollah": HEZBOLLAH}
GRID_LAYERS = (  # the grid's property layers: name, value at the start, dtype
    ("built_up", None, float),  # the outskirts' density, set from the scenario
    ("river", False, bool),
    ("sector", -1, int),
    ("control", NONE, np.int8),
    ("civilians", 0, np.int64),
    ("damage", 0.0, float),
    ("prepared", 0.0, float),
    ("mines", 0.0, float),
    ("road", False, bool),
    ("clearing_left", 0.0, float),
)
TUNNEL_MIN_BUILT_UP = 0.3  # assumption: tunnels join built-up cells


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
        time = self.config.time
        self.n_steps = int((time.end - time.start).total_seconds() // (time.dt_minutes * 60))
        side = self.config.town.grid_cells
        self.grid = mesa.discrete_space.OrthogonalMooreGrid((side, side), torus=False, random=self.random)
        blocks = self._blocks()
        self.state = self._build_state(sum(len(strengths) for _, strengths in blocks))
        state = self.state
        self._place_squads(blocks)
        self._set_clearing_work()
        state.tally.initial[:3] = [state.present(s) for s in FIGHTING_SIDES]
        state.tally.initial[CIVILIANS] = int(state.civilians.sum())
        state.hezbollah_effectiveness = effectiveness_in_force(self.config.hezbollah_tactics, state.moment())
        state.routes_open = list(range(len(state.routes)))
        update_sectors(state, self.config.rules.control)
        self.phases = phases(
            self.config.rules, self.config.fire_plans, self.config.hezbollah_rotation, self.config.hezbollah_tactics
        )
        self.datacollector = SeriesCollector()
        self.datacollector.collect(self)

    # --- generators ------------------------------------------------------------------------------

    def reset_rng(self, rng: int | np.random.Generator | None = None) -> None:
        """Mesa's reset of the model's generator (to its first state, or a new seed), the civilians' stream with it."""
        super().reset_rng(rng)
        if rng is None:
            self.civilian_rng = np.random.Generator(type(self.civilian_rng.bit_generator)())
            self.civilian_rng.bit_generator.state = self._civilian_rng_state
        else:
            self._spawn_civilian_rng()
        self.state.rng, self.state.civilian_rng = self.rng, self.civilian_rng

    def _spawn_civilian_rng(self) -> None:
        """The civilians' stream, a child of the model's generator, and its first state (for ``reset_rng``)."""
        self.civilian_rng = self.rng.spawn(1)[0]
        self._civilian_rng_state = self.civilian_rng.bit_generator.state

    # --- construction ----------------------------------------------------------------------------

    def _build_state(self, n_squads: int) -> BattleState:
        """The state at the start: the town's layers, the places and routes, ``n_squads`` squads (not yet placed)."""
        town = self.config.town
        layers = {}
        for name, default, dtype in GRID_LAYERS:
            value = town.outskirts_built_up if name == "built_up" else default
            layers[name] = self.grid.create_property_layer(name, value, dtype).data
        m, t, n = town.margin_cells, town.town_cells, town.sectors_per_side
        shape = (town.grid_cells, town.grid_cells)
        in_town = np.zeros(shape, bool)
        in_town[m : m + t, m : m + t] = True
        cols = np.arange(t) // town.sector_cells  # west to east
        rows = np.arange(t) // town.sector_cells  # north to south
        # sector id in reading order on a map: row from the north * n + column from the west
        sector_xy = rows[None, ::-1] * n + cols[:, None]
        layers["sector"][m : m + t, m : m + t] = sector_xy
        built_up = layers["built_up"]
        built_up[m : m + t, m : m + t] = np.array(town.built_up_by_sector, dtype=float).ravel()[sector_xy]
        crossing_ys = [town_xy(m, t, 0, row)[1] for row in town.river_crossings_row]
        layers["river"][town.river_col, :] = True
        layers["river"][town.river_col, crossing_ys] = False
        layers["control"][in_town] = REB
        layers["prepared"][in_town] = built_up[in_town]
        layers["mines"][in_town] = town.booby_traps * built_up[in_town]
        entrances = {e.name: town_xy(m, t, e.cell.col, e.cell.row) for e in town.entrances}
        for e in town.entrances:
            cell = entrances[e.name]
            layers["mines"][cell] = max(e.mines, layers["mines"][cell])
        for road in town.roads:
            for start, end in itertools.pairwise(road.cells):
                (x0, y0), (x1, y1) = town_xy(m, t, start.col, start.row), town_xy(m, t, end.col, end.row)
                length = max(abs(x1 - x0), abs(y1 - y0))
                steps = np.linspace(0.0, 1.0, length + 1)
                xs, ys = np.rint(x0 + (x1 - x0) * steps).astype(int), np.rint(y0 + (y1 - y0) * steps).astype(int)
                layers["road"][xs, ys] = True
        weights = np.where(in_town, built_up, 0.0).ravel()
        if weights.sum() > 0 and self.config.civilians.present:
            people = self.civilian_rng.multinomial(self.config.civilians.present, weights / weights.sum())
            layers["civilians"][:] = people.reshape(shape)
        tunnels = self._dig_tunnels(in_town & (built_up >= TUNNEL_MIN_BUILT_UP), town.tunnels)
        places = self.config.places
        place_index = {p.name: i for i, p in enumerate(places)}
        town_node = place_index[TOWN_PLACE]
        # places joined by a route, each place's neighbours in the order its routes name them
        adjacent: list[dict[int, None]] = [{} for _ in places]
        routes = []
        for route in self.config.routes:
            nodes = [place_index[name] for name in route.places]
            path = [town_node, *nodes]
            for a, b in itertools.pairwise(path):
                adjacent[a][b] = adjacent[b][a] = None
            routes.append((nodes, entrances[route.entrance]))
        node_holder = np.array([GOV if p.holder == "gov" else REB for p in places], np.int8)
        node_holder[town_node] = REB
        squads = Squads.empty(n_squads)
        time = self.config.time
        return BattleState(
            start=time.start,
            start_hour=(time.start - BATTLE_START).total_seconds() / 3600.0,
            dt_h=time.dt_minutes / 60.0,
            rng=self.rng,
            civilian_rng=self.civilian_rng,
            well_mixed=self.config.space == "well_mixed",
            shape=shape,
            cell_m=town.cell_m,
            margin=m,
            town_side=t,
            n_sectors=n * n,
            river_col=town.river_col,
            river_crossing_ys=crossing_ys,
            in_town_mask=in_town,
            wounded_in_cell=np.zeros(shape, np.int64),
            entrances=entrances,
            water_station=town_xy(m, t, town.water_station.col, town.water_station.row),
            tunnels=tunnels,
            place_names=[p.name for p in places],
            place_index=place_index,
            place_km=np.array([[p.x_km, p.y_km] for p in places]),
            place_source=np.array([p.source for p in places], bool),
            town_node=town_node,
            routes=routes,
            network_neighbours=[set(neighbours) for neighbours in adjacent],
            node_holder=node_holder,
            wounded_at_node=np.zeros(len(places), np.int64),
            defenders_at_start=np.zeros(len(places)),
            squads=squads,
            tally=Tally(),
            task_force=np.zeros(len(squads), bool),
            en_route=np.zeros(len(squads), bool),
            engaged=np.zeros(len(squads), bool),
            local_ratio=np.full(len(squads), np.inf),
            fire_intensity=np.zeros(shape),
            **layers,
        )

    def _dig_tunnels(self, candidates_mask: np.ndarray, count: int) -> np.ndarray:
        """Pairs of candidate cells joined by a tunnel, as rows (x_a, y_a, x_b, y_b)."""
        candidates = np.argwhere(candidates_mask)
        if count == 0 or len(candidates) < 2:
            return np.zeros((0, 4), np.int64)
        picks = self.rng.choice(len(candidates), size=(count, 2), replace=True)
        pairs = np.hstack([candidates[picks[:, 0]], candidates[picks[:, 1]]])
        return pairs[(pairs[:, 0] != pairs[:, 2]) | (pairs[:, 1] != pairs[:, 3])]

    def _blocks(self) -> list[tuple[dict, np.ndarray]]:
        """The forces as blocks (side, unit, place or arrival) with their squads' strengths, in squad order."""
        forces = self.config.forces
        place_index = {p.name: i for i, p in enumerate(self.config.places)}
        garrisons = {place_index[p.name]: p.garrison for p in self.config.places if p.garrison}
        blocks: list[dict] = []
        # rebels in the town, in their units
        in_town = forces.rebels.fighters - sum(garrisons.values())
        per_unit = np.diff(np.linspace(0, in_town, forces.rebels.units + 1).round().astype(int))
        for unit, fighters in enumerate(per_unit):
            blocks.append({"side": REBELS, "fighters": int(fighters), "size": forces.rebels.squad_size, "unit": unit})
        for node, fighters in garrisons.items():
            blocks.append({"side": REBELS, "fighters": fighters, "size": forces.rebels.squad_size, "node": node})
        for name in ("army", "hezbollah"):
            spec = getattr(forces, name)
            if spec.take_part:
                blocks.append({"side": SIDE_INDEX[name], "fighters": spec.fighters, "size": spec.squad_size})
        for r in self.config.reinforcements:
            if getattr(forces, r.side).take_part:
                size = getattr(forces, r.side).squad_size
                blocks.append({"side": SIDE_INDEX[r.side], "fighters": r.fighters, "size": size, "pending": r})
        return [(block, _split(block["fighters"], block["size"])) for block in blocks]

    def _place_squads(self, blocks: list[tuple[dict, np.ndarray]]) -> None:
        """Squads of every side: rebels in town and at the places, attackers outside, arrivals pending."""
        squads = self.state.squads
        start = 0
        for block, strengths in blocks:
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
        if self.state.well_mixed:
            squads.x[:], squads.y[:] = 0, 0

    def _set_clearing_work(self) -> None:
        """Fighter-hours the attackers need to clear each town cell (the equation: ``rules.control``)."""
        p = self.config.rules.control
        state = self.state
        town = state.in_town_mask
        weight = self._deployment_weight()
        follows = p.work_follows_deployment
        state.clearing_left[town] = (
            p.clear_fighter_h * state.built_up[town] * (1.0 - follows + follows * weight / weight.mean())
        )

    def _deployment_weight(self) -> np.ndarray:
        """The rebels' deployment weight of each town cell's sector (town cells in ``in_town_mask`` order)."""
        weights = deployment_weights(self.config.forces.rebels.deployment, self.config.town.sectors_per_side)
        return weights.ravel()[self.state.sector[self.state.in_town_mask]]

    def _schedule(self, sl: slice, reinforcement: Reinforcement) -> None:
        squads = self.state.squads
        steps = (reinforcement.at - self.config.time.start).total_seconds() / (self.state.dt_h * 3600.0)
        squads.status[sl] = PENDING
        squads.arrival_step[sl] = int(np.ceil(steps)) + 1  # the first step beginning at or after the arrival
        if reinforcement.side == "rebels":
            squads.entry[sl] = self.state.place_index[reinforcement.entry]
        else:
            squads.entry[sl] = DIRECTIONS.index(reinforcement.entry)

    def _place_at_start(self, sl: slice, side: int) -> None:
        state = self.state
        squads = state.squads
        n = sl.stop - sl.start
        if side == REBELS:
            cells = np.argwhere(state.in_town_mask)
            weights = state.built_up[state.in_town_mask] * self._deployment_weight()
            pick = self.rng.choice(len(cells), size=n, p=weights / weights.sum())
            squads.x[sl], squads.y[sl] = cells[pick, 0], cells[pick, 1]
            return
        spec = self.config.forces.army if side == ARMY else self.config.forces.hezbollah
        idx = np.arange(sl.start, sl.stop)
        if side == ARMY:
            # the task force starts in the town when its campaign outside starts later (rules.villages)
            task = idx[: round(self.config.rules.villages.task_force_share * n)]
            state.task_force[task] = True
            if self.config.rules.villages.campaign_start is None:
                idx = idx[task.size :]
        groups = np.array_split(idx, len(spec.start))
        for direction, group in zip(spec.start, groups, strict=True):
            squads.x[group], squads.y[group] = entry_cells(state, direction, group.size)
        if side == HEZBOLLAH:
            policy = policy_in_force(self.config.hezbollah_rotation, state.moment())
            if policy is not None:
                squads.status[idx[~on_duty(policy, state.moment(), squads.unit[idx])]] = OFF_DUTY

    # --- the step ----------------------------------------------------------------------------

    def step(self) -> None:
        """Run the phases of ``sim.rules.phases`` in order on the state, then collect."""
        self.state.steps = self.steps  # Mesa counts the step before running it
        for phase in self.phases:
            phase.run(self.state)
        self.datacollector.collect(self)


def _split(fighters: int, size: int) -> np.ndarray:
    """Squads of ``size`` fighters (the last one smaller) holding ``fighters`` in all."""
    full, rest = divmod(fighters, size)
    return np.array([size] * full + ([rest] if rest else []), dtype=np.int32)
