"""Arrivals and rotation (exogenous inputs): scheduled reinforcements, Hezbollah's rotation, tactics.

A reinforcement's squads arrive at their scheduled step: attackers on the outskirts on their
entry side, rebels at an outside place, from where the rule ``supply`` brings them in.
Hezbollah's squads belong to ``ROTATION_COHORTS`` cohorts with evenly staggered cycles; under a
policy of ``days_on`` on and ``days_off`` off, cohort ``c`` is in the fight while
``(days since the policy began + c * cycle / cohorts) mod cycle < days_on``
(record: 7 days on / 7 off, then 20 on / 7 off from 2 June). Off-duty squads leave the grid and
come back on the west side (Al Tal, where Hezbollah entered). The small-group tactics multiplier
applies from the scenario's date.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.state import ACTIVE, HEZBOLLAH, IN_TOWN, OFF_DUTY, PENDING, REBELS

if TYPE_CHECKING:
    from sim.model import BattleModel

ROTATION_COHORTS = 4  # assumption: four staggered cohorts of Hezbollah squads


def step(model: BattleModel) -> None:
    """Bring in this step's reinforcements, rotate Hezbollah, and set its effectiveness."""
    squads = model.squads
    due = np.flatnonzero((squads.status == PENDING) & (squads.arrival_step <= model.steps))
    if due.size:
        squads.status[due] = ACTIVE
        model.tally.arrived[:3] += np.bincount(squads.side[due], weights=squads.strength[due], minlength=3).astype(
            np.int64
        )
        if model.well_mixed:  # no space: everyone joins the one fight at once
            squads.node[due] = IN_TOWN
            squads.x[due], squads.y[due] = 0, 0
            due = due[:0]
        rebel = squads.side[due] == REBELS
        model.en_route[due[rebel]] = True
        squads.node[due[rebel]] = squads.entry[due[rebel]]
        for code in np.unique(squads.entry[due[~rebel]]):
            group = due[~rebel][squads.entry[due[~rebel]] == code]
            squads.node[group] = IN_TOWN
            squads.x[group], squads.y[group] = model.entry_cells(model.direction_names[code], group.size)
    _rotate(model)
    model.hezbollah_effectiveness = model.tactics_effectiveness()


def _rotate(model: BattleModel) -> None:
    policy = model.rotation_policy()
    if policy is None:
        return
    squads = model.squads
    hez = np.flatnonzero((squads.side == HEZBOLLAH) & (squads.status <= OFF_DUTY) & (squads.strength > 0))
    if hez.size == 0:
        return
    cycle = policy.days_on + policy.days_off
    days = (model.moment() - policy.start).total_seconds() / 86400.0
    phase = (days + squads.unit[hez] * cycle / ROTATION_COHORTS) % cycle
    on = phase < policy.days_on
    leaving = hez[~on & (squads.status[hez] == ACTIVE)]
    returning = hez[on & (squads.status[hez] == OFF_DUTY)]
    squads.status[leaving] = OFF_DUTY
    squads.status[returning] = ACTIVE
    if returning.size:
        squads.x[returning], squads.y[returning] = model.entry_cells("west", returning.size)
