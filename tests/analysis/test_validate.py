"""Validation: the checks of the calibrated baseline, and qusayr validate end to end on a two-day scenario."""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd
import pytest

from sim.analysis.fit import fit
from sim.analysis.reports.validation import fit_json
from sim.analysis.targets import control_claim, targets
from sim.analysis.validate import history_checks, killed_ranges, sectors_claimed, share_words
from sim.cli import main
from sim.record import load_record
from sim.scenario import load_scenario


def test_the_history_checks_pass_and_fail_on_the_issue_thresholds():
    record, scenario = load_record(), load_scenario("al-qusayr-2013")
    good = {
        "fall_day": 17.0,
        "gov_share_d00": 0.62,
        "gov_share_d04": 0.6,
        "gov_sectors_d10": 13,
        "encirclement_day": 11.0,
        "captured_day_al_dabaa_air_base": 10.5,
        "captured_day_hamidiya": 8.5,
        "captured_day_arjoun": 11.5,
        "captured_day_jawadiyeh": 12.5,
        "killed_rebels": 800,
        "killed_hezbollah": 114,
        "killed_civilians": 47,
    }
    runs = pd.DataFrame([good] * 5)
    checks = {c.name: c.passed for c in history_checks(runs, fit(runs, targets(record, scenario)), record, scenario)}
    assert checks["the town falls"]
    assert checks["end of day 0"]
    assert checks["end of day 10 (29 May)"]
    assert checks["encirclement"]
    assert checks["Jawadiyeh taken"]
    assert checks["civilians killed"]
    assert checks["between the sides"]  # day 0: 0.62 between 0.60 and 0.67; day 4: 0.6 in [0.4, 0.8]
    bad = pd.DataFrame([{**good, "fall_day": None, "gov_share_d00": 0.7, "captured_day_jawadiyeh": 15.5}] * 5)
    checks = {c.name: c.passed for c in history_checks(bad, fit(bad, targets(record, scenario)), record, scenario)}
    assert not checks["the town falls"]  # never falls: counts as day NEVER_DAY
    assert not checks["between the sides"]  # 0.7 is above every day-0 partisan claim
    assert not checks["Jawadiyeh taken"]  # three days late
    assert checks["end of day 0"]

    def day10(rows):
        runs = pd.DataFrame(rows)
        return next(
            c
            for c in history_checks(runs, fit(runs, targets(record, scenario)), record, scenario)
            if "day 10" in c.name
        )

    # the median short of 11 sectors: what the runs reaching 11 cost on day 12 and in the fall day
    short = {**good, "gov_sectors_d10": 10, "gov_share_d12": 0.7, "fall_day": 18.0}
    ahead = {**good, "gov_sectors_d10": 12, "gov_share_d12": 0.85, "fall_day": 15.5}
    missed = day10([short] * 2 + [{**short, "fall_day": None}] + [ahead] * 2)
    assert not missed.passed
    assert (
        "the 2 runs holding 11 or more hold 0.85 of the town on day 12, and the town falls in 100% of them, on day 15.5"
        in missed.measured
    )
    assert (
        "the other 3 runs 0.70 of the town on day 12, and the town falls in 67% of them, on day 18.0" in missed.measured
    )
    met = day10([short] + [ahead] * 2)  # the median meets the count: nothing to explain
    assert met.passed
    assert "runs holding" not in met.measured
    no_day12 = day10([{k: v for k, v in row.items() if k != "gov_share_d12"} for row in [short] * 3 + [ahead] * 2])
    assert "runs holding" not in no_day12.measured  # the runs end before day 12


def test_the_day10_check_reads_its_count_day_and_later_claim_from_the_record():
    record, scenario = load_record(), load_scenario("al-qusayr-2013")
    claim, held, sectors = sectors_claimed(record, scenario)
    assert (claim.id, held, sectors) == ("claim-d10-grid-13-of-16", 13, 16)
    assert share_words(control_claim(record, "claim-d12-reuters-two-thirds")) == "two-thirds"

    def moved(entry, **update):
        return entry.model_copy(update=update)

    # the count one day earlier and 12 squares of 16; Reuters' claim a day later, as a figure
    claims = [
        moved(c, date=c.date - dt.timedelta(days=1), day=c.day - 1, share=moved(c.share, value=0.75))
        if c.id == "claim-d10-grid-13-of-16"
        else moved(c, date=c.date + dt.timedelta(days=1), day=c.day + 1, share=moved(c.share, rule="literal"))
        if c.id == "claim-d12-reuters-two-thirds"
        else c
        for c in record.control_claims
    ]
    edited = record.model_copy(update={"control_claims": claims})
    short = {"gov_sectors_d09": 10, "gov_share_d13": 0.7, "fall_day": 18.0}
    ahead = {"gov_sectors_d09": 12, "gov_share_d13": 0.85, "fall_day": 15.5}
    runs = pd.DataFrame([short] * 3 + [ahead] * 2)
    check = next(c for c in history_checks(runs, fit(runs, []), edited, scenario) if c.name.startswith("end of day 9"))
    assert check.name == "end of day 9 (28 May)"
    assert check.required.endswith("(record 12 of 16)")
    assert check.cites == "record:claim-d10-grid-13-of-16"
    assert "of the town on day 13" in check.measured
    assert check.measured.endswith("(medians; Reuters: 0.6667 on day 13)")


def test_the_killed_ranges_come_from_the_records_battle_totals():
    record = load_record()
    ranges = killed_ranges(record)
    assert ranges["rebels"][:2] == (431, 1257)  # opposition 431-500+, government 1,257
    assert ranges["rebels"][2] == "record:rebels-killed-opposition, rebels-killed-government"
    assert ranges["hezbollah"][:2] == (60, 170)  # issue 5's range around the recorded total
    assert ranges["hezbollah"][2] == "record:hezbollah-killed-total (114)"
    assert ranges["civilians"][:2] == pytest.approx((23.5, 94.0))  # the infobox's 47, within a factor of two
    higher = [
        r.model_copy(update={"killed": r.killed.model_copy(update={"value": 60.0})})
        if r.id == "civilians-casualties-infobox"
        else r
        for r in record.casualties
    ]
    ranges = killed_ranges(record.model_copy(update={"casualties": higher}))
    assert ranges["civilians"][:2] == pytest.approx((30.0, 120.0))
    assert "(60;" in ranges["civilians"][2]


def test_an_open_upper_end_is_null_in_json():
    army = next(t for t in targets(load_record(), load_scenario("al-qusayr-2013")) if t.id == "killed-army")
    assert math.isinf(army.high)  # the infobox's 23 counts part of the army's dead: a lower bound only
    row = fit_json(fit(pd.DataFrame({"killed_army": [300.0, 320.0]}), [army]))["per_target"][0]
    assert row["high"] is None  # JSON has no infinity
    assert row["consistent"]
    json.dumps(row, allow_nan=False)


def test_validate_writes_the_report_the_json_and_the_figures(tmp_path, short, capsys):
    out = tmp_path / "val"
    assert main(["validate", str(short), "--runs", "3", "--out", str(out), "--workers", "0", "--quiet"]) == 0
    result = json.loads((out / "validation.json").read_text())
    assert len(result["runs"]) == 3
    assert len({r["seed"] for r in result["runs"]}) == 3
    text = (out / "validation.md").read_text()
    for claim_id in ("claim-d00-ap-more-than-half", "claim-d01-aljazeera-most", "fall", "killed-rebels"):
        assert claim_id in text
    for name in ("control", "sectors", "casualties", "strength"):
        assert (out / f"{name}.png").stat().st_size > 0
        assert (out / f"{name}.svg").is_file()
    names = {c["name"] for c in result["checks"]}
    assert {"the town falls", "end of day 0", "encirclement", "rebels killed", "Hamidiya taken"} <= names
    missed = [c for c in result["checks"] if not c["passed"]]
    assert missed  # two days: the town does not fall
    for check in missed:  # each miss is listed with what was required and what the ensemble gives
        assert f"- {check['name']}: required {check['required']}; the ensemble gives {check['measured']}." in text
    printed = capsys.readouterr().out
    assert "goodness of fit" in printed
    assert f"MISS  the town falls: {missed[0]['measured']}" in printed
    strict = ["validate", str(short), "--runs", "3", "--out", str(tmp_path / "strict"), "--workers", "0", "--quiet"]
    assert main([*strict, "--strict"]) == 1  # the same misses: --strict makes them the exit status
    assert f"validate --strict: {len(missed)} of {len(names)} checks missed" in capsys.readouterr().err


def test_validate_stops_on_an_unknown_scenario_with_status_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["validate", "no-such-scenario", "--out", str(out)]) == 2
    assert "no-such-scenario" in capsys.readouterr().err
    assert not out.exists()
