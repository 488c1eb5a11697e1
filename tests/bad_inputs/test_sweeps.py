"""Bad inputs and faults of the sweep machinery: ledgers, sweep folders, design points, clusters.

Each row builds its inputs under ``in/`` (a damaged ledger, a folder another driver holds, an
experiment whose design the scenario refuses, a cluster address no scheduler answers) and runs
``qusayr`` from an empty folder; every one is refused before anything is written (see conftest).
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from sim.outputs import RUNS_TABLE
from sim.scenario import load_scenario
from sim.sweeps.experiment import experiment_path, load_experiment
from sim.sweeps.ledger import LEDGER_NAME, Ledger
from sim.sweeps.runner import LOCK_NAME
from tests.bad_inputs.conftest import REPO_ROOT, assert_refused, qusayr

CLUSTER_SECONDS = 20  # the connection is given up after 5 s; the rest is the command's start on a busy machine


@dataclass
class Case:
    """A command to refuse, the fragments its one line must hold, and the folders it must leave unchanged."""

    args: list[str]
    fragments: list[str]
    watch: list[Path] = field(default_factory=list)
    seconds: float | None = None  # refused within this, when it matters


def smoke_meta() -> dict:
    """The provenance a sweep of experiments/smoke.yaml stores."""
    experiment = load_experiment("smoke")
    return {
        "experiment": experiment.model_dump(mode="json"),
        "scenario_sha256": load_scenario(experiment.scenario, experiment.set).sha256(),
    }


def made_ledger(folder: Path, meta: dict | None = None) -> Path:
    """A sweep folder with a ledger of 300 pending runs (nothing run) and the driver's lock file."""
    ledger = Ledger(folder)
    ledger.set_meta(meta or smoke_meta())
    ledger.register((f"run{i:04d}", i, 0, i) for i in range(300))
    ledger.close()
    (folder / LOCK_NAME).touch()
    return folder / LEDGER_NAME


def not_sqlite(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / LEDGER_NAME).write_text("this is a ledger, honest\n" * 200)
    return folder / LEDGER_NAME


def truncated(folder: Path) -> Path:
    path = made_ledger(folder)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def wrong_tables(folder: Path) -> Path:
    folder.mkdir(parents=True)
    db = sqlite3.connect(folder / LEDGER_NAME)
    db.execute("CREATE TABLE runs (id INTEGER, colour TEXT)")
    db.commit()
    db.close()
    (folder / LOCK_NAME).touch()
    return folder / LEDGER_NAME


def ledger_case(damage: Callable[[Path], Path], command: str) -> Callable[[Path], Iterator[Case]]:
    """A sweep folder whose ledger ``damage`` made, given to ``command`` (sweep, status, plot)."""

    @contextlib.contextmanager
    def case(inputs: Path) -> Iterator[Case]:
        folder = inputs / "sweep"
        ledger = damage(folder)
        (folder / RUNS_TABLE).write_bytes(b"PAR1")  # plot looks for both files before reading either
        args = ["sweep", "smoke", "--out", str(folder), "--quiet"] if command == "sweep" else [command, str(folder)]
        yield Case(args, [str(ledger), "ledger"], [inputs])

    return case


def experiment_case(command: str, fragments: list[str], **changes) -> Callable[[Path], Iterator[Case]]:
    """experiments/smoke.yaml with ``changes``, given to ``command``; ``{path}`` in a fragment is its file."""

    @contextlib.contextmanager
    def case(inputs: Path) -> Iterator[Case]:
        inputs.mkdir()
        raw = yaml.safe_load(experiment_path("smoke").read_text()) | changes
        path = inputs / "experiment.yaml"
        path.write_text(yaml.safe_dump(raw))
        out = inputs / "out"
        args = [command, str(path), "--out", str(out), *(["--quiet"] if command != "sensitivity" else [])]
        yield Case(args, [f.format(path=path) for f in fragments], [inputs])

    return case


def cluster_case(command: str, address: str) -> Callable[[Path], Iterator[Case]]:
    @contextlib.contextmanager
    def case(inputs: Path) -> Iterator[Case]:
        inputs.mkdir()
        subject = ["smoke"] if command == "sweep" else ["--runs", "2"]
        args = [command, *subject, "--out", str(inputs / "out"), "--cluster", address, "--quiet"]
        yield Case(args, ["--cluster", address], [inputs], CLUSTER_SECONDS)

    return case


@contextlib.contextmanager
def folder_of_another_experiment(inputs: Path) -> Iterator[Case]:
    meta = smoke_meta()
    meta["experiment"] = {**meta["experiment"], "name": "other", "replicates": 3}
    made_ledger(inputs / "sweep", meta)
    yield Case(["sweep", "smoke", "--out", str(inputs / "sweep"), "--quiet"], ["different experiment"], [inputs])


@contextlib.contextmanager
def folder_of_another_scenario(inputs: Path) -> Iterator[Case]:
    made_ledger(inputs / "sweep", {**smoke_meta(), "scenario_sha256": "0" * 64})
    yield Case(["sweep", "smoke", "--out", str(inputs / "sweep"), "--quiet"], ["has changed since"], [inputs])


@contextlib.contextmanager
def ledger_that_is_a_folder(inputs: Path) -> Iterator[Case]:
    (inputs / "sweep" / LEDGER_NAME).mkdir(parents=True)
    (inputs / "sweep" / LOCK_NAME).touch()
    yield Case(["sweep", "smoke", "--out", str(inputs / "sweep"), "--quiet"], [LEDGER_NAME], [inputs])


@contextlib.contextmanager
def out_that_is_a_file(inputs: Path) -> Iterator[Case]:
    inputs.mkdir()
    (inputs / "sweep").write_text("not a folder\n")
    yield Case(["sweep", "smoke", "--out", str(inputs / "sweep"), "--quiet"], [str(inputs / "sweep"), "not a folder"])


@contextlib.contextmanager
def compare_with_a_damaged_ensemble(inputs: Path) -> Iterator[Case]:
    scenario = load_scenario("al-qusayr-2013")
    folder = inputs / "ensembles" / f"{scenario.name}-{scenario.sha256()[:8]}-m1-n2"
    ledger = truncated(folder)
    args = ["compare", "al-qusayr-2013", "no-hezbollah", "--runs", "2", "--ensembles", str(inputs / "ensembles")]
    yield Case([*args, "--out", str(inputs / "out"), "--quiet"], [str(ledger), "ledger"], [inputs])


@contextlib.contextmanager
def second_driver(inputs: Path) -> Iterator[Case]:
    """A live ``qusayr sweep`` holds the folder; a second one on it is refused, and the first ends well."""
    folder = inputs / "sweep"
    command = [sys.executable, "-m", "sim.cli", "sweep", "smoke", "--out", str(folder), "--workers", "1", "--quiet"]
    first = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not _started(folder):
            assert first.poll() is None, first.stderr.read()
            assert time.time() < deadline, "the first driver did not start"
            time.sleep(0.1)
        yield Case(["sweep", "smoke", "--out", str(folder), "--quiet"], [str(folder), "another qusayr command"])
        _, err = first.communicate(timeout=180)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, err
    assert Ledger(folder, read_only=True).counts() == {"pending": 0, "running": 0, "done": 8, "failed": 0}


def _started(folder: Path) -> bool:
    """Whether a driver has runs in flight in ``folder``."""
    try:
        counts = Ledger(folder, read_only=True).counts()
    except Exception:  # not made yet, or being made
        return False
    return counts["running"] + counts["done"] > 0


COMBINATION = {  # each value passes alone; some points put more rebels in the air base than there are rebels
    "design": "grid",
    "points": 4,
    "parameters": [
        {"path": "forces.rebels.fighters", "low": 500, "high": 2000, "integer": True},
        {"path": "places.3.garrison", "low": 100, "high": 1400, "integer": True},
    ],
}

CASES = {
    "ledger-not-sqlite-sweep": ledger_case(not_sqlite, "sweep"),
    "ledger-not-sqlite-status": ledger_case(not_sqlite, "status"),
    "ledger-not-sqlite-plot": ledger_case(not_sqlite, "plot"),
    "ledger-truncated-sweep": ledger_case(truncated, "sweep"),
    "ledger-truncated-status": ledger_case(truncated, "status"),
    "ledger-truncated-plot": ledger_case(truncated, "plot"),
    "ledger-wrong-tables-sweep": ledger_case(wrong_tables, "sweep"),
    "ledger-wrong-tables-status": ledger_case(wrong_tables, "status"),
    "ledger-is-a-folder": ledger_that_is_a_folder,
    "folder-of-another-experiment": folder_of_another_experiment,
    "folder-of-another-scenario": folder_of_another_scenario,
    "out-is-a-file": out_that_is_a_file,
    "second-driver": second_driver,
    "compare-damaged-ensemble": compare_with_a_damaged_ensemble,
    "cluster-malformed": cluster_case("sweep", "nonsense"),
    "cluster-empty": cluster_case("sweep", ""),
    "cluster-unknown-scheme": cluster_case("sweep", "http://127.0.0.1:8786"),
    "cluster-unreachable": cluster_case("sweep", "tcp://127.0.0.1:1"),
    "cluster-unreachable-validate": cluster_case("validate", "tcp://127.0.0.1:1"),
    "point-refused-at-low": experiment_case(
        "sweep",
        ["{path}", "parameters.0 (path 'forces.army.fighters')", "value -500 (its low)", "greater than or equal"],
        parameters=[{"path": "forces.army.fighters", "low": -500, "high": 6000, "integer": True}],
    ),
    "point-refused-listed-value": experiment_case(
        "sweep",
        ["{path}", "parameters.1 (path 'forces.army.fighters')", "value -1"],
        parameters=[
            {"path": "rules.fire.attacker_lethality_per_h", "low": 0.002, "high": 0.004},
            {"path": "forces.army.fighters", "values": [4500, -1]},
        ],
    ),
    "point-refused-combination": experiment_case(
        "sweep",
        ["{path}", "parameters at point 0 (forces.rebels.fighters=500, places.3.garrison=100)", "garrisons"],
        **COMBINATION,
    ),
    "parameter-unknown-path": experiment_case(
        "sweep",
        ["{path}", "parameters.0 (path 'forces.army.colour')", "Extra inputs"],
        parameters=[{"path": "forces.army.colour", "low": 1, "high": 2}],
    ),
    "set-refused": experiment_case("sweep", ["{path}", "scenario / set", "fighters"], set=["forces.army.fighters=-5"]),
    "calibrate-bound-refused": experiment_case(
        "calibrate",
        ["{path}", "parameters.1 (path 'places.3.garrison')", "value 100000 (its high)", "garrisons"],
        parameters=[
            {"path": "forces.army.fighters", "low": 4000, "high": 6000, "integer": True},
            {"path": "places.3.garrison", "low": 10, "high": 100000, "integer": True},
        ],
    ),
    "sensitivity-bound-refused": experiment_case(
        "sensitivity",
        ["{path}", "parameters.0 (path 'forces.army.fighters')", "(its low)"],
        parameters=[
            {"path": "forces.army.fighters", "low": -4000, "high": 6000, "integer": True},
            {"path": "rules.fire.attacker_lethality_per_h", "low": 0.002, "high": 0.004},
        ],
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_sweep_input_or_fault_is_refused(case, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with case(tmp_path / "in") as refused:
        started = time.time()
        result = qusayr(refused.args, cwd=cwd, watch=refused.watch)
        elapsed = time.time() - started
    assert_refused(result, *refused.fragments)
    if refused.seconds is not None:
        assert elapsed < refused.seconds, f"refused after {elapsed:.0f} s"
