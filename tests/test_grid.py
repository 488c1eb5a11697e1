import numpy as np
import pytest

from sim.grid import (
    DIRECTIONS,
    ENTRY_BAND_CELLS,
    cell_sums,
    entry_cells,
    town_xy,
)
from sim.model import BattleModel
from tests.conftest import small_scenario


def test_cell_sums_add_each_squads_weight_to_its_cell_and_grid():
    x, y = np.array([0, 2, 2, 1]), np.array([1, 0, 0, 1])
    layer, weights = np.array([0, 1, 1, 0]), np.array([1.0, 2.0, 3.0, 4.0])
    sums = cell_sums((3, 2), x, y, layer, weights, 2)
    expected = np.zeros((2, 3, 2))
    expected[0, 0, 1], expected[1, 2, 0], expected[0, 1, 1] = 1.0, 5.0, 4.0
    np.testing.assert_array_equal(sums, expected)
    flat = layer * 6 + x * 2 + y  # the same sums as numpy's bincount, in the same order
    np.testing.assert_array_equal(sums.ravel(), np.bincount(flat, weights=weights, minlength=12))


def test_town_xy_counts_rows_from_the_north_and_columns_from_the_west():
    margin, side = 5, 20
    assert town_xy(margin, side, 0, 0) == (5, 24)  # the north-west corner: the top row of the grid
    assert town_xy(margin, side, 19, 19) == (24, 5)  # the south-east corner


@pytest.fixture(scope="module")
def state():
    return BattleModel(small_scenario(), rng=1).state


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_entry_cells_lie_in_the_outskirts_on_their_side(state, direction):
    xs, ys = entry_cells(state, direction, 200)
    assert not state.in_town_mask[xs, ys].any()
    low, high = state.margin, state.margin + state.town_side  # the town spans [low, high) on both axes
    corner = 2 * ENTRY_BAND_CELLS  # a diagonal reaches this far along the town's side from its corner
    if direction == "west":  # beyond the river, on its crossings
        assert (xs == state.river_col - 1).all()
        assert set(ys) <= set(state.river_crossing_ys)
        return
    expected_x = {"east": xs >= high, "west": xs < low}
    expected_y = {"north": ys >= high, "south": ys < low}
    if direction in expected_y:  # north or south: along the whole side
        assert expected_y[direction].all()
        assert ((xs >= low) & (xs < high)).all()
    elif direction in expected_x:
        assert expected_x[direction].all()
    else:  # a diagonal: off the corner, on its east or west side
        side = "east" if direction.endswith("east") else "west"
        assert expected_x[side].all()
        if direction.startswith("north"):
            assert (ys >= high - corner).all()
        else:
            assert (ys < low + corner).all()
