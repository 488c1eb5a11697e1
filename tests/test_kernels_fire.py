"""The fire rule's kernel (``sim.rules.fire.fire_kernel``) does what its numpy form did, to the last bit.

``_numpy_step`` below is the rule's ``step`` as it was in numpy (per-cell sums by ``np.bincount``,
window sums over shifted slices of a zero-padded copy, the hits through ``casualties.inflict``);
each test runs it and ``fire.step`` on copies of one random state with generators of one seed and
compares every array the rule writes, and the generators' next draws.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.model import BattleModel
from sim.rules import fire
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict
from sim.rules.cohesion import Params as CohesionParams
from sim.rules.cohesion import fire_factor
from sim.state import ACTIVE, ARMY, GONE, HEZBOLLAH, IN_TOWN, OFF_DUTY, PENDING, REBELS, BattleState, Squads, Tally
from tests.conftest import model_exp, small_scenario

# --- the numpy form the kernel replaced -----------------------------------------------------------


def _cell_sums(shape, x, y, layer, weights, layers):
    size = shape[0] * shape[1]
    flat = layer.astype(np.int64) * size + x.astype(np.int64) * shape[1] + y
    return np.bincount(flat, weights=weights, minlength=layers * size).reshape(layers, *shape)


def _box_sums(stack, radius):
    width, height = stack.shape[-2:]
    padded = np.zeros((*stack.shape[:-2], width + 2 * radius, height + 2 * radius))
    padded[..., radius : radius + width, radius : radius + height] = stack
    along_x = padded[..., 0:width, :].copy()
    for d in range(1, 2 * radius + 1):
        along_x += padded[..., d : d + width, :]
    total = along_x[..., 0:height].copy()
    for d in range(1, 2 * radius + 1):
        total += along_x[..., d : d + height]
    return total


def _cover(state, cover_max):
    if state.well_mixed:
        return np.zeros(state.shape)
    return cover_max * state.built_up * (1.0 - state.damage)


def _neighbourhood_sum(state, stack, range_cells):
    return stack if state.well_mixed else _box_sums(stack, range_cells)


def _numpy_aim(state, p, cohesion_p):
    """The numpy step up to the draws: the squads in town, their probabilities of a hit, which of them fire."""
    state.engaged[:] = False
    squads = state.squads
    idx = np.flatnonzero(squads.in_town())
    if idx.size == 0:
        return idx, np.zeros(0), np.zeros(0, bool)
    side, x, y = squads.side[idx], squads.x[idx], squads.y[idx]
    strength = squads.strength[idx].astype(np.float64)
    rebel = side == REBELS
    effect = np.ones(idx.size)
    effect[side == HEZBOLLAH] = state.hezbollah_effectiveness
    effect *= 1.0 - squads.suppressed[idx]
    ammo_factor = np.minimum(1.0, squads.ammo[idx] / p.low_ammo)
    effect[rebel] *= ammo_factor[rebel] * fire_factor(state.cohesion, cohesion_p)

    k = np.where(rebel, 0, 1)  # grid 0: rebels, grid 1: attackers
    twice = np.concatenate
    weights = twice([strength, strength * effect])
    sums = _cell_sums(state.shape, twice([x, x]), twice([y, y]), twice([k, k + 2]), weights, 4)
    bodies, shooters = sums[:2], sums[2:]
    targets_near = _neighbourhood_sum(state, bodies, p.range_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        on_each = np.where(targets_near > 0, shooters[::-1] / targets_near, 0.0)
    near = _neighbourhood_sum(state, np.concatenate([on_each, shooters]), p.range_cells)
    incoming, fire_near = near[:2], near[2:]

    cover_here = _cover(state, p.cover_max)
    exposure_rebel = (1.0 - cover_here) * (1.0 - p.prepared_bonus * state.prepared)
    exposure_attacker = 1.0 - p.attacker_cover_share * cover_here
    lethality = np.where(rebel, p.attacker_lethality_per_h, p.rebel_lethality_per_h)
    exposure = np.where(rebel, exposure_rebel[x, y], exposure_attacker[x, y])
    exposure[side == HEZBOLLAH] *= state.hezbollah_effectiveness**-p.small_groups_exposure_power
    rate = lethality * state.dt_h * incoming[k, x, y] * exposure
    enemies_near = targets_near[1 - k, x, y] > 0
    state.engaged[idx] = enemies_near
    state.local_ratio[idx] = np.where(
        enemies_near, fire_near[k, x, y] / np.maximum(fire_near[1 - k, x, y], 1e-9), np.inf
    )
    state.fire_intensity[:] = (
        incoming[0] * bodies[0] * p.attacker_lethality_per_h + incoming[1] * bodies[1] * p.rebel_lethality_per_h
    )
    return idx, 1.0 - model_exp(-rate), rebel & enemies_near


def _numpy_step(state, p, cohesion_p, casualties_p):
    """The numpy step (the fire intensity, which the hits do not change, set before them)."""
    if state.ceasefire:
        state.engaged[:] = False
        return
    idx, p_hit, firing = _numpy_aim(state, p, cohesion_p)
    if idx.size == 0:
        return
    squads = state.squads
    inflict(state, casualties_p, idx, p_hit)
    squads.ammo[idx[firing]] = np.maximum(0.0, squads.ammo[idx[firing]] - p.ammo_per_h * state.dt_h)


def _aim(state, p, cohesion_p):
    """``fire.aim`` on a state, with the arguments ``fire.step`` gives its kernel."""
    squads = state.squads
    return fire.aim(
        squads.side,
        squads.x,
        squads.y,
        squads.node,
        squads.status,
        squads.strength,
        squads.ammo,
        squads.suppressed,
        state.engaged,
        state.local_ratio,
        state.fire_intensity,
        state.built_up,
        state.damage,
        state.prepared,
        state.well_mixed,
        p.range_cells,
        state.dt_h,
        state.hezbollah_effectiveness,
        state.hezbollah_effectiveness**-p.small_groups_exposure_power,
        fire_factor(state.cohesion, cohesion_p),
        p.attacker_lethality_per_h,
        p.rebel_lethality_per_h,
        p.cover_max,
        p.prepared_bonus,
        p.attacker_cover_share,
        p.low_ammo,
    )


# --- random states ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_state() -> BattleState:
    return BattleModel(small_scenario(), rng=1).state


def _random_case(base: BattleState, seed: int, **forced):
    """A state, the rule's parameters and the generators' seed, drawn from ``seed``; ``forced`` overrides a draw."""
    rng = np.random.default_rng(seed)
    state = copy.deepcopy(base)
    n = forced.get("n", int(rng.integers(1, 300)))
    width, height = forced.get("shape", (int(rng.integers(1, 14)), int(rng.integers(1, 14))))
    n_places = len(state.place_names)
    squads = Squads.empty(n)
    squads.side[:] = forced.get("sides", rng.choice([REBELS, ARMY, HEZBOLLAH], n))
    squads.x[:] = rng.integers(0, width, n)
    squads.y[:] = rng.integers(0, height, n)
    if rng.random() < 0.3:  # crowded: few cells
        squads.x[:] //= 3
        squads.y[:] //= 3
    squads.node[:] = np.where(rng.random(n) < 0.9, IN_TOWN, rng.integers(0, n_places, n))
    squads.strength[:] = np.where(rng.random(n) < 0.1, 0, rng.integers(1, 40, n))
    if forced.get("zero_strength"):
        squads.strength[:] = 0
    squads.status[:] = np.where(rng.random(n) < 0.85, ACTIVE, rng.choice([OFF_DUTY, PENDING, GONE], n))
    ammo = rng.random(n)
    ammo[rng.random(n) < 0.1] = 0.0
    ammo[rng.random(n) < 0.1] = 1.0
    squads.ammo[:] = ammo
    suppressed = rng.random(n) * (rng.random(n) < 0.5)
    suppressed[rng.random(n) < 0.05] = 1.0
    squads.suppressed[:] = suppressed
    state.squads = squads
    state.engaged = rng.random(n) < 0.5
    state.local_ratio = rng.random(n)
    state.shape = (width, height)
    state.built_up = rng.random((width, height))
    damage = rng.random((width, height))
    damage[rng.random((width, height)) < 0.1] = 1.0
    state.damage = damage
    state.prepared = rng.random((width, height)) * (rng.random((width, height)) < 0.5)
    state.wounded_in_cell = rng.integers(0, 3, (width, height))
    state.wounded_at_node = rng.integers(0, 3, n_places)
    state.fire_intensity = rng.random((width, height))
    state.tally = Tally()
    state.well_mixed = forced.get("well_mixed", bool(rng.random() < 0.15))
    state.ceasefire = forced.get("ceasefire", False)
    state.cohesion = float(rng.random())
    state.hezbollah_effectiveness = float(rng.choice([1.0, rng.uniform(0.3, 3.0)]))
    state.dt_h = float(rng.choice([0.25, 1.0, 2.5]))
    scale = float(rng.choice([1.0, 100.0, 1000.0]))  # from the defaults' rare hits to most fighters hit
    p = fire.Params(
        range_cells=int(rng.integers(0, 4)),
        attacker_lethality_per_h=0.00179 * scale * rng.random(),
        rebel_lethality_per_h=0.005 * scale * rng.random(),
        cover_max=rng.random(),
        prepared_bonus=rng.random(),
        attacker_cover_share=rng.random(),
        small_groups_exposure_power=2.0 * rng.random(),
        ammo_per_h=float(rng.choice([0.005, 0.3 * rng.random()])),
        low_ammo=float(rng.uniform(0.05, 1.0)),
    )
    cohesion_p = CohesionParams(fire_floor=rng.random())
    casualties_p = CasualtiesParams(killed_share=rng.random())
    return state, p, cohesion_p, casualties_p, int(rng.integers(2**32))


def _run_both(base, seed, **forced):
    """Run the numpy form and ``fire.step`` on copies of one random case; assert they end in the same state."""
    state, p, cohesion_p, casualties_p, draws_seed = _random_case(base, seed, **forced)
    expected, got = state, copy.deepcopy(state)
    expected.rng, got.rng = np.random.default_rng(draws_seed), np.random.default_rng(draws_seed)
    _numpy_step(expected, p, cohesion_p, casualties_p)
    fire.step(got, p, cohesion_p, casualties_p)
    for name in ("engaged", "local_ratio", "fire_intensity", "wounded_in_cell", "wounded_at_node"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
        assert getattr(got, name).dtype == getattr(expected, name).dtype
    for name in ("strength", "ammo", "status", "x", "y", "node"):
        np.testing.assert_array_equal(getattr(got.squads, name), getattr(expected.squads, name), err_msg=name)
        assert getattr(got.squads, name).dtype == getattr(expected.squads, name).dtype
    for name in ("killed", "wounded", "wounded_evacuated", "captured"):
        np.testing.assert_array_equal(getattr(got.tally, name), getattr(expected.tally, name), err_msg=name)
    np.testing.assert_array_equal(got.rng.random(4), expected.rng.random(4))  # the same draws were made
    return expected


@pytest.mark.parametrize("seed", range(150))
def test_kernel_matches_numpy_on_random_states(base_state, seed):
    _run_both(base_state, seed)


@pytest.mark.parametrize("seed", range(60))
def test_aim_gives_numpy_hit_probabilities(base_state, seed):
    """The probabilities of a hit themselves, which the draws show only when one changes an outcome."""
    state, p, cohesion_p, _, _ = _random_case(base_state, seed, ceasefire=False)
    got = copy.deepcopy(state)
    idx, p_hit, firing = _numpy_aim(state, p, cohesion_p)
    got_idx, got_p_hit, got_firing = _aim(got, p, cohesion_p)
    np.testing.assert_array_equal(got_idx, idx)
    np.testing.assert_array_equal(got_p_hit, p_hit)
    np.testing.assert_array_equal(got_firing, firing)
    for name in ("engaged", "local_ratio", "fire_intensity"):
        np.testing.assert_array_equal(getattr(got, name), getattr(state, name), err_msg=name)


def test_random_states_include_hits_and_engagement(base_state):
    """The random cases exercise the draws, the odds and the ammunition (not only quiet states)."""
    hit = engaged = fired = 0
    for seed in range(40):
        before = _random_case(base_state, seed)[0].squads.ammo
        state = _run_both(base_state, seed)
        hit += int(state.tally.killed.sum() + state.tally.wounded.sum()) > 0
        engaged += int(state.engaged.any())
        fired += int((state.squads.ammo < before).any())
    assert hit > 10
    assert engaged > 20
    assert fired > 20


@pytest.mark.parametrize(
    "forced",
    [
        {"n": 0},  # no squads at all: empty arrays
        {"n": 0, "well_mixed": True},
        {"sides": ARMY},  # no rebels left
        {"sides": REBELS},  # no attackers
        {"sides": HEZBOLLAH, "well_mixed": True},
        {"zero_strength": True},  # nobody in town: the fire intensity and odds are left as they were
        {"ceasefire": True},
        {"shape": (1, 1)},  # everyone in one cell
        {"shape": (1, 1), "well_mixed": True},
        {"shape": (1, 9)},
        {"shape": (9, 1)},
        {"n": 1},
        {"n": 2, "shape": (2, 2)},
    ],
)
def test_kernel_matches_numpy_on_edge_cases(base_state, forced):
    for seed in range(6):
        _run_both(base_state, 1000 + seed, **forced)


def test_kernel_matches_numpy_in_a_battle():
    """Fire on the states of a real (short) battle, step after step."""
    model = BattleModel(small_scenario(), rng=5)
    rules = model.config.rules
    for _ in range(30):
        model.step()
        state = model.state
        expected, got = copy.deepcopy(state), copy.deepcopy(state)
        expected.rng, got.rng = np.random.default_rng(model.steps), np.random.default_rng(model.steps)
        _numpy_step(expected, rules.fire, rules.cohesion, rules.casualties)
        fire.step(got, rules.fire, rules.cohesion, rules.casualties)
        for name in ("engaged", "local_ratio", "fire_intensity", "wounded_in_cell"):
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
        np.testing.assert_array_equal(got.squads.strength, expected.squads.strength)
        np.testing.assert_array_equal(got.squads.ammo, expected.squads.ammo)
        np.testing.assert_array_equal(got.tally.killed, expected.tally.killed)
        np.testing.assert_array_equal(got.rng.random(4), expected.rng.random(4))


@pytest.mark.parametrize("radius", range(6))
def test_within_range_is_the_padded_window_sum(radius):
    """The window sums at single cells are the numpy window sums' values to the last bit."""
    rng = np.random.default_rng(radius)
    for width, height in ((1, 1), (1, 7), (7, 1), (5, 8), (12, 12)):
        stack = rng.random((width, height, 4)) * (rng.random((width, height, 4)) < 0.6)
        expected = _box_sums(np.moveaxis(stack, 2, 0), radius)
        for a in range(width):
            for b in range(height):
                np.testing.assert_array_equal(fire._within_range4(stack, a, b, radius, False), expected[:, a, b])
                pair = np.ascontiguousarray(stack[:, :, 2:])
                np.testing.assert_array_equal(fire._within_range2(pair, a, b, radius, False), expected[2:, a, b])
