"""Simulation-based calibration of the inference: how often its 90 % intervals hold known inputs.

After Talts et al. 2018 ("Validating Bayesian inference algorithms with simulation-based
calibration", arXiv:1804.06788): ``replications`` known input sets are drawn from the priors; each
is run once (a sweep with the given points: resumable) and turned into a synthetic record: every
observation of the match becomes a point at what its source would report of that run (the run's
output, plus the known bias, plus the report's noise and the discrepancy; ``sim.analysis.forecast``).
Each synthetic record is refitted by the same posterior sampler on wave 1's emulators (fitted over
the whole prior space; the later waves' emulators hold only where the real record points), with
``sbc_steps`` steps a walker, from the candidate draws most likely under it (on the emulators'
means). The coverage is the share of (replication, input) pairs whose true value lies in the
refit's 90 % interval (5 % to 95 % quantiles); a calibrated inference gives about 0.9, an
over-confident one less, an under-confident one more.

Not refitted: the waves themselves (each would cost as many runs as the match).

Methods: docs/methods.md, section 6.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.forecast import reports
from sim.analysis.history_matching import (
    Match,
    analysis_processes,
    bias_values,
    run_wave,
    sample_posterior,
    to_physical,
    wave_experiment,
)
from sim.analysis.observation import log_likelihood
from sim.analysis.targets import targets
from sim.record import load_record
from sim.scenario import load_scenario

SBC_DIR = "sbc"
SBC_SEED_OFFSET = 2_000  # the synthetic runs' master seed: the experiment's plus this


def simulation_based_calibration(
    match: Match, out: Path, replications: int, *, workers: int | None, cluster: str | None, quiet: bool
) -> dict[str, Any]:
    """The contract of ``sbc.json``: ``replications``, ``coverage_90``, ``per_input`` (coverage and truths)."""
    experiment = match.experiment
    settings = experiment.history_matching
    seed = experiment.master_seed + SBC_SEED_OFFSET
    rng = np.random.default_rng(seed)
    truths_unit = rng.random((replications, len(match.inputs)))
    truths = pd.DataFrame(to_physical(truths_unit, match.inputs), columns=[i.name for i in match.inputs])
    simulated = [i.name for i in match.inputs if i.simulated]
    points = [{name: float(row[name]) for name in simulated} for _, row in truths.iterrows()]
    runs = run_wave(
        wave_experiment(experiment, SBC_SEED_OFFSET, points).model_copy(
            update={"name": f"{experiment.name}-sbc", "replicates": 1}
        ),
        out / SBC_DIR,
        workers=workers,
        cluster=cluster,
        quiet=quiet,
    )
    runs = runs.sort_values("point").reset_index(drop=True)
    found = targets(load_record(), load_scenario(experiment.scenario, experiment.set), match.trained_until_day)
    said = reports(match.observed, runs, found, truths.iloc[runs["point"].to_numpy()].reset_index(drop=True), seed)
    first = [(match.waves[0].emulators, match.waves[0].ensemble_var)]
    candidates = rng.random((settings.candidates, len(match.inputs)))
    columns = [j for j, i in enumerate(match.inputs) if i.simulated]
    mean, _ = first[0][0].screen(candidates[:, columns])  # where to start: the means suffice
    refit = settings.model_copy(
        update={
            "posterior": settings.posterior.model_copy(
                update={"steps": settings.sbc_steps, "burn": settings.sbc_steps // 2}
            )
        }
    )
    biases = bias_values(candidates, match.inputs)
    inside = np.zeros((len(runs), len(match.inputs)), bool)
    for r in range(len(runs)):
        synthetic = [dataclasses.replace(o, low=said[k, r], high=said[k, r]) for k, o in enumerate(match.observed)]
        likely = log_likelihood(synthetic, match.outputs, mean, np.zeros_like(mean), first[0][1], biases)
        start = candidates[np.argsort(likely)[::-1][: settings.posterior.walkers]]
        unit, _ = sample_posterior(
            rng, start, match.inputs, first, synthetic, match.outputs, refit, False, analysis_processes(workers)
        )
        low, high = np.quantile(unit, [0.05, 0.95], axis=0)
        truth = truths_unit[runs["point"].iloc[r]]
        inside[r] = (low <= truth) & (truth <= high)
        if not quiet:
            print(f"sbc: replication {r + 1} of {len(runs)}: {inside[r].mean():.0%} of the inputs covered", flush=True)
    return {
        "replications": len(runs),
        "coverage_90": float(inside.mean()),
        "per_input": {
            i.name: {"coverage_90": float(inside[:, j].mean()), "truths": truths[i.name].tolist()}
            for j, i in enumerate(match.inputs)
        },
        "refit": "emcee on wave 1's emulators (the whole prior space), the likelihood of the synthetic record alone",
    }
