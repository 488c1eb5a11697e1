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
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.grid import box_sum, cell_sum
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict
from sim.state import ACTIVE, CIVILIANS, REB, REBELS, BattleState


class Params(BaseModel):
    """Parameters of fire support."""

    model_config = ConfigDict(extra="forbid")

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


class FirePlan(BaseModel):
    """Fire support (exogenous): munitions per hour on a target between two moments."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["artillery", "mortar", "rockets", "barrage", "air_raid", "missile"]
    start: dt.datetime
    end: dt.datetime
    per_hour: float = Field(ge=0, description="munitions (shells, bombs, missiles) per hour")
    target: str = Field("town", description="'town' (rebel-held cells) or an outside place")
    cite: str

    @model_validator(mode="after")
    def _ordered(self) -> FirePlan:
        if self.end <= self.start:
            raise ValueError("end must come after start")
        return self


def active_plans(plans: list[FirePlan], now: dt.datetime) -> list[FirePlan]:
    """The plans in force at ``now``."""
    return [plan for plan in plans if plan.start <= now < plan.end]


def step(state: BattleState, p: Params, casualties_p: CasualtiesParams, plans: list[FirePlan]) -> None:
    """Deliver this step's munitions of every active plan."""
    squads = state.squads
    squads.suppressed[:] = 0.0
    if state.ceasefire or state.well_mixed:
        return
    for plan in active_plans(plans, state.moment()):
        count = state.rng.poisson(plan.per_hour * state.dt_h)
        if count == 0:
            continue
        shells = count * _equivalent(plan.kind, p)
        if plan.target == "town":
            _on_town(state, p, casualties_p, count, shells / count)
        else:
            _on_place(state, p, casualties_p, state.place_index[plan.target], shells)


def _on_town(state: BattleState, p: Params, casualties_p: CasualtiesParams, count: int, per_munition: float) -> None:
    squads = state.squads
    town = np.flatnonzero(squads.in_town())
    rebel = squads.side[town] == REBELS
    gov, reb = town[~rebel], town[rebel]
    gov_here = cell_sum(state.shape, squads.x[gov], squads.y[gov], np.ones(gov.size))
    near_gov = box_sum(gov_here, p.danger_close_cells) > 0
    targets = np.flatnonzero(((state.control == REB) & ~near_gov & state.in_town_mask).ravel())
    if targets.size == 0:
        return
    rebels_here = cell_sum(state.shape, squads.x[reb], squads.y[reb], squads.strength[reb]).ravel()
    weights = 1.0 + rebels_here[targets] / 10.0
    landed = state.rng.multinomial(count, weights / weights.sum())
    hit = targets[landed > 0]
    shells_hit = landed[landed > 0] * per_munition
    shells = np.zeros(state.shape)
    shells.ravel()[hit] = shells_hit
    shelter_hit = 1.0 - p.building_protection * state.built_up.ravel()[hit] * (1.0 - state.damage.ravel()[hit])
    per_shell = p.lethal_area_m2 / state.cell_area_m2
    # fighters in the cells hit
    m = shells[squads.x[reb], squads.y[reb]]
    under_fire = m > 0
    if under_fire.any():
        hit_reb = reb[under_fire]
        shelter_reb = 1.0 - p.building_protection * state.built_up[squads.x[hit_reb], squads.y[hit_reb]] * (
            1.0 - state.damage[squads.x[hit_reb], squads.y[hit_reb]]
        )
        m = m[under_fire]
        inflict(state, casualties_p, hit_reb, 1.0 - np.exp(-m * per_shell * p.fighter_exposure * shelter_reb))
        squads.suppressed[hit_reb] = np.maximum(squads.suppressed[hit_reb], 1.0 - np.exp(-m * p.suppression_per_shell))
    # civilians in the cells hit
    p_civ = np.zeros(state.shape)
    p_civ.ravel()[hit] = 1.0 - np.exp(-shells_hit * per_shell * p.civilian_exposure * shelter_hit)
    harm_civilians(state, p_civ, p.killed_share_civilians)
    # buildings
    damage = state.damage.ravel()  # a view of the layer
    damage[hit] = 1.0 - (1.0 - damage[hit]) * np.exp(-shells_hit * p.damage_per_shell)


def harm_civilians(state: BattleState, p_hit: np.ndarray, killed_share: float) -> None:
    """Hit each civilian of each cell with probability ``p_hit``: the killed leave, the wounded stay."""
    cells = np.flatnonzero((p_hit > 0) & (state.civilians > 0))
    if cells.size == 0:
        return
    people = state.civilians.ravel()  # a view: the layer itself
    hits = state.civilian_rng.binomial(people[cells], np.minimum(p_hit.ravel()[cells], 1.0))
    killed = state.civilian_rng.binomial(hits, killed_share)
    people[cells] -= killed
    state.tally.killed[CIVILIANS] += int(killed.sum())
    state.tally.wounded[CIVILIANS] += int((hits - killed).sum())


def _on_place(state: BattleState, p: Params, casualties_p: CasualtiesParams, node: int, shells: float) -> None:
    squads = state.squads
    here = np.flatnonzero(
        (squads.status == ACTIVE) & (squads.node == node) & (squads.side == REBELS) & (squads.strength > 0)
    )
    if here.size == 0:
        return
    per_fighter = shells / p.place_area_cells * p.lethal_area_m2 / state.cell_area_m2 * p.fighter_exposure
    p_hit = 1.0 - np.exp(-per_fighter * (1.0 - p.building_protection * 0.5))
    inflict(state, casualties_p, here, np.full(here.size, p_hit))
