"""Numpy's arithmetic inside compiled kernels, to the last bit: its pairwise sum, its power's shortcuts.

A kernel that sums with a plain loop, or raises with ``**``, can differ from the numpy code it
replaces in the last bits:

- ``np.sum``, ``ndarray.sum`` and ``mean`` of a float64 array add *pairwise*
  (``pairwise_sum`` in numpy's ``_core/src/umath/loops_utils.h.src``): fewer than 8 elements in
  order; up to 128 in 8 interleaved partial sums, combined as ``((r0 + r1) + (r2 + r3)) + ((r4 +
  r5) + (r6 + r7))``, then the remainder in order; above 128, the sums of two halves (the first
  half's length a multiple of 8), recursively. The reduction starts from ``0.0``. ``pairwise_sum``
  here does the same without recursion (numba's ``cache=True`` breaks on recursive functions,
  numba issue 6061): an explicit stack of the halves.
- ``array ** y`` (and ``np.power``) with a scalar exponent takes shortcuts (numpy's
  ``fast_scalar_power``): ``y == 2`` is ``x * x``, ``y == 0.5`` is ``sqrt(x)``, ``y == -1`` is
  ``1 / x``, ``y == 1`` is ``x``, ``y == 0`` is one (``pow`` differs from ``1 / x`` or ``x * x`` in
  the last bit for some ``x``, and from ``sqrt`` at ``-0.0``). ``power`` here takes the same
  shortcuts and otherwise calls the C library's ``pow``, as numba compiles ``x ** y``.
  That is numpy's own array power only where numpy does not dispatch power to SIMD code: on a CPU
  with AVX-512 (numpy's ``X86_V4`` targets) numpy raises an array to a general power (and computes
  ``np.exp`` and ``np.log``, even of one float) with its own vector routines, which differ from the
  C library's in the last bit for a few per cent of arguments (``NPY_DISABLE_CPU_FEATURES=X86_V4``
  makes them agree again). The kernels do not follow numpy there: their power and their ``exp`` are
  the C library's on every machine, so their results depend on the C library, not on numpy's
  dispatch. The tests compare them with numpy's ``x ** y`` for the shortcut exponents and with the
  C library's ``pow`` and ``exp``, element by element, otherwise (``model_power`` and
  ``model_exp`` in ``tests/conftest.py``), never with numpy's array ``**`` or ``np.exp``.

And three of numpy's draws as its C code makes them (``numpy/random/src/distributions/distributions.c``),
from a generator inside a kernel (``sim.rng.generator``): ``poisson(rng, lam)`` is
``Generator.poisson(lam)`` (numba's own rounds ``k`` toward zero where numpy takes the floor),
``multinomial(rng, n, pvals)`` is ``Generator.multinomial(n, pvals)`` (numba has none): binomials of
what is left, element by element, stopping when nothing is left, and ``binomial(rng, n, p)`` is
``Generator.binomial(n, p)``, made cheap where the draw is 0 (most of the model's draws).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.np.random.distributions import random_loggam

PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: at or below it, one block of 8 partial sums
_STACK = 256  # room for the halves: the depth is about 2 * log2(n / 128)
# binomial's shortcut: how far below 1 - n p a uniform must fall to be surely below numpy's (1 - p) ** n as
# computed (exp(n log(1 - p)): its rounding is under n * 2.3e-16 for counts up to SHORTCUT_MAX_N)
SHORTCUT_MARGIN = 1e-9
SHORTCUT_MAX_N = 1_000_000


@njit(cache=True)
def _block_sum(a: np.ndarray, start: int, n: int) -> float:
    """Numpy's pairwise sum of ``a[start:start + n]`` for ``n <= 128``: no halving."""
    if n < 8:
        res = 0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    whole = n - n % 8
    i = 8
    while i < whole:
        k = start + i
        r0 += a[k]
        r1 += a[k + 1]
        r2 += a[k + 2]
        r3 += a[k + 3]
        r4 += a[k + 4]
        r5 += a[k + 5]
        r6 += a[k + 6]
        r7 += a[k + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for k in range(start + whole, start + n):
        res += a[k]
    return res


@njit(cache=True)
def pairwise_sum(a: np.ndarray) -> float:
    """``np.sum`` of a 1-d float64 array, to the last bit (numpy's pairwise summation, no recursion).

    The halves are visited first-half-first through an explicit stack of tasks: a task ``(start,
    n)`` either sums a block (``n <= 128``) onto a stack of values, or stands for the sum of its two
    halves, pushed as "add the two values on top", then the second half, then the first.
    """
    n = a.size
    if n <= PAIRWISE_BLOCK:
        return 0.0 + _block_sum(a, 0, n)
    task_start = np.empty(_STACK, np.int64)
    task_n = np.empty(_STACK, np.int64)  # -1: add the two values on top of the value stack
    values = np.empty(_STACK)
    tasks, held = 1, 0
    task_start[0], task_n[0] = 0, n
    while tasks > 0:
        tasks -= 1
        start, count = task_start[tasks], task_n[tasks]
        if count < 0:
            held -= 1
            values[held - 1] = values[held - 1] + values[held]
        elif count <= PAIRWISE_BLOCK:
            values[held] = _block_sum(a, start, count)
            held += 1
        else:
            half = count // 2
            half -= half % 8
            task_start[tasks], task_n[tasks] = 0, -1
            task_start[tasks + 1], task_n[tasks + 1] = start + half, count - half
            task_start[tasks + 2], task_n[tasks + 2] = start, half
            tasks += 3
    return 0.0 + values[0]


@njit(cache=True, error_model="numpy")
def power(x: float, y: float) -> float:
    """``x ** y`` with numpy's shortcuts for an array and a scalar ``y``, else the C library's ``pow``.

    Numpy's own ``array ** y`` for any exponent where numpy does not use SIMD power (no AVX-512); with
    AVX-512 numpy's differs in the last bit for some ``x`` and a general ``y``, and this does not.
    """
    if y == 2.0:
        return x * x
    if y == 0.5:
        return math.sqrt(x)
    if y == -1.0:
        return 1.0 / x
    if y == 1.0:
        return x
    if y == 0.0:
        return 1.0
    return x**y


@njit(cache=True)
def poisson(rng, lam: float) -> int:
    """``rng.poisson(lam)`` for a scalar ``lam >= 0``: numpy's draws (``random_poisson``), to the last one."""
    if lam >= 10:  # numpy's random_poisson_ptrs (Hormann's transformed rejection)
        slam = math.sqrt(lam)
        loglam = math.log(lam)
        b = 0.931 + 2.53 * slam
        a = -0.059 + 0.02483 * b
        invalpha = 1.1239 + 1.1328 / (b - 3.4)
        vr = 0.9277 - 3.6224 / (b - 2)
        while True:
            u = rng.random() - 0.5
            v = rng.random()
            us = 0.5 - abs(u)
            k = np.int64(math.floor((2 * a / us + b) * u + lam + 0.43))
            if us >= 0.07 and v <= vr:
                return k
            if k < 0 or (us < 0.013 and v > us):
                continue
            if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)) <= (
                -lam + k * loglam - random_loggam(k + 1)
            ):
                return k
    if lam == 0:
        return np.int64(0)
    enlam = math.exp(-lam)  # numpy's random_poisson_mult
    x = np.int64(0)
    prod = 1.0
    while True:
        prod *= rng.random()
        if prod > enlam:
            x += 1
        else:
            return x


@njit(cache=True)
def multinomial(rng, n: int, pvals: np.ndarray) -> np.ndarray:
    """``rng.multinomial(n, pvals)`` for a scalar ``n``: numpy's draws (``random_multinomial``), to the last one."""
    d = pvals.size
    counts = np.zeros(d, np.int64)
    remaining_p = 1.0
    left = np.int64(n)
    for j in range(d - 1):
        counts[j] = binomial(rng, left, pvals[j] / remaining_p)
        left -= counts[j]
        if left <= 0:
            break
        remaining_p -= pvals[j]
    if left > 0:
        counts[d - 1] = left
    return counts


@njit(cache=True)
def binomial(rng, n: int, p: float) -> int:
    """``rng.binomial(n, p)`` for scalars (``n >= 0``, ``0 <= p <= 1``): numpy's ``random_binomial``, to the last draw.

    Numpy draws by inversion when ``min(p, 1 - p) * n <= 30`` (``_inversion``, of ``p`` or, above
    one half, of ``1 - p``, the draw then ``n - X``), else by BTPE (``rng.binomial``, with ``n`` as
    int64: one compiled form for every caller). ``n == 0`` or ``p == 0`` draws nothing.
    """
    if n == 0 or p == 0.0:
        return 0
    if p <= 0.5:
        if p * n <= 30.0:
            return _inversion(rng, np.int64(n), p)
        return rng.binomial(np.int64(n), p)
    q = 1.0 - p
    if q * n <= 30.0:
        return n - _inversion(rng, np.int64(n), q)
    return rng.binomial(np.int64(n), p)


@njit(cache=True)
def _inversion(rng, n: int, p: float) -> int:
    """Numpy's ``random_binomial_inversion``: ``X`` the first with ``U <= P(0) + ... + P(X)``, ``U`` uniform.

    ``P(0) = q ** n`` (``q = 1 - p``, computed as ``exp(n log q)``), ``P(X) = P(X - 1) (n - X + 1) p / (X q)``;
    past ``bound = min(n, n p + 10 sqrt(n p q + 1))`` it starts again with a new ``U``. Bernoulli's
    inequality, ``q ** n >= 1 - n p``, gives ``X = 0`` without the logarithm and exponential when
    ``U <= 1 - n p - SHORTCUT_MARGIN`` (for ``n <= SHORTCUT_MAX_N``): the same draw, one uniform either way.
    """
    u = rng.random()
    if n <= SHORTCUT_MAX_N and u <= 1.0 - n * p - SHORTCUT_MARGIN:
        return 0
    q = 1.0 - p
    qn = np.exp(n * np.log(q))
    n_p = n * p
    bound = min(n, n_p + 10.0 * np.sqrt(n_p * q + 1))
    x = 0
    px = qn
    while u > px:
        x += 1
        if x > bound:
            x = 0
            px = qn
            u = rng.random()
        else:
            u -= px
            px = ((n - x + 1) * p * px) / (x * q)
    return x
