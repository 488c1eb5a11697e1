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
from numba import njit
from pydantic import Field

from sim.loading import InputModel
from sim.numerics import pairwise_sum
from sim.state import ACTIVE, IN_TOWN, REBELS, BattleState


class Params(InputModel):
    """Parameters of rebel cohesion."""

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
    squads, tally = state.squads, state.tally
    state.cohesion, state.rebel_losses_seen = cohesion_kernel(
        squads.side,
        squads.node,
        squads.strength,
        squads.status,
        squads.ammo,
        state.wounded_in_cell,
        tally.killed,
        tally.wounded,
        state.rebels_surrendered,
        state.rebel_losses_seen,
        state.rebel_arrivals_step,
        not state.routes_open,
        state.water_cut_hour is not None,
        state.cohesion,
        state.dt_h,
        p.loss_weight,
        p.encircled_per_day,
        p.ammo_per_day,
        p.water_per_day,
        p.wounded_per_day,
        p.reinforcement_weight,
    )
    state.rebel_arrivals_step = 0


@njit(cache=True)
def cohesion_kernel(
    side: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    status: np.ndarray,
    ammo: np.ndarray,
    wounded_in_cell: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    rebels_surrendered: int,
    rebel_losses_seen: int,
    rebel_arrivals_step: int,
    encircled: bool,
    water_cut: bool,
    cohesion: float,
    dt_h: float,
    loss_weight: float,
    encircled_per_day: float,
    ammo_per_day: float,
    water_per_day: float,
    wounded_per_day: float,
    reinforcement_weight: float,
) -> tuple[float, int]:
    """The new cohesion and the rebels' losses so far (``step`` on the arrays).

    The mean ammunition is weighted by strength as ``np.average`` weighs it: the float64 products
    summed pairwise (``sim.numerics.pairwise_sum``) over the sum of the weights. Clipped to 0-1 as
    ``np.clip`` clips (a NaN stays NaN).
    """
    fighters_n = 0
    rebels = np.empty(side.size, np.int64)
    n = 0
    for i in range(side.size):
        if status[i] == ACTIVE and node[i] == IN_TOWN and strength[i] > 0 and side[i] == REBELS:
            rebels[n] = i
            n += 1
            fighters_n += strength[i]
    fighters = float(fighters_n)
    lost_total = killed[REBELS] + wounded[REBELS] + rebels_surrendered
    lost = lost_total - rebel_losses_seen
    waiting = float(wounded_in_cell.sum())
    base = max(fighters, 1.0)
    ammo_mean = 0.0
    if fighters:
        products = np.empty(n)
        for k in range(n):
            products[k] = np.float64(ammo[rebels[k]]) * np.float64(strength[rebels[k]])
        ammo_mean = pairwise_sum(products) / fighters
    days = dt_h / 24.0
    change = -loss_weight * lost / (base + lost)
    change -= days * (
        encircled_per_day * encircled
        + ammo_per_day * (1.0 - ammo_mean)
        + water_per_day * water_cut
        + wounded_per_day * waiting / (waiting + base)
    )
    change += reinforcement_weight * rebel_arrivals_step / base
    clipped = cohesion + change
    if not np.isnan(clipped):
        clipped = clipped if clipped > 0.0 else 0.0
        clipped = clipped if clipped < 1.0 else 1.0
    return clipped, lost_total
