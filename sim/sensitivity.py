"""Sensitivity analysis (SALib) of the outcomes to an experiment's bounded parameters.

``morris`` (elementary effects; r trajectories cost r (D + 1) parameter sets) screens which
parameters matter: ``mu_star`` is the mean absolute elementary effect of one parameter, in units
of the outcome per whole range of the parameter (SALib divides each step by its size, 2/3 of the
range with 4 levels), ``sigma`` the effects' spread (interactions, non-linearity). ``sobol`` (N (D + 2) sets, first and
total order, no second order) splits the variance: ``S1`` the share due to one parameter alone,
``ST`` including its interactions. SALib assumes a deterministic model, so each parameter set is
run on the same ``replicates`` seeds and SALib is given the replicate means. Outcomes: the fall
day and the encirclement day (never = day 24, ``sim.compare.NEVER_DAY``), rebels killed, and the
sectors held by the attackers at the end of day 10. Confidence intervals are SALib's bootstrap
95 % intervals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sim.compare import NEVER_DAY
from sim.output import save_figure, write_bytes, write_text
from sim.sweeps.experiment import Experiment, ExperimentError, common_seeds, load_experiment
from sim.sweeps.runner import evaluate

OUTCOMES = ("fall_day", "encirclement_day", "killed_rebels", "gov_sectors_d10")
# units of the Morris indices (those of the outcome); Sobol indices are shares of variance
UNITS = {
    "fall_day": "days per parameter range",
    "encirclement_day": "days per parameter range",
    "killed_rebels": "people per parameter range",
    "gov_sectors_d10": "sectors per parameter range",
}
Method = Literal["morris", "sobol"]
SEED_STREAM = 2  # apart from the screen's seeds and calibration's (stream 1)


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
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(NEVER_DAY)
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
    out: Path,
    *,
    method: Method = "morris",
    size: int | None = None,
    replicates: int | None = None,
    workers: int | None = None,
    cluster: str | None = None,
) -> pd.DataFrame:
    """Sample, run, analyse; write indices.csv, runs.parquet, sensitivity.md and the figure."""
    experiment = load_experiment(experiment_name)
    size = size or (10 if method == "morris" else 32)
    if method == "sobol" and size & (size - 1):
        raise ExperimentError(f"{experiment_name}: --size: Sobol base samples must be a power of two, got {size}")
    samples = sample(experiment, method, size)
    points = [
        {p.path: (round(float(v)) if p.integer else float(v)) for p, v in zip(experiment.bounded, row, strict=True)}
        for row in samples
    ]
    seeds = common_seeds(experiment.master_seed, SEED_STREAM, replicates or experiment.replicates)
    runs = evaluate(experiment.scenario, experiment.set, points, seeds, workers=workers, cluster=cluster)
    table = analyse(experiment, method, samples, outcome_means(runs, len(points)))
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / "runs.parquet", runs.to_parquet(index=False))
    write_text(out / "indices.csv", table.to_csv(index=False))
    write_text(out / "sensitivity.md", report(experiment, method, table, len(points), len(seeds)))
    _figure(out, table, method)
    return table


def report(experiment: Experiment, method: Method, table: pd.DataFrame, sets: int, replicates: int) -> str:
    """``sensitivity.md``: one table per outcome, parameters by importance."""
    lead = "mu_star" if method == "morris" else "ST"
    lines = [
        f"# Sensitivity ({method}): experiment `{experiment.name}` on `{experiment.scenario}`",
        "",
        f"{sets} parameter sets x {replicates} common seeds (SALib given the replicate means); "
        "95 % bootstrap confidence intervals. Definitions: `sim/sensitivity.py`.",
        "",
    ]
    for outcome in dict.fromkeys(table["outcome"]):
        part = table[table["outcome"] == outcome].pivot(index="parameter", columns="index", values=["value", "conf"])
        part = part.sort_values(("value", lead), ascending=False)
        indices = list(dict.fromkeys(table["index"]))
        lines += [f"## {outcome.replace('_', ' ')}", "", "| parameter | " + " | ".join(indices) + " |"]
        lines.append("|---|" + "---|" * len(indices))
        for parameter, row in part.iterrows():
            cells = []
            for index in indices:
                conf = row[("conf", index)]
                cells.append(f"{row[('value', index)]:.3g}" + ("" if np.isnan(conf) else f" ± {conf:.2g}"))
            lines.append(f"| `{parameter}` | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _figure(out: Path, table: pd.DataFrame, method: Method) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.plots import plot_indices

    fig, axes = plt.subplots(2, 2, figsize=(12, 7), constrained_layout=True)
    for ax in axes.ravel()[table["outcome"].nunique() :]:
        ax.axis("off")
    for ax, outcome in zip(axes.ravel(), dict.fromkeys(table["outcome"]), strict=False):
        plot_indices(table, outcome, unit=UNITS[outcome] if method == "morris" else "share of variance", ax=ax)
    save_figure(fig, out, "sensitivity")
