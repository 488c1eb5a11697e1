"""Surrender and capture of rebels.

Rebels in contact and outnumbered ``surrender_odds`` to one surrender, each fighter with
probability per hour ``surrender_per_h * (1 - cohesion)``. Wounded rebels left in cells the
attackers hold, or at places they take, are captured. Coefficients are assumptions (the record
has the government's claim of 1,000 captured).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.state import GOV, REBELS, BattleState


class Params(BaseModel):
    """Parameters of surrender."""

    model_config = ConfigDict(extra="forbid")

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
    idx = np.flatnonzero(squads.in_town() & (squads.side == REBELS) & state.engaged)
    cornered = idx[state.local_ratio[idx] * p.surrender_odds < 1.0]
    if cornered.size:
        chance = 1.0 - np.exp(-p.surrender_per_h * (1.0 - state.cohesion) * state.dt_h)
        gave_up = state.rng.binomial(squads.strength[cornered], chance)
        squads.strength[cornered] -= gave_up.astype(np.int32)
        state.tally.captured[REBELS] += int(gave_up.sum())
        state.rebels_surrendered += int(gave_up.sum())
    left_behind = state.control == GOV
    taken = state.wounded_in_cell[left_behind]
    if taken.any():
        state.tally.captured[REBELS] += int(taken.sum())
        state.wounded_in_cell[left_behind] = 0
