"""Counterfactuals: paired differences on common seeds, and qusayr compare end to end on a two-day scenario."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.analysis.counterfactual import paired
from sim.cli import main


def test_paired_confidence_interval():
    result = paired([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 4.0, 6.0])  # differences 1, 2, 1, 2
    assert result["mean"] == pytest.approx(1.5)
    half = 3.182446 * 0.57735 / 2  # t(0.975, 3) * sd / sqrt(4)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((1.5 - half, 1.5 + half), rel=1e-4)


def test_compare_on_common_seeds_gives_zero_differences_for_the_same_scenario(tmp_path, short, capsys):
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
    assert "copy - short: fall_day +0 [" in capsys.readouterr().out


def test_a_bad_second_scenario_stops_compare_before_any_run(tmp_path, short, capsys):
    ensembles = tmp_path / "ens"
    argv = ["compare", str(short), "no-such-scenario", "--ensembles", str(ensembles), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "no-such-scenario" in capsys.readouterr().err
    assert not ensembles.exists()  # scenario A's ensemble was not run first
