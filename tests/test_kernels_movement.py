"""The movement kernels against the numpy code they replace (kept here as the reference), to the last bit.

Each case is a random state (squads of every side and status, zero strengths, squads out of the town,
random control, mines (killing or delaying, squads part-way through clearing), terrain, odds, suppression and
tunnels, and the edge cases: no squad in the town,
no rebels, no attackers, no cell held, every cell held, no tunnels) run through both, each on its own
copy with its own copy of the generator: the squads, tallies, grids, tunnels and the generator's state
afterwards must be equal.
"""

import copy
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from sim.model import BattleModel
from sim.numerics import power
from sim.rules import movement
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict
from sim.rules.control import Params as ControlParams
from sim.state import ACTIVE, CONTESTED, GONE, GOV, IN_TOWN, NONE, PENDING, REB, REBELS, BattleState, Squads
from tests.conftest import model_exp, model_power, numpy_cell_sum, small_scenario

_REFERENCE_OFFSETS = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)], dtype=np.int16)


# --- the reference: the rule's numpy code before the kernels ----------------------------------------


def _reference_chance(per_h: float, dt_h: float) -> float:
    """Probability of an event with rate ``per_h`` per hour happening within a step."""
    return 1.0 - float(model_exp(-per_h * dt_h))


def _reference_step(
    state: BattleState, p: movement.Params, control_p: ControlParams, casualties_p: CasualtiesParams
) -> None:
    """The rule as numpy had it (the reference)."""
    if state.well_mixed:
        return
    squads = state.squads
    idx = np.flatnonzero(squads.in_town())
    if idx.size == 0:
        return
    gov = idx[squads.side[idx] != REBELS]
    reb = idx[squads.side[idx] == REBELS]
    _reference_advance_attackers(state, p, control_p.clearing_capacity, casualties_p, gov)
    _reference_move_rebels(state, p, reb)
    _reference_tunnel_raids(state, p, reb)


def _reference_advance_attackers(
    state: BattleState, p: movement.Params, capacity: float, casualties_p: CasualtiesParams, gov: np.ndarray
) -> None:
    squads = state.squads
    not_held = state.in_town_mask & (state.control != GOV)
    if gov.size == 0 or not not_held.any():
        return
    x, y = squads.x[gov].astype(np.int64), squads.y[gov].astype(np.int64)
    # squads spread over the cells to take: a cell already holding as many attackers as can
    # work in it is no target, and the surplus in a crowded cell moves on
    load = numpy_cell_sum(state.shape, x, y, squads.strength[gov])
    open_targets = not_held & (load < capacity)
    if not open_targets.any():
        open_targets = not_held
    _, (near_x, near_y) = distance_transform_edt(~open_targets, return_indices=True)
    here = load[x, y]
    surplus = np.where(here > capacity, (here - capacity) / np.maximum(here, 1.0), 0.0)
    at_target = not_held[x, y] & (state.rng.random(gov.size) >= surplus)
    nx = x + np.sign(near_x[x, y] - x)
    ny = y + np.sign(near_y[x, y] - y)
    base = p.speed_m_per_h * state.dt_h / state.cell_m
    slowing = p.built_up_slowing * np.where(state.road[nx, ny], p.road_share, 1.0)
    delay = p.mines == "delay"
    # mines that delay hold a squad instead of slowing its pace
    pace = base / (1.0 + slowing * state.built_up[nx, ny]) * (1.0 - (0.0 if delay else state.mines[nx, ny]))
    pace *= np.where(state.river[nx, ny], p.river_factor, 1.0) * (1.0 - squads.suppressed[gov])
    engaged = state.engaged[gov]
    push = state.local_ratio[gov] >= p.assault_ratio
    # a push goes faster the longer the odds (a handful of defenders before a company is overrun),
    # at most at the pace out of contact (terrain, mines, suppression); squads out of contact have
    # infinite odds, and odds beyond a million change nothing, so they are capped to stay finite
    odds = np.where(engaged & push, np.minimum(state.local_ratio[gov], 1e6) / max(p.assault_ratio, 1e-9), 0.0)
    push_cells = p.assault_per_h * model_power(odds, p.assault_odds_power) * state.dt_h
    pace = np.where(engaged, np.where(push, np.minimum(pace, push_cells), 0.0), pace)
    if delay:
        # a squad clearing its way moves only in the part of the step left after it
        wait = squads.mine_wait_h[gov]
        pace = pace * np.maximum(0.0, 1.0 - wait / state.dt_h)
        squads.mine_wait_h[gov] = np.maximum(0.0, wait - state.dt_h)
    # pace is the expected number of cells this step: its whole part, and one more by chance,
    # so that a long step covers the ground several short ones would
    cells = np.floor(pace) + (state.rng.random(gov.size) < pace - np.floor(pace))
    moves = ~at_target & (cells > 0)
    movers = gov[moves]
    if movers.size == 0:
        return
    dx, dy = near_x[x, y][moves] - x[moves], near_y[x, y][moves] - y[moves]
    reach = cells[moves].astype(np.int64)
    mx = x[moves] + np.sign(dx) * np.minimum(reach, np.abs(dx))
    my = y[moves] + np.sign(dy) * np.minimum(reach, np.abs(dy))
    squads.x[movers], squads.y[movers] = mx, my
    mined = state.mines[mx, my] > 0
    if mined.any():
        density = state.mines[mx[mined], my[mined]]
        inflict(state, casualties_p, movers[mined], density * (p.mine_clearing_hit if delay else p.mine_hit))
        if delay:
            squads.mine_wait_h[movers[mined]] = density * p.mine_clear_h
        np.multiply.at(state.mines, (mx[mined], my[mined]), 1.0 - p.mine_clearing)


def _reference_move_rebels(state: BattleState, p: movement.Params, reb: np.ndarray) -> None:
    squads = state.squads
    if reb.size == 0:
        return
    held = state.control == GOV
    if not held.any():
        return
    depth, (near_x, near_y) = distance_transform_edt(~held, return_indices=True)
    x, y = squads.x[reb].astype(np.int64), squads.y[reb].astype(np.int64)
    engaged = state.engaged[reb]
    ratio = state.local_ratio[reb]
    dt_h = state.dt_h
    draw = state.rng.random(reb.size)
    fall_back = engaged & (ratio < p.retreat_ratio) & (draw < _reference_chance(p.fallback_per_h, dt_h))
    counter = engaged & (ratio >= p.counterattack_ratio) & (draw < _reference_chance(p.counterattack_per_h, dt_h))
    reacting = state.hour >= p.reserves_react_h
    reposition = (
        reacting
        & ~engaged
        & (depth[x, y] > p.reserve_depth_cells)
        & (draw < _reference_chance(p.reposition_per_h, dt_h))
    )
    toward = counter | reposition
    new_x, new_y = x.copy(), y.copy()
    new_x[toward] = x[toward] + np.sign(near_x[x[toward], y[toward]] - x[toward])
    new_y[toward] = y[toward] + np.sign(near_y[x[toward], y[toward]] - y[toward])
    if fall_back.any():
        cx = x[fall_back, None] + _REFERENCE_OFFSETS[None, :, 0]
        cy = y[fall_back, None] + _REFERENCE_OFFSETS[None, :, 1]
        w, h = state.shape
        cx, cy = np.clip(cx, 0, w - 1), np.clip(cy, 0, h - 1)
        score = np.where(state.in_town_mask[cx, cy] & ~held[cx, cy], depth[cx, cy], -1.0)
        best = score.argmax(axis=1)
        rows = np.arange(best.size)
        new_x[fall_back], new_y[fall_back] = cx[rows, best], cy[rows, best]
    # rebels stay in the town: a move out of it is cancelled
    inside = state.in_town_mask[new_x, new_y]
    squads.x[reb] = np.where(inside, new_x, x)
    squads.y[reb] = np.where(inside, new_y, y)


def _reference_tunnel_raids(state: BattleState, p: movement.Params, reb: np.ndarray) -> None:
    """Rebels at a tunnel end emerge at the other end when the attackers hold or contest it."""
    if state.tunnels.size == 0 or reb.size == 0:
        return
    squads = state.squads
    ends = state.tunnels  # (n, 4): x_a, y_a, x_b, y_b
    control = state.control
    # a tunnel whose both ends the attackers hold is found and lost (record: tunnels discovered)
    both_held = (control[ends[:, 0], ends[:, 1]] == GOV) & (control[ends[:, 2], ends[:, 3]] == GOV)
    state.tunnels = ends = ends[~both_held]
    chance = _reference_chance(p.tunnel_per_h, state.dt_h)
    moved = np.zeros(reb.size, bool)
    for col_from, col_to in ((0, 2), (2, 0)):
        src = ends[:, col_from : col_from + 2]
        dst = ends[:, col_to : col_to + 2]
        target = control[dst[:, 0], dst[:, 1]]
        usable = ((target == GOV) | (target == CONTESTED)) & (control[src[:, 0], src[:, 1]] != GOV)
        if not usable.any():
            continue
        lookup = np.full(state.shape, -1, np.int64)
        lookup[src[usable, 0], src[usable, 1]] = np.flatnonzero(usable)
        tunnel = lookup[squads.x[reb], squads.y[reb]]
        go = (tunnel >= 0) & ~moved & (state.rng.random(reb.size) < chance)
        squads.x[reb[go]] = dst[tunnel[go], 0]
        squads.y[reb[go]] = dst[tunnel[go], 1]
        moved |= go


# --- random states -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_state() -> BattleState:
    model = BattleModel(small_scenario(), rng=3)
    for _ in range(3):
        model.step()
    return model.state


def _random_state(base: BattleState, rng: np.random.Generator, case: str) -> BattleState:
    state = copy.deepcopy(base)
    state._handles = {}
    state.rng = np.random.default_rng(rng.integers(2**32))
    shape = state.shape
    n = 0 if case == "no squads" else int(rng.integers(1, 400))
    squads = Squads.empty(n)
    squads.side[:] = rng.integers(0, 3, n)
    if case == "no rebels":
        squads.side[:] = rng.integers(1, 3, n)
    if case == "no attackers":
        squads.side[:] = REBELS
    squads.status[:] = rng.choice([ACTIVE, ACTIVE, ACTIVE, ACTIVE, GONE, PENDING], n)
    squads.node[:] = np.where(rng.random(n) < 0.9, IN_TOWN, rng.integers(0, len(state.wounded_at_node), n))
    squads.strength[:] = np.where(rng.random(n) < 0.15, 0, rng.integers(1, 40, n))
    squads.x[:] = rng.integers(0, shape[0], n)
    squads.y[:] = rng.integers(0, shape[1], n)
    squads.suppressed[:] = np.where(rng.random(n) < 0.5, 0.0, rng.random(n)).astype(np.float32)
    squads.mine_wait_h[:] = np.where(rng.random(n) < 0.6, 0.0, rng.choice([0.1, 0.25, 3.0], n) * rng.random(n))
    state.squads = squads
    state.engaged = rng.random(n) < rng.random()
    state.local_ratio = rng.choice([np.inf, 1e7, 0.0, 0.1, 0.33, 1.5, 2.0, 3.0], n) * np.where(
        rng.random(n) < 0.5, 1.0, rng.random(n) * 2
    )
    town = state.in_town_mask
    control = rng.choice([NONE, GOV, REB, CONTESTED], shape, p=rng.dirichlet(np.ones(4)))
    if case == "none held":
        control[control == GOV] = REB
    if case == "all held":
        control[:] = GOV
    state.control[:] = np.where(town, control, NONE) if case != "all held" else GOV
    state.mines[:] = np.where(rng.random(shape) < rng.random(), rng.random(shape), 0.0)
    state.built_up[:] = rng.random(shape)
    state.road[:] = rng.random(shape) < 0.2
    state.river[:] = rng.random(shape) < 0.05
    town_cells = np.argwhere(town)
    k = 0 if case == "no tunnels" else int(rng.integers(0, 12))
    ends = town_cells[rng.integers(0, len(town_cells), (k, 2))].reshape(k, 4).astype(np.int64)
    if k > 2:
        ends[1, :2] = ends[0, :2]  # two tunnels from one cell
    state.tunnels = ends
    if k > 0:  # some rebels wait at tunnel ends
        waiting = np.flatnonzero((squads.side == REBELS) & (rng.random(n) < 0.3))
        pick, col = rng.integers(0, k, waiting.size), 2 * rng.integers(0, 2, waiting.size)
        squads.x[waiting], squads.y[waiting] = ends[pick, col], ends[pick, col + 1]
    state.steps = int(rng.integers(0, 200))
    return state


def _params(rng: np.random.Generator) -> tuple[movement.Params, ControlParams, CasualtiesParams]:
    p = movement.Params(
        built_up_slowing=float(rng.choice([0.0, 4.0, 7.3])),
        speed_m_per_h=float(rng.choice([0.0, 300.0, 1928.0, 20000.0])),
        assault_ratio=float(rng.choice([0.0, 2.0, 1.3])),
        assault_per_h=float(rng.choice([0.2, 5.0])),
        assault_odds_power=float(rng.choice([0.0, 0.5, 1.0, 1.7, 2.0, 3.0])),
        mines=str(rng.choice(["kill", "delay"])),
        mine_hit=float(rng.choice([0.0, 0.05, 0.9])),
        mine_clear_h=float(rng.choice([0.0, 0.3, 4.0])),
        mine_clearing_hit=float(rng.choice([0.0, 0.005, 0.5])),
        mine_clearing=float(rng.choice([0.0, 0.5, 1.0])),
        retreat_ratio=float(rng.choice([0.33, 2.0])),  # 2.0: some rebels both fall back and counter-attack
        fallback_per_h=float(rng.choice([0.5, 100.0])),
        counterattack_per_h=float(rng.choice([0.1, 100.0])),
        reposition_per_h=float(rng.choice([0.2, 100.0])),
        reserves_react_h=float(rng.choice([0.0, 2.24, 1e9])),
        tunnel_per_h=float(rng.choice([0.0, 0.1, 1000.0])),
    )
    return p, ControlParams(clearing_capacity=float(rng.choice([0.5, 10.0, 40.0, 1e9]))), CasualtiesParams()


def _assert_same(a: BattleState, b: BattleState) -> None:
    for name in ("x", "y", "strength", "status", "node", "mine_wait_h"):
        np.testing.assert_array_equal(getattr(a.squads, name), getattr(b.squads, name))
        assert getattr(a.squads, name).dtype == getattr(b.squads, name).dtype
    for name in ("killed", "wounded", "wounded_evacuated"):
        np.testing.assert_array_equal(getattr(a.tally, name), getattr(b.tally, name))
    for name in ("mines", "wounded_in_cell", "wounded_at_node", "control", "tunnels"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


CASES = ["random", "no squads", "no rebels", "no attackers", "none held", "all held", "no tunnels"]


@pytest.mark.parametrize("case", CASES)
def test_step_as_numpy(base_state, case):
    rng = np.random.default_rng(CASES.index(case))
    for _ in range(60 if case == "random" else 20):
        params = _params(rng)
        expected = _random_state(base_state, rng, case)
        got = copy.deepcopy(expected)
        got._handles = {}
        got.rng = copy.deepcopy(expected.rng)
        _reference_step(expected, *params)
        movement.step(got, *params)
        _assert_same(expected, got)


@pytest.mark.parametrize("mines", ["kill", "delay"])
def test_steps_of_a_battle_as_numpy(mines):
    """Every step of a small battle, with either kind of mines: the phase's result from each state it reaches."""
    extra = [f"rules.movement.mines={mines}", "rules.movement.mine_clear_h=2"]
    model = BattleModel(small_scenario(extra=extra, dt_minutes=15), rng=11)
    params = (model.config.rules.movement, model.config.rules.control, model.config.rules.casualties)
    checked = []

    def checked_run(run):
        def run_both(state):
            expected = copy.deepcopy(state)
            expected._handles = {}
            expected.rng = copy.deepcopy(state.rng)
            _reference_step(expected, *params)
            run(state)
            _assert_same(expected, state)
            checked.append(True)

        return run_both

    model.phases = tuple(
        SimpleNamespace(name=ph.name, run=checked_run(ph.run) if ph.name == "movement" else ph.run)
        for ph in model.phases
    )
    for _ in range(model.n_steps):
        model.step()
    assert len(checked) == model.n_steps


def test_chance_and_the_odds_power_as_numpy():
    rng = np.random.default_rng(1)
    for per_h, dt_h in zip(rng.random(500) * 10, rng.choice([0.25, 1.0, 0.1], 500), strict=True):
        assert movement._chance(per_h, dt_h) == _reference_chance(per_h, dt_h)
    odds = np.concatenate([[0.0, 1.0, 1e6], rng.random(300) * 50])
    for exponent in (0.0, 0.5, 1.0, 2.0, 3.0, 1.7, 0.3, 2.5):
        got = np.array([power(value, exponent) for value in odds])
        np.testing.assert_array_equal(got, model_power(odds, exponent))


def test_pace_as_numpy():
    """The attackers' pace, per squad, as the reference's whole-array expressions give it."""
    rng = np.random.default_rng(2)
    n = 3000
    road, river, engaged = rng.random(n) < 0.3, rng.random(n) < 0.2, rng.random(n) < 0.6
    built_up, mines = rng.random(n), np.where(rng.random(n) < 0.5, 0.0, rng.random(n))
    suppressed = np.where(rng.random(n) < 0.3, 0.0, rng.random(n)).astype(np.float32)
    local_ratio = rng.choice([np.inf, 1e7, 0.0, 2.0], n) * np.where(rng.random(n) < 0.3, 1.0, rng.random(n) * 5)
    for base, slowing_coeff, road_share, river_factor, assault_ratio, odds_power, dt_h in [
        (4.82, 4.0, 0.25, 0.05, 2.0, 1.0, 0.25),
        (0.3, 7.1, 0.5, 0.3, 1.3, 1.7, 1.0),
        (19.0, 0.0, 1.0, 1.0, 0.0, 0.5, 0.25),
        (2.2, 3.3, 0.1, 0.05, 2.5, 2.0, 0.5),
    ]:
        assault_per_h = 0.2
        slowing = slowing_coeff * np.where(road, road_share, 1.0)
        pace = base / (1.0 + slowing * built_up) * (1.0 - mines)
        pace *= np.where(river, river_factor, 1.0) * (1.0 - suppressed)
        push = local_ratio >= assault_ratio
        odds = np.where(engaged & push, np.minimum(local_ratio, 1e6) / max(assault_ratio, 1e-9), 0.0)
        push_cells = assault_per_h * model_power(odds, odds_power) * dt_h
        expected = np.where(engaged, np.where(push, np.minimum(pace, push_cells), 0.0), pace)
        got = np.array(
            [
                movement._pace(
                    base,
                    slowing_coeff,
                    road_share,
                    river_factor,
                    road[i],
                    built_up[i],
                    mines[i],
                    river[i],
                    suppressed[i],
                    engaged[i],
                    local_ratio[i],
                    assault_ratio,
                    assault_per_h,
                    odds_power,
                    dt_h,
                )
                for i in range(n)
            ]
        )
        np.testing.assert_array_equal(got, expected)
