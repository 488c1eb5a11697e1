"""The generator rebuilt inside a kernel from its handle draws the Python generator's own numbers."""

import numpy as np
from numba import njit

from sim.rng import generator, handle


@njit(cache=True)
def _draws(addresses: np.ndarray, n: int) -> np.ndarray:
    rng = generator(addresses)
    out = np.zeros((n, 5))
    for i in range(n):
        out[i, 0] = rng.random()
        out[i, 1] = rng.binomial(12, 0.3)
        out[i, 2] = rng.normal(0.0, 1.0)
        out[i, 3] = rng.integers(0, 10)
        out[i, 4] = rng.poisson(2.5)
    return out


@njit(cache=True)
def _draws_from(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.zeros((n, 5))
    for i in range(n):
        out[i, 0] = rng.random()
        out[i, 1] = rng.binomial(12, 0.3)
        out[i, 2] = rng.normal(0.0, 1.0)
        out[i, 3] = rng.integers(0, 10)
        out[i, 4] = rng.poisson(2.5)
    return out


def test_handle_draws_what_the_generator_draws_and_advances_it():
    through_handle, passed_in = np.random.default_rng(7), np.random.default_rng(7)
    addresses = handle(through_handle)
    for _ in range(3):  # calls in a row continue the same stream
        np.testing.assert_array_equal(_draws(addresses, 50), _draws_from(passed_in, 50))
    assert through_handle.random() == passed_in.random()  # the Python generator was advanced
    assert not np.array_equal(_draws(addresses, 5), _draws(handle(np.random.default_rng(8)), 5))


def test_state_remakes_the_handle_when_the_generator_is_replaced():
    from sim.model import BattleModel

    model = BattleModel(rng=3)
    first = model.state.rng_handle
    assert model.state.rng_handle is first  # read once per generator
    model.reset_rng(4)
    assert not np.array_equal(model.state.rng_handle, first)
    np.testing.assert_array_equal(model.state.rng_handle, handle(model.rng))
    np.testing.assert_array_equal(model.state.civilian_rng_handle, handle(model.civilian_rng))
