"""``sim.distance`` gives scipy's exact Euclidean distances and features to the last bit (whole grids, single cells)."""

import numpy as np
import pytest
from numba import njit
from scipy.ndimage import distance_transform_edt

from sim.distance import nearest_in_rows, nearest_target, row_nearest


@njit(cache=True)
def _each_cell(row_x: np.ndarray) -> np.ndarray:
    cells = np.empty((*row_x.shape, 2), np.int64)
    for x in range(row_x.shape[0]):
        for y in range(row_x.shape[1]):
            cells[x, y, 0], cells[x, y, 1] = nearest_in_rows(row_x, x, y)
    return cells


def _assert_as_scipy(targets: np.ndarray) -> None:
    distance, (near_x, near_y) = distance_transform_edt(~targets, return_indices=True)
    got_distance, got_x, got_y = nearest_target(targets)
    assert got_distance.dtype == distance.dtype
    assert got_x.dtype == near_x.dtype == got_y.dtype
    np.testing.assert_array_equal(got_distance, distance)
    np.testing.assert_array_equal(got_x, near_x)
    np.testing.assert_array_equal(got_y, near_y)
    # one cell at a time, from the first pass only
    row_x = np.empty(targets.shape, np.int64)
    assert row_nearest(targets, row_x) == targets.any()
    cells = _each_cell(row_x)
    np.testing.assert_array_equal(cells[..., 0], near_x)
    np.testing.assert_array_equal(cells[..., 1], near_y)


@pytest.mark.parametrize("shape", [(36, 36), (1, 1), (1, 17), (17, 1), (5, 40), (40, 5), (23, 31), (64, 64)])
@pytest.mark.parametrize("density", [0.0, 0.005, 0.02, 0.1, 0.3, 0.6, 0.95, 1.0])
def test_random_grids_as_scipy(shape, density):
    rng = np.random.default_rng(hash((shape, density)) % 2**32)
    for _ in range(40):
        _assert_as_scipy(rng.random(shape) < density)


def test_no_target_and_all_targets_as_scipy():
    for shape in [(36, 36), (3, 7), (7, 3), (1, 1)]:
        _assert_as_scipy(np.zeros(shape, bool))
        _assert_as_scipy(np.ones(shape, bool))


def test_ties_as_scipy():
    """Symmetric layouts, where many cells have several equally near targets."""
    for shape in [(36, 36), (9, 9), (10, 10), (11, 8)]:
        w, h = shape
        grids = [np.zeros(shape, bool) for _ in range(6)]
        grids[0][[0, -1], :] = True  # two opposite edges
        grids[1][:, [0, -1]] = True
        grids[2][[0, 0, -1, -1], [0, -1, 0, -1]] = True  # the four corners
        grids[3][::3, ::3] = True  # a lattice
        grids[4][w // 2, [0, h - 1]] = True
        grids[4][[0, w - 1], h // 2] = True  # a diamond
        grids[5][1::4, 2::5] = True
        for grid in grids:
            _assert_as_scipy(grid)
            _assert_as_scipy(~grid)


def test_town_like_grids_as_scipy():
    """Blocks of targets in a square town inside a margin, as the movement rule's targets lie."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        grid = np.zeros((36, 36), bool)
        town = rng.random((24, 24)) < rng.random()
        grid[6:30, 6:30] = town
        for _ in range(rng.integers(0, 4)):
            x, y = rng.integers(6, 30, 2)
            grid[x : x + rng.integers(1, 8), y : y + rng.integers(1, 8)] = rng.random() < 0.5
        _assert_as_scipy(grid)
