"""The loss of a run and the fit of an ensemble to the record's targets (``sim.analysis.targets``).

The loss of a run is the weighted mean of the Huber penalties of its distances to the fitted targets::

    loss = sum_i w_i * rho(d_i) / sum_i w_i,   rho(d) = d**2 for d <= HUBER_KNEE, else HUBER_KNEE * (2 * d - HUBER_KNEE)

(weight 0, scored but not fitted: ``NOT_FITTED_WHY``; no fitted target: no loss, NaN). An ensemble is
consistent with a target when the target's interval meets its 90 % band; its goodness of fit is the
weighted share of the targets it is consistent with; a target's coverage is the share of runs inside it.

Methods: docs/methods.md, section 3 (distance, loss, fit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.analysis.targets import Target, event_days

HUBER_KNEE = 1.0  # assumption: beyond one unit of distance (10 points, a day, a factor of 2) a miss counts linearly
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def penalty(distance: np.ndarray) -> np.ndarray:
    """Huber's penalty of a distance: squared up to ``HUBER_KNEE``, then growing linearly."""
    return np.where(distance <= HUBER_KNEE, distance**2, HUBER_KNEE * (2.0 * distance - HUBER_KNEE))


def run_losses(runs: pd.DataFrame, found: list[Target]) -> np.ndarray:
    """The loss of each run (row of ``runs``): weighted mean of the distances' penalties."""
    total = np.zeros(len(runs))
    weights = 0.0
    for target in found:
        if not target.fitted:  # skipped rather than weighted 0: a missing outcome would make 0 * NaN
            continue
        total += target.weight * penalty(target.distance(target.values(runs)))
        weights += target.weight
    return total / weights if weights else np.full(len(runs), np.nan)  # nothing fitted: no loss


@dataclass
class TargetFit:
    """How an ensemble fits one target."""

    target: Target
    quantiles: dict[str, float]
    never: float
    coverage: float
    median_distance: float
    loss: float
    consistent: bool


@dataclass
class Fit:
    """How an ensemble fits the record: per target and in total."""

    runs: int
    per_target: list[TargetFit]
    loss: float
    goodness: float
    consistent: int  # fitted targets the ensemble is consistent with
    fitted: int  # targets of weight above 0
    not_fitted: int  # targets scored but not fitted (weight 0)


def quantiles(values: np.ndarray) -> dict[str, float]:
    """The 5, 25, 50, 75 and 95th percentiles (missing values dropped)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return {f"q{round(q * 100):02d}": float("nan") for q in QUANTILES}
    return {f"q{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES), strict=True)}


def fit(runs: pd.DataFrame, found: list[Target]) -> Fit:
    """Fit an ensemble (one row of outcomes per run) to the targets: per target and in total."""
    per_target = []
    weights = sum(t.weight for t in found)
    for target in found:
        values = target.values(runs)
        q = quantiles(event_days(values) if target.in_days else values)
        distance = target.distance(values)
        band_low, band_high = q["q05"], q["q95"]
        per_target.append(
            TargetFit(
                target=target,
                quantiles=q,
                never=float(np.isnan(values).mean()) if len(values) else float("nan"),
                coverage=float((distance == 0).mean()) if len(values) else float("nan"),
                median_distance=float(target.distance(np.array([q["q50"]]))[0]),
                loss=float(np.mean(penalty(distance))) if len(values) else float("nan"),
                consistent=bool(band_low <= target.high and band_high >= target.low),
            )
        )
    run_loss = run_losses(runs, found)
    consistent_weight = sum(t.target.weight for t in per_target if t.consistent)
    return Fit(
        runs=len(runs),
        per_target=per_target,
        loss=float(run_loss.mean()) if len(run_loss) else float("nan"),
        goodness=consistent_weight / weights if weights else float("nan"),
        consistent=sum(t.consistent for t in per_target if t.target.fitted),
        fitted=sum(t.target.fitted for t in per_target),
        not_fitted=sum(not t.target.fitted for t in per_target),
    )
