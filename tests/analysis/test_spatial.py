"""Where the town held and fell: each sector's day taken for good, the record's spatial claims as targets."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sim.analysis.targets import NEVER_DAY, left_out, part_taken_days, spatial_targets, targets
from sim.analysis.validate import capture_order_share, taken_days
from sim.record import SpatialClaim, load_record
from sim.run import run, scalar_outcomes, sector_column
from sim.scenario import ScenarioError, load_scenario

SHORT = ["time.end=2013-05-22T00:00:00"]


def _claim(**fields) -> SpatialClaim:
    base = {
        "id": "where-test",
        "date": dt.date(2013, 5, 24),
        "day": 5,
        "source": "SOHR",
        "lean": "neutral",
        "quote": "a quote",
        "holder": "gov",
        "parts": ["north"],
    }
    return SpatialClaim(**{**base, **fields})


def _runs(rows: list[list[float | None]]) -> pd.DataFrame:
    """A runs table of sector days: one row per run, one column per sector."""
    return pd.DataFrame([{sector_column(s): day for s, day in enumerate(row)} for row in rows])


def test_a_run_reports_the_day_each_sector_was_taken_for_good():
    scenario = load_scenario("al-qusayr-2013", SHORT)
    summary = run(scenario, 3).summary
    taken, owners = summary["sector_taken_day"], summary["sector_owner_by_day"]
    assert len(taken) == 16
    assert len(summary["sector_gov_share_by_day"][0]) == 16
    assert any(day is not None for day in taken)
    assert any(day is None for day in taken)
    for sector, day in enumerate(taken):
        at_day_ends = [o[sector] for o in owners]  # the end of day d is day d + 1
        if day is None:
            assert at_day_ends[-1] != "gov" or summary["days_simulated"] > len(owners)
        else:
            assert all(owner == "gov" for d, owner in enumerate(at_day_ends) if d + 1 >= day)
    shares = np.array(summary["sector_gov_share_by_day"])
    held = np.array([[o == "gov" for o in day] for day in owners])
    assert (shares[held] >= 0.75).all()  # a sector the attackers hold: at least sector_hold_share of its cells
    outcomes = scalar_outcomes(summary, [])
    assert [outcomes[sector_column(s)] for s in range(16)] == taken


def test_a_part_is_taken_when_more_than_half_its_sectors_are():
    runs = _runs([[1.0, 2.0, None, 5.0], [None, None, None, 0.5]])
    assert part_taken_days(runs, (0, 1, 2, 3), 3) == pytest.approx([5.0, np.nan], nan_ok=True)
    assert part_taken_days(runs, (0, 1, 2, 3), 1) == pytest.approx([1.0, 0.5])
    assert part_taken_days(runs, (3,), 1) == pytest.approx([5.0, 0.5])


def test_spatial_claims_become_windows_on_the_day_a_part_is_taken():
    parts = {"north": tuple(range(8)), "centre": (5, 6, 9, 10), "west": (0, 1, 4, 5, 8, 9, 12, 13)}
    (taken,) = spatial_targets(_claim(change="taken", parts=["centre"]), parts)
    assert (taken.low, taken.high, taken.rank, taken.kind) == (4.5, 6.5, 3, "spatial")
    (gov,) = spatial_targets(_claim(time_of_day="morning"), parts)  # the attackers hold the north by the morning
    assert (gov.low, gov.high, gov.rank) == (0.0, 6.0, 5)
    (rebels,) = spatial_targets(_claim(holder="rebels", lean="opposition"), parts)  # not taken before the day
    assert (rebels.low, rebels.high, rebels.weight) == (4.5, NEVER_DAY, 0.5)
    (some,) = spatial_targets(_claim(parts=["west"], extent="some"), parts)
    assert some.rank == 1
    (rebels_some,) = spatial_targets(_claim(holder="rebels", parts=["west"], extent="some"), parts)
    assert rebels_some.rank == 8
    both = spatial_targets(_claim(holder="rebels", parts=["north", "west", "outskirts"]), parts)
    assert [t.id for t in both] == ["where-test:north", "where-test:west"]  # the outskirts map to no sector
    assert sum(t.weight for t in both) == pytest.approx(1.0)  # one claim weighs as one entry of its lean
    runs = _runs([[1.0] * 4 + [None] * 12, [0.2] * 16])  # run 0: the attackers never hold 5 northern sectors
    assert gov.values(runs) == pytest.approx([np.nan, 0.2], nan_ok=True)
    assert gov.distance(gov.values(runs)) == pytest.approx([NEVER_DAY - 6.0, 0.0])
    assert rebels.distance(rebels.values(runs)) == pytest.approx([0.0, 4.3])


def test_a_landmark_is_taken_in_one_of_its_sectors_and_held_while_one_is():
    parts, landmarks = {"square": (0, 1, 2)}, frozenset({"square"})
    (taken,) = spatial_targets(_claim(change="taken", parts=["square"]), parts, landmarks)
    (gov,) = spatial_targets(_claim(parts=["square"]), parts, landmarks)
    (rebels,) = spatial_targets(_claim(holder="rebels", parts=["square"]), parts, landmarks)
    (area,) = spatial_targets(_claim(change="taken", parts=["square"]), parts)  # the same sectors as an area
    assert (gov.rank, rebels.rank, area.rank) == (1, 3, 2)
    assert taken.nearest
    assert not area.nearest
    # the window of day 5 is [4.5, 6.5]: run 0 takes a sector on day 5 (the others far off), run 1 none near
    runs = _runs([[1.0, 5.0, None], [2.0, 3.0, 9.0], [None, None, None]])
    assert taken.values(runs) == pytest.approx([5.0, 3.0, NEVER_DAY])
    assert taken.distance(taken.values(runs)) == pytest.approx([0.0, 1.5, NEVER_DAY - 6.5])
    assert area.values(runs) == pytest.approx([5.0, 3.0, np.nan], nan_ok=True)  # the second of three
    assert gov.values(runs) == pytest.approx([1.0, 2.0, np.nan], nan_ok=True)  # held with the first
    assert rebels.values(runs) == pytest.approx([np.nan, 9.0, np.nan], nan_ok=True)  # held while the last is not


def test_the_records_spatial_claims_are_targets_or_listed_as_left_out():
    record, scenario = load_record(), load_scenario("al-qusayr-2013")
    found = [t for t in targets(record, scenario) if t.kind == "spatial"]
    assert len({i for t in found for i in t.ids}) >= 10
    mapped = scenario.town.part_sectors
    left = {row[0] for row in left_out(record, scenario)}
    for claim in record.spatial_claims:
        assert claim.id in {i for t in found for i in t.ids} or claim.id in left
        assert (claim.id in left) == any(part not in mapped for part in claim.parts)


def test_the_scenario_places_parts_in_sectors_that_exist(tmp_path):
    scenario = load_scenario("al-qusayr-2013")
    assert scenario.town.part_sectors["water station"] == (scenario.town.sector_of(scenario.town.water_station),)
    with pytest.raises(ScenarioError, match="parts: 'north': sectors must be distinct numbers 0-15"):
        load_scenario("al-qusayr-2013", ["town.parts.0.sectors=[0, 16]"])
    with pytest.raises(ScenarioError, match="a part is named twice"):
        load_scenario("al-qusayr-2013", ["town.parts.1.name=north"])


def test_the_order_of_the_captures_counts_the_runs_that_keep_it():
    record, scenario = load_record(), load_scenario("al-qusayr-2013")
    runs = pd.DataFrame(
        {
            "captured_day_hamidiya": [8.0, 8.0, 8.0],
            "captured_day_al_dabaa_air_base": [10.0, 12.0, 10.0],
            "captured_day_arjoun": [11.0, 11.0, 11.0],
            "captured_day_jawadiyeh": [12.5, 13.0, None],
        }
    )
    share, order = capture_order_share(runs, record, scenario)
    assert order == ["Hamidiya", "al-Dabaa air base", "Arjoun", "Jawadiyeh"]
    assert share == pytest.approx(2 / 3)  # run 1 takes the air base after Arjoun; run 2 never takes the last


def test_the_median_day_each_sector_was_taken_is_a_map_north_up():
    runs = _runs([[0.0] * 15 + [None], [2.0] * 15 + [None], [4.0] * 15 + [1.0]])
    median, never = taken_days(runs, 4)
    assert median.shape == (4, 4)
    assert median[0, 0] == 2.0
    assert median[3, 3] == NEVER_DAY
    assert never[3, 3] == pytest.approx(2 / 3)
