"""Fighting for the outside places: the attackers' task force takes the villages and the air base.

A share ``task_force_share`` of the army's starting squads works outside the town from
``campaign_start`` (a policy input; until then it fights in the town with the rest). It attacks up
to ``parallel_objectives`` rebel-held places at once, each of them a candidate: a place that borders
a place the attackers hold or the town on the routes' network. Its squads are split between them by
one of two sub-models (``split``): evenly, squad by squad (``even``); or in proportion to the rebel
fighters at each (``by_defenders``: each squad in turn goes to the objective ``j`` with the least
``A_j / max(G_j, 1)``, ``A_j`` the attackers sent there so far and ``G_j`` its rebel fighters, the
first on a tie), so that every objective is attacked at the same odds (assumption: a commander's
economy of force). When one falls, the others are kept, new ones chosen and the task force split
again. The new objectives come from one of two sub-models (``order``):

- ``plan``: the first candidates of the scenario's ``plan`` (a list; a policy, not a timetable).
- ``routes``: one at a time, the candidate ``k`` (other than a source, the rebels' hinterland) with
  the highest score, in kilometres of approach::

      S_k = route_worth_km * R_k - d_k - defender_cost_km * G_k

  where ``d_k`` is the distance from ``k`` (its ``x_km``, ``y_km``) to the attackers' nearest position
  (the town centre or a place they hold), ``G_k`` the rebel fighters at ``k`` now, and ``R_k`` the
  supply routes through ``k`` its capture would cut: those on which the rebels hold every place and
  none of whose places is an objective already. Ties go to the place listed first in the scenario.
  The attack aimed at encircling the town and cutting its supply lines (record:hamidiya-advance,
  record:totally-surrounded); the weights are assumptions.

At a place both sides fight with the aimed-fire law of
the rule ``fire`` (same lethalities); a place's frontage lets at most ``engage_odds`` attackers
per defender fire at once, and the garrison is protected by ``place_cover``. The place changes
hands when its garrison has lost ``break_share`` of the strength it had when the fight began;
the survivors fall back into the town or to a neighbouring rebel-held place, or are captured
when they cannot. Capture times, and so their order, are outcomes.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numba import njit
from pydantic import Field

from sim.grid import entry_cells
from sim.loading import InputModel
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict_kernel
from sim.rules.cohesion import Params as CohesionParams
from sim.rules.cohesion import fire_factor
from sim.rules.fire import Params as FireParams
from sim.rules.supply import network
from sim.state import ACTIVE, GONE, GOV, IN_TOWN, REB, REBELS, BattleState


class Params(InputModel):
    """Parameters of the fight for the outside places."""

    task_force_share: float = Field(
        0.3382,
        ge=0,
        le=1,
        description="share of army squads working outside the town (calibrated: experiments/history-matching.yaml)",
    )
    campaign_start: dt.datetime | None = Field(
        description="when the task force leaves the town for the places (policy input, set by the scenario; "
        "none: from the start)"
    )
    order: Literal["plan", "routes"] = Field(
        "plan",
        description="how the task force chooses its next objectives: the plan's list, or the score of the "
        "routes they cut, their distance and garrison (assumption: competing sub-models; routes puts the four "
        "recorded captures in the record's order in no run of 20, docs/decisions.md)",
    )
    plan: list[str] = Field(
        description="the attackers' order of objectives outside the town, read when order is plan "
        "(policy input, set by the scenario)"
    )
    route_worth_km: float = Field(
        2.0,
        ge=0,
        description="kilometres of approach a supply route cut is worth, in the routes order's score (assumption)",
    )
    defender_cost_km: float = Field(
        0.01,
        ge=0,
        description="kilometres of approach each rebel fighter at a place costs, in the routes order's score "
        "(assumption)",
    )
    parallel_objectives: int = Field(2, ge=1, description="places attacked at once (assumption)")
    split: Literal["even", "by_defenders"] = Field(
        "by_defenders",
        description="how the task force is split between its objectives: evenly, or in proportion to their "
        "defenders (assumption: competing sub-models, docs/history/patterns.md)",
    )
    place_cover: float = Field(0.3, ge=0, le=1, description="fire a garrison avoids behind its walls (assumption)")
    engage_odds: float = Field(
        12.27,
        gt=0,
        description="attackers able to fire at once per defender (calibrated: experiments/history-matching.yaml)",
    )
    break_share: float = Field(
        0.5, gt=0, le=1, description="share of its strength a garrison loses before it gives up (assumption)"
    )


# where a call of ``_villages`` starts, and what it stopped for
CHOOSE, CONTEST = -2, -1  # start: choose the objectives first; after the task force went into the town: the fights
DONE, INTO_TOWN, HANDED_OVER = 0, 1, 2


@dataclass
class Campaign:
    """What the rule reads of a model's inputs, worked out once per model (``campaign``), and its scratch arrays."""

    key: tuple  # what it was worked out from: the campaign's start, the plan, the number of squads, the clock
    first_step: int  # the first step of the campaign (``BattleState.first_step_at(campaign_start)``)
    plan: np.ndarray  # int64: the plan's places, in its order
    neighbours: np.ndarray  # int64: each place's neighbours, place after place (``network_neighbours``)
    neighbours_start: np.ndarray  # int64: where each place's neighbours begin in ``neighbours`` (one more entry)
    kept: np.ndarray  # int64: the objectives chosen (``_villages`` writes them; room for the old ones and the plan)
    places: np.ndarray  # int64 per place: the places fought for this step, in order
    outside: np.ndarray  # bool per squad: the squads outside when this step's fights began
    chosen: np.ndarray  # int64 per squad: the squads sent into the town, or the garrison of a place that fell


def campaign(state: BattleState, p: Params) -> Campaign:
    """The campaign's start as a step number and the plan and network as arrays, held on the state."""
    key = (p.campaign_start, tuple(p.plan), len(state.squads), state.start, state.dt_h)
    held = state._held.get("villages")
    if held is None or held.key != key:
        first = -sys.maxsize if p.campaign_start is None else state.first_step_at(p.campaign_start)
        counts = [len(n) for n in state.network_neighbours]
        n_places, n_squads = len(state.place_names), len(state.squads)
        held = state._held["villages"] = Campaign(
            key=key,
            first_step=first,
            plan=np.array([state.place_index[name] for name in p.plan], np.int64),
            neighbours=np.array([n for ns in state.network_neighbours for n in ns], np.int64),
            neighbours_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            kept=np.zeros(n_places + len(p.plan), np.int64),
            places=np.zeros(n_places, np.int64),
            outside=np.zeros(n_squads, bool),
            chosen=np.zeros(n_squads, np.int64),
        )
    return held


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
    held = campaign(state, p)
    if state.steps < held.first_step:  # before the campaign's start
        return
    routes = network(state)  # the routes as arrays, as the rule supply holds them
    squads, tally = state.squads, state.tally
    objectives = np.array(state.objectives, np.int64)
    if objectives.size + held.plan.size > held.kept.size:
        held.kept = np.zeros(objectives.size + held.plan.size, np.int64)
    resume, contested = CHOOSE, 0
    while True:
        event, n_kept, contested, at, count = _villages(
            resume,
            contested,
            objectives,
            held.plan,
            held.neighbours,
            held.neighbours_start,
            held.kept,
            held.places,
            held.outside,
            held.chosen,
            state.node_holder,
            state.town_node,
            p.parallel_objectives,
            p.order == "routes",
            p.split == "by_defenders",
            state.place_km,
            state.place_source,
            routes.nodes,
            routes.nodes_start,
            p.route_worth_km,
            p.defender_cost_km,
            state.task_force,
            squads.status,
            squads.strength,
            squads.side,
            squads.node,
            squads.x,
            squads.y,
            state.defenders_at_start,
            p.engage_odds,
            p.place_cover,
            p.break_share,
            fire_p.attacker_lethality_per_h,
            fire_p.rebel_lethality_per_h,
            state.dt_h,
            fire_factor(state.cohesion, cohesion_p),
            casualties_p.killed_share,
            state.rng_handle,
            tally.killed,
            tally.wounded,
            tally.wounded_evacuated,
            state.wounded_in_cell,
            state.wounded_at_node,
        )
        if n_kept >= 0:  # the objectives changed
            state.objectives = held.kept[:n_kept].tolist()
        if event == DONE:
            return
        chosen = held.chosen[:count].copy()
        if event == INTO_TOWN:  # nothing left outside: the task force joins the fight in the town from the north
            squads.x[chosen], squads.y[chosen] = entry_cells(state, "north", count)
            resume = CONTEST
        else:
            _hand_over(state, int(held.places[at]), chosen)
            resume = at + 1


@njit(cache=True)
def _villages(
    resume: int,
    contested: int,
    objectives: np.ndarray,
    plan: np.ndarray,
    neighbours: np.ndarray,
    neighbours_start: np.ndarray,
    kept: np.ndarray,
    places: np.ndarray,
    outside: np.ndarray,
    chosen: np.ndarray,
    node_holder: np.ndarray,
    town_node: int,
    parallel_objectives: int,
    by_routes: bool,
    by_defenders: bool,
    place_km: np.ndarray,
    place_source: np.ndarray,
    route_nodes: np.ndarray,
    route_start: np.ndarray,
    route_worth_km: float,
    defender_cost_km: float,
    task_force: np.ndarray,
    status: np.ndarray,
    strength: np.ndarray,
    side: np.ndarray,
    node: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    defenders_at_start: np.ndarray,
    engage_odds: float,
    place_cover: float,
    break_share: float,
    attacker_lethality_per_h: float,
    rebel_lethality_per_h: float,
    dt_h: float,
    rebel_fire: float,
    killed_share: float,
    rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
) -> tuple[int, int, int, int, int]:
    """A step of the rule, up to the first thing the caller must do in Python; called again from there.

    From ``CHOOSE``: the objectives (``_objectives``, into ``kept``); if the task force must go into
    the town, stops (``INTO_TOWN``, the squads in ``chosen``: the caller draws their cells). From
    ``CONTEST``: the squads outside now (``outside``) and the places where both sides have some
    (``places``, ``contested`` of them). From a position ``resume`` >= 0 in ``places``: the fights
    there in turn (``_fight``); when a garrison breaks, stops (``HANDED_OVER`` at that position, the
    garrison in ``chosen``: the caller hands the place over and resumes after it). Returns the
    event, the number of objectives if they changed (else -1), ``contested``, the position, and
    the number of squads in ``chosen``.
    """
    n_kept = -1
    if resume == CHOOSE:
        changed, n_kept, count = _objectives(
            objectives,
            node_holder,
            plan,
            neighbours,
            neighbours_start,
            town_node,
            parallel_objectives,
            by_routes,
            by_defenders,
            place_km,
            place_source,
            route_nodes,
            route_start,
            route_worth_km,
            defender_cost_km,
            task_force,
            status,
            strength,
            side,
            node,
            kept,
            chosen,
        )
        if not changed:
            n_kept = -1
        if count > 0:
            return INTO_TOWN, n_kept, contested, -1, count
    if resume < 0:
        contested = _contested(status, node, strength, side, outside, places)
        resume = 0
    for k in range(resume, contested):
        count = _fight(
            places[k],
            outside,
            strength,
            side,
            node,
            x,
            y,
            defenders_at_start,
            engage_odds,
            place_cover,
            break_share,
            attacker_lethality_per_h,
            rebel_lethality_per_h,
            dt_h,
            rebel_fire,
            killed_share,
            rng_handle,
            killed,
            wounded,
            wounded_evacuated,
            wounded_in_cell,
            wounded_at_node,
            chosen,
        )
        if count >= 0:
            return HANDED_OVER, n_kept, contested, k, count
    return DONE, n_kept, contested, -1, 0


@njit(cache=True)
def _objectives(
    objectives: np.ndarray,
    node_holder: np.ndarray,
    plan: np.ndarray,
    neighbours: np.ndarray,
    neighbours_start: np.ndarray,
    town_node: int,
    parallel_objectives: int,
    by_routes: bool,
    by_defenders: bool,
    place_km: np.ndarray,
    place_source: np.ndarray,
    route_nodes: np.ndarray,
    route_start: np.ndarray,
    route_worth_km: float,
    defender_cost_km: float,
    task_force: np.ndarray,
    status: np.ndarray,
    strength: np.ndarray,
    side: np.ndarray,
    node: np.ndarray,
    kept: np.ndarray,
    into_town: np.ndarray,
) -> tuple[bool, int, int]:
    """Keep up to ``parallel_objectives`` objectives; split the task force between them (``split``).

    The objectives still held by the rebels are kept, and topped up with candidates (rebel-held
    places bordering a place the attackers hold or the town): from the plan, in its order, or by
    routes, the best by ``_scores`` one at a time. The task force's fighters (active, strength > 0)
    go to the objectives in turn; with none, they leave the task force and go into the town (into
    ``into_town``: the caller draws their cells). Nothing changes when every objective is still held
    and some squad is flagged task force, alive or not. Returns whether anything changed, the number
    of objectives (in ``kept``) and of squads sent into the town.
    """
    n = 0
    for place in objectives:
        if node_holder[place] == REB:
            kept[n] = place
            n += 1
    if n == objectives.size and (n > 0 or not task_force.any()):
        return False, n, 0  # nothing has changed, or the task force has already gone into the town
    rebels_at = np.zeros(node_holder.size)  # G_k
    if by_routes or by_defenders:
        for i in range(node.size):
            if status[i] == ACTIVE and node[i] >= 0 and strength[i] > 0 and side[i] == REBELS:
                rebels_at[node[i]] += strength[i]
    if by_routes:
        while n < parallel_objectives:
            scores = _scores(
                kept[:n],
                node_holder,
                neighbours,
                neighbours_start,
                town_node,
                place_km,
                place_source,
                route_nodes,
                route_start,
                rebels_at,
                route_worth_km,
                defender_cost_km,
            )
            best = np.argmax(scores)  # the first of the highest
            if scores[best] == -np.inf:
                break
            kept[n] = best
            n += 1
    else:
        for place in plan:
            if n >= parallel_objectives:
                break
            if node_holder[place] != REB or (kept[:n] == place).any():
                continue
            if _borders_attackers(place, node_holder, neighbours, neighbours_start, town_node):
                kept[n] = place
                n += 1
    members = np.flatnonzero(task_force & (status == ACTIVE) & (strength > 0))
    if n > 0 and by_defenders:
        sent = np.zeros(n)  # A_j
        for i in range(members.size):
            best = 0
            for j in range(1, n):  # A_j / G_j < A_best / G_best, without dividing
                if sent[j] * max(rebels_at[kept[best]], 1.0) < sent[best] * max(rebels_at[kept[j]], 1.0):
                    best = j
            node[members[i]] = kept[best]
            sent[best] += strength[members[i]]
        return True, n, 0
    if n > 0:
        for i in range(members.size):
            node[members[i]] = kept[i % n]
        return True, n, 0
    for i in range(members.size):
        task_force[members[i]] = False
        node[members[i]] = IN_TOWN
        into_town[i] = members[i]
    return True, 0, members.size


@njit(cache=True)
def _borders_attackers(
    place: int, node_holder: np.ndarray, neighbours: np.ndarray, neighbours_start: np.ndarray, town_node: int
) -> bool:
    """Whether ``place`` borders a place the attackers hold or the town."""
    for j in range(neighbours_start[place], neighbours_start[place + 1]):
        if node_holder[neighbours[j]] == GOV or neighbours[j] == town_node:
            return True
    return False


@njit(cache=True)
def _scores(
    kept: np.ndarray,
    node_holder: np.ndarray,
    neighbours: np.ndarray,
    neighbours_start: np.ndarray,
    town_node: int,
    place_km: np.ndarray,
    place_source: np.ndarray,
    route_nodes: np.ndarray,
    route_start: np.ndarray,
    rebels_at: np.ndarray,
    route_worth_km: float,
    defender_cost_km: float,
) -> np.ndarray:
    """Each place's score ``S_k`` as a next objective (module docstring); ``-inf`` for a place that is no candidate.

    ``kept``: the objectives already chosen; ``rebels_at``: the rebel fighters at each place.
    """
    n_places = node_holder.size
    cuts = np.zeros(n_places)  # R_k
    for route in range(route_start.size - 1):
        nodes = route_nodes[route_start[route] : route_start[route + 1]]
        cut_already = False
        for place in nodes:
            cut_already = cut_already or node_holder[place] != REB or (kept == place).any()
        if not cut_already:
            for place in nodes:
                cuts[place] += 1.0
    scores = np.full(n_places, -np.inf)
    for k in range(n_places):
        if k == town_node or place_source[k] or node_holder[k] != REB or (kept == k).any():
            continue
        if not _borders_attackers(k, node_holder, neighbours, neighbours_start, town_node):
            continue
        distance_km = np.inf  # d_k
        for h in range(n_places):
            if h == town_node or node_holder[h] == GOV:
                dx, dy = place_km[k, 0] - place_km[h, 0], place_km[k, 1] - place_km[h, 1]
                distance_km = min(distance_km, np.sqrt(dx * dx + dy * dy))
        scores[k] = route_worth_km * cuts[k] - distance_km - defender_cost_km * rebels_at[k]
    return scores


@njit(cache=True)
def _contested(
    status: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    side: np.ndarray,
    outside: np.ndarray,
    places: np.ndarray,
) -> int:
    """The squads outside (active, at a place, strength > 0); the places where both sides have some, in order."""
    rebels_at = np.zeros(places.size, np.int64)
    attackers_at = np.zeros(places.size, np.int64)
    for i in range(outside.size):
        outside[i] = status[i] == ACTIVE and node[i] >= 0 and strength[i] > 0
        if outside[i]:
            if side[i] == REBELS:
                rebels_at[node[i]] += 1
            else:
                attackers_at[node[i]] += 1
    n = 0
    for place in range(places.size):
        if rebels_at[place] > 0 and attackers_at[place] > 0:
            places[n] = place
            n += 1
    return n


@njit(cache=True)
def _fight(
    place: int,
    outside: np.ndarray,
    strength: np.ndarray,
    side: np.ndarray,
    node: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    defenders_at_start: np.ndarray,
    engage_odds: float,
    place_cover: float,
    break_share: float,
    attacker_lethality_per_h: float,
    rebel_lethality_per_h: float,
    dt_h: float,
    rebel_fire: float,
    killed_share: float,
    rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
    garrison: np.ndarray,
) -> int:
    """The fight at ``place`` between the squads ``outside`` there now.

    With ``R`` the rebels' and ``A`` the attackers' strength there: the attackers firing are
    ``min(A, engage_odds * R)``; a rebel is hit with probability
    ``1 - exp(-attacker_lethality_per_h * dt_h * firing / R * (1 - place_cover))``, an attacker with
    ``1 - exp(-rebel_lethality_per_h * dt_h * R / A * rebel_fire)`` (casualties' ``inflict_kernel``,
    squads in index order). The garrison breaks when what is left of it is at most
    ``(1 - break_share)`` of its strength when its fight began. Returns -1, or, when it breaks,
    the number of its rebel squads (into ``garrison``).
    """
    here = np.flatnonzero(outside & (node == place))
    rebel = side[here] == REBELS
    rebel_sum = 0
    attacker_sum = 0
    for i in range(here.size):
        if rebel[i]:
            rebel_sum += strength[here[i]]
        else:
            attacker_sum += strength[here[i]]
    rebels = float(rebel_sum)
    attackers = float(attacker_sum)
    if defenders_at_start[place] == 0:
        defenders_at_start[place] = rebels
    firing = min(attackers, engage_odds * rebels)
    on_rebel = attacker_lethality_per_h * dt_h * firing / rebels * (1.0 - place_cover)
    on_attacker = rebel_lethality_per_h * dt_h * rebels / attackers * rebel_fire
    p_rebel = 1.0 - np.exp(-on_rebel)
    p_attacker = 1.0 - np.exp(-on_attacker)
    p_hit = np.empty(here.size)
    for i in range(here.size):
        p_hit[i] = p_rebel if rebel[i] else p_attacker
    inflict_kernel(
        strength,
        side,
        node,
        x,
        y,
        here,
        p_hit,
        killed_share,
        rng_handle,
        killed,
        wounded,
        wounded_evacuated,
        wounded_in_cell,
        wounded_at_node,
    )
    n = 0
    left = 0
    for i in range(here.size):
        if rebel[i]:
            garrison[n] = here[i]
            n += 1
            left += strength[here[i]]
    if left <= (1.0 - break_share) * defenders_at_start[place]:
        return n
    return -1


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
