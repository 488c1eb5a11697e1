"""Grid helpers: per-cell sums of squads (the page's picture), town coordinates, entry cells.

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
