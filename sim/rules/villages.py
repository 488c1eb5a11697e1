"""Fighting for the outside places: the attackers' task force takes the villages and the air base.

A share ``task_force_share`` of the army's starting squads works outside the town from
``campaign_start`` (a policy input; until then it fights in the town with the rest). Its objectives
are the first ``parallel_objectives`` rebel-held places of the scenario's ``plan`` (a policy, not a
timetable) that border a place the attackers hold or the town; its squads are split evenly
between them. At a place both sides fight with the aimed-fire law of
the rule ``fire`` (same lethalities); a place's frontage lets at most ``engage_odds`` attackers
per defender fire at once, and the garrison is protected by ``place_cover``. The place changes
hands when its garrison has lost ``break_share`` of the strength it had when the fight began;
the survivors fall back into the town or to a neighbouring rebel-held place, or are captured
when they cannot. Capture times are outcomes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.grid import entry_cells
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict
from sim.rules.cohesion import Params as CohesionParams
from sim.rules.cohesion import fire_factor
from sim.rules.fire import Params as FireParams
from sim.state import ACTIVE, GONE, GOV, IN_TOWN, REB, REBELS, BattleState


class Params(BaseModel):
    """Parameters of the fight for the outside places."""

    model_config = ConfigDict(extra="forbid")

    task_force_share: float = Field(
        0.2199,
        ge=0,
        le=1,
        description="share of army squads working outside the town (calibrated: experiments/calibration.yaml)",
    )
    campaign_start: dt.datetime | None = Field(
        description="when the task force leaves the town for the places (policy input, set by the scenario; "
        "none: from the start)"
    )
    plan: list[str] = Field(
        description="the attackers' order of objectives outside the town (policy input, set by the scenario)"
    )
    parallel_objectives: int = Field(2, ge=1, description="places attacked at once (assumption)")
    place_cover: float = Field(0.3, ge=0, le=1, description="fire a garrison avoids behind its walls (assumption)")
    engage_odds: float = Field(
        7.767,
        gt=0,
        description="attackers able to fire at once per defender (calibrated earlier, held fixed: docs/decisions.md)",
    )
    break_share: float = Field(
        0.5, gt=0, le=1, description="share of its strength a garrison loses before it gives up (assumption)"
    )


def step(
    state: BattleState,
    p: Params,
    fire_p: FireParams,
    cohesion_p: CohesionParams,
    casualties_p: CasualtiesParams,
) -> None:
    """Choose the task force's objective, fight at the places, and hand over places that fall."""
    if state.well_mixed:
        return
    start = p.campaign_start
    if start is not None and state.moment() < start:
        return
    squads = state.squads
    _choose_objective(state, p)
    outside = np.flatnonzero((squads.status == ACTIVE) & (squads.node >= 0) & (squads.strength > 0))
    rebel_out = squads.side[outside] == REBELS
    n_places = len(state.place_names)
    rebels_at = np.bincount(squads.node[outside[rebel_out]], minlength=n_places)
    attackers_at = np.bincount(squads.node[outside[~rebel_out]], minlength=n_places)
    for node in np.flatnonzero((rebels_at > 0) & (attackers_at > 0)):
        here = outside[squads.node[outside] == node]
        rebel = squads.side[here] == REBELS
        rebels = float(squads.strength[here[rebel]].sum())
        attackers = float(squads.strength[here[~rebel]].sum())
        if state.defenders_at_start[node] == 0:
            state.defenders_at_start[node] = rebels
        firing = min(attackers, p.engage_odds * rebels)
        on_rebel = fire_p.attacker_lethality_per_h * state.dt_h * firing / rebels * (1.0 - p.place_cover)
        rebel_fire = fire_factor(state.cohesion, cohesion_p)
        on_attacker = fire_p.rebel_lethality_per_h * state.dt_h * rebels / attackers * rebel_fire
        inflict(state, casualties_p, here, np.where(rebel, 1.0 - np.exp(-on_rebel), 1.0 - np.exp(-on_attacker)))
        left = squads.strength[here[rebel]].sum()
        if left <= (1.0 - p.break_share) * state.defenders_at_start[node]:
            _hand_over(state, int(node), here[rebel])


def _choose_objective(state: BattleState, p: Params) -> None:
    """Keep up to ``parallel_objectives`` objectives; split the task force evenly between them."""
    squads = state.squads
    kept = [node for node in state.objectives if state.node_holder[node] == REB]
    if len(kept) == len(state.objectives) and (kept or not state.task_force.any()):
        return  # nothing has changed, or the task force has already gone into the town
    for name in p.plan:
        if len(kept) >= p.parallel_objectives:
            break
        node = state.place_index[name]
        if state.node_holder[node] != REB or node in kept:
            continue
        if any(state.node_holder[n] == GOV or n == state.town_node for n in state.network_neighbours[node]):
            kept.append(node)
    state.objectives = kept
    task_force = np.flatnonzero(state.task_force & (squads.status == ACTIVE) & (squads.strength > 0))
    if kept:
        squads.node[task_force] = np.array(kept)[np.arange(task_force.size) % len(kept)]
    else:  # nothing left outside: the task force joins the fight in the town from the north
        state.task_force[task_force] = False
        squads.node[task_force] = IN_TOWN
        squads.x[task_force], squads.y[task_force] = entry_cells(state, "north", task_force.size)


def _hand_over(state: BattleState, node: int, garrison: np.ndarray) -> None:
    """The attackers take ``node``; its garrison and wounded fall back or are captured."""
    squads = state.squads
    state.node_holder[node] = GOV
    state.place_captured_hour.setdefault(state.place_names[node], state.hour)
    survivors = garrison[squads.strength[garrison] > 0]
    refuge = [n for n in state.network_neighbours[node] if state.node_holder[n] == REB]
    if node in state.network_neighbours[state.town_node] and state.town_has_rebels():
        squads.node[survivors] = IN_TOWN
        squads.x[survivors], squads.y[survivors] = _entrance_cell_of(state, node)
    elif refuge:
        squads.node[survivors] = refuge[0]
    else:
        state.tally.captured[REBELS] += int(squads.strength[survivors].sum())
        squads.strength[survivors] = 0
        squads.status[survivors] = GONE
    state.tally.captured[REBELS] += int(state.wounded_at_node[node])
    state.wounded_at_node[node] = 0


def _entrance_cell_of(state: BattleState, node: int) -> tuple[int, int]:
    """The town entrance of the first route through ``node``."""
    for nodes, entrance in state.routes:
        if node in nodes:
            return entrance
    return next(iter(state.entrances.values()))
