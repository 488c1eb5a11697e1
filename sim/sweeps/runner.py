"""Running a sweep: every (point, replicate) of an experiment, on local processes or a Dask cluster.

The unit of work is ``execute``: one run from its scenario, overrides and seed; it returns the
run's scalar outcomes, its summary (JSON bytes) and its per-step series (Parquet bytes), so workers
need no file system shared with the driver. One loop (``in_window``) keeps a bounded window of runs
in flight on a ``concurrent.futures`` executor (a local process pool, or a ``distributed`` client's
executor) for sweeps and for evaluations (``evaluate``: points no design file lists, nothing stored).
A sweep's driver (``sweep``) writes each series to ``series/<run_id>.parquet`` and each summary to
``summaries/<run_id>.json`` (under a temporary name, then renamed) as they arrive without holding
any, records each result in the ledger (committed per batch), and at the end writes
``runs.parquet``: one tidy row per finished run (parameters, seed, outcomes), the only table
analysis reads. Resuming on the same folder skips finished runs and reruns those left in flight.
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import multiprocessing
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from sim.output import code_version, git_commit, write_bytes
from sim.run import run, scalar_outcomes
from sim.scenario import TOWN_PLACE, load_scenario
from sim.sweeps.experiment import Experiment, ExperimentError, RunSpec, load_experiment, override_text, plan
from sim.sweeps.ledger import Ledger

RUNS_TABLE = "runs.parquet"
SERIES_DIR = "series"
SUMMARY_DIR = "summaries"
IN_FLIGHT_PER_WORKER = 4  # enough to keep workers busy, few enough not to flood a scheduler


def execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one (point, replicate); return its id, outcomes, series (Parquet bytes), times and worker."""
    started = time.time()
    scenario = load_scenario(spec["scenario"], list(spec["overrides"]))
    result = run(scenario, spec["seed"])
    buffer = io.BytesIO()
    result.series.to_parquet(buffer, index=False)
    places = [p.name for p in scenario.places if p.name != TOWN_PLACE]
    return {
        "run_id": spec["run_id"],
        "outcomes": scalar_outcomes(result.summary, places),
        "series": buffer.getvalue(),
        "summary": json.dumps(result.summary).encode(),
        "started": started,
        "ended": time.time(),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


class Progress:
    """A tqdm bar on a terminal; otherwise a plain line every few seconds."""

    def __init__(self, total: int, done: int, quiet: bool, stream: TextIO) -> None:
        self.total, self.done, self.failed = total, done, 0
        self.quiet, self.stream = quiet, stream
        self.started = time.time()
        self.done_at_start = done
        self.last_line = 0.0
        self.bar = None
        if not quiet and stream.isatty() and not os.environ.get("CI"):
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="run", file=stream)

    def update(self, ok: bool) -> None:
        """One more run ended."""
        self.done += 1
        self.failed += not ok
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failed=self.failed)
        elif not self.quiet and time.time() - self.last_line >= 5.0:
            self.line()

    def line(self) -> None:
        """Print done, failed, rate and time left."""
        elapsed = time.time() - self.started
        rate = (self.done - self.done_at_start) / elapsed * 60 if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        print(
            f"sweep: {self.done}/{self.total} done, {self.failed} failed, {rate:.1f} runs/min, {left:.1f} min left",
            file=self.stream,
            flush=True,
        )
        self.last_line = time.time()

    def close(self) -> None:
        """End the bar or print a last line."""
        if self.bar is not None:
            self.bar.close()
        elif not self.quiet:
            self.line()


class RunFailedError(Exception):
    """Runs that failed: the message says which, and where to look."""


class InlineExecutor(cf.Executor):
    """Runs each task in this process as it is submitted (``--workers 0``: debugging, small tests)."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        """Run ``fn`` now; return a finished future holding its result or its exception."""
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # handed to the caller through the future, as a pool would
            future.set_exception(exc)
        return future


def make_executor(workers: int | None, cluster: str | None) -> tuple[cf.Executor, int, Callable[[], None]]:
    """The executor, its number of workers, and how to shut it down (``workers=0``: this process)."""
    if cluster:
        from distributed import Client

        client = Client(cluster)
        slots = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values()) or 1
        return client.get_executor(pure=False), slots, client.close
    if workers == 0:
        return InlineExecutor(), 1, lambda: None
    slots = workers or os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    # workers start in the thread that submits (Python 3.12, spawn): the death signal below follows
    # that thread, so a pool must be made and fed from a thread that outlives it (here: the main one)
    pool = cf.ProcessPoolExecutor(slots, mp_context=context, initializer=_end_with_the_driver, initargs=(os.getpid(),))
    return pool, slots, lambda: pool.shutdown(cancel_futures=True)


def _end_with_the_driver(driver_pid: int) -> None:
    """A pool worker's first act: on Linux, ask the kernel to end it when the driver dies.

    A driver killed outright (SIGKILL, or SIGTERM before its shutdown runs) would otherwise leave its
    workers running the runs it had asked for, taking the cores from the next command. A driver that
    died while the worker was starting is caught by the parent check.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1  # from <sys/prctl.h>
        if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM) != 0:
            return  # not granted: the worker runs on as before, ended by the pool's shutdown
    if os.getppid() != driver_pid:
        os._exit(1)


def _write_file(folder: Path, name: str, data: bytes) -> None:
    """Write a run's file into ``folder`` (made when missing), atomically."""
    folder.mkdir(exist_ok=True)
    write_bytes(folder / name, data)


def read_summaries(folder: Path, run_ids: list[str]) -> list[dict[str, Any]]:
    """The ``summary.json`` of each of these runs of a sweep folder."""
    return [json.loads((folder / SUMMARY_DIR / f"{run_id}.json").read_text()) for run_id in run_ids]


def write_runs_table(folder: Path, ledger: Ledger, values_by_run: dict[str, dict[str, Any]]) -> Path:
    """Write ``runs.parquet``: parameters + seed + outcomes, one row per finished run."""
    rows = [{**row, **values_by_run.get(row["run_id"], {})} for row in ledger.done_rows()]
    frame = pd.DataFrame(rows)
    if not frame.empty:
        ids = ["run_id", "point", "replicate", "seed"]
        params = sorted({k for v in values_by_run.values() for k in v})
        rest = sorted(c for c in frame.columns if c not in ids and c not in params)
        frame = frame[ids + params + rest]
    return write_bytes(folder / RUNS_TABLE, frame.to_parquet(index=False))


def sweep(
    experiment_name: str | Path | Experiment,
    folder: Path,
    *,
    workers: int | None = None,
    cluster: str | None = None,
    quiet: bool = False,
    stream: TextIO = sys.stderr,
) -> int:
    """Run (or resume) every run of an experiment into ``folder``; 0 when none failed, else 1."""
    experiment = experiment_name if isinstance(experiment_name, Experiment) else load_experiment(experiment_name)
    scenario = load_scenario(experiment.scenario, experiment.set)
    runs = plan(experiment, scenario.sha256())
    folder.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(folder)
    try:
        known = ledger.meta()
        described = experiment.model_dump(mode="json")
        if known and known.get("experiment") != described:
            raise ExperimentError(
                f"{folder}: already holds a different experiment ({known['experiment']['name']}, or the same with "
                "other parameters or overrides); use a new folder"
            )
        if known and known.get("scenario_sha256") != scenario.sha256():
            raise ExperimentError(
                f"{folder}: the scenario {experiment.scenario} has changed since this sweep began; "
                "use a new folder (its runs would not be comparable)"
            )
        if not known:
            ledger.set_meta(
                {
                    "experiment": described,
                    "scenario_sha256": scenario.sha256(),
                    "version": code_version(),
                    "git": git_commit(),
                    "created": time.time(),
                    "runs": len(runs),
                }
            )
        ledger.register((r.run_id, r.point, r.replicate, r.seed) for r in runs)
        ledger.requeue_interrupted()
        status = ledger.statuses()
        todo = [r for r in runs if status[r.run_id] == "pending"]
        progress = Progress(len(runs), len(runs) - len(todo), quiet, stream)
        if todo:
            _run_pending(folder, experiment.scenario, todo, ledger, progress, workers, cluster)
        progress.close()
        write_runs_table(folder, ledger, {r.run_id: r.values for r in runs})
        return 1 if ledger.counts()["failed"] else 0
    finally:
        ledger.close()


def _run_pending(
    folder: Path,
    scenario_name: str,
    todo: list[RunSpec],
    ledger: Ledger,
    progress: Progress,
    workers: int | None,
    cluster: str | None,
) -> None:
    """Run ``todo``, writing each run's files and ledger row as it ends (the batch committed before each wait)."""
    jobs = [
        (spec, {"run_id": spec.run_id, "scenario": scenario_name, "overrides": spec.overrides, "seed": spec.seed})
        for spec in todo
    ]
    executor, slots, shutdown = make_executor(workers, cluster)
    try:
        for spec, future in in_window(
            executor, slots, jobs, submitted=lambda spec: ledger.mark_running(spec.run_id), waiting=ledger.commit
        ):
            error = future.exception()
            if error is None:
                result = future.result()
                _write_file(folder / SERIES_DIR, f"{spec.run_id}.parquet", result.pop("series"))
                _write_file(folder / SUMMARY_DIR, f"{spec.run_id}.json", result.pop("summary"))
                ledger.record_done(
                    spec.run_id, result["outcomes"], result["started"], result["ended"], result["worker"]
                )
            else:
                text = "".join(traceback.format_exception_only(type(error), error)).strip()
                ledger.record_failed(spec.run_id, text, time.time())
            progress.update(error is None)
    finally:
        ledger.commit()
        shutdown()


def in_window[K](
    executor: cf.Executor,
    slots: int,
    jobs: list[tuple[K, dict[str, Any]]],
    *,
    submitted: Callable[[K], None] = lambda key: None,
    waiting: Callable[[], None] = lambda: None,
) -> Iterator[tuple[K, cf.Future]]:
    """The one executor loop: ``execute`` each job's spec, at most ``slots * IN_FLIGHT_PER_WORKER`` at a time.

    Jobs are submitted in their order; each ``(key, future)`` is yielded as its run ends (in the order
    they end). ``submitted(key)`` is called as a job is handed over, ``waiting()`` before each wait for
    runs to end (a sweep commits its ledger there, so a crash loses at most the runs then in flight).
    """
    queue = list(reversed(jobs))
    in_flight: dict[cf.Future, K] = {}
    while queue or in_flight:
        while queue and len(in_flight) < slots * IN_FLIGHT_PER_WORKER:
            key, spec = queue.pop()
            in_flight[executor.submit(execute, spec)] = key
            submitted(key)
        waiting()
        finished, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
        for future in finished:
            yield in_flight.pop(future), future


def evaluate(
    scenario: str,
    base_set: list[str],
    points: list[dict[str, Any]],
    seeds: list[int],
    *,
    workers: int | None = None,
    cluster: str | None = None,
) -> pd.DataFrame:
    """Run every point with every seed (a bounded window in flight); one row of outcomes per run.

    For analyses that need points a design file cannot list (SALib's samples); nothing is stored,
    so an interrupted evaluation starts again.
    """
    executor, slots, shutdown = make_executor(workers, cluster)
    try:
        return evaluate_on(executor, slots, scenario, base_set, points, seeds)
    finally:
        shutdown()


def evaluate_on(
    executor: cf.Executor,
    slots: int,
    scenario: str,
    base_set: list[str],
    points: list[dict[str, Any]],
    seeds: list[int],
) -> pd.DataFrame:
    """``evaluate`` on an executor the caller keeps (and shuts down) across several evaluations."""
    jobs = [
        (
            (p, r, seed),
            {
                "run_id": f"p{p}r{r}",
                "scenario": scenario,
                "overrides": [*base_set, *(override_text(k, v) for k, v in points[p].items())],
                "seed": seed,
            },
        )
        for p in range(len(points))
        for r, seed in enumerate(seeds)
    ]
    rows = []
    for (p, r, seed), future in in_window(executor, slots, jobs):
        error = future.exception()
        if error is not None:
            raise RunFailedError(f"run of point {p}, seed {seed} failed: {type(error).__name__}: {error}")
        rows.append({"point": p, "replicate": r, "seed": seed, **points[p], **future.result()["outcomes"]})
    return pd.DataFrame(rows).sort_values(["point", "replicate"]).reset_index(drop=True)
