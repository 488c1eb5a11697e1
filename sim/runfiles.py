"""A run's files: what ``qusayr run`` does.

``run_into`` runs a scenario once and writes into one folder ``summary.json`` (the outcomes),
``manifest.json`` (what ran: the scenario's hash, the seed, the overrides, the code and packages),
``series.parquet`` (the per-step series) and ``control.png`` (control of the town against the
record).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sim.output import manifest, save_figure, write_bytes, write_text
from sim.record import Record, load_record
from sim.run import OUTCOME_EVENT_DAYS, RunResult, run
from sim.scenario import Scenario, load_scenario

FILES = "summary.json, series.parquet, manifest.json, control.png"


def write_run(result: RunResult, out: Path, *, scenario: Scenario, overrides: list[str], record: Record) -> list[Path]:
    """Write a run's summary, manifest, series and control figure into ``out`` (made when missing)."""
    import matplotlib

    matplotlib.use("Agg")

    from sim.plots import plot_control

    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary
    written = [
        write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n"),
        write_text(out / "manifest.json", json.dumps(manifest(scenario, summary["seed"], overrides), indent=1) + "\n"),
        write_bytes(out / "series.parquet", result.series.to_parquet(index=False)),
    ]
    written += save_figure(plot_control(summary, record=record).figure, out, "control", formats=("png",))
    return written


def run_into(
    scenario_name: str | Path, overrides: list[str], seed: int, out: Path | None = None
) -> tuple[RunResult, Path]:
    """Run a scenario once and write its files into ``out`` (default ``results/<scenario>-seed<seed>``)."""
    scenario = load_scenario(scenario_name, overrides)
    record = load_record()
    out = out or Path("results") / f"{scenario.name}-seed{seed}"
    result = run(scenario, seed)
    write_run(result, out, scenario=scenario, overrides=overrides, record=record)
    return result, out


def run_lines(summary: dict[str, Any], out: Path) -> list[str]:
    """What ``qusayr run`` prints: the run's outcomes, and where its files are."""
    lines = [f"scenario {summary['scenario']} (seed {summary['seed']}, {summary['days_simulated']} days)"]
    by_day = ", ".join(str(n) for n in summary["gov_sectors_by_day"])
    lines.append(f"  sectors held by the attackers at the end of each day: {by_day}")
    for key in OUTCOME_EVENT_DAYS.values():
        value = summary[key]
        lines.append(f"  {key.replace('_', ' ')}: {'never' if value is None else value}")
    places = ", ".join(f"{k} {v}" for k, v in summary["places_captured"].items()) or "none"
    lines.append(f"  places captured (day): {places}")
    for fate in ("killed", "wounded", "captured", "withdrawn"):
        lines.append(f"  {fate}: " + ", ".join(f"{k} {v}" for k, v in summary[fate].items()))
    lines.append(f"  written to {out}/ ({FILES})")
    return lines
