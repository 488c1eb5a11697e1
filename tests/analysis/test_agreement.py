"""qusayr agree: two ensembles' outcomes, median and two-sample KS test by outcome."""

import numpy as np
import pandas as pd

from sim.analysis.agreement import AGREEMENT_OUTCOMES, agreement, identical_runs
from sim.cli import main
from sim.outputs import write_runs


def _runs(folder, values, shift=0.0, never=0):
    table = values.sample(frac=1.0, random_state=len(folder.name)).reset_index(drop=True)  # the same values, reordered
    table["fall_day"] += shift
    table.loc[: never - 1, "withdrawal_day"] = np.nan  # runs where the rebels never withdraw
    folder.mkdir()
    write_runs(folder, table.assign(run_id=[f"r{seed}" for seed in table["seed"]]).to_dict("records"), [])
    return table


def test_same_law_agrees_and_a_shift_is_flagged(tmp_path, capsys):
    rng = np.random.default_rng(0)
    values = pd.DataFrame({name: rng.normal(10.0, 2.0, 60) for name in AGREEMENT_OUTCOMES})
    values["seed"] = np.arange(60)
    before = _runs(tmp_path / "before", values)
    same = _runs(tmp_path / "same", values, never=5)
    assert main(["agree", str(tmp_path / "before"), str(tmp_path / "same")]) == 0
    printed = capsys.readouterr().out
    assert "| fall_day |" in printed
    assert "55 seeds gave identical outcomes" in printed  # five lost their withdrawal
    _runs(tmp_path / "shifted", values, shift=3.0)
    assert main(["agree", str(tmp_path / "before"), str(tmp_path / "shifted")]) == 1
    assert "(differs)" in capsys.readouterr().out
    table = agreement(before, same).set_index("outcome")
    assert table.loc["withdrawal_day", "never_after"] == 5
    assert table.loc["fall_day", "median_before"] == np.median(before["fall_day"])
    identical = agreement(before, before)
    assert (identical["ks_p"] == 1.0).all()
    assert (identical["ks_statistic"] == 0.0).all()


def test_a_folder_without_runs_stops_with_status_2(tmp_path, capsys):
    assert main(["agree", str(tmp_path), str(tmp_path)]) == 2
    assert "runs.parquet" in capsys.readouterr().err


def test_identical_runs_match_seeds_and_count_missing_as_equal():
    before = pd.DataFrame({"seed": [1, 2, 3], "run_id": ["a", "b", "c"], "fall_day": [10.0, np.nan, 12.0]})
    after = pd.DataFrame({"seed": [3, 2, 1], "run_id": ["x", "y", "z"], "fall_day": [12.0, np.nan, 10.5]})
    assert identical_runs(before, before) == 3
    assert identical_runs(before, after) == 2  # seed 1 moved; seed 2 never falls in both
