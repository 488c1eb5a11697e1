"""The record as targets: each comparable entry an interval ``[low, high]`` on one of a run's outcomes.

Control claims bound the attackers' share at the end of their day (stretched by the source's lean),
events the day the model dates them, spatial claims the day the attackers take a part of the town
(the scenario's sectors of that part), casualty reports a side's dead; each target has a scale and a
weight (``sim.analysis.fit``). For a run value ``x`` the distance is ``max(low - x, 0, x - high) / scale``
(in log units, ``/ ln 2``, for casualties). Facts the analyses check against (the fall day, the
places taken, the record's dates) are read from the record here too, not copied into code.

Methods: docs/methods.md, sections 1 (the record as targets) and 2 (intervals by lean).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from sim.record import TOWN, CasualtyReport, ControlClaim, Event, Record, RecordError, SpatialClaim, describe
from sim.run import OUTCOME_EVENT_DAYS, captured_column, sector_column
from sim.scenario import TOWN_PLACE, Scenario
from sim.state import SIDE_NAMES

LEAN_WEIGHT = {"neutral": 1.0, "government": 0.5, "opposition": 0.5}  # assumption: neutral sources lead
BETWEEN_SIDES = "between-sides"  # the id of a day's bracket of the sides' claims, before its day
BOTH_SIDES_WEIGHT = 1.0  # assumption: what both sides' claims say together weighs as a neutral source
SHARE_TOLERANCE = 0.10  # assumption: a share given as a point is read as +/- 10 points of the town
PARTISAN_STRETCH = 0.20  # assumption: a partisan share may be off by 20 more points in its side's favour
SHARE_SCALE = 0.10  # assumption: 10 points of the town outside a claim count as one unit of distance
EVENT_SLACK_DAYS = 0.5  # assumption: a report covers the previous hours, so a stated date may be half a day off
INFERRED_SLACK_DAYS = 1.0  # assumption: a date inferred from the order of paragraphs may be a day off
LONE_FIGURE_FACTOR = 1.5  # assumption: a lone casualty figure holds within a factor of 1.5
NEVER_DAY = 24.0  # assumption: an event that never happens counts as on day 24 (two after the baseline's run ends)
UPPER_BOUND_QUALIFIERS = ("up to", "as much as")
# (start, end) of each time of day as fractions of the day
TIME_OF_DAY = {
    None: (0.0, 1.0),
    "night": (0.0, 0.25),
    "dawn": (0.15, 0.3),
    "morning": (0.25, 0.5),
    "day": (0.25, 0.8),
    "evening": (0.7, 0.95),
    "end_of_day": (0.8, 1.0),
}
DATED_SCOPES = ("to_date", "day")  # casualty reports bounding a side's dead by or on a day
NOT_FITTED_WHY = "claims contradicted by a neutral one of their day, and days' tolls of the dead"  # weight 0
PER_DAY = re.compile(r"_d\d{2}$")  # an outcome at the end of one day: gov_share_d04, killed_army_d00

Kind = Literal["control", "event", "spatial", "casualties"]
IN_DAYS: tuple[Kind, ...] = ("event", "spatial")  # kinds whose outcome is a day, never = NEVER_DAY


def event_days(values) -> np.ndarray:
    """An event's day in each run as numbers: a run in which it never happened counts as ``NEVER_DAY``."""
    days = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(days), NEVER_DAY, days)


def outcome_values(runs: pd.DataFrame, outcome: str) -> np.ndarray:
    """One outcome of every run (row of ``runs``) as numbers: NaN where a run lacks it.

    A column the runs do not have (a day past a shorter scenario's end) is all NaN.
    """
    if outcome not in runs:
        return np.full(len(runs), np.nan)
    return pd.to_numeric(runs[outcome], errors="coerce").to_numpy(dtype=float)


@dataclass(frozen=True)
class Target:
    """An interval the record sets on one outcome of a run."""

    id: str
    kind: Kind
    label: str
    day: int
    lean: str
    source: str
    outcome: str
    low: float
    high: float
    weight: float
    log_scale: bool = False
    ids: tuple[str, ...] = ()
    minus: str = ""  # an outcome taken off ``outcome`` (a day's dead: the total at its end less the day before's)
    sectors: tuple[int, ...] = ()  # a spatial target's sectors: its outcome is the day the attackers hold
    rank: int = 0  # ... ``rank`` of them for good (the rank-th smallest of the sectors' days)
    nearest: bool = False  # ... or one of them, whichever's day comes nearest to [low, high] (a landmark taken)
    # what the entry states, before the lean's stretch and the dates' slack (sim.analysis.observation):
    stated: tuple[float, float] | None = None  # the interval its wording gives, in the outcome's units
    report_sd: float = 0.0  # how far a report strays from what it states: the slack of its date (days), or
    # the spread of a lone casualty figure (natural log units)

    @property
    def fitted(self) -> bool:
        """Whether the target pulls a fit: what is scored, not fitted (``NOT_FITTED_WHY``) has weight 0."""
        return self.weight > 0

    @property
    def columns(self) -> tuple[str, ...]:
        """The run outcomes the target reads."""
        if self.sectors:
            return tuple(sector_column(s) for s in self.sectors)
        return (self.outcome, self.minus) if self.minus else (self.outcome,)

    @property
    def in_days(self) -> bool:
        """Whether the outcome is a day (an event's, a part's taking): a run without one counts as ``NEVER_DAY``."""
        return self.kind in IN_DAYS

    @property
    def per_day(self) -> bool:
        """Whether the target reads an outcome at the end of a day (which a shorter run does not have)."""
        return any(PER_DAY.search(column) for column in self.columns)

    def values(self, runs: pd.DataFrame) -> np.ndarray:
        """The target's outcome in each run (row of ``runs``); NaN where a run does not have it."""
        if self.sectors and self.nearest:
            return nearest_taken_days(runs, self.sectors, self.low, self.high)
        if self.sectors:
            return part_taken_days(runs, self.sectors, self.rank)
        values = outcome_values(runs, self.outcome)
        return values - outcome_values(runs, self.minus) if self.minus else values

    def distance(self, values: np.ndarray) -> np.ndarray:
        """Distance of each value from the interval, in the target's units (0 inside)."""
        x = event_days(values) if self.in_days else np.asarray(values, dtype=float)
        if self.log_scale:
            x = np.maximum(x, 1.0)
            above = np.log(x) - math.log(self.high)  # an open upper end (infinite): never above
            return np.maximum.reduce([math.log(self.low) - np.log(x), np.zeros_like(x), above]) / math.log(2)
        scale = SHARE_SCALE if self.kind == "control" else 1.0
        return np.maximum.reduce([self.low - x, np.zeros_like(x), x - self.high]) / scale


def part_taken_days(runs: pd.DataFrame, sectors: tuple[int, ...], rank: int) -> np.ndarray:
    """Per run, the day from which the attackers hold ``rank`` of ``sectors`` for good (NaN: never).

    The ``rank``-th smallest of the sectors' days (``sim.run.sector_column``), a sector never taken
    counting as later than any day.
    """
    days = np.column_stack([outcome_values(runs, sector_column(s)) for s in sectors])
    days = np.sort(np.where(np.isnan(days), np.inf, days), axis=1)[:, rank - 1]
    return np.where(np.isinf(days), np.nan, days)


def nearest_taken_days(runs: pd.DataFrame, sectors: tuple[int, ...], low: float, high: float) -> np.ndarray:
    """Per run, of the days the attackers take each of ``sectors`` for good, the one nearest to ``[low, high]``.

    A sector never taken counts as ``NEVER_DAY``; of days equally near, the first sector's.
    """
    days = np.column_stack([event_days(outcome_values(runs, sector_column(s))) for s in sectors])
    off = np.maximum.reduce([low - days, np.zeros_like(days), days - high])
    return days[np.arange(len(days)), np.argmin(off, axis=1)] if len(days) else np.zeros(0)


def share_interval(claim: ControlClaim) -> tuple[float, float]:
    """The claim as an interval of the attackers' share, before the lean."""
    figure = claim.share
    if figure.value is None:
        low, high = claim.gov_share
    elif figure.qualifier in UPPER_BOUND_QUALIFIERS:  # the holder's share is at most the value
        held = (figure.value - 2 * SHARE_TOLERANCE, figure.value)
        low, high = held if claim.holder == "gov" else (1.0 - held[1], 1.0 - held[0])
    else:
        value = figure.value if claim.holder == "gov" else 1.0 - figure.value
        low, high = value - SHARE_TOLERANCE, value + SHARE_TOLERANCE
    return max(low, 0.0), min(high, 1.0)


def control_target(claim: ControlClaim) -> Target:
    """A control claim as a target on the share at the end of its day."""
    low, high = stated = share_interval(claim)
    if claim.lean == "government":
        low = max(low - PARTISAN_STRETCH, 0.0)
    elif claim.lean == "opposition":
        high = min(high + PARTISAN_STRETCH, 1.0)
    return Target(
        id=claim.id,
        kind="control",
        label=f"share held by the attackers, {claim.quote!r}",
        day=claim.day,
        lean=claim.lean,
        source=claim.source,
        outcome=f"gov_share_d{claim.day:02d}",
        low=round(low, 4),
        high=round(high, 4),
        weight=LEAN_WEIGHT[claim.lean],
        stated=(round(stated[0], 4), round(stated[1], 4)),
    )


def contradicted_unweighted(claims: list[Target]) -> list[Target]:
    """Partisan control targets whose interval misses a neutral one's of the same day get weight 0.

    Neutral sources lead: a partisan claim the record's own neutral reporting contradicts on the
    day (the activist's rebels "pushed back to their starting positions" on the day Al Jazeera has the
    Army holding most of the town) is reported and scored, but it does not pull the fit.
    """
    neutral = [t for t in claims if t.lean == "neutral"]
    out = []
    for target in claims:
        against = [n.id for n in neutral if n.day == target.day and (n.low > target.high or n.high < target.low)]
        if target.lean != "neutral" and against:
            label = f"{target.label} (contradicted by {', '.join(against)}: not fitted)"
            target = replace(target, weight=0.0, label=label)
        out.append(target)
    return out


def between_sides_targets(claims: list[ControlClaim]) -> list[Target]:
    """On a day with both a government and an opposition claim, the share between the sides' figures.

    A government claim reads the attackers' share high and an opposition claim low, so read together
    they bracket it: from the lowest to the highest of the day's partisan figures (each claim's
    figure as stated: "up to 80 %" counts as 80 %; a phrase, the middle of its range), with no
    tolerance, since the sides' figures are its ends. Day 0: the activist's 60 % and the Hezbollah
    fighter's two-thirds. Each claim is also a target of its own; the bracket adds what only the two
    sides together say.
    """
    by_day: dict[int, list[ControlClaim]] = {}
    for claim in claims:
        if claim.lean != "neutral":
            by_day.setdefault(claim.day, []).append(claim)
    found = []
    for day, partisan in sorted(by_day.items()):
        if {c.lean for c in partisan} != {"government", "opposition"}:
            continue
        figures = [sum(c.gov_share) / 2 for c in partisan]
        found.append(
            Target(
                id=f"{BETWEEN_SIDES}-d{day:02d}",
                kind="control",
                label="share held by the attackers, between the government's and the opposition's claims of the day",
                day=day,
                lean="both sides",
                source="; ".join(sorted({c.source for c in partisan})),
                outcome=f"gov_share_d{day:02d}",
                low=round(min(figures), 4),
                high=round(max(figures), 4),
                weight=BOTH_SIDES_WEIGHT,
                ids=tuple(c.id for c in partisan),
            )
        )
    return found


def event_outcome(event: Event, model_places: dict[str, str]) -> str | None:
    """The run outcome an event's date bounds, or None when the model has no counterpart."""
    if event.role != "outcome":
        return None
    if event.kind in OUTCOME_EVENT_DAYS and event.place == TOWN:
        return OUTCOME_EVENT_DAYS[event.kind]
    if event.kind == "capture" and event.place in model_places:
        return captured_column(model_places[event.place])
    return None


def event_target(event: Event, outcome: str) -> Target:
    """An event as a window on the day it happens in the model."""
    start, end = TIME_OF_DAY[event.time_of_day]
    slack = INFERRED_SLACK_DAYS if event.date_basis == "inferred" else EVENT_SLACK_DAYS
    return Target(
        id=event.id,
        kind="event",
        label=f"{event.kind} of {event.place}",
        day=event.day,
        lean=event.lean,
        source=event.source,
        outcome=outcome,
        low=max(event.day + start - slack, 0.0),
        high=event.day + end + slack,
        weight=LEAN_WEIGHT[event.lean],
        stated=(event.day + start, event.day + end),
        report_sd=slack,
    )


def part_rank(sectors: int, claim: SpatialClaim, landmark: bool = False) -> int:
    """How many of a part's sectors the attackers must hold for the part to count as theirs.

    More than half (assumption: a part changes hands with most of its sectors). "Some parts of"
    (``extent: some``) reads as one sector when the attackers hold them, and as all but one while
    the rebels still hold some; so does a landmark, a place in one of its sectors (which one, the
    scenario does not say): held by the attackers with the first of them, by the rebels while the
    last is. (A landmark taken on a day is read by ``nearest_taken_days`` instead.)
    """
    if claim.extent == "some" or landmark:
        return 1 if claim.holder == "gov" else sectors
    return sectors // 2 + 1


def spatial_targets(
    claim: SpatialClaim, parts: dict[str, tuple[int, ...]], landmarks: frozenset[str] = frozenset()
) -> list[Target]:
    """A spatial claim as windows on the day the attackers take each of its parts (the scenario maps).

    ``taken`` on day d: the part taken within the claim's time of day (with the events' slack);
    the attackers hold it at that time: taken by its end; the rebels hold it: not taken before its
    start. A claim weighs as one entry of its lean, shared among its parts.
    """
    mapped = [part for part in claim.parts if part in parts]
    start, end = TIME_OF_DAY[claim.time_of_day]
    slack = INFERRED_SLACK_DAYS if claim.date_basis == "inferred" else EVENT_SLACK_DAYS
    low, high = max(claim.day + start - slack, 0.0), claim.day + end + slack
    stated = (claim.day + start, claim.day + end)
    if claim.change == "holds":
        low, high = (0.0, high) if claim.holder == "gov" else (low, NEVER_DAY)
        stated = (0.0, stated[1]) if claim.holder == "gov" else (stated[0], NEVER_DAY)
    found = []
    for part in mapped:
        sectors = parts[part]
        found.append(
            Target(
                id=claim.id if len(claim.parts) == 1 else f"{claim.id}:{part}",
                kind="spatial",
                label=f"{describe(claim).replace(', '.join(claim.parts), part)}, {claim.quote!r}",
                day=claim.day,
                lean=claim.lean,
                source=claim.source,
                outcome=f"taken_day:{part}",
                low=round(low, 3),
                high=round(high, 3),
                weight=LEAN_WEIGHT[claim.lean] / len(mapped),
                ids=(claim.id,),
                sectors=sectors,
                rank=part_rank(len(sectors), claim, part in landmarks),
                nearest=part in landmarks and claim.change == "taken",
                stated=stated,
                report_sd=slack,
            )
        )
    return found


def casualty_targets(record: Record) -> list[Target]:
    """The battle's killed of each side, and each side's dead to date and on a day, as targets."""
    return battle_casualty_targets(record) + dated_casualty_targets(record)


def lone_figure_band(low: float, high: float) -> tuple[float, float]:
    """A lone figure ``v`` as ``[v / LONE_FIGURE_FACTOR, v * LONE_FIGURE_FACTOR]``; a range as it is."""
    return (low / LONE_FIGURE_FACTOR, high * LONE_FIGURE_FACTOR) if low == high else (low, high)


def battle_casualty_targets(record: Record) -> list[Target]:
    """For each side, the battle's killed from the lowest to the highest total any source gives.

    A side whose only battle figures count part of its dead (``part_of_total``: the infobox's army
    figure adds up two days) gets an open interval: at least the largest such part.
    """
    targets = []
    for side in SIDE_NAMES:
        reports = [r for r in record.casualties if r.side == side and r.scope == "battle" and r.killed is not None]
        totals = [r for r in reports if not r.part_of_total]
        if totals:
            numbers = [x for r in totals for x in r.killed.interval if x is not None and math.isfinite(x)]
            stated = (min(numbers), max(numbers))
            low, high = lone_figure_band(*stated)
            label = f"{side} killed in the battle"
        elif reports:
            totals = reports
            low, high = stated = max(r.killed.interval[0] for r in reports), math.inf
            label = f"{side} killed in the battle (at least: the record counts part of them)"
        else:
            continue
        leans = sorted({r.lean for r in totals})
        targets.append(
            Target(
                id=f"killed-{side}",
                kind="casualties",
                label=label,
                day=max(r.day for r in totals),
                lean=leans[0] if len(leans) == 1 else "both sides",
                source="; ".join(sorted({r.source for r in totals})),
                outcome=f"killed_{side}",
                low=round(low, 1),
                high=round(high, 1),
                weight=1.0,
                log_scale=True,
                ids=tuple(r.id for r in totals),
                stated=(float(stated[0]), float(stated[1])),
                report_sd=math.log(LONE_FIGURE_FACTOR),
            )
        )
    return targets


def dated_casualty_targets(record: Record) -> list[Target]:
    """Each report of a side's dead to date (fitted) or on one day (scored, not fitted)."""
    targets = []
    for report in record.casualties:
        if report.side not in SIDE_NAMES or report.scope not in DATED_SCOPES or report.killed is None:
            continue
        if report.part_of_total:  # bounds nothing by itself: listed as left out
            continue
        low, high = lone_figure_band(*report.killed.interval)
        by_end = f"killed_{report.side}_d{report.day:02d}"
        if report.scope == "to_date":
            label, minus, weight = f"{report.side} killed by the end of the day", "", LEAN_WEIGHT[report.lean]
        else:
            label = f"{report.side} killed on the day (a day's toll as reported: scored, not fitted)"
            minus = f"killed_{report.side}_d{report.day - 1:02d}" if report.day > 0 else ""
            weight = 0.0
        targets.append(
            Target(
                id=report.id,
                kind="casualties",
                label=f"{label}, {report.quote!r}",
                day=report.day,
                lean=report.lean,
                source=report.source,
                outcome=by_end,
                low=round(max(low, 1.0), 1),
                high=round(high, 1),
                weight=weight,
                log_scale=True,
                ids=(report.id,),
                minus=minus,
                stated=(max(float(report.killed.interval[0]), 1.0), float(report.killed.interval[1])),
                report_sd=math.log(LONE_FIGURE_FACTOR),
            )
        )
    return targets


def model_place_names(scenario: Scenario) -> dict[str, str]:
    """Record place name -> model place name, for the places outside the town."""
    return {p.record_place: p.name for p in scenario.places if p.record_place and p.name != TOWN_PLACE}


def targets(record: Record, scenario: Scenario, until_day: int | None = None) -> list[Target]:
    """Every target the record sets, optionally only those dated on or before ``until_day``."""
    places = model_place_names(scenario)
    restating = restating_claims(record, places)
    found = contradicted_unweighted([control_target(c) for c in record.control_claims if c.id not in restating])
    fitted_claims = {t.id for t in found if t.fitted}
    found += between_sides_targets([c for c in record.control_claims if c.id in fitted_claims])
    for event in record.events:
        outcome = event_outcome(event, places)
        if outcome is not None:
            found.append(event_target(event, outcome))
    parts = scenario.town.part_sectors
    for claim in record.spatial_claims:
        found += spatial_targets(claim, parts, scenario.town.landmarks)
    found += casualty_targets(record)
    if until_day is not None:
        found = [t for t in found if t.day <= until_day]
    return sorted(found, key=lambda t: (t.day, t.kind, t.id))


def restating_claims(record: Record, places: dict[str, str]) -> set[str]:
    """Ids of the claims that restate an event the model dates: the fact is compared once, as the event."""
    dated = {e.id for e in record.events if event_outcome(e, places) is not None}
    return {c.id for c in record.control_claims if c.restates in dated}


def left_out(record: Record, scenario: Scenario) -> list[tuple[str, int, str, str]]:
    """Entries of the record that are not targets, by day: (id, day, what, why).

    Outcome events the model has no counterpart for, claims compared as an event, and casualty
    reports that are no side's total, dead to date or day's toll.
    """
    places = model_place_names(scenario)
    restating = restating_claims(record, places)
    rows = [
        (c.id, c.day, f"share claim '{c.quote}'", f"restates the event `{c.restates}`: compared once, as that event")
        for c in record.control_claims
        if c.id in restating
    ]
    for event in record.events:
        if event.role == "outcome" and event_outcome(event, places) is None:
            if event.kind in OUTCOME_EVENT_DAYS:
                why = f"a {event.kind} of the {event.place}, not of the town: the model dates only the town's"
            elif event.kind == "capture":
                why = "a place inside the town: compared through the share claims"
            else:
                why = "the model does not date this kind of event"
            rows.append((event.id, event.day, f"{event.kind} of {event.place}", why))
    parts = scenario.town.part_sectors
    for claim in record.spatial_claims:
        unmapped = [part for part in claim.parts if part not in parts]
        if unmapped:
            why = f"the scenario places {', '.join(unmapped)} in no sector (town.parts)"
            rows.append((claim.id, claim.day, f"spatial claim: {describe(claim)}", why))
    targeted = {i for t in casualty_targets(record) for i in t.ids}
    for report in record.casualties:
        if report.id not in targeted:
            rows.append((report.id, report.day, describe(report), _left_out_why(report)))
    return sorted(rows, key=lambda row: row[1])


def _left_out_why(report: CasualtyReport) -> str:
    """Why a casualty report is not a target."""
    if report.killed is None:
        return "no killed figure: the model's wounded and captured are not compared"
    if report.side not in SIDE_NAMES:
        return "the side is not given" if report.side == "unspecified" else f"the model has no {report.side} side"
    if report.scope == "incident":
        return "an incident's dead: the model does not count its dead by incident"
    return f"a part of a total ({report.side}): compared through the total"


def control_claim(record: Record, claim_id: str) -> ControlClaim:
    """The record's control claim ``claim_id``."""
    for claim in record.control_claims:
        if claim.id == claim_id:
            return claim
    raise RecordError(f"record: control_claims: no claim {claim_id!r}")


def captures(record: Record, scenario: Scenario) -> list[tuple[str, Event]]:
    """The record's captures of the places outside the town the model has: (model place, event), by date."""
    places = model_place_names(scenario)
    return [
        (places[event.place], event)
        for event in record.events
        if event.role == "outcome" and event.kind == "capture" and event.place in places
    ]
