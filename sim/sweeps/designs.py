"""Experimental designs on the unit hypercube, and their scaling to parameter bounds.

Every design is an ``(n, factors)`` array of values in [0, 1], one row per design point, which
:func:`scale` maps to the parameters' bounds. The functions are pure: randomness comes only from the
``seed`` passed in, so the same call always gives the same design. The choice follows data-farming
practice:

- ``grid``: a full factorial with evenly spaced levels, corners included. It grows as
  ``levels ** factors``, so it is only for 1-3 factors (e.g. a response surface of two parameters
  to plot); the number of rows is ``levels ** factors``, which may differ from the points asked for.
- ``lhs``: a Latin hypercube (``scipy.stats.qmc.LatinHypercube``): each factor's range is cut into
  ``points`` equal strata with one point in each. Any number of points and factors; the default
  choice for screening many factors when the run count is fixed by the budget.
- ``sobol``: a scrambled Sobol' sequence (``scipy.stats.qmc.Sobol``), a low-discrepancy design for
  filling the space evenly and for variance-based sensitivity analysis; ``points`` must be a power of
  two (the sequence's balance properties hold only then).
- ``nolh``: a nearly orthogonal Latin hypercube in the sizes of Cioppa & Lucas (2007): 17 points for
  2-7 factors, 33 for 8-11, 65 for 12-16, 129 for 17-22, 257 for 23-29. Few runs, space-filling, and
  columns almost uncorrelated, so the factors' main effects can be told apart by regression: the
  workhorse of data farming. The published matrices are not available here, so the design is
  **found by a seeded search, not taken from the published table**: many random centred Latin
  hypercubes are drawn, the least correlated are improved by swapping entries within columns, and the
  one with the smallest largest absolute pairwise correlation is kept (:func:`max_abs_correlation`
  reports it; it is typically about 0.015 for 7 factors and 17 points, 0.006 for 11 and 33).
- :func:`levels_design`: the full factorial of explicit value lists, for discrete factors.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence

import numpy as np

DESIGNS = ("grid", "lhs", "sobol", "nolh")
GRID_MAX_FACTORS = 3
NOLH_SIZES = ((7, 17), (11, 33), (16, 65), (22, 129), (29, 257))  # (most factors, points), Cioppa & Lucas
NOLH_CANDIDATES = 1000  # random centred Latin hypercubes drawn
NOLH_PASSES = 50  # most passes of the swap descent over all columns
NOLH_MAX_PAIRS = 1024  # row pairs tried per column and pass (a random subset when there are more)
NOLH_WORK = 20_000_000  # bound on the descents' work, which sets how many of the best candidates are descended
NOLH_MAX_RESTARTS = 8
_CHUNK = 1_000_000  # values drawn at once while drawing candidates (bounds memory)


class DesignError(ValueError):
    """A design that cannot be built as asked."""


def nolh_size(factors: int) -> int:
    """The smallest Cioppa-Lucas size (17, 33, 65, 129 or 257 points) for ``factors`` factors.

    Raises:
        DesignError: for more than 29 factors.

    """
    for most, points in NOLH_SIZES:
        if factors <= most:
            return points
    raise DesignError(f"nolh: at most {NOLH_SIZES[-1][0]} factors, got {factors}")


def minimum_points(design: str, factors: int) -> int:
    """The fewest points ``design`` accepts for ``factors`` factors.

    grid: ``2 ** factors`` (two levels per factor); lhs and sobol: 2; nolh: the Cioppa-Lucas size.

    Raises:
        DesignError: for an unknown design, fewer than one factor, a grid of more than 3 factors or a
            nolh of more than 29.

    """
    if design not in DESIGNS:
        raise DesignError(f"unknown design {design!r} (valid: {', '.join(DESIGNS)})")
    if factors < 1:
        raise DesignError(f"{design}: a design needs at least one factor, got {factors}")
    if design == "grid":
        if factors > GRID_MAX_FACTORS:
            raise DesignError(
                f"grid: full factorials are for 1-{GRID_MAX_FACTORS} factors, got {factors} (use lhs, sobol or nolh)"
            )
        return 2**factors
    if design == "nolh":
        return nolh_size(factors)
    return 2


def max_abs_correlation(design: np.ndarray) -> float:
    """The largest absolute Pearson correlation between two columns of ``design`` (0 for one column)."""
    design = np.asarray(design, dtype=float)
    if design.ndim != 2 or design.shape[1] < 2:
        return 0.0
    corr = np.corrcoef(design, rowvar=False)
    return float(np.max(np.abs(corr[np.triu_indices_from(corr, k=1)])))


def _nolh_candidates(levels: np.ndarray, factors: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random Latin hypercubes, as ``(count, factors, size)`` permutations of ``levels``."""
    per_chunk = max(1, _CHUNK // (factors * len(levels)))
    chunks = []
    for start in range(0, count, per_chunk):
        keys = rng.random((min(per_chunk, count - start), factors, len(levels)))
        chunks.append(levels[np.argsort(keys, axis=2)])
    return np.concatenate(chunks)


def _descend(columns: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Swap entries within columns while that lowers the sum of squared pairwise correlations.

    ``columns`` is ``(factors, size)``, each row a permutation of the same centred levels (mean 0), so
    the correlation of two columns is their dot product over the levels' sum of squares and a swap of
    rows i and j in column c changes its dot product with column o by ``-(x_ic - x_jc)(x_io - x_jo)``.
    Each step makes the best swap among the row pairs tried for one column; swaps keep columns Latin.
    """
    factors, size = columns.shape
    norm = float(columns[0] @ columns[0])
    corr = columns @ columns.T / norm
    all_i, all_j = np.triu_indices(size, k=1)
    for _ in range(NOLH_PASSES):
        improved = False
        for c in rng.permutation(factors):
            if len(all_i) > NOLH_MAX_PAIRS:
                tried = rng.choice(len(all_i), NOLH_MAX_PAIRS, replace=False)
                rows_i, rows_j = all_i[tried], all_j[tried]
            else:
                rows_i, rows_j = all_i, all_j
            others = np.arange(factors) != c
            change = (columns[c, rows_i] - columns[c, rows_j]) * (
                columns[others][:, rows_i] - columns[others][:, rows_j]
            )
            trial = corr[c, others][:, None] - change / norm  # (factors - 1, pairs tried)
            badness = np.sum(trial**2, axis=0)
            best = int(np.argmin(badness))
            if badness[best] < np.sum(corr[c, others] ** 2) * (1 - 1e-12):
                i, j = rows_i[best], rows_j[best]
                columns[c, [i, j]] = columns[c, [j, i]]
                corr[c, others] = corr[others, c] = trial[:, best]
                improved = True
        if not improved:
            break
    return columns


def _nolh(factors: int, points: int, rng: np.random.Generator) -> np.ndarray:
    """A centred nearly orthogonal Latin hypercube of the Cioppa-Lucas size, found by search.

    The size is the smallest Cioppa-Lucas size of at least ``points`` rows for ``factors`` factors,
    the levels ``(i + 0.5) / size``. Search: ``NOLH_CANDIDATES`` random Latin hypercubes ranked by
    their largest absolute correlation; the best few (as many as ``NOLH_WORK`` allows, at most
    ``NOLH_MAX_RESTARTS``) improved by :func:`_descend`; the one with the smallest largest absolute
    correlation kept. About 0.05 s for 7 factors and 17 points, 0.1 s for 11 and 33, 0.8 s for 29 and 257.
    """
    sizes = [size for most, size in NOLH_SIZES if factors <= most and size >= points]
    if not sizes:
        raise DesignError(f"nolh: at most {NOLH_SIZES[-1][1]} points for {factors} factor(s), got {points}")
    size = sizes[0]
    levels = (np.arange(size) + 0.5) / size
    if factors == 1:
        return levels[:, None]
    candidates = _nolh_candidates(levels - 0.5, factors, NOLH_CANDIDATES, rng)
    corr = candidates @ candidates.transpose(0, 2, 1)
    upper = np.triu_indices(factors, k=1)
    worst = np.max(np.abs(corr[:, upper[0], upper[1]]), axis=1)
    work = NOLH_PASSES * factors * (factors - 1) * min(size * (size - 1) // 2, NOLH_MAX_PAIRS)
    restarts = int(np.clip(NOLH_WORK // work, 1, NOLH_MAX_RESTARTS))
    descended = [_descend(candidates[k].copy(), rng) for k in np.argsort(worst, kind="stable")[:restarts]]
    best = min(descended, key=lambda columns: max_abs_correlation(columns.T))
    return best.T + 0.5


def unit_design(design: str, factors: int, points: int, seed: int) -> np.ndarray:
    """A ``design`` of ``factors`` columns with values in [0, 1], reproducible from ``seed``.

    Rows: ``points`` for lhs and sobol. grid: ``levels ** factors`` with
    ``levels = round(points ** (1 / factors))``, which may differ from ``points`` (10 points for 2
    factors give the 3 x 3 lattice of 9). nolh: the smallest Cioppa-Lucas size of at least ``points``
    rows that supports ``factors`` factors (e.g. 20 points for 5 factors give 33 rows).

    Raises:
        DesignError: for an unknown design, fewer than one factor, too many factors for the design,
            fewer points than :func:`minimum_points`, sobol points that are not a power of two, or
            more nolh points than the largest Cioppa-Lucas size.

    """
    factors, points = operator.index(factors), operator.index(points)
    minimum = minimum_points(design, factors)
    if points < minimum:
        raise DesignError(f"{design}: needs at least {minimum} points for {factors} factor(s), got {points}")
    rng = np.random.default_rng(seed)
    if design == "grid":
        levels = round(points ** (1.0 / factors))
        if levels < 2:
            raise DesignError(f"grid: needs at least 2 levels per factor ({minimum} points), got {points} points")
        axis = np.linspace(0.0, 1.0, levels)
        return np.array(list(itertools.product(axis, repeat=factors)), dtype=float)
    # scipy.stats is imported here, not at the top: it takes half a second, which every `qusayr`
    # command and every pool worker would otherwise pay
    from scipy.stats import qmc

    if design == "lhs":
        return qmc.LatinHypercube(d=factors, rng=rng).random(points)
    if design == "sobol":
        if points & (points - 1):
            below = 1 << (points.bit_length() - 1)
            raise DesignError(f"sobol: points must be a power of two (nearest: {below} or {below * 2}), got {points}")
        return qmc.Sobol(d=factors, scramble=True, rng=rng).random_base2(points.bit_length() - 1)
    return _nolh(factors, points, rng)


def scale(
    unit: np.ndarray, lows: Sequence[float], highs: Sequence[float], integer: Sequence[bool] | None = None
) -> np.ndarray:
    """Map each column of ``unit`` linearly from [0, 1] to [low, high].

    Columns flagged in ``integer`` are rounded to the nearest integer (halves to even, as
    ``numpy.rint``); the result stays a float array, so callers convert integer columns themselves.

    Raises:
        DesignError: if ``unit`` is not 2-D, the numbers of columns, lows, highs (and integer flags)
            disagree, or a low bound is above its high bound.

    """
    unit = np.asarray(unit, dtype=float)
    lows_a, highs_a = np.asarray(lows, dtype=float), np.asarray(highs, dtype=float)
    if unit.ndim != 2:
        raise DesignError(f"scale: the design must be 2-D (points x factors), got shape {unit.shape}")
    if not unit.shape[1] == len(lows_a) == len(highs_a) or (integer is not None and len(integer) != len(lows_a)):
        flags = "" if integer is None else f", {len(integer)} integer flags"
        raise DesignError(
            f"scale: one low and one high per column: {unit.shape[1]} columns, {len(lows_a)} lows, "
            f"{len(highs_a)} highs{flags}"
        )
    reversed_bounds = np.flatnonzero(lows_a > highs_a)
    if reversed_bounds.size:
        k = int(reversed_bounds[0])
        raise DesignError(f"scale: column {k} has its low bound {lows_a[k]} above its high bound {highs_a[k]}")
    scaled = lows_a + unit * (highs_a - lows_a)
    if integer is not None:
        rounding = np.asarray(integer, dtype=bool)
        scaled[:, rounding] = np.rint(scaled[:, rounding])
    return scaled


def levels_design(values: Sequence[Sequence[object]]) -> list[tuple]:
    """Every combination of the value lists, in ``itertools.product`` order (the last factor varies fastest)."""
    return list(itertools.product(*values))
