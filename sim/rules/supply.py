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

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict
from sim.state import ACTIVE, GOV, IN_TOWN, REB, REBELS, BattleState


class Params(BaseModel):
    """Parameters of supply."""

    model_config = ConfigDict(extra="forbid")

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


def open_routes(state: BattleState, p: Params) -> list[int]:
    """Indices of the routes the rebels can use now."""
    if not p.routes_can_be_cut:
        return list(range(len(state.routes)))
    passable = state.node_holder == REB
    if p.fighting_blocks_route:
        passable[state.objectives] = False  # the task force is at its objectives (rule villages)
    opened = []
    for i, (nodes, (ex, ey)) in enumerate(state.routes):
        if passable[nodes].all() and state.control[ex, ey] != GOV:
            opened.append(i)
    return opened


def step(state: BattleState, p: Params, casualties_p: CasualtiesParams) -> None:
    """Update the routes, encirclement and water; move supplies, reinforcements and wounded."""
    if state.well_mixed:
        return
    squads = state.squads
    opened = open_routes(state, p)
    state.routes_open = opened
    if not opened and state.encirclement_hour is None:
        state.encirclement_hour = state.hour
    wx, wy = state.water_station
    if state.control[wx, wy] == GOV and state.water_cut_hour is None:
        state.water_cut_hour = state.hour
    days = state.dt_h / 24.0
    if opened:
        share = len(opened) / len(state.routes)
        rebels = np.flatnonzero(squads.in_town() & (squads.side == REBELS))
        squads.ammo[rebels] = np.minimum(1.0, squads.ammo[rebels] + p.resupply_per_day * days * share)
        waiting = state.wounded_in_cell.ravel()  # a view of the grid
        cells = np.flatnonzero(waiting)
        out = state.rng.binomial(waiting[cells], 1.0 - np.exp(-p.evacuation_per_day * days))
        waiting[cells] -= out
        state.tally.wounded_evacuated[REBELS] += int(out.sum())
    held = state.node_holder == REB
    out_nodes = state.rng.binomial(np.where(held, state.wounded_at_node, 0), 1.0 - np.exp(-p.evacuation_per_day * days))
    state.wounded_at_node -= out_nodes
    state.tally.wounded_evacuated[REBELS] += int(out_nodes.sum())
    _reinforcements_enter(state, p, casualties_p, opened)


def _reinforcements_enter(state: BattleState, p: Params, casualties_p: CasualtiesParams, opened: list[int]) -> None:
    squads = state.squads
    waiting = np.flatnonzero(state.en_route & (squads.status == ACTIVE) & (squads.strength > 0))
    if waiting.size == 0 or state.withdrawal_hour is not None:  # nobody goes into a town being given up
        return
    for source in np.unique(squads.node[waiting]):
        group = waiting[squads.node[waiting] == source]
        through = [i for i in opened if state.routes[i][0][-1] == source]
        if through:
            entrance = state.routes[through[0]][1]
        else:
            if state.rng.random() >= 1.0 - np.exp(-p.breakthrough_per_day * state.dt_h / 24.0):
                continue
            inflict(state, casualties_p, group, np.full(group.size, p.breakthrough_hit))
            if state.rng.random() >= p.breakthrough_success:
                continue
            entrance = state.routes[_least_blocked_route(state, int(source))][1]
        squads.node[group] = IN_TOWN
        squads.x[group], squads.y[group] = entrance
        state.en_route[group] = False
        state.rebel_arrivals_step += int(squads.strength[group].sum())


def _least_blocked_route(state: BattleState, source: int) -> int:
    """The route from ``source`` (or any route) with the fewest places held by the attackers."""
    candidates = [i for i, (nodes, _) in enumerate(state.routes) if nodes[-1] == source] or list(
        range(len(state.routes))
    )
    return min(candidates, key=lambda i: sum(state.node_holder[n] == GOV for n in state.routes[i][0]))
