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
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.rules.casualties import inflict
from sim.state import ACTIVE, GONE, GOV, IN_TOWN, REB, REBELS

if TYPE_CHECKING:
    from sim.model import BattleModel


class Params(BaseModel):
    """Parameters of the fight for the outside places."""

    model_config = ConfigDict(extra="forbid")

    task_force_share: float = Field(
        0.25, ge=0, le=1, description="share of army squads working outside the town (assumption)"
    )
    campaign_start: dt.datetime | None = Field(
        None, description="when the task force leaves the town for the places (policy input; none: from the start)"
    )
    plan: list[str] = Field([], description="the attackers' order of objectives outside the town (policy input)")
    parallel_objectives: int = Field(2, ge=1, description="places attacked at once (assumption)")
    place_cover: float = Field(0.3, ge=0, le=1, description="fire a garrison avoids behind its walls (assumption)")
    engage_odds: float = Field(4.0, gt=0, description="attackers able to fire at once per defender (assumption)")
    break_share: float = Field(
        0.5, gt=0, le=1, description="share of its strength a garrison loses before it gives up (assumption)"
    )


def step(model: BattleModel) -> None:
    """Choose the task force's objective, fight at the places, and hand over places that fall."""
    if model.well_mixed:
        return
    start = model.config.rules.villages.campaign_start
    if start is not None and model.moment() < start:
        return
    squads = model.squads
    _choose_objective(model)
    p = model.config.rules.villages
    fire = model.config.rules.fire
    outside = np.flatnonzero((squads.status == ACTIVE) & (squads.node >= 0) & (squads.strength > 0))
    rebel_out = squads.side[outside] == REBELS
    n_places = len(model.place_names)
    rebels_at = np.bincount(squads.node[outside[rebel_out]], minlength=n_places)
    attackers_at = np.bincount(squads.node[outside[~rebel_out]], minlength=n_places)
    for node in np.flatnonzero((rebels_at > 0) & (attackers_at > 0)):
        here = outside[squads.node[outside] == node]
        rebel = squads.side[here] == REBELS
        rebels = float(squads.strength[here[rebel]].sum())
        attackers = float(squads.strength[here[~rebel]].sum())
        if model.defenders_at_start[node] == 0:
            model.defenders_at_start[node] = rebels
        firing = min(attackers, p.engage_odds * rebels)
        on_rebel = fire.attacker_lethality_per_h * model.dt_h * firing / rebels * (1.0 - p.place_cover)
        on_attacker = fire.rebel_lethality_per_h * model.dt_h * rebels / attackers * model.rebel_fire_factor()
        inflict(model, here, np.where(rebel, 1.0 - np.exp(-on_rebel), 1.0 - np.exp(-on_attacker)))
        left = squads.strength[here[rebel]].sum()
        if left <= (1.0 - p.break_share) * model.defenders_at_start[node]:
            _hand_over(model, int(node), here[rebel])


def _choose_objective(model: BattleModel) -> None:
    """Keep up to ``parallel_objectives`` objectives; split the task force evenly between them."""
    p = model.config.rules.villages
    squads = model.squads
    kept = [node for node in model.objectives if model.node_holder[node] == REB]
    if len(kept) == len(model.objectives) and (kept or not model.task_force.any()):
        return  # nothing has changed, or the task force has already gone into the town
    for name in p.plan:
        if len(kept) >= p.parallel_objectives:
            break
        node = model.place_index[name]
        if model.node_holder[node] != REB or node in kept:
            continue
        if any(model.node_holder[n] == GOV or n == model.town_node for n in model.network_neighbours[node]):
            kept.append(node)
    model.objectives = kept
    task_force = np.flatnonzero(model.task_force & (squads.status == ACTIVE) & (squads.strength > 0))
    if kept:
        squads.node[task_force] = np.array(kept)[np.arange(task_force.size) % len(kept)]
    else:  # nothing left outside: the task force joins the fight in the town from the north
        model.task_force[task_force] = False
        squads.node[task_force] = IN_TOWN
        squads.x[task_force], squads.y[task_force] = model.entry_cells("north", task_force.size)


def _hand_over(model: BattleModel, node: int, garrison: np.ndarray) -> None:
    """The attackers take ``node``; its garrison and wounded fall back or are captured."""
    squads = model.squads
    model.node_holder[node] = GOV
    model.place_captured_hour.setdefault(model.place_names[node], model.hour)
    survivors = garrison[squads.strength[garrison] > 0]
    refuge = [n for n in model.network_neighbours[node] if model.node_holder[n] == REB]
    if node in model.network_neighbours[model.town_node] and model.town_has_rebels():
        squads.node[survivors] = IN_TOWN
        squads.x[survivors], squads.y[survivors] = model.entrance_cell_of(node)
    elif refuge:
        squads.node[survivors] = refuge[0]
    else:
        model.tally.captured[REBELS] += int(squads.strength[survivors].sum())
        squads.strength[survivors] = 0
        squads.status[survivors] = GONE
    model.tally.captured[REBELS] += int(model.wounded_at_node[node])
    model.wounded_at_node[node] = 0
