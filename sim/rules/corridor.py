"""Negotiation, the evacuation corridor and the withdrawal.

When the rebels' cohesion falls below ``cohesion_threshold`` (and, if ``needs_encirclement``, the
town is encircled), talks begin; ``negotiation_h`` hours later a corridor opens, fire stops, and
over ``withdrawal_h`` hours every rebel in the town leaves along it with the waiting wounded and
``civilian_share`` of the civilians, unharmed (record: a withdrawal plan through a narrow corridor;
the retreat on the evening of 4 June under an informal understanding of safe passage). Then the
attackers walk into the empty town. With ``enabled: false`` no corridor is ever offered.
The thresholds are parameters, never dates; ``cohesion_threshold`` is calibrated, the others are assumptions.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sim.loading import InputModel
from sim.state import CIVILIANS, GONE, REBELS, BattleState


class Params(InputModel):
    """Parameters of the corridor."""

    enabled: bool = Field(True, description="whether a corridor can be negotiated at all (policy input)")
    cohesion_threshold: float = Field(
        0.2165,
        ge=0,
        le=1,
        description="cohesion below which talks begin (calibrated: experiments/history-matching.yaml)",
    )
    needs_encirclement: bool = Field(True, description="talks only once the town is encircled (assumption)")
    negotiation_h: float = Field(24.0, ge=0, description="hours from the start of talks to the corridor (assumption)")
    withdrawal_h: float = Field(
        10.0, gt=0, description="hours the withdrawal takes (assumption: an evening and a night)"
    )
    civilian_share: float = Field(
        0.3, ge=0, le=1, description="share of remaining civilians leaving with them (assumption)"
    )


def step(state: BattleState, p: Params) -> None:
    """Start talks, open the corridor, and carry out the withdrawal."""
    if not p.enabled or state.well_mixed:
        return
    if state.talks_hour is None:
        encircled_ok = state.encirclement_hour is not None or not p.needs_encirclement
        if state.cohesion < p.cohesion_threshold and encircled_ok:
            state.talks_hour = state.hour
        return
    if state.withdrawal_hour is None:
        if state.hour >= state.talks_hour + p.negotiation_h:
            state.withdrawal_hour = state.hour
            state.ceasefire = True
        else:
            return
    if not state.ceasefire:
        return
    remaining_h = state.withdrawal_hour + p.withdrawal_h - state.hour
    share = 1.0 if remaining_h <= state.dt_h else state.dt_h / remaining_h
    _withdraw(state, share, p.civilian_share * state.dt_h / p.withdrawal_h)
    if share >= 1.0:
        state.ceasefire = False


def _withdraw(state: BattleState, share: float, civilian_share: float) -> None:
    squads = state.squads
    rebels = np.flatnonzero(squads.in_town() & (squads.side == REBELS))
    going = rebels[state.rng.random(rebels.size) < share]
    state.tally.withdrawn[REBELS] += int(squads.strength[going].sum())
    squads.strength[going] = 0
    squads.status[going] = GONE
    wounded = state.rng.binomial(state.wounded_in_cell, min(share, 1.0))
    state.wounded_in_cell -= wounded
    state.tally.withdrawn[REBELS] += int(wounded.sum())
    civilians = state.civilian_rng.binomial(state.civilians, min(civilian_share, 1.0))
    state.civilians -= civilians
    state.tally.withdrawn[CIVILIANS] += int(civilians.sum())
