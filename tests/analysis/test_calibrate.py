"""Calibration: history matching, the refinement's box, the confirmed choice, and qusayr calibrate end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim.analysis import calibrate as calibrate_module
from sim.analysis.calibrate import (
    INCUMBENT_POINT,
    calibrate,
    chosen_trial,
    fitted_values,
    implausibility,
    plausible_box,
)
from sim.analysis.targets import NOT_FITTED_WHY, Target
from sim.cli import main
from sim.outputs import CSV_SIGNIFICANT_DIGITS
from sim.record import load_record
from sim.scenario import load_scenario
from sim.sweeps.experiment import Experiment, ExperimentError


def test_history_matching_keeps_points_whose_second_worst_distance_is_small():
    a = Target("a", "control", "", 0, "neutral", "", "x", 0.5, 0.7, 1.0)
    b = Target("b", "control", "", 0, "neutral", "", "y", 0.5, 0.7, 1.0)
    c = Target("c", "control", "", 0, "neutral", "", "z", 0.5, 0.7, 1.0)
    runs = pd.DataFrame(
        {
            "point": [0, 0, 1, 1],
            "p": [1.0, 1.0, 3.0, 3.0],
            "x": [0.6, 0.6, 0.1, 0.1],  # point 1: 4 units off
            "y": [0.6, 0.6, 0.1, 0.1],  # point 1: 4 units off
            "z": [1.9, 1.9, 0.6, 0.6],  # point 0: one odd target, 12 units off
        }
    )
    points = implausibility(runs, [a, b, c], ["p"]).set_index("point")
    assert points.loc[0, "implausibility"] == pytest.approx(0.0)  # the second largest of (0, 0, 12)
    assert points.loc[1, "implausibility"] == pytest.approx(4.0)
    experiment = Experiment(
        name="t",
        scenario="al-qusayr-2013",
        parameters=[{"path": "p", "low": 0.0, "high": 10.0}],
        replicates=1,
        master_seed=1,
    )
    box, any_plausible = plausible_box(points.reset_index(), experiment, cutoff=3.0)
    assert any_plausible
    assert box["p"] == pytest.approx((0.0, 10.0, False))  # two points: one level (10) either side, clipped
    # eleven points one apart, plausible at 3 and 5: their span and one level (1) either side
    screen = pd.DataFrame({"point": np.arange(11), "p": np.arange(11.0), "loss": 1.0, "implausibility": 9.0})
    screen.loc[screen["p"].isin([3.0, 5.0]), "implausibility"] = 1.0
    box, any_plausible = plausible_box(screen, experiment, cutoff=3.0)
    assert any_plausible
    assert box["p"] == pytest.approx((2.0, 6.0, False))
    # the scenario's own values, not plausible, are not one of the design's levels: the margin stays 1
    own = pd.DataFrame({"point": [INCUMBENT_POINT], "p": [7.5], "loss": [1.0], "implausibility": [9.0]})
    box, _ = plausible_box(pd.concat([screen, own], ignore_index=True), experiment, cutoff=3.0)
    assert box["p"] == pytest.approx((2.0, 6.0, False))
    # a grid repeats each level: three levels 0, 5, 10 (nine points), plausible at 5: one level is 5
    grid = pd.DataFrame(
        {"point": np.arange(9), "p": np.repeat([0.0, 5.0, 10.0], 3), "loss": 1.0, "implausibility": 9.0}
    )
    grid.loc[grid["p"] == 5.0, "implausibility"] = 1.0
    box, _ = plausible_box(grid, experiment, cutoff=3.0)
    assert box["p"] == pytest.approx((0.0, 10.0, False))


def test_fitted_values_are_the_confirmed_best_and_the_range_within_two_standard_errors():
    trials = pd.DataFrame(
        {"trial": [0, 1, 2, 3], "p": [1.0, 2.0, 3.0, 9.0], "loss": [1.0, 1.15, 1.3, 5.0], "loss_se": [0.1] * 4}
    )
    # trial 0 was the luckiest on the refinement's seeds; on fresh seeds trial 1 does better
    confirmed = pd.DataFrame({"trial": [0, 1], "p": [1.0, 2.0], "loss": [1.4, 1.2], "loss_se": [0.1, 0.1]})
    values, uncertainty = fitted_values(trials, confirmed, ["p"])
    assert values == {"p": 2.0}
    assert uncertainty["p"] == {"low": 1.0, "high": 2.0, "trials": 2}  # 1.3 is over 1.0 + 2 x 0.1
    # a confirmed best outside the refinement's near trials widens the range to take it in
    confirmed = pd.DataFrame({"trial": [0, 2], "p": [1.0, 3.0], "loss": [1.4, 1.2], "loss_se": [0.1, 0.1]})
    values, uncertainty = fitted_values(trials, confirmed, ["p"])
    assert values == {"p": 3.0}
    assert uncertainty["p"] == {"low": 1.0, "high": 3.0, "trials": 3}


def test_a_refit_replaces_the_scenario_values_only_when_better_beyond_the_noise():
    def confirmed(best_loss, paired_se):
        return pd.DataFrame({"trial": [0, 7], "loss": [1.0, best_loss], "vs_scenario_se": [float("nan"), paired_se]})

    assert chosen_trial(confirmed(0.7, 0.1), scenario_trial=0) == 7  # 0.3 better, over 2 x 0.1
    assert chosen_trial(confirmed(0.9, 0.1), scenario_trial=0) == 0  # 0.1 better: within the noise
    assert chosen_trial(confirmed(0.7, float("nan")), scenario_trial=0) == 0  # one seed: cannot tell
    assert chosen_trial(confirmed(1.2, 0.1), scenario_trial=0) == 0  # the scenario's values are the best
    assert chosen_trial(confirmed(0.9, 0.1), scenario_trial=None) == 7  # no scenario values: the best


def test_calibrate_screens_refines_reports_and_resumes(tmp_path, experiment_file, capsys):
    chosen = ["claim-d00-ap-more-than-half", "claim-d01-aljazeera-most"]
    contradicted = "claim-d01-activist-pushed-back"  # by Al Jazeera the same day: scored, not fitted
    refine = {"trials": 3, "replicates": 1, "parallel": 1, "confirm_top": 2, "confirm_replicates": 2}
    calibration = {"refine": refine, "check_runs": 2, "targets": [*chosen, contradicted]}
    experiment = experiment_file(calibration=calibration)
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
    assert "(record: 17, the town taken on 5 June)" in report  # the record's day of the fall
    assert "(record 17)" in capsys.readouterr().out
    trials = pd.read_csv(out / "trials.csv")
    # the two best trials by their one-seed loss, run again on two fresh seeds; the fitted values are
    # those of the best there
    confirmed = pd.read_csv(out / "confirmed.csv")
    assert sorted(confirmed["trial"]) == sorted(trials.nsmallest(2, "loss")["trial"])
    best = confirmed.loc[confirmed["loss"].idxmin()]
    assert result["confirmed"]["trial"] == best["trial"]
    csv_precision = 10.0 ** (1 - CSV_SIGNIFICANT_DIGITS)  # the CSV's floats are rounded, the JSON's exact
    assert result["fitted"] == pytest.approx({path: best[path] for path in result["fitted"]}, rel=csv_precision)
    assert result["fitted_loss"] == pytest.approx(confirmed["loss"].min(), rel=csv_precision)
    assert main(args) == 0  # resumed: nothing more to try, and the confirmation chooses the same
    assert pd.read_csv(out / "trials.csv").equals(trials)
    assert pd.read_csv(out / "confirmed.csv").equals(confirmed)


def test_calibrate_runs_the_scenario_values_as_a_candidate_at_every_stage(tmp_path, short, experiment_file):
    refine = {"trials": 2, "replicates": 1, "parallel": 1, "confirm_top": 1, "confirm_replicates": 1}
    targets = ["claim-d00-ap-more-than-half"]
    calibration = {"implausibility": 1e9, "refine": refine, "check_runs": 1, "targets": targets}
    parameters = [
        {"path": "rules.fire.attacker_lethality_per_h", "low": 0.001, "high": 0.004},
        {"path": "rules.control.defenders_halving", "low": 2, "high": 50},
    ]  # the scenario's values inside the bounds; every point plausible
    experiment = experiment_file(calibration=calibration, parameters=parameters)
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
    assert (points["point"] == INCUMBENT_POINT).sum() == 1
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
    experiment = experiment_file(calibration=calibration, parameters=narrow)
    out = tmp_path / "narrow"
    assert main(["calibrate", str(experiment), "--out", str(out), "--workers", "0", "--quiet"]) == 0
    result = json.loads((out / "calibration.json").read_text())
    assert not result["screen"]["scenario_values"]["in_bounds"]
    assert not pd.read_csv(out / "trials.csv")["scenario_values"].any()
    assert "outside the experiment's bounds" in (out / "calibration.md").read_text()


def test_an_interrupted_calibration_runs_the_scenario_values_again(tmp_path, short, experiment_file, monkeypatch):
    refine = {"trials": 2, "replicates": 1, "parallel": 1, "confirm_top": 1, "confirm_replicates": 1}
    calibration = {"implausibility": 1e9, "refine": refine, "check_runs": 1, "targets": ["claim-d00-ap-more-than-half"]}
    parameters = [{"path": "rules.control.defenders_halving", "low": 2, "high": 50}]
    experiment = experiment_file(calibration=calibration, parameters=parameters)
    out = tmp_path / "cal"
    args = ["calibrate", str(experiment), "--out", str(out), "--workers", "0", "--quiet"]
    original, calls = calibrate_module.evaluate_on, []

    def interrupted(*a, **k):  # the refinement's first trial (the scenario's values) is cut short
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return original(*a, **k)

    monkeypatch.setattr(calibrate_module, "evaluate_on", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(args)
    monkeypatch.setattr(calibrate_module, "evaluate_on", original)
    assert main(args) == 0
    trials = pd.read_csv(out / "trials.csv")
    again = trials[trials["scenario_values"]]
    assert len(again) == 1
    assert again["trial"].iloc[0] > 0  # trial 0 failed with the interruption; it was asked again
    assert again["rules.control.defenders_halving"].iloc[0] == pytest.approx(
        load_scenario(short).rules.control.defenders_halving
    )
    assert int(again["trial"].iloc[0]) in set(pd.read_csv(out / "confirmed.csv")["trial"])


def test_calibrate_refuses_to_resume_a_refinement_scored_against_other_intervals(tmp_path, experiment_file):
    refine = {"trials": 1, "replicates": 1, "parallel": 1, "confirm_top": 1, "confirm_replicates": 1}
    claim = "claim-d00-ap-more-than-half"
    experiment = experiment_file(calibration={"refine": refine, "check_runs": 1, "targets": [claim]})
    out = tmp_path / "cal"
    record = load_record()
    calibrate(experiment, out, record=record, train_until=0, workers=0, quiet=True)
    # the same target id, its interval wider: the loss means something else
    claims = [
        c.model_copy(update={"share": c.share.model_copy(update={"low": 0.4})}) if c.id == claim else c
        for c in record.control_claims
    ]
    wider = record.model_copy(update={"control_claims": claims})
    with pytest.raises(ExperimentError, match="fitted to other targets"):
        calibrate(experiment, out, record=wider, train_until=0, workers=0, quiet=True)


@pytest.mark.parametrize(
    ("case", "argv", "message"),
    [
        ("many", [], "at most ~9"),
        ("tiny", [], "end before the days of"),
        ("unknown", ["--train-until", "1"], "calibration.targets: no such target before the cut: fall"),
        ("contradicted", ["--train-until", "1"], "the targets left are all scored but not fitted"),
    ],
)
def test_an_experiment_calibration_cannot_fit_stops_with_status_2_and_writes_nothing(
    tmp_path, experiment_file, capsys, case, argv, message
):
    many = [{"path": f"forces.{s}.fighters", "low": 100, "high": 200, "integer": True} for s in ("army", "hezbollah")]
    many += [{"path": f"rules.fire.{k}", "low": 0.01, "high": 0.5} for k in ("cover_max", "low_ammo")]  # low_ammo > 0
    many += [{"path": "rules.movement.road_share", "low": 0.1, "high": 0.2}]
    many += [{"path": "rules.control.defenders_halving", "low": 0.1, "high": 0.2}]
    many += [{"path": "rules.corridor.cohesion_threshold", "low": 0.1, "high": 0.2}]
    many += [{"path": f"forces.rebels.deployment.{k}", "low": 0, "high": 1} for k in ("north", "west", "centre")]
    extra = {
        "many": {"parameters": many, "points": 8},
        "tiny": {},
        "unknown": {"calibration": {"targets": ["claim-d00-ap-more-than-half", "fall"]}},
        # Al Jazeera says "most of the town" the same day
        "contradicted": {"calibration": {"targets": ["claim-d01-activist-pushed-back"]}},
    }[case]
    experiment = experiment_file(name=case, **extra)
    out = tmp_path / "out"
    assert main(["calibrate", str(experiment), *argv, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
