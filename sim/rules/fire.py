"""Aimed direct fire between squads within range, with cover, prepared positions and suppression.

Shooters in cell ``s`` spread their fire over the enemy fighters within ``range_cells`` of ``s``
(Lanchester's aimed fire, locally). With ``S(s)`` the effective shooters of a side in ``s`` and
``M(s)`` the enemy fighters within range of ``s``, a fighter in cell ``c`` is hit in a step with
probability::

    p(c) = 1 - exp(-lethality_per_h * dt_h * sum_{s within range of c} S(s) / M(s) * exposure(c))

so a side's expected hits per step are ``lethality_per_h * dt_h * (its effective shooters in
contact)``: in a well-mixed space this is the Lanchester square law ``dB/dt = -a A``.
Effective shooters = strength x side effectiveness (Hezbollah's small-group multiplier from the
scenario's tactics) x (1 - suppression) x, for rebels, ammunition and cohesion factors.
Exposure: rebels ``(1 - cover) * (1 - prepared_bonus * prepared)``, attackers
``1 - attacker_cover_share * cover``, where ``cover = cover_max * built_up * (1 - damage)``; a
Hezbollah fighter's is further multiplied by ``effectiveness ** -small_groups_exposure_power``:
small groups in a guerrilla role (record:hezbollah-small-groups) offer fewer and fleeting targets
as well as fighting better.
Each coefficient's description says whether it is an assumption or calibrated, and where from.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.grid import box_sums, cell_sums, cover
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict
from sim.rules.cohesion import Params as CohesionParams
from sim.rules.cohesion import fire_factor
from sim.state import HEZBOLLAH, REBELS, BattleState


class Params(BaseModel):
    """Parameters of direct fire."""

    model_config = ConfigDict(extra="forbid")

    range_cells: int = Field(1, ge=0, le=5, description="reach of aimed fire in cells (assumption: urban ~100-150 m)")
    attacker_lethality_per_h: float = Field(
        0.00179,
        ge=0,
        description="hits per attacker fighter-hour in contact (calibrated earlier, held fixed: docs/decisions.md)",
    )
    rebel_lethality_per_h: float = Field(0.005, ge=0, description="hits per rebel fighter-hour in contact (assumption)")
    cover_max: float = Field(0.6, ge=0, le=1, description="cover of a fully built-up, undamaged cell (assumption)")
    prepared_bonus: float = Field(
        0.5,
        ge=0,
        le=1,
        description="fire a rebel avoids in a prepared position (assumption; record: bunkers, sniper posts)",
    )
    attacker_cover_share: float = Field(
        0.5, ge=0, le=1, description="share of a cell's cover attackers use (assumption)"
    )
    small_groups_exposure_power: float = Field(
        1.0,
        ge=0,
        description="how far Hezbollah's tactics' effectiveness also shields it: exposure x effectiveness ** -power "
        "(assumption; 0: not at all, 1: as much as it adds to its fire; an effectiveness below 1 exposes it more)",
    )
    ammo_per_h: float = Field(
        0.005,
        ge=0,
        description="share of a rebel basic load fired per hour in contact (assumption: a prepared town's stocks)",
    )
    low_ammo: float = Field(
        0.5, gt=0, le=1, description="below this ammunition share rebel fire falls linearly (assumption)"
    )


def neighbourhood_sum(state: BattleState, stack: np.ndarray, range_cells: int) -> np.ndarray:
    """Sum of each grid of ``stack`` over the cells within fire range of each cell (itself in a well-mixed space)."""
    return stack if state.well_mixed else box_sums(stack, range_cells)


def step(state: BattleState, p: Params, cohesion_p: CohesionParams, casualties_p: CasualtiesParams) -> None:
    """Fire of every squad in town at the enemies within range; the hits go to ``inflict``."""
    state.engaged[:] = False
    if state.ceasefire:
        return
    squads = state.squads
    idx = np.flatnonzero(squads.in_town())
    if idx.size == 0:
        return
    side, x, y = squads.side[idx], squads.x[idx], squads.y[idx]
    strength = squads.strength[idx].astype(np.float64)
    rebel = side == REBELS
    effect = np.ones(idx.size)
    effect[side == HEZBOLLAH] = state.hezbollah_effectiveness
    effect *= 1.0 - squads.suppressed[idx]
    ammo_factor = np.minimum(1.0, squads.ammo[idx] / p.low_ammo)
    effect[rebel] *= ammo_factor[rebel] * fire_factor(state.cohesion, cohesion_p)

    k = np.where(rebel, 0, 1)  # grid 0: rebels, grid 1: attackers
    twice = np.concatenate
    weights = twice([strength, strength * effect])
    sums = cell_sums(state.shape, twice([x, x]), twice([y, y]), twice([k, k + 2]), weights, 4)
    bodies, shooters = sums[:2], sums[2:]
    targets_near = neighbourhood_sum(state, bodies, p.range_cells)
    # fire falling on each fighter of side k in cell c: shooters of the other side in range of c,
    # each spreading its fire over the fighters of side k within its own range
    with np.errstate(divide="ignore", invalid="ignore"):
        on_each = np.where(targets_near > 0, shooters[::-1] / targets_near, 0.0)
    near = neighbourhood_sum(state, np.concatenate([on_each, shooters]), p.range_cells)
    incoming, fire_near = near[:2], near[2:]

    cover_here = cover(state, p.cover_max)
    exposure_rebel = (1.0 - cover_here) * (1.0 - p.prepared_bonus * state.prepared)
    exposure_attacker = 1.0 - p.attacker_cover_share * cover_here
    lethality = np.where(rebel, p.attacker_lethality_per_h, p.rebel_lethality_per_h)
    exposure = np.where(rebel, exposure_rebel[x, y], exposure_attacker[x, y])
    exposure[side == HEZBOLLAH] *= state.hezbollah_effectiveness**-p.small_groups_exposure_power
    rate = lethality * state.dt_h * incoming[k, x, y] * exposure
    enemies_near = targets_near[1 - k, x, y] > 0
    state.engaged[idx] = enemies_near
    # local odds in effective fire: a side short of ammunition or cohesion counts for less
    state.local_ratio[idx] = np.where(
        enemies_near, fire_near[k, x, y] / np.maximum(fire_near[1 - k, x, y], 1e-9), np.inf
    )
    inflict(state, casualties_p, idx, 1.0 - np.exp(-rate))
    firing = rebel & enemies_near
    squads.ammo[idx[firing]] = np.maximum(0.0, squads.ammo[idx[firing]] - p.ammo_per_h * state.dt_h)
    # shots per hour falling in each cell, for the civilians caught in the crossfire
    state.fire_intensity[:] = (
        incoming[0] * bodies[0] * p.attacker_lethality_per_h + incoming[1] * bodies[1] * p.rebel_lethality_per_h
    )
