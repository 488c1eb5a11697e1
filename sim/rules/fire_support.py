"""Fire support from the scenario's fire plans: shells, rockets, air raids and missiles.

The plans are exogenous (rates and times from the record); where the munitions land is a policy:
on the town, on rebel-held cells at least ``danger_close_cells`` from any attacker, with weight
``1 + rebels in the cell / 10``; on an outside place, on its garrison. A cell receiving ``m``
shell-equivalents (a bomb or missile counts ``air_raid_equivalent`` / ``missile_equivalent``)::

    p_fighter  = 1 - exp(-m * lethal_area_m2 / cell_area * fighter_exposure  * shelter)
    p_civilian = 1 - exp(-m * lethal_area_m2 / cell_area * civilian_exposure * shelter)
    shelter    = 1 - building_protection * built_up * (1 - damage)
    damage     = 1 - (1 - damage) * exp(-m * damage_per_shell)
    suppressed = 1 - exp(-m * suppression_per_shell)     (rebel fire that step)

The record gives rates, not effects: every coefficient is an assumption except ``civilian_exposure``, which
is calibrated to the civilians' dead.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
from numba import njit
from pydantic import Field, model_validator

from sim.loading import InputModel
from sim.numerics import binomial, multinomial, pairwise_sum, poisson
from sim.rng import generator
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict_kernel
from sim.state import ACTIVE, CIVILIANS, IN_TOWN, REB, REBELS, BattleState


class Params(InputModel):
    """Parameters of fire support."""

    lethal_area_m2: float = Field(300.0, ge=0, description="lethal area of a 122-152 mm shell in the open (assumption)")
    fighter_exposure: float = Field(
        0.15, ge=0, le=1, description="share of fighters exposed when a shell lands (assumption)"
    )
    civilian_exposure: float = Field(
        0.01822,
        ge=0,
        le=1,
        description="share of civilians exposed: most shelter in basements (calibrated: experiments/civilians.yaml)",
    )
    building_protection: float = Field(0.8, ge=0, le=1, description="protection of intact dense buildings (assumption)")
    damage_per_shell: float = Field(0.01, ge=0, description="building damage per shell in a cell (assumption)")
    suppression_per_shell: float = Field(0.3, ge=0, description="suppression of a cell's rebels per shell (assumption)")
    danger_close_cells: int = Field(
        1, ge=0, le=5, description="no fire within this many cells of attackers (assumption)"
    )
    air_raid_equivalent: float = Field(8.0, ge=0, description="shell-equivalents of one air raid (assumption)")
    missile_equivalent: float = Field(
        20.0, ge=0, description="shell-equivalents of one surface-to-surface missile (assumption)"
    )
    place_area_cells: float = Field(25.0, gt=0, description="area of an outside place, in cells (assumption)")
    killed_share_civilians: float = Field(
        0.09, ge=0, le=1, description="share of civilians hit who die (record: 47 civilians killed and 500 wounded)"
    )


def _equivalent(kind: str, p: Params) -> float:
    return {"air_raid": p.air_raid_equivalent, "missile": p.missile_equivalent}.get(kind, 1.0)


class FirePlan(InputModel):
    """Fire support (exogenous): munitions per hour on a target between two moments."""

    kind: Literal["artillery", "mortar", "rockets", "barrage", "air_raid", "missile"]
    start: dt.datetime
    end: dt.datetime
    per_hour: float = Field(
        ge=0,
        le=100_000,
        description="munitions (shells, bombs, missiles) per hour (at most 100,000, assumption: 40 times the "
        "record's heaviest barrage of 40 shells a minute)",
    )
    target: str = Field("town", description="'town' (rebel-held cells) or an outside place")
    cite: str

    @model_validator(mode="after")
    def _ordered(self) -> FirePlan:
        if self.end <= self.start:
            raise ValueError("end must come after start")
        return self


def plan_steps(state: BattleState, p: Params, plans: list[FirePlan]) -> tuple[np.ndarray, ...]:
    """The plans as a kernel takes them, made once per model (held on the state).

    Arrays, one entry per plan: the first step at which it is in force and the first after (a plan
    is in force when ``start <= state.moment() < end``: from ``state.first_step_at(start)`` to
    ``state.first_step_at(end)``), munitions per step (``per_hour * dt_h``), shell-equivalents per
    munition, and the target (-1: the town, else the outside place's index).
    """
    held = state._held.get("fire_support")
    if held is not None and held[0] is plans and held[1] is p:
        return held[2]
    made = (
        np.array([state.first_step_at(plan.start) for plan in plans], np.int64),
        np.array([state.first_step_at(plan.end) for plan in plans], np.int64),
        np.array([plan.per_hour * state.dt_h for plan in plans], np.float64),
        np.array([_equivalent(plan.kind, p) for plan in plans], np.float64),
        np.array([-1 if plan.target == "town" else state.place_index[plan.target] for plan in plans], np.int64),
    )
    state._held["fire_support"] = (plans, p, made)
    return made


def step(state: BattleState, p: Params, casualties_p: CasualtiesParams, plans: list[FirePlan]) -> None:
    """Deliver this step's munitions of every active plan."""
    squads = state.squads
    squads.suppressed[:] = 0.0
    if state.ceasefire or state.well_mixed:
        return
    first, after, per_step, equivalent, target = plan_steps(state, p, plans)
    tally = state.tally
    fire_support_kernel(
        state.steps,
        first,
        after,
        per_step,
        equivalent,
        target,
        squads.side,
        squads.x,
        squads.y,
        squads.node,
        squads.strength,
        squads.status,
        squads.suppressed,
        state.control,
        state.in_town_mask,
        state.built_up,
        state.damage,
        state.civilians,
        state.cell_area_m2,
        p.lethal_area_m2,
        p.fighter_exposure,
        p.civilian_exposure,
        p.building_protection,
        p.damage_per_shell,
        p.suppression_per_shell,
        p.danger_close_cells,
        p.place_area_cells,
        p.killed_share_civilians,
        casualties_p.killed_share,
        state.rng_handle,
        state.civilian_rng_handle,
        tally.killed,
        tally.wounded,
        tally.wounded_evacuated,
        state.wounded_in_cell,
        state.wounded_at_node,
    )


@njit(cache=True)
def fire_support_kernel(
    steps: int,
    first: np.ndarray,
    after: np.ndarray,
    per_step: np.ndarray,
    equivalent: np.ndarray,
    target: np.ndarray,
    side: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    status: np.ndarray,
    suppressed: np.ndarray,
    control: np.ndarray,
    in_town: np.ndarray,
    built_up: np.ndarray,
    damage: np.ndarray,
    civilians: np.ndarray,
    cell_area_m2: float,
    lethal_area_m2: float,
    fighter_exposure: float,
    civilian_exposure: float,
    building_protection: float,
    damage_per_shell: float,
    suppression_per_shell: float,
    danger_close_cells: int,
    place_area_cells: float,
    killed_share_civilians: float,
    killed_share: float,
    rng_handle: np.ndarray,
    civilian_rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
) -> None:
    """``step`` on the arrays: each plan in force at ``steps`` (``plan_steps``), in the plans' order.

    A plan's munitions this step ~ Poisson(``per_step``), drawn from the model's generator
    (``sim.numerics.poisson``: numpy's draws); none, and the plan is done for the step.
    """
    rng = generator(rng_handle)
    for plan in range(first.size):
        if not first[plan] <= steps < after[plan]:
            continue
        count = poisson(rng, per_step[plan])
        if count == 0:
            continue
        shells = count * equivalent[plan]
        if target[plan] < 0:
            _on_town(
                count,
                shells / count,
                side,
                x,
                y,
                node,
                strength,
                status,
                suppressed,
                control,
                in_town,
                built_up,
                damage,
                civilians,
                lethal_area_m2 / cell_area_m2,
                fighter_exposure,
                civilian_exposure,
                building_protection,
                damage_per_shell,
                suppression_per_shell,
                danger_close_cells,
                killed_share_civilians,
                killed_share,
                rng_handle,
                civilian_rng_handle,
                killed,
                wounded,
                wounded_evacuated,
                wounded_in_cell,
                wounded_at_node,
            )
        else:
            _on_place(
                target[plan],
                shells,
                side,
                x,
                y,
                node,
                strength,
                status,
                cell_area_m2,
                lethal_area_m2,
                fighter_exposure,
                building_protection,
                place_area_cells,
                killed_share,
                rng_handle,
                killed,
                wounded,
                wounded_evacuated,
                wounded_in_cell,
                wounded_at_node,
            )


@njit(cache=True)
def _on_town(
    count: int,
    per_munition: float,
    side: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    status: np.ndarray,
    suppressed: np.ndarray,
    control: np.ndarray,
    in_town: np.ndarray,
    built_up: np.ndarray,
    damage: np.ndarray,
    civilians: np.ndarray,
    per_shell: float,
    fighter_exposure: float,
    civilian_exposure: float,
    building_protection: float,
    damage_per_shell: float,
    suppression_per_shell: float,
    danger_close_cells: int,
    killed_share_civilians: float,
    killed_share: float,
    rng_handle: np.ndarray,
    civilian_rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
) -> None:
    """``count`` munitions on the town: on rebel-held town cells no attacker is within ``danger_close_cells`` of.

    The cells are taken in grid order (``ravel``); the munitions land ~ Multinomial(count,
    weights / sum(weights)) (``sim.numerics.multinomial``, the sum pairwise as numpy's).
    """
    width, height = control.shape
    near_gov = np.zeros((width, height), np.bool_)
    rebels_here = np.zeros((width, height))
    r = danger_close_cells
    reb = np.empty(side.size, np.int64)
    n_reb = 0
    for i in range(side.size):
        if status[i] == ACTIVE and node[i] == IN_TOWN and strength[i] > 0:
            if side[i] == REBELS:
                reb[n_reb] = i
                n_reb += 1
                rebels_here[x[i], y[i]] += strength[i]
            else:
                for ii in range(max(x[i] - r, 0), min(x[i] + r + 1, width)):
                    for jj in range(max(y[i] - r, 0), min(y[i] + r + 1, height)):
                        near_gov[ii, jj] = True
    targets = np.empty(width * height, np.int64)
    n_targets = 0
    for i in range(width):
        for j in range(height):
            if control[i, j] == REB and not near_gov[i, j] and in_town[i, j]:
                targets[n_targets] = i * height + j
                n_targets += 1
    if n_targets == 0:
        return
    weights = np.empty(n_targets)
    for t in range(n_targets):
        weights[t] = 1.0 + rebels_here.flat[targets[t]] / 10.0
    landed = multinomial(generator(rng_handle), count, weights / pairwise_sum(weights))
    shells = np.zeros((width, height))
    for t in range(n_targets):
        if landed[t] > 0:
            shells.flat[targets[t]] = landed[t] * per_munition
    # fighters in the cells hit
    hit_reb = np.empty(n_reb, np.int64)
    p_hit = np.empty(n_reb)
    m = np.empty(n_reb)
    n_hit = 0
    for k in range(n_reb):
        i = reb[k]
        here = shells[x[i], y[i]]
        if here > 0:
            shelter = 1.0 - building_protection * built_up[x[i], y[i]] * (1.0 - damage[x[i], y[i]])
            hit_reb[n_hit] = i
            m[n_hit] = here
            p_hit[n_hit] = 1.0 - np.exp(-here * per_shell * fighter_exposure * shelter)
            n_hit += 1
    if n_hit > 0:
        inflict_kernel(
            strength,
            side,
            node,
            x,
            y,
            hit_reb[:n_hit],
            p_hit[:n_hit],
            killed_share,
            rng_handle,
            killed,
            wounded,
            wounded_evacuated,
            wounded_in_cell,
            wounded_at_node,
        )
        for k in range(n_hit):
            i = hit_reb[k]
            before = np.float64(suppressed[i])
            now = 1.0 - np.exp(-m[k] * suppression_per_shell)
            suppressed[i] = now if now > before else before
    # civilians in the cells hit
    p_civ = np.zeros((width, height))
    for i in range(width):
        for j in range(height):
            if shells[i, j] > 0:
                shelter = 1.0 - building_protection * built_up[i, j] * (1.0 - damage[i, j])
                p_civ[i, j] = 1.0 - np.exp(-shells[i, j] * per_shell * civilian_exposure * shelter)
    harm_civilians(civilians, p_civ, killed_share_civilians, civilian_rng_handle, killed, wounded)
    # buildings
    for i in range(width):
        for j in range(height):
            if shells[i, j] > 0:
                damage[i, j] = 1.0 - (1.0 - damage[i, j]) * np.exp(-shells[i, j] * damage_per_shell)


@njit(cache=True)
def harm_civilians(
    civilians: np.ndarray,
    p_hit: np.ndarray,
    killed_share: float,
    civilian_rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
) -> None:
    """Hit each civilian of each cell with probability ``p_hit``: the killed leave, the wounded stay.

    Draws from the civilians' generator (``civilian_rng_handle``) in numpy's whole-array order: the
    hits of every cell with ``p_hit > 0`` and people, in grid order (Binomial(people, min(p_hit,
    1))), then the killed of each (Binomial(hits, killed_share)).
    """
    width, height = civilians.shape
    cells = np.empty((width * height, 2), np.int64)
    n = 0
    for i in range(width):
        for j in range(height):
            if p_hit[i, j] > 0 and civilians[i, j] > 0:
                cells[n, 0], cells[n, 1] = i, j
                n += 1
    if n == 0:
        return
    rng = generator(civilian_rng_handle)
    hits = np.empty(n, np.int64)
    for k in range(n):
        i, j = cells[k, 0], cells[k, 1]
        hits[k] = binomial(rng, civilians[i, j], min(p_hit[i, j], 1.0))
    dead_total = 0
    hurt_total = 0
    for k in range(n):
        dead = binomial(rng, hits[k], killed_share)
        civilians[cells[k, 0], cells[k, 1]] -= dead
        dead_total += dead
        hurt_total += hits[k] - dead
    killed[CIVILIANS] += dead_total
    wounded[CIVILIANS] += hurt_total


@njit(cache=True)
def _on_place(
    node_index: int,
    shells: float,
    side: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    status: np.ndarray,
    cell_area_m2: float,
    lethal_area_m2: float,
    fighter_exposure: float,
    building_protection: float,
    place_area_cells: float,
    killed_share: float,
    rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
) -> None:
    """``shells`` on an outside place: on the rebels there, as if spread over ``place_area_cells``."""
    here = np.flatnonzero((status == ACTIVE) & (node == node_index) & (side == REBELS) & (strength > 0))
    if here.size == 0:
        return
    per_fighter = shells / place_area_cells * lethal_area_m2 / cell_area_m2 * fighter_exposure
    p_hit = 1.0 - np.exp(-per_fighter * (1.0 - building_protection * 0.5))
    inflict_kernel(
        strength,
        side,
        node,
        x,
        y,
        here,
        np.full(here.size, p_hit),
        killed_share,
        rng_handle,
        killed,
        wounded,
        wounded_evacuated,
        wounded_in_cell,
        wounded_at_node,
    )
