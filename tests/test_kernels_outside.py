"""The compiled rules outside the town (villages, supply, arrivals) against the numpy code they replace.

Each reference below is the rule's numpy code as it was before its kernels; the tests run it and
the rule on twins of varied random states (squads anywhere in any status, zero strengths, no
rebels left, no squads at all) and require the same state afterwards, to the last bit, and the
same generator state (the same draws in the same order).
"""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import pytest

from sim.grid import DIRECTIONS, entry_cells
from sim.model import BattleModel
from sim.rules import arrivals, supply, villages
from sim.rules.casualties import inflict
from sim.rules.cohesion import fire_factor
from sim.state import ACTIVE, GONE, GOV, HEZBOLLAH, IN_TOWN, OFF_DUTY, PENDING, REB, REBELS, BattleState, Squads
from tests.conftest import model_exp, small_scenario


@pytest.fixture(scope="module")
def model() -> BattleModel:
    return BattleModel(small_scenario(hours=48), rng=0)


def twins(state: BattleState) -> tuple[BattleState, BattleState]:
    """Two independent copies of ``state``, each with its own generators (and handles made afresh)."""
    made = []
    for _ in range(2):
        twin = copy.deepcopy(state)
        twin._handles.clear()  # a copied handle would still draw from the original generator
        twin._held.clear()
        made.append(twin)
    return made[0], made[1]


def scramble(model: BattleModel, seed: int, squads_left: int | None = None) -> BattleState:
    """A copy of the model's state with squads, places and objectives drawn at random."""
    r = np.random.default_rng(seed)
    state = copy.deepcopy(model.state)
    state._handles.clear()
    state._held.clear()
    state.rng = np.random.default_rng(seed + 1000)
    if squads_left is not None:
        kept = np.sort(r.choice(len(state.squads), size=squads_left, replace=False))
        s = state.squads
        state.squads = Squads(**{name: getattr(s, name)[kept].copy() for name in s.__dataclass_fields__})
        state.task_force = state.task_force[kept].copy()
        state.en_route = state.en_route[kept].copy()
    s = state.squads
    n, n_places = len(s), len(state.place_names)
    s.side[:] = r.choice(3, size=n, p=[0.4, 0.4, 0.2])
    s.node[:] = np.where(r.random(n) < 0.5, r.integers(0, n_places, n), IN_TOWN)
    s.status[:] = r.choice([ACTIVE, OFF_DUTY, PENDING, GONE], size=n, p=[0.7, 0.1, 0.1, 0.1])
    s.strength[:] = np.where(r.random(n) < 0.15, 0, r.integers(1, 13, n))
    s.x[:] = r.integers(0, state.shape[0], n)
    s.y[:] = r.integers(0, state.shape[1], n)
    s.ammo[:] = r.random(n).astype(np.float32)
    s.unit[:] = r.integers(0, 4, n)
    s.arrival_step[:] = r.integers(0, 40, n)
    state.task_force[:] = r.random(n) < 0.3
    state.en_route[:] = r.random(n) < 0.2
    state.node_holder[:] = np.where(r.random(n_places) < 0.6, REB, GOV)
    state.node_holder[state.town_node] = REB
    state.objectives = [int(k) for k in r.choice(n_places, size=r.integers(0, 3), replace=False)]
    state.defenders_at_start[:] = np.where(r.random(n_places) < 0.5, 0.0, r.integers(1, 100, n_places))
    state.wounded_at_node[:] = r.integers(0, 5, n_places)
    state.wounded_in_cell[:] = np.where(r.random(state.shape) < 0.05, r.integers(0, 9, state.shape), 0)
    state.control[:] = r.choice([0, GOV, REB, 3], size=state.shape)
    state.cohesion = float(r.random())
    state.steps = int(r.integers(0, 30))
    return state


def assert_same(a: BattleState, b: BattleState) -> None:
    """The two states' squads, tallies, layers, places, outcomes and generators agree to the last bit."""
    for name in a.squads.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a.squads, name), getattr(b.squads, name), err_msg=name)
    for name in a.tally.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a.tally, name), getattr(b.tally, name), err_msg=name)
    for name in (
        "task_force",
        "en_route",
        "node_holder",
        "defenders_at_start",
        "wounded_at_node",
        "wounded_in_cell",
        "control",
        "civilians",
    ):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in (
        "objectives",
        "routes_open",
        "place_captured_hour",
        "encirclement_hour",
        "water_cut_hour",
        "rebel_arrivals_step",
        "hezbollah_effectiveness",
    ):
        assert getattr(a, name) == getattr(b, name), name
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


# --- villages: the numpy code the kernels replace ---------------------------------------------------


def villages_reference(state, p, fire_p, cohesion_p, casualties_p):
    if state.well_mixed:
        return
    start = p.campaign_start
    if start is not None and state.moment() < start:
        return
    squads = state.squads
    _choose_objective_reference(state, p)
    outside = np.flatnonzero((squads.status == ACTIVE) & (squads.node >= 0) & (squads.strength > 0))
    rebel_out = squads.side[outside] == REBELS
    n_places = len(state.place_names)
    rebels_at = np.bincount(squads.node[outside[rebel_out]], minlength=n_places)
    attackers_at = np.bincount(squads.node[outside[~rebel_out]], minlength=n_places)
    for node in np.flatnonzero((rebels_at > 0) & (attackers_at > 0)):
        here = outside[squads.node[outside] == node]
        rebel = squads.side[here] == REBELS
        rebels = float(squads.strength[here[rebel]].sum())
        attackers = float(squads.strength[here[~rebel]].sum())
        if state.defenders_at_start[node] == 0:
            state.defenders_at_start[node] = rebels
        firing = min(attackers, p.engage_odds * rebels)
        on_rebel = fire_p.attacker_lethality_per_h * state.dt_h * firing / rebels * (1.0 - p.place_cover)
        rebel_fire = fire_factor(state.cohesion, cohesion_p)
        on_attacker = fire_p.rebel_lethality_per_h * state.dt_h * rebels / attackers * rebel_fire
        inflict(state, casualties_p, here, np.where(rebel, 1.0 - model_exp(-on_rebel), 1.0 - model_exp(-on_attacker)))
        left = squads.strength[here[rebel]].sum()
        if left <= (1.0 - p.break_share) * state.defenders_at_start[node]:
            villages._hand_over(state, int(node), here[rebel])


def _choose_objective_reference(state, p):
    squads = state.squads
    kept = [node for node in state.objectives if state.node_holder[node] == REB]
    if len(kept) == len(state.objectives) and (kept or not state.task_force.any()):
        return
    if p.order == "routes":
        _routes_reference(state, p, kept)
    for name in p.plan if p.order == "plan" else []:
        if len(kept) >= p.parallel_objectives:
            break
        node = state.place_index[name]
        if state.node_holder[node] != REB or node in kept:
            continue
        if any(state.node_holder[n] == GOV or n == state.town_node for n in state.network_neighbours[node]):
            kept.append(node)
    state.objectives = kept
    task_force = np.flatnonzero(state.task_force & (squads.status == ACTIVE) & (squads.strength > 0))
    if kept and p.split == "by_defenders":
        defenders = [max(_rebels_at(state)[node], 1.0) for node in kept]
        sent = [0.0] * len(kept)
        for i in task_force:  # each squad to the objective with the fewest attackers per defender so far
            best = min(range(len(kept)), key=lambda j: (sent[j] / defenders[j], j))
            squads.node[i] = kept[best]
            sent[best] += squads.strength[i]
    elif kept:
        squads.node[task_force] = np.array(kept)[np.arange(task_force.size) % len(kept)]
    else:
        state.task_force[task_force] = False
        squads.node[task_force] = IN_TOWN
        squads.x[task_force], squads.y[task_force] = entry_cells(state, "north", task_force.size)


def _rebels_at(state):
    """The rebel fighters at each place."""
    squads = state.squads
    rebels_at = np.zeros(len(state.node_holder))
    for i in np.flatnonzero((squads.status == ACTIVE) & (squads.node >= 0) & (squads.strength > 0)):
        if squads.side[i] == REBELS:
            rebels_at[squads.node[i]] += squads.strength[i]
    return rebels_at


def _routes_reference(state, p, kept):
    """The routes order (the module docstring's score), in plain Python: tops ``kept`` up one place at a time."""
    holder = state.node_holder
    rebels_at = _rebels_at(state)
    while len(kept) < p.parallel_objectives:
        best, best_score = None, -np.inf
        for k in range(len(holder)):
            borders = any(holder[n] == GOV or n == state.town_node for n in state.network_neighbours[k])
            if k == state.town_node or state.place_source[k] or holder[k] != REB or k in kept or not borders:
                continue
            cuts = sum(
                k in nodes and all(holder[n] == REB and n not in kept for n in nodes) for nodes, _ in state.routes
            )
            positions = [h for h in range(len(holder)) if h == state.town_node or holder[h] == GOV]
            offsets = state.place_km[k] - state.place_km[positions]
            distance_km = np.sqrt(offsets[:, 0] * offsets[:, 0] + offsets[:, 1] * offsets[:, 1]).min()
            score = p.route_worth_km * cuts - distance_km - p.defender_cost_km * rebels_at[k]
            if score > best_score:
                best, best_score = k, score
        if best is None:
            return
        kept.append(best)


@pytest.mark.parametrize("seed", range(24))
def test_villages_kernels_fight_as_numpy_did(model, seed):
    rules = model.config.rules
    r = np.random.default_rng(seed)
    campaign_start = [None, model.state.start, model.state.start + dt.timedelta(hours=int(r.integers(1, 20)))]
    p = rules.villages.model_copy(
        update={
            "campaign_start": campaign_start[seed % 3],
            "parallel_objectives": int(r.integers(1, 4)),
            "break_share": float(r.choice([0.05, 0.5, 1.0])),
            "order": ["plan", "routes"][seed % 2],
            "split": ["even", "by_defenders"][seed // 2 % 2],
            "route_worth_km": float(r.choice([0.0, 2.0, 10.0])),
            "defender_cost_km": float(r.choice([0.0, 0.01, 0.1])),
        }
    )
    fire_p = rules.fire.model_copy(update={"attacker_lethality_per_h": float(r.choice([0.00179, 0.05, 0.5]))})
    squads_left = [None, 0, 1, 5][seed % 4]
    ref, new = twins(scramble(model, seed, squads_left))
    for state in (ref, new):
        if seed % 5 == 0:  # no rebels left
            state.squads.strength[state.squads.side == REBELS] = 0
        if seed % 6 == 1:  # every place already taken: the task force goes into the town
            state.node_holder[:] = GOV
            state.node_holder[state.town_node] = REB
    for i in range(12):
        if i == 6:  # a new clock: the campaign's first step is worked out again
            ref.dt_h = new.dt_h = ref.dt_h / 4
        villages_reference(ref, p, fire_p, rules.cohesion, rules.casualties)
        villages.step(new, p, fire_p, rules.cohesion, rules.casualties)
        assert_same(ref, new)
        ref.steps += 1
        new.steps += 1


def test_the_campaigns_first_step_is_where_the_dates_fall(model):
    state = copy.deepcopy(model.state)
    for minutes in (7, 15, 20, 60):
        state.dt_h = minutes / 60.0
        for offset_min in (-30, 0, 1, 59, 60, 61, 600, 601, 1440 * 3 + 7):
            when = state.start + dt.timedelta(minutes=offset_min)
            first = state.first_step_at(when)
            for steps in range(-2, 200):
                state.steps = steps
                assert (state.moment() >= when) == (steps >= first), (minutes, offset_min, steps)


# --- supply: the numpy code the kernels replace -------------------------------------------------------


def open_routes_reference(state, p):
    if not p.routes_can_be_cut:
        return list(range(len(state.routes)))
    passable = state.node_holder == REB
    if p.fighting_blocks_route:
        passable[state.objectives] = False
    opened = []
    for i, (nodes, (ex, ey)) in enumerate(state.routes):
        if passable[nodes].all() and state.control[ex, ey] != GOV:
            opened.append(i)
    return opened


def supply_reference(state, p, casualties_p):
    if state.well_mixed:
        return
    squads = state.squads
    opened = open_routes_reference(state, p)
    state.routes_open = opened
    if not opened and state.encirclement_hour is None:
        state.encirclement_hour = state.hour
    wx, wy = state.water_station
    if state.control[wx, wy] == GOV and state.water_cut_hour is None:
        state.water_cut_hour = state.hour
    days = state.dt_h / 24.0
    # np.exp, not model_exp: supply.step itself takes these two chances with numpy's exp outside its
    # kernel (numpy's AVX-512 exp where the CPU has it: a last-bit dependence of the model on the machine)
    if opened:
        share = len(opened) / len(state.routes)
        rebels = np.flatnonzero(squads.in_town() & (squads.side == REBELS))
        squads.ammo[rebels] = np.minimum(1.0, squads.ammo[rebels] + p.resupply_per_day * days * share)
        waiting = state.wounded_in_cell.ravel()
        cells = np.flatnonzero(waiting)
        out = state.rng.binomial(waiting[cells], 1.0 - np.exp(-p.evacuation_per_day * days))
        waiting[cells] -= out
        state.tally.wounded_evacuated[REBELS] += int(out.sum())
    held = state.node_holder == REB
    out_nodes = state.rng.binomial(np.where(held, state.wounded_at_node, 0), 1.0 - np.exp(-p.evacuation_per_day * days))
    state.wounded_at_node -= out_nodes
    state.tally.wounded_evacuated[REBELS] += int(out_nodes.sum())
    waiting = np.flatnonzero(state.en_route & (squads.status == ACTIVE) & (squads.strength > 0))
    if waiting.size == 0 or state.withdrawal_hour is not None:
        return
    for source in np.unique(squads.node[waiting]):
        group = waiting[squads.node[waiting] == source]
        through = [i for i in opened if state.routes[i][0][-1] == source]
        if through:
            entrance = state.routes[through[0]][1]
        else:
            if state.rng.random() >= 1.0 - np.exp(-p.breakthrough_per_day * state.dt_h / 24.0):
                continue
            inflict(state, casualties_p, group, np.full(group.size, p.breakthrough_hit))
            if state.rng.random() >= p.breakthrough_success:
                continue
            entrance = state.routes[_least_blocked_route_reference(state, int(source))][1]
        squads.node[group] = IN_TOWN
        squads.x[group], squads.y[group] = entrance
        state.en_route[group] = False
        state.rebel_arrivals_step += int(squads.strength[group].sum())


def _least_blocked_route_reference(state, source):
    candidates = [i for i, (nodes, _) in enumerate(state.routes) if nodes[-1] == source] or list(
        range(len(state.routes))
    )
    return min(candidates, key=lambda i: sum(state.node_holder[n] == GOV for n in state.routes[i][0]))


@pytest.mark.parametrize("seed", range(24))
def test_supply_kernels_carry_as_numpy_did(model, seed):
    rules = model.config.rules
    r = np.random.default_rng(seed)
    p = rules.supply.model_copy(
        update={
            "routes_can_be_cut": bool(seed % 7),
            "fighting_blocks_route": bool(seed % 3),
            "resupply_per_day": float(r.choice([0.0, 0.5, 0.37, 40.0])),
            "evacuation_per_day": float(r.choice([0.0, 0.5, 3.0, 1000.0, 1e6])),
            "breakthrough_per_day": float(r.choice([0.0, 1.0, 50.0])),
        }
    )
    squads_left = [None, 0, 1, 5][seed % 4]
    ref, new = twins(scramble(model, seed, squads_left))
    for state in (ref, new):
        if seed % 5 == 0:  # no rebels left
            state.squads.strength[state.squads.side == REBELS] = 0
        if seed % 6 == 1:  # every route open, or with an objective on it
            state.node_holder[:] = REB
        if seed % 8 == 2:
            state.withdrawal_hour = 10.0
    for _ in range(6):
        assert supply.open_routes(new, p) == open_routes_reference(ref, p)
        supply_reference(ref, p, rules.casualties)
        supply.step(new, p, rules.casualties)
        assert_same(ref, new)
        np.testing.assert_array_equal(ref.squads.ammo, new.squads.ammo)
        ref.steps += 1
        new.steps += 1


# --- arrivals: the numpy code the kernels replace -----------------------------------------------------


def arrivals_reference(state, rotation, tactics):
    squads = state.squads
    due = np.flatnonzero((squads.status == PENDING) & (squads.arrival_step <= state.steps))
    if due.size:
        squads.status[due] = ACTIVE
        state.tally.arrived[:3] += np.bincount(squads.side[due], weights=squads.strength[due], minlength=3).astype(
            np.int64
        )
        if state.well_mixed:
            squads.node[due] = IN_TOWN
            squads.x[due], squads.y[due] = 0, 0
            due = due[:0]
        rebel = squads.side[due] == REBELS
        state.en_route[due[rebel]] = True
        squads.node[due[rebel]] = squads.entry[due[rebel]]
        for code in np.unique(squads.entry[due[~rebel]]):
            group = due[~rebel][squads.entry[due[~rebel]] == code]
            squads.node[group] = IN_TOWN
            squads.x[group], squads.y[group] = entry_cells(state, DIRECTIONS[code], group.size)
    policy = arrivals.policy_in_force(rotation, state.moment())
    if policy is not None:
        hez = np.flatnonzero((squads.side == HEZBOLLAH) & (squads.status <= OFF_DUTY) & (squads.strength > 0))
        if hez.size:
            on = arrivals.on_duty(policy, state.moment(), squads.unit[hez])
            leaving = hez[~on & (squads.status[hez] == ACTIVE)]
            returning = hez[on & (squads.status[hez] == OFF_DUTY)]
            squads.status[leaving] = OFF_DUTY
            squads.status[returning] = ACTIVE
            if returning.size:
                squads.x[returning], squads.y[returning] = entry_cells(state, "west", returning.size)
    state.hezbollah_effectiveness = arrivals.effectiveness_in_force(tactics, state.moment())


def random_inputs(r, start):
    """A rotation and a tactics list with starts around ``start``, in no particular order."""

    def when():
        return start + dt.timedelta(minutes=int(r.integers(-600, 3000)), microseconds=int(r.integers(0, 3)))

    rotation = [
        arrivals.RotationPolicy(
            start=when(),
            days_on=float(r.choice([0.5, 7.0, 20.0, 0.3, 1 / 3])),
            days_off=float(r.choice([0.0, 0.25, 7.0, 0.1])),
            cite="test",
        )
        for _ in range(r.integers(0, 4))
    ]
    tactics = [
        arrivals.TacticsChange(start=when(), effectiveness=float(r.uniform(0.5, 2)), cite="test")
        for _ in range(r.integers(0, 3))
    ]
    return rotation, tactics


@pytest.mark.parametrize("seed", range(24))
def test_arrivals_kernel_rotates_as_numpy_did(model, seed):
    r = np.random.default_rng(seed)
    rotation, tactics = random_inputs(r, model.state.start)
    squads_left = [None, 0, 1, 5][seed % 4]
    ref, new = twins(scramble(model, seed, squads_left))
    dt_h = float(r.choice([1.0, 0.25, 7 / 60, 20 / 60, 1.5]))
    entry = r.integers(0, len(DIRECTIONS), len(ref.squads))
    unit = np.where(r.random(len(ref.squads)) < 0.1, r.integers(0, 9, len(ref.squads)), ref.squads.unit)
    steps = int(r.integers(-2, 3))
    for state in (ref, new):
        state.dt_h = dt_h
        state.well_mixed = seed % 9 == 4
        state.squads.entry[:] = entry
        state.squads.unit[:] = unit
        state.steps = steps
    for i in range(60):
        if i == 30:  # a new clock: the schedule is worked out again
            ref.dt_h = new.dt_h = dt_h / 2
        arrivals_reference(ref, rotation, tactics)
        arrivals.step(new, rotation, tactics)
        assert_same(ref, new)
        jump = int(r.choice([1, 1, 1, 7, 40]))
        ref.steps += jump
        new.steps += jump


def test_the_rotations_float_remainder_is_numpys():
    r = np.random.default_rng(5)
    days = np.concatenate([r.uniform(-30, 30, 300), np.arange(-1, 2, 1 / 96), [0.0, -0.0, 7.0, 14.0, -7.0]])
    for days_on, days_off in ((7.0, 7.0), (20.0, 7.0), (0.5, 0.25), (1 / 3, 0.1), (0.3, 0.0)):
        policy = arrivals.RotationPolicy(start=dt.datetime(2013, 5, 19), days_on=days_on, days_off=days_off, cite="t")
        cycle = np.array([days_on + days_off])
        for cohort in range(6):
            unit = np.full(1, cohort, np.int16)
            status = np.zeros(1, np.int8)
            for d in days:
                now = policy.start + dt.timedelta(days=float(d))
                expected = arrivals.on_duty(policy, now, unit)[0]
                kernel_days = (now - policy.start).total_seconds() / 86400.0
                status[0] = ACTIVE
                arrivals._arrive_and_rotate(
                    True,
                    0,
                    0,
                    kernel_days,
                    cycle,
                    np.array([days_on]),
                    status,
                    np.zeros(1, np.int32),
                    np.full(1, HEZBOLLAH, np.int8),
                    np.ones(1, np.int32),
                    unit,
                    np.zeros(1, np.int64),
                )
                assert (status[0] == ACTIVE) == expected, (days_on, days_off, cohort, d)


@pytest.mark.parametrize("minutes", [15, 60, 20, 7, 30, 45, 90, 1])
def test_the_schedule_counts_the_days_as_datetime_does(model, minutes):
    state = copy.deepcopy(model.state)
    state.dt_h = minutes / 60.0
    entries = np.arange(0, 6000)
    for start in (state.start, state.start + dt.timedelta(days=2, seconds=7, microseconds=3), dt.datetime(2013, 1, 1)):
        expected = [
            (state.start + dt.timedelta(hours=int(k) * state.dt_h) - start).total_seconds() / 86400.0 for k in entries
        ]
        np.testing.assert_array_equal(arrivals._days_since(state, start, entries), expected)
