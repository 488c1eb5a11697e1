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
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from numba import njit
from pydantic import Field

from sim.grid import DIRECTIONS, entry_cells
from sim.loading import InputModel
from sim.state import ACTIVE, HEZBOLLAH, IN_TOWN, OFF_DUTY, PENDING, REBELS, BattleState

ROTATION_COHORTS = 4  # assumption: four staggered cohorts of Hezbollah squads


class RotationPolicy(InputModel):
    """Hezbollah's rotation from ``start``: ``days_on`` fighting, then ``days_off`` on leave."""

    start: dt.datetime
    days_on: float = Field(gt=0)
    days_off: float = Field(ge=0)
    cite: str


class TacticsChange(InputModel):
    """From ``start``, Hezbollah fights in small groups with this effectiveness multiplier."""

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


SCHEDULE_CHUNK = 1024  # steps of the schedule worked out at a time, as the run reaches them


@dataclass
class Schedule:
    """The rotation and tactics in force at each step's moment, worked out once per model (``schedule``).

    Entry ``k`` is for the moment ``start + k * dt_h`` (``BattleState.moment()`` with ``steps`` = k + 1),
    from the same ``datetime`` arithmetic as ``moment()``.
    """

    rotation: list  # the inputs it was worked out from
    tactics: list
    clock: tuple  # and the state's clock: start and dt_h
    policy: list[int] = field(default_factory=list)  # the rotation policy in force (``policy_in_force``), or -1
    days: list[float] = field(default_factory=list)  # days since that policy began (``on_duty``'s days), or 0
    effectiveness: list[float] = field(default_factory=list)  # Hezbollah's (``effectiveness_in_force``)
    policy_from: list[int] = field(default_factory=list)  # per policy: the first entry at which it has begun
    tactics_from: list[int] = field(default_factory=list)  # per change: likewise
    cycle: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per policy: days_on + days_off
    days_on: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per policy
    returning: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # per squad: scratch


def schedule(state: BattleState, rotation: list[RotationPolicy], tactics: list[TacticsChange], k: int) -> Schedule:
    """The model's schedule, held on the state and worked out at least up to entry ``k``.

    A policy or change is in force from the first step whose moment is its start or later
    (``BattleState.first_step_at``), the latest in the list among those begun (as ``policy_in_force``
    and ``effectiveness_in_force`` choose); the days since the policy began are ``on_duty``'s.
    """
    held = state._held.get("arrivals")
    clock = (state.start, state.dt_h)
    if held is None or held.rotation is not rotation or held.tactics is not tactics or held.clock != clock:
        held = state._held["arrivals"] = Schedule(
            rotation=rotation,
            tactics=tactics,
            clock=clock,
            cycle=np.array([policy.days_on + policy.days_off for policy in rotation], dtype=float),
            days_on=np.array([policy.days_on for policy in rotation], dtype=float),
            policy_from=[state.first_step_at(policy.start) - 1 for policy in rotation],
            tactics_from=[state.first_step_at(change.start) - 1 for change in tactics],
        )
    if held.returning.size != len(state.squads):
        held.returning = np.zeros(len(state.squads), np.int64)
    while len(held.policy) <= k:
        entries = np.arange(len(held.policy), len(held.policy) + SCHEDULE_CHUNK)
        policy = np.full(entries.size, -1)
        for i, first in enumerate(held.policy_from):  # the latest in the list wins
            policy[entries >= first] = i
        change = np.full(entries.size, -1)
        for i, first in enumerate(held.tactics_from):
            change[entries >= first] = i
        days = np.zeros(entries.size)
        for i in np.unique(policy[policy >= 0]):
            days[policy == i] = _days_since(state, rotation[i].start, entries[policy == i])
        effectiveness = np.array([1.0] + [change.effectiveness for change in tactics])
        held.policy.extend(policy.tolist())
        held.days.extend(days.tolist())
        held.effectiveness.extend(effectiveness[change + 1].tolist())
    return held


def _days_since(state: BattleState, start: dt.datetime, entries: np.ndarray) -> np.ndarray:
    """``(moment - start).total_seconds() / 86400`` at the moment of each entry (``start + k * dt_h``).

    ``timedelta(hours=k * dt_h)`` is exactly ``k`` steps of ``dt_h * 3600e6`` microseconds when that
    is a whole number and ``k * dt_h`` is exact in floating point (``dt_h`` a dyadic fraction with a
    small numerator, as 15 or 60 minutes are); then the microseconds are counted in integers and
    divided as ``total_seconds`` divides them (exact below 2**53 microseconds). Otherwise (20
    minutes, say) each moment is worked out with ``datetime``.
    """
    step_h = Fraction(state.dt_h)
    step_us = step_h * 3_600_000_000
    offset_us = (state.start - start) // dt.timedelta(microseconds=1)
    last = int(entries.max(initial=0))
    if step_us.denominator == 1 and last * step_h.numerator < 2**53 and abs(offset_us) + last * step_us < 2**53:
        return (offset_us + entries * int(step_us)) / 1e6 / 86400.0
    return np.array(
        [(state.start + dt.timedelta(hours=k * state.dt_h) - start).total_seconds() / 86400.0 for k in entries.tolist()]
    )


def step(state: BattleState, rotation: list[RotationPolicy], tactics: list[TacticsChange]) -> None:
    """Bring in this step's reinforcements, rotate Hezbollah, and set its effectiveness."""
    squads = state.squads
    k = max(state.steps - 1, 0)  # the step began at start + k * dt_h
    held = schedule(state, rotation, tactics, k)
    policy, days = held.policy[k], held.days[k]
    arrivals = (squads.status, squads.arrival_step, squads.side, squads.strength, squads.unit)
    due, back = _arrive_and_rotate(
        False, state.steps, policy, days, held.cycle, held.days_on, *arrivals, held.returning
    )
    if due:
        _arrive(state)
        _, back = _arrive_and_rotate(
            True, state.steps, policy, days, held.cycle, held.days_on, *arrivals, held.returning
        )
    if back:  # back from leave on the west side
        returning = held.returning[:back].copy()
        squads.x[returning], squads.y[returning] = entry_cells(state, "west", back)
    state.hezbollah_effectiveness = held.effectiveness[k]


def _arrive(state: BattleState) -> None:
    """The reinforcements due: rebels to their outside place (en route), attackers to the outskirts on their side."""
    squads = state.squads
    due = np.flatnonzero((squads.status == PENDING) & (squads.arrival_step <= state.steps))
    squads.status[due] = ACTIVE
    state.tally.arrived[:3] += np.bincount(squads.side[due], weights=squads.strength[due], minlength=3).astype(np.int64)
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


@njit(cache=True)
def _arrive_and_rotate(
    rotate_only: bool,
    steps: int,
    policy: int,
    days: float,
    cycle: np.ndarray,
    days_on: np.ndarray,
    status: np.ndarray,
    arrival_step: np.ndarray,
    side: np.ndarray,
    strength: np.ndarray,
    unit: np.ndarray,
    returning: np.ndarray,
) -> tuple[int, int]:
    """The reinforcements due (pending, ``arrival_step <= steps``): if any, their number, and nothing done.

    Else (or with ``rotate_only``) Hezbollah's rotation under ``policy`` (none if < 0), ``days``
    after it began: each Hezbollah squad alive (active or off duty, strength > 0) of cohort ``unit``
    is on duty while ``(days + unit * cycle / ROTATION_COHORTS) % cycle < days_on`` (``on_duty``);
    those off duty come back, those on leave go. Returns 0 and the number of squads come back
    (into ``returning``, in order: the caller draws their cells).
    """
    if not rotate_only:
        due = 0
        for i in range(status.size):
            if status[i] == PENDING and arrival_step[i] <= steps:
                due += 1
        if due:
            return due, 0
    if policy < 0:
        return 0, 0
    policy_cycle, policy_on = cycle[policy], days_on[policy]
    back = 0
    for i in range(status.size):
        if side[i] == HEZBOLLAH and status[i] <= OFF_DUTY and strength[i] > 0:
            on = (days + unit[i] * policy_cycle / ROTATION_COHORTS) % policy_cycle < policy_on
            if not on and status[i] == ACTIVE:
                status[i] = OFF_DUTY
            elif on and status[i] == OFF_DUTY:
                status[i] = ACTIVE
                returning[back] = i
                back += 1
    return 0, back
