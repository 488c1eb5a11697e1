"""Surrender and capture of rebels.

Rebels in contact and outnumbered ``surrender_odds`` to one surrender, each fighter with
probability per hour ``surrender_per_h * (1 - cohesion)``. Wounded rebels left in cells the
attackers hold, or at places they take, are captured. Coefficients are assumptions (the record
has the government's claim of 1,000 captured).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from pydantic import Field

from sim.loading import InputModel
from sim.numerics import binomial
from sim.rng import generator
from sim.state import ACTIVE, GOV, IN_TOWN, REBELS, BattleState


class Params(InputModel):
    """Parameters of surrender."""

    surrender_odds: float = Field(
        4.0, gt=0, description="local odds against rebels at which they may surrender (assumption)"
    )
    surrender_per_h: float = Field(
        0.01, ge=0, description="surrender chance per fighter-hour at zero cohesion (assumption)"
    )


def step(state: BattleState, p: Params) -> None:
    """Capture surrendering rebels and the wounded left behind."""
    if state.well_mixed:
        return
    squads = state.squads
    state.rebels_surrendered += surrender_kernel(
        squads.side,
        squads.node,
        squads.strength,
        squads.status,
        state.engaged,
        state.local_ratio,
        p.surrender_odds,
        p.surrender_per_h,
        state.cohesion,
        state.dt_h,
        state.control,
        state.wounded_in_cell,
        state.tally.captured,
        state.rng_handle,
    )


@njit(cache=True)
def surrender_kernel(
    side: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    status: np.ndarray,
    engaged: np.ndarray,
    local_ratio: np.ndarray,
    surrender_odds: float,
    surrender_per_h: float,
    cohesion: float,
    dt_h: float,
    control: np.ndarray,
    wounded_in_cell: np.ndarray,
    captured: np.ndarray,
    rng_handle: np.ndarray,
) -> int:
    """``step`` on the arrays; returns the rebels who surrendered.

    Each cornered squad (rebels in the town, engaged, ``local_ratio * surrender_odds < 1``), in squad
    order, loses Binomial(strength, chance) fighters, drawn from the model's generator.
    """
    if engaged.size != side.size or local_ratio.size != side.size:
        raise ValueError("engaged and local_ratio must have one entry per squad")  # as numpy's broadcasting would
    rng = generator(rng_handle)
    chance = 1.0 - np.exp(-surrender_per_h * (1.0 - cohesion) * dt_h)
    gave_up = 0
    for i in range(side.size):
        if (
            status[i] == ACTIVE
            and node[i] == IN_TOWN
            and strength[i] > 0
            and side[i] == REBELS
            and engaged[i]
            and local_ratio[i] * surrender_odds < 1.0
        ):
            surrendered = binomial(rng, strength[i], chance)
            strength[i] -= surrendered
            gave_up += surrendered
    captured[REBELS] += gave_up
    width, height = control.shape
    for i in range(width):
        for j in range(height):
            if control[i, j] == GOV and wounded_in_cell[i, j] != 0:
                captured[REBELS] += wounded_in_cell[i, j]
                wounded_in_cell[i, j] = 0
    return gave_up
