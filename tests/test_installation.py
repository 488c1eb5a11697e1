from pathlib import Path

from sim.analysis.patterns import load_pattern_test
from sim.installation import CHECKOUT, SHIPPED_ROOT, named_input, search_folders, shipped
from sim.scenario import list_scenarios, load_scenario
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


def test_a_missing_name_points_at_the_shipped_folder_and_a_path_is_taken_as_given(tmp_path):
    assert named_input("no-such-scenario", "scenarios") == REPO_ROOT / "scenarios" / "no-such-scenario.yaml"
    given = tmp_path / "elsewhere.yaml"
    assert named_input(given, "scenarios") == given
    assert named_input(Path("relative/name.yml"), "experiments") == Path("relative/name.yml")
