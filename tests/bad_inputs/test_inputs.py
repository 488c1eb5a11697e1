"""Bad input files and overrides: scenarios (``qusayr run``), ``--set``, the record (``qusayr record
--file``) and experiments (``qusayr sweep``), each refused at once with one line naming the file and
the field (see conftest.py for what a refusal is).

Each case writes its files into the test's folder and gives the command's arguments; a case that
asks for an unbounded amount of memory or time would fail on the child's limits instead of being
refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.bad_inputs.conftest import REPO_ROOT, assert_refused, qusayr

BASELINE = REPO_ROOT / "scenarios" / "al-qusayr-2013.yaml"
RECORD = REPO_ROOT / "seeds" / "al-qusayr-2013" / "record.yaml"
EXPERIMENT = "name: bad\nscenario: al-qusayr-2013\nreplicates: 1\nmaster_seed: 1\n"
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)
DEEP = "[" * 900 + "]" * 900  # below the 1,000 levels at which libyaml gives up, far above MAX_DEPTH
DEEPER = "[" * 5000 + "]" * 5000  # beyond them: libyaml's own refusal, in one line


def variant(text: str) -> str:
    """A scenario file: the baseline with ``text`` merged over it (``base:``)."""
    return f"base: {BASELINE}\n{text}"


def record(old: str, new: str) -> str:
    """The shipped record with the first ``old`` replaced by ``new``."""
    text = RECORD.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


@dataclass(frozen=True)
class Case:
    """Files to write (text or bytes; ``None`` makes a folder, ``"fifo"`` a named pipe), arguments, fragments."""

    files: dict[str, str | bytes | None]
    args: list[str]
    fragments: tuple[str, ...]


def run(name: str, text: str | bytes | None, *fragments: str) -> Case:
    return Case({name: text}, ["run", name], (name, *fragments))


def override(setting: str, *fragments: str) -> Case:
    return Case({}, ["run", "al-qusayr-2013", "--set", setting], (f"--set {setting}", *fragments))


def record_file(text: str | bytes | None, *fragments: str) -> Case:
    return Case({"record.yaml": text}, ["record", "--file", "record.yaml"], ("record.yaml", *fragments))


def sweep(text: str | bytes | None, *fragments: str) -> Case:
    return Case({"exp.yaml": text}, ["sweep", "exp.yaml", "--out", "out"], ("exp.yaml", *fragments))


CASES = {
    # scenario files
    "scenario-billion-laughs": run("s.yaml", variant(BILLION_LAUGHS), "aliases (*name) are not allowed"),
    "scenario-alias": run(
        "s.yaml",
        variant("town:\n  built_up_by_sector: [&row [0.5, 0.5, 0.5, 0.5], *row, *row, *row]\n"),
        "town.built_up_by_sector.1: aliases",
    ),
    "scenario-nested-900-deep": run("s.yaml", variant(f"description: {DEEP}\n"), "description", "nested deeper"),
    "scenario-binary": run("s.yaml", bytes(range(256)) * 8, "not a UTF-8 text file"),
    "scenario-latin-1": run("s.yaml", variant("description: caf\xe9\n").encode("latin-1"), "not a UTF-8"),
    "scenario-folder": run("s.yaml", None, "is a folder"),
    "scenario-named-pipe": run("s.yaml", "fifo", "not a regular file"),
    "scenario-2-MB": run("s.yaml", variant("#" * 2_000_000 + "\n"), "too large"),
    "scenario-duplicate-key": run("s.yaml", variant("name: a\nname: b\n"), "name: duplicate key (lines 2 and 3)"),
    "scenario-duplicate-nested-key": run(
        "s.yaml", variant("forces:\n  army:\n    fighters: 1\n    fighters: 2\n"), "forces.army.fighters: duplicate"
    ),
    "scenario-complex-key": run("s.yaml", variant("? [a, b]\n: 1\n"), "a key must be a plain value"),
    "scenario-integer-of-5000-digits": run("s.yaml", variant(f"town:\n  tunnels: {'9' * 5000}\n"), "not valid YAML"),
    "scenario-infinite-float": run("s.yaml", variant("town:\n  cell_m: .inf\n"), "town.cell_m", "finite"),
    "scenario-infinite-rule-parameter": run(
        "s.yaml", variant("rules:\n  cohesion:\n    loss_weight: .inf\n"), "rules.cohesion.loss_weight", "finite"
    ),
    "scenario-yes-as-a-count": run("s.yaml", variant("town:\n  tunnels: yes\n"), "town.tunnels"),
    "scenario-unknown-village-order": run(
        "s.yaml", variant("rules:\n  villages:\n    order: nearest\n"), "rules.villages.order", "'plan' or 'routes'"
    ),
    "scenario-name-climbs-out": run("s.yaml", variant("name: ../../escaped\n"), "name", "output folders"),
    "scenario-name-absolute": run("s.yaml", variant("name: /tmp/escaped\n"), "name", "output folders"),
    "scenario-name-backslash": run("s.yaml", variant("name: 'a\\b'\n"), "name", "output folders"),
    "scenario-name-hidden": run("s.yaml", variant("name: .hidden\n"), "name", "output folders"),
    "scenario-name-too-long": run("s.yaml", variant(f"name: {'a' * 65}\n"), "name", "output folders"),
    "scenario-a-billion-fighters": run("s.yaml", variant("forces:\n  army:\n    fighters: 1000000000\n"), "fighters"),
    "scenario-fighters-over-the-total": run(
        "s.yaml",
        variant("forces:\n  army:\n    fighters: 900000\n  hezbollah:\n    fighters: 900000\n"),
        "forces and reinforcements",
    ),
    "scenario-a-trillion-tunnels": run("s.yaml", variant("town:\n  tunnels: 1000000000000\n"), "town.tunnels"),
    "scenario-units-beyond-int16": run("s.yaml", variant("forces:\n  rebels:\n    units: 40000\n"), "units"),
    "scenario-a-trillion-civilians": run(
        "s.yaml", variant("civilians:\n  present: 1000000000000\n"), "civilians.present"
    ),
    "scenario-1012-places": run(
        "s.yaml",
        variant(
            "places:\n"
            + "".join(f"  - {json.dumps(place)}\n" for place in yaml.safe_load(BASELINE.read_text())["places"])
            + "".join(f"  - {{name: p{i}, x_km: 0, y_km: 0, holder: gov}}\n" for i in range(1000))
        ),
        "places",
        "at most 1000",
    ),
    "scenario-river-crossing-outside-the-town": run(
        "s.yaml", variant("town:\n  river_crossings_row: [500]\n"), "town", "river_crossings_row"
    ),
    # --set overrides
    "set-inf": override("town.cell_m=inf", "town.cell_m", "finite"),
    "set-infinite-rule-parameter": override("rules.cohesion.loss_weight=inf", "rules.cohesion.loss_weight", "finite"),
    "set-nan-position": override("places.1.x_km=.nan", "places.1", "x_km", "finite"),
    "set-nan-deployment": override("forces.rebels.deployment.north=.nan", "forces.rebels.deployment.north", "finite"),
    "set-on-as-a-count": override("town.tunnels=on", "town.tunnels"),
    "set-unknown-village-order": override("rules.villages.order=nearest", "rules.villages.order", "'plan' or 'routes'"),
    "set-name-climbs-out": override("name=../../escaped", "name", "output folders"),
    "set-munitions-per-hour": override("fire_plans.0.per_hour=1e15", "fire_plans.0.per_hour"),
    "set-alias": override("town.built_up_by_sector=[&a [0.5, 0.5, 0.5, 0.5], *a, *a, *a]", "1: aliases"),
    "set-nested-900-deep": override(f"description={DEEP}", "nested deeper"),
    "set-duplicate-key": override("forces.army={fighters: 1, fighters: 2}", "fighters: duplicate key"),
    "set-unknown-section": override("forces.navy.fighters=3", "forces.navy"),
    "set-unknown-kind-of-mines": override("rules.movement.mines=maim", "rules.movement.mines", "'kill' or 'delay'"),
    "set-list-index-out-of-range": override("places.99.garrison=1", "places.99"),
    "set-no-equals-sign": override("forces.army.fighters", "expected dotted.path=value"),
    # the record
    "record-duplicate-key": record_file(record("battle:", "battle: again\nbattle:"), "battle: duplicate key"),
    "record-infinite-figure": record_file(record("figure: {value: 1900}", "figure: {value: .inf}"), "forces.0"),
    "record-yes-as-a-boolean": record_file(record("part_of_total: true", "part_of_total: yes"), "part_of_total"),
    "record-billion-laughs": record_file(
        record("battle:", BILLION_LAUGHS + "battle:"), "aliases (*name) are not allowed"
    ),
    "record-nested-5000-deep": record_file(record("battle:", f"deep: {DEEPER}\nbattle:"), "nesting depth"),
    "record-binary": record_file(b"\xff\xfe" + bytes(range(256)), "not a UTF-8 text file"),
    "record-folder": record_file(None, "is a folder"),
    "record-1001-places": record_file(
        record("places:\n", "places:\n" + "".join(f"  - {{name: p{i}, kind: town}}\n" for i in range(1001))),
        "places",
        "at most 1000",
    ),
    # experiments
    "experiment-billion-laughs": sweep(
        EXPERIMENT + BILLION_LAUGHS + "parameters:\n  - path: town.tunnels\n    values: *i\n",
        "aliases (*name) are not allowed",
    ),
    "experiment-replicates-true": sweep(
        EXPERIMENT.replace("replicates: 1", "replicates: true"), "replicates", "must not be a boolean"
    ),
    "experiment-a-billion-replicates": sweep(
        EXPERIMENT.replace("replicates: 1", "replicates: 1000000000"), "replicates"
    ),
    "experiment-a-billion-points": sweep(
        EXPERIMENT + "design: lhs\npoints: 1000000000\nparameters:\n  - {path: town.tunnels, low: 0, high: 40}\n",
        "points",
    ),
    "experiment-1001-values": sweep(
        EXPERIMENT + f"parameters:\n  - path: town.tunnels\n    values: {list(range(1001))}\n", "parameters.0.values"
    ),
    "experiment-ten-million-runs": sweep(
        EXPERIMENT.replace("replicates: 1", "replicates: 100")
        + "design: lhs\npoints: 1000\nparameters:\n  - {path: town.cell_m, low: 90, high: 110}\n"
        + f"  - path: town.tunnels\n    values: {list(range(100))}\n",
        "10,000,000 runs",
    ),
    "experiment-yes-as-replicates": sweep(EXPERIMENT.replace("replicates: 1", "replicates: yes"), "replicates"),
    "experiment-duplicate-key": sweep(EXPERIMENT + "replicates: 2\n", "replicates: duplicate key"),
    "experiment-infinite-bound": sweep(
        EXPERIMENT + "design: lhs\npoints: 4\nparameters:\n  - {path: town.cell_m, low: 90, high: .inf}\n",
        "parameters.0.high",
        "finite",
    ),
    "experiment-nan-value": sweep(
        EXPERIMENT + "parameters:\n  - {path: town.cell_m, values: [100, .nan]}\n", "parameters.0.values.1"
    ),
    "experiment-folder": sweep(None, "is a folder"),
    "experiment-binary": sweep(bytes(range(256)), "not a UTF-8 text file"),
    "experiment-name-climbs-out": sweep(EXPERIMENT.replace("name: bad", "name: ../../x"), "name", "output folders"),
    "experiment-set-name-climbs-out": sweep(EXPERIMENT + "set: ['name=../../x']\n", "name", "output folders"),
    "experiment-set-inf": sweep(EXPERIMENT + "set: ['town.cell_m=inf']\n", "town.cell_m", "finite"),
    "experiment-master-seed-beyond-64-bits": sweep(
        EXPERIMENT.replace("master_seed: 1", f"master_seed: {2**70}"), "master_seed"
    ),
    "experiment-nested-5000-deep": sweep(EXPERIMENT + f"description: {DEEPER}\n", "nesting depth"),
    "experiment-a-billion-calibration-trials": sweep(
        EXPERIMENT + "calibration:\n  refine:\n    trials: 1000000000\n", "calibration.refine.trials"
    ),
}


def _write(folder: Path, files: dict[str, str | bytes | None]) -> None:
    for name, content in files.items():
        path = folder / name
        if content is None:
            path.mkdir()
        elif content == "fifo":
            os.mkfifo(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_input_is_refused_at_once_naming_file_and_field(tmp_path, case):
    _write(tmp_path, case.files)
    assert_refused(qusayr(case.args, cwd=tmp_path), *case.fragments)
