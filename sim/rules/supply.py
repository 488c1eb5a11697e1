"""Supply and encirclement: which routes are open, and what they carry.

The routes run from a town entrance through outside places to a rebel source. A route is open
while the rebels hold every place on it, none of them is an objective of the attackers' task force
(with ``fighting_blocks_route``: the rule ``villages`` sends the task force to its objectives at
once and it fights there until the place falls, and nothing passes a village under attack;
record: the rebels called the town "totally surrounded" on 30 May, the day before Jawadiyeh, the
village nearest the town on the last open route, fell) and the attackers do not hold its entrance
cell (or always, when ``routes_can_be_cut`` is false). Wounded waiting at a place still held are
carried out even while it is attacked (a simplification). The town
is encircled when no route is open; the first such moment is an outcome. Open routes bring
ammunition (``resupply_per_day`` of a basic load per day, times the share of routes open), let
rebel reinforcements waiting at a source enter the town, and carry the wounded out
(``evacuation_per_day``). Reinforcements with no open route try to break through
(``breakthrough_per_day``), losing ``breakthrough_hit`` of their fighters per try and getting in
with ``breakthrough_success`` (record: reinforcements "made it to the outskirts but failed";
300 later "managed to reinforce"). The water station is lost when the attackers hold its cell.
Coefficients are assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from pydantic import Field

from sim.loading import InputModel
from sim.numerics import binomial
from sim.rng import generator
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict_kernel
from sim.state import ACTIVE, GOV, IN_TOWN, REB, REBELS, BattleState


class Params(InputModel):
    """Parameters of supply."""

    routes_can_be_cut: bool = Field(True, description="false: the routes stay open whatever happens (counterfactual)")
    fighting_blocks_route: bool = Field(
        True, description="an objective of the task force closes the routes through it (record:totally-surrounded)"
    )
    resupply_per_day: float = Field(0.5, ge=0, description="basic loads per day when every route is open (assumption)")
    evacuation_per_day: float = Field(
        0.5, ge=0, description="share of waiting wounded carried out per day (assumption)"
    )
    breakthrough_per_day: float = Field(
        1.0, ge=0, description="tries per day to break into an encircled town (assumption)"
    )
    breakthrough_hit: float = Field(0.05, ge=0, le=1, description="share of fighters hit in a try (assumption)")
    breakthrough_success: float = Field(0.3, ge=0, le=1, description="chance that a try gets in (assumption)")


@dataclass
class Network:
    """The routes as arrays, worked out once per model (``network``), and a scratch array for the open ones."""

    routes: list  # the state's routes they were worked out from
    nodes: np.ndarray  # int64: each route's places from the town outwards, route after route
    nodes_start: np.ndarray  # int64: where each route's places begin in ``nodes`` (one more entry)
    entrance_x: np.ndarray  # int64 per route: its entrance cell
    entrance_y: np.ndarray
    opened: np.ndarray  # int64 per route: the routes open (``_open_routes`` writes them)


def network(state: BattleState) -> Network:
    """The routes as arrays, held on the state."""
    held = state._held.get("supply")
    if held is None or held.routes is not state.routes:
        counts = [len(nodes) for nodes, _ in state.routes]
        held = state._held["supply"] = Network(
            routes=state.routes,
            nodes=np.array([n for nodes, _ in state.routes for n in nodes], np.int64),
            nodes_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            entrance_x=np.array([x for _, (x, _) in state.routes], np.int64),
            entrance_y=np.array([y for _, (_, y) in state.routes], np.int64),
            opened=np.zeros(len(state.routes), np.int64),
        )
    return held


def open_routes(state: BattleState, p: Params) -> list[int]:
    """Indices of the routes the rebels can use now."""
    held = network(state)
    n_open = _open_routes(
        p.routes_can_be_cut,
        p.fighting_blocks_route,
        np.array(state.objectives, np.int64),
        state.node_holder,
        state.control,
        held.nodes,
        held.nodes_start,
        held.entrance_x,
        held.entrance_y,
        held.opened,
    )
    return held.opened[:n_open].tolist()


@njit(cache=True)
def _open_routes(
    routes_can_be_cut: bool,
    fighting_blocks_route: bool,
    objectives: np.ndarray,
    node_holder: np.ndarray,
    control: np.ndarray,
    nodes: np.ndarray,
    nodes_start: np.ndarray,
    entrance_x: np.ndarray,
    entrance_y: np.ndarray,
    opened: np.ndarray,
) -> int:
    """The routes open, in order, into ``opened``; returns their number.

    A route is open when the rebels hold every place on it, none of them is an objective of the
    task force (with ``fighting_blocks_route``), and the attackers do not hold its entrance cell;
    every route is, when they cannot be cut.
    """
    n_open = 0
    for route in range(opened.size):
        if routes_can_be_cut:
            passable = control[entrance_x[route], entrance_y[route]] != GOV
            for j in range(nodes_start[route], nodes_start[route + 1]):
                place = nodes[j]
                passable = passable and node_holder[place] == REB
                if fighting_blocks_route:  # the task force is at its objectives (rule villages)
                    passable = passable and not (objectives == place).any()
            if not passable:
                continue
        opened[n_open] = route
        n_open += 1
    return n_open


def step(state: BattleState, p: Params, casualties_p: CasualtiesParams) -> None:
    """Update the routes, encirclement and water; move supplies, reinforcements and wounded."""
    if state.well_mixed:
        return
    squads, tally = state.squads, state.tally
    held = network(state)
    days = state.dt_h / 24.0
    n_open, arrived = _supply(
        p.routes_can_be_cut,
        p.fighting_blocks_route,
        np.array(state.objectives, np.int64),
        state.node_holder,
        state.control,
        held.nodes,
        held.nodes_start,
        held.entrance_x,
        held.entrance_y,
        held.opened,
        p.resupply_per_day * days,
        1.0 - np.exp(-p.evacuation_per_day * days),
        state.withdrawal_hour is None,  # nobody goes into a town being given up
        1.0 - np.exp(-p.breakthrough_per_day * state.dt_h / 24.0),
        p.breakthrough_hit,
        p.breakthrough_success,
        casualties_p.killed_share,
        squads.status,
        squads.node,
        squads.strength,
        squads.side,
        squads.x,
        squads.y,
        squads.ammo,
        state.en_route,
        state.wounded_in_cell,
        state.wounded_at_node,
        tally.killed,
        tally.wounded,
        tally.wounded_evacuated,
        state.rng_handle,
    )
    opened = held.opened[:n_open].tolist()
    state.routes_open = opened
    state.rebel_arrivals_step += arrived
    if not opened and state.encirclement_hour is None:
        state.encirclement_hour = state.hour
    wx, wy = state.water_station
    if state.control[wx, wy] == GOV and state.water_cut_hour is None:
        state.water_cut_hour = state.hour


@njit(cache=True)
def _supply(
    routes_can_be_cut: bool,
    fighting_blocks_route: bool,
    objectives: np.ndarray,
    node_holder: np.ndarray,
    control: np.ndarray,
    nodes: np.ndarray,
    nodes_start: np.ndarray,
    entrance_x: np.ndarray,
    entrance_y: np.ndarray,
    opened: np.ndarray,
    resupply: float,
    evacuated: float,
    entering: bool,
    breakthrough: float,
    breakthrough_hit: float,
    breakthrough_success: float,
    killed_share: float,
    status: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    side: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    ammo: np.ndarray,
    en_route: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    rng_handle: np.ndarray,
) -> tuple[int, int]:
    """The open routes (``_open_routes``) and what they carry this step.

    With ``k`` of ``n`` routes open (``k > 0``), each rebel fighting in the town gets
    ``resupply * k / n`` of a basic load (``resupply``: a step's worth at every route open; float32
    sums as numpy's, at most 1), and the wounded waiting in each cell (in the grid's order) leave
    with probability ``evacuated`` each: ``Binomial(waiting, evacuated)``. Whatever the routes,
    the wounded at each place the rebels hold (in order) leave likewise. Then, if ``entering``, the
    reinforcements waiting (``_reinforcements_enter``). Draws from the model's generator
    (``rng_handle``), none where nobody waits. Returns the number of open routes and the rebel
    fighters who entered the town.
    """
    rng = generator(rng_handle)
    n_open = _open_routes(
        routes_can_be_cut,
        fighting_blocks_route,
        objectives,
        node_holder,
        control,
        nodes,
        nodes_start,
        entrance_x,
        entrance_y,
        opened,
    )
    if n_open > 0:
        share = n_open / opened.size
        more = np.float32(resupply * share)
        for i in range(status.size):
            if status[i] == ACTIVE and node[i] == IN_TOWN and strength[i] > 0 and side[i] == REBELS:
                ammo[i] = min(np.float32(1.0), ammo[i] + more)
        if evacuated != 0:
            for cx in range(wounded_in_cell.shape[0]):
                for cy in range(wounded_in_cell.shape[1]):
                    if wounded_in_cell[cx, cy] != 0:
                        out = binomial(rng, wounded_in_cell[cx, cy], evacuated)
                        wounded_in_cell[cx, cy] -= out
                        wounded_evacuated[REBELS] += out
    if evacuated != 0:
        for place in range(wounded_at_node.size):
            if node_holder[place] == REB and wounded_at_node[place] != 0:
                out = binomial(rng, wounded_at_node[place], evacuated)
                wounded_at_node[place] -= out
                wounded_evacuated[REBELS] += out
    if not entering:
        return n_open, 0
    arrived = _reinforcements_enter(
        opened[:n_open],
        node_holder,
        nodes,
        nodes_start,
        entrance_x,
        entrance_y,
        breakthrough,
        breakthrough_hit,
        breakthrough_success,
        killed_share,
        status,
        node,
        strength,
        side,
        x,
        y,
        en_route,
        wounded_in_cell,
        wounded_at_node,
        killed,
        wounded,
        wounded_evacuated,
        rng_handle,
    )
    return n_open, arrived


@njit(cache=True)
def _reinforcements_enter(
    opened: np.ndarray,
    node_holder: np.ndarray,
    nodes: np.ndarray,
    nodes_start: np.ndarray,
    entrance_x: np.ndarray,
    entrance_y: np.ndarray,
    breakthrough: float,
    breakthrough_hit: float,
    breakthrough_success: float,
    killed_share: float,
    status: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    side: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    en_route: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    rng_handle: np.ndarray,
) -> int:
    """Reinforcements waiting at a source (``en_route``, active, strength > 0) enter the town.

    Source by source (in order): by the first open route from it, or else, with probability
    ``breakthrough`` (a step's tries), they try to break through: each fighter is hit with
    probability ``breakthrough_hit`` (casualties' ``inflict_kernel``), and they get in with
    probability ``breakthrough_success``, by the least blocked route (``_least_blocked_route``).
    Returns the rebel fighters who entered the town.
    """
    rng = generator(rng_handle)
    waiting = np.flatnonzero(en_route & (status == ACTIVE) & (strength > 0))
    if waiting.size == 0:
        return 0
    arrived = 0
    sources = node[waiting]
    for source in range(sources.min(), sources.max() + 1):  # the sources with reinforcements waiting, in order
        group = waiting[sources == source]
        if group.size == 0:
            continue
        route = -1
        for i in opened:
            if nodes[nodes_start[i + 1] - 1] == source:
                route = i
                break
        if route < 0:
            if rng.random() >= breakthrough:
                continue
            inflict_kernel(
                strength,
                side,
                node,
                x,
                y,
                group,
                np.full(group.size, breakthrough_hit),
                killed_share,
                rng_handle,
                killed,
                wounded,
                wounded_evacuated,
                wounded_in_cell,
                wounded_at_node,
            )
            if rng.random() >= breakthrough_success:
                continue
            route = _least_blocked_route(source, node_holder, nodes, nodes_start)
        for squad in group:
            node[squad] = IN_TOWN
            x[squad] = entrance_x[route]
            y[squad] = entrance_y[route]
            en_route[squad] = False
            arrived += strength[squad]
    return arrived


@njit(cache=True)
def _least_blocked_route(source: int, node_holder: np.ndarray, nodes: np.ndarray, nodes_start: np.ndarray) -> int:
    """The route from ``source`` (or any route, if none) with the fewest places held by the attackers (the first)."""
    n_routes = nodes_start.size - 1
    from_source = False
    for route in range(n_routes):
        from_source = from_source or nodes[nodes_start[route + 1] - 1] == source
    best, fewest = -1, 0
    for route in range(n_routes):
        if from_source and nodes[nodes_start[route + 1] - 1] != source:
            continue
        held = 0
        for j in range(nodes_start[route], nodes_start[route + 1]):
            held += node_holder[nodes[j]] == GOV
        if best < 0 or held < fewest:
            best, fewest = route, held
    return best
