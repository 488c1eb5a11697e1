import numpy as np
import pytest
from scipy.stats import qmc

from sim.sweeps.designs import (
    DesignError,
    levels_design,
    max_abs_correlation,
    minimum_points,
    scale,
    unit_design,
)


def centred_levels(n):
    return (np.arange(n) + 0.5) / n


@pytest.mark.parametrize(
    ("design", "factors", "points", "rows"),
    [("grid", 3, 27, 27), ("lhs", 3, 10, 10), ("sobol", 3, 16, 16), ("nolh", 5, 17, 17)],
)
def test_designs_fill_the_unit_cube_and_repeat_with_their_seed(design, factors, points, rows):
    first = unit_design(design, factors, points, seed=3)
    assert first.shape == (rows, factors)
    assert first.dtype == float
    assert ((first >= 0) & (first <= 1)).all()
    assert np.array_equal(first, unit_design(design, factors, points, seed=3))
    if design != "grid":
        assert not np.array_equal(first, unit_design(design, factors, points, seed=4))


def test_a_latin_hypercube_has_one_point_in_each_stratum():
    design = unit_design("lhs", 4, 12, seed=0)
    assert design.shape == (12, 4)
    for column in design.T:
        assert sorted(np.floor(column * 12).astype(int)) == list(range(12))


def test_sobol_takes_powers_of_two_only():
    with pytest.raises(DesignError, match=r"power of two.*8 or 16"):
        unit_design("sobol", 2, 10, seed=0)
    with pytest.raises(DesignError, match="power of two"):
        unit_design("sobol", 2, 3, seed=0)
    design = unit_design("sobol", 2, 16, seed=0)
    assert design.shape == (16, 2)
    # A (scrambled) Sobol' net of 2**m points puts one point in each of 2**m equal strata of every column.
    for column in design.T:
        assert sorted(np.floor(column * 16).astype(int)) == list(range(16))


def test_a_grid_is_the_full_lattice_with_its_corners():
    grid = unit_design("grid", 2, 9, seed=0)
    assert len(grid) == 9
    assert {tuple(row) for row in grid} == {(a, b) for a in (0, 0.5, 1) for b in (0, 0.5, 1)}
    assert unit_design("grid", 2, 10, seed=0).shape == (9, 2)  # round(sqrt(10)) = 3 levels
    assert unit_design("grid", 1, 5, seed=0)[:, 0].tolist() == [0, 0.25, 0.5, 0.75, 1]
    corners = unit_design("grid", 3, 8, seed=0)
    assert {tuple(row) for row in corners} == {(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)}
    with pytest.raises(DesignError, match="1-3 factors"):
        unit_design("grid", 4, 16, seed=0)


@pytest.mark.parametrize(
    ("factors", "size"), [(1, 17), (2, 17), (7, 17), (8, 33), (11, 33), (12, 65), (16, 65), (17, 129), (23, 257)]
)
def test_nolh_minimum_is_the_cioppa_lucas_size(factors, size):
    assert minimum_points("nolh", factors) == size


def test_other_minimums():
    assert [minimum_points("grid", f) for f in (1, 2, 3)] == [2, 4, 8]
    assert minimum_points("lhs", 40) == 2
    assert minimum_points("sobol", 40) == 2
    with pytest.raises(DesignError, match="29 factors"):
        minimum_points("nolh", 30)


@pytest.mark.parametrize(("factors", "points", "rows"), [(7, 17, 17), (8, 33, 33), (11, 33, 33), (5, 20, 33)])
def test_nolh_columns_are_centred_latin(factors, points, rows):
    design = unit_design("nolh", factors, points, seed=1)
    assert design.shape == (rows, factors)
    for column in design.T:
        assert np.allclose(np.sort(column), centred_levels(rows))
    assert max_abs_correlation(design) < 0.1


def test_nolh_is_far_less_correlated_than_random_latin_hypercubes():
    design = unit_design("nolh", 7, 17, seed=1)
    achieved = max_abs_correlation(design)
    assert achieved < 0.1
    random = [max_abs_correlation(qmc.LatinHypercube(d=7, rng=np.random.default_rng(s)).random(17)) for s in range(50)]
    assert achieved < np.median(random) / 3
    assert achieved < min(random)


def test_nolh_of_one_factor_is_the_centred_levels():
    assert np.allclose(unit_design("nolh", 1, 17, seed=0)[:, 0], centred_levels(17))


def test_nolh_refuses_too_few_or_too_many_points():
    with pytest.raises(DesignError, match="at least 17"):
        unit_design("nolh", 3, 10, seed=0)
    with pytest.raises(DesignError, match="at least 33"):
        unit_design("nolh", 9, 17, seed=0)
    with pytest.raises(DesignError, match="at most 257 points"):
        unit_design("nolh", 3, 300, seed=0)


def test_max_abs_correlation():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    assert max_abs_correlation(np.column_stack([x, 2 * x + 1])) == pytest.approx(1.0)
    assert max_abs_correlation(np.column_stack([x, -x, x**2])) == pytest.approx(1.0)
    orthogonal = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=float)
    assert max_abs_correlation(orthogonal) == pytest.approx(0.0)
    assert max_abs_correlation(x[:, None]) == 0.0


def test_scale_maps_bounds_and_rounds_integers():
    unit = np.array([[0.0, 0.0], [1.0, 1.0], [0.26, 0.5]])
    scaled = scale(unit, [10, 0.1], [20, 0.2], [True, False])
    assert scaled.dtype == float
    assert scaled[0].tolist() == [10, 0.1]
    assert scaled[1].tolist() == [20, 0.2]
    assert scaled[2, 0] == 13  # 12.6 rounded
    assert scaled[2, 1] == pytest.approx(0.15)
    unrounded = scale(unit, [10, 0.1], [20, 0.2])
    assert unrounded[2, 0] == pytest.approx(12.6)
    assert scale(unit, [5, 5], [5, 5]).tolist() == [[5, 5]] * 3  # a fixed factor is allowed


def test_scale_refuses_bad_bounds():
    unit = np.zeros((3, 2))
    with pytest.raises(DesignError, match="low bound"):
        scale(unit, [20, 0.1], [10, 0.2])
    with pytest.raises(DesignError, match="one low and one high"):
        scale(unit, [0, 0, 0], [1, 1, 1])
    with pytest.raises(DesignError, match="one low and one high"):
        scale(unit, [0, 0], [1])
    with pytest.raises(DesignError, match="one low and one high"):
        scale(unit, [0, 0], [1, 1], [True])


def test_levels_design_is_the_product_in_order():
    assert levels_design([[1, 2], [True, False]]) == [(1, True), (1, False), (2, True), (2, False)]
    combos = levels_design([["a", "b", "c"], [0, 1], [None, 2.5]])
    assert len(combos) == 12
    assert combos[0] == ("a", 0, None)
    assert combos[1] == ("a", 0, 2.5)
    assert combos[-1] == ("c", 1, 2.5)
    assert levels_design([[7]]) == [(7,)]


def test_unknown_designs_and_too_few_points_are_refused():
    with pytest.raises(DesignError, match="unknown design"):
        minimum_points("fancy", 2)
    with pytest.raises(DesignError, match="unknown design"):
        unit_design("fancy", 2, 10, seed=0)
    with pytest.raises(DesignError, match="at least one factor"):
        unit_design("lhs", 0, 10, seed=0)
    with pytest.raises(DesignError, match="at least 4"):
        unit_design("grid", 2, 3, seed=0)
    with pytest.raises(DesignError, match="at least 2"):
        unit_design("lhs", 2, 1, seed=0)
    with pytest.raises(DesignError, match="at least 2"):
        unit_design("sobol", 2, 1, seed=0)
