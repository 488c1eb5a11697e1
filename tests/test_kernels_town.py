"""The compiled rules of helper ``town`` equal the numpy code they replaced (control, fire support, civilians, ...).

Each ``reference_*`` below is that numpy code, kept as the reference. Each test runs the rule and its
reference on copies of the same varied states (random squads, layers and parameters; no squads,
no rebels, zero strengths) and asserts every array, tally, scalar and generator state equal to the
last bit.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import numpy as np
import pytest

from sim.model import BattleModel
from sim.rules import casualties, civilians, cohesion, control, fire_support, surrender
from sim.rules.casualties import inflict
from sim.state import (
    ACTIVE,
    ARMY,
    CIVILIANS,
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
from tests.conftest import model_exp, model_power, numpy_box_sum, numpy_cell_sum, small_scenario

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
        if f.name in ("_handles", "_held", "sector_code", *skip):
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
    rebels = numpy_cell_sum(state.shape, x[rebel], y[rebel], squads.strength[idx[rebel]])
    reb_here = rebels > 0
    attackers = numpy_cell_sum(state.shape, x[~rebel], y[~rebel], squads.strength[idx[~rebel]])
    gov_here = attackers > 0
    control_ = state.control
    alone = gov_here & ~reb_here
    defenders = numpy_box_sum(rebels, p.opposed_within_cells)
    if state.hour <= p.surprise_h:
        defenders = defenders * p.surprised_defence
    pace = 1.0 / (1.0 + model_power(defenders / p.defenders_halving, p.defenders_steepness))
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
    held = owner == control.SECTOR_GOV
    if state.sector_gov_since_hour.size != state.n_sectors:
        state.sector_gov_since_hour = np.full(state.n_sectors, np.nan)
    since = state.sector_gov_since_hour
    since[~held] = np.nan  # held without a break since the hour it was taken
    since[held & np.isnan(since)] = state.hour
    state.sectors_gov = int(held.sum())
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


# --- fire support ----------------------------------------------------------------------------------


def reference_active_plans(plans: list[fire_support.FirePlan], now: dt.datetime) -> list[fire_support.FirePlan]:
    """The plans in force at ``now``."""
    return [plan for plan in plans if plan.start <= now < plan.end]


def reference_fire_support_step(
    state: BattleState, p: fire_support.Params, casualties_p: casualties.Params, plans: list[fire_support.FirePlan]
) -> None:
    """``fire_support.step`` as numpy code."""
    squads = state.squads
    squads.suppressed[:] = 0.0
    if state.ceasefire or state.well_mixed:
        return
    for plan in reference_active_plans(plans, state.moment()):
        count = state.rng.poisson(plan.per_hour * state.dt_h)
        if count == 0:
            continue
        shells = count * fire_support._equivalent(plan.kind, p)
        if plan.target == "town":
            reference_on_town(state, p, casualties_p, count, shells / count)
        else:
            reference_on_place(state, p, casualties_p, state.place_index[plan.target], shells)


def reference_on_town(
    state: BattleState, p: fire_support.Params, casualties_p: casualties.Params, count: int, per_munition: float
) -> None:
    squads = state.squads
    town = np.flatnonzero(squads.in_town())
    rebel = squads.side[town] == REBELS
    gov, reb = town[~rebel], town[rebel]
    gov_here = numpy_cell_sum(state.shape, squads.x[gov], squads.y[gov], np.ones(gov.size))
    near_gov = numpy_box_sum(gov_here, p.danger_close_cells) > 0
    targets = np.flatnonzero(((state.control == REB) & ~near_gov & state.in_town_mask).ravel())
    if targets.size == 0:
        return
    rebels_here = numpy_cell_sum(state.shape, squads.x[reb], squads.y[reb], squads.strength[reb]).ravel()
    weights = 1.0 + rebels_here[targets] / 10.0
    landed = state.rng.multinomial(count, weights / weights.sum())
    hit = targets[landed > 0]
    shells_hit = landed[landed > 0] * per_munition
    shells = np.zeros(state.shape)
    shells.ravel()[hit] = shells_hit
    shelter_hit = 1.0 - p.building_protection * state.built_up.ravel()[hit] * (1.0 - state.damage.ravel()[hit])
    per_shell = p.lethal_area_m2 / state.cell_area_m2
    # fighters in the cells hit
    m = shells[squads.x[reb], squads.y[reb]]
    under_fire = m > 0
    if under_fire.any():
        hit_reb = reb[under_fire]
        shelter_reb = 1.0 - p.building_protection * state.built_up[squads.x[hit_reb], squads.y[hit_reb]] * (
            1.0 - state.damage[squads.x[hit_reb], squads.y[hit_reb]]
        )
        m = m[under_fire]
        inflict(state, casualties_p, hit_reb, 1.0 - model_exp(-m * per_shell * p.fighter_exposure * shelter_reb))
        squads.suppressed[hit_reb] = np.maximum(
            squads.suppressed[hit_reb], 1.0 - model_exp(-m * p.suppression_per_shell)
        )
    # civilians in the cells hit
    p_civ = np.zeros(state.shape)
    p_civ.ravel()[hit] = 1.0 - model_exp(-shells_hit * per_shell * p.civilian_exposure * shelter_hit)
    reference_harm_civilians(state, p_civ, p.killed_share_civilians)
    # buildings
    damage = state.damage.ravel()  # a view of the layer
    damage[hit] = 1.0 - (1.0 - damage[hit]) * model_exp(-shells_hit * p.damage_per_shell)


def reference_harm_civilians(state: BattleState, p_hit: np.ndarray, killed_share: float) -> None:
    """Hit each civilian of each cell with probability ``p_hit``: the killed leave, the wounded stay."""
    cells = np.flatnonzero((p_hit > 0) & (state.civilians > 0))
    if cells.size == 0:
        return
    people = state.civilians.ravel()  # a view: the layer itself
    hits = state.civilian_rng.binomial(people[cells], np.minimum(p_hit.ravel()[cells], 1.0))
    killed = state.civilian_rng.binomial(hits, killed_share)
    people[cells] -= killed
    state.tally.killed[CIVILIANS] += int(killed.sum())
    state.tally.wounded[CIVILIANS] += int((hits - killed).sum())


def reference_on_place(
    state: BattleState, p: fire_support.Params, casualties_p: casualties.Params, node: int, shells: float
) -> None:
    squads = state.squads
    here = np.flatnonzero(
        (squads.status == ACTIVE) & (squads.node == node) & (squads.side == REBELS) & (squads.strength > 0)
    )
    if here.size == 0:
        return
    per_fighter = shells / p.place_area_cells * p.lethal_area_m2 / state.cell_area_m2 * p.fighter_exposure
    p_hit = 1.0 - float(model_exp(-per_fighter * (1.0 - p.building_protection * 0.5)))
    inflict(state, casualties_p, here, np.full(here.size, p_hit))


KINDS_OF_FIRE = ("artillery", "mortar", "rockets", "barrage", "air_raid", "missile")


def random_plans(state: BattleState, rng: np.random.Generator) -> list[fire_support.FirePlan]:
    """A few plans around the state's moment, on the town and on outside places."""
    plans = []
    for _ in range(int(rng.integers(0, 6))):
        start = state.moment() + dt.timedelta(hours=float(rng.choice([-5.0, -0.5, 0.0, 0.25, 1.0])))
        target = "town" if rng.random() < 0.7 else str(rng.choice(state.place_names))
        plans.append(
            fire_support.FirePlan(
                kind=str(rng.choice(KINDS_OF_FIRE)),
                start=start,
                end=start + dt.timedelta(hours=float(rng.choice([0.25, 1.0, 6.0]))),
                per_hour=float(rng.choice([0.0, 0.5, 4.0, 60.0, 300.0, 2400.0])),
                target=target,
                cite="test",
            )
        )
    return plans


def fire_support_params(rng: np.random.Generator) -> fire_support.Params:
    return fire_support.Params(
        lethal_area_m2=float(rng.uniform(0, 600)),
        fighter_exposure=float(rng.random()),
        civilian_exposure=float(rng.random() * 0.1),
        building_protection=float(rng.random()),
        damage_per_shell=float(rng.random() * 0.05),
        suppression_per_shell=float(rng.random()),
        danger_close_cells=int(rng.integers(0, 3)),
        air_raid_equivalent=float(rng.uniform(0, 10)),
        missile_equivalent=float(rng.uniform(0, 30)),
        place_area_cells=float(rng.uniform(1, 50)),
        killed_share_civilians=float(rng.random()),
    )


@pytest.mark.parametrize("trial", range(TRIALS))
def test_fire_support_is_the_numpy_code(base: BattleState, trial: int) -> None:
    state = varied(base, 100 + trial, KINDS[trial % len(KINDS)])
    rng = np.random.default_rng(2000 + trial)
    p = fire_support_params(rng) if trial % 4 else fire_support.Params()
    hits = casualties.Params(killed_share=float(rng.random()))
    plans = random_plans(state, rng)
    state.ceasefire = trial % 11 == 5
    kernel, numpy_ = fresh(state), fresh(state)
    for _ in range(3):  # and on the next steps (the plans' step ranges made once)
        fire_support.step(kernel, p, hits, plans)
        reference_fire_support_step(numpy_, p, hits, plans)
        assert_same(kernel, numpy_)
        kernel.steps += 1
        numpy_.steps += 1


@pytest.mark.parametrize("dt_h", [0.25, 1.0, 1 / 3, 0.1, 0.7])
def test_plan_steps_are_the_plans_in_force(base: BattleState, dt_h: float) -> None:
    """A plan is in force over its step range exactly when its dates say so, step by step."""
    state = fresh(base)
    state.dt_h = dt_h
    rng = np.random.default_rng(int(dt_h * 1000))
    plans = []
    for _ in range(30):
        start = state.start + dt.timedelta(hours=float(rng.uniform(-3, 60)), microseconds=int(rng.integers(0, 3)))
        end = start + dt.timedelta(hours=float(rng.choice([dt_h, dt_h / 3, 2 * dt_h, rng.uniform(0.01, 30)])))
        plans.append(fire_support.FirePlan(kind="mortar", start=start, end=end, per_hour=1.0, cite="test"))
    plans.append(
        fire_support.FirePlan(
            kind="mortar", start=state.start, end=state.start + dt.timedelta(hours=dt_h), per_hour=1.0, cite="t"
        )
    )
    first, after, *_ = fire_support.plan_steps(state, fire_support.Params(), plans)
    for steps in range(0, int(80 / dt_h)):
        state.steps = steps
        expected = [plan in reference_active_plans(plans, state.moment()) for plan in plans]
        assert [bool(first[k] <= steps < after[k]) for k in range(len(plans))] == expected


# --- civilians -------------------------------------------------------------------------------------


def reference_civilians_step(state: BattleState, p: civilians.Params, fire_support_p: fire_support.Params) -> None:
    """``civilians.step`` as numpy code."""
    if state.well_mixed or not state.civilians.any():
        return
    reference_harm_civilians(
        state,
        1.0 - model_exp(-p.crossfire_per_shot * state.fire_intensity * state.dt_h),
        fire_support_p.killed_share_civilians,
    )
    people = state.civilians.ravel()  # a view of the layer
    cells = np.flatnonzero(people)
    rate = np.where(
        state.control.ravel()[cells] == GOV,
        p.behind_lines_per_day,
        p.flee_per_day if state.routes_open else p.bribe_per_day,
    )
    fear = 1.0 + p.fear_per_damage * state.damage.ravel()[cells]
    leaving = state.civilian_rng.binomial(people[cells], 1.0 - model_exp(-rate * state.dt_h / 24.0 * fear))
    people[cells] -= leaving
    state.tally.withdrawn[CIVILIANS] += int(leaving.sum())


@pytest.mark.parametrize("trial", range(TRIALS))
def test_civilians_is_the_numpy_code(base: BattleState, trial: int) -> None:
    state = varied(base, 200 + trial, KINDS[trial % len(KINDS)])
    rng = np.random.default_rng(3000 + trial)
    if trial % 7 == 3:
        state.civilians[:] = 0  # no one left
    if trial % 5 == 1:
        state.civilians[:] = rng.integers(0, 3000, state.shape)  # crowded: the binomials' other method
    p = civilians.Params(
        flee_per_day=float(rng.random()),
        bribe_per_day=float(rng.choice([0.0, 0.01, 0.5])),
        behind_lines_per_day=float(rng.random() * 3),
        fear_per_damage=float(rng.random() * 4),
        crossfire_per_shot=float(rng.choice([0.0, 2e-4, 5e-3])),
    )
    fire_p = fire_support.Params(killed_share_civilians=float(rng.choice([0.0, 0.09, 1.0, rng.random()])))
    state.routes_open = [] if trial % 2 else [0]
    kernel, numpy_ = fresh(state), fresh(state)
    for _ in range(2):
        civilians.step(kernel, p, fire_p)
        reference_civilians_step(numpy_, p, fire_p)
        assert_same(kernel, numpy_)


# --- cohesion --------------------------------------------------------------------------------------


def reference_cohesion_step(state: BattleState, p: cohesion.Params) -> None:
    """``cohesion.step`` as numpy code."""
    if state.well_mixed:
        return
    squads = state.squads
    rebels = squads.in_town() & (squads.side == REBELS)
    fighters = float(squads.strength[rebels].sum())
    tally = state.tally
    lost_total = int(tally.killed[REBELS] + tally.wounded[REBELS]) + state.rebels_surrendered
    lost = lost_total - state.rebel_losses_seen
    state.rebel_losses_seen = lost_total
    waiting = float(state.wounded_in_cell.sum())
    base = max(fighters, 1.0)
    ammo = float(np.average(squads.ammo[rebels], weights=squads.strength[rebels])) if fighters else 0.0
    days = state.dt_h / 24.0
    change = -p.loss_weight * lost / (base + lost)
    change -= days * (
        p.encircled_per_day * (not state.routes_open)
        + p.ammo_per_day * (1.0 - ammo)
        + p.water_per_day * (state.water_cut_hour is not None)
        + p.wounded_per_day * waiting / (waiting + base)
    )
    change += p.reinforcement_weight * state.rebel_arrivals_step / base
    state.rebel_arrivals_step = 0
    state.cohesion = float(np.clip(state.cohesion + change, 0.0, 1.0))


@pytest.mark.parametrize("trial", range(TRIALS))
def test_cohesion_is_the_numpy_code(base: BattleState, trial: int) -> None:
    state = varied(base, 300 + trial, KINDS[trial % len(KINDS)])
    rng = np.random.default_rng(4000 + trial)
    p = cohesion.Params(
        loss_weight=float(rng.random()),
        encircled_per_day=float(rng.random() * 0.1),
        ammo_per_day=float(rng.random() * 0.5),
        water_per_day=float(rng.random() * 0.1),
        wounded_per_day=float(rng.random()),
        reinforcement_weight=float(rng.random() * 2),
    )
    state.tally.killed[REBELS] = int(rng.integers(0, 500))
    state.tally.wounded[REBELS] = int(rng.integers(0, 500))
    state.rebels_surrendered = int(rng.integers(0, 50))
    state.rebel_losses_seen = int(rng.integers(0, 400))
    state.rebel_arrivals_step = int(rng.choice([0, 0, 30, 2000]))
    state.routes_open = [] if trial % 2 else [1]
    state.water_cut_hour = None if trial % 3 else 12.0
    state.cohesion = float(rng.choice([0.0, 1.0, rng.random()]))
    kernel, numpy_ = fresh(state), fresh(state)
    for _ in range(3):
        cohesion.step(kernel, p)
        reference_cohesion_step(numpy_, p)
        assert_same(kernel, numpy_)
        for s in (kernel, numpy_):
            s.tally.killed[REBELS] += 7
            s.rebel_arrivals_step = 5


def test_cohesion_fire_factor() -> None:
    p = cohesion.Params(fire_floor=0.3)
    assert cohesion.fire_factor(0.25, p) == 0.3 + (1.0 - 0.3) * 0.25


@pytest.mark.parametrize("trial", range(8))
def test_cohesion_takes_numpys_mean_ammunition_to_the_last_bit(base: BattleState, trial: int) -> None:
    """Everything but the ammunition set aside: the new cohesion is the mean ammunition minus 0.5, exactly."""
    state = varied(base, 400 + trial, "no attackers")
    rng = np.random.default_rng(trial)
    n = len(state.squads)
    # a few nearly empty magazines among full ones: sums that take more than a double's bits
    ammo = np.where(rng.random(n) < 0.1, rng.random(n) * 10.0 ** -rng.integers(3, 9, n), 0.6 + rng.random(n) * 0.4)
    state.squads.ammo[:] = ammo.astype(np.float32)
    state.dt_h, state.cohesion, state.routes_open, state.water_cut_hour = 24.0, 0.5, [0], None
    state.wounded_in_cell[:] = 0
    state.rebel_arrivals_step = 0
    p = cohesion.Params(loss_weight=0, encircled_per_day=0, ammo_per_day=1, water_per_day=0, wounded_per_day=0)
    kernel, numpy_ = fresh(state), fresh(state)
    cohesion.step(kernel, p)
    reference_cohesion_step(numpy_, p)
    assert_same(kernel, numpy_)


# --- surrender -------------------------------------------------------------------------------------


def reference_surrender_step(state: BattleState, p: surrender.Params) -> None:
    """``surrender.step`` as numpy code."""
    if state.well_mixed:
        return
    squads = state.squads
    idx = np.flatnonzero(squads.in_town() & (squads.side == REBELS) & state.engaged)
    cornered = idx[state.local_ratio[idx] * p.surrender_odds < 1.0]
    if cornered.size:
        chance = 1.0 - float(model_exp(-p.surrender_per_h * (1.0 - state.cohesion) * state.dt_h))
        gave_up = state.rng.binomial(squads.strength[cornered], chance)
        squads.strength[cornered] -= gave_up.astype(np.int32)
        state.tally.captured[REBELS] += int(gave_up.sum())
        state.rebels_surrendered += int(gave_up.sum())
    left_behind = state.control == GOV
    taken = state.wounded_in_cell[left_behind]
    if taken.any():
        state.tally.captured[REBELS] += int(taken.sum())
        state.wounded_in_cell[left_behind] = 0


@pytest.mark.parametrize("trial", range(TRIALS))
def test_surrender_is_the_numpy_code(base: BattleState, trial: int) -> None:
    state = varied(base, 500 + trial, KINDS[trial % len(KINDS)])
    rng = np.random.default_rng(5000 + trial)
    p = surrender.Params(
        surrender_odds=float(rng.choice([4.0, 0.5, 40.0])), surrender_per_h=float(rng.choice([0.0, 0.01, 0.9]))
    )
    state.cohesion = float(rng.choice([0.0, 1.0, rng.random()]))
    state.dt_h = float(rng.choice([0.25, 1.0, 24.0]))
    state.rebels_surrendered = int(rng.integers(0, 100))
    if trial % 6 == 2:
        state.squads.strength[:] *= 300  # many at once: the binomials' other method
    kernel, numpy_ = fresh(state), fresh(state)
    for _ in range(2):
        surrender.step(kernel, p)
        reference_surrender_step(numpy_, p)
        assert_same(kernel, numpy_)


def test_mismatched_arrays_are_refused(base: BattleState) -> None:
    """Arrays of the wrong size raise (numpy's broadcasting did) rather than reading past their end."""
    state = fresh(base)
    state.fire_intensity = np.zeros((0, 0))
    with pytest.raises(ValueError, match="shape"):
        civilians.step(state, civilians.Params(), fire_support.Params())
    state = fresh(base)
    state.engaged = np.zeros(0, bool)
    with pytest.raises(ValueError, match="one entry per squad"):
        surrender.step(state, surrender.Params())
