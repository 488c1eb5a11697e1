"""What a sweep folder holds (``qusayr status``) and a finished sweep's figures (``qusayr plot``).

Methods: docs/methods.md, sections 4 (ensembles and seeds) and 10 (rendering).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sim.analysis.reports import plotting
from sim.analysis.targets import Target, battle_casualty_targets, event_outcome, event_target
from sim.output import save_figure
from sim.outputs import read_runs
from sim.record import Record, load_record
from sim.sweeps.ledger import Ledger

SWEEP_OUTCOMES = ("fall_day", "killed_rebels", "encirclement_day")  # each drawn against every varied parameter


def status_lines(folder: Path) -> list[str]:
    """The experiment of a sweep folder, its runs by state, the time they took, and each failure.

    Read-only (also on a read-only copy); a damaged ledger raises LedgerError.
    """
    ledger = Ledger(folder, read_only=True)
    try:
        meta, counts, failed, points = ledger.meta(), ledger.counts(), ledger.failed(), ledger.points()
        first, last = ledger.time_span()
    finally:
        ledger.close()
    experiment = meta["experiment"]
    total = sum(counts.values())
    lines = [
        f"experiment {experiment['name']} on scenario {experiment['scenario']} ({experiment['design']}, "
        f"{points} points x {experiment['replicates']} replicates, master seed {experiment['master_seed']})",
        f"varied: {', '.join(p['path'] for p in experiment['parameters'])}",
        f"runs: {total}: {counts['done']} done, {counts['failed']} failed, "
        f"{counts['pending'] + counts['running']} pending",
    ]
    if first is not None and last is not None:
        lines.append(f"elapsed: {dt.timedelta(seconds=round(last - first))} (first start to last end)")
    lines += [
        f"failed: {run_id} (point {point}, replicate {replicate}): {error}"
        for run_id, point, replicate, error in failed
    ]
    return lines


def town_and_killed_targets(record: Record) -> list[Target]:
    """The record's targets on the town's fate (encirclement, withdrawal, fall) and on each side's killed.

    They need no scenario (a sweep's figures are drawn from its folder alone): the places outside the
    town, which a scenario names, are left out.
    """
    events = [event_target(e, outcome) for e in record.events if (outcome := event_outcome(e, {})) is not None]
    return events + battle_casualty_targets(record)


def write_sweep_figures(folder: Path) -> list[Path]:
    """Each outcome against each varied parameter, and the sectors held by day, into ``folder/plots`` (PNG).

    The record's values are drawn where an outcome has one (``town_and_killed_targets``).
    """
    ledger = Ledger(folder, read_only=True)  # first: a damaged ledger is refused before anything is drawn
    try:
        parameters = [p["path"] for p in ledger.meta()["experiment"]["parameters"]]
    finally:
        ledger.close()
    _, plots = plotting()
    targets = town_and_killed_targets(load_record())
    runs = read_runs(folder)
    plot_dir = folder / "plots"
    plot_dir.mkdir(exist_ok=True)
    written = []
    for outcome in SWEEP_OUTCOMES:
        for parameter in parameters:
            if runs[parameter].dtype == object:
                runs[parameter] = runs[parameter].astype(str)
            ax = plots.plot_outcome_vs_parameter(runs, parameter, outcome, targets=targets)
            stem = f"{outcome}-vs-{parameter.replace('.', '_')}"
            written += save_figure(ax.figure, plot_dir, stem, formats=("png",), dpi=110)
    bands = plots.plot_sector_bands(runs, parameters, targets=targets)
    written += save_figure(bands.figure, plot_dir, "sector-bands", formats=("png",), dpi=110)
    return written
