"""Running a sweep: every (point, replicate) of an experiment, on local processes or a Dask cluster.

The unit of work is ``sim.sweeps.worker.execute``: one run from its validated scenario (sent whole:
workers read no file, so a scenario file edited mid-sweep, or a worker's stale checkout, cannot
change a run; the worker checks the scenario's hash and returns it, and the driver checks it again)
and its seed; it returns the run's scalar outcomes, its summary (JSON bytes) and its per-step series
(columns, which the driver writes as Parquet), so workers need no file system shared with the
driver. One loop (``in_window``) keeps a bounded window of runs in flight on a
``concurrent.futures`` executor (a local process pool, or a ``distributed`` client's executor) for
sweeps and for evaluations (``evaluate``: points no design file lists, nothing stored). A run whose
worker died (a local pool breaks when one of its processes is killed, e.g. by the out-of-memory
killer; a cluster connection is lost) is run again on a renewed pool, first alone so that a run that
kills its worker is known: after ``MAX_WORKER_DEATHS`` such deaths it is recorded failed. A sweep's
driver (``sweep``) holds a lock on its folder (a second driver is refused), writes each series to
``series/<run_id>.parquet`` (the run's id a column of it) and each summary to
``summaries/<run_id>.json`` (under a temporary name, then renamed) as they arrive without holding
any, records each result in the ledger (committed per batch), and at the end writes, from the
ledger, ``runs.parquet`` (one row per finished run: parameters, seed, scalar outcomes) and
``by_day.parquet`` (one row per run and day), the tables analysis reads (``sim.outputs``). Resuming
on the same folder skips finished runs and reruns those left in flight; ``retry_failed`` reruns the
failed ones too.
"""

from __future__ import annotations

import concurrent.futures as cf
import fcntl
import json
import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from sim.installation import code_version
from sim.lifetime import child_pool
from sim.loading import LoadError
from sim.output import git_commit, write_bytes
from sim.outputs import series_parquet, write_runs
from sim.run import SCHEMA_VERSION, series_frame
from sim.sweeps.experiment import (
    Experiment,
    ExperimentError,
    RunSpec,
    ScenarioSource,
    load_experiment,
    override_text,
    plan,
)
from sim.sweeps.failures import RunFailedError
from sim.sweeps.ledger import LEDGER_NAME, Ledger
from sim.sweeps.worker import ScenarioMismatchError, execute

SERIES_DIR = "series"
SUMMARY_DIR = "summaries"
LOCK_NAME = "sweep.lock"
IN_FLIGHT_PER_WORKER = 4  # enough to keep workers busy, few enough not to flood a scheduler
MAX_WORKER_DEATHS = 3  # a run whose worker died this often (the last times running alone) is recorded failed
CLUSTER_CONNECT_SECONDS = 5  # also how long a lost connection is retried
CLUSTER_CHECK_SECONDS = 2.0


class WorkerDiedError(Exception):
    """The worker running a run died each time it ran it."""


class FolderError(LoadError):
    """A sweep folder that cannot be used (not a folder, not writable)."""


class FolderInUseError(FolderError):
    """A sweep folder that another live driver holds."""


class ClusterError(LoadError):
    """A ``--cluster`` address with no Dask scheduler reachable at it."""


def run_specs[K](
    source: ScenarioSource, runs: Iterable[tuple[K, list[str] | tuple[str, ...], int, str]]
) -> Iterator[tuple[K, dict[str, Any]]]:
    """``(key, spec)`` for ``execute`` for each ``(key, overrides, seed, run_id)``, lazily (as the window takes them).

    Each scenario is validated once for consecutive runs with the same overrides (a point's replicates),
    so the driver holds the scenarios of the runs in flight only.
    """
    built: tuple[list[str] | tuple[str, ...], dict[str, Any], str] | None = None
    for key, overrides, seed, run_id in runs:
        if built is None or built[0] != overrides:
            scenario = source.build(overrides)
            built = (overrides, scenario.model_dump(), scenario.sha256())
        yield key, {"run_id": run_id, "scenario": built[1], "scenario_sha256": built[2], "seed": seed}


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
        """Print done, failed, and the rate and time left (while some run is left and some has ended)."""
        elapsed = time.time() - self.started
        ran = self.done - self.done_at_start
        text = f"sweep: {self.done}/{self.total} done, {self.failed} failed"
        if ran == 0 and self.done == self.total:
            text += " (all done already)"
        elif ran > 0 and elapsed > 0:
            rate = ran / elapsed * 60
            text += f", {rate:.1f} runs/min, {(self.total - self.done) / rate:.1f} min left"
        print(text, file=self.stream, flush=True)
        self.last_line = time.time()

    def close(self) -> None:
        """End the bar or print a last line."""
        if self.bar is not None:
            self.bar.close()
        elif not self.quiet:
            self.line()


class ClusterLostError(RunFailedError):
    """The Dask client gave up on its scheduler: the runs in flight run again on resuming."""


class ClusterExecutor(cf.Executor):
    """A Dask client's executor that tells when the client has given up on its scheduler.

    The client reconnects by itself for a while (cancelling the runs in flight, which run again);
    once it has closed, the futures still awaited would never end.
    """

    def __init__(self, client: Any, address: str) -> None:
        self.client, self.address = client, address
        self.executor = client.get_executor(pure=False)

    def check(self) -> None:
        """Raise ClusterLostError once the client has closed."""
        if self.client.status in ("closing", "closed"):
            raise ClusterLostError(
                f"--cluster {self.address}: the connection to the scheduler was lost; "
                "run the same command again to resume"
            )

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        """Submit to the cluster (ClusterLostError once the client has closed)."""
        self.check()
        return self.executor.submit(fn, *args, **kwargs)


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


class LocalPool(cf.Executor):
    """A local process pool that can be renewed: one killed process breaks a ``ProcessPoolExecutor`` for good."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        # workers start in the thread that submits (Python 3.12, spawn): their death signal follows
        # that thread, so a pool must be made and fed from a thread that outlives it (here: the main one)
        return child_pool(self.workers)

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        """Submit to the current pool."""
        return self.pool.submit(fn, *args, **kwargs)

    def renew(self) -> None:
        """Replace a broken pool by a fresh one."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = self._start()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the current pool down."""
        self.pool.shutdown(wait, cancel_futures=cancel_futures)


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def make_executor(
    workers: int | None, cluster: str | None, runs: int | None = None
) -> tuple[cf.Executor, int, Callable[[], None]]:
    """The executor, its number of workers, and how to shut it down (``workers=0``: this process).

    Local workers are capped at the cores (with a warning on stderr when more were asked for) and at
    ``runs``; a ``cluster`` with no scheduler reachable raises ClusterError within seconds.
    """
    if cluster is not None:
        from distributed import Client

        try:
            client = Client(cluster, timeout=CLUSTER_CONNECT_SECONDS)
        except (OSError, ValueError, TypeError) as exc:
            raise ClusterError(f"--cluster {cluster}: no Dask scheduler reachable there: {exc}") from None
        slots = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values()) or 1
        return ClusterExecutor(client, cluster), slots, client.close
    if workers == 0:
        return InlineExecutor(), 1, lambda: None
    cores = usable_cores()
    if workers is not None and workers > cores:
        print(
            f"qusayr: warning: --workers {workers} is more than the {cores} cores here; using {cores}",
            file=sys.stderr,
        )
    slots = max(1, min(workers or cores, cores, runs if runs is not None else cores))
    pool = LocalPool(slots)
    return pool, slots, lambda: pool.shutdown(cancel_futures=True)


def _write_file(folder: Path, name: str, data: bytes) -> None:
    """Write a run's file into ``folder`` (made when missing), atomically."""
    folder.mkdir(exist_ok=True)
    write_bytes(folder / name, data)


def read_summaries(folder: Path, run_ids: list[str]) -> list[dict[str, Any]]:
    """The ``summary.json`` of each of these runs of a sweep folder."""
    return [json.loads((folder / SUMMARY_DIR / f"{run_id}.json").read_text()) for run_id in run_ids]


def write_runs_table(folder: Path, ledger: Ledger, values_by_run: dict[str, dict[str, Any]]) -> tuple[Path, Path]:
    """Write ``runs.parquet`` and ``by_day.parquet`` (``sim.outputs.write_runs``) of the ledger's finished runs."""
    rows = [{**row, **values_by_run.get(row["run_id"], {})} for row in ledger.done_rows()]
    parameters = sorted({k for v in values_by_run.values() for k in v})
    return write_runs(folder, rows, parameters)


def lock_folder(folder: Path) -> int:
    """Hold ``folder`` for this driver (a lock the kernel drops when the process dies); the lock's descriptor.

    Raises FolderInUseError when a live driver holds it. The lock file stays: removing it could let
    two drivers lock two different files of the same name.
    """
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderInUseError(f"{folder}: another qusayr command is running a sweep in this folder") from None
    return fd


def sweep(
    experiment_name: str | Path | Experiment,
    folder: Path,
    *,
    workers: int | None = None,
    cluster: str | None = None,
    quiet: bool = False,
    stream: TextIO = sys.stderr,
    retry_failed: bool = False,
) -> int:
    """Run (or resume) every run of an experiment into ``folder``; 0 when none failed, else 1.

    Bad input (the experiment, its points, a damaged ledger, a folder another driver holds, an
    unreachable cluster) raises a LoadError before anything is written.
    """
    experiment = experiment_name if isinstance(experiment_name, Experiment) else load_experiment(experiment_name)
    source = ScenarioSource.read(experiment.scenario)
    scenario_sha256 = source.build(experiment.set).sha256()
    runs = plan(experiment, scenario_sha256)
    if (folder / LEDGER_NAME).exists():
        Ledger(folder, read_only=True).close()  # a damaged ledger is refused before the lock file is made
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"{folder}: not a folder (a sweep needs one of its own)")
    executor, slots, shutdown = make_executor(workers, cluster, len(runs))
    lock = ledger = None
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = lock_folder(folder)
        except OSError as exc:
            raise FolderError(f"{folder}: cannot write the sweep folder: {exc.strerror}") from None
        ledger = Ledger(folder)
        known = ledger.meta()
        described = experiment.model_dump(mode="json")
        if known and known.get("experiment") != described:
            raise ExperimentError(
                f"{folder}: already holds a different experiment ({known['experiment']['name']}, or the same with "
                "other parameters or overrides); use a new folder"
            )
        if known and known.get("scenario_sha256") != scenario_sha256:
            raise ExperimentError(
                f"{folder}: the scenario {experiment.scenario} has changed since this sweep began; "
                "use a new folder (its runs would not be comparable)"
            )
        if not known:
            ledger.set_meta(
                {
                    "experiment": described,
                    "scenario_sha256": scenario_sha256,
                    "version": code_version(),
                    "schema_version": SCHEMA_VERSION,
                    "git": git_commit(),
                    "created": time.time(),
                    "runs": len(runs),
                }
            )
        ledger.register((r.run_id, r.point, r.replicate, r.seed) for r in runs)
        ledger.requeue_interrupted()
        if retry_failed:
            ledger.requeue_failed()
        status = ledger.statuses()
        todo = [r for r in runs if status[r.run_id] == "pending"]
        progress = Progress(len(runs), len(runs) - len(todo), quiet, stream)
        if todo:
            _run_pending(folder, source, todo, ledger, progress, executor, slots)
        progress.close()
        write_runs_table(folder, ledger, {r.run_id: r.values for r in runs})
        return 1 if ledger.counts()["failed"] else 0
    finally:
        shutdown()
        if ledger is not None:
            ledger.close()
        if lock is not None:
            os.close(lock)


def _run_pending(
    folder: Path,
    source: ScenarioSource,
    todo: list[RunSpec],
    ledger: Ledger,
    progress: Progress,
    executor: cf.Executor,
    slots: int,
) -> None:
    """Run ``todo``, writing each run's files and ledger row as it ends (the batch committed before each wait)."""
    jobs = run_specs(source, ((spec, spec.overrides, spec.seed, spec.run_id) for spec in todo))
    try:
        for spec, sent, future in in_window(
            executor, slots, jobs, submitted=lambda spec: ledger.mark_running(spec.run_id), waiting=ledger.commit
        ):
            result, error = outcome(sent, future)
            if result is not None:
                series = series_parquet(series_frame(result.pop("series")), spec.run_id)
                _write_file(folder / SERIES_DIR, f"{spec.run_id}.parquet", series)
                _write_file(folder / SUMMARY_DIR, f"{spec.run_id}.json", result.pop("summary"))
                ledger.record_done(
                    spec.run_id, result["outcomes"], result["started"], result["ended"], result["worker"]
                )
            else:
                text = "".join(traceback.format_exception_only(type(error), error)).strip()
                ledger.record_failed(spec.run_id, text, time.time())
            progress.update(result is not None)
    finally:
        ledger.commit()


def outcome(sent: dict[str, Any], future: cf.Future) -> tuple[dict[str, Any] | None, BaseException | None]:
    """A finished run's result, or its error; a result of another scenario than the one sent is an error."""
    error = future.exception()
    if error is not None:
        return None, error
    result = future.result()
    if result.get("scenario_sha256") != sent["scenario_sha256"]:
        return None, ScenarioMismatchError(
            f"the worker ran the scenario {str(result.get('scenario_sha256'))[:12]}, "
            f"not the one sent ({sent['scenario_sha256'][:12]})"
        )
    return result, None


def _worker_lost(future: cf.Future) -> bool:
    """Whether the run's worker (or the way to it) was lost, rather than the run failing by itself.

    A local pool that lost a process fails every run in flight with BrokenProcessPool; a Dask client
    that lost its scheduler cancels them. (A Dask worker's death the scheduler handles itself: it
    runs the task elsewhere, and fails it with KilledWorker after its ``allowed-failures``.)
    """
    return future.cancelled() or isinstance(future.exception(), BrokenProcessPool)


def in_window[K](
    executor: cf.Executor,
    slots: int,
    jobs: Iterable[tuple[K, dict[str, Any]]],
    *,
    submitted: Callable[[K], None] = lambda key: None,
    waiting: Callable[[], None] = lambda: None,
    task: Callable[[dict[str, Any]], Any] = execute,
) -> Iterator[tuple[K, dict[str, Any], cf.Future]]:
    """The one executor loop: ``task`` (``execute``) each spec, at most ``slots * IN_FLIGHT_PER_WORKER`` at a time.

    Jobs are taken in their order (lazily); each ``(key, spec, future)`` is yielded once, as its run
    ends (in the order they end). A run whose worker was lost is not yielded but run again: after a
    local pool broke, the pool is renewed and each run it had in flight runs alone, so that a run
    which kills its worker is known; one whose worker (or cluster connection) was lost
    ``MAX_WORKER_DEATHS`` times is yielded with WorkerDiedError, so that nothing loops for ever.
    ``submitted(key)`` is called as a job is handed over, ``waiting()`` before each wait for runs to
    end (a sweep commits its ledger there, so a crash loses at most the runs then in flight).
    """
    fresh = iter(jobs)
    again: deque[tuple[K, dict[str, Any], int]] = deque()  # lost with a cluster connection: run as before
    alone: deque[tuple[K, dict[str, Any], int]] = deque()  # in flight when a pool broke: one at a time
    in_flight: dict[cf.Future, tuple[K, dict[str, Any], int]] = {}

    def submit(job: tuple[K, dict[str, Any], int]) -> None:
        in_flight[executor.submit(task, job[1])] = job
        submitted(job[0])

    while True:
        if alone:
            if not in_flight:
                submit(alone.popleft())
        else:
            while len(in_flight) < slots * IN_FLIGHT_PER_WORKER:
                if again:
                    submit(again.popleft())
                elif (job := next(fresh, None)) is not None:
                    submit((*job, 0))
                else:
                    break
        if not in_flight:
            return
        waiting()
        finished = _wait(executor, in_flight)
        broken = any(isinstance(f.exception(), BrokenProcessPool) for f in finished if not f.cancelled())
        if broken:  # every run in flight was on the broken pool: wait for each to end, then renew it
            finished, _ = cf.wait(in_flight)
            if isinstance(executor, LocalPool):
                executor.renew()
        for future in finished:
            key, spec, deaths = in_flight.pop(future)
            if not _worker_lost(future):
                yield key, spec, future
            elif deaths + 1 < MAX_WORKER_DEATHS:
                (again if future.cancelled() else alone).append((key, spec, deaths + 1))
            elif future.cancelled():
                lost = f"the connection to the cluster was lost all {MAX_WORKER_DEATHS} times it ran"
                yield key, spec, _failed(WorkerDiedError(lost))
            else:
                died = WorkerDiedError(
                    f"its worker process died all {MAX_WORKER_DEATHS} times it ran, the last "
                    f"{MAX_WORKER_DEATHS - 1} alone (killed: out of memory?)"
                )
                yield key, spec, _failed(died)


def _wait(executor: cf.Executor, in_flight: dict[cf.Future, Any]) -> set[cf.Future]:
    """The futures that have ended, once one has (on a cluster, checking now and then that it is still there)."""
    while True:
        finished, _ = cf.wait(in_flight, timeout=CLUSTER_CHECK_SECONDS, return_when=cf.FIRST_COMPLETED)
        if finished:
            return finished
        if isinstance(executor, ClusterExecutor):
            executor.check()


def _failed(error: Exception) -> cf.Future:
    """A finished future holding ``error``."""
    future: cf.Future = cf.Future()
    future.set_exception(error)
    return future


def evaluation_run_id(point: int, replicate: int) -> str:
    """The id of an evaluation's run (``evaluate``): its point's and replicate's numbers."""
    return f"p{point}r{replicate}"


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
    executor, slots, shutdown = make_executor(workers, cluster, len(points) * len(seeds))
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
    """``evaluate`` on an executor the caller keeps (and shuts down) across several evaluations.

    The scenario file is read once; each point's scenario is validated in this process and sent whole.
    """
    source = ScenarioSource.read(scenario)
    jobs = run_specs(
        source,
        (
            (
                (p, r, seed),
                [*base_set, *(override_text(k, v) for k, v in points[p].items())],
                seed,
                evaluation_run_id(p, r),
            )
            for p in range(len(points))
            for r, seed in enumerate(seeds)
        ),
    )
    rows = []
    for (p, r, seed), sent, future in in_window(executor, slots, jobs):
        result, error = outcome(sent, future)
        if error is not None:
            raise RunFailedError(f"run of point {p}, seed {seed} failed: {type(error).__name__}: {error}")
        rows.append({"point": p, "replicate": r, "seed": seed, **points[p], **result["outcomes"]})
    return pd.DataFrame(rows).sort_values(["point", "replicate"]).reset_index(drop=True)
