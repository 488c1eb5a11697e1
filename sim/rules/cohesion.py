"""Rebel cohesion (0-1): what holds the defence together, worn down by the siege.

Per step::

    d cohesion = - loss_weight * (rebels lost this step / rebels able to fight)
                 - (encircled_per_day * encircled + ammo_per_day * (1 - mean ammunition)
                    + water_per_day * water cut + wounded_per_day * untreated share) * dt_days
                 + reinforcement_weight * (rebels arrived this step / rebels able to fight)

clipped to 0-1, where the untreated share is waiting wounded / (waiting wounded + fighters).
Cohesion scales rebel fire by ``fire_floor + (1 - fire_floor) * cohesion`` and drives surrender
and the corridor. The weights are assumptions (each parameter's description says).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.state import REBELS, BattleState


class Params(BaseModel):
    """Parameters of rebel cohesion."""

    model_config = ConfigDict(extra="forbid")

    loss_weight: float = Field(0.3, ge=0, description="cohesion lost per share of fighters lost (assumption)")
    encircled_per_day: float = Field(0.03, ge=0, description="cohesion lost per day of encirclement (assumption)")
    ammo_per_day: float = Field(0.05, ge=0, description="cohesion lost per day with empty magazines (assumption)")
    water_per_day: float = Field(0.03, ge=0, description="cohesion lost per day without running water (assumption)")
    wounded_per_day: float = Field(
        0.1, ge=0, description="cohesion lost per day when all are untreated wounded (assumption)"
    )
    reinforcement_weight: float = Field(
        1.0, ge=0, description="cohesion gained per share of fighters arriving (assumption)"
    )
    fire_floor: float = Field(
        0.5, ge=0, le=1, description="rebel fire at zero cohesion, as a share of full (assumption)"
    )


def fire_factor(cohesion: float, p: Params) -> float:
    """Rebel fire as a share of full, from cohesion: ``fire_floor + (1 - fire_floor) * cohesion``."""
    return p.fire_floor + (1.0 - p.fire_floor) * cohesion


def step(state: BattleState, p: Params) -> None:
    """Update the rebels' cohesion from this step's losses, arrivals and hardships."""
    if state.well_mixed:
        return
    squads = state.squads
    rebels = squads.in_town() & (squads.side == REBELS)
    fighters = float(squads.strength[rebels].sum())
    tally = state.tally
    lost_total = int(tally.killed[REBELS] + tally.wounded[REBELS]) + state.rebels_surrendered
    lost = lost_total - state.rebel_losses_seen
    state.rebel_losses_seen = lost_total
    waiting = float(state.wounded_in_cell.sum())
    base = max(fighters, 1.0)
    ammo = float(np.average(squads.ammo[rebels], weights=squads.strength[rebels])) if fighters else 0.0
    days = state.dt_h / 24.0
    change = -p.loss_weight * lost / (base + lost)
    change -= days * (
        p.encircled_per_day * (not state.routes_open)
        + p.ammo_per_day * (1.0 - ammo)
        + p.water_per_day * (state.water_cut_hour is not None)
        + p.wounded_per_day * waiting / (waiting + base)
    )
    change += p.reinforcement_weight * state.rebel_arrivals_step / base
    state.rebel_arrivals_step = 0
    state.cohesion = float(np.clip(state.cohesion + change, 0.0, 1.0))
