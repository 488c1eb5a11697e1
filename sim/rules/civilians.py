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
from pydantic import BaseModel, ConfigDict, Field

from sim.rules.fire_support import Params as FireSupportParams
from sim.rules.fire_support import harm_civilians
from sim.state import CIVILIANS, GOV, BattleState


class Params(BaseModel):
    """Parameters of the civilians."""

    model_config = ConfigDict(extra="forbid")

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
    if state.well_mixed or not state.civilians.any():
        return
    harm_civilians(
        state.civilians,
        1.0 - np.exp(-p.crossfire_per_shot * state.fire_intensity * state.dt_h),
        fire_support_p.killed_share_civilians,
        state.civilian_rng_handle,
        state.tally.killed,
        state.tally.wounded,
    )
    people = state.civilians.ravel()  # a view of the layer
    cells = np.flatnonzero(people)
    rate = np.where(
        state.control.ravel()[cells] == GOV,
        p.behind_lines_per_day,
        p.flee_per_day if state.routes_open else p.bribe_per_day,
    )
    fear = 1.0 + p.fear_per_damage * state.damage.ravel()[cells]
    leaving = state.civilian_rng.binomial(people[cells], 1.0 - np.exp(-rate * state.dt_h / 24.0 * fear))
    people[cells] -= leaving
    state.tally.withdrawn[CIVILIANS] += int(leaving.sum())
