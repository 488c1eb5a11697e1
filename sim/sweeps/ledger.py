"""The sweep's ledger: one SQLite file (WAL) per sweep folder, written by the driver only.

It holds the experiment and its provenance (``meta``), and one row per run (``runs``): run id,
point, replicate, seed, status (``pending``, ``running``, ``done``, ``failed``), start and end
times, worker, error text, and the run's scalar outcomes (JSON). The driver commits once per
batch; a run found ``running`` when a sweep starts was in flight when the last driver died, and
runs again (so does one an older driver recorded failed because its worker died). A ledger file
that is not one (another file, a damaged or truncated database, other tables) raises
``LedgerError`` before anything is written to it. Reading works on a read-only copy too.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sim.loading import LoadError

LEDGER_NAME = "ledger.sqlite"
WORKER_LOST_ERRORS = ("BrokenProcessPool",)  # failures older drivers recorded for runs whose worker died

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    point INTEGER NOT NULL,
    replicate INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    started REAL,
    ended REAL,
    worker TEXT,
    error TEXT,
    outcomes TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
"""
COLUMNS = {
    "meta": {"key", "value"},
    "runs": {"run_id", "point", "replicate", "seed", "status", "started", "ended", "worker", "error", "outcomes"},
}


class LedgerError(LoadError):
    """A ledger file that is not a sweep's ledger; the message names the file."""


class Ledger:
    """The ledger of one sweep folder (``read_only``: for reports, also on a read-only copy)."""

    def __init__(self, folder: Path, *, read_only: bool = False) -> None:
        self.path = Path(folder) / LEDGER_NAME
        self.copy: Path | None = None  # a private copy, when the folder could not be read in place
        new = not read_only and (not self.path.exists() or self.path.stat().st_size == 0)  # SQLite's empty database
        try:
            if read_only:
                self.db = self._connect_read_only()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path)
            if not new:
                self._check()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise LedgerError(f"{self.path}: not a readable sweep ledger: {exc}") from None
        if not read_only:  # only once the file is known to be a ledger: these write to it
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            self.db.commit()

    def _connect_read_only(self) -> sqlite3.Connection:
        """A read-only connection that leaves the folder as it was (and works where no one may write).

        Without a log (``-wal``) the database is whole in its file and no driver has it open: it is read
        as it is (``immutable``), since SQLite would otherwise leave its side files behind. With a log,
        SQLite reads it through an index it must be able to make: in a folder no one can write (a
        read-only copy that brought the log without its index), a private copy is read instead.
        """
        uri = self.path.resolve().as_uri()
        if not self.path.with_name(LEDGER_NAME + "-wal").exists():
            return sqlite3.connect(f"{uri}?immutable=1", uri=True)
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            db.close()
            if os.access(self.path.parent, os.W_OK):  # not the read-only case: a real error
                raise
        self.copy = Path(tempfile.mkdtemp(prefix="qusayr-ledger-"))
        for name in (LEDGER_NAME, LEDGER_NAME + "-wal"):
            shutil.copyfile(self.path.with_name(name), self.copy / name)
        return sqlite3.connect(self.copy / LEDGER_NAME)

    def _check(self) -> None:
        """Raise LedgerError unless the file holds the ledger's tables, undamaged (reads only)."""
        for table, columns in COLUMNS.items():
            found = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            if not columns <= found:
                raise LedgerError(f"{self.path}: not a sweep ledger: no table {table} with columns {sorted(columns)}")
        verdict = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise LedgerError(f"{self.path}: the sweep ledger is damaged: {verdict}")

    def close(self) -> None:
        """Close the database."""
        if hasattr(self, "db"):
            self.db.close()
        if self.copy is not None:
            shutil.rmtree(self.copy, ignore_errors=True)

    # --- writing (the driver) ----------------------------------------------------------------

    def set_meta(self, values: dict[str, Any]) -> None:
        """Store provenance (JSON values) and commit."""
        self.db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()]
        )
        self.db.commit()

    def register(self, runs: Iterable[tuple[str, int, int, int]]) -> None:
        """Add runs (run_id, point, replicate, seed) not already in the ledger, as pending."""
        self.db.executemany(
            "INSERT OR IGNORE INTO runs (run_id, point, replicate, seed, status) VALUES (?, ?, ?, ?, 'pending')", runs
        )
        self.db.commit()

    def requeue_interrupted(self) -> int:
        """Runs left ``running`` by a driver that died, or failed because their worker died, go back to pending.

        (Drivers before this one recorded a run whose pool worker died as failed; it did nothing wrong.)
        Returns how many.
        """
        lost = " OR ".join("error LIKE ?" for _ in WORKER_LOST_ERRORS)
        count = self.db.execute(
            "UPDATE runs SET status = 'pending', started = NULL, error = NULL "
            f"WHERE status = 'running' OR (status = 'failed' AND ({lost}))",
            [f"{name}%" for name in WORKER_LOST_ERRORS],
        ).rowcount
        self.db.commit()
        return count

    def requeue_failed(self) -> int:
        """Every failed run goes back to pending (``--retry-failed``); returns how many."""
        count = self.db.execute(
            "UPDATE runs SET status = 'pending', started = NULL, error = NULL WHERE status = 'failed'"
        ).rowcount
        self.db.commit()
        return count

    def mark_running(self, run_id: str, worker: str = "") -> None:
        """A run was handed to a worker (committed with the batch)."""
        self.db.execute(
            "UPDATE runs SET status = 'running', started = ?, worker = ? WHERE run_id = ?",
            (time.time(), worker, run_id),
        )

    def record_done(self, run_id: str, outcomes: dict[str, Any], started: float, ended: float, worker: str) -> None:
        """A run finished (committed with the batch)."""
        self.db.execute(
            "UPDATE runs SET status = 'done', outcomes = ?, started = ?, ended = ?, worker = ?, error = NULL "
            "WHERE run_id = ?",
            (json.dumps(outcomes), started, ended, worker, run_id),
        )

    def record_failed(self, run_id: str, error: str, ended: float) -> None:
        """A run raised (committed with the batch)."""
        self.db.execute(
            "UPDATE runs SET status = 'failed', error = ?, ended = ? WHERE run_id = ?", (error, ended, run_id)
        )

    def commit(self) -> None:
        """Commit the batch."""
        self.db.commit()

    # --- reading -----------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """The stored provenance."""
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

    def statuses(self) -> dict[str, str]:
        """Run id -> status."""
        return dict(self.db.execute("SELECT run_id, status FROM runs"))

    def counts(self) -> dict[str, int]:
        """Runs by status."""
        counts = {"pending": 0, "running": 0, "done": 0, "failed": 0}
        counts.update(dict(self.db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status")))
        return counts

    def points(self) -> int:
        """How many design points the runs cover."""
        return self.db.execute("SELECT COUNT(DISTINCT point) FROM runs").fetchone()[0]

    def failed(self) -> list[tuple[str, int, int, str]]:
        """(run_id, point, replicate, error) of every failed run."""
        return list(self.db.execute("SELECT run_id, point, replicate, error FROM runs WHERE status = 'failed'"))

    def done_rows(self) -> list[dict[str, Any]]:
        """Every finished run with its outcomes, in (point, replicate) order."""
        rows = self.db.execute(
            "SELECT run_id, point, replicate, seed, outcomes FROM runs WHERE status = 'done' ORDER BY point, replicate"
        )
        return [{"run_id": r, "point": p, "replicate": k, "seed": s, **json.loads(o)} for r, p, k, s, o in rows]

    def time_span(self) -> tuple[float | None, float | None]:
        """The earliest start and the latest end recorded."""
        return tuple(self.db.execute("SELECT MIN(started), MAX(ended) FROM runs").fetchone())
