"""Nearest target cell of every grid cell, compiled: scipy's exact Euclidean feature transform.

``nearest_target(targets)`` gives what ``scipy.ndimage.distance_transform_edt(~targets,
return_indices=True)`` gives, to the last bit, for 2-D grids, without a call into scipy (whose
wrapper's allocations cost more than the transform on the town's grid). It follows scipy's C code
(``ni_morphology.c``: ``NI_EuclideanFeatureTransform``, ``_ComputeFT``, ``_VoronoiFT``; the algorithm
of Maurer, Qi and Raghavan, IEEE Trans. PAMI 25, 265-270, 2003) step by step: a first pass along x in
each row ``y`` finds the nearest target of the row, a second pass along y in each column ``x`` keeps,
per cell, the nearest of those row features (the lower envelope of their parabolas). Ties between
equally near targets therefore go the same way as scipy's: in the first pass to the target with the
lower x; in the second pass the envelope drops a row feature unless it is strictly needed, and each
cell keeps the envelope's earlier (lower y) feature unless a later one is strictly nearer.

scipy computes the envelope's tests in float64 on integer coordinates; every value is an integer far
below 2**53 on any grid of up to 10,000 cells a side, so the float64 results are exact and the same
tests in int64 here decide alike. The distance is ``sqrt(dx * dx + dy * dy)`` in float64, from the
feature's offsets, as scipy computes it. With no target at all, scipy's features are x = -1, y = 0 for
every cell (the marker of "no feature" and the zeros it starts from), and distances are measured to
that point: this is kept too.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _voronoi(
    along: np.ndarray,
    across: np.ndarray,
    marker: np.ndarray,
    start: int,
    step: int,
    n: int,
    coor: int,
    g: np.ndarray,
    env_along: np.ndarray,
    env_across: np.ndarray,
) -> None:
    """Scipy's line step (``_VoronoiFT``) on the ``n`` cells at ``start + i * step`` of the flat features.

    ``along`` is the features' coordinate along the line, ``across`` the other one, ``coor`` the line's
    coordinate across; a cell whose ``marker`` (the x feature, as in scipy) is negative has no feature.
    Each cell of a line with any feature gets the feature of the lower envelope nearest to it.
    ``g``, ``env_along`` and ``env_across`` are scratch of at least ``n`` entries.
    """
    top = -1
    for i in range(n):
        k = start + i * step
        if marker[k] < 0:
            continue
        fd = along[k]
        tw = across[k] - coor
        w_r = tw * tw
        while top >= 1:
            k1 = start + g[top] * step
            k2 = start + g[top - 1] * step
            f1 = along[k1]
            a = f1 - along[k2]
            b = fd - f1
            c = a + b
            tu = across[k2] - coor
            tv = across[k1] - coor
            if c * (tv * tv) - b * (tu * tu) - a * w_r - a * b * c <= 0:
                break
            top -= 1
        top += 1
        g[top] = i
    if top < 0:
        return
    last = top
    # the envelope's features, read before the line is overwritten
    for m in range(last + 1):
        env_along[m] = along[start + g[m] * step]
        env_across[m] = across[start + g[m] * step]
    m = 0
    for i in range(n):
        t0 = env_along[m] - i
        t1 = env_across[m] - coor
        delta1 = t0 * t0 + t1 * t1
        while m < last:
            t0 = env_along[m + 1] - i
            t1 = env_across[m + 1] - coor
            delta2 = t0 * t0 + t1 * t1
            if delta1 <= delta2:
                break
            delta1 = delta2
            m += 1
        k = start + i * step
        along[k] = env_along[m]
        across[k] = env_across[m]


@njit(cache=True)
def nearest_target(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance to, and x and y of, the nearest ``True`` cell of the 2-D ``targets``, for every cell.

    The same as ``distance, (near_x, near_y) = scipy.ndimage.distance_transform_edt(~targets,
    return_indices=True)``, to the last bit: float64 distances, int32 coordinates (see the module).
    """
    width, height = targets.shape
    size = max(width, height)
    fx = np.zeros(width * height, np.int64)  # flat [x, y] (C order): cell x * height + y
    fy = np.zeros(width * height, np.int64)
    g = np.empty(size, np.int64)
    env_along = np.empty(size, np.int64)
    env_across = np.empty(size, np.int64)
    # first pass: along x in each row y (scipy's innermost axis 0)
    for y in range(height):
        for x in range(width):
            k = x * height + y
            if targets[x, y]:
                fx[k] = x
                fy[k] = y
            else:
                fx[k] = -1  # no feature; y stays 0, as in scipy's zeroed output
        _voronoi(fx, fy, fx, y, height, width, y, g, env_along, env_across)
    # second pass: along y in each column x
    for x in range(width):
        _voronoi(fy, fx, fx, x * height, 1, height, x, g, env_along, env_across)
    distance = np.empty((width, height))
    near_x = np.empty((width, height), np.int32)
    near_y = np.empty((width, height), np.int32)
    for x in range(width):
        for y in range(height):
            k = x * height + y
            near_x[x, y] = fx[k]
            near_y[x, y] = fy[k]
            dx = float(fx[k] - x)
            dy = float(fy[k] - y)
            distance[x, y] = np.sqrt(dx * dx + dy * dy)
    return distance, near_x, near_y
