"""Ensembles: many seeds of one scenario, nothing varied, run as a sweep (resumable, local or on a cluster).

Seeds come from the master seed alone (the plan's stream, ``sim.sweeps.seeds.Stream.PLAN``), so two
scenarios run with the same master seed and number of runs share their seeds (common random numbers):
validation, the counterfactuals' paired differences and calibration's check all run ensembles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from sim.outputs import read_runs
from sim.sweeps.experiment import Experiment
from sim.sweeps.failures import RunFailedError
from sim.sweeps.runner import read_summaries, sweep


def seeds_experiment(
    scenario: str, overrides: list[str], runs: int, master_seed: int = 1, points: list[dict[str, float]] | None = None
) -> Experiment:
    """An experiment of ``runs`` seeds of one scenario, nothing varied; or one run at each of ``points``.

    ``points``: input sets (say, a posterior sample's), each a value for the same scenario paths.
    """
    if points is None:
        return Experiment(
            name=f"ensemble-{Path(scenario).stem}",
            description=f"{runs} seeds of {scenario}",
            scenario=str(scenario),
            set=list(overrides),
            replicates=runs,
            master_seed=master_seed,
        )
    paths = list(points[0])
    bounds = [{"path": k, "low": min(p[k] for p in points), "high": max(p[k] for p in points)} for k in paths]
    return Experiment(
        name=f"ensemble-{Path(scenario).stem}-sets",
        description=f"one run at each of {len(points)} input sets of {scenario}",
        scenario=str(scenario),
        set=list(overrides),
        parameters=bounds,
        design="given",
        given=points,
        points=len(points),
        replicates=1,
        master_seed=master_seed,
    )


def run_ensemble(
    scenario: str,
    overrides: list[str],
    runs: int,
    folder: Path,
    *,
    master_seed: int = 1,
    points: list[dict[str, float]] | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    quiet: bool = False,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Run (or resume) an ensemble into ``folder``; its outcomes table and summaries, by replicate (or point)."""
    experiment = seeds_experiment(scenario, overrides, runs, master_seed, points)
    if sweep(experiment, folder, workers=workers, cluster=cluster, quiet=quiet):
        raise RunFailedError(f"{folder}: some runs failed; see 'qusayr status {folder}'")
    table = read_runs(folder).sort_values(["point", "replicate"]).reset_index(drop=True)
    return table, read_summaries(folder, list(table["run_id"]))
