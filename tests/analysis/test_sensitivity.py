"""Sensitivity: qusayr sensitivity end to end on a two-day scenario."""

from __future__ import annotations

import pandas as pd

from sim.cli import main


def test_sensitivity_gives_indices_for_every_parameter_and_outcome(tmp_path, experiment_file, capsys):
    experiment = experiment_file()
    out = tmp_path / "sens"
    assert main(["sensitivity", str(experiment), "--size", "2", "--out", str(out), "--workers", "0"]) == 0
    table = pd.read_csv(out / "indices.csv")
    # parameters x outcomes x (mu_star, sigma); the day-10 sectors are past the two-day runs
    assert len(table) == 2 * 3 * 2
    assert "gov_sectors_d10" not in set(table["outcome"])
    assert len(pd.read_parquet(out / "runs.parquet")) == 2 * 3  # trajectories x (factors + 1)
    assert (out / "sensitivity.png").is_file()
    assert "## fall day" in (out / "sensitivity.md").read_text()
    assert "fall_day: mu_star" in capsys.readouterr().out


def test_a_sobol_size_not_a_power_of_two_stops_with_status_2_and_writes_nothing(tmp_path, experiment_file, capsys):
    out = tmp_path / "out"
    argv = ["sensitivity", str(experiment_file()), "--method", "sobol", "--size", "3", "--out", str(out)]
    assert main(argv) == 2
    assert "power of two" in capsys.readouterr().err
    assert not out.exists()
