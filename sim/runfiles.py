"""A run's files: what ``qusayr run`` does.

``run_into`` runs a scenario once and writes into one folder ``summary.json`` (the outcomes),
``manifest.json`` (what ran: the scenario's hash, the seed, the overrides, the code and packages),
``series.parquet`` (the per-step series, the folder's name as its run id) and ``control.png``
(control of the town against the record); ``docs/outputs.md`` describes them. The folder is written
as a unit (``sim.output.folder_as_unit``): it holds one run's four files, never a mix of two runs',
so it is replaced whole and may hold nothing else.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, NamedTuple

from sim.analysis.targets import Target, battle_casualty_targets, captures
from sim.battle_dates import battle_date
from sim.output import (
    OutputPathError,
    check_out_folder,
    folder_as_unit,
    manifest,
    path_under,
    save_figure,
    write_bytes,
    write_text,
)
from sim.outputs import series_parquet
from sim.record import Event, Record, load_record, town_event
from sim.run import OUTCOME_EVENT_DAYS, RunResult, run
from sim.scenario import Scenario, load_scenario

RUN_FILES = ("summary.json", "series.parquet", "manifest.json", "control.png")
FILES = ", ".join(RUN_FILES)
RESULTS = Path("results")  # where runs go without --out


def check_run_folder(out: Path) -> Path:
    """``out`` if a run's files can replace it (``OutputPathError`` otherwise), checked before the run.

    It must be writable beside itself (``check_out_folder``) and, if it exists, hold no more than an
    earlier run's files: a run replaces its folder whole, and must not remove anything else.
    """
    check_out_folder(out, whole=True)
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES)
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise OutputPathError(
                f"--out: {out}: holds other files than a run's ({shown}); a run replaces its folder whole: "
                "give a new folder, an empty one or an earlier run's"
            )
    return out


def write_run(result: RunResult, out: Path, *, scenario: Scenario, overrides: list[str], record: Record) -> list[Path]:
    """Write a run's summary, manifest, series and control figure as the folder ``out``, replacing it whole."""
    import matplotlib

    matplotlib.use("Agg")

    from sim.plots import plot_control

    summary = result.summary
    with folder_as_unit(out) as folder:
        write_text(folder / "summary.json", json.dumps(summary, indent=1) + "\n")
        write_text(
            folder / "manifest.json", json.dumps(manifest(scenario, summary["seed"], overrides), indent=1) + "\n"
        )
        write_bytes(folder / "series.parquet", series_parquet(result.series, run_id=out.name))
        save_figure(plot_control(summary, record=record).figure, folder, "control", formats=("png",))
    return [out / name for name in RUN_FILES]


def default_run_folder(scenario: Scenario, seed: int, overrides: list[str]) -> str:
    """A run's folder under ``results/``: ``<scenario>-seed<seed>``, with overrides ``...-set-<hash>``.

    The hash is the first 8 hex digits of the SHA-256 of the overrides in order, so that a run with
    ``--set`` never replaces another run's folder (the baseline's, or one with other overrides).
    """
    if not overrides:
        return f"{scenario.name}-seed{seed}"
    digest = hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:8]
    return f"{scenario.name}-seed{seed}-set-{digest}"


class WrittenRun(NamedTuple):
    """A run written by ``run_into``: its result, its folder, and the scenario and record it was read with."""

    result: RunResult
    out: Path
    scenario: Scenario
    record: Record


def run_into(scenario_name: str | Path, overrides: list[str], seed: int, out: Path | None = None) -> WrittenRun:
    """Run a scenario once and write its files into ``out`` (default: ``default_run_folder``).

    Bad input, and an ``out`` that cannot take the run's files, stop it before the run.
    """
    scenario = load_scenario(scenario_name, overrides)
    record = load_record()
    out = check_run_folder(
        out or path_under(RESULTS, default_run_folder(scenario, seed, overrides), f"{scenario_name}: name")
    )
    result = run(scenario, seed)
    write_run(result, out, scenario=scenario, overrides=overrides, record=record)
    return WrittenRun(result, out, scenario, record)


def _model_day(day: float | None) -> str:
    """A run's day of an event as 'day 16.6, 4 June', or 'never'."""
    return "never" if day is None else f"day {day:.1f}, {battle_date(day)}"


def _record_day(event: Event) -> str:
    """The record's date of an event as 'day 17, 5 June (morning)', saying when the date is inferred."""
    notes = [event.time_of_day] if event.time_of_day else []
    if event.date_basis == "inferred":
        notes.append("date inferred")
    return f"day {event.day}, {battle_date(event.day)}" + (f" ({', '.join(notes)})" if notes else "")


def _killed_in_record(target: Target) -> str:
    """The record's killed of a side in the battle, as the sources give it: '431-1257', 'at least 23'."""
    low, high = target.stated
    if math.isinf(high):
        return f"at least {low:g} (the record counts only part of them)"
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


def run_lines(summary: dict[str, Any], out: Path, *, record: Record, scenario: Scenario) -> list[str]:
    """What ``qusayr run`` prints: the run's outcomes beside the record's, that it is one seed, where its files are.

    Days count from day 0 = 19 May 2013 (``DAY0``); the record's values are read from ``record``.
    """
    row = "  {:<22}{:<26}{}"
    lines = [
        f"scenario {summary['scenario']}, seed {summary['seed']}: {summary['days_simulated']} days from "
        f"{battle_date(0)} 2013 (day 0)",
        row.format("the town", "model", "record"),
    ]
    for kind, key in OUTCOME_EVENT_DAYS.items():
        lines.append(row.format(kind, _model_day(summary[key]), _record_day(town_event(record, kind))))
    lines.append(row.format("places captured", "model", "record"))
    recorded = dict(captures(record, scenario))
    captured = summary["places_captured"]
    for place in sorted(captured.keys() | recorded.keys(), key=lambda p: captured.get(p, math.inf)):
        in_record = _record_day(recorded[place]) if place in recorded else "not dated in the record"
        lines.append(row.format(place, _model_day(captured.get(place)), in_record))
    lines.append(row.format("killed in the battle", "model", "record"))
    killed_targets = {t.outcome.removeprefix("killed_"): t for t in battle_casualty_targets(record)}
    for side, killed in summary["killed"].items():
        in_record = _killed_in_record(killed_targets[side]) if side in killed_targets else "not in the record"
        lines.append(row.format(side, f"{killed:,}", in_record))
    for fate in ("wounded", "captured", "withdrawn"):
        lines.append(f"  {fate}: " + ", ".join(f"{k} {v:,}" for k, v in summary[fate].items()))
    by_day = ", ".join(str(n) for n in summary["gov_sectors_by_day"])
    lines.append(f"  sectors held by the attackers at the end of each day from {battle_date(0)}: {by_day}")
    lines += [
        "  This is one seed of a stochastic model: other seeds give other days and tolls.",
        "  The ensemble against the record: qusayr validate; another seed: qusayr run --seed N.",
        f"  written to {out}/ ({FILES})",
    ]
    return lines
