import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from sim.analysis.patterns import load_pattern_test
from sim.cli import main
from sim.installation import CHECKOUT, SHIPPED_ROOT, named_input, search_folders, shipped
from sim.runfiles import default_run_folder
from sim.scenario import ScenarioError, list_scenarios, load_scenario
from sim.sweeps.experiment import load_experiment
from tests.conftest import REPO_ROOT

USER_SCENARIO = """\
base: al-qusayr-2013
name: my-variant
description: A user's own variant, found by name through QUSAYR_SCENARIOS.
forces:
  army:
    fighters: 4321
"""


def test_in_a_checkout_the_shipped_inputs_are_its_folders():
    assert CHECKOUT == REPO_ROOT
    assert SHIPPED_ROOT == REPO_ROOT
    assert shipped("scenarios", "al-qusayr-2013.yaml") == REPO_ROOT / "scenarios" / "al-qusayr-2013.yaml"
    assert shipped("app.py").is_file()


def test_a_users_scenario_folder_is_searched_first_and_listed(tmp_path, monkeypatch):
    mine = tmp_path / "my-scenarios"
    mine.mkdir()
    (mine / "my-variant.yaml").write_text(USER_SCENARIO, encoding="utf-8")
    assert "my-variant" not in list_scenarios()
    monkeypatch.setenv("QUSAYR_SCENARIOS", str(mine))
    assert search_folders("scenarios") == [mine, REPO_ROOT / "scenarios"]
    assert "my-variant" in list_scenarios()
    assert "al-qusayr-2013" in list_scenarios()
    assert load_scenario("my-variant").forces.army.fighters == 4321


def test_a_users_experiments_and_pattern_tests_are_found_by_name(tmp_path, monkeypatch):
    mine = tmp_path / "my-experiments"
    (mine / "patterns").mkdir(parents=True)
    smoke = (REPO_ROOT / "experiments" / "smoke.yaml").read_text(encoding="utf-8")
    (mine / "my-smoke.yaml").write_text(smoke.replace("name: smoke", "name: my-smoke"), encoding="utf-8")
    patterns = (REPO_ROOT / "experiments" / "patterns" / "sub-models.yaml").read_text(encoding="utf-8")
    (mine / "patterns" / "my-patterns.yaml").write_text(patterns, encoding="utf-8")
    monkeypatch.setenv("QUSAYR_EXPERIMENTS", str(mine))
    assert load_experiment("my-smoke").name == "my-smoke"
    assert load_pattern_test("my-patterns").pairs
    assert load_experiment("smoke").name == "smoke"  # the shipped ones still found


def test_a_name_found_nowhere_is_refused_listing_the_names_and_a_path_is_taken_as_given(tmp_path):
    with pytest.raises(ScenarioError, match=r"^no-such: no such scenario; the scenarios found by name are al-qusayr"):
        named_input("no-such", "scenarios", ScenarioError)
    given = tmp_path / "elsewhere.yaml"
    assert named_input(given, "scenarios", ScenarioError) == given
    assert named_input(Path("relative/name.yml"), "experiments", ValueError) == Path("relative/name.yml")


def test_the_command_line_lists_what_it_finds_by_name_and_refuses_an_unknown_name(capsys):
    assert main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("scenarios: al-qusayr-2013, attackers-5000")
    assert listed[1].startswith("experiments: bench-200, calibration")
    assert listed[2] == "pattern tests: sub-models"
    assert main(["validate", "no-such-battle", "--runs", "2"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("qusayr: no-such-battle: no such scenario; the scenarios found by name are ")
    assert error.count("\n") == 1


def test_the_command_line_starts_without_the_heavy_libraries():
    probe = "import sys, sim.cli; print(sorted({'numpy', 'pandas', 'pydantic', 'numba', 'mesa'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert done.stdout.strip() == "[]"  # what makes `qusayr --help` answer at once (docs/performance.md)


def test_a_missing_extra_is_named_before_any_work(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    assert main(["calibrate", "calibration", "--out", str(tmp_path / "c")]) == 2
    assert capsys.readouterr().err == (
        "qusayr: calibrate: needs the 'analysis' extra (optuna missing): pip install 'qusayr[analysis]' "
        "(in a checkout: pip install -e '.[analysis]')\n"
    )
    assert not (tmp_path / "c").exists()


def test_completion_scripts_come_from_the_parser(capsys):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "_shtab_qusayr" in script
    assert all(command in script for command in ("validate", "match", "sensitivity", "--train-until"))


def test_a_run_with_overrides_gets_its_own_folder():
    baseline = load_scenario("al-qusayr-2013")
    assert default_run_folder(baseline, 1, []) == "al-qusayr-2013-seed1"
    one = default_run_folder(baseline, 1, ["forces.army.fighters=6000"])
    other = default_run_folder(baseline, 1, ["forces.army.fighters=7000"])
    assert one.startswith("al-qusayr-2013-seed1-set-")
    assert len({one, other, "al-qusayr-2013-seed1"}) == 3
