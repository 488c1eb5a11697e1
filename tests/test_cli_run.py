import errno
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.cli import main
from sim.record import load_record
from sim.run import EVENT_DAYS, OUTCOME_EVENT_DAYS
from sim.runfiles import RUN_FILES, run_lines, write_run
from sim.scenario import load_scenario

SHORT = ["--set", "time.end=2013-05-20T12:00:00"]
SUMMARY_KEYS = {
    "scenario",
    "scenario_sha256",
    "seed",
    "version",
    "dt_minutes",
    "days_simulated",
    *EVENT_DAYS,  # each event a run dates: the outcome columns and the analyses read them
    "gov_sectors_by_day",
    "gov_share_by_day",
    "sector_owner_by_day",
    "places_captured",
    "killed",
    "killed_by_day",
    "wounded",
    "captured",
    "withdrawn",
    "strength_by_day",
}


def test_run_writes_summary_series_manifest_and_figure(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--seed", "4", "--out", str(out), *SHORT]) == 0
    printed = capsys.readouterr().out
    assert "sectors held by the attackers" in printed
    assert "one seed of a stochastic model" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= SUMMARY_KEYS
    assert summary["seed"] == 4
    assert set(OUTCOME_EVENT_DAYS.values()) <= set(EVENT_DAYS)  # the town's fate: events the run dates
    assert summary["days_simulated"] == 1.5
    assert len(summary["gov_sectors_by_day"]) == 1  # one whole day ended
    assert len(summary["sector_owner_by_day"][0]) == 16
    assert set(summary["sector_owner_by_day"][0]) <= {"gov", "reb", "contested"}
    assert set(summary["killed"]) == {"rebels", "army", "hezbollah", "civilians"}
    series = pq.read_table(out / "series.parquet")
    assert series.num_rows == 36 * 4 + 1  # one row per 15-minute step, and the start
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario_sha256"] == summary["scenario_sha256"]
    assert manifest["overrides"] == ["time.end=2013-05-20T12:00:00"]
    assert "mesa" in manifest["packages"]
    assert "commit" in manifest["git"]
    assert (out / "control.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.glob(".*.tmp"))


def test_overrides_change_the_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", "--out", str(a), *SHORT]) == 0
    assert main(["run", "--out", str(b), *SHORT, "--set", "forces.army.fighters=100"]) == 0
    first = json.loads((a / "summary.json").read_text())
    second = json.loads((b / "summary.json").read_text())
    assert first["scenario_sha256"] != second["scenario_sha256"]
    assert first["initial"]["army"] == 5500
    assert second["initial"]["army"] == 100


def test_bench_prints_one_json_line(capsys):
    assert main(["bench", *SHORT, "--repeat", "2"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert {"fighters", "steps", "first_run_seconds", "seconds", "peak_rss_mb"} <= set(line)
    assert len(line["runs_seconds"]) == 2
    assert min(line["runs_seconds"]) <= line["seconds"] <= max(line["runs_seconds"])
    assert line["steps"] == 36 * 4
    assert line["fighters"] == 9250  # no reinforcement arrives in the first 36 hours


def test_bench_runs_the_peer_on_the_same_fighters_and_scales_its_steps(tmp_path, capsys):
    peer = tmp_path / "peer.py"  # a stand-in for naive_mesa.py: echoes its arguments, takes 2 s
    peer.write_text(
        "import json, sys\n"
        "a, d, steps = map(int, sys.argv[1:4])\n"
        "print(json.dumps({'attackers': a, 'defenders': d, 'steps': steps, 'seconds': 2.0}))\n"
    )
    assert main(["bench", *SHORT, "--repeat", "1", "--peer", "--peer-script", str(peer)]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["peer"]["command"] == "python peer.py 7350 1900 14"  # a tenth of the 144 steps
    assert line["peer"]["seconds_scaled"] == round(2.0 * 144 / 14, 3)
    assert line["peer_ratio"] == round(line["peer"]["seconds_scaled"] / line["runs_seconds"][0], 1)


def test_bench_without_its_peer_script_stops_with_status_2(tmp_path, capsys):
    missing = tmp_path / "nowhere.py"
    assert main(["bench", *SHORT, "--peer", "--peer-script", str(missing)]) == 2
    assert "nowhere.py" in capsys.readouterr().err


def test_bench_phases_times_every_phase(capsys):
    from sim.model import BattleModel

    assert main(["bench", *SHORT, "--phases"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    names = [phase.name for phase in BattleModel(rng=1).phases]
    assert list(line) == [*names, "collect and Mesa", "step"]
    assert line["step"] >= sum(line[name] for name in names)


def test_a_bad_override_stops_run_with_status_2_before_any_file(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--set", "forces.army.fighters=lots"]) == 2
    assert "forces.army.fighters" in capsys.readouterr().err
    assert not out.exists()


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_run_failing_midway_keeps_the_earlier_runs_folder_whole(tmp_path, monkeypatch, capsys):
    import sim.runfiles

    out = tmp_path / "run"
    assert main(["run", "--seed", "1", "--out", str(out), *SHORT]) == 0
    earlier = _files(out)

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(sim.runfiles, "write_bytes", disk_full)  # the series: after the summary and manifest
    assert main(["run", "--seed", "2", "--out", str(out), *SHORT]) == 1  # one line, no traceback
    message = capsys.readouterr().err
    assert message.startswith("qusayr: run: no space left writing ")
    assert message.endswith(": free some and run it again\n")
    assert message.count("\n") == 1
    assert _files(out) == earlier
    assert os.listdir(tmp_path) == ["run"]  # no temporary file or folder left


def _short_runs(*seeds):
    from sim.run import run
    from sim.scenario import DEFAULT_SCENARIO, load_scenario

    scenario = load_scenario(DEFAULT_SCENARIO, SHORT[1:])
    return scenario, {seed: run(scenario, seed) for seed in seeds}


def _assert_one_run(out, results):
    """``out`` holds one run's four files: summary, manifest, series and figure of the same seed."""
    from PIL import Image

    assert sorted(os.listdir(out)) == sorted(RUN_FILES)
    seed = json.loads((out / "summary.json").read_text())["seed"]
    assert json.loads((out / "manifest.json").read_text())["seed"] == seed
    series = pd.read_parquet(out / "series.parquet")
    assert (series.pop("run_id") == out.name).all()
    pd.testing.assert_frame_equal(series, results[seed].series)
    with Image.open(out / "control.png") as png:
        png.verify()


def test_a_run_written_while_another_writes_the_same_folder_leaves_one_runs_files(tmp_path, monkeypatch):
    """Run 2 writes its whole folder while run 1 is between its summary and its manifest."""
    import sim.runfiles
    from sim.record import load_record

    scenario, results = _short_runs(1, 2)
    out, record = tmp_path / "run", load_record()
    real = sim.runfiles.write_text
    calls = []

    def second_run_meanwhile(path, text):
        calls.append(path)
        written = real(path, text)
        if len(calls) == 1:
            write_run(results[2], out, scenario=scenario, overrides=SHORT[1:], record=record)
        return written

    monkeypatch.setattr(sim.runfiles, "write_text", second_run_meanwhile)
    write_run(results[1], out, scenario=scenario, overrides=SHORT[1:], record=record)
    _assert_one_run(out, results)
    assert json.loads((out / "summary.json").read_text())["seed"] == 1  # the last to finish
    assert os.listdir(tmp_path) == ["run"]


def test_two_runs_at_once_into_one_out_leave_one_complete_run(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "run", "--seed", str(seed), "--out", str(out), *SHORT],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for seed in (1, 2)
    ]
    for process in runs:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()
    _assert_one_run(out, _short_runs(1, 2)[1])
    assert os.listdir(tmp_path) == ["run"]


def test_run_refuses_an_out_folder_holding_other_files_before_running(tmp_path, capsys):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.tex").write_text("mine")
    assert main(["run", "--out", str(out), *SHORT]) == 2
    assert "--out" in capsys.readouterr().err
    assert os.listdir(out) == ["thesis.tex"]


def test_the_command_tells_its_version_and_runs_as_python_dash_m(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"qusayr {importlib.metadata.version('qusayr')}"
    done = subprocess.run([sys.executable, "-m", "sim", "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("qusayr ")


def test_run_prints_dates_and_the_records_values_and_says_it_is_one_seed(tmp_path):
    summary = {
        "scenario": "al-qusayr-2013",
        "seed": 1,
        "days_simulated": 22.0,
        "encirclement_day": 10.74,
        "withdrawal_day": None,
        "fall_day": 16.6,
        "places_captured": {"Hamidiya": 7.5, "Borak": 17.76},
        "killed": {"rebels": 633, "army": 323, "hezbollah": 58, "civilians": 32},
        "wounded": {"rebels": 1160},
        "captured": {"rebels": 466},
        "withdrawn": {"civilians": 24469},
        "gov_sectors_by_day": [7, 8],
    }
    record, scenario = load_record(), load_scenario("al-qusayr-2013")
    lines = run_lines(summary, tmp_path, record=record, scenario=scenario)
    rows = {line.split("  ")[1]: line for line in lines if line.startswith("  ") and "  " in line[2:]}
    assert "day 16.6, 4 June" in rows["fall"]  # day 0 = 19 May: day 16 is 4 June
    assert "day 10.7, 29 May" in rows["encirclement"]
    assert "never" in rows["withdrawal"]
    assert "day 17, 5 June (morning)" in rows["fall"]  # the record's fall: 5 June, morning
    assert "day 11, 30 May" in rows["encirclement"]
    assert "day 8, 27 May (date inferred)" in rows["Hamidiya"]
    assert "not dated in the record" in rows["Borak"]
    assert rows["rebels"].split()[1:] == ["633", "431-1257"]  # the record's lowest and highest total
    assert "at least 23" in rows["army"]
    assert rows["hezbollah"].split()[1:] == ["58", "114"]
    assert any("one seed of a stochastic model" in line for line in lines)
    assert any("qusayr validate" in line and "qusayr run --seed N" in line for line in lines)

    fall = next(e for e in record.events if e.id == "fall")
    moved = record.model_copy(
        update={
            "events": [
                e.model_copy(update={"day": 18, "date": e.date.replace(day=6)}) if e is fall else e
                for e in record.events
            ]
        }
    )
    lines = run_lines(summary, tmp_path, record=moved, scenario=scenario)
    assert any(line.split()[0] == "fall" and "day 18, 6 June" in line for line in lines)  # read from the record
