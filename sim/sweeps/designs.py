"""Experimental designs on the unit hypercube, and their scaling to parameter bounds.

- ``grid``: a full factorial with evenly spaced levels (corners included); for 1-3 factors only.
- ``lhs``: a Latin hypercube (``scipy.stats.qmc.LatinHypercube``): one point in each of the
  ``points`` strata of every factor.
- ``sobol``: a scrambled Sobol' sequence (``scipy.stats.qmc.Sobol``); ``points`` a power of two.
- ``nolh``: a nearly orthogonal Latin hypercube in the sizes of Cioppa & Lucas (2007): 17 points
  for up to 7 factors, 33 for 8-11, 65 for 12-16, 129 for 17-22, 257 for 23-29. The published
  matrices are not shipped here: the design is found by a seeded search (random Latin hypercubes,
  then swaps within columns) for the centred Latin hypercube with the least correlated columns.
- ``levels_design``: the full factorial of explicit value lists (discrete factors).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy.stats import qmc

DESIGNS = ("grid", "lhs", "sobol", "nolh")
NOLH_SIZES = ((7, 17), (11, 33), (16, 65), (22, 129), (29, 257))  # (most factors, points)
NOLH_TRIES = 100
NOLH_SWAPS = 3000
GRID_MAX_FACTORS = 3


class DesignError(ValueError):
    """A design that cannot be built as asked."""


def nolh_size(factors: int) -> int:
    """The Cioppa-Lucas size for ``factors`` factors."""
    for most, points in NOLH_SIZES:
        if factors <= most:
            return points
    raise DesignError(f"nolh: at most {NOLH_SIZES[-1][0]} factors, got {factors}")


def minimum_points(design: str, factors: int) -> int:
    """The fewest points ``design`` accepts for ``factors`` factors."""
    if design not in DESIGNS:
        raise DesignError(f"unknown design {design!r} (valid: {', '.join(DESIGNS)})")
    if factors < 1:
        raise DesignError("a design needs at least one factor")
    if design == "grid":
        if factors > GRID_MAX_FACTORS:
            raise DesignError(f"grid: full factorials are for 1-{GRID_MAX_FACTORS} factors, got {factors}")
        return 2**factors
    if design == "nolh":
        return nolh_size(factors)
    return 2


def max_abs_correlation(design: np.ndarray) -> float:
    """The largest absolute Pearson correlation between two columns (0 for one column)."""
    if design.shape[1] < 2:
        return 0.0
    corr = np.corrcoef(design, rowvar=False)
    return float(np.max(np.abs(corr[np.triu_indices_from(corr, k=1)])))


def _nolh(factors: int, points: int, rng: np.random.Generator) -> np.ndarray:
    """The centred Latin hypercube of the Cioppa-Lucas size whose columns are least correlated.

    Search: the best of ``NOLH_TRIES`` random permutation designs, then ``NOLH_SWAPS`` tries of
    swapping two entries of a column, kept when the sum of squared correlations does not grow.
    """
    size = nolh_size(factors)
    if points > size:
        size = next(p for most, p in NOLH_SIZES if factors <= most and p >= points)
    levels = (np.arange(size) + 0.5) / size
    if factors == 1:
        return levels[:, None]

    def badness(design: np.ndarray) -> float:
        corr = np.corrcoef(design, rowvar=False)
        return float(np.sum(np.triu(corr, k=1) ** 2))

    best = min(
        (np.column_stack([rng.permutation(levels) for _ in range(factors)]) for _ in range(NOLH_TRIES)), key=badness
    )
    score = badness(best)
    for _ in range(NOLH_SWAPS):
        column = rng.integers(factors)
        i, j = rng.choice(size, 2, replace=False)
        best[[i, j], column] = best[[j, i], column]
        trial = badness(best)
        if trial <= score:
            score = trial
        else:
            best[[i, j], column] = best[[j, i], column]
    return best


def unit_design(design: str, factors: int, points: int, seed: int) -> np.ndarray:
    """A ``design`` of ``factors`` columns in [0, 1]; rows: ``points`` (grid: levels ** factors)."""
    minimum = minimum_points(design, factors)
    if points < minimum:
        raise DesignError(f"{design}: needs at least {minimum} points for {factors} factor(s), got {points}")
    rng = np.random.default_rng(seed)
    if design == "grid":
        levels = max(2, round(points ** (1.0 / factors)))
        axis = np.linspace(0.0, 1.0, levels)
        return np.array(list(itertools.product(axis, repeat=factors)))
    if design == "lhs":
        return qmc.LatinHypercube(d=factors, rng=rng).random(points)
    if design == "sobol":
        m = round(np.log2(points))
        if 2**m != points:
            below = 2 ** int(np.floor(np.log2(points)))
            raise DesignError(f"sobol: points must be a power of two (e.g. {below} or {below * 2}), got {points}")
        return qmc.Sobol(d=factors, scramble=True, rng=rng).random_base2(m)
    return _nolh(factors, points, rng)


def scale(
    unit: np.ndarray, lows: Sequence[float], highs: Sequence[float], integer: Sequence[bool] | None = None
) -> np.ndarray:
    """Map each column from [0, 1] to [low, high]; integer columns are rounded (values stay floats)."""
    lows_a, highs_a = np.asarray(lows, float), np.asarray(highs, float)
    if unit.shape[1] != len(lows_a) or len(lows_a) != len(highs_a):
        raise DesignError("scale: one low and one high per column")
    if np.any(lows_a > highs_a):
        raise DesignError("scale: a low bound is above its high bound")
    scaled = lows_a + unit * (highs_a - lows_a)
    if integer is not None:
        rounding = np.asarray(integer, bool)
        scaled[:, rounding] = np.rint(scaled[:, rounding])
    return scaled


def levels_design(values: Sequence[Sequence[object]]) -> list[tuple]:
    """Every combination of the value lists, in ``itertools.product`` order."""
    return list(itertools.product(*values))
