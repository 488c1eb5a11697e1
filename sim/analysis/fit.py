"""The loss of a run and the fit of an ensemble to the record's targets.

The **loss** of a run is, over the targets of ``sim.analysis.targets`` (each distance in units of
the target's tolerance), the weighted mean of the distances' Huber penalties::

    loss = sum_i w_i * rho(d_i) / sum_i w_i,   w_i = the target's weight,
    rho(d) = d**2 for d <= HUBER_KNEE, else HUBER_KNEE * (2 * d - HUBER_KNEE)

(``LEAN_WEIGHT`` of the source's lean for claims, events and dead to date; 1 for battle totals;
``BOTH_SIDES_WEIGHT`` for the sides' brackets; 0 for what is scored, not fitted: ``NOT_FITTED_WHY``),
and the loss of a parameter set is the mean over its replicates (what calibration minimises).
Squared near the targets, linear far from them: the record contradicts itself by up to 60 points
of the town (rebels holding 80 % on the day Reuters gives the attackers two-thirds), and squared
distances let the few claims farthest from every other source decide a fit (with them, four
opposition claims contradicted by neutral ones made four fifths of the baseline's loss).
An ensemble is **consistent** with a target when the target's interval overlaps the ensemble's 90%
band (5th to 95th percentile); the **goodness of fit** of an ensemble is the weighted share of its
targets it is consistent with, and **coverage** is the share of runs inside a target's interval.
The counts of consistent targets are of the fitted ones (weight above 0); a list with none has no
loss (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.analysis.targets import NEVER_DAY, Target

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
    """How an ensemble compares with one target."""

    target: Target
    quantiles: dict[str, float]
    never: float
    coverage: float
    median_distance: float
    loss: float
    consistent: bool


@dataclass
class Fit:
    """How an ensemble compares with the record: per target and in total."""

    runs: int
    per_target: list[TargetFit]
    loss: float
    goodness: float
    consistent: int
    compared: int
    not_fitted: int


def quantiles(values: np.ndarray, censor: float | None = None) -> dict[str, float]:
    """The 5, 25, 50, 75 and 95th percentiles (missing values as ``censor``, or dropped)."""
    x = np.asarray(values, dtype=float)
    x = np.where(np.isnan(x), censor, x) if censor is not None else x[~np.isnan(x)]
    if x.size == 0:
        return {f"q{round(q * 100):02d}": float("nan") for q in QUANTILES}
    return {f"q{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES), strict=True)}


def fit(runs: pd.DataFrame, found: list[Target]) -> Fit:
    """Compare an ensemble (one row of outcomes per run) with the targets."""
    per_target = []
    weights = sum(t.weight for t in found)
    for target in found:
        values = target.values(runs)
        censor = NEVER_DAY if target.kind == "event" else None
        q = quantiles(values, censor)
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
        compared=sum(t.target.fitted for t in per_target),
        not_fitted=sum(not t.target.fitted for t in per_target),
    )
