"""The outputs' tables: their layout on disk (``docs/outputs.md``) and the loaders that read them back.

A sweep's finished runs are two Parquet tables: ``runs.parquet``, one row per run (ids, seed, the
swept parameters, the scalar outcomes), and ``by_day.parquet``, one row per run and day (the
outcomes recorded at the end of each day). Every series file holds its run's id, so that a folder
of them reads as one dataset with the runs kept apart. Every Parquet file carries the schema
version (``sim.run.SCHEMA_VERSION``) in its metadata, and ``runs.parquet`` the names of its
parameter columns. ``load_sweep`` gives a sweep as the experiments and outcomes tables that EMA
Workbench users know, ``load_by_day`` its per-day outcomes; ``read_runs`` joins the two files into
the one wide row per run (a column per outcome and day, ``sim.run.day_column``) that the analyses
read. ``csv_text`` writes every CSV with its floats rounded. (``sim.output`` writes files safely;
this module says what goes in them.)
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.loading import LoadError
from sim.output import write_bytes
from sim.run import DAILY_OUTCOMES, SCHEMA_VERSION, day_column

RUNS_TABLE = "runs.parquet"
BY_DAY_TABLE = "by_day.parquet"
RUN_IDS = ("run_id", "point", "replicate", "seed")  # the columns that say which run a row is
SCHEMA_KEY = b"qusayr.schema_version"
PARAMETERS_KEY = b"qusayr.parameters"  # runs.parquet: its parameter columns (JSON list)
CSV_SIGNIFICANT_DIGITS = 6
_DAY_COLUMN = re.compile(r"(?P<outcome>.+)_d(?P<day>\d{2})")


class OutputSchemaError(LoadError):
    """An output table written by another schema version, or two tables of a folder that do not match."""


def parquet_bytes(frame: pd.DataFrame, parameters: list[str] | None = None) -> bytes:
    """``frame`` as Parquet, its metadata holding the schema version (and ``parameters``, its parameter columns)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = {**(table.schema.metadata or {}), SCHEMA_KEY: str(SCHEMA_VERSION).encode()}
    if parameters is not None:
        metadata[PARAMETERS_KEY] = json.dumps(parameters).encode()
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(metadata), sink)
    return sink.getvalue()


def series_parquet(series: pd.DataFrame, run_id: str) -> bytes:
    """A run's per-step series as Parquet, its run's id as the first column."""
    return parquet_bytes(series.assign(run_id=run_id)[["run_id", *series.columns]])


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV (no index), floats to ``CSV_SIGNIFICANT_DIGITS`` significant digits."""
    return frame.to_csv(index=False, float_format=f"%.{CSV_SIGNIFICANT_DIGITS}g")


def _daily(column: str) -> tuple[str, int] | None:
    """(outcome, day) of a per-day outcome column (``gov_share_d04``), None for any other column."""
    match = _DAY_COLUMN.fullmatch(column)
    if match is None or match["outcome"] not in DAILY_OUTCOMES:
        return None
    return match["outcome"], int(match["day"])


def _missing(value: Any) -> bool:
    """Whether a value is missing (None, or NaN where a wide table filled a day a run did not reach)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def split_by_day(rows: Iterable[dict[str, Any]], parameters: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flat rows of runs (ids, parameters, outcomes with a column per outcome and day) as runs and by_day tables.

    runs: ids, parameters (in their order), then the scalar outcomes (sorted); by_day: run_id, day,
    then the ``DAILY_OUTCOMES``, a row for each day a run reached.
    """
    runs, days = [], []
    for row in rows:
        scalars: dict[str, Any] = {}
        by_day: dict[int, dict[str, Any]] = {}
        for column, value in row.items():
            daily = _daily(column)
            if daily is None:
                scalars[column] = value
            elif not _missing(value):
                outcome, day = daily
                by_day.setdefault(day, {"run_id": row["run_id"], "day": day})[outcome] = value
        runs.append(scalars)
        days += [by_day[day] for day in sorted(by_day)]
    runs_table = pd.DataFrame(runs) if runs else pd.DataFrame(columns=[*RUN_IDS, *parameters])
    ids = [c for c in RUN_IDS if c in runs_table.columns]
    rest = sorted(c for c in runs_table.columns if c not in ids and c not in parameters)
    return runs_table[ids + parameters + rest], pd.DataFrame(days, columns=["run_id", "day", *DAILY_OUTCOMES])


def write_runs(folder: Path, rows: Iterable[dict[str, Any]], parameters: list[str]) -> tuple[Path, Path]:
    """Write ``by_day.parquet``, then ``runs.parquet``, from flat rows of runs (``split_by_day``); their paths.

    Each is written atomically, ``runs.parquet`` last: the two are rewritten together (a sweep's
    from its ledger) and ``read_runs`` refuses a pair that disagrees on the runs.
    """
    runs, by_day = split_by_day(rows, parameters)
    by_day_path = write_bytes(folder / BY_DAY_TABLE, parquet_bytes(by_day))
    return write_bytes(folder / RUNS_TABLE, parquet_bytes(runs, parameters)), by_day_path


def schema_version(path: Path) -> int | None:
    """The schema version a Parquet file of ours was written with (None: before versions were written)."""
    version = (pq.read_schema(path).metadata or {}).get(SCHEMA_KEY)
    return None if version is None else int(version)


def _read(path: Path) -> pd.DataFrame:
    """A table of ours, refused (``OutputSchemaError``) if missing or of another schema version."""
    if not path.is_file():
        raise OutputSchemaError(f"{path.parent}: no {path.name} (not a finished sweep's folder, or one before it)")
    version = schema_version(path)
    if version != SCHEMA_VERSION:
        written = "before schema versions" if version is None else f"with schema version {version}"
        raise OutputSchemaError(
            f"{path}: written {written}, this code reads version {SCHEMA_VERSION}; run the command that wrote "
            "the folder again (a finished sweep, ensemble or wave then only rewrites its tables)"
        )
    return pd.read_parquet(path)


def _parameters(folder: Path) -> list[str]:
    return json.loads(pq.read_schema(folder / RUNS_TABLE).metadata[PARAMETERS_KEY])


def load_sweep(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A finished sweep's (experiments, outcomes), one row per run in the same order, both with ``run_id``.

    experiments: run_id, point, replicate, seed and the swept parameters; outcomes: run_id and the
    scalar outcomes (the per-day ones: ``load_by_day``).
    """
    runs = _read(folder / RUNS_TABLE)
    inputs = [c for c in RUN_IDS if c in runs.columns] + _parameters(folder)
    return runs[inputs], runs[["run_id", *(c for c in runs.columns if c not in inputs)]]


def load_by_day(folder: Path) -> pd.DataFrame:
    """A finished sweep's per-day outcomes: one row per run and day (run_id, day, then ``DAILY_OUTCOMES``)."""
    return _read(folder / BY_DAY_TABLE)


def read_runs(folder: Path) -> pd.DataFrame:
    """A finished sweep's runs, one wide row each: ids, parameters, outcomes, a column per outcome and day.

    The per-day columns (``sim.run.day_column``) come from ``by_day.parquet``; a day a run did not
    reach is missing. Raises ``OutputSchemaError`` if the folder's two tables disagree on the runs.
    """
    runs, by_day = _read(folder / RUNS_TABLE), load_by_day(folder)
    if by_day.empty:
        return runs
    if not set(by_day["run_id"]) <= set(runs["run_id"]):
        raise OutputSchemaError(
            f"{folder}: {BY_DAY_TABLE} holds runs that {RUNS_TABLE} does not "
            "(a sweep stopped while writing them): run the command that wrote the folder again"
        )
    wide = by_day.set_index(["run_id", "day"])[list(DAILY_OUTCOMES)].unstack("day")
    wide.columns = [day_column(outcome, day) for outcome, day in wide.columns]
    return runs.join(wide, on="run_id")
