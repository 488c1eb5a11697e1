"""Negotiation, the evacuation corridor and the withdrawal.

When the rebels' cohesion falls below ``cohesion_threshold`` (and, if ``needs_encirclement``, the
town is encircled), talks begin; ``negotiation_h`` hours later a corridor opens, fire stops, and
over ``withdrawal_h`` hours every rebel in the town leaves along it with the waiting wounded and
``civilian_share`` of the civilians, unharmed (record: a withdrawal plan through a narrow corridor;
the retreat on the evening of 4 June under an informal understanding of safe passage). Then the
attackers walk into the empty town. With ``enabled: false`` no corridor is ever offered.
The thresholds are parameters, never dates; their values are assumptions, to be calibrated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.state import CIVILIANS, GONE, REBELS

if TYPE_CHECKING:
    from sim.model import BattleModel


class Params(BaseModel):
    """Parameters of the corridor."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="whether a corridor can be negotiated at all (policy input)")
    cohesion_threshold: float = Field(0.25, ge=0, le=1, description="cohesion below which talks begin (assumption)")
    needs_encirclement: bool = Field(True, description="talks only once the town is encircled (assumption)")
    negotiation_h: float = Field(24.0, ge=0, description="hours from the start of talks to the corridor (assumption)")
    withdrawal_h: float = Field(
        10.0, gt=0, description="hours the withdrawal takes (assumption: an evening and a night)"
    )
    civilian_share: float = Field(
        0.3, ge=0, le=1, description="share of remaining civilians leaving with them (assumption)"
    )


def step(model: BattleModel) -> None:
    """Start talks, open the corridor, and carry out the withdrawal."""
    p = model.config.rules.corridor
    if not p.enabled or model.well_mixed:
        return
    if model.talks_hour is None:
        encircled_ok = model.encirclement_hour is not None or not p.needs_encirclement
        if model.cohesion < p.cohesion_threshold and encircled_ok:
            model.talks_hour = model.hour
        return
    if model.withdrawal_hour is None:
        if model.hour >= model.talks_hour + p.negotiation_h:
            model.withdrawal_hour = model.hour
            model.ceasefire = True
        else:
            return
    if not model.ceasefire:
        return
    remaining_h = model.withdrawal_hour + p.withdrawal_h - model.hour
    share = 1.0 if remaining_h <= model.dt_h else model.dt_h / remaining_h
    _withdraw(model, share, p.civilian_share * model.dt_h / p.withdrawal_h)
    if share >= 1.0:
        model.ceasefire = False


def _withdraw(model: BattleModel, share: float, civilian_share: float) -> None:
    squads = model.squads
    rebels = np.flatnonzero(squads.in_town() & (squads.side == REBELS))
    going = rebels[model.rng.random(rebels.size) < share]
    model.tally.withdrawn[REBELS] += int(squads.strength[going].sum())
    squads.strength[going] = 0
    squads.status[going] = GONE
    wounded = model.rng.binomial(model.wounded_in_cell, min(share, 1.0))
    model.wounded_in_cell -= wounded
    model.tally.withdrawn[REBELS] += int(wounded.sum())
    civilians = model.civilian_rng.binomial(model.civilians, min(civilian_share, 1.0))
    model.civilians -= civilians
    model.tally.withdrawn[CIVILIANS] += int(civilians.sum())
