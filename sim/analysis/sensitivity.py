"""Sensitivity analysis (SALib) of the outcomes to an experiment's bounded parameters.

``morris`` (elementary effects: ``mu_star``, ``sigma``) screens which parameters matter; ``sobol``
(first and total order, ``S1``, ``ST``) splits the variance. Each parameter set runs on the same
``replicates`` seeds and SALib is given the replicate means of the outcomes (the fall and
encirclement days, never = ``sim.analysis.targets.NEVER_DAY``; rebels killed; the sectors held at
the end of day 10). ``sensitivity`` returns a ``SensitivityResult``;
``sim.analysis.reports.sensitivity`` renders it.

Methods: docs/methods.md, section 8 (sensitivity).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sim.analysis.targets import event_days, outcome_values
from sim.sweeps.experiment import Experiment, ExperimentError, load_experiment
from sim.sweeps.runner import evaluate
from sim.sweeps.seeds import Stream, common_seeds

OUTCOMES = ("fall_day", "encirclement_day", "killed_rebels", "gov_sectors_d10")
# units of the Morris indices (those of the outcome); Sobol indices are shares of variance
UNITS = {
    "fall_day": "days per parameter range",
    "encirclement_day": "days per parameter range",
    "killed_rebels": "people per parameter range",
    "gov_sectors_d10": "sectors per parameter range",
}
Method = Literal["morris", "sobol"]
LEAD_INDEX = {"morris": "mu_star", "sobol": "ST"}  # the index that ranks the parameters


@dataclass
class SensitivityResult:
    """The parameter sets, their runs and the indices of each outcome."""

    experiment: Experiment
    method: Method
    points: list[dict[str, float]]  # the parameter sets (SALib's samples)
    seeds: list[int]  # the common seeds every set is run on
    runs: pd.DataFrame  # one row of outcomes per run
    indices: pd.DataFrame  # columns parameter, outcome, index, value, conf


def problem(experiment: Experiment) -> dict:
    """SALib's problem: names and bounds of the bounded parameters."""
    bounded = experiment.bounded
    if len(bounded) < 2 or experiment.listed:
        raise ExperimentError(f"{experiment.name}: parameters: sensitivity needs two or more bounded parameters only")
    return {
        "num_vars": len(bounded),
        "names": [p.path for p in bounded],
        "bounds": [[p.low, p.high] for p in bounded],
    }


def sample(experiment: Experiment, method: Method, size: int) -> np.ndarray:
    """Parameter sets: ``size`` Morris trajectories, or Sobol base samples (a power of two)."""
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    spec = problem(experiment)
    if method == "morris":
        return morris_sample.sample(spec, size, num_levels=4, seed=experiment.master_seed)
    return sobol_sample.sample(spec, size, calc_second_order=False, seed=experiment.master_seed)


def outcome_means(runs: pd.DataFrame, points: int) -> pd.DataFrame:
    """Replicate means of the outcomes per parameter set (events that never happen: NEVER_DAY)."""
    frame = runs.reindex(columns=["point", *OUTCOMES])  # outcomes a short run never reached: missing
    for column in ("fall_day", "encirclement_day"):
        frame[column] = event_days(outcome_values(frame, column))
    means = frame.groupby("point")[list(OUTCOMES)].mean().reindex(range(points))
    return means


def analyse(experiment: Experiment, method: Method, samples: np.ndarray, means: pd.DataFrame) -> pd.DataFrame:
    """Indices with confidence intervals: columns parameter, outcome, index, value, conf."""
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze

    spec = problem(experiment)
    rows = []
    for outcome in OUTCOMES:
        y = means[outcome].to_numpy(dtype=float)
        if np.isnan(y).any():  # not reached by these runs (a scenario shorter than the outcome's day)
            continue
        if method == "morris":
            result = morris_analyze.analyze(spec, samples, y, num_levels=4, seed=experiment.master_seed)
            pairs = (("mu_star", "mu_star_conf"), ("sigma", None))
        else:
            result = sobol_analyze.analyze(spec, y, calc_second_order=False, seed=experiment.master_seed)
            pairs = (("S1", "S1_conf"), ("ST", "ST_conf"))
        for i, name in enumerate(spec["names"]):
            for index, conf in pairs:
                rows.append(
                    {
                        "parameter": name,
                        "outcome": outcome,
                        "index": index,
                        "value": float(result[index][i]),
                        "conf": float(result[conf][i]) if conf else float("nan"),
                    }
                )
    return pd.DataFrame(rows)


def sensitivity(
    experiment_name: str | Path,
    *,
    method: Method = "morris",
    size: int | None = None,
    replicates: int | None = None,
    workers: int | None = None,
    cluster: str | None = None,
) -> SensitivityResult:
    """Sample the parameter sets, run each on common seeds, and compute the indices."""
    experiment = load_experiment(experiment_name)
    size = size or (10 if method == "morris" else 32)
    if method == "sobol" and size & (size - 1):
        raise ExperimentError(f"{experiment_name}: --size: Sobol base samples must be a power of two, got {size}")
    samples = sample(experiment, method, size)
    points = [
        {p.path: (round(float(v)) if p.integer else float(v)) for p, v in zip(experiment.bounded, row, strict=True)}
        for row in samples
    ]
    seeds = common_seeds(experiment.master_seed, Stream.SENSITIVITY, replicates or experiment.replicates)
    runs = evaluate(experiment.scenario, experiment.set, points, seeds, workers=workers, cluster=cluster)
    indices = analyse(experiment, method, samples, outcome_means(runs, len(points)))
    return SensitivityResult(experiment, method, points, seeds, runs, indices)
