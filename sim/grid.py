"""Grid helpers the rules share: per-cell sums of squads, window (box) sums, town coordinates, entry cells.

Grids are numpy arrays indexed ``[x (east), y (north)]``, the arrays of the Mesa grid's property
layers (``sim.state.BattleState``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.state import BattleState

DIRECTIONS = ("north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest")
ENTRY_BAND_CELLS = 3  # assumption: attackers arrive within three cells (300 m) of the town's edge


@njit(cache=True)
def cell_sums(
    shape: tuple[int, int], x: np.ndarray, y: np.ndarray, layer: np.ndarray, weights: np.ndarray, layers: int
) -> np.ndarray:
    """Per-cell sums of ``weights`` into ``layers`` stacked grids, squad i going to grid ``layer[i]``.

    Summed in squad order, in float64 (as ``np.bincount`` does: the same sums to the last bit).
    """
    sums = np.zeros((layers, shape[0], shape[1]))
    for i in range(x.size):
        sums[layer[i], x[i], y[i]] += weights[i]
    return sums


@njit(cache=True)
def cell_sum(shape: tuple[int, int], x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum of ``weights`` per grid cell, from the squads' coordinates (in squad order, float64)."""
    sums = np.zeros(shape)
    for i in range(x.size):
        sums[x[i], y[i]] += weights[i]
    return sums


@njit(cache=True)
def box_sums(stack: np.ndarray, radius: int) -> np.ndarray:
    """Sum of each grid of ``stack`` (grids along the first axis) over the (2r+1)^2 window around each cell.

    Cells outside the grid count zero. Summed along x, then along y, each in increasing order: the
    order of the shifted slices of a zero-padded copy, so the sums are those of numpy to the last bit.
    """
    layers, width, height = stack.shape
    along_x = np.zeros(stack.shape)
    for k in range(layers):
        for i in range(width):
            for j in range(height):
                total = 0.0
                for ii in range(max(i - radius, 0), min(i + radius + 1, width)):
                    total += stack[k, ii, j]
                along_x[k, i, j] = total
    sums = np.zeros(stack.shape)
    for k in range(layers):
        for i in range(width):
            for j in range(height):
                total = 0.0
                for jj in range(max(j - radius, 0), min(j + radius + 1, height)):
                    total += along_x[k, i, jj]
                sums[k, i, j] = total
    return sums


@njit(cache=True)
def box_sum(field: np.ndarray, radius: int) -> np.ndarray:
    """Sum of one grid ``field`` over the (2r+1)^2 window around each cell (``box_sums`` of one grid)."""
    return box_sums(field.reshape((1, field.shape[0], field.shape[1])), radius)[0]


def town_xy(margin: int, town_side: int, col: int, row: int) -> tuple[int, int]:
    """Grid (x, y) of a town cell given in columns and rows from the town's north-west corner."""
    return margin + col, margin + town_side - 1 - row


def entry_cells(state: BattleState, direction: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random outskirts cells on the ``direction`` side of the town (west: beyond the river)."""
    m, t = state.margin, state.town_side
    far = m + t
    band = ENTRY_BAND_CELLS
    span = np.arange(m, far)
    if direction == "west":
        col = max(state.river_col - 1, 0)
        rows = np.array(state.river_crossing_ys or list(span))
        return np.full(n, col), state.rng.choice(rows, size=n)
    options = {
        "south": (span, np.arange(m - band, m)),
        "north": (span, np.arange(far, far + band)),
        "east": (np.arange(far, far + band), span),
        # a diagonal is the outskirts off that corner, on its east or west side
        "northeast": (np.arange(far, far + band), np.arange(far - 2 * band, far + band)),
        "southeast": (np.arange(far, far + band), np.arange(m - band, m + 2 * band)),
        "northwest": (np.arange(m - band, m), np.arange(far - 2 * band, far + band)),
        "southwest": (np.arange(m - band, m), np.arange(m - band, m + 2 * band)),
    }
    col_range, row_range = options[direction]
    return state.rng.choice(col_range, size=n), state.rng.choice(row_range, size=n)
