"""The record as targets: intervals by lean, event windows, casualty ranges, distances, facts read from the record."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.analysis import fit as fit_module
from sim.analysis import targets as targets_module
from sim.analysis.fit import fit
from sim.analysis.targets import (
    LEAN_WEIGHT,
    NEVER_DAY,
    Target,
    captures,
    control_claim,
    event_days,
    left_out,
    outcome_values,
    targets,
)
from sim.battle_dates import battle_date
from sim.record import RecordError, load_record, town_event
from sim.scenario import load_scenario


@pytest.fixture(scope="module")
def found():
    return {t.id: t for t in targets(load_record(), load_scenario("al-qusayr-2013"))}


def test_a_point_claim_is_widened_then_stretched_by_its_lean(found):
    official = found["claim-d04-official-80pct"]  # government, "up to 80 percent": an upper bound
    assert (official.low, official.high) == pytest.approx((0.8 - 0.2 - 0.2, 0.8))
    rebels = found["claim-d04-rebel-sources-40pct"]  # opposition: stretched up
    assert (rebels.low, rebels.high) == pytest.approx((0.3, 0.7))
    reuters = found["claim-d12-reuters-two-thirds"]  # neutral: +/- the tolerance only
    assert (reuters.low, reuters.high) == pytest.approx((0.5667, 0.7667), abs=1e-3)
    assert reuters.weight == 1.0
    assert rebels.weight == official.weight == 0.5


def test_a_claim_of_what_the_rebels_hold_is_turned_into_the_attackers_share(found):
    doctor = found["claim-d12-doctor-rebels-80pct"]  # rebels hold 80 %: the attackers 20 % +/- 10, +20 up
    assert doctor.outcome == "gov_share_d12"
    assert (doctor.low, doctor.high) == pytest.approx((0.1, 0.5))


def test_events_become_day_windows_on_the_models_outcomes(found):
    fall = found["fall"]
    assert fall.outcome == "fall_day"
    # stated: day 17 in the morning (0.25-0.5 of the day), with half a day of slack each side
    assert (fall.low, fall.high) == pytest.approx((16.75, 18.0))
    # inferred from the order of paragraphs (29 May): the whole day, with a day of slack each side
    assert (found["airbase-captured"].low, found["airbase-captured"].high) == pytest.approx((9.0, 12.0))
    assert found["airbase-captured"].outcome == "captured_day_al_dabaa_air_base"
    assert found["arjoun-captured"].outcome == "captured_day_arjoun"
    assert found["totally-surrounded"].outcome == "encirclement_day"
    assert "rebels-confined-triangle" not in found
    skipped = {row[0] for row in left_out(load_record(), load_scenario("al-qusayr-2013"))}
    assert "rebels-confined-triangle" in skipped
    assert found["main-square-captured"].kind == "spatial"  # a capture inside the town: a spatial claim


def test_the_sides_claims_of_a_day_bracket_the_share(found):
    day0 = found["between-sides-d00"]  # the activist's 60 % and the Hezbollah fighter's two-thirds
    assert (day0.low, day0.high) == pytest.approx((0.60, 0.6667), abs=1e-4)
    assert set(day0.ids) == {"claim-d00-activist-60pct", "claim-d00-hezbollah-two-thirds"}
    assert day0.outcome == "gov_share_d00"
    assert day0.fitted
    day4 = found["between-sides-d04"]  # rebel sources' 40 % and 60 %, the official's 80 %
    assert (day4.low, day4.high) == pytest.approx((0.40, 0.80))
    # the other days have one side only (day 12's doctor is contradicted by Reuters: not fitted, no bracket)
    assert sorted(i for i in found if i.startswith("between-sides")) == ["between-sides-d00", "between-sides-d04"]
    assert day0.distance(np.array([0.45, 0.62])) == pytest.approx([1.5, 0.0])  # 15 points below: 1.5 units


def test_a_claim_restating_an_event_is_compared_once_as_the_event(found):
    # the article's summary says "regained control" of the fall's day: the fall event is the target
    assert "claim-d17-regained-control" not in found
    assert "fall" in found
    skipped = {row[0]: row[3] for row in left_out(load_record(), load_scenario("al-qusayr-2013"))}
    assert "`fall`" in skipped["claim-d17-regained-control"]


def test_a_claim_restating_an_event_the_model_does_not_date_is_compared_as_a_claim():
    record, scenario = load_record(), load_scenario("al-qusayr-2013")
    claim = "claim-d00-ap-more-than-half"  # said to restate an outcome the model does not date (copied unchecked)
    restated = {"restates": "rebels-confined-triangle"}
    claims = [c.model_copy(update=restated) if c.id == claim else c for c in record.control_claims]
    restating = record.model_copy(update={"control_claims": claims})
    assert claim in {t.id for t in targets(restating, scenario)}
    assert claim not in {row[0] for row in left_out(restating, scenario)}


def test_casualty_ranges_run_from_one_sides_figure_to_the_others(found):
    rebels = found["killed-rebels"]
    assert (rebels.low, rebels.high) == (431, 1257)  # opposition 431-500+, government 1,257
    hezbollah = found["killed-hezbollah"]  # one figure, 114: within a factor of 1.5
    assert (hezbollah.low, hezbollah.high) == pytest.approx((76.0, 171.0))
    assert set(rebels.ids) == {"rebels-killed-opposition", "rebels-killed-government"}  # foreigners: a part


def test_a_side_whose_record_counts_only_part_of_its_dead_gets_a_lower_bound(found):
    army = found["killed-army"]  # the infobox's 23 adds up the first and the last day only
    assert (army.low, army.high) == (23, math.inf)
    assert army.distance(np.array([318.0, 23.0, 11.5])) == pytest.approx([0.0, 0.0, 1.0])


def test_a_sides_dead_to_date_is_fitted_and_a_days_toll_is_scored_on_that_day_only(found):
    hezbollah = found["hezbollah-killed-by-day-11"]  # 100 by 29 May, neutral: a lone figure, fitted
    assert (hezbollah.outcome, hezbollah.minus) == ("killed_hezbollah_d10", "")
    assert (hezbollah.low, hezbollah.high, hezbollah.weight) == pytest.approx((66.7, 150.0, 1.0))
    last_day = found["soldiers-last-day"]  # 11 soldiers on 5 June: the dead of day 17 alone
    assert (last_day.outcome, last_day.minus) == ("killed_army_d17", "killed_army_d16")
    assert not last_day.fitted
    runs = pd.DataFrame({"killed_army_d16": [400, 500], "killed_army_d17": [411, 560]})
    assert last_day.values(runs) == pytest.approx([11, 60])
    assert last_day.distance(last_day.values(runs)) == pytest.approx([0.0, math.log2(60 / 16.5)])
    first_day = found["soldiers-killed-first-day"]  # day 0: its dead are the total at its end
    assert (first_day.outcome, first_day.minus) == ("killed_army_d00", "")
    scored = fit(runs.assign(killed_army_d00=[12, 127], killed_hezbollah_d10=[90, 400]), [hezbollah, last_day])
    assert scored.per_target[1].quantiles["q50"] == pytest.approx(35.5)  # the day's dead, not the total
    assert scored.fitted == 1  # only the dead to date is fitted
    assert scored.loss == pytest.approx((0 + 2 * math.log2(400 / 150) - 1) / 2)  # Huber of the second run


def test_a_partisan_report_of_the_dead_to_date_weighs_as_its_lean():
    record = load_record()
    opposition = [
        r.model_copy(update={"lean": "opposition"}) if r.id == "hezbollah-killed-by-day-11" else r
        for r in record.casualties
    ]
    found = targets(record.model_copy(update={"casualties": opposition}), load_scenario("al-qusayr-2013"))
    assert {t.id: t.weight for t in found}["hezbollah-killed-by-day-11"] == LEAN_WEIGHT["opposition"]


def test_casualty_reports_left_out_say_why():
    reasons = {row[0]: row[3] for row in left_out(load_record(), load_scenario("al-qusayr-2013"))}
    assert "by incident" in reasons["kafr-nan-killed"]
    assert reasons["doctor-200-killed"] == "the side is not given"
    assert "compared through the total" in reasons["foreign-rebels-killed"]
    assert "hezbollah-killed-by-day-11" not in reasons


def test_distances_are_zero_inside_and_scaled_outside():
    share = Target("c", "control", "", 0, "neutral", "", "gov_share_d00", 0.5, 0.7, 1.0)
    assert share.distance(np.array([0.6, 0.3, 0.9])) == pytest.approx([0.0, 2.0, 2.0])
    event = Target("e", "event", "", 5, "neutral", "", "fall_day", 4.0, 7.0, 1.0)
    assert event.distance(np.array([np.nan, 8.5])) == pytest.approx([NEVER_DAY - 7.0, 1.5])
    killed = Target("k", "casualties", "", 17, "neutral", "", "killed_rebels", 100, 200, 1.0, log_scale=True)
    assert killed.distance(np.array([50.0, 800.0, 150.0])) == pytest.approx([1.0, 2.0, 0.0])


def test_train_until_keeps_only_the_early_record():
    early = targets(load_record(), load_scenario("al-qusayr-2013"), until_day=10)
    assert early
    assert max(t.day for t in early) <= 10
    casualties = {t.id for t in early if t.kind == "casualties"}  # the dated ones: battle totals are of day 17
    assert casualties == {"hezbollah-killed-by-day-11", "soldiers-killed-first-day", "counter-attack-killed-d05"}


def test_tolerances_are_declared_as_assumptions():
    source = Path(targets_module.__file__).read_text(encoding="utf-8") + Path(fit_module.__file__).read_text(
        encoding="utf-8"
    )
    for name in (
        "SHARE_TOLERANCE",
        "PARTISAN_STRETCH",
        "EVENT_SLACK_DAYS",
        "INFERRED_SLACK_DAYS",
        "LONE_FIGURE_FACTOR",
        "NEVER_DAY",
        "HUBER_KNEE",
    ):
        line = next(line for line in source.splitlines() if line.startswith(f"{name} ="))
        assert "# assumption" in line, name
    assert math.isfinite(NEVER_DAY)


def test_missing_outcomes_are_nan_and_events_that_never_came_count_as_never():
    runs = pd.DataFrame({"fall_day": [16.5, None], "gov_share_d00": [0.6, 0.7]})
    assert event_days(outcome_values(runs, "fall_day")) == pytest.approx([16.5, NEVER_DAY])
    assert event_days([None, 3.0]) == pytest.approx([NEVER_DAY, 3.0])
    assert np.isnan(outcome_values(runs, "fall_day")[1])
    assert np.isnan(outcome_values(runs, "gov_share_d12")).all()  # past the runs' end: all missing


def test_days_of_the_battle_are_dated_from_the_records_day0():
    record = load_record()
    claim = control_claim(record, "claim-d10-grid-13-of-16")
    assert battle_date(claim.day, iso=True) == claim.date.isoformat() == "2013-05-29"
    assert battle_date(claim.day) == "29 May"
    assert battle_date(0) == f"{record.day0.day} {record.day0:%B}"
    with pytest.raises(RecordError, match="no claim 'no-such-claim'"):
        control_claim(record, "no-such-claim")


def test_the_towns_events_and_the_captures_are_read_from_the_record():
    record, scenario = load_record(), load_scenario("al-qusayr-2013")
    assert (town_event(record, "fall").id, town_event(record, "fall").day) == ("fall", 17)
    assert town_event(record, "encirclement").id == "totally-surrounded"  # not Dabaa's, nor the triangle's
    taken = [(place, event.id, event.day) for place, event in captures(record, scenario)]
    assert taken == [
        ("Hamidiya", "hamidiya-captured", 8),
        ("al-Dabaa air base", "airbase-captured", 10),
        ("Arjoun", "arjoun-captured", 11),
        ("Jawadiyeh", "jawadiyeh-captured", 12),
    ]
    no_fall = record.model_copy(update={"events": [e for e in record.events if e.kind != "fall"]})
    with pytest.raises(RecordError, match="no outcome event of kind 'fall'"):
        town_event(no_fall, "fall")
