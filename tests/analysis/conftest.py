"""Fixtures of the analysis tests: a two-day scenario and small experiments on it."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO_ROOT


@pytest.fixture
def short(tmp_path):
    """The baseline over two days at two-hour steps, as a scenario file."""
    path = tmp_path / "short.yaml"
    base = REPO_ROOT / "scenarios" / "al-qusayr-2013.yaml"
    path.write_text(f"base: {base}\nname: short\ntime:\n  end: 2013-05-21T00:00:00\n  dt_minutes: 120\n")
    return path


@pytest.fixture
def experiment_file(tmp_path, short):
    """Write a small experiment on the short scenario (three points, one seed each); ``extra`` replaces keys."""

    def write(name: str = "tiny", **extra):
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
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec))
        return path

    return write
