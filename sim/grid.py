"""Grid helpers the rules share: per-cell sums of squads, window (box) sums, cover, town coordinates, entry cells.

Grids are numpy arrays indexed ``[x (east), y (north)]``, the arrays of the Mesa grid's property
layers (``sim.state.BattleState``).
"""

from __future__ import annotations

import numpy as np

from sim.state import BattleState

DIRECTIONS = ("north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest")
ENTRY_BAND_CELLS = 3  # assumption: attackers arrive within three cells (300 m) of the town's edge


def cell_sums(
    shape: tuple[int, int], x: np.ndarray, y: np.ndarray, layer: np.ndarray, weights: np.ndarray, layers: int
) -> np.ndarray:
    """Per-cell sums of ``weights`` into ``layers`` stacked grids, squad i going to grid ``layer[i]``."""
    size = shape[0] * shape[1]
    flat = layer.astype(np.int64) * size + x.astype(np.int64) * shape[1] + y
    return np.bincount(flat, weights=weights, minlength=layers * size).reshape(layers, *shape)


def cell_sum(shape: tuple[int, int], x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum of ``weights`` per grid cell, from the squads' coordinates."""
    return cell_sums(shape, x, y, np.zeros(len(x), np.int64), weights, 1)[0]


def box_sum(field: np.ndarray, radius: int) -> np.ndarray:
    """Sum of ``field`` over the (2r+1)^2 window around each cell, zero outside the grid.

    ``field`` is one grid or a stack of grids (leading axes); summed along x, then along y,
    over shifted slices of a zero-padded copy.
    """
    if radius == 0:
        return field
    width, height = field.shape[-2:]
    padded = np.zeros((*field.shape[:-2], width + 2 * radius, height + 2 * radius))
    padded[..., radius : radius + width, radius : radius + height] = field
    along_x = padded[..., 0:width, :].copy()
    for d in range(1, 2 * radius + 1):
        along_x += padded[..., d : d + width, :]
    total = along_x[..., 0:height].copy()
    for d in range(1, 2 * radius + 1):
        total += along_x[..., d : d + height]
    return total


def cover(state: BattleState, cover_max: float) -> np.ndarray:
    """Cover per cell: ``cover_max * built_up * (1 - damage)`` (zero in a well-mixed space)."""
    if state.well_mixed:
        return np.zeros(state.shape)
    return cover_max * state.built_up * (1.0 - state.damage)


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
