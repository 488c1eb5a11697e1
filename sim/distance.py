"""Nearest target cell of every grid cell, compiled: scipy's exact Euclidean feature transform.

``nearest_target(targets)`` gives what ``scipy.ndimage.distance_transform_edt(~targets,
return_indices=True)`` gives, to the last bit, for 2-D grids, without a call into scipy (whose
wrapper's allocations cost more than the transform on the town's grid). It follows scipy's C code
(``ni_morphology.c``: ``NI_EuclideanFeatureTransform``, ``_ComputeFT``, ``_VoronoiFT``; the algorithm
of Maurer, Qi and Raghavan, IEEE Trans. PAMI 25, 265-270, 2003): a first pass along x in each row
``y`` finds the nearest target of the row, a second pass along y in each column ``x`` keeps, per cell,
the nearest of those row features (the lower envelope of their parabolas). Ties between equally near
targets go as in scipy: in the first pass to the target with the lower x; in the second pass the
envelope drops a row feature only when it is strictly above the others everywhere, and each cell
keeps the envelope's earlier (lower y) feature unless a later one is strictly nearer. (So the
feature is the nearest target, the lowest y of equally near ones, then the lowest x.)

In the first pass scipy's envelope keeps every target of the row (their parabolas all have their
vertex on the line), so each cell simply gets the nearest target of its row, the lower x of two
equally near: here found by a sweep from each side. The second pass is scipy's ``_VoronoiFT``
step by step. scipy computes the envelope's tests in float64 on integer coordinates; every value
is an integer far below 2**53 on any grid of up to 10,000 cells a side, so the float64 results are
exact and the same tests in int64 here decide alike. The distance is ``sqrt(dx * dx + dy * dy)``
in float64, from the feature's offsets, as scipy computes it. With no target at all, scipy's
features are x = -1, y = 0 for every cell (its marker of "no feature" and the zeros it starts
from), and distances are measured to that point: this is kept too.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _column(
    near_x: np.ndarray, near_y: np.ndarray, x: int, g: np.ndarray, env_x: np.ndarray, env_y: np.ndarray
) -> None:
    """Scipy's ``_VoronoiFT`` along y in column ``x``: each cell gets the nearest of the rows' features.

    A cell whose x feature is negative (a row with no target) has none. ``g``, ``env_x`` and
    ``env_y`` are scratch of the column's length.
    """
    height = near_x.shape[1]
    top = -1
    for i in range(height):
        if near_x[x, i] < 0:
            continue
        fd = near_y[x, i]
        tw = near_x[x, i] - x
        w_r = tw * tw
        while top >= 1:
            k1, k2 = g[top], g[top - 1]
            f1 = near_y[x, k1]
            a = f1 - near_y[x, k2]
            b = fd - f1
            c = a + b
            tu = near_x[x, k2] - x
            tv = near_x[x, k1] - x
            if c * (tv * tv) - b * (tu * tu) - a * w_r - a * b * c <= 0:
                break
            top -= 1
        top += 1
        g[top] = i
    if top < 0:
        return
    last = top
    # the envelope's features, read before the column is overwritten
    for m in range(last + 1):
        env_x[m] = near_x[x, g[m]]
        env_y[m] = near_y[x, g[m]]
    m = 0
    for i in range(height):
        t0 = env_x[m] - x
        t1 = env_y[m] - i
        delta1 = t0 * t0 + t1 * t1
        while m < last:
            t0 = env_x[m + 1] - x
            t1 = env_y[m + 1] - i
            delta2 = t0 * t0 + t1 * t1
            if delta1 <= delta2:
                break
            delta1 = delta2
            m += 1
        near_x[x, i] = env_x[m]
        near_y[x, i] = env_y[m]


@njit(cache=True)
def row_nearest(targets: np.ndarray, row_x: np.ndarray) -> bool:
    """Scipy's first pass into ``row_x``: the x of the nearest target in each cell's row (-1: none); whether any.

    Of two equally near targets, the lower x. Found by a sweep from each side.
    """
    width, height = targets.shape
    before = np.full(height, -1, np.int64)
    for x in range(width):
        for y in range(height):
            if targets[x, y]:
                before[y] = x
            row_x[x, y] = before[y]
    after = np.full(height, -1, np.int64)
    for x in range(width - 1, -1, -1):
        for y in range(height):
            if targets[x, y]:
                after[y] = x
            if after[y] >= 0:
                left = row_x[x, y]
                if left < 0 or (after[y] - x) * (after[y] - x) < (x - left) * (x - left):
                    row_x[x, y] = after[y]
    any_target = False
    for y in range(height):
        any_target = any_target or before[y] >= 0
    return any_target


@njit(cache=True)
def nearest_in_rows(row_x: np.ndarray, x: int, y: int) -> tuple[int, int]:
    """Scipy's feature of the one cell (x, y), from the first pass ``row_x`` (``row_nearest``), without the second.

    The rows' nearest targets nearest to the cell, the lowest y of equally near ones: the feature the
    second pass gives (see the module), found by searching the rows outwards from y until they are
    too far. With no target at all, scipy's (-1, 0).
    """
    height = row_x.shape[1]
    best, best_x, best_y = -1, -1, 0
    for d in range(height):
        if best >= 0 and d * d > best:
            break
        for row in (y - d, y + d):
            if row < 0 or row >= height or (d == 0 and row != y) or row_x[x, row] < 0:
                continue
            dx = row_x[x, row] - x
            dist = dx * dx + d * d
            if best < 0 or dist < best or (dist == best and row < best_y):
                best, best_x, best_y = dist, row_x[x, row], row
    return best_x, best_y


@njit(cache=True)
def nearest_features(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The x and y (int64) of the nearest ``True`` cell of the 2-D ``targets``, for every cell (scipy's features)."""
    width, height = targets.shape
    near_x = np.empty((width, height), np.int64)
    near_y = np.empty((width, height), np.int64)
    if not row_nearest(targets, near_x):
        near_y[:] = 0  # scipy's features with no target at all: x = -1, y = 0
        return near_x, near_y
    for x in range(width):
        for y in range(height):
            near_y[x, y] = y
    # second pass: along y in each column
    g = np.empty(height, np.int64)
    env_x = np.empty(height, np.int64)
    env_y = np.empty(height, np.int64)
    for x in range(width):
        _column(near_x, near_y, x, g, env_x, env_y)
    return near_x, near_y


@njit(cache=True)
def distance_to(near_x: np.ndarray, near_y: np.ndarray, x: int, y: int) -> float:
    """Distance from cell (x, y) to its feature, as scipy computes it: ``sqrt(dx * dx + dy * dy)`` in float64."""
    dx = float(near_x[x, y] - x)
    dy = float(near_y[x, y] - y)
    return np.sqrt(dx * dx + dy * dy)


@njit(cache=True)
def nearest_target(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance to, and x and y of, the nearest ``True`` cell of the 2-D ``targets``, for every cell.

    The same as ``distance, (near_x, near_y) = scipy.ndimage.distance_transform_edt(~targets,
    return_indices=True)``, to the last bit: float64 distances, int32 coordinates (see the module).
    """
    width, height = targets.shape
    features_x, features_y = nearest_features(targets)
    distance = np.empty((width, height))
    near_x = np.empty((width, height), np.int32)
    near_y = np.empty((width, height), np.int32)
    for x in range(width):
        for y in range(height):
            near_x[x, y] = features_x[x, y]
            near_y[x, y] = features_y[x, y]
            distance[x, y] = distance_to(features_x, features_y, x, y)
    return distance, near_x, near_y
