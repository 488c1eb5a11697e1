"""Rebel cohesion (0-1): what holds the defence together, worn down by the siege.

Per step::

    d cohesion = - loss_weight * (rebels lost this step / rebels able to fight)
                 - (encircled_per_day * encircled + ammo_per_day * (1 - mean ammunition)
                    + water_per_day * water cut + wounded_per_day * untreated share) * dt_days
                 + reinforcement_weight * (rebels arrived this step / rebels able to fight)

clipped to 0-1, where the untreated share is waiting wounded / (waiting wounded + fighters).
Cohesion scales rebel fire by ``fire_floor + (1 - fire_floor) * cohesion`` and drives surrender
and the corridor. All weights are assumptions, to be calibrated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.state import REBELS

if TYPE_CHECKING:
    from sim.model import BattleModel


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


def step(model: BattleModel) -> None:
    """Update the rebels' cohesion from this step's losses, arrivals and hardships."""
    if model.well_mixed:
        return
    p = model.config.rules.cohesion
    squads = model.squads
    rebels = squads.in_town() & (squads.side == REBELS)
    fighters = float(squads.strength[rebels].sum())
    tally = model.tally
    lost_total = int(tally.killed[REBELS] + tally.wounded[REBELS]) + model.rebels_surrendered
    lost = lost_total - model.rebel_losses_seen
    model.rebel_losses_seen = lost_total
    waiting = float(model.wounded_in_cell.sum())
    base = max(fighters, 1.0)
    ammo = float(np.average(squads.ammo[rebels], weights=squads.strength[rebels])) if fighters else 0.0
    days = model.dt_h / 24.0
    change = -p.loss_weight * lost / (base + lost)
    change -= days * (
        p.encircled_per_day * (not model.routes_open)
        + p.ammo_per_day * (1.0 - ammo)
        + p.water_per_day * (model.water_cut_hour is not None)
        + p.wounded_per_day * waiting / (waiting + base)
    )
    change += p.reinforcement_weight * model.rebel_arrivals_step / base
    model.rebel_arrivals_step = 0
    model.cohesion = float(np.clip(model.cohesion + change, 0.0, 1.0))
