import concurrent.futures as cf
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from sim.cli import main
from sim.outputs import BY_DAY_TABLE, RUNS_TABLE, read_runs
from sim.run import run
from sim.scenario import Scenario, list_scenarios, load_scenario
from sim.sweeps import worker
from sim.sweeps.experiment import ExperimentError, experiment_path, load_experiment, plan
from sim.sweeps.ledger import LEDGER_NAME, Ledger, LedgerError
from sim.sweeps.runner import (
    IN_FLIGHT_PER_WORKER,
    SERIES_DIR,
    ClusterLostError,
    InlineExecutor,
    Progress,
    WorkerDiedError,
    in_window,
    make_executor,
    outcome,
    sweep,
    usable_cores,
)
from sim.sweeps.worker import ScenarioMismatchError, execute
from tests.pool_tasks import kill_when_asked


def smoke(tmp_path: Path, **changes) -> Path:
    """A copy of experiments/smoke.yaml with some fields changed."""
    raw = yaml.safe_load(experiment_path("smoke").read_text())
    raw.update(changes)
    path = tmp_path / f"smoke-{abs(hash(json.dumps(changes, sort_keys=True, default=str)))}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def ledger_rows(folder: Path) -> list[tuple]:
    db = sqlite3.connect(folder / LEDGER_NAME)
    try:
        return list(db.execute("SELECT run_id, point, replicate, seed, status, outcomes FROM runs ORDER BY run_id"))
    finally:
        db.close()


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The smoke sweep run once, uninterrupted, on two local processes."""
    out = tmp_path_factory.mktemp("whole") / "sweep"
    assert sweep("smoke", out, workers=2, quiet=True) == 0
    return out


def test_shipped_experiments_load():
    for name in ("smoke", "force-ratio", "corridor"):
        experiment = load_experiment(name)
        assert experiment.name == name


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"parameters": [{"path": "forces.army.colour", "low": 1, "high": 2}]}, "forces.army.colour: Extra inputs"),
        ({"parameters": [{"path": "forces.army.fighters", "low": 6000, "high": 4000}]}, "bounds reversed"),
        ({"design": "nolh", "points": 5}, "at least 17 points"),
        ({"replicates": 0}, "replicates"),
        ({"design": "fancy"}, "design"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_experiments_are_refused_before_anything_runs(tmp_path, changes, fragment, capsys):
    path = smoke(tmp_path, **changes)
    with pytest.raises(ExperimentError, match=fragment) as info:
        load_experiment(path)
    assert str(info.value).startswith(f"{path}: ")
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert fragment.split()[0] in err
    assert not out.exists()


def test_a_given_design_runs_the_points_it_lists(tmp_path):
    low, high = 4000, 6000
    parameters = [{"path": "forces.army.fighters", "low": low, "high": high}]
    given = [{"forces.army.fighters": 4500.0}, {"forces.army.fighters": 5900.0}]
    path = smoke(tmp_path, parameters=parameters, design="given", given=given, points=2)
    assert [spec.values for spec in plan(load_experiment(path), "sha")[::2]] == given  # two replicates a point


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"design": "given", "points": 1}, "give the points"),
        ({"given": [{"forces.army.fighters": 4500.0}], "points": 1}, "give the points"),
        ({"design": "given", "given": [{"forces.army.fighters": 4500.0}], "points": 2}, "2 but 1 points"),
        ({"design": "given", "given": [{"forces.army.fighters": 7000.0}], "points": 1}, "outside"),
        ({"design": "given", "given": [{"forces.rebels.fighters": 1.0}], "points": 1}, "not the bounded"),
    ],
)
def test_bad_given_points_are_refused(tmp_path, changes, fragment):
    parameters = [{"path": "forces.army.fighters", "low": 4000, "high": 6000}]
    with pytest.raises(ExperimentError, match=fragment):
        load_experiment(smoke(tmp_path, parameters=parameters, **changes))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (None, "no such experiment file"),
        ("name: [", "not valid YAML"),
        ("- smoke\n", "the experiment file must hold a mapping"),
    ],
)
def test_a_missing_or_unreadable_experiment_file_is_refused(tmp_path, text, fragment, capsys):
    path = tmp_path / "experiment.yaml"
    if text is not None:
        path.write_text(text)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert f"{path}: {fragment}" in capsys.readouterr().err


def test_the_executor_loop_keeps_its_window_and_hands_back_every_job_once(tmp_path):
    events = []
    broken = {"run_id": "", "scenario": {}, "scenario_sha256": "", "seed": 1}  # each run fails at once, here
    jobs = [(i, {**broken, "run_id": str(i)}) for i in range(11)]
    for key, _, future in in_window(
        InlineExecutor(),
        1,
        jobs,
        submitted=lambda key: events.append(("submitted", key)),
        waiting=lambda: events.append(("waiting", None)),
    ):
        assert isinstance(future.exception(), ValidationError)
        events.append(("ended", key))
    assert [key for kind, key in events if kind == "submitted"] == list(range(11))
    assert sorted(key for kind, key in events if kind == "ended") == list(range(11))
    in_flight, peak, waited = 0, 0, False
    for kind, _ in events:
        in_flight += {"submitted": 1, "ended": -1}.get(kind, 0)
        peak = max(peak, in_flight)
        waited = kind == "waiting" or (waited and kind == "ended")
        assert waited or kind != "ended", "a run is handed back only after the loop waited"
    assert peak == IN_FLIGHT_PER_WORKER


def test_seeds_depend_only_on_the_experiment_point_and_replicate(tmp_path):
    experiment = load_experiment("smoke")
    sha = load_scenario(experiment.scenario, experiment.set).sha256()
    first, again = plan(experiment, sha), plan(experiment, sha)
    assert first == again
    more = plan(load_experiment(smoke(tmp_path, replicates=3)), sha)
    seeds = {(r.point, r.replicate): r.seed for r in more}
    assert all(seeds[(r.point, r.replicate)] == r.seed for r in first)
    assert len({r.seed for r in first}) == len(first)
    assert len({r.run_id for r in first}) == len(first)


def test_a_local_sweep_records_every_run_and_writes_the_tidy_tables(whole, capsys):
    out = whole
    runs = pd.read_parquet(out / RUNS_TABLE)
    assert len(runs) == 8
    assert {"run_id", "point", "replicate", "seed", "forces.army.fighters", "fall_day", "killed_rebels"} <= set(
        runs.columns
    )
    assert not [c for c in runs.columns if c.startswith("gov_share")]  # per day: in by_day.parquet
    by_day = pd.read_parquet(out / BY_DAY_TABLE)
    assert by_day.groupby("run_id")["day"].agg(list).to_dict() == {run_id: [0, 1] for run_id in runs["run_id"]}
    assert runs["forces.army.fighters"].between(4000, 6000).all()
    assert len(list((out / SERIES_DIR).glob("*.parquet"))) == 8
    assert not list((out / SERIES_DIR).glob(".*.tmp"))
    assert Ledger(out, read_only=True).counts()["done"] == 8
    assert main(["status", str(out)]) == 0
    status = capsys.readouterr().out
    assert "8 done, 0 failed, 0 pending" in status
    # a second call on the same folder runs nothing again, and says where the results are
    before = ledger_rows(out)
    assert main(["sweep", "smoke", "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert ledger_rows(out) == before
    assert capsys.readouterr().out.startswith(f"written to {out}/ (runs.parquet")
    assert main(["plot", str(out)]) == 0
    assert (out / "plots" / "sector-bands.png").is_file()
    assert len(list((out / "plots").glob("fall_day-vs-*.png"))) == 2


def test_a_failing_run_stays_failed_until_retried_on_request(whole, tmp_path, capsys, monkeypatch):
    unlucky = sorted(pd.read_parquet(whole / RUNS_TABLE)["seed"])[:2]

    def run_failing_for_two_seeds(scenario, seed):
        if seed in unlucky:
            raise RuntimeError(f"the model broke on seed {seed}")
        return run(scenario, seed)

    out = tmp_path / "sweep"
    monkeypatch.setattr(worker, "run", run_failing_for_two_seeds)
    assert main(["sweep", "smoke", "--out", str(out), "--workers", "0", "--quiet"]) == 1
    assert Ledger(out, read_only=True).counts() == {"pending": 0, "running": 0, "done": 6, "failed": 2}
    assert len(pd.read_parquet(out / RUNS_TABLE)) == 6
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    report = capsys.readouterr().out
    assert report.count("failed: ") == 2
    assert "RuntimeError: the model broke on seed" in report
    monkeypatch.setattr(worker, "run", run)  # the cause is gone; a plain resume still leaves the failures alone
    assert main(["sweep", "smoke", "--out", str(out), "--workers", "0", "--quiet"]) == 1
    assert Ledger(out, read_only=True).counts()["failed"] == 2
    assert main(["sweep", "smoke", "--out", str(out), "--workers", "0", "--quiet", "--retry-failed"]) == 0
    assert Ledger(out, read_only=True).counts() == {"pending": 0, "running": 0, "done": 8, "failed": 0}
    pd.testing.assert_frame_equal(read_runs(out), read_runs(whole))


def test_a_sweep_killed_with_sigkill_resumes_to_the_same_result(whole, tmp_path):
    broken = tmp_path / "broken"
    command = [sys.executable, "-m", "sim.cli", "sweep", "smoke", "--out", str(broken), "--workers", "1", "--quiet"]
    proc = subprocess.Popen(command, start_new_session=True)
    deadline = time.time() + 60
    done = 0
    while time.time() < deadline and done < 2:
        time.sleep(0.05)  # short: the smoke runs are quick, and a slow poll can find the sweep already done
        if (broken / LEDGER_NAME).exists():
            try:
                done = Ledger(broken, read_only=True).counts()["done"]
            except (sqlite3.Error, LedgerError):  # the driver is making it
                done = 0
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker, mid-sweep
    proc.wait()
    assert 2 <= done < 8, "the sweep should have been killed part-way"
    assert sweep("smoke", broken, workers=1, quiet=True) == 0
    assert ledger_rows(broken) == ledger_rows(whole)
    pd.testing.assert_frame_equal(read_runs(broken), read_runs(whole))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_pool_workers_end_when_their_driver_is_killed():
    driver = (
        "import os, time\n"
        "from sim.sweeps.runner import make_executor\n"
        "pool, _, _ = make_executor(1, None)\n"
        "print(pool.submit(os.getpid).result(), flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True) as proc:
        worker = int(proc.stdout.readline())
        proc.kill()  # the driver alone, with no chance to shut its pool down
    deadline = time.time() + 20
    while time.time() < deadline and _running(worker):
        time.sleep(0.1)
    assert not _running(worker)


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie no one has reaped yet does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_a_folder_holding_another_experiment_is_refused(whole, tmp_path):
    before = ledger_rows(whole)
    with pytest.raises(ExperimentError, match="different experiment"):
        sweep(smoke(tmp_path, master_seed=7), whole, workers=1, quiet=True)
    assert ledger_rows(whole) == before


def test_a_dask_cluster_gives_the_same_outcomes_as_local_processes(whole, tmp_path):
    distributed = pytest.importorskip("distributed")
    local, remote = whole, tmp_path / "dask"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert sweep("smoke", remote, cluster=cluster.scheduler_address, quiet=True) == 0
    pd.testing.assert_frame_equal(read_runs(local), read_runs(remote))


def test_a_dask_worker_killed_mid_sweep_still_runs_everything_once(whole, tmp_path):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "dask-killed"
    results = {}
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        import threading

        worker = threading.Thread(
            target=lambda: results.setdefault(
                "status", sweep("smoke", out, cluster=cluster.scheduler_address, quiet=True)
            )
        )
        worker.start()
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(0.1)
            if (out / LEDGER_NAME).exists():
                try:
                    if Ledger(out, read_only=True).counts()["done"] >= 1:
                        break
                except (sqlite3.Error, LedgerError):  # the driver is making it
                    pass
        pids = client.run(os.getpid)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        worker.join(timeout=120)
    assert results["status"] == 0
    assert Ledger(out, read_only=True).counts() == {"pending": 0, "running": 0, "done": 8, "failed": 0}
    pd.testing.assert_frame_equal(read_runs(out), read_runs(whole))


def test_a_folder_whose_scenario_has_changed_is_refused(tmp_path):
    scenario = tmp_path / "mine.yaml"
    base = experiment_path("smoke").parent.parent / "scenarios" / "al-qusayr-2013.yaml"
    scenario.write_text(f"base: {base}\nname: mine\n")
    experiment = smoke(tmp_path, scenario=str(scenario), points=1, replicates=1, parameters=[])
    folder = tmp_path / "sweep"
    assert sweep(experiment, folder, workers=0, quiet=True) == 0
    scenario.write_text(f"base: {base}\nname: mine\nforces:\n  rebels:\n    fighters: 2000\n")
    with pytest.raises(ExperimentError, match="has changed since this sweep began"):
        sweep(experiment, folder, workers=0, quiet=True)


def wait_for_done(folder: Path, runs: int, deadline_s: float = 120) -> int:
    """Poll a live sweep's ledger until at least ``runs`` are done; how many are."""
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if (folder / LEDGER_NAME).exists():
            try:
                done = Ledger(folder, read_only=True).counts()["done"]
            except (sqlite3.Error, LedgerError):  # the driver is making it
                done = 0
            if done >= runs:
                return done
        time.sleep(0.05)
    pytest.fail(f"{folder}: fewer than {runs} runs done after {deadline_s} s")


def sweep_process(experiment: str, out: Path, workers: int) -> subprocess.Popen:
    """``qusayr sweep`` in a child process."""
    command = [sys.executable, "-m", "sim.cli", "sweep", experiment, "--out", str(out), "--workers", str(workers)]
    return subprocess.Popen([*command, "--quiet"], stderr=subprocess.PIPE, text=True)


def test_a_killed_pool_worker_loses_no_run(whole, tmp_path):
    out = tmp_path / "killed-worker"
    proc = sweep_process("smoke", out, 2)
    assert wait_for_done(out, 1) < 8, "the worker should be killed mid-sweep"
    db = sqlite3.connect(out / LEDGER_NAME)
    worker = db.execute("SELECT worker FROM runs WHERE status = 'done' LIMIT 1").fetchone()[0]
    db.close()
    os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)  # as the out-of-memory killer would
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert err == ""
    assert Ledger(out, read_only=True).counts() == {"pending": 0, "running": 0, "done": 8, "failed": 0}
    assert ledger_rows(out) == ledger_rows(whole)
    pd.testing.assert_frame_equal(read_runs(out), read_runs(whole))


def test_a_run_that_kills_its_worker_is_failed_once_it_killed_it_alone():
    pool, slots, shutdown = make_executor(2, None)
    try:
        jobs = [(n, {"n": n, "kill": n == 3}) for n in range(6)]  # all six in flight at once
        ended = {key: future for key, _, future in in_window(pool, slots, jobs, task=kill_when_asked)}
    finally:
        shutdown()
    assert sorted(ended) == list(range(6))
    assert isinstance(ended[3].exception(), WorkerDiedError)
    assert "died all 3 times" in str(ended[3].exception())
    assert all(ended[n].result() == n for n in ended if n != 3), "the runs beside it are not blamed"


def test_runs_an_older_driver_failed_because_their_worker_died_run_again(whole, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(whole, out)
    db = sqlite3.connect(out / LEDGER_NAME)
    lost = [r for (r,) in db.execute("SELECT run_id FROM runs ORDER BY run_id LIMIT 3")]
    db.executemany(
        "UPDATE runs SET status = 'failed', outcomes = NULL, error = ? WHERE run_id = ?",
        [("BrokenProcessPool: A process in the process pool was terminated abruptly", r) for r in lost],
    )
    db.commit()
    db.close()
    for run_id in lost:
        (out / SERIES_DIR / f"{run_id}.parquet").unlink()
    assert sweep("smoke", out, workers=1, quiet=True) == 0
    assert ledger_rows(out) == ledger_rows(whole)
    assert all((out / SERIES_DIR / f"{run_id}.parquet").is_file() for run_id in lost)
    pd.testing.assert_frame_equal(read_runs(out), read_runs(whole))


def test_a_scenario_edited_mid_sweep_changes_no_run(whole, tmp_path):
    shipped = experiment_path("smoke").parent.parent / "scenarios" / "al-qusayr-2013.yaml"
    scenario = tmp_path / "al-qusayr-2013.yaml"
    scenario.write_text(shipped.read_text())
    experiment = smoke(tmp_path, scenario=str(scenario))
    out = tmp_path / "edited"
    proc = sweep_process(str(experiment), out, 1)
    assert wait_for_done(out, 1) < 8, "the scenario should be edited mid-sweep"
    edited = scenario.read_text().replace("fighters: 1900", "fighters: 2600")
    assert edited != scenario.read_text()
    scenario.write_text(edited)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert ledger_rows(out) == ledger_rows(whole)
    pd.testing.assert_frame_equal(read_runs(out), read_runs(whole))


@pytest.mark.parametrize("name", list_scenarios())
def test_a_scenario_sent_whole_hashes_as_it_did(name):
    scenario = load_scenario(name)
    assert Scenario.model_validate(scenario.model_dump()).sha256() == scenario.sha256()


def test_a_worker_refuses_a_scenario_that_does_not_hash_as_sent():
    scenario = load_scenario("al-qusayr-2013")
    spec = {"run_id": "x", "scenario": scenario.model_dump(), "scenario_sha256": "0" * 64, "seed": 1}
    with pytest.raises(ScenarioMismatchError, match="hashes to"):
        execute(spec)
    ran = cf.Future()
    ran.set_result({"scenario_sha256": "1" * 64})
    result, error = outcome(spec, ran)
    assert result is None
    assert isinstance(error, ScenarioMismatchError)


def test_status_reads_a_read_only_copy_of_a_sweep(whole, tmp_path):
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no user and mount namespaces here to make a read-only folder")
    live = tmp_path / "live"
    shutil.copytree(whole, live)
    db = sqlite3.connect(live / LEDGER_NAME)  # a commit still in the log (-wal), as a copy may catch it
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("UPDATE runs SET status = 'failed', error = 'planted' WHERE run_id = (SELECT MIN(run_id) FROM runs)")
    db.commit()
    copy = tmp_path / "copy"
    shutil.copytree(live, copy, ignore=shutil.ignore_patterns("*-shm"))
    db.close()
    assert (copy / f"{LEDGER_NAME}-wal").is_file()
    status = [sys.executable, "-m", "sim.cli", "status", str(copy)]
    script = f'mount --bind "{copy}" "{copy}" && mount -o remount,bind,ro "{copy}" && exec "$@"'
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", *status], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "7 done, 1 failed, 0 pending" in proc.stdout
    assert "planted" in proc.stdout


def test_workers_beyond_the_cores_are_capped_with_a_warning(capsys):
    _, slots, shutdown = make_executor(1000, None, 500)
    shutdown()
    assert slots == min(usable_cores(), 500)
    warning = capsys.readouterr().err.splitlines()
    assert len(warning) == 1
    assert "--workers 1000" in warning[0]
    _, slots, shutdown = make_executor(None, None, 1)
    shutdown()
    assert slots == 1
    assert capsys.readouterr().err == ""


def test_a_lost_dask_scheduler_stops_the_sweep_and_a_resume_loses_no_run(whole, tmp_path):
    distributed = pytest.importorskip("distributed")
    import threading

    out = tmp_path / "lost-scheduler"
    ended = {}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:

        def drive() -> None:
            try:
                ended["status"] = sweep("smoke", out, cluster=cluster.scheduler_address, quiet=True)
            except ClusterLostError as exc:
                ended["error"] = exc

        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        assert wait_for_done(out, 1) < 8, "the scheduler should be lost mid-sweep"
        cluster.close()
    driver.join(timeout=60)
    assert not driver.is_alive(), "the driver waits for ever on a scheduler that is gone"
    assert "connection to the scheduler was lost" in str(ended["error"])
    assert sweep("smoke", out, workers=1, quiet=True) == 0
    assert ledger_rows(out) == ledger_rows(whole)
    pd.testing.assert_frame_equal(read_runs(out), read_runs(whole))


def test_a_worker_runs_without_pandas_networkx_or_scipy_spatial():
    # about 100 MB of a worker's memory (docs/performance.md): the worker's run, the battle and Mesa
    # (sim.lean_mesa) import none of them; the driver writes the Parquet files
    code = (
        "import sys\n"
        "from sim.scenario import load_scenario\n"
        "from sim.sweeps.worker import execute\n"
        "s = load_scenario('al-qusayr-2013', ['time.end=2013-05-19T06:00:00'])\n"
        "r = execute({'run_id': 'x', 'scenario': s.model_dump(), 'scenario_sha256': s.sha256(), 'seed': 1})\n"
        "assert len(r['series']['step']) == 25, r['series']['step']\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'networkx', 'scipy.spatial') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_progress_says_a_finished_sweep_is_done_and_never_prints_nan():
    stream = io.StringIO()
    Progress(8, 8, quiet=False, stream=stream).close()
    assert stream.getvalue() == "sweep: 8/8 done, 0 failed (all done already)\n"
    stream = io.StringIO()
    progress = Progress(8, 2, quiet=False, stream=stream)
    progress.line()  # nothing has ended yet: no rate to tell
    progress.started -= 60  # one run a minute
    progress.update(True)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "sweep: 2/8 done, 0 failed"
    assert lines[-1].startswith("sweep: 3/8 done, 0 failed, 1.0 runs/min, 5.0 min left")
    assert "nan" not in stream.getvalue()
