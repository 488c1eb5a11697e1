"""Gaussian-process emulators of the model's summary outputs, for history matching (issue 22).

One emulator per output ``j`` over the inputs scaled to the unit cube, ``x`` in ``[0, 1]^d``
(Vernon et al. 2010; Andrianakis et al. 2015)::

    f_j(x) = h(x)' beta_j + s_j u_j(x),   h(x) = (1, x_1 - 1/2, ..., x_d - 1/2, (x_1 - 1/2)^2, ..., (x_d - 1/2)^2)
    u_j ~ GP(0, k_j),   k_j(x, x') = sigma_j^2 exp(-1/2 sum_i (x_i - x'_i)^2 / l_ji^2)   (ARD squared exponential)

observed at the design points as replicate means ``y_j(x_n) = f_j(x_n) + e_n``, ``e_n ~ N(0, v_nj)``
with ``v_nj`` the variance of the mean (ensemble variance / replicates): a per-point nugget,
scikit-learn's ``alpha`` (``s_j``: the standard deviation of the least-squares residuals, so ``u_j``
is of order 1). The hyperparameters ``sigma_j, l_j`` maximise the marginal likelihood
(scikit-learn's ``GaussianProcessRegressor``) on at most ``FIT_POINTS`` design points (the same
random subset for every output) with ``beta_j`` from ordinary least squares; then, the kernel
fixed, ``beta_j`` is re-estimated by generalised least squares on all ``n`` points and the GP is
conditioned on all of them. Prediction is universal kriging (Santner et al. 2003, eq. 4.1.4;
O'Hagan 2006), with ``K = k(X, X) + diag(v)``, ``H = h(X)``, ``A = H' K^-1 H``::

    E[f(x)]   = h(x)' beta + k(x)' K^-1 (y - H beta)
    Var[f(x)] = sigma^2 - k(x)' K^-1 k(x) + r(x)' A^-1 r(x),   r(x) = h(x) - H' K^-1 k(x)

(times ``s_j``, ``s_j^2``): the code (emulator) variance, coefficient uncertainty included, ensemble
variance excluded. ``Var[f(x)] <= (sigma + sqrt(h(x)' A^-1 h(x)))^2`` (as ``||K^-1/2 k(x)|| <= sigma``):
``Emulators.screen`` gives the mean with this bound at the cost of the mean alone, so a driver can
rule out points that are implausible even with the bound and pay the exact variance on the rest.
An output constant over the design has a constant emulator with no variance; for an exact quadratic
``s_j`` is floored at ``1e-6`` of the output's standard deviation.

Validation (Bastos & O'Hagan 2009): standardised errors ``(y - E) / sqrt(Var + v)``, by leave-one-out
with the hyperparameters and ``beta`` fixed (Rasmussen & Williams 2006, eq. 5.12) or on held-out
points; about 95 % should lie within 3 of 0.

Sobol indices (Saltelli 2002, Jansen 1999; SALib) of each emulator's mean over the unit cube, with a
noise floor ``noise / (Var_x E[f(x)] + noise)``, the share of a run's variance that is ensemble noise
(``noise``: the variance of one run at a point): an index below it cannot be told from noise.

Choices, measured on this machine (one core; ``python -m sim.analysis.emulators`` repeats the first):

- Speed, 40 outputs x 1,000 points x 15 inputs (test functions: a sine of a sparse projection, a
  product, an exponential, noise SD 0.1): fit 46 s (65 s in one run); ``predict`` 1.8-2.1 ms a row (it
  costs ``k n^2`` per output: 200,000 rows take 6-7 minutes); ``screen`` 0.17-0.24 ms a row;
  ``loo_errors`` 1.3 s (share within 3: 0.995). Held-out (2,000 points): share within 3 median 0.999
  (worst 0.85), R^2 median 0.98 (worst -0.12, a sine of a projection of norm 4.8: hyperparameters from
  all 1,000 points gave 0.87, but took 175 s for 3 outputs).
  40 outputs x 1,500 points x 20 inputs: fit 85 s, ``predict`` 4.3 ms a row, ``screen`` 0.42 ms a row;
  within 3 median 0.99 (worst 0.78), R^2 median 0.92.
- ``FIT_POINTS`` 250 and one start: a step of the optimiser costs O(n^3) in the points. On 8 outputs
  (1,000 points, 15 inputs) 300 points took 2.6 s an output against 2.9 (fewer steps) and gave a worse
  worst R^2 (0.49 against 0.96): which points, more than how many; a second start (sigma^2 = 1, l = 0.5)
  cost a quarter more and changed nothing there.
- BLAS held to one thread (threadpoolctl) in the fit and the predictions: with two threads on this 2-core
  machine the fit took 2.2 times as long (5 to 20 times while another process held the other core), and
  ``predict`` twice as long.
- No fitted ``WhiteKernel`` beside the given nugget: on 12 outputs (half with a step of size 1 in one
  input) it did not improve the held-out share within 3 (smooth: 0.997-1.0 with and without; step:
  0.77-0.96 with, 0.81-0.95 without), raised R^2 of two step outputs (0.84 to 0.88, 0.86 to 0.96) and
  cost a third more time. Steps are emulated overconfidently either way: validate before use.

Methods: docs/methods.md, the history-matching section (issue 22, written with the driver).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache
from itertools import repeat

import numpy as np
import pandas as pd
from scipy.linalg import cho_solve, cholesky, solve_triangular

from sim.lifetime import child_pool

FIT_POINTS = 250  # design points the hyperparameters are optimised on (module docstring)
FIT_FTOL = 1e-6  # L-BFGS-B's relative tolerance on the log marginal likelihood: 57 steps against 101 at scipy's
# default, the optimum within 0.3 of it
LENGTH_BOUNDS = (0.05, 100.0)  # length scales in the unit cube: below 0.05 no design resolves; above 100, flat
# the optimiser's start (sigma^2, one length scale for all inputs); from sigma^2 = 1, l = 1 it fell, for a smooth
# function of 6 inputs, into a local optimum (held-out R^2 0.93), from l = 2, for noisy ones of 15 inputs, it
# stalled on the all-noise flat of the likelihood; from this start it reached the best of the 10 and 5 starts tried
START = (100.0, 1.0)
AMPLITUDE_BOUNDS = (1e-4, 1e4)  # sigma^2 of the residuals scaled to variance 1: smooth residuals want it large
JITTER = 1e-8  # added to the scaled nugget: a noise-free output keeps K positive definite
BATCH_ROWS = 2_000  # prediction rows per batch: 2,000 x n doubles per matrix


@cache
def _blas_controller():  # threadpoolctl's ThreadpoolController, imported here
    """The BLAS libraries loaded (numpy's and scipy's, imported above) as threadpoolctl sees them, found once.

    ``threadpool_limits`` looks them up again at each use (1.6 ms here: 11 ms a step of the posterior's
    sampler, which predicts seven times).
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager:
    """Hold BLAS to one thread within a ``with`` block (module docstring: two took twice as long)."""
    return _blas_controller().limit(limits=1)


@dataclass(frozen=True)
class _Output:
    """The fitted state of one output's emulator (all in units of the output divided by ``scale``)."""

    scale: float  # s_j, the output's unit
    beta: np.ndarray  # GLS coefficients of h(x), p
    inv_length: np.ndarray  # 1 / l_j, d
    sigma2: float  # sigma_j^2
    x_train: np.ndarray  # n x d, divided by the length scales
    chol: np.ndarray  # lower Cholesky factor L of K, n x n
    weights: np.ndarray  # K^-1 (y - H beta), n
    h_white: np.ndarray  # L^-1 H, n x p
    a_chol: np.ndarray  # lower Cholesky factor of A = H' K^-1 H, p x p


@dataclass(frozen=True)
class Emulators:
    """Fitted emulators of ``names`` (in column order) over ``[0, 1]^d``."""

    names: tuple[str, ...]
    dims: int  # d, the number of inputs
    outputs: tuple[_Output | None, ...]  # None: a constant output
    constants: np.ndarray  # the value of each constant output (NaN for the others), m

    def predict(self, x_unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and code variance of every output at each row of ``x_unit`` (k x d): two k x m arrays.

        The variance includes the uncertainty of the mean's coefficients and excludes the ensemble (nugget)
        variance. Cost: k n^2 per output (a triangular solve).
        """
        return self._evaluate(x_unit, exact=True)

    def screen(self, x_unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and an upper bound of the code variance (module docstring): two k x m arrays, cost k n per output."""
        return self._evaluate(x_unit, exact=False)

    def _evaluate(self, x_unit: np.ndarray, *, exact: bool) -> tuple[np.ndarray, np.ndarray]:
        x = _checked(x_unit, "x_unit", dims=self.dims)
        with one_blas_thread():
            return self._batches(x, exact=exact)

    def _batches(self, x: np.ndarray, *, exact: bool) -> tuple[np.ndarray, np.ndarray]:
        mean = np.empty((len(x), len(self.names)))
        var = np.zeros_like(mean)
        mean[:] = self.constants
        for start in range(0, len(x), BATCH_ROWS):
            rows = slice(start, start + BATCH_ROWS)
            basis = _basis(x[rows])
            for j, out in enumerate(self.outputs):
                if out is None:
                    continue
                cross = _kernel(x[rows] * out.inv_length, out.x_train, out.sigma2)  # rows x n
                mean[rows, j] = out.scale * (basis @ out.beta + cross @ out.weights)
                if exact:
                    v = solve_triangular(out.chol, cross.T, lower=True, check_finite=False)  # n x rows
                    r = solve_triangular(out.a_chol, basis.T - out.h_white.T @ v, lower=True, check_finite=False)
                    gp = out.sigma2 - np.einsum("ij,ij->j", v, v)
                    var[rows, j] = out.scale**2 * np.maximum(gp + np.einsum("ij,ij->j", r, r), 0.0)
                else:
                    hb = solve_triangular(out.a_chol, basis.T, lower=True, check_finite=False)
                    var[rows, j] = out.scale**2 * (np.sqrt(out.sigma2) + np.sqrt(np.einsum("ij,ij->j", hb, hb))) ** 2
        return mean, var


def _checked(a: np.ndarray, name: str, *, dims: int | None = None) -> np.ndarray:
    """``a`` as a 2-d float array, finite (ValueError otherwise)."""
    a = np.asarray(a, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: {int((~np.isfinite(a)).sum())} values are NaN or infinite")
    if dims is not None and a.shape[1] != dims:
        raise ValueError(f"{name}: expected {dims} columns (inputs), got {a.shape[1]}")
    return a


def _basis(x_unit: np.ndarray) -> np.ndarray:
    """h(x): intercept, linear and pure quadratic terms in ``x - 1/2``, k x (1 + 2 d)."""
    c = x_unit - 0.5
    return np.hstack([np.ones((len(c), 1)), c, c**2])


def _kernel(a: np.ndarray, b: np.ndarray, sigma2: float) -> np.ndarray:
    """sigma^2 exp(-|a - b|^2 / 2) for inputs already divided by the length scales (one GEMM, in place)."""
    out = a @ b.T
    out -= 0.5 * np.einsum("ij,ij->i", a, a)[:, None]
    out -= 0.5 * np.einsum("ij,ij->i", b, b)[None, :] - np.log(sigma2)
    np.minimum(out, np.log(sigma2), out=out)  # rounding: never above the prior variance
    return np.exp(out, out=out)


def _lbfgs(objective, theta: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, float]:
    """L-BFGS-B on the log hyperparameters ``(log sigma^2, log l_1, ..., log l_d)`` from ``START``.

    It stops at the relative tolerance ``FIT_FTOL`` of the negative log marginal likelihood.
    """
    from scipy.optimize import minimize

    amplitude, length = START
    start = np.clip(np.log([amplitude, *[length] * (len(theta) - 1)]), bounds[:, 0], bounds[:, 1])
    result = minimize(objective, start, jac=True, bounds=bounds, method="L-BFGS-B", options={"ftol": FIT_FTOL})
    return result.x, float(result.fun)


def fit_emulators(
    x_unit: np.ndarray,
    y_mean: np.ndarray,
    y_mean_var: np.ndarray,
    names: Sequence[str],
    *,
    seed: int,
    processes: int = 1,
) -> Emulators:
    """Fit one emulator per output (module docstring).

    ``x_unit``: n x d design in ``[0, 1]^d``; ``y_mean``: n x m replicate means; ``y_mean_var``: n x m variance
    of each mean (ensemble variance / replicates), the per-point nugget. ``seed`` draws the points the
    hyperparameters are optimised on (the optimiser is deterministic): same arguments, same emulators.
    ``processes`` > 1: the outputs are fitted in that many spawned processes, one BLAS thread each (the
    same emulators).
    """
    x = _checked(x_unit, "x_unit")
    y = _checked(y_mean, "y_mean")
    noise = _checked(y_mean_var, "y_mean_var")
    n, d = x.shape
    if y.shape[0] != n or noise.shape != y.shape or len(names) != y.shape[1]:
        raise ValueError(f"shapes: x_unit {x.shape}, y_mean {y.shape}, y_mean_var {noise.shape}, {len(names)} names")
    if (noise < 0).any():
        raise ValueError("y_mean_var: negative variances")
    if x.min() < 0 or x.max() > 1:
        raise ValueError("x_unit: inputs outside the unit cube")
    basis = _basis(x)
    if n < 2 * basis.shape[1]:
        raise ValueError(f"{n} design points: at least {2 * basis.shape[1]} needed for {d} inputs")
    subset = np.sort(np.random.default_rng(seed).choice(n, size=min(n, FIT_POINTS), replace=False))
    if processes > 1 and y.shape[1] > 1:
        pool = child_pool(min(processes, y.shape[1]))
        try:
            outputs = tuple(pool.map(_fit_output_alone, repeat(x), repeat(basis), y.T, noise.T, repeat(subset)))
        finally:  # a fit that fails cancels the others still queued
            pool.shutdown(cancel_futures=True)
    else:
        outputs = tuple(_fit_output_alone(x, basis, y[:, j], noise[:, j], subset) for j in range(y.shape[1]))
    constants = np.array([np.nan if out else y[0, j] for j, out in enumerate(outputs)])
    return Emulators(tuple(names), d, outputs, constants)


def _fit_output_alone(
    x: np.ndarray, basis: np.ndarray, y: np.ndarray, noise: np.ndarray, subset: np.ndarray
) -> _Output | None:
    """``_fit_output`` with BLAS held to one thread (module docstring)."""
    with one_blas_thread():
        return _fit_output(x, basis, y, noise, subset)


def _fit_output(
    x: np.ndarray, basis: np.ndarray, y: np.ndarray, noise: np.ndarray, subset: np.ndarray
) -> _Output | None:
    """One output's emulator (None for a constant output)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel

    if np.ptp(y) == 0:
        return None
    n, d = x.shape
    beta, *_ = np.linalg.lstsq(basis, y, rcond=None)
    # an exact quadratic of the inputs leaves no residual: its GP then has a negligible amplitude
    scale = max(float(np.std(y - basis @ beta)), 1e-6 * float(np.std(y)))
    z = y / scale
    nugget = noise / scale**2 + JITTER
    kernel = ConstantKernel(1.0, AMPLITUDE_BOUNDS) * RBF(np.ones(d), LENGTH_BOUNDS)
    gp = GaussianProcessRegressor(kernel, alpha=nugget[subset], optimizer=_lbfgs, copy_X_train=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a length scale at a bound: an input without effect
        gp.fit(x[subset], z[subset] - basis[subset] @ (beta / scale))
    sigma2 = float(gp.kernel_.k1.constant_value)
    inv_length = 1.0 / np.broadcast_to(gp.kernel_.k2.length_scale, (d,))
    scaled = x * inv_length
    cov = _kernel(scaled, scaled, sigma2)
    cov[np.diag_indices(n)] = sigma2 + nugget
    chol = cholesky(cov, lower=True, check_finite=False)
    h_white = solve_triangular(chol, basis, lower=True, check_finite=False)
    z_white = solve_triangular(chol, z, lower=True, check_finite=False)
    a_chol = cholesky(h_white.T @ h_white, lower=True, check_finite=False)
    beta_gls = cho_solve((a_chol, True), h_white.T @ z_white)
    weights = cho_solve((chol, True), z - basis @ beta_gls)
    return _Output(scale, beta_gls, inv_length, sigma2, scaled, chol, weights, h_white, a_chol)


def loo_errors(
    x_unit: np.ndarray,
    y_mean: np.ndarray,
    y_mean_var: np.ndarray,
    names: Sequence[str],
    *,
    seed: int,
    fitted: Emulators | None = None,
) -> pd.DataFrame:
    """Leave-one-out standardised errors ``(y_n - E_-n) / sqrt(Var_-n + v_n)``, n x m (columns ``names``).

    Closed form with the hyperparameters and ``beta`` fixed (Rasmussen & Williams 2006, eq. 5.12):
    ``y_n - E_-n = [K^-1 (y - H beta)]_n / [K^-1]_nn`` and ``Var_-n + v_n = 1 / [K^-1]_nn``; the coefficient
    uncertainty is left out, so the errors are slightly too large. ``fitted``: the emulators already fitted
    on these arguments (otherwise fitted here).
    """
    em = fitted if fitted is not None else fit_emulators(x_unit, y_mean, y_mean_var, names, seed=seed)
    errors = np.zeros((len(y_mean), len(em.names)))
    with one_blas_thread():
        for j, out in enumerate(em.outputs):
            if out is None:
                continue
            inverse = solve_triangular(out.chol, np.eye(len(out.chol)), lower=True, check_finite=False)  # L^-1
            errors[:, j] = out.weights / np.sqrt(np.einsum("ij,ij->j", inverse, inverse))
    return pd.DataFrame(errors, columns=list(em.names))


def emulator_diagnostics(em: Emulators, x_unit: np.ndarray, y_mean: np.ndarray, y_mean_var: np.ndarray) -> pd.DataFrame:
    """Per output, on held-out points: ``within_3`` (share of |standardised error| < 3), ``rmse``, ``r2``.

    Standardised error: ``(y - E) / sqrt(Var + v)``, ``v`` the held-out mean's own variance (Bastos & O'Hagan
    2009); ``r2 = 1 - SSE / SST`` (NaN for an output constant on the held-out points). Index: ``em.names``.
    """
    y = _checked(y_mean, "y_mean")
    noise = _checked(y_mean_var, "y_mean_var")
    mean, var = em.predict(x_unit)
    if y.shape != mean.shape or noise.shape != y.shape:
        raise ValueError(f"shapes: predictions {mean.shape}, y_mean {y.shape}, y_mean_var {noise.shape}")
    residual = y - mean
    total = var + noise
    with np.errstate(divide="ignore", invalid="ignore"):
        standard = np.where(total > 0, residual / np.sqrt(total), np.where(residual == 0, 0.0, np.inf))
        sst = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
        r2 = np.where(sst > 0, 1.0 - (residual**2).sum(axis=0) / sst, np.nan)
    return pd.DataFrame(
        {
            "within_3": (np.abs(standard) < 3).mean(axis=0),
            "rmse": np.sqrt((residual**2).mean(axis=0)),
            "r2": r2,
        },
        index=pd.Index(em.names, name="output"),
    )


def sobol_on_emulators(
    em: Emulators, input_names: Sequence[str], *, samples: int, seed: int, noise_var: np.ndarray
) -> pd.DataFrame:
    """First-order and total Sobol indices of each emulator's mean over ``[0, 1]^d``, with the noise floor.

    SALib's Saltelli sample of ``samples`` base points (a power of two; ``samples (d + 2)`` emulator means).
    ``noise_var``: per output, the ensemble variance of one run (not of a mean). Columns: ``output``, ``input``,
    ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (bootstrap 95 % half-widths), ``noise_floor`` (the output's
    ``noise / (Var_x E[f] + noise)``), ``above_floor`` (``ST`` above it). A constant emulator: indices NaN.
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    noise = np.asarray(noise_var, dtype=float)
    if len(input_names) != em.dims or noise.shape != (len(em.names),) or not np.isfinite(noise).all():
        raise ValueError(f"{len(input_names)} input names for {em.dims} inputs, noise_var {noise.shape}")
    spec = {"num_vars": em.dims, "names": list(input_names), "bounds": [[0.0, 1.0]] * em.dims}
    x = sobol_sample.sample(spec, samples, calc_second_order=False, seed=seed)
    mean, _ = em.screen(x)  # the means (screen skips the exact variance)
    rows = []
    for j, name in enumerate(em.names):
        signal = float(mean[:, j].var())
        floor = noise[j] / (signal + noise[j]) if signal + noise[j] > 0 else np.nan
        if signal > 0:
            found = sobol_analyze.analyze(spec, mean[:, j], calc_second_order=False, seed=seed)
        else:
            found = dict.fromkeys(("S1", "S1_conf", "ST", "ST_conf"), np.full(em.dims, np.nan))
        for i, factor in enumerate(input_names):
            indices = {key: float(found[key][i]) for key in ("S1", "S1_conf", "ST", "ST_conf")}
            rows.append({"output": name, "input": factor, **indices, "noise_floor": floor})
    table = pd.DataFrame(rows)
    table["above_floor"] = table["ST"] > table["noise_floor"]
    return table


def _benchmark(points: int = 1_000, outputs: int = 40, inputs: int = 15, rows: int = 20_000) -> None:
    """Time the fit, ``predict`` and ``screen`` on one core, and validate on 2,000 held-out points."""
    import time

    rng = np.random.default_rng(0)
    w = rng.normal(size=(outputs, inputs)) * (rng.random((outputs, inputs)) < 0.4)

    def model(x: np.ndarray) -> np.ndarray:
        c = x - 0.5
        i = np.arange(outputs)
        return np.sin(3 * c @ w.T) + 4 * c[:, i % inputs] * c[:, (i + 1) % inputs] + np.exp(c[:, :1] * w[:, 0])

    x = rng.random((points, inputs))
    y = model(x) + rng.normal(0, 0.1, size=(points, outputs))
    names = [f"y{j}" for j in range(outputs)]
    with one_blas_thread():
        start = time.perf_counter()
        em = fit_emulators(x, y, np.full_like(y, 0.01), names, seed=1)
        fitted = time.perf_counter() - start
        x_new = rng.random((rows, inputs))
        start = time.perf_counter()
        em.predict(x_new)
        predicted = time.perf_counter() - start
        start = time.perf_counter()
        em.screen(x_new)
        screened = time.perf_counter() - start
        start = time.perf_counter()
        loo = loo_errors(x, y, np.full_like(y, 0.01), names, seed=1, fitted=em)
        left_out = time.perf_counter() - start
    x_test = rng.random((2_000, inputs))
    table = emulator_diagnostics(em, x_test, model(x_test), np.zeros((2_000, outputs)))
    print(f"{outputs} outputs x {points} points x {inputs} inputs: fit {fitted:.1f} s")
    print(f"predict {rows} rows: {predicted:.1f} s; screen: {screened:.1f} s")
    print(f"leave-one-out: {left_out:.1f} s, share within 3 {(loo.abs() < 3).to_numpy().mean():.3f}")
    print(table.describe().loc[["min", "50%"]].to_string())


if __name__ == "__main__":
    _benchmark()
