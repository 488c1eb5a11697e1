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

Every coefficient is an assumption (the record gives rates, not effects), to be calibrated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.rules.casualties import inflict
from sim.state import ACTIVE, CIVILIANS, REB, REBELS

if TYPE_CHECKING:
    from sim.model import BattleModel


class Params(BaseModel):
    """Parameters of fire support."""

    model_config = ConfigDict(extra="forbid")

    lethal_area_m2: float = Field(300.0, ge=0, description="lethal area of a 122-152 mm shell in the open (assumption)")
    fighter_exposure: float = Field(
        0.15, ge=0, le=1, description="share of fighters exposed when a shell lands (assumption)"
    )
    civilian_exposure: float = Field(
        0.003, ge=0, le=1, description="share of civilians exposed: most shelter in basements (assumption)"
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


def step(model: BattleModel) -> None:
    """Deliver this step's munitions of every active plan."""
    squads = model.squads
    squads.suppressed[:] = 0.0
    if model.ceasefire or model.well_mixed:
        return
    p = model.config.rules.fire_support
    for plan in model.active_fire_plans():
        count = model.rng.poisson(plan.per_hour * model.dt_h)
        if count == 0:
            continue
        shells = count * _equivalent(plan.kind, p)
        if plan.target == "town":
            _on_town(model, p, count, shells / count)
        else:
            _on_place(model, p, model.place_index[plan.target], shells)


def _on_town(model: BattleModel, p: Params, count: int, per_munition: float) -> None:
    squads = model.squads
    town = np.flatnonzero(squads.in_town())
    rebel = squads.side[town] == REBELS
    gov, reb = town[~rebel], town[rebel]
    gov_here = model.cell_sum(squads.x[gov], squads.y[gov], np.ones(gov.size))
    near_gov = model.box_sum(gov_here, p.danger_close_cells) > 0
    targets = np.flatnonzero(((model.control == REB) & ~near_gov & model.in_town_mask).ravel())
    if targets.size == 0:
        return
    rebels_here = model.cell_sum(squads.x[reb], squads.y[reb], squads.strength[reb]).ravel()
    weights = 1.0 + rebels_here[targets] / 10.0
    landed = model.rng.multinomial(count, weights / weights.sum())
    hit = targets[landed > 0]
    shells_hit = landed[landed > 0] * per_munition
    shells = np.zeros(model.shape)
    shells.ravel()[hit] = shells_hit
    shelter_hit = 1.0 - p.building_protection * model.built_up.ravel()[hit] * (1.0 - model.damage.ravel()[hit])
    per_shell = p.lethal_area_m2 / model.cell_area_m2
    # fighters in the cells hit
    m = shells[squads.x[reb], squads.y[reb]]
    under_fire = m > 0
    if under_fire.any():
        hit_reb = reb[under_fire]
        shelter_reb = 1.0 - p.building_protection * model.built_up[squads.x[hit_reb], squads.y[hit_reb]] * (
            1.0 - model.damage[squads.x[hit_reb], squads.y[hit_reb]]
        )
        m = m[under_fire]
        inflict(model, hit_reb, 1.0 - np.exp(-m * per_shell * p.fighter_exposure * shelter_reb))
        squads.suppressed[hit_reb] = np.maximum(squads.suppressed[hit_reb], 1.0 - np.exp(-m * p.suppression_per_shell))
    # civilians in the cells hit
    p_civ = np.zeros(model.shape)
    p_civ.ravel()[hit] = 1.0 - np.exp(-shells_hit * per_shell * p.civilian_exposure * shelter_hit)
    harm_civilians(model, p_civ, p.killed_share_civilians)
    # buildings
    damage = model.damage.ravel()  # a view of the layer
    damage[hit] = 1.0 - (1.0 - damage[hit]) * np.exp(-shells_hit * p.damage_per_shell)


def harm_civilians(model: BattleModel, p_hit: np.ndarray, killed_share: float) -> None:
    """Hit each civilian of each cell with probability ``p_hit``: the killed leave, the wounded stay."""
    cells = np.flatnonzero((p_hit > 0) & (model.civilians > 0))
    if cells.size == 0:
        return
    people = model.civilians.ravel()  # a view: the layer itself
    hits = model.civilian_rng.binomial(people[cells], np.minimum(p_hit.ravel()[cells], 1.0))
    killed = model.civilian_rng.binomial(hits, killed_share)
    people[cells] -= killed
    model.tally.killed[CIVILIANS] += int(killed.sum())
    model.tally.wounded[CIVILIANS] += int((hits - killed).sum())


def _on_place(model: BattleModel, p: Params, node: int, shells: float) -> None:
    squads = model.squads
    here = np.flatnonzero(
        (squads.status == ACTIVE) & (squads.node == node) & (squads.side == REBELS) & (squads.strength > 0)
    )
    if here.size == 0:
        return
    per_fighter = shells / p.place_area_cells * p.lethal_area_m2 / model.cell_area_m2 * p.fighter_exposure
    inflict(model, here, np.full(here.size, 1.0 - np.exp(-per_fighter * (1.0 - p.building_protection * 0.5))))
