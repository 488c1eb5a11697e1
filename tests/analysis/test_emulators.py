"""Emulators: Gaussian processes on a quadratic mean, their validation and Sobol indices on them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import qmc
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel

from sim.analysis.emulators import (
    _basis,
    emulator_diagnostics,
    fit_emulators,
    loo_errors,
    sobol_on_emulators,
)


def design(n: int, d: int, seed: int) -> np.ndarray:
    return qmc.LatinHypercube(d=d, seed=seed).random(n)


def smooth(x: np.ndarray) -> np.ndarray:
    """Two outputs of six inputs (the sixth does nothing)."""
    first = np.sin(3 * x[:, 0]) + x[:, 1] ** 2 + 2 * x[:, 2] * x[:, 3] + 0.5 * np.exp(x[:, 4])
    second = np.cos(2 * x[:, 0] + x[:, 1]) * x[:, 3]
    return np.column_stack([first, second])


def ishigami(x: np.ndarray) -> np.ndarray:
    """Ishigami's function (a = 7, b = 0.1) on [-pi, pi]^3, from the unit cube; a fourth input does nothing."""
    u = np.pi * (2 * x - 1)
    return np.sin(u[:, 0]) + 7 * np.sin(u[:, 1]) ** 2 + 0.1 * u[:, 2] ** 4 * np.sin(u[:, 0])


@pytest.fixture(scope="module")
def fitted():
    x = design(120, 6, seed=1)
    y = smooth(x)
    var = np.full_like(y, 1e-6)
    return x, y, var, fit_emulators(x, y, var, ["first", "second"], seed=3)


def test_the_emulators_reproduce_a_smooth_function_of_six_inputs_on_held_out_points(fitted):
    *_, em = fitted
    x = design(300, 6, seed=2)
    table = emulator_diagnostics(em, x, smooth(x), np.zeros((300, 2)))
    assert list(table.index) == ["first", "second"]
    assert (table["r2"] > 0.99).all()
    assert (table["within_3"] >= 0.9).all()  # Bastos & O'Hagan: about 95 % within 3


def test_mean_and_variance_are_universal_kriging_on_the_fitted_kernel(fitted):
    x, y, var, em = fitted
    out = em.outputs[0]
    z = y[:, 0] / out.scale
    nugget = var[:, 0] / out.scale**2 + 1e-8
    kernel = ConstantKernel(out.sigma2, "fixed") * RBF(1 / out.inv_length, "fixed")
    h = _basis(x)
    k_inv = np.linalg.inv(kernel(x) + np.diag(nugget))
    a_inv = np.linalg.inv(h.T @ k_inv @ h)
    beta = a_inv @ h.T @ k_inv @ z  # generalised least squares
    gp = GaussianProcessRegressor(kernel, alpha=nugget, optimizer=None).fit(x, z - h @ beta)
    x_new = design(50, 6, seed=5)
    gp_mean, gp_sd = gp.predict(x_new, return_std=True)
    h_new = _basis(x_new)
    r = h_new.T - h.T @ k_inv @ kernel(x, x_new)
    mean, variance = em.predict(x_new)
    np.testing.assert_allclose(mean[:, 0], out.scale * (h_new @ beta + gp_mean), rtol=1e-6, atol=1e-8)
    expected = out.scale**2 * (gp_sd**2 + np.einsum("ij,ij->j", r, a_inv @ r))
    # the cancellation in sigma^2 - k K^-1 k: relative to sigma^2
    np.testing.assert_allclose(variance[:, 0], expected, rtol=1e-3, atol=1e-9 * out.scale**2 * out.sigma2)
    screen_mean, bound = em.screen(x_new)
    np.testing.assert_allclose(screen_mean, mean)
    assert (bound >= variance).all()


def test_the_variance_is_small_at_the_design_and_large_far_from_it():
    x = design(40, 2, seed=4) * [0.4, 1.0]  # the design covers x1 < 0.4 only
    y = np.sin(6 * x[:, :1]) + x[:, 1:]
    em = fit_emulators(x, y, np.full_like(y, 1e-6), ["y"], seed=0)
    _, near = em.predict(x[:5])
    _, far = em.predict(np.array([[1.0, 0.5], [0.95, 0.1]]))
    assert near.max() < 1e-4
    assert far.min() > 100 * near.max()


def test_with_a_nugget_the_mean_smooths_the_noise_instead_of_interpolating_it():
    rng = np.random.default_rng(0)
    x = design(80, 2, seed=6)
    truth = np.sin(4 * x[:, 0]) + x[:, 1]
    y = (truth + rng.normal(0, 0.3, size=80))[:, None]
    em = fit_emulators(x, y, np.full_like(y, 0.09), ["y"], seed=0)
    mean, _ = em.predict(x)
    assert np.sqrt(np.mean((mean[:, 0] - y[:, 0]) ** 2)) > 0.2  # does not pass through the data
    assert np.sqrt(np.mean((mean[:, 0] - truth) ** 2)) < 0.5 * np.sqrt(np.mean((y[:, 0] - truth) ** 2))


def test_the_same_arguments_and_seed_give_the_same_emulators_in_one_process_or_two(fitted):
    x, y, var, em = fitted
    again = fit_emulators(x, y, var, ["first", "second"], seed=3, processes=2)  # each output in a process
    x_new = design(20, 6, seed=7)
    for first, second in zip(em.predict(x_new), again.predict(x_new), strict=True):
        np.testing.assert_array_equal(first, second)
    for one, other in zip(em.outputs, again.outputs, strict=True):
        np.testing.assert_array_equal(one.chol, other.chol)


def test_a_constant_output_has_a_constant_emulator_and_nan_stops_the_fit():
    x = design(30, 2, seed=8)
    y = np.column_stack([np.full(30, 2.5), x[:, 0] + np.sin(5 * x[:, 1])])
    em = fit_emulators(x, y, np.zeros_like(y), ["constant", "varying"], seed=0)
    mean, var = em.predict(design(10, 2, seed=9))
    np.testing.assert_array_equal(mean[:, 0], 2.5)
    np.testing.assert_array_equal(var[:, 0], 0.0)
    assert (var[:, 1] >= 0).all()
    y[3, 1] = np.nan
    with pytest.raises(ValueError, match="y_mean: 1 values are NaN"):
        fit_emulators(x, y, np.zeros_like(y), ["constant", "varying"], seed=0)


def test_leave_one_out_errors_equal_refits_without_each_point(fitted):
    x, y, var, em = fitted
    errors = loo_errors(x, y, var, ["first", "second"], seed=3, fitted=em)
    assert errors.shape == (120, 2)
    out = em.outputs[1]
    z = y[:, 1] / out.scale - _basis(x) @ out.beta
    nugget = var[:, 1] / out.scale**2 + 1e-8
    kernel = ConstantKernel(out.sigma2, "fixed") * RBF(1 / out.inv_length, "fixed")
    for n in (0, 57, 119):
        keep = np.arange(120) != n
        gp = GaussianProcessRegressor(kernel, alpha=nugget[keep], optimizer=None).fit(x[keep], z[keep])
        mean, sd = gp.predict(x[n : n + 1], return_std=True)
        expected = (z[n] - mean[0]) / np.sqrt(sd[0] ** 2 + nugget[n])
        assert errors["second"].iloc[n] == pytest.approx(expected, rel=1e-5)


def test_sobol_indices_on_the_emulators_recover_ishigami():
    x = design(200, 4, seed=10)
    y = np.column_stack([ishigami(x), 4 * x[:, 0] + x[:, 1]])
    em = fit_emulators(x, y, np.full_like(y, 1e-6), ["ishigami", "linear"], seed=0)
    table = sobol_on_emulators(
        em, ["x1", "x2", "x3", "x4"], samples=2048, seed=0, noise_var=np.array([0.0, 17 / 12])
    ).set_index(["output", "input"])
    known = {  # Ishigami: Saltelli et al. (2008), analytic
        "x1": (0.3139, 0.5576),
        "x2": (0.4424, 0.4424),
        "x3": (0.0, 0.2437),
        "x4": (0.0, 0.0),
    }
    for factor, (s1, st) in known.items():
        assert table.loc[("ishigami", factor), "S1"] == pytest.approx(s1, abs=0.05)
        assert table.loc[("ishigami", factor), "ST"] == pytest.approx(st, abs=0.05)
    # 4 x1 + x2: variances 16 / 12 and 1 / 12, shares 16 / 17 and 1 / 17; x3, x4 nothing
    linear = table.loc["linear"]
    np.testing.assert_allclose(linear["S1"], [16 / 17, 1 / 17, 0, 0], atol=0.03)
    np.testing.assert_allclose(linear["ST"], [16 / 17, 1 / 17, 0, 0], atol=0.03)
    # noise equal to the signal's variance (17 / 12): the floor is one half, above it x1 only
    np.testing.assert_allclose(linear["noise_floor"], 0.5, atol=0.02)
    assert list(linear["above_floor"]) == [True, False, False, False]
    assert (table.loc["ishigami", "noise_floor"] == 0).all()
