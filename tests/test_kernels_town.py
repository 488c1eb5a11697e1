"""The compiled rules of helper ``town`` equal the numpy code they replaced (control, fire support, civilians, ...).

Each ``reference_*`` below is that numpy code, kept as the reference. Each test runs the rule and its
reference on copies of the same varied states (random squads, layers and parameters; no squads,
no rebels, zero strengths) and asserts every array, tally, scalar and generator state equal to the
last bit.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from conftest import small_scenario

from sim.grid import box_sum, cell_sum
from sim.model import BattleModel
from sim.rules import control
from sim.state import (
    ACTIVE,
    ARMY,
    CONTESTED,
    GONE,
    GOV,
    HEZBOLLAH,
    IN_TOWN,
    NONE,
    OFF_DUTY,
    REB,
    REBELS,
    BattleState,
    Squads,
)

TRIALS = 40
KINDS = ("varied", "varied", "varied", "empty", "no rebels", "zero strengths", "no attackers")


# --- states ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base() -> BattleState:
    """A small model's state a few steps in."""
    model = BattleModel(small_scenario(hours=12), rng=3)
    for _ in range(4):
        model.step()
    return model.state


def fresh(state: BattleState) -> BattleState:
    """An independent copy of ``state`` (its generators copied too, their kernel handles made again)."""
    copied = copy.deepcopy(state)
    copied._handles = {}
    return copied


def varied(base: BattleState, seed: int, kind: str) -> BattleState:
    """A copy of ``base`` with random squads and layers; ``kind`` names a corner case."""
    state = fresh(base)
    rng = np.random.default_rng(seed)
    width, height = state.shape
    n = 0 if kind == "empty" else int(rng.integers(1, 400))
    s = Squads.empty(n)
    s.side[:] = rng.choice([REBELS, ARMY, HEZBOLLAH], n, p=[0.4, 0.4, 0.2])
    if kind == "no rebels":
        s.side[s.side == REBELS] = ARMY
    if kind == "no attackers":
        s.side[:] = REBELS
    s.x[:] = rng.integers(0, width, n)
    s.y[:] = rng.integers(0, height, n)
    s.node[:] = np.where(rng.random(n) < 0.85, IN_TOWN, rng.integers(0, len(state.place_names), n))
    s.status[:] = rng.choice([ACTIVE, OFF_DUTY, GONE], n, p=[0.85, 0.1, 0.05])
    s.strength[:] = 0 if kind == "zero strengths" else rng.integers(0, 15, n) * (rng.random(n) < 0.9)
    s.ammo[:] = rng.random(n).astype(np.float32)
    s.suppressed[:] = rng.random(n).astype(np.float32) * (rng.random(n) < 0.3)
    state.squads = s
    state.engaged = rng.random(n) < 0.6
    state.local_ratio = rng.exponential(0.5, n) * (rng.random(n) < 0.9)
    state.task_force = np.zeros(n, bool)
    state.en_route = np.zeros(n, bool)
    state.control[:] = rng.choice([NONE, GOV, REB, CONTESTED], state.shape)
    # whole sectors held by one side, some of the time
    for sector in range(state.n_sectors):
        if rng.random() < 0.3:
            state.control[state.sector == sector] = rng.choice([GOV, REB])
    state.clearing_left[:] = rng.normal(50.0, 80.0, state.shape)
    state.prepared[:] = rng.random(state.shape)
    state.damage[:] = rng.random(state.shape) * (rng.random(state.shape) < 0.7)
    state.civilians[:] = rng.integers(0, 60, state.shape) * (rng.random(state.shape) < 0.8)
    state.wounded_in_cell[:] = rng.integers(0, 5, state.shape) * (rng.random(state.shape) < 0.3)
    state.fire_intensity = rng.exponential(20.0, state.shape) * (rng.random(state.shape) < 0.5)
    state.steps = int(rng.integers(1, 60))
    state.cohesion = float(rng.random())
    return state


def assert_same(a: BattleState, b: BattleState, skip: tuple[str, ...] = ()) -> None:
    """Every field of two states equal, to the last bit (generators by their state)."""
    for f in dataclasses.fields(BattleState):
        if f.name in ("_handles", "sector_code", *skip):
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.random.Generator):
            assert x.bit_generator.state == y.bit_generator.state, f.name
        elif isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=f.name, strict=True)
        elif dataclasses.is_dataclass(x):
            for g in dataclasses.fields(x):
                np.testing.assert_array_equal(getattr(x, g.name), getattr(y, g.name), err_msg=g.name, strict=True)
        elif isinstance(x, float) and np.isnan(x):
            assert np.isnan(y), f.name
        else:
            assert x == y, f.name
            assert type(x) is type(y), f.name


# --- control ---------------------------------------------------------------------------------------


def reference_control_step(state: BattleState, p: control.Params) -> None:
    """``control.step`` as numpy code."""
    if state.well_mixed:
        return
    squads = state.squads
    idx = np.flatnonzero(squads.in_town())
    rebel = squads.side[idx] == REBELS
    x, y = squads.x[idx], squads.y[idx]
    rebels = cell_sum(state.shape, x[rebel], y[rebel], squads.strength[idx[rebel]])
    reb_here = rebels > 0
    attackers = cell_sum(state.shape, x[~rebel], y[~rebel], squads.strength[idx[~rebel]])
    gov_here = attackers > 0
    control_ = state.control
    alone = gov_here & ~reb_here
    defenders = box_sum(rebels, p.opposed_within_cells)
    if state.hour <= p.surprise_h:
        defenders = defenders * p.surprised_defence
    pace = 1.0 / (1.0 + (defenders / p.defenders_halving) ** p.defenders_steepness)
    state.clearing_left[alone] -= (np.minimum(attackers, p.clearing_capacity) * pace)[alone] * state.dt_h
    cleared = alone & (state.clearing_left <= 0)
    control_[cleared] = GOV
    control_[alone & ~cleared] = CONTESTED
    control_[reb_here & ~gov_here] = REB
    control_[reb_here & gov_here] = CONTESTED
    state.prepared[control_ == GOV] = 0.0
    reference_update_sectors(state, p)
    if state.fall_hour is None and state.sectors_gov == state.n_sectors:
        state.fall_hour = state.hour


def reference_update_sectors(state: BattleState, p: control.Params) -> None:
    """``control.update_sectors`` as numpy code."""
    hold = p.sector_hold_share
    town = state.in_town_mask
    sector = state.sector[town]
    control_ = state.control[town]
    cells = np.bincount(sector, minlength=state.n_sectors)
    gov = np.bincount(sector, weights=control_ == GOV, minlength=state.n_sectors) / cells
    reb = np.bincount(sector, weights=control_ == REB, minlength=state.n_sectors) / cells
    owner = np.full(state.n_sectors, control.SECTOR_CONTESTED, dtype=object)
    owner[gov >= hold] = control.SECTOR_GOV
    owner[reb >= hold] = control.SECTOR_REB
    state.sector_owner = owner
    state.sectors_gov = int((owner == control.SECTOR_GOV).sum())
    state.gov_share = float((control_ == GOV).mean())


def control_params(rng: np.random.Generator) -> control.Params:
    return control.Params(
        sector_hold_share=float(rng.choice([0.75, 0.6, 1.0])),
        clear_fighter_h=float(rng.uniform(0, 300)),
        opposed_within_cells=int(rng.integers(0, 4)),
        defenders_halving=float(rng.uniform(0.5, 20)),
        defenders_steepness=float(rng.choice([3.904, 2.0, 0.5, 1.0, 1.7])),
        clearing_capacity=float(rng.uniform(1, 100)),
        surprise_h=float(rng.choice([0.0, 6.0, 100.0])),
        surprised_defence=float(rng.random()),
    )


@pytest.mark.parametrize("trial", range(TRIALS))
def test_control_is_the_numpy_code(base: BattleState, trial: int) -> None:
    state = varied(base, trial, KINDS[trial % len(KINDS)])
    rng = np.random.default_rng(1000 + trial)
    p = control_params(rng)
    state.fall_hour = None if rng.random() < 0.7 else 3.0
    state.start_hour = float(rng.choice([0.0, 30.0]))
    kernel, numpy_ = fresh(state), fresh(state)
    for _ in range(3):  # again: the sectors are made again only when they change
        control.step(kernel, p)
        reference_control_step(numpy_, p)
        assert_same(kernel, numpy_)
        # the attackers take whole sectors
        for s in (kernel, numpy_):
            s.squads.strength[s.squads.side == REBELS] = 0
            s.clearing_left[:] = -1.0


def test_update_sectors_follows_the_layer(base: BattleState) -> None:
    """``update_sectors`` reads the control layer each call (as tests that stage control call it)."""
    p = control.Params()
    kernel, numpy_ = fresh(base), fresh(base)
    for code in (GOV, REB, CONTESTED, NONE):
        for s in (kernel, numpy_):
            s.control[s.sector == 3] = code
        control.update_sectors(kernel, p)
        reference_update_sectors(numpy_, p)
        assert_same(kernel, numpy_)
