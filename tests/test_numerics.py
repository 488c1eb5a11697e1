"""``sim.numerics`` to the last bit: numpy's pairwise sum, the power (numpy's shortcuts, else C pow), the draws."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from sim.numerics import binomial, multinomial, pairwise_sum, poisson, power
from sim.rng import generator, handle
from tests.conftest import model_power

SIZES = [0, 1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 130, 136, 255, 256, 257, 1000, 1023, 1300, 4097, 10007, 70001]


@pytest.mark.parametrize("n", SIZES)
def test_pairwise_sum_is_numpys(n: int) -> None:
    rng = np.random.default_rng(n)
    for a in (
        rng.random(n),
        rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, n),
        np.exp(rng.normal(size=n) * 20),
        rng.integers(0, 5, n) * 0.1,
    ):
        assert pairwise_sum(a) == a.sum()
        assert pairwise_sum(a) == np.sum(a)


def test_pairwise_sum_edge_values() -> None:
    for a in (np.full(9, -0.0), np.full(3, -0.0), np.array([np.inf, 1.0]), np.array([np.inf, -np.inf] * 100)):
        with np.errstate(invalid="ignore"):
            expected = a.sum()
        np.testing.assert_array_equal(np.array(pairwise_sum(a)), np.array(expected))
        assert np.signbit(pairwise_sum(a)) == np.signbit(expected)


def test_pairwise_sum_differs_from_a_loop() -> None:
    """The test has teeth: a sequential sum differs from numpy's somewhere."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=1000) * 10.0 ** rng.integers(-8, 8, 1000)
    loop = 0.0
    for v in a:
        loop += v
    assert loop != a.sum()
    assert pairwise_sum(a) == a.sum()


@pytest.mark.parametrize("y", [0.5, 2.0, -1.0, 1.0, 0.0, 3.0, -0.5, -2.0, 3.904, 1.5, 0.25])
def test_power_is_numpys_shortcuts_else_c_pow(y: float) -> None:
    """Numpy's array ``x ** y`` where numpy takes a shortcut, else the C library's ``pow`` (``model_power``).

    Not numpy's array power for the other exponents: on a CPU with AVX-512 it is SIMD code, which
    differs from ``pow`` in the last bit for some ``x``.
    """
    rng = np.random.default_rng(2)
    x = np.concatenate([[0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 2.0], rng.random(20000) * 10, rng.random(200) * 1e-3])
    with np.errstate(all="ignore"):
        expected = model_power(x, y)
    got = np.array([power(v, y) for v in x])
    np.testing.assert_array_equal(got, expected)
    assert (np.signbit(got) == np.signbit(expected)).all()


@njit(cache=True)
def _poissons(rng_handle: np.ndarray, lams: np.ndarray, reps: int) -> np.ndarray:
    rng = generator(rng_handle)
    out = np.empty(lams.size * reps, np.int64)
    for r in range(reps):
        for k in range(lams.size):
            out[r * lams.size + k] = poisson(rng, lams[k])
    return out


@njit(cache=True)
def _multinomial(rng_handle: np.ndarray, n: int, pvals: np.ndarray) -> np.ndarray:
    return multinomial(generator(rng_handle), n, pvals)


@njit(cache=True)
def _binomials(rng_handle: np.ndarray, ns: np.ndarray, ps: np.ndarray, reps: int) -> np.ndarray:
    rng = generator(rng_handle)
    out = np.empty(ns.size * reps, np.int64)
    for r in range(reps):
        for k in range(ns.size):
            out[r * ns.size + k] = binomial(rng, ns[k], ps[k])
    return out


# (n, p) for each branch of numpy's random_binomial (and sim.numerics' shortcut)
BINOMIAL_CASES = [
    (0, 0.3),  # nothing to draw
    (5, 0.0),
    (1, 1e-4),  # inversion, mostly the shortcut to 0
    (10, 1e-3),
    (3, 1e-300),
    (10, 0.05),  # inversion, often past the shortcut
    (25, 0.3),
    (25, 0.5),
    (300, 0.01),
    (300, 0.09),
    (10**7, 2e-6),  # inversion of a count too large for the shortcut
    (10**7, 1e-9),
    (10, 0.6),  # inversion of 1 - p
    (10, 0.97),
    (10, 1.0),
    (7, 0.999999),
    (40, 0.9),
    (1000, 0.5),  # BTPE
    (2000, 0.99),
    (60, 0.5),
]


def test_binomial_draws_numpys() -> None:
    ns, ps = (np.array(column) for column in zip(*BINOMIAL_CASES, strict=True))
    reps = 4000
    for dtype in (np.int64, np.int32):
        counts = ns.astype(dtype)
        numpy_, kernel = np.random.default_rng(11), np.random.default_rng(11)
        expected = np.array([numpy_.binomial(n, p) for _ in range(reps) for n, p in zip(counts, ps, strict=True)])
        np.testing.assert_array_equal(_binomials(handle(kernel), counts, ps, reps), expected)
        assert kernel.bit_generator.state == numpy_.bit_generator.state


def test_poisson_draws_numpys() -> None:
    lams = np.array([0.0, 0.0625, 0.25, 2.0, 9.99, 10.0, 12.5, 15.0, 75.0, 600.0, 1e4])
    reps = 5000
    numpy_, kernel = np.random.default_rng(5), np.random.default_rng(5)
    expected = np.array([numpy_.poisson(lam) for _ in range(reps) for lam in lams])
    np.testing.assert_array_equal(_poissons(handle(kernel), lams, reps), expected)
    assert kernel.bit_generator.state == numpy_.bit_generator.state


def test_multinomial_draws_numpys() -> None:
    rng = np.random.default_rng(0)
    numpy_, kernel = np.random.default_rng(7), np.random.default_rng(7)
    kernel_handle = handle(kernel)
    for _ in range(3000):
        d = int(rng.integers(1, 300))
        weights = 1.0 + rng.integers(0, 40, d) / 10.0 * (rng.random(d) < 0.5)
        pvals = weights / weights.sum()
        n = int(rng.choice([0, 1, 5, 15, 75, 600, 3000]))
        np.testing.assert_array_equal(_multinomial(kernel_handle, n, pvals), numpy_.multinomial(n, pvals))
    assert kernel.bit_generator.state == numpy_.bit_generator.state
