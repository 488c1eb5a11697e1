"""The analysis commands end to end on a two-day scenario: validate, compare, calibrate, sensitivity."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
import yaml

import sim.calibrate
from sim.cli import main
from sim.compare import NOT_FITTED_WHY
from sim.counterfactual import paired
from sim.scenario import load_scenario
from sim.validate import MISSING_MECHANISM
from tests.conftest import REPO_ROOT


@pytest.fixture
def short(tmp_path):
    """The baseline over two days at two-hour steps, as a scenario file."""
    path = tmp_path / "short.yaml"
    base = REPO_ROOT / "scenarios" / "al-qusayr-2013.yaml"
    path.write_text(f"base: {base}\nname: short\ntime:\n  end: 2013-05-21T00:00:00\n  dt_minutes: 120\n")
    return path


def _experiment(tmp_path, short, **extra):
    spec = {
        "name": "tiny",
        "scenario": str(short),
        "parameters": [
            {"path": "rules.fire.attacker_lethality_per_h", "low": 0.001, "high": 0.004},
            {"path": "rules.control.defenders_halving", "low": 5, "high": 50},
        ],
        "design": "lhs",
        "points": 3,
        "replicates": 1,
        "master_seed": 5,
        **extra,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


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
    assert {"the town falls", "end of day 0", "encirclement", "rebels killed"} <= names
    assert set(MISSING_MECHANISM) <= names  # every explanation belongs to a check
    for check in result["checks"]:  # a missed check says which mechanism the model lacks
        if not check["passed"] and check["name"] in MISSING_MECHANISM:
            assert f"What is missing: {MISSING_MECHANISM[check['name']]}" in text
    assert "goodness of fit" in capsys.readouterr().out


def test_compare_on_common_seeds_gives_zero_differences_for_the_same_scenario(tmp_path, short):
    copy = tmp_path / "copy.yaml"  # the same battle under another name: its own ensemble, the same seeds
    copy.write_text(short.read_text().replace("name: short", "name: copy"))
    args = ["compare", str(short), str(copy), "--runs", "3", "--workers", "0", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "cmp"), "--ensembles", str(tmp_path / "ens")]) == 0
    table = pd.read_csv(tmp_path / "cmp" / "differences.csv")
    assert (table["mean"] == 0).all()
    assert not table["excludes_zero"].any()
    assert "gov_share_d01" in set(table["outcome"])
    assert (tmp_path / "cmp" / "compare.png").is_file()
    assert len(list((tmp_path / "ens").iterdir())) == 2


def test_paired_confidence_interval():
    result = paired([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 4.0, 6.0])  # differences 1, 2, 1, 2
    assert result["mean"] == pytest.approx(1.5)
    half = 3.182446 * 0.57735 / 2  # t(0.975, 3) * sd / sqrt(4)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((1.5 - half, 1.5 + half), rel=1e-4)


def test_calibrate_screens_refines_reports_and_resumes(tmp_path, short, capsys):
    chosen = ["claim-d00-ap-more-than-half", "claim-d01-aljazeera-most"]
    contradicted = "claim-d01-activist-pushed-back"  # by Al Jazeera the same day: scored, not fitted
    refine = {"trials": 3, "replicates": 1, "parallel": 1, "confirm_top": 2, "confirm_replicates": 2}
    calibration = {"refine": refine, "check_runs": 2, "targets": [*chosen, contradicted]}
    experiment = _experiment(tmp_path, short, calibration=calibration)
    out = tmp_path / "cal"
    args = ["calibrate", str(experiment), "--out", str(out), "--workers", "0", "--quiet", "--train-until", "1"]
    assert main(args) == 0
    result = json.loads((out / "calibration.json").read_text())
    assert 0.001 <= result["fitted"]["rules.fire.attacker_lethality_per_h"] <= 0.004
    assert result["refine"]["completed"] == 3
    assert result["screen"]["points"] == 3
    assert result["screen"]["scenario_values"] is None  # fitted to the whole record: no candidate for part of it
    assert result["targets_fitted"] == chosen  # of the targets of days 0 and 1, those the experiment chose
    assert result["targets_not_fitted"] == [contradicted]
    report = (out / "calibration.md").read_text()
    assert "Fitted to 2 targets" in report
    assert f"Scored but not fitted ({NOT_FITTED_WHY}): {contradicted}." in report
    assert "Prediction of the record after day 1" in report
    trials = pd.read_csv(out / "trials.csv")
    # the two best trials by their one-seed loss, run again on two fresh seeds; the fitted values are
    # those of the best there
    confirmed = pd.read_csv(out / "confirmed.csv")
    assert sorted(confirmed["trial"]) == sorted(trials.nsmallest(2, "loss")["trial"])
    best = confirmed.loc[confirmed["loss"].idxmin()]
    assert result["confirmed"]["trial"] == best["trial"]
    assert result["fitted"] == pytest.approx({path: best[path] for path in result["fitted"]})
    assert result["fitted_loss"] == pytest.approx(confirmed["loss"].min())
    assert main(args) == 0  # resumed: nothing more to try, and the confirmation chooses the same
    assert pd.read_csv(out / "trials.csv").equals(trials)
    assert pd.read_csv(out / "confirmed.csv").equals(confirmed)


def test_calibrate_runs_the_scenario_values_as_a_candidate_at_every_stage(tmp_path, short):
    refine = {"trials": 2, "replicates": 1, "parallel": 1, "confirm_top": 1, "confirm_replicates": 1}
    targets = ["claim-d00-ap-more-than-half"]
    calibration = {"implausibility": 1e9, "refine": refine, "check_runs": 1, "targets": targets}
    parameters = [
        {"path": "rules.fire.attacker_lethality_per_h", "low": 0.001, "high": 0.004},
        {"path": "rules.control.defenders_halving", "low": 2, "high": 50},
    ]  # the scenario's values inside the bounds; every point plausible
    experiment = _experiment(tmp_path, short, calibration=calibration, parameters=parameters)
    out = tmp_path / "cal"
    assert main(["calibrate", str(experiment), "--out", str(out), "--workers", "0", "--quiet"]) == 0
    result = json.loads((out / "calibration.json").read_text())
    scenario = load_scenario(short)
    own = {
        "rules.fire.attacker_lethality_per_h": scenario.rules.fire.attacker_lethality_per_h,
        "rules.control.defenders_halving": scenario.rules.control.defenders_halving,
    }
    assert result["screen"]["scenario_values"]["values"] == pytest.approx(own)
    assert result["screen"]["scenario_values"]["first_trial"]
    points = pd.read_csv(out / "screen_points.csv")
    assert (points["point"] == sim.calibrate.INCUMBENT_POINT).sum() == 1
    assert result["screen"]["points"] == 3  # the design's, the scenario's values apart
    trials = pd.read_csv(out / "trials.csv")
    first = trials[trials["scenario_values"]]
    assert list(first["trial"]) == [0]
    assert {k: first[k].iloc[0] for k in own} == pytest.approx(own)
    # the best trial is confirmed, and the scenario's values with it even when they are not the best
    best = int(trials.nsmallest(1, "loss")["trial"].iloc[0])
    assert set(pd.read_csv(out / "confirmed.csv")["trial"]) == {best, 0}
    # one confirmation seed gives no standard error: nothing shows a refit better, the values are kept
    assert result["confirmed"]["trial"] == 0
    assert result["fitted"] == pytest.approx(own)
    assert "the scenario's own values: implausibility" in (out / "calibration.md").read_text()
    # outside the bounds they take no part, and the report says so
    narrow = [{**parameters[0]}, {**parameters[1], "low": 40}]
    experiment = _experiment(tmp_path, short, calibration=calibration, parameters=narrow)
    out = tmp_path / "narrow"
    assert main(["calibrate", str(experiment), "--out", str(out), "--workers", "0", "--quiet"]) == 0
    result = json.loads((out / "calibration.json").read_text())
    assert not result["screen"]["scenario_values"]["in_bounds"]
    assert not pd.read_csv(out / "trials.csv")["scenario_values"].any()
    assert "outside the experiment's bounds" in (out / "calibration.md").read_text()


def test_an_interrupted_calibration_runs_the_scenario_values_again(tmp_path, short, monkeypatch):
    refine = {"trials": 2, "replicates": 1, "parallel": 1, "confirm_top": 1, "confirm_replicates": 1}
    calibration = {"implausibility": 1e9, "refine": refine, "check_runs": 1, "targets": ["claim-d00-ap-more-than-half"]}
    parameters = [{"path": "rules.control.defenders_halving", "low": 2, "high": 50}]
    experiment = _experiment(tmp_path, short, calibration=calibration, parameters=parameters)
    out = tmp_path / "cal"
    args = ["calibrate", str(experiment), "--out", str(out), "--workers", "0", "--quiet"]
    original, calls = sim.calibrate.evaluate_on, []

    def interrupted(*a, **k):  # the refinement's first trial (the scenario's values) is cut short
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return original(*a, **k)

    monkeypatch.setattr(sim.calibrate, "evaluate_on", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(args)
    monkeypatch.setattr(sim.calibrate, "evaluate_on", original)
    assert main(args) == 0
    trials = pd.read_csv(out / "trials.csv")
    again = trials[trials["scenario_values"]]
    assert len(again) == 1
    assert again["trial"].iloc[0] > 0  # trial 0 failed with the interruption; it was asked again
    assert again["rules.control.defenders_halving"].iloc[0] == pytest.approx(
        load_scenario(short).rules.control.defenders_halving
    )
    assert int(again["trial"].iloc[0]) in set(pd.read_csv(out / "confirmed.csv")["trial"])


def test_calibrate_refuses_to_resume_a_refinement_scored_against_other_intervals(tmp_path, short, monkeypatch, capsys):
    refine = {"trials": 1, "replicates": 1, "parallel": 1, "confirm_top": 1, "confirm_replicates": 1}
    calibration = {"refine": refine, "check_runs": 1, "targets": ["claim-d00-ap-more-than-half"]}
    experiment = _experiment(tmp_path, short, calibration=calibration)
    out = tmp_path / "cal"
    args = ["calibrate", str(experiment), "--out", str(out), "--workers", "0", "--quiet", "--train-until", "0"]
    assert main(args) == 0
    report = (out / "calibration.json").read_bytes()
    original = sim.calibrate.targets  # the same target ids, one interval wider: the loss means something else

    def widened(*args, **kwargs):
        return [dataclasses.replace(t, high=t.high + 0.1) for t in original(*args, **kwargs)]

    monkeypatch.setattr(sim.calibrate, "targets", widened)
    capsys.readouterr()
    assert main(args) == 2
    assert "fitted to other targets" in capsys.readouterr().err
    assert (out / "calibration.json").read_bytes() == report  # the earlier result is kept


def test_sensitivity_gives_indices_for_every_parameter_and_outcome(tmp_path, short):
    experiment = _experiment(tmp_path, short)
    out = tmp_path / "sens"
    assert main(["sensitivity", str(experiment), "--size", "2", "--out", str(out), "--workers", "0"]) == 0
    table = pd.read_csv(out / "indices.csv")
    # parameters x outcomes x (mu_star, sigma); the day-10 sectors are past the two-day runs
    assert len(table) == 2 * 3 * 2
    assert "gov_sectors_d10" not in set(table["outcome"])
    assert len(pd.read_parquet(out / "runs.parquet")) == 2 * 3  # trajectories x (factors + 1)
    assert (out / "sensitivity.png").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sensitivity", "{exp}", "--method", "sobol", "--size", "3"], "power of two"),
        (["calibrate", "{many}"], "at most ~6"),
        (["calibrate", "{exp}"], "end before the days of"),
        (["validate", "no-such-scenario"], "no-such-scenario"),
        (["calibrate", "{unknown}", "--train-until", "1"], "calibration.targets: no such target before the cut: fall"),
        (["calibrate", "{contradicted}", "--train-until", "1"], "the targets left are all scored but not fitted"),
    ],
)
def test_bad_input_stops_with_status_2_and_writes_nothing(tmp_path, short, capsys, args, message):
    experiment = _experiment(tmp_path, short)
    many = _experiment(tmp_path, short)
    spec = yaml.safe_load(many.read_text())
    spec["parameters"] = [{"path": f"forces.{s}.fighters", "low": 100, "high": 200} for s in ("army", "hezbollah")]
    spec["parameters"] += [{"path": f"rules.fire.{k}", "low": 0.0, "high": 0.5} for k in ("cover_max", "low_ammo")]
    spec["parameters"] += [{"path": f"rules.movement.{k}", "low": 0.1, "high": 0.2} for k in ("road_share",)]
    spec["parameters"] += [{"path": f"rules.control.{k}", "low": 0.1, "high": 0.2} for k in ("defenders_halving",)]
    spec["parameters"] += [{"path": "rules.corridor.cohesion_threshold", "low": 0.1, "high": 0.2}]
    many = tmp_path / "many.yaml"
    many.write_text(yaml.safe_dump({**spec, "design": "lhs", "points": 8}))
    unknown = tmp_path / "unknown.yaml"
    targets = {"targets": ["claim-d00-ap-more-than-half", "fall"]}
    unknown.write_text(yaml.safe_dump({**yaml.safe_load(experiment.read_text()), "calibration": targets}))
    contradicted = tmp_path / "contradicted.yaml"  # Al Jazeera says "most of the town" the same day
    targets = {"targets": ["claim-d01-activist-pushed-back"]}
    contradicted.write_text(yaml.safe_dump({**yaml.safe_load(experiment.read_text()), "calibration": targets}))
    out = tmp_path / "out"
    names = {"exp": experiment, "many": many, "unknown": unknown, "contradicted": contradicted}
    argv = [a.format(**names) for a in args] + ["--out", str(out)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
