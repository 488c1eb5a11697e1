"""Pattern-oriented tests of competing sub-models: which pattern rejects which alternative, end to end."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from sim.analysis.fit import fit
from sim.analysis.patterns import Alternative, AlternativeResult, discriminating, load_pattern_test
from sim.analysis.targets import targets
from sim.analysis.validate import PATTERNS, Check, history_checks
from sim.cli import main
from sim.record import load_record
from sim.scenario import load_scenario
from tests.conftest import REPO_ROOT


def _alternative(name: str, missed: set[str]) -> AlternativeResult:
    """An alternative whose checks (one per pattern) miss in the ``missed`` patterns."""
    checks = [Check(p, "required", "measured", p not in missed, "record", p) for p in PATTERNS]

    class Validation:
        pass

    validation = Validation()
    validation.checks = checks
    return AlternativeResult("question", Alternative(name=name, says="says"), validation)


def test_a_pattern_tells_a_pair_apart_when_it_rejects_one_alternative_only():
    a = _alternative("a", {"fall day", "first day's toll"})
    b = _alternative("b", {"fall day", "casualties by side"})
    assert a.rejected_by() == ["first day's toll", "fall day"]  # in PATTERNS' order
    assert discriminating(a, b) == {"first day's toll": "a", "casualties by side": "b"}  # not the fall: both miss it


def test_every_check_of_validation_belongs_to_a_pattern_and_every_pattern_has_checks():
    record, scenario = load_record(), load_scenario("al-qusayr-2013")
    runs = pd.DataFrame([{"fall_day": 17.0, "gov_share_d00": 0.62}] * 3)
    checks = history_checks(runs, fit(runs, targets(record, scenario)), record, scenario)
    assert {c.pattern for c in checks} == set(PATTERNS)
    assert len(PATTERNS) >= 6  # the six patterns at least


def test_the_shipped_pattern_test_has_three_pairs_whose_alternatives_differ():
    test = load_pattern_test("sub-models")
    assert len(test.pairs) >= 3
    for pair in test.pairs:
        a, b = (load_scenario(test.scenario, alt.set).sha256() for alt in pair.alternatives)
        assert a != b, pair.question  # a pair of the same scenario would test nothing


def _write(tmp_path, short, **extra) -> str:
    spec = {
        "name": "tiny",
        "description": "two alternatives of a two-day scenario",
        "scenario": str(short),
        "runs": 2,
        "pairs": [
            {
                "question": "mines",
                "alternatives": [
                    {"name": "deadly", "says": "mines kill", "set": ["rules.movement.mine_hit=0.5"]},
                    {"name": "harmless", "says": "mines do not kill", "set": ["rules.movement.mine_hit=0"]},
                ],
            }
        ],
        **extra,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_patterns_writes_the_table_of_rejections_and_the_json(tmp_path, short, capsys):
    out = tmp_path / "out"
    assert main(["patterns", _write(tmp_path, short), "--out", str(out), "--workers", "0", "--quiet"]) == 0
    result = json.loads((out / "patterns.json").read_text())
    deadly, harmless = result["alternatives"]
    assert (deadly["name"], harmless["name"]) == ("deadly", "harmless")
    assert deadly["runs"] == 2
    assert "the town falls" in {c["name"] for c in deadly["checks"]}
    assert "fall day" in deadly["rejected_by"]  # two days: the town does not fall
    text = (out / "patterns.md").read_text()
    assert "| mines | deadly |" in text
    assert "| mines | harmless |" in text
    assert "`rules.movement.mine_hit=0.5`" in text
    assert "mines: deadly: rejected by" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"runs": 1}, "runs"),
        ({"pairs": []}, "pairs"),
        ({"surprise": 1}, "surprise"),
        ({"scenario": "no-such-scenario"}, "scenario: "),
    ],
)
def test_a_bad_pattern_test_stops_with_status_2_naming_the_field(tmp_path, short, capsys, change, field):
    out = tmp_path / "out"
    assert main(["patterns", _write(tmp_path, short, **change), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "tiny.yaml" in err
    assert field in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_an_alternatives_bad_override_or_repeated_name_stops_before_any_run(tmp_path, short, capsys):
    path = _write(tmp_path, short)
    spec = yaml.safe_load((tmp_path / "tiny.yaml").read_text())
    spec["pairs"][0]["alternatives"][1]["set"] = ["rules.movement.no_such=1"]
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert main(["patterns", path, "--out", str(out)]) == 2
    assert "pairs.0.alternatives.1.set" in capsys.readouterr().err
    spec["pairs"][0]["alternatives"][1] = {"name": "deadly", "says": "again", "set": []}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(spec))
    assert main(["patterns", path, "--out", str(out)]) == 2
    assert "repeated: deadly" in capsys.readouterr().err
    assert not out.exists()
    assert (REPO_ROOT / "experiments" / "patterns" / "sub-models.yaml").is_file()
