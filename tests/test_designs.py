import numpy as np
import pytest
from scipy.stats import qmc

from sim.sweeps.designs import DesignError, levels_design, max_abs_correlation, minimum_points, scale, unit_design


@pytest.mark.parametrize(("design", "factors", "points"), [("lhs", 3, 10), ("sobol", 3, 16), ("nolh", 5, 17)])
def test_designs_fill_the_unit_cube_and_repeat_with_their_seed(design, factors, points):
    first = unit_design(design, factors, points, seed=3)
    assert first.shape == (points, factors)
    assert ((first >= 0) & (first <= 1)).all()
    assert np.array_equal(first, unit_design(design, factors, points, seed=3))
    assert not np.array_equal(first, unit_design(design, factors, points, seed=4))


def test_a_latin_hypercube_has_one_point_in_each_stratum():
    design = unit_design("lhs", 4, 12, seed=0)
    for column in design.T:
        assert sorted(np.floor(column * 12).astype(int)) == list(range(12))


def test_sobol_takes_powers_of_two_only():
    with pytest.raises(DesignError, match="power of two"):
        unit_design("sobol", 2, 10, seed=0)
    assert unit_design("sobol", 2, 16, seed=0).shape == (16, 2)


def test_a_grid_is_the_full_lattice_with_its_corners():
    grid = unit_design("grid", 2, 9, seed=0)
    assert {tuple(row) for row in grid} == {(a, b) for a in (0, 0.5, 1) for b in (0, 0.5, 1)}
    with pytest.raises(DesignError, match="1-3 factors"):
        unit_design("grid", 4, 16, seed=0)


def test_nolh_has_the_cioppa_lucas_sizes_latin_columns_and_little_correlation():
    assert minimum_points("nolh", 7) == 17
    assert minimum_points("nolh", 8) == 33
    design = unit_design("nolh", 7, 17, seed=1)
    assert design.shape == (17, 7)
    levels = (np.arange(17) + 0.5) / 17
    for column in design.T:
        assert np.allclose(np.sort(column), levels)
    assert max_abs_correlation(design) < 0.1
    random = [max_abs_correlation(qmc.LatinHypercube(d=7, rng=np.random.default_rng(s)).random(17)) for s in range(50)]
    assert max_abs_correlation(design) < np.median(random) / 3
    with pytest.raises(DesignError, match="at least 17"):
        unit_design("nolh", 3, 10, seed=0)


def test_scale_maps_bounds_and_rounds_integers():
    unit = np.array([[0.0, 0.0], [1.0, 1.0], [0.26, 0.5]])
    scaled = scale(unit, [10, 0.1], [20, 0.2], [True, False])
    assert scaled[0].tolist() == [10, 0.1]
    assert scaled[1].tolist() == [20, 0.2]
    assert scaled[2, 0] == 13  # 12.6 rounded
    with pytest.raises(DesignError):
        scale(unit, [20, 0.1], [10, 0.2])


def test_levels_design_is_the_product_in_order():
    assert levels_design([[1, 2], [True, False]]) == [(1, True), (1, False), (2, True), (2, False)]


def test_unknown_designs_and_too_few_points_are_refused():
    with pytest.raises(DesignError, match="unknown design"):
        minimum_points("fancy", 2)
    with pytest.raises(DesignError, match="at least 4"):
        unit_design("grid", 2, 3, seed=0)
