"""The observation model of the record's claims: what a source says is the truth, its side's bias and noise.

For a fitted target ``t`` of the record (``sim.analysis.targets``), its model outcome ``y_t`` (a
share of the town, a day, or the natural log of a count of dead) and its stated interval
``[a_t, b_t]`` (what the entry's wording gives, before any lean or slack), the source reports::

    report_t = y_t + beta_t + e_t,    e_t ~ N(0, s_t^2)

- ``beta_t``: the source's bias. Neutral sources are unbiased (``beta = 0``). A government source's
  share of the town held by the attackers is ``+beta_government`` (the attackers claim more), an
  opposition source's ``-beta_opposition`` (the rebels claim they hold more); both are inputs with
  priors (``ObservationSettings``), fitted with the model's. Dates and casualty figures carry no
  bias (assumption: the record's dated events come from both sides and agree where both report;
  its casualty totals span the sides' figures).
- ``s_t``: the report's noise: ``share_noise_sd`` for a share (assumption), the target's
  ``report_sd`` for a date (the slack of a stated or an inferred date) and a casualty figure (the
  spread of a lone figure, in log units).

The truth then lies in ``[a_t - beta_t, b_t - beta_t]``, up to the noise: against a run's outcome
``y`` the distance is ``d_t = max(a_t - beta_t - y, 0, y - b_t + beta_t)``. With the emulator's
mean ``mu_t(x)`` and variance ``v_t(x)`` at inputs ``x``, the **implausibility** (Vernon et al.
2010, "Galaxy formation: a Bayesian uncertainty analysis", Bayesian Analysis 5: 619-669, eq. 5;
Andrianakis et al. 2015, PLoS Comput Biol 11: e1003968) is::

    I_t(x) = d_t(mu_t(x)) / sqrt(s_t^2 + delta_t^2 + w_t + v_t(x))

with ``delta_t`` the model's discrepancy (``ObservationSettings``, by kind: assumption) and ``w_t``
the ensemble variance of one run's outcome (the record is one realisation of the battle). The
likelihood used for the posterior (``log_likelihood``) is Gaussian in the same distance:
``-1/2 sum_t d_t^2 / V_t`` (flat inside the stated interval).

Methods: docs/methods.md, section 6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.analysis.targets import Target, event_days
from sim.sweeps.experiment import ObservationSettings

SHARE_BIAS = {"government": ("share_bias_government", 1.0), "opposition": ("share_bias_opposition", -1.0)}


@dataclass(frozen=True)
class Observation:
    """One fitted target as the observation model reads it."""

    id: str
    output: str  # the model output it is compared with (targets on the same outcome share one)
    kind: str
    lean: str
    day: int
    low: float  # the stated interval, in the output's units (natural log for counts)
    high: float
    noise_var: float  # s_t^2 + delta_t^2
    bias: str | None  # the bias input that shifts it, if any
    bias_sign: float

    def shift(self, biases: dict[str, np.ndarray]) -> np.ndarray | float:
        """``beta_t`` per row: its sign times its bias input's values (``biases``: input -> values), or 0."""
        return self.bias_sign * np.asarray(biases[self.bias]) if self.bias is not None else 0.0


def output_name(target: Target) -> str:
    """The name of the model output a target compares with: targets on the same outcome share it."""
    if target.nearest:  # the sector nearest to the target's own window: an output of its own
        name = f"{target.outcome}#near:{target.low:g}-{target.high:g}"
    elif target.sectors:
        name = f"{target.outcome}#{target.rank}"
    else:
        name = "-".join(target.columns)
    return f"log:{name}" if target.log_scale else name


def observations(found: list[Target], settings: ObservationSettings) -> list[Observation]:
    """The fitted targets that state an interval, as observations (the sides' brackets are left to the biases)."""
    out = []
    for t in found:
        if not t.fitted or t.stated is None:
            continue
        low, high = t.stated
        if t.log_scale:
            low, high = math.log(max(low, 1.0)), math.log(high) if math.isfinite(high) else math.inf
            noise, discrepancy = t.report_sd, settings.discrepancy_log
        elif t.kind == "control":
            noise, discrepancy = settings.share_noise_sd, settings.discrepancy_share
        else:
            noise, discrepancy = t.report_sd, settings.discrepancy_day
        bias, sign = SHARE_BIAS.get(t.lean, (None, 0.0)) if t.kind == "control" else (None, 0.0)
        out.append(
            Observation(
                id=t.id,
                output=output_name(t),
                kind=t.kind,
                lean=t.lean,
                day=t.day,
                low=low,
                high=high,
                noise_var=noise**2 + discrepancy**2,
                bias=bias,
                bias_sign=sign,
            )
        )
    return out


def output_values(runs: pd.DataFrame, found: list[Target]) -> pd.DataFrame:
    """Each run's value of every output the fitted targets compare with (one column per output).

    Days: an event that never happens counts as ``NEVER_DAY``; counts: the natural log of at least one.
    """
    columns = {}
    for t in found:
        name = output_name(t)
        if not t.fitted or t.stated is None or name in columns:
            continue
        values = t.values(runs)
        if t.in_days:
            values = event_days(values)
        elif t.log_scale:
            values = np.log(np.maximum(np.nan_to_num(values, nan=1.0), 1.0))
        columns[name] = values
    return pd.DataFrame(columns, index=runs.index)


def distances(
    observed: list[Observation], outputs: list[str], values: np.ndarray, biases: dict[str, np.ndarray]
) -> np.ndarray:
    """``d_t`` for every observation at each row of ``values`` (k x outputs): a k x observations array.

    ``biases``: each bias input's value per row (k,).
    """
    column = {name: j for j, name in enumerate(outputs)}
    k = values.shape[0]
    out = np.empty((k, len(observed)))
    for i, o in enumerate(observed):
        y = values[:, column[o.output]]
        bias = o.shift(biases)
        out[:, i] = np.maximum.reduce([o.low - bias - y, np.zeros(k), y - o.high + bias])
    return out


def variances(
    observed: list[Observation], outputs: list[str], emulator_var: np.ndarray, ensemble_var: np.ndarray
) -> np.ndarray:
    """``V_t = s_t^2 + delta_t^2 + w_t + v_t(x)`` at each row: a k x observations array.

    ``emulator_var``: k x outputs; ``ensemble_var``: per output, the variance of one run's value.
    """
    column = {name: j for j, name in enumerate(outputs)}
    index = [column[o.output] for o in observed]
    noise = np.array([o.noise_var for o in observed])
    return noise + ensemble_var[index] + emulator_var[:, index]


def implausibility(
    observed: list[Observation],
    outputs: list[str],
    mean: np.ndarray,
    emulator_var: np.ndarray,
    ensemble_var: np.ndarray,
    biases: dict[str, np.ndarray],
) -> np.ndarray:
    """``I_t(x)`` of every observation at each row (k x observations)."""
    d = distances(observed, outputs, mean, biases)
    return d / np.sqrt(variances(observed, outputs, emulator_var, ensemble_var))


def log_likelihood(
    observed: list[Observation],
    outputs: list[str],
    mean: np.ndarray,
    emulator_var: np.ndarray,
    ensemble_var: np.ndarray,
    biases: dict[str, np.ndarray],
) -> np.ndarray:
    """``-1/2 sum_t d_t^2 / V_t = -1/2 sum_t I_t^2`` at each row (k,)."""
    return -0.5 * (implausibility(observed, outputs, mean, emulator_var, ensemble_var, biases) ** 2).sum(axis=1)
