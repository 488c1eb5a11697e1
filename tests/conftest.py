"""Shared fixtures."""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import functools
import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTICLE_NAME = "000_a6f26b3a840e0080.txt"

# The C library's pow and exp, which the compiled kernels call (numba lowers ``x ** y``, ``math.exp``
# and ``np.exp`` of a float to them). Numpy's own ``np.exp`` and array ``**`` are these only where
# numpy does not dispatch them to its SIMD routines: on a CPU with AVX-512 (numpy's X86_V4 targets)
# they differ from them in the last bit for a few per cent of arguments. References built on them
# would then depend on the machine; built on these, they are the same everywhere the C library is.
_LIBM = ctypes.CDLL(ctypes.util.find_library("m"))
_LIBM.pow.argtypes, _LIBM.pow.restype = (ctypes.c_double, ctypes.c_double), ctypes.c_double
_LIBM.exp.argtypes, _LIBM.exp.restype = (ctypes.c_double,), ctypes.c_double
_C_POW = np.frompyfunc(_LIBM.pow, 2, 1)
_C_EXP = np.frompyfunc(_LIBM.exp, 1, 1)
NUMPY_POWER_SHORTCUTS = (2.0, 0.5, -1.0, 1.0, 0.0)  # numpy's fast_scalar_power: x * x, sqrt, 1 / x, x, ones


def model_power(x, y: float) -> np.ndarray:
    """``x ** y`` for float64 ``x`` and a scalar ``y`` as the model defines it (``sim.numerics.power``).

    Numpy's own ``x ** y`` where numpy takes a shortcut (``y`` in ``NUMPY_POWER_SHORTCUTS``: square,
    square root, reciprocal, copy, ones; correctly rounded on every machine); otherwise the C
    library's ``pow`` element by element, never numpy's array power, which is SIMD code on some CPUs.
    """
    x = np.asarray(x, dtype=np.float64)
    if float(y) in NUMPY_POWER_SHORTCUTS:
        return x ** float(y)
    return np.asarray(_C_POW(x, float(y)), dtype=np.float64)


def model_exp(x) -> np.ndarray:
    """``np.exp`` of float64 ``x`` as the compiled kernels compute it: the C library's ``exp``, element by element."""
    return np.asarray(_C_EXP(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def article_path() -> Path:
    """Where the source article is: $QUSAYR_ARTICLE, else ../shared/seeds beside the repository."""
    override = os.environ.get("QUSAYR_ARTICLE")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "seeds" / ARTICLE_NAME


@pytest.fixture(scope="session")
def article_text() -> str:
    """The source article's text; tests that need it are skipped, saying so, when it is absent."""
    path = article_path()
    if not path.is_file():
        pytest.skip(f"source article not found at {path}: quote checks against the article skipped")
    return path.read_text(encoding="utf-8")


@functools.cache
def _baseline_mapping() -> dict:
    """The baseline scenario's file as YAML reads it, parsed once (PyYAML's pure-Python parser: a tenth of a second).

    The baseline names no base scenario, so its file is the whole mapping, read before validation.
    """
    import yaml

    from sim.scenario import scenario_path

    return yaml.safe_load(scenario_path("al-qusayr-2013").read_text(encoding="utf-8"))


def small_scenario(
    *,
    rebels: int = 200,
    army: int = 400,
    hezbollah: int = 150,
    civilians: int = 2000,
    hours: int = 36,
    dt_minutes: int = 60,
    garrison: int = 10,
    extra: list[str] | None = None,
):
    """The baseline cut down to a few hundred fighters and a day or two, for fast tests.

    Its inputs are moved inside the shorter run: a barrage, an air raid and harassing fire, a rebel
    and an army reinforcement, Hezbollah's first rotation policy and its tactics change, and the
    start of the task force's campaign outside the town.
    """
    import datetime as dt

    from sim.scenario import Scenario, apply_overrides

    raw = copy.deepcopy(_baseline_mapping())  # changed below: a copy
    start = dt.datetime(2013, 5, 19)
    at = [start + dt.timedelta(hours=h) for h in range(max(hours, 8) + 1)]
    raw["time"] = {"start": start, "end": at[hours], "dt_minutes": dt_minutes}
    raw["forces"]["rebels"]["fighters"] = rebels
    raw["forces"]["army"]["fighters"] = army
    raw["forces"]["hezbollah"]["fighters"] = hezbollah
    raw["civilians"]["present"] = civilians
    for place in raw["places"]:
        if place.get("garrison"):
            place["garrison"] = min(garrison, rebels // 20)
    raw["reinforcements"] = [
        {"at": at[hours // 4], "side": "rebels", "fighters": 30, "entry": "rebel north", "cite": "test"},
        {"at": at[hours // 3], "side": "army", "fighters": 50, "entry": "south", "cite": "test"},
        {"at": at[hours // 2], "side": "hezbollah", "fighters": 20, "entry": "west", "cite": "test"},
    ]
    raw["fire_plans"] = [
        {"kind": "artillery", "start": at[0], "end": at[hours], "per_hour": 30, "cite": "test"},
        {"kind": "barrage", "start": at[2], "end": at[5], "per_hour": 600, "cite": "test"},
        {"kind": "air_raid", "start": at[4], "end": at[8], "per_hour": 1, "cite": "test"},
        {"kind": "rockets", "start": at[2], "end": at[5], "per_hour": 50, "target": "Hamidiya", "cite": "test"},
    ]
    raw["hezbollah_rotation"] = [{"start": at[0], "days_on": 0.5, "days_off": 0.25, "cite": "test"}]
    raw["hezbollah_tactics"] = [{"start": at[1], "effectiveness": 1.5, "cite": "test"}]
    raw["rules"]["villages"]["campaign_start"] = at[hours // 3]
    return Scenario.model_validate(apply_overrides(raw, extra or []))


def numpy_cell_sum(shape, x, y, weights):
    """Sum of ``weights`` per grid cell, as the numpy rules summed them (``np.bincount``, in squad order)."""
    flat = np.ravel_multi_index((x, y), shape)
    return np.bincount(flat, weights=weights, minlength=shape[0] * shape[1]).reshape(shape).astype(float)


def numpy_box_sum(field, radius):
    """Sum over each cell's (2r+1)^2 window, as the numpy rules summed it: shifted slices of a zero-padded copy."""
    width, height = field.shape
    padded = np.zeros((width + 2 * radius, height + 2 * radius))
    padded[radius : radius + width, radius : radius + height] = field
    along_x = padded[0:width, :].copy()
    for d in range(1, 2 * radius + 1):
        along_x += padded[d : d + width, :]
    total = along_x[:, 0:height].copy()
    for d in range(1, 2 * radius + 1):
        total += along_x[:, d : d + height]
    return total
