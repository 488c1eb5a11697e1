"""The outputs' layout (``sim.outputs``): run ids in the series files, the schema version, the runs and
per-day tables and their loaders, rounded CSVs, and ``docs/outputs.md`` naming every column written."""

import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
import yaml

from sim.outputs import (
    BY_DAY_TABLE,
    RUNS_TABLE,
    OutputSchemaError,
    csv_text,
    load_by_day,
    load_sweep,
    read_runs,
    schema_version,
    write_runs,
)
from sim.run import DAILY_OUTCOMES, SCHEMA_VERSION
from sim.runfiles import run_into
from sim.scenario import DEFAULT_SCENARIO
from sim.sweeps.experiment import experiment_path
from sim.sweeps.ledger import LEDGER_NAME, Ledger
from sim.sweeps.runner import SERIES_DIR, sweep

DOC = Path(__file__).resolve().parent.parent / "docs" / "outputs.md"
PARAMETERS = ["forces.army.fighters", "rules.fire.attacker_lethality_per_h"]  # the smoke experiment's
PLACEHOLDERS = {  # what a <placeholder> in a documented name stands for
    "<side>": "(rebels|army|hezbollah|civilians)",
    "<place>": "[a-z0-9_]+",
    "<NN>": r"\d{2}",
}
PARAMETER = "<parameter>"  # the row that documents every swept parameter's column


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    """The smoke experiment (two days), two points of one replicate each, run in this process."""
    folder = tmp_path_factory.mktemp("outputs")
    raw = yaml.safe_load(experiment_path("smoke").read_text())
    experiment = folder / "smoke.yaml"
    experiment.write_text(yaml.safe_dump({**raw, "points": 2, "replicates": 1}))
    assert sweep(experiment, folder / "sweep", workers=0, quiet=True) == 0
    return folder / "sweep"


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    """One run of half a day, written as ``qusayr run`` writes it."""
    out = tmp_path_factory.mktemp("run") / "baseline-seed3"
    run_into(DEFAULT_SCENARIO, ["time.end=2013-05-19T12:00:00"], 3, out)
    return out


def ledger_outcomes(folder: Path) -> dict[str, dict]:
    """Each finished run's outcomes as the ledger holds them: one flat object, per-day ones as ``<outcome>_dNN``."""
    ledger = Ledger(folder, read_only=True)
    try:
        rows = ledger.db.execute("SELECT run_id, outcomes FROM runs WHERE status = 'done'").fetchall()
    finally:
        ledger.close()
    return {run_id: json.loads(outcomes) for run_id, outcomes in rows}


def same(a, b) -> bool:
    """Equal values, missing (None, NaN) equal to missing."""
    return (pd.isna(a) and pd.isna(b)) or a == b


def test_a_sweeps_series_folder_reads_as_one_dataset_with_its_runs_apart(swept):
    experiments, _ = load_sweep(swept)
    merged = pd.read_parquet(swept / SERIES_DIR)
    assert set(merged["run_id"]) == set(experiments["run_id"])
    for run_id, steps in merged.groupby("run_id"):
        alone = pd.read_parquet(swept / SERIES_DIR / f"{run_id}.parquet")
        pd.testing.assert_frame_equal(steps.reset_index(drop=True), alone)
        assert steps["step"].tolist() == list(range(len(steps)))
    by_run = merged.groupby("run_id")["rebels"].last()
    assert by_run.nunique() == len(by_run)  # the runs differ: a merge that lost their ids would mix them
    dataset = ds.dataset(swept / SERIES_DIR, format="parquet").to_table()
    assert set(dataset.column("run_id").to_pylist()) == set(experiments["run_id"])


def test_a_sweep_loads_as_experiments_and_outcomes_as_its_ledger_recorded_them(swept):
    experiments, outcomes = load_sweep(swept)
    assert experiments.columns.tolist() == ["run_id", "point", "replicate", "seed", *PARAMETERS]
    assert experiments["point"].tolist() == [0, 1]
    assert outcomes["run_id"].tolist() == experiments["run_id"].tolist()
    assert {"fall_day", "killed_rebels", "captured_day_hamidiya", "sector_taken_day_15"} <= set(outcomes.columns)
    by_day = load_by_day(swept)
    assert by_day.columns.tolist() == ["run_id", "day", *DAILY_OUTCOMES]
    assert by_day["day"].tolist() == [0, 1, 0, 1]  # two days each, in the runs' order
    assert all(by_day[name].dtype == np.int64 for name in DAILY_OUTCOMES if name != "gov_share")
    recorded = ledger_outcomes(swept)
    for row in outcomes.to_dict("records"):
        flat = recorded[row.pop("run_id")]
        assert all(same(value, flat[name]) for name, value in row.items())
    for row in by_day.to_dict("records"):
        flat = recorded[row["run_id"]]
        assert all(row[name] == flat[f"{name}_d{row['day']:02d}"] for name in DAILY_OUTCOMES)
    assert len(outcomes.columns) - 1 + 2 * len(DAILY_OUTCOMES) == len(flat)  # every outcome in one table


def test_the_wide_table_holds_every_outcome_the_ledger_recorded(swept):
    wide = read_runs(swept).set_index("run_id")
    for run_id, flat in ledger_outcomes(swept).items():
        assert all(same(wide.loc[run_id, name], value) for name, value in flat.items())
    assert wide["gov_share_d01"].between(0, 1).all()


def test_every_output_carries_the_schema_version(swept, single):
    parquet = [swept / RUNS_TABLE, swept / BY_DAY_TABLE, *(swept / SERIES_DIR).glob("*.parquet")]
    assert all(schema_version(path) == SCHEMA_VERSION for path in [*parquet, single / "series.parquet"])
    assert json.loads((single / "summary.json").read_text())["schema_version"] == SCHEMA_VERSION
    assert all(json.loads(p.read_text())["schema_version"] == SCHEMA_VERSION for p in (swept / "summaries").iterdir())
    ledger = Ledger(swept, read_only=True)
    assert ledger.meta()["schema_version"] == SCHEMA_VERSION
    ledger.close()
    assert f"Schema version: **{SCHEMA_VERSION}**" in DOC.read_text()


def test_a_single_runs_series_holds_its_folders_name_as_run_id(single):
    series = pd.read_parquet(single / "series.parquet")
    assert series.columns[0] == "run_id"
    assert (series["run_id"] == "baseline-seed3").all()


def test_tables_written_before_schema_versions_are_refused_and_a_rerun_rewrites_them(swept, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(swept, old)
    read_runs(old).to_parquet(old / RUNS_TABLE, index=False)  # the former wide table, with no version
    with pytest.raises(OutputSchemaError, match=r"before schema versions.*rewrites its tables"):
        load_sweep(old)
    assert sweep(swept.parent / "smoke.yaml", old, workers=0, quiet=True) == 0  # nothing to run: tables rewritten
    pd.testing.assert_frame_equal(read_runs(old), read_runs(swept))


def test_a_per_day_table_ahead_of_its_runs_table_is_refused(tmp_path):
    rows = [
        {"run_id": run_id, "seed": seed, "fall_day": None, "gov_share_d00": 0.5}
        for run_id, seed in [("ab", 1), ("cd", 2)]
    ]
    write_runs(tmp_path, rows[:1], [])
    earlier = (tmp_path / RUNS_TABLE).read_bytes()
    write_runs(tmp_path, rows, [])
    (tmp_path / RUNS_TABLE).write_bytes(earlier)  # a sweep stopped between its two tables
    with pytest.raises(OutputSchemaError, match=r"by_day\.parquet holds runs that runs\.parquet does not"):
        read_runs(tmp_path)


def test_a_day_a_run_did_not_reach_has_no_row_and_the_wide_table_comes_back_whole(tmp_path):
    wide = pd.DataFrame(
        {
            "run_id": ["a", "b"],
            "point": [0, 1],
            "replicate": [0, 0],
            "seed": [5, 6],
            "x.y": [0.25, 0.5],
            "fall_day": [17.5, np.nan],
            "gov_sectors_d00": [8.0, 9.0],
            "gov_sectors_d01": [10.0, np.nan],  # run b ended after one day (a wide table's missing value)
            "gov_share_d00": [0.5, 0.55],
            "gov_share_d01": [0.6, np.nan],
        }
    )
    write_runs(tmp_path, wide.to_dict("records"), ["x.y"])
    by_day = load_by_day(tmp_path)
    assert list(zip(by_day["run_id"], by_day["day"], strict=True)) == [("a", 0), ("a", 1), ("b", 0)]
    experiments, outcomes = load_sweep(tmp_path)
    assert experiments.columns.tolist() == ["run_id", "point", "replicate", "seed", "x.y"]
    assert outcomes.columns.tolist() == ["run_id", "fall_day"]
    again = read_runs(tmp_path)
    pd.testing.assert_frame_equal(again[wide.columns], wide, check_dtype=False)


def test_a_sweep_with_no_finished_run_loads_as_empty_tables_with_their_columns(tmp_path):
    write_runs(tmp_path, [], ["x.y"])
    experiments, outcomes = load_sweep(tmp_path)
    assert experiments.empty
    assert experiments.columns.tolist() == ["run_id", "point", "replicate", "seed", "x.y"]
    assert outcomes.empty
    assert outcomes.columns.tolist() == ["run_id"]
    assert read_runs(tmp_path).empty
    assert load_by_day(tmp_path).columns.tolist() == ["run_id", "day", *DAILY_OUTCOMES]


def test_csv_floats_are_rounded_to_six_significant_digits():
    frame = pd.DataFrame({"share": [1 / 3, 123456789.0, np.nan], "runs": [1, 20, 300]})
    assert csv_text(frame).splitlines() == ["share,runs", "0.333333,1", "1.23457e+08,20", ",300"]


def documented() -> dict[str, list[str]]:
    """Each ``###`` heading of docs/outputs.md -> the names in the first column of its table."""
    sections: dict[str, list[str]] = {}
    names: list[str] | None = None
    for line in DOC.read_text().splitlines():
        if line.startswith("### "):
            names = sections.setdefault(line.removeprefix("### "), [])
        elif names is not None and (match := re.match(r"\| `([^`]+)` \|", line)):
            names.append(match[1])
    return sections


def name_pattern(name: str) -> re.Pattern:
    """A documented name as a pattern: each placeholder (``<side>``) stands for what it names."""
    pattern = re.escape(name)
    for placeholder, stands_for in PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape(placeholder), stands_for)
    return re.compile(pattern)


def test_docs_outputs_names_every_column_written_and_nothing_else(swept, single):
    ledger = Ledger(swept, read_only=True)
    meta = ledger.meta()
    ledger.close()
    db = sqlite3.connect(swept / LEDGER_NAME)
    ledger_columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    db.close()
    a_sweep_summary = next((swept / "summaries").iterdir())
    a_sweep_series = next((swept / SERIES_DIR).iterdir())
    written = {
        "`summary.json`": [
            *json.loads((single / "summary.json").read_text()),
            *json.loads(a_sweep_summary.read_text()),
        ],
        "`manifest.json`": list(json.loads((single / "manifest.json").read_text())),
        "`series.parquet`, `series/<run_id>.parquet`": [
            *pd.read_parquet(single / "series.parquet").columns,
            *pd.read_parquet(a_sweep_series).columns,
        ],
        "`runs.parquet`": [PARAMETER if c in PARAMETERS else c for c in pd.read_parquet(swept / RUNS_TABLE).columns],
        "`by_day.parquet`": list(pd.read_parquet(swept / BY_DAY_TABLE).columns),
        "`ledger.sqlite`: table `runs`": ledger_columns,
        "`ledger.sqlite`: table `meta`": list(meta),
    }
    sections = documented()
    assert set(sections) == set(written)
    for section, columns in written.items():
        patterns = [name_pattern(name) for name in sections[section]]
        undocumented = sorted({c for c in columns if not any(p.fullmatch(c) for p in patterns)})
        assert not undocumented, f"docs/outputs.md, {section}: not documented: {undocumented}"
        unwritten = [n for n, p in zip(sections[section], patterns, strict=True) if not any(map(p.fullmatch, columns))]
        assert not unwritten, f"docs/outputs.md, {section}: documented but not written: {unwritten}"
    text = DOC.read_text()
    for entry in [*single.iterdir(), *swept.iterdir()]:
        assert (f"`{entry.name}/" if entry.is_dir() else f"`{entry.name}`") in text, entry.name
