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

import datetime as dt

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.grid import DIRECTIONS, entry_cells
from sim.state import ACTIVE, HEZBOLLAH, IN_TOWN, OFF_DUTY, PENDING, REBELS, BattleState

ROTATION_COHORTS = 4  # assumption: four staggered cohorts of Hezbollah squads


class RotationPolicy(BaseModel):
    """Hezbollah's rotation from ``start``: ``days_on`` fighting, then ``days_off`` on leave."""

    model_config = ConfigDict(extra="forbid")

    start: dt.datetime
    days_on: float = Field(gt=0)
    days_off: float = Field(ge=0)
    cite: str


class TacticsChange(BaseModel):
    """From ``start``, Hezbollah fights in small groups with this effectiveness multiplier."""

    model_config = ConfigDict(extra="forbid")

    start: dt.datetime
    effectiveness: float = Field(gt=0)
    cite: str


def policy_in_force(policies: list[RotationPolicy], now: dt.datetime) -> RotationPolicy | None:
    """Hezbollah's rotation policy in force at ``now`` (the latest begun)."""
    current = [p for p in policies if p.start <= now]
    return current[-1] if current else None


def effectiveness_in_force(tactics: list[TacticsChange], now: dt.datetime) -> float:
    """Hezbollah's effectiveness multiplier in force at ``now`` (1 before any change)."""
    current = [t for t in tactics if t.start <= now]
    return current[-1].effectiveness if current else 1.0


def on_duty(policy: RotationPolicy, now: dt.datetime, cohort: np.ndarray) -> np.ndarray:
    """Whether each cohort is in the fight at ``now`` under ``policy`` (the equation above)."""
    cycle = policy.days_on + policy.days_off
    days = (now - policy.start).total_seconds() / 86400.0
    return (days + cohort * cycle / ROTATION_COHORTS) % cycle < policy.days_on


def step(state: BattleState, rotation: list[RotationPolicy], tactics: list[TacticsChange]) -> None:
    """Bring in this step's reinforcements, rotate Hezbollah, and set its effectiveness."""
    squads = state.squads
    due = np.flatnonzero((squads.status == PENDING) & (squads.arrival_step <= state.steps))
    if due.size:
        squads.status[due] = ACTIVE
        state.tally.arrived[:3] += np.bincount(squads.side[due], weights=squads.strength[due], minlength=3).astype(
            np.int64
        )
        if state.well_mixed:  # no space: everyone joins the one fight at once
            squads.node[due] = IN_TOWN
            squads.x[due], squads.y[due] = 0, 0
            due = due[:0]
        rebel = squads.side[due] == REBELS
        state.en_route[due[rebel]] = True
        squads.node[due[rebel]] = squads.entry[due[rebel]]
        for code in np.unique(squads.entry[due[~rebel]]):
            group = due[~rebel][squads.entry[due[~rebel]] == code]
            squads.node[group] = IN_TOWN
            squads.x[group], squads.y[group] = entry_cells(state, DIRECTIONS[code], group.size)
    _rotate(state, rotation)
    state.hezbollah_effectiveness = effectiveness_in_force(tactics, state.moment())


def _rotate(state: BattleState, rotation: list[RotationPolicy]) -> None:
    policy = policy_in_force(rotation, state.moment())
    if policy is None:
        return
    squads = state.squads
    hez = np.flatnonzero((squads.side == HEZBOLLAH) & (squads.status <= OFF_DUTY) & (squads.strength > 0))
    if hez.size == 0:
        return
    on = on_duty(policy, state.moment(), squads.unit[hez])
    leaving = hez[~on & (squads.status[hez] == ACTIVE)]
    returning = hez[on & (squads.status[hez] == OFF_DUTY)]
    squads.status[leaving] = OFF_DUTY
    squads.status[returning] = ACTIVE
    if returning.size:
        squads.x[returning], squads.y[returning] = entry_cells(state, "west", returning.size)
