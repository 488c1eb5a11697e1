"""Each cell's nearest target cell, compiled: the features of scipy's exact Euclidean transform, cell by cell.

For a boolean grid of targets, scipy's ``distance_transform_edt(~targets, return_indices=True)``
gives every cell's *feature*, its nearest target (scipy's C code ``ni_morphology.c``:
``NI_EuclideanFeatureTransform``, ``_ComputeFT``, ``_VoronoiFT``; the algorithm of Maurer, Qi and
Raghavan, IEEE Trans. PAMI 25, 265-270, 2003). Its first pass, along x in each row ``y``, finds the
nearest target of the row (the lower x of two equally near); its second pass, along y in each
column, keeps per cell the nearest of those row features, and of equally near ones the lowest y.
The rules need the features of a few cells only, so ``row_nearest`` does the first pass over the
grid (a sweep from each side) and ``nearest_in_rows`` the second for one cell, searching the rows
outwards from the cell's until they are too far: the same feature as scipy's, to the cell
(``tests/test_distance.py`` checks every cell of random, tied and town-like grids against scipy).
With no target at all, scipy's feature is x = -1, y = 0 for every cell: kept too. All arithmetic
is on integers, exact on any grid.
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
