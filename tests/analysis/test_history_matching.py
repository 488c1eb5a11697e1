"""History matching in waves: ruling out, the next wave's points, the posterior, and the whole command."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.analysis import forecast
from sim.analysis import history_matching as hm
from sim.analysis.observation import Observation
from sim.cli import main
from sim.sweeps.experiment import HistoryMatching


@dataclass(frozen=True)
class Line:
    """A stand-in emulator: output j = slope_j x_0 (exact), with a fixed emulator variance."""

    slopes: tuple[float, ...]
    var: float = 0.0

    def predict(self, x_unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.outer(x_unit[:, 0], self.slopes)
        return mean, np.full_like(mean, self.var)

    def screen(self, x_unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, var = self.predict(x_unit)
        return mean, 4 * var + 1e-3  # a bound of the variance, as Emulators.screen gives


def _observation(name: str, output: str, low: float, high: float, noise_var: float = 0.01) -> Observation:
    return Observation(name, output, "event", "neutral", 1, low, high, noise_var, None, 0.0)


INPUTS = [hm.Input("a", 0.0, 10.0, "test", True), hm.Input("b", 0.0, 1.0, "test", True)]


def test_a_point_is_ruled_out_by_its_rank_th_largest_implausibility_in_any_wave():
    observed = [_observation("one", "y", 0.5, 0.5), _observation("two", "z", 0.5, 0.5)]
    waves = [(Line((1.0, 1.0)), np.zeros(2))]
    unit = np.array([[0.5, 0.0], [0.7, 0.0], [0.9, 0.0]])
    worst = hm.ruling_implausibility(unit, INPUTS, waves, observed, ["y", "z"], HistoryMatching(rank=1))
    assert worst[:2] == pytest.approx([0.0, 0.2 / 0.1])  # exact where not ruled out
    assert 3 < worst[2] <= 0.4 / 0.1  # a ruled-out point keeps the screen's lower bound
    assert hm.not_ruled_out(unit, INPUTS, waves, observed, ["y", "z"], HistoryMatching(rank=1)).tolist() == [
        True,
        True,
        False,
    ]
    # output z far off everywhere: with rank 1 it rules out everything, with rank 2 the other output decides
    observed[1] = _observation("two", "z", 5.0, 5.0)
    assert not hm.not_ruled_out(unit, INPUTS, waves, observed, ["y", "z"], HistoryMatching(rank=1)).any()
    assert hm.not_ruled_out(unit, INPUTS, waves, observed, ["y", "z"], HistoryMatching(rank=2)).tolist() == [
        True,
        True,
        False,
    ]
    # a second wave rules out what it finds implausible even where the first did not
    waves.append((Line((2.0, 2.0)), np.zeros(2)))
    passed = hm.not_ruled_out(unit, INPUTS, waves, observed, ["y", "z"], HistoryMatching(rank=2))
    assert passed.tolist() == [False, False, False]  # 2 x 0.5 = 1.0 is 5 standard deviations off 0.5


def test_emulator_variance_widens_what_is_not_ruled_out():
    observed = [_observation("one", "y", 0.5, 0.5)]
    unit = np.array([[0.9, 0.0]])
    sure = [(Line((1.0,), var=0.0), np.zeros(1))]
    unsure = [(Line((1.0,), var=0.1), np.zeros(1))]
    settings = HistoryMatching(rank=1)
    assert not hm.not_ruled_out(unit, INPUTS, sure, observed, ["y"], settings)[0]
    assert hm.not_ruled_out(unit, INPUTS, unsure, observed, ["y"], settings)[0]


def test_the_next_wave_tops_up_the_kept_points_by_jittering_them():
    rng = np.random.default_rng(1)
    kept = np.array([[0.5, 0.5], [0.52, 0.48]])

    def passes(unit):
        return np.abs(unit[:, 0] - 0.5) < 0.1

    points = hm.next_points(rng, kept, 50, passes)
    assert points.shape == (50, 2)
    assert passes(points).all()
    assert len(np.unique(points, axis=0)) == 50
    assert hm.next_points(rng, kept, 1, passes).shape == (1, 2)  # enough already: a choice of them


def test_a_waves_points_are_saved_before_it_runs_and_read_back_on_resume(tmp_path):
    made = []

    def make():
        made.append(1)
        return [{"a": 1.0}]

    assert hm.saved_points(tmp_path / "wave-2", make) == [{"a": 1.0}]
    assert hm.saved_points(tmp_path / "wave-2", lambda: [{"a": 2.0}]) == [{"a": 1.0}]
    assert made == [1]


def test_the_posterior_of_a_known_problem_centres_on_the_truth():
    # y = 10 a (a in [0, 1]) observed as 6 with variance 0.25: the posterior of a is about N(0.6, 0.05^2)
    inputs = [hm.Input("a", 0.0, 1.0, "test", True), hm.Input("b", 0.0, 1.0, "test", True)]
    observed = [_observation("y", "y", 6.0, 6.0, noise_var=0.25)]
    waves = [(Line((10.0,)), np.zeros(1))]
    settings = HistoryMatching.model_validate(
        {"rank": 1, "posterior": {"samples": 2000, "walkers": 16, "steps": 1500, "burn": 500}}
    )
    rng = np.random.default_rng(3)
    start = rng.random((200, 2))
    start = start[hm.not_ruled_out(start, inputs, waves, observed, ["y"], settings)]
    unit, acceptance = hm.sample_posterior(rng, start, inputs, waves, observed, ["y"], settings, True)
    assert 0.2 < acceptance < 0.9
    assert np.median(unit[:, 0]) == pytest.approx(0.6, abs=0.02)
    assert np.std(unit[:, 0]) == pytest.approx(0.05, rel=0.25)
    assert np.quantile(unit[:, 1], [0.05, 0.95]) == pytest.approx([0.05, 0.95], abs=0.07)  # b: its prior
    assert (np.abs(unit[:, 0] - 0.6) <= 3 * 0.05 + 1e-9).all()  # never outside the space not ruled out


def test_the_density_is_the_same_in_two_processes_as_in_one():
    # real emulators (picklable, as a spawned process needs) of y = 10 a + b^2 over two waves
    from sim.analysis.emulators import fit_emulators
    from sim.sweeps.runner import usable_cores

    rng = np.random.default_rng(4)
    inputs = [hm.Input("a", 0.0, 1.0, "test", True), hm.Input("b", 0.0, 1.0, "test", True)]
    x = rng.random((30, 2))
    y = (10 * x[:, 0] + x[:, 1] ** 2)[:, None]
    emulators = fit_emulators(x, y, np.full_like(y, 0.01), ["y"], seed=1)
    waves = [(emulators, np.full(1, 0.02)), (emulators, np.full(1, 0.02))]
    observed = [_observation("y", "y", 6.0, 6.0, noise_var=0.25)]
    settings = HistoryMatching.model_validate({"rank": 1})
    unit = np.vstack([rng.random((9, 2)), [[1.5, 0.5]]])  # and a row outside the cube
    arguments = (inputs, waves, observed, ["y"], settings, True)
    whole = hm.log_posterior(unit, *arguments)
    with (
        hm.ChunkedRows(hm.log_posterior, arguments, 1) as here,
        hm.ChunkedRows(hm.log_posterior, arguments, 2) as apart,
    ):
        assert apart.pool is not None
        assert np.array_equal(here(unit), apart(unit))
        assert np.allclose(here(unit), whole, rtol=1e-12, equal_nan=True)
    assert whole[-1] == -np.inf
    assert np.isfinite(whole).sum() >= 1  # some rows inside the space not ruled out
    assert hm.analysis_processes(0) == 1
    assert hm.analysis_processes(1) == 1
    assert hm.analysis_processes(1000) == usable_cores()


def test_a_small_match_writes_the_contracts_and_a_forecast(tmp_path, capsys):
    experiment = {
        "name": "tiny-match",
        "scenario": "al-qusayr-2013",
        "set": ["time.end=2013-05-22T00:00:00", "time.dt_minutes=60"],
        "parameters": [
            {"path": "rules.control.clear_fighter_h", "low": 100, "high": 400, "source": "test: a range"},
            {"path": "rules.movement.mine_clear_h", "low": 0, "high": 8, "source": "test: another"},
        ],
        "design": "lhs",
        "points": 10,
        "replicates": 2,
        "master_seed": 5,
        "history_matching": {
            "wave_points": 10,
            "max_waves": 2,
            "stop_shrink": 1.0,
            "candidates": 2000,
            "predictive_runs": 4,
            "sbc_replications": 2,
            "sbc_steps": 40,
            "posterior": {"samples": 30, "walkers": 8, "steps": 40, "burn": 20},
        },
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(experiment))
    out = tmp_path / "match"
    assert main(["match", str(path), "--out", str(out), "--quiet", "--workers", "0"]) == 0
    calibration = json.loads((out / "calibration.json").read_text())
    assert calibration["method"] == "history-matching"
    names = [i["name"] for i in calibration["inputs"]]
    assert names == [
        "rules.control.clear_fighter_h",
        "rules.movement.mine_clear_h",
        "share_bias_government",
        "share_bias_opposition",
    ]
    assert all({"name", "low", "high", "source"} <= set(i) for i in calibration["inputs"])
    assert calibration["waves"][0] == {
        "wave": 1,
        "runs": 20,
        "points": 10,
        "non_implausible_fraction": calibration["waves"][0]["non_implausible_fraction"],
    }
    assert calibration["total_runs"] == sum(w["runs"] for w in calibration["waves"])
    assert "claim" in calibration["observation_model"]
    posterior = pd.read_parquet(out / "posterior.parquet")
    assert list(posterior.columns) == names
    assert len(posterior) == 30
    for item in calibration["inputs"]:
        assert posterior[item["name"]].between(item["low"], item["high"]).all()
    sbc = json.loads((out / "sbc.json").read_text())
    assert sbc["replications"] == 2
    assert 0 <= sbc["coverage_90"] <= 1
    assert set(sbc["per_input"]) == set(names)
    loo = pd.read_csv(out / "loo.csv")
    assert len(loo) == calibration["observation_model"]["observations"]  # one row per observation
    assert loo["q05"].le(loo["q95"]).all()
    assert loo["meets_90"].isin([True, False]).all()
    sobol = pd.read_csv(out / "sobol.csv")
    assert set(sobol["input"]) == set(names[:2])  # the model's inputs, not the biases
    assert sobol["noise_floor"].between(0, 1).all()
    # validate draws each run's inputs from the posterior: the observation model's scores in its report
    short = ["--set", "time.end=2013-05-22T00:00:00", "--set", "time.dt_minutes=60", "--quiet", "--workers", "0"]
    checked = tmp_path / "validate"
    posterior_file = str(out / "posterior.parquet")
    assert main(["validate", "--posterior", posterior_file, "--runs", "4", "--out", str(checked), *short]) == 0
    validation = json.loads((checked / "validation.json").read_text())
    assert validation["posterior_reports"]
    assert {"id", "meets_90", "crps", "q05", "q95"} <= set(validation["posterior_reports"][0])
    assert "posterior predictive against the observation model" in (checked / "validation.md").read_text()
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    capsys.readouterr()
    assert main(["validate", "--posterior", str(bad), "--runs", "4", "--out", str(tmp_path / "v2"), *short]) == 2
    assert f"{bad}: not a posterior sample" in capsys.readouterr().err
    assert (out / "posterior-pairs.png").exists()
    assert (out / "posterior-control.png").exists()
    # trained up to day 1, sharing wave 1: predicts the later record and scores it against the prior predictive
    until = tmp_path / "until"
    first = ["--first-wave", str(out / "wave-1")]
    assert (
        main(["match", str(path), "--out", str(until), "--train-until", "1", *first, "--quiet", "--workers", "0"]) == 0
    )
    forecast = json.loads((until / "forecast.json").read_text())
    assert forecast["trained_until_day"] == 1
    assert set(forecast["fall_day"]) == {"median", "q05", "q95"}
    assert forecast["targets"]
    assert all(t["day"] > 1 for t in forecast["targets"])
    assert {"id", "observed", "median", "q05", "q95", "crps", "meets_90"} <= set(forecast["targets"][0])
    assert forecast["crps_mean"] == pytest.approx(np.mean([t["crps"] for t in forecast["targets"]]))
    assert forecast["crps_mean_baseline"] > 0
    assert not (until / "wave-1").exists()  # wave 1 was read from the shared folder


def test_the_crps_of_a_stated_interval_averages_over_it():
    ensemble = np.array([1.0, 2.0, 3.0])
    point = forecast.interval_crps(2.0, 2.0, ensemble)
    assert point == pytest.approx(2 / 3 - 4 / 9)  # E|X - 2| - E|X - X'| / 2 for X uniform on {1, 2, 3}
    wide = forecast.interval_crps(0.0, 4.0, ensemble)
    assert wide == pytest.approx(np.mean([forecast.interval_crps(v, v, ensemble) for v in np.linspace(0, 4, 21)]))
    assert forecast.interval_crps(5.0, np.inf, ensemble) == pytest.approx(forecast.interval_crps(5.0, 5.0, ensemble))
    assert forecast.meets(0.0, 1.0, 0.5, 2.0)
    assert not forecast.meets(0.0, 1.0, 1.5, 2.0)
