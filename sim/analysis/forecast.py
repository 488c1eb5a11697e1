"""Predictions from a posterior: the posterior predictive runs, and the forecast of what the record says later.

**Posterior predictive**: one run (its own seed) at each of ``predictive_runs`` input sets of the
posterior sample, evenly spaced in it (a sweep with the given points: resumable).

**What a source would report** for an observation ``t`` (``sim.analysis.observation``): per run
``i``, ``y_i + beta_t,i + e_i`` with ``y_i`` the run's output, ``beta_t,i`` the bias of that run's
input set (0 for neutral sources, dates and counts) and ``e_i ~ N(0, s_t^2 + delta_t^2)`` the
report's noise and the model's discrepancy, drawn from a generator seeded by the experiment.

**The forecast** (the match trained on the record up to a day): for each later observation its
stated interval, the predicted reports' median and 90 % interval (and whether it meets the stated
interval), and the continuous ranked probability score (CRPS, Gneiting & Raftery 2007, JASA 102:
359-378; ``scoringrules.crps_ensemble``) of an interval: its mean over 21 evenly spaced values of the
interval (what a report states anywhere in its interval scores alike; a day "never" is day 24), or
at the lower end of an interval open above (a count "at least"). The naive baseline is
the prior predictive: the same reports from the runs of wave 1 (a Latin hypercube over the priors)
with the biases drawn from their priors. Lower is better; in the output's units (days, shares,
natural log of a count).

Methods: docs/methods.md, section 7.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.history_matching import Match, run_wave, wave_experiment
from sim.analysis.observation import Observation, observations, output_values
from sim.analysis.targets import Target, event_days, targets
from sim.record import load_record
from sim.scenario import load_scenario

PREDICTIVE_DIR = "predictive"
PREDICTIVE_SEED_OFFSET = 1_000  # the predictive runs' master seed: the experiment's plus this (no wave's)


def predictive_runs(
    match: Match, out: Path, count: int, *, workers: int | None, cluster: str | None, quiet: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One run at each of ``count`` posterior input sets (into ``out/predictive``): the runs and their input sets.

    The sets are distinct (a walker that stays put repeats a set in the sample), evenly spaced among them.
    """
    distinct = match.posterior.drop_duplicates().reset_index(drop=True)
    chosen = distinct.iloc[np.unique(np.linspace(0, len(distinct) - 1, count).astype(int))].reset_index(drop=True)
    simulated = [i.name for i in match.inputs if i.simulated]
    points = [{name: float(row[name]) for name in simulated} for _, row in chosen.iterrows()]
    experiment = wave_experiment(match.experiment, PREDICTIVE_SEED_OFFSET, points).model_copy(
        update={"name": f"{match.experiment.name}-predictive", "replicates": 1}
    )
    runs = run_wave(experiment, out / PREDICTIVE_DIR, workers=workers, cluster=cluster, quiet=quiet)
    runs = runs.sort_values("point").reset_index(drop=True)
    return runs, chosen.iloc[runs["point"].to_numpy()].reset_index(drop=True)


def reports(
    observed: list[Observation], runs: pd.DataFrame, found: list[Target], biases: pd.DataFrame, seed: int
) -> np.ndarray:
    """What each observation's source would report, per run: an observations x runs array.

    ``biases``: per run, the value of each bias input (the run's input set's).
    """
    values = output_values(runs, found)
    rng = np.random.default_rng(seed)
    out = np.empty((len(observed), len(runs)))
    for k, o in enumerate(observed):
        bias = o.shift(biases)
        out[k] = values[o.output].to_numpy() + bias + rng.normal(0.0, math.sqrt(o.noise_var), len(runs))
    return out


INTERVAL_POINTS = 21  # values of a stated interval over which its CRPS is averaged


def interval_crps(low: float, high: float, ensemble: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The CRPS of an ensemble against a stated interval: averaged over it, or at an open one's low end."""
    import scoringrules

    values = np.array([low]) if math.isinf(high) else np.linspace(low, high, INTERVAL_POINTS)
    scores = [scoringrules.crps_ensemble(v, ensemble, ens_w=weights) for v in values]
    return float(np.mean(scores))


def meets(low: float, high: float, q05: float, q95: float) -> bool:
    """Whether a predicted 90 % interval meets a stated interval."""
    return bool(q05 <= high and q95 >= low)


def scored(
    o: Observation, predicted: np.ndarray, quantiles: Sequence[float], weights: np.ndarray | None = None
) -> dict[str, Any]:
    """An observation's stated interval against its predicted reports (``quantiles``: their 5, 50 and 95 %)."""
    q05, q50, q95 = (float(q) for q in quantiles)
    return {
        "id": o.id,
        "kind": o.kind,
        "lean": o.lean,
        "day": o.day,
        "low": o.low,
        "high": o.high,
        "median": q50,
        "q05": q05,
        "q95": q95,
        "meets_90": meets(o.low, o.high, q05, q95),
        "crps": interval_crps(o.low, o.high, predicted, weights),
    }


def forecast_json(
    match: Match,
    predictive: pd.DataFrame,
    predictive_sets: pd.DataFrame,
    prior_runs: pd.DataFrame,
    prior_sets: pd.DataFrame,
) -> dict[str, Any]:
    """The contract of ``forecast.json``: the later observations predicted, scored against the prior predictive."""
    experiment = match.experiment
    settings = experiment.history_matching
    everything = targets(load_record(), load_scenario(experiment.scenario, experiment.set))
    later = [o for o in observations(everything, settings.observation) if o.day > match.trained_until_day]
    seed = experiment.master_seed
    predicted = scored_reports(later, predictive, everything, predictive_sets, seed)
    baseline = scored_reports(later, prior_runs, everything, prior_sets, seed + 1)
    scored = predicted.merge(baseline[["id", "crps"]].rename(columns={"crps": "crps_baseline"}), on="id")
    rows = []
    for row in scored.to_dict("records"):
        low, high = row.pop("low"), row.pop("high")
        rows.append({**row, "observed": [low, None if math.isinf(high) else high]})  # JSON has no infinity
    fall = event_days(predictive["fall_day"])
    return {
        "trained_until_day": match.trained_until_day,
        "posterior_runs": len(predictive),
        "baseline": "prior predictive: the runs of wave 1 (a Latin hypercube over the priors), biases drawn from "
        "their priors",
        "fall_day": dict(zip(("q05", "median", "q95"), map(float, np.quantile(fall, [0.05, 0.5, 0.95])), strict=True)),
        "targets": rows,
        "unreached": sorted({o.id for o in later} - set(scored["id"])),
        "crps_mean": float(np.mean([r["crps"] for r in rows])) if rows else None,
        "crps_mean_baseline": float(np.mean([r["crps_baseline"] for r in rows])) if rows else None,
        "units": "CRPS in each output's units: days, shares of the town, natural log of a count of dead",
    }


def prior_sets(match: Match, runs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Per run of wave 1, its input set: the bias inputs drawn from their priors (the model's are the run's)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {i.name: rng.uniform(i.low, i.high, len(runs)) for i in match.inputs if not i.simulated}, index=runs.index
    )


def scored_reports(
    observed: list[Observation], runs: pd.DataFrame, found: list[Target], sets: pd.DataFrame, seed: int
) -> pd.DataFrame:
    """Per observation: what its source would report of these runs against what it stated.

    ``sets``: each run's input set (its biases). Columns: the stated interval (``low``, ``high``), the
    reports' median and 90 % interval, whether it meets the stated interval, the interval's CRPS.
    """
    said = reports(observed, runs, found, sets, seed)
    rows = []
    for k, o in enumerate(observed):
        if np.isnan(said[k]).any():  # past some run's end
            continue
        rows.append(scored(o, said[k], np.quantile(said[k], [0.05, 0.5, 0.95])))
    return pd.DataFrame(rows)
