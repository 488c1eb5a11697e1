"""Checks of a match on its emulators: each claim left out and predicted, and Sobol indices with the noise floor.

**Leave one claim out.** The posterior without observation ``t`` is the posterior sample reweighted
by ``1 / L_t(x)`` (importance sampling: ``p(x | all but t) ~ p(x | all) / L_t(x)``, ``L_t`` the
observation's likelihood factor ``exp(-1/2 d_t^2 / V_t)``), the weights truncated at
``sqrt(N)`` times their mean (Ionides 2008, J. Comput. Graph. Stat. 17: 295-311). Under it, the
report of ``t`` is predicted as ``N(mu_t(x) + beta_t(x), V_t(x))`` per sample (the last wave's
emulators; ``V_t`` the observation's, discrepancy, ensemble and emulator variances), drawn once per
sample from a seeded generator; scored by whether the weighted 90 % interval meets the stated
interval, and by the weighted CRPS of the stated interval (``sim.analysis.forecast.interval_crps``).

**Sobol indices** of every output on wave 1's emulators (fitted over the whole prior space): first
order and total, over the model's inputs, with the noise floor (the share of one run's variance
that is ensemble noise: an index below it cannot be told from the noise; ``sobol_on_emulators``).

Methods: docs/methods.md, section 6.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.analysis.emulators import sobol_on_emulators
from sim.analysis.forecast import scored
from sim.analysis.history_matching import Match, to_unit
from sim.analysis.observation import distances, variances

SOBOL_SAMPLES = 1_024  # SALib base samples: 1,024 x (inputs + 2) emulator means (assumption: CIs of a few hundredths)


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, levels: list[float]) -> np.ndarray:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    return np.interp(levels, cumulative, values[order])


def leave_one_claim_out(match: Match, seed: int) -> pd.DataFrame:
    """Per observation: its stated value, its prediction by the posterior without it, and the score."""
    inputs, observed, outputs = match.inputs, match.observed, match.outputs
    emulators, ensemble_var = match.waves[-1].emulators, match.waves[-1].ensemble_var
    unit = to_unit(match.posterior[[i.name for i in inputs]].to_numpy(), inputs)
    simulated = [j for j, i in enumerate(inputs) if i.simulated]
    mean, emulator_var = emulators.predict(unit[:, simulated])
    biases = {i.name: match.posterior[i.name].to_numpy() for i in inputs if not i.simulated}
    d = distances(observed, outputs, mean, biases)
    v = variances(observed, outputs, emulator_var, ensemble_var)
    column = {name: j for j, name in enumerate(outputs)}
    rng = np.random.default_rng(seed)
    rows = []
    for k, o in enumerate(observed):
        log_w = 0.5 * d[:, k] ** 2 / v[:, k]
        weights = np.exp(log_w - log_w.max())
        weights = np.minimum(weights, math.sqrt(len(weights)) * weights.mean())
        bias = o.shift(biases)
        predicted = mean[:, column[o.output]] + bias + rng.normal(0.0, np.sqrt(v[:, k]))
        quantiles = _weighted_quantiles(predicted, weights, [0.05, 0.5, 0.95])
        effective = float(weights.sum() ** 2 / (weights**2).sum())
        rows.append({**scored(o, predicted, quantiles, weights), "effective_samples": effective})
    return pd.DataFrame(rows)


def sobol_table(match: Match, seed: int) -> pd.DataFrame:
    """Sobol indices of every output on wave 1's emulators, with the noise floor (``sobol_on_emulators``)."""
    first = match.waves[0]
    names = [i.name for i in match.inputs if i.simulated]
    return sobol_on_emulators(first.emulators, names, samples=SOBOL_SAMPLES, seed=seed, noise_var=first.ensemble_var)
