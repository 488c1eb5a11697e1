"""Validation: an ensemble of a scenario held against the record.

``validate`` runs an ensemble of a scenario (``sim.sweeps.ensemble``), fits it to the record's
targets (``sim.analysis.fit``) and measures the checks the calibrated baseline must meet
(``history_checks``: issue 5's requirements, each resting on entries of the record, whose dates and
figures are read from the record). ``sim.analysis.reports.validation`` renders the result.

Methods: docs/methods.md, section 5 (validation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.fit import Fit, fit
from sim.analysis.forecast import scored_reports
from sim.analysis.observation import observations
from sim.analysis.targets import (
    BETWEEN_SIDES,
    NEVER_DAY,
    Target,
    battle_casualty_targets,
    captures,
    control_claim,
    event_days,
    outcome_values,
    targets,
)
from sim.battle_dates import battle_date
from sim.loading import LoadError
from sim.record import FRACTION_WORDS, ControlClaim, Record, format_figure, town_event
from sim.run import captured_column, sector_column
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.sweeps.ensemble import run_ensemble
from sim.sweeps.experiment import ObservationSettings, override_text

ENSEMBLE_DIR = "runs"
# what the calibrated baseline must show (issue 5), each resting on entries of the record
FALL_WITHIN_DAYS = 0.5  # assumption (issue 5): the median fall within half a day of the record's (record:fall)
DAY0_SHARE_RANGE = (0.45, 0.70)  # assumption (issue 5): around claim-d00-ap-more-than-half, claim-d00-activist-60pct
DAY10_SECTORS_CLAIM = "claim-d10-grid-13-of-16"  # the record's count of the sectors the attackers held
DAY10_SECTORS_RANGE = (11, 14)  # assumption (issue 5): the range around that count (13 of 16) it accepts
LATER_SHARE_CLAIM = "claim-d12-reuters-two-thirds"  # the neutral share after it, set against the runs meeting it
ENCIRCLEMENT_WITHIN_DAYS = 2.0  # assumption (issue 5): the median within two days of record:totally-surrounded
CAPTURE_WITHIN_DAYS = 2.0  # assumption (issue 5): each place taken within two days of its recorded date
HEZBOLLAH_KILLED_RANGE = (60, 170)  # assumption (issue 5): the range around the record's total it accepts
CIVILIANS_ORDER_FACTOR = 2.0  # assumption: civilians killed "of the recorded order" means within a factor of two
FIRST_DAY_DEAD_REPORT = "soldiers-killed-first-day"  # the record's army dead of day 0
FIRST_DAY_DEAD_FACTOR = 3.0  # assumption (issue 21): the median army dead of day 0 within a factor of three of it
CAPTURE_ORDER_SHARE = 0.5  # assumption (issue 21): the recorded order of the captures in most runs
SPATIAL_CONSISTENT_SHARE = 0.5  # assumption (issue 21): most of the fitted spatial claims consistent

# The patterns (Grimm et al. 2005) the checks belong to: ``sim.analysis.patterns`` scores competing
# sub-models on all of them at once.
SHARE = "daily share"
SECTOR_ORDER = "per-sector order"
CAPTURE_ORDER = "order of the captures"
FIRST_DAY = "first day's toll"
FALL = "fall day"
CASUALTIES = "casualties by side"
CAMPAIGN = "encirclement and captures"
PATTERNS = (SHARE, SECTOR_ORDER, CAPTURE_ORDER, FIRST_DAY, FALL, CASUALTIES, CAMPAIGN)


@dataclass
class Check:
    """One target of the calibrated baseline: what is required, what the ensemble shows."""

    name: str
    required: str
    measured: str
    passed: bool
    cites: str
    pattern: str  # one of ``PATTERNS``


@dataclass
class ValidationResult:
    """An ensemble of a scenario and how it compares with the record."""

    scenario: Scenario
    overrides: list[str]
    master_seed: int
    runs: pd.DataFrame  # one row of outcomes per run, by replicate
    summaries: list[dict[str, Any]]  # each run's summary, in the same order
    targets: list[Target]
    fit: Fit
    checks: list[Check]
    posterior: pd.DataFrame | None = None  # with --posterior: each run's input set, biases included
    reports: pd.DataFrame | None = None  # ... and per observation, the runs as its source would report them


class PosteriorError(LoadError):
    """A posterior sample that cannot be read; the message names the file."""


def posterior_sets(path: Path, runs: int) -> pd.DataFrame:
    """Up to ``runs`` distinct input sets of a posterior sample (``posterior.parquet``), spaced evenly."""
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise PosteriorError(f"{path}: not a posterior sample (a Parquet table of input sets): {exc}") from None
    numeric = table.select_dtypes("number")
    if table.empty or numeric.shape[1] != table.shape[1] or not np.isfinite(numeric.to_numpy()).all():
        raise PosteriorError(f"{path}: a posterior sample needs rows of finite numbers, one column per input")
    distinct = table.drop_duplicates().reset_index(drop=True)  # a walker that stays put repeats a set
    return distinct.iloc[np.unique(np.linspace(0, len(distinct) - 1, runs).astype(int))].reset_index(drop=True)


def _median(values) -> float:
    """The median of the values present (missing ones left out; event days: ``event_days`` first)."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    x = x[~np.isnan(x)]
    return float(np.median(x)) if len(x) else float("nan")


def fmt(x: float | None, digits: int = 2) -> str:
    """A number for a table or a check's text: '-' when missing, '∞' when infinite."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return "∞" if math.isinf(x) else f"{x:.{digits}f}"


def sectors_claimed(record: Record, scenario: Scenario) -> tuple[ControlClaim, int, int]:
    """The record's count of sectors held (``DAY10_SECTORS_CLAIM``): the claim, the sectors held, of how many."""
    claim = control_claim(record, DAY10_SECTORS_CLAIM)
    sectors = scenario.town.sectors_per_side**2
    return claim, round(claim.share.value * sectors), sectors


def share_words(claim: ControlClaim) -> str:
    """A claim's figure as its source puts it: the fraction word of its quote ("two-thirds"), or the figure."""
    words = [word for word in FRACTION_WORDS if word in claim.quote.lower()]
    return words[0] if claim.share.rule == "fraction_word" and words else format_figure(claim.share)


def _between_sides(fitted: Fit) -> tuple[bool, str]:
    """On days with both a government and an opposition claim, whether the median lies between them."""
    parts, ok = [], True
    for row in fitted.per_target:
        if row.target.id.startswith(BETWEEN_SIDES):
            median, low, high = row.quantiles["q50"], row.target.low, row.target.high
            inside = low <= median <= high
            ok &= inside
            parts.append(f"day {row.target.day}: {median:.2f} in [{low:.2f}, {high:.2f}] {'yes' if inside else 'no'}")
    return ok, "; ".join(parts) or "no day has claims of both sides"


def _in_range(
    name: str, quantity: str, value: float, bounds: tuple, measured: str, cites: str, pattern: str, note: str = ""
) -> Check:
    """A check that ``value`` (the ensemble's median ``quantity``) lies within ``bounds``."""
    low, high = bounds
    return Check(
        name, f"median {quantity} in [{low:g}, {high:g}]{note}", measured, low <= value <= high, cites, pattern
    )


def killed_ranges(record: Record) -> dict[str, tuple[float, float, str]]:
    """Side -> (low, high, cites): where the ensemble's median killed must lie, from the record's battle totals.

    The rebels: from the lowest to the highest total any source gives (the battle target's interval);
    Hezbollah: issue 5's range around its recorded total; the civilians: within
    ``CIVILIANS_ORDER_FACTOR`` of their recorded total.
    """
    totals = {t.outcome.removeprefix("killed_"): t for t in battle_casualty_targets(record)}
    figures = {r.id: r.killed.value for r in record.casualties if r.killed is not None}
    rebels, hezbollah, civilians = totals["rebels"], totals["hezbollah"], totals["civilians"]
    hezbollah_total = figures[hezbollah.ids[0]]
    civilians_total = figures[civilians.ids[0]]
    factor = CIVILIANS_ORDER_FACTOR
    return {
        "rebels": (rebels.low, rebels.high, "record:" + ", ".join(rebels.ids)),
        "hezbollah": (*HEZBOLLAH_KILLED_RANGE, f"record:{hezbollah.ids[0]} ({hezbollah_total:g})"),
        "civilians": (
            civilians_total / factor,
            civilians_total * factor,
            f"record:{civilians.ids[0]} ({civilians_total:g}; 'of the order': within x{factor:g}, assumption)",
        ),
    }


def history_checks(runs: pd.DataFrame, fitted: Fit, record: Record, scenario: Scenario) -> list[Check]:
    """The issue's targets for the calibrated baseline, measured on an ensemble."""
    fall = outcome_values(runs, "fall_day")
    median_fall = _median(event_days(fall))
    share0 = _median(outcome_values(runs, "gov_share_d00"))
    claim, held, sectors = sectors_claimed(record, scenario)
    sectors10 = _median(outcome_values(runs, f"gov_sectors_d{claim.day:02d}"))
    share10 = _median(outcome_values(runs, f"gov_share_d{claim.day:02d}"))
    fall_day = town_event(record, "fall").day
    checks = [
        _in_range(
            "the town falls",
            "fall day",
            median_fall,
            (fall_day - FALL_WITHIN_DAYS, fall_day + FALL_WITHIN_DAYS),
            f"median {median_fall:.2f} (a run that did not fall counts as day {NEVER_DAY:g}); fell in "
            f"{(~np.isnan(fall)).mean():.0%} of runs, on day {fmt(_median(fall))} in the median of those",
            "record:withdrawal, record:fall",
            FALL,
        ),
        _in_range(
            "end of day 0",
            "share held by the attackers",
            share0,
            DAY0_SHARE_RANGE,
            f"median {share0:.2f}",
            "record:claim-d00-ap-more-than-half, claim-d00-activist-60pct",
            SHARE,
        ),
        _in_range(
            f"end of day {claim.day} ({battle_date(claim.day)})",
            "sectors held",
            sectors10,
            DAY10_SECTORS_RANGE,
            f"median {sectors10:g} (of the town: {share10:.2f})"
            + _day10_runs_apart(runs, fall, claim.day, control_claim(record, LATER_SHARE_CLAIM)),
            f"record:{claim.id}",
            SHARE,
            note=f" (record {held} of {sectors})",
        ),
    ]
    neutral = [t for t in fitted.per_target if t.target.kind == "control" and t.target.lean == "neutral"]
    missed = [t.target.id for t in neutral if not t.consistent]
    checks.append(
        Check(
            "neutral claims",
            "every neutral claim consistent with the 90 % band",
            f"{len(neutral) - len(missed)} of {len(neutral)}" + (f" (missed: {', '.join(missed)})" if missed else ""),
            not missed,
            "record: the neutral control claims",
            SHARE,
        )
    )
    ok, text = _between_sides(fitted)
    checks.append(
        Check("between the sides", "median between government and opposition claims", text, ok, "record: claims", SHARE)
    )
    encircled = _median(event_days(outcome_values(runs, "encirclement_day")))
    surrounded = town_event(record, "encirclement")
    checks.append(
        _in_range(
            "encirclement",
            "encirclement day",
            encircled,
            (surrounded.day - ENCIRCLEMENT_WITHIN_DAYS, surrounded.day + ENCIRCLEMENT_WITHIN_DAYS),
            f"median {encircled:.2f}",
            f"record:{surrounded.id}",
            CAMPAIGN,
        )
    )
    for place, event in captures(record, scenario):
        median = _median(event_days(outcome_values(runs, captured_column(place))))
        checks.append(
            Check(
                f"{place} taken",
                f"median within {CAPTURE_WITHIN_DAYS:g} days of day {event.day} (midday {event.day + 0.5})",
                f"median {median:.2f}",
                abs(median - (event.day + 0.5)) <= CAPTURE_WITHIN_DAYS,
                f"record:{event.id}",
                CAMPAIGN,
            )
        )
    checks += spatial_checks(runs, fitted, record, scenario)
    for side, (low, high, cites) in killed_ranges(record).items():
        median = _median(outcome_values(runs, f"killed_{side}"))
        checks.append(
            _in_range(f"{side} killed", "killed", median, (low, high), f"median {median:g}", cites, CASUALTIES)
        )
    first_day = next(r for r in record.casualties if r.id == FIRST_DAY_DEAD_REPORT)
    dead0 = _median(outcome_values(runs, f"killed_{first_day.side}_d{first_day.day:02d}"))
    reported = first_day.killed.value
    checks.append(
        _in_range(
            f"{first_day.side} killed on day {first_day.day}",
            "killed by the end of the day",
            dead0,
            (reported / FIRST_DAY_DEAD_FACTOR, reported * FIRST_DAY_DEAD_FACTOR),
            f"median {dead0:g}",
            f"record:{first_day.id} ({reported:g}; within x{FIRST_DAY_DEAD_FACTOR:g}, assumption)",
            FIRST_DAY,
        )
    )
    return checks


def capture_order_share(runs: pd.DataFrame, record: Record, scenario: Scenario) -> tuple[float, list[str]]:
    """The share of runs in which the places outside the town are taken in the record's order, and that order.

    A place never taken counts as taken after every day, so a run that misses the last capture can
    still keep the order of the others but not of the place it never took (two never taken: a tie, out of order).
    """
    taken = captures(record, scenario)
    days = np.column_stack([event_days(outcome_values(runs, captured_column(place))) for place, _ in taken])
    in_order = (np.diff(days, axis=1) > 0).all(axis=1)
    return float(in_order.mean()) if len(runs) else float("nan"), [place for place, _ in taken]


def spatial_checks(runs: pd.DataFrame, fitted: Fit, record: Record, scenario: Scenario) -> list[Check]:
    """Where the town held and fell: the neutral spatial claims, most spatial claims, the order of the captures."""
    spatial = [t for t in fitted.per_target if t.target.kind == "spatial" and t.target.fitted]
    neutral = [t for t in spatial if t.target.lean == "neutral"]
    missed = [t.target.id for t in neutral if not t.consistent]
    met = sum(t.consistent for t in spatial)
    share, order = capture_order_share(runs, record, scenario)
    return [
        Check(
            "neutral spatial claims",
            "every neutral spatial claim consistent with the 90 % band",
            f"{len(neutral) - len(missed)} of {len(neutral)}" + (f" (missed: {', '.join(missed)})" if missed else ""),
            not missed,
            "record: the neutral spatial claims; scenario: town.parts",
            SECTOR_ORDER,
        ),
        Check(
            "spatial claims",
            f"more than {SPATIAL_CONSISTENT_SHARE:.0%} of the fitted spatial claims consistent with the 90 % band",
            f"{met} of {len(spatial)}",
            met > SPATIAL_CONSISTENT_SHARE * len(spatial),
            "record: the spatial claims of every lean; scenario: town.parts",
            SECTOR_ORDER,
        ),
        Check(
            "order of the captures",
            f"the record's order ({' < '.join(order)}) in more than {CAPTURE_ORDER_SHARE:.0%} of runs",
            f"{share:.0%} of runs",
            share > CAPTURE_ORDER_SHARE,
            "record: " + ", ".join(event.id for _, event in captures(record, scenario)),
            CAPTURE_ORDER,
        ),
    ]


def _day10_runs_apart(runs: pd.DataFrame, fall: np.ndarray, day: int, later: ControlClaim) -> str:
    """When the median misses the sectors' count of ``day``: the runs reaching it against the others, later.

    Shows what meeting the count costs elsewhere (the share on the day of the ``later`` claim, the fall
    day); empty when the median meets it, when every run or none reaches it, or the runs end before.
    """
    sectors = outcome_values(runs, f"gov_sectors_d{day:02d}")
    later_share = outcome_values(runs, f"gov_share_d{later.day:02d}")
    counted = ~np.isnan(sectors) & ~np.isnan(later_share)
    reaching = counted & (sectors >= DAY10_SECTORS_RANGE[0])
    others = counted & ~reaching
    if _median(sectors) >= DAY10_SECTORS_RANGE[0] or not reaching.any() or not others.any():
        return ""

    def runs_text(part) -> str:
        count = int(part.sum())
        return f"{count} run{'s' if count > 1 else ''}"

    def later_and_fall(part) -> str:
        fell = ~np.isnan(fall[part])
        when = f", on day {_median(fall[part]):.1f} in the median of those" if fell.any() else ""
        return (
            f"{_median(later_share[part]):.2f} of the town on day {later.day}, and the town falls in {fell.mean():.0%} "
            f"of them{when}"
        )

    return (
        f"; the {runs_text(reaching)} holding {DAY10_SECTORS_RANGE[0]:g} or more hold {later_and_fall(reaching)}, "
        f"the other {runs_text(others)} {later_and_fall(others)} (medians; {later.source}: {share_words(later)} on "
        f"day {later.day})"
    )


def taken_days(runs, sectors_per_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sector (rows x cols, row 0 the north): the median day it was taken for good, and how often never.

    The median counts a sector never taken as ``NEVER_DAY``; the second array is the share of runs
    in which the attackers never took it for good.
    """
    n = sectors_per_side
    days = np.column_stack([outcome_values(runs, sector_column(s)) for s in range(n * n)])
    never = np.isnan(days).mean(axis=0)
    median = np.median(event_days(days.ravel()).reshape(days.shape), axis=0)
    return median.reshape(n, n), never.reshape(n, n)


def validate(
    scenario_name: str,
    overrides: list[str],
    runs: int,
    out: Path,
    *,
    record: Record,
    master_seed: int = 1,
    posterior: Path | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    quiet: bool = False,
) -> ValidationResult:
    """Run (or resume) the ensemble into ``out/runs``, fit it to the record and measure the checks.

    ``posterior``: a posterior sample; each run then draws its own input set from it (``runs`` sets,
    evenly spaced), so that the uncertainty of the inputs reaches the outcomes. Its columns that
    are not scenario paths (the observation model's biases) do not go to the runs.
    """
    scenario = load_scenario(scenario_name, overrides)
    sets = points = None
    if posterior is not None:
        sets = posterior_sets(posterior, runs)
        model = [c for c in sets.columns if c not in ObservationSettings().bias_priors]
        points = [{c: float(row[c]) for c in model} for _, row in sets.iterrows()]
        try:  # a column that is no scenario path is refused here, before any run
            load_scenario(scenario_name, [*overrides, *(override_text(k, v) for k, v in points[0].items())])
        except ScenarioError as exc:
            raise PosteriorError(f"{posterior}: {exc}") from None
    table, summaries = run_ensemble(
        scenario_name,
        overrides,
        runs,
        out / ENSEMBLE_DIR,
        master_seed=master_seed,
        points=points,
        workers=workers,
        cluster=cluster,
        quiet=quiet,
    )
    found = targets(record, scenario)
    fitted = fit(table, found)
    checks = history_checks(table, fitted, record, scenario)
    said = None
    if sets is not None:
        observed = observations(found, ObservationSettings())
        said = scored_reports(observed, table, found, sets.iloc[table["point"].to_numpy()], master_seed)
    return ValidationResult(scenario, list(overrides), master_seed, table, summaries, found, fitted, checks, sets, said)
