"""Civilians: people per cell who are caught in the fire and leave when they can.

Each step, in each town cell, civilians leave with probability ``1 - exp(-rate * dt_days *
(1 + fear_per_damage * damage))`` where the rate is ``flee_per_day`` while a route is open,
``bribe_per_day`` when the town is encircled (record: civilians paid "enormous bribes" to get out),
and ``behind_lines_per_day`` in cells the attackers hold. Crossfire hits each civilian of a cell
with probability ``1 - exp(-crossfire_per_shot * shots per hour in the cell * dt_h)``. Shelling is
handled by ``fire_support``. Coefficients are assumptions; the record has 25,000 residents at
the start, 15,000 trapped on 31 May, and 47 civilians killed and 500 wounded.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from pydantic import Field

from sim.loading import InputModel
from sim.numerics import binomial
from sim.rng import generator
from sim.rules.fire_support import Params as FireSupportParams
from sim.rules.fire_support import harm_civilians
from sim.state import CIVILIANS, GOV, BattleState


class Params(InputModel):
    """Parameters of the civilians."""

    flee_per_day: float = Field(0.04, ge=0, description="share leaving per day while a route is open (assumption)")
    bribe_per_day: float = Field(0.01, ge=0, description="share getting out per day when encircled (assumption)")
    behind_lines_per_day: float = Field(
        0.2, ge=0, description="share leaving per day from cells the attackers hold (assumption)"
    )
    fear_per_damage: float = Field(
        2.0, ge=0, description="extra urge to leave per unit of building damage (assumption)"
    )
    crossfire_per_shot: float = Field(
        2e-4, ge=0, description="hit chance per civilian per shot per hour in the cell (assumption)"
    )


def step(state: BattleState, p: Params, fire_support_p: FireSupportParams) -> None:
    """Harm civilians in the crossfire and let those who can, leave."""
    if state.well_mixed:
        return
    tally = state.tally
    civilians_kernel(
        state.civilians,
        state.fire_intensity,
        state.control,
        state.damage,
        p.crossfire_per_shot,
        state.dt_h,
        fire_support_p.killed_share_civilians,
        p.behind_lines_per_day,
        p.flee_per_day if state.routes_open else p.bribe_per_day,
        p.fear_per_damage,
        state.civilian_rng_handle,
        tally.killed,
        tally.wounded,
        tally.withdrawn,
    )


@njit(cache=True)
def civilians_kernel(
    civilians: np.ndarray,
    fire_intensity: np.ndarray,
    control: np.ndarray,
    damage: np.ndarray,
    crossfire_per_shot: float,
    dt_h: float,
    killed_share: float,
    behind_lines_per_day: float,
    rate_elsewhere: float,
    fear_per_damage: float,
    civilian_rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    withdrawn: np.ndarray,
) -> None:
    """``step`` on the arrays (nothing when no civilian is left); draws from the civilians' generator.

    The crossfire's hit chance is taken only where people are (``harm_civilians`` draws nothing
    elsewhere); then the leaving of each cell with people, in grid order ~ Binomial(people, 1 -
    exp(-rate * dt_h / 24 * fear)), ``rate_elsewhere`` being the flight's rate off the attackers' cells.
    """
    if fire_intensity.shape != civilians.shape:
        raise ValueError("fire_intensity and civilians differ in shape")  # as numpy's broadcasting would
    width, height = civilians.shape
    anyone = False
    p_hit = np.zeros((width, height))
    for i in range(width):
        for j in range(height):
            if civilians[i, j] != 0:
                anyone = True
                if fire_intensity[i, j] != 0:  # else exp(-0) is 1: no hit chance
                    p_hit[i, j] = 1.0 - np.exp(-crossfire_per_shot * fire_intensity[i, j] * dt_h)
    if not anyone:
        return
    harm_civilians(civilians, p_hit, killed_share, civilian_rng_handle, killed, wounded)
    rng = generator(civilian_rng_handle)
    left = 0
    for i in range(width):
        for j in range(height):
            if civilians[i, j] != 0:
                rate = behind_lines_per_day if control[i, j] == GOV else rate_elsewhere
                fear = 1.0 + fear_per_damage * damage[i, j]
                leaving = binomial(rng, civilians[i, j], 1.0 - np.exp(-rate * dt_h / 24.0 * fear))
                civilians[i, j] -= leaving
                left += leaving
    withdrawn[CIVILIANS] += left
