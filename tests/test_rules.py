"""Each rule on a tiny hand-built situation, and the direction in which its parameters push."""

import datetime as dt

import numpy as np
import pytest

from sim.grid import town_xy
from sim.model import BattleModel
from sim.rules import (
    control,
    fire_support,
    supply,
    villages,
)
from sim.scenario import deployment_weights
from sim.state import ACTIVE, ARMY, CIVILIANS, CONTESTED, GONE, GOV, HEZBOLLAH, IN_TOWN, OFF_DUTY, REB, REBELS
from tests.conftest import small_scenario


def bare_model(extra=None, seed=0, **kwargs):
    """A small model whose squads are all parked far away (strength kept), to stage a situation."""
    model = BattleModel(small_scenario(extra=extra, **kwargs), rng=seed)
    model.state.squads.x[:], model.state.squads.y[:] = 0, 0
    model.state.steps = 1
    return model


def phase(model, name):
    """Run one phase of a step, bound to the model's parameters as a step binds it."""
    next(p for p in model.phases if p.name == name).run(model.state)


def town_cell(model, col, row):
    """Grid (x, y) of town cell (col, row), counted from the town's north-west corner."""
    return town_xy(model.state.margin, model.state.town_side, col, row)


def shell(model, shells_per_step, kind="artillery"):
    """Fire support's phase with one plan of ``shells_per_step`` (on average) in force now."""
    now = model.state.moment()
    plan = fire_support.FirePlan(
        kind=kind,
        start=now,
        end=now + dt.timedelta(hours=1),
        per_hour=shells_per_step / model.state.dt_h,
        cite="test",
    )
    fire_support.step(model.state, model.config.rules.fire_support, model.config.rules.casualties, [plan])


def place(model, side, col, row, strength=10, count=1):
    """Put ``count`` squads of ``side`` in town cell (col, row); return their indices."""
    squads = model.state.squads
    idx = np.flatnonzero((squads.side == side) & (squads.status == ACTIVE) & (squads.node == IN_TOWN))[:count]
    assert idx.size == count
    squads.x[idx], squads.y[idx] = town_cell(model, col, row)
    squads.strength[idx] = strength
    return idx


def park_everyone_else(model, keep):
    squads = model.state.squads
    others = np.setdiff1d(np.arange(len(squads)), keep)
    squads.status[others] = GONE
    squads.strength[others] = 0


def test_control_follows_presence():
    model = BattleModel(small_scenario(), rng=2)
    x, y = town_cell(model, 3, 3)
    squads = model.state.squads
    reb = np.flatnonzero(squads.side == REBELS)[0]
    gov = np.flatnonzero(squads.side == ARMY)[0]
    squads.x[:], squads.y[:] = 0, 0  # everyone far away in a corner of the outskirts
    squads.x[gov], squads.y[gov] = x, y
    model.state.clearing_left[x, y] = 0.0
    phase(model, "control")
    assert model.state.control[x, y] == GOV
    squads.x[reb], squads.y[reb] = x, y
    phase(model, "control")
    assert model.state.control[x, y] == 3  # contested
    squads.x[gov], squads.y[gov] = 0, 0
    phase(model, "control")
    assert model.state.control[x, y] == REB


# --- fire ----------------------------------------------------------------------------------------


def test_fire_hits_only_within_range():
    model = bare_model()
    reb = place(model, REBELS, 5, 5, strength=50)
    near = place(model, ARMY, 6, 5, strength=200)
    park_everyone_else(model, np.concatenate([reb, near]))
    for _ in range(20):
        phase(model, "fire")
    assert model.state.squads.strength[reb][0] < 50
    assert model.state.engaged[reb].all()

    model = bare_model()
    reb = place(model, REBELS, 5, 5, strength=50)
    far = place(model, ARMY, 9, 5, strength=200)
    park_everyone_else(model, np.concatenate([reb, far]))
    for _ in range(20):
        phase(model, "fire")
    assert model.state.squads.strength[reb][0] == 50
    assert not model.state.engaged[reb].any()


def _losses_under_fire(target_side, shooter_side, extra=None, prepare=None, seeds=range(8)) -> float:
    """Mean fighters of a 100-strong squad of ``target_side`` hit in 10 steps of fire from 300 of ``shooter_side``."""
    lost = []
    for seed in seeds:
        model = bare_model(seed=seed, extra=extra)
        if prepare is not None:
            prepare(model)
        target = place(model, target_side, 5, 5, strength=100)
        shooters = place(model, shooter_side, 5, 6, strength=300)
        park_everyone_else(model, np.concatenate([target, shooters]))
        for _ in range(10):
            phase(model, "fire")
        lost.append(100 - model.state.squads.strength[target][0])
    return float(np.mean(lost))


def _rebel_losses(built_up: float) -> float:
    def open_ground(model):
        model.state.built_up[:] = built_up
        model.state.prepared[:] = 0.0

    return _losses_under_fire(REBELS, ARMY, prepare=open_ground)


def test_cover_from_buildings_saves_lives():
    assert _rebel_losses(0.9) < _rebel_losses(0.0)


def _losses_beside_small_groups(target_side, exposure_power: float) -> float:
    """Losses of ``target_side`` to rebel fire while Hezbollah's tactics make it 3 times as effective."""

    def small_groups(model):
        model.state.hezbollah_effectiveness = 3.0

    extra = [f"rules.fire.small_groups_exposure_power={exposure_power}"]
    return _losses_under_fire(target_side, REBELS, extra=extra, prepare=small_groups)


def test_small_groups_are_harder_to_hit_when_their_tactics_shield_them():
    unshielded, shielded = (_losses_beside_small_groups(HEZBOLLAH, power) for power in (0.0, 1.0))
    assert unshielded > 0
    assert shielded < 0.6 * unshielded  # a third of the exposure, give or take the dice
    # the army's squads are not shielded
    assert _losses_beside_small_groups(ARMY, 1.0) == _losses_beside_small_groups(ARMY, 0.0)


def test_fire_splits_hits_into_killed_and_wounded():
    # lethality well above the baseline's: enough hits in five steps for the share to mean something
    model = bare_model(extra=["rules.casualties.killed_share=0.35", "rules.fire.attacker_lethality_per_h=0.004"])
    reb = place(model, REBELS, 5, 5, strength=200)
    att = place(model, ARMY, 5, 5, strength=1000)
    park_everyone_else(model, np.concatenate([reb, att]))
    for _ in range(5):
        phase(model, "fire")
    tally = model.state.tally
    hits = 200 - model.state.squads.strength[reb][0]
    assert tally.killed[REBELS] + tally.wounded[REBELS] == hits
    assert 0.15 < tally.killed[REBELS] / hits < 0.55
    assert model.state.wounded_in_cell.sum() == tally.wounded[REBELS]  # the rebels' wounded wait where they fell


# --- fire support --------------------------------------------------------------------------------


def test_shells_fall_on_rebel_cells_away_from_attackers_and_damage_them():
    model = bare_model()
    reb = place(model, REBELS, 2, 2, strength=30)
    att = place(model, ARMY, 9, 9, strength=30)
    park_everyone_else(model, np.concatenate([reb, att]))
    model.state.control[model.state.in_town_mask] = GOV
    model.state.control[town_cell(model, 2, 2)] = REB
    model.state.control[town_cell(model, 8, 9)] = REB  # next to the attackers: danger close
    shell(model, 200)
    assert model.state.damage[town_cell(model, 2, 2)] > 0
    assert model.state.damage[town_cell(model, 8, 9)] == 0
    assert model.state.damage[model.state.control == GOV].sum() == 0
    assert model.state.squads.suppressed[reb][0] > 0.9


def test_shelling_harms_civilians_only_where_shells_fall():
    model = bare_model(civilians=20000)
    model.state.control[model.state.in_town_mask] = GOV
    target = town_cell(model, 4, 4)
    model.state.control[target] = REB
    before = model.state.civilians.copy()
    shell(model, 5000, kind="air_raid")
    tally = model.state.tally
    assert tally.killed[CIVILIANS] + tally.wounded[CIVILIANS] > 0
    changed = model.state.civilians != before
    changed[target] = False
    assert not changed.any()
    assert tally.killed[CIVILIANS] == before.sum() - model.state.civilians.sum()


# --- movement ------------------------------------------------------------------------------------


def test_attackers_advance_on_the_nearest_cell_they_do_not_hold():
    model = bare_model(extra=["rules.movement.speed_m_per_h=10000"])
    att = place(model, ARMY, 0, 0, strength=10)
    park_everyone_else(model, att)
    model.state.control[model.state.in_town_mask] = GOV
    model.state.control[town_cell(model, 3, 0)] = REB
    model.state.mines[:] = 0
    model.state.engaged[:] = False
    for _ in range(3):
        phase(model, "movement")
    assert (model.state.squads.x[att][0], model.state.squads.y[att][0]) == town_cell(model, 3, 0)


def test_attackers_spread_over_the_cells_to_take_instead_of_crowding_one():
    model = bare_model(extra=["rules.control.clearing_capacity=50", "rules.movement.speed_m_per_h=10000"])
    att = place(model, ARMY, 10, 10, strength=10, count=30)  # 300 fighters where 50 can work
    park_everyone_else(model, att)
    model.state.control[model.state.in_town_mask] = REB
    model.state.mines[:] = 0
    for _ in range(6):
        model.state.engaged[:] = False
        phase(model, "movement")
    cells = {(int(x), int(y)) for x, y in zip(model.state.squads.x[att], model.state.squads.y[att], strict=True)}
    assert len(cells) > 3
    stayed = np.sum(
        (model.state.squads.x[att] == town_cell(model, 10, 10)[0])
        & (model.state.squads.y[att] == town_cell(model, 10, 10)[1])
    )
    assert 0 < stayed < 30


def test_roads_speed_the_advance_through_built_up_cells():
    def cells_covered(on_road):
        model = bare_model(extra=["rules.movement.speed_m_per_h=300"], seed=5)
        att = place(model, ARMY, 0, 10, strength=10, count=20)
        park_everyone_else(model, att)
        model.state.control[model.state.in_town_mask] = GOV
        model.state.control[town_cell(model, 23, 10)] = REB  # the target, far east along row 10
        model.state.built_up[:] = 1.0
        model.state.mines[:] = 0
        model.state.road[:] = False
        if on_road:
            model.state.road[:, town_cell(model, 0, 10)[1]] = True
        for _ in range(8):
            model.state.engaged[:] = False
            phase(model, "movement")
        return float(np.mean(model.state.squads.x[att] - town_cell(model, 0, 10)[0]))

    assert cells_covered(True) > 1.5 * cells_covered(False)


def test_the_river_slows_a_crossing_away_from_the_bridges():
    def steps_to_cross(river_factor):
        model = bare_model(extra=[f"rules.movement.river_factor={river_factor}", "rules.movement.speed_m_per_h=100"])
        squads = model.state.squads
        att = np.flatnonzero(squads.side == HEZBOLLAH)[:1]
        park_everyone_else(model, att)
        squads.status[att] = ACTIVE
        x_river = model.config.town.river_col
        squads.x[att], squads.y[att] = x_river - 1, town_cell(model, 0, 10)[1]
        model.state.river[x_river, :] = True
        for n in range(1, 200):
            model.state.engaged[:] = False
            phase(model, "movement")
            if squads.x[att][0] > x_river:
                return n
        return 200

    assert steps_to_cross(0.01) > steps_to_cross(1.0)


def test_long_odds_overrun_a_defended_cell_faster_than_even_odds():
    def cells_pushed(odds, power, speed_m_per_h=10000):
        extra = [
            f"rules.movement.speed_m_per_h={speed_m_per_h}",
            "rules.movement.assault_ratio=2",
            "rules.movement.assault_per_h=0.2",
            f"rules.movement.assault_odds_power={power}",
        ]
        model = bare_model(extra=extra, seed=3)
        att = place(model, ARMY, 10, 20, strength=10, count=40)
        park_everyone_else(model, att)
        model.state.control[model.state.in_town_mask] = REB
        model.state.control[town_cell(model, 10, 20)] = GOV
        model.state.mines[:] = 0
        model.state.built_up[:] = 0.0
        model.state.engaged[att] = True  # in contact: the push rule, not the open-ground pace
        model.state.local_ratio[att] = odds
        phase(model, "movement")  # one hour
        start = np.array(town_cell(model, 10, 20))[:, None]
        moved = np.array([model.state.squads.x[att], model.state.squads.y[att]]) != start
        return float(moved.any(axis=0).mean())

    # share of the squads that pushed into the next cell within the hour: at the threshold odds
    # about 0.2; at 20 to 1 ten times the rate, so all of them; with power 0 the odds beyond the
    # threshold do not matter; below the threshold no one pushes
    assert 0.05 < cells_pushed(2.0, 1.0) < 0.4
    assert cells_pushed(20.0, 1.0) == 1.0
    assert 0.05 < cells_pushed(20.0, 0.0) < 0.4
    assert cells_pushed(1.5, 1.0) == 0.0
    # and never faster than out of contact: at 20 m/h a fifth of a 100 m cell an hour
    assert 0.05 < cells_pushed(20.0, 1.0, speed_m_per_h=20) < 0.4


def _through_a_mined_cell(mines):
    """Twenty squads of ten walking east one cell a step through a cell half mined: their columns each step, dead."""
    extra = [
        f"rules.movement.mines={mines}",
        "rules.movement.speed_m_per_h=400",  # 100 m cells, 15-minute steps: exactly one cell a step
        "rules.movement.mine_hit=0.5",
        "rules.movement.mine_clear_h=4",  # half mined: 2 hours of clearing, 8 steps
        "rules.movement.mine_clearing_hit=0.05",
        "rules.movement.mine_clearing=0",
    ]
    model = bare_model(extra=extra, seed=4, dt_minutes=15)
    assert model.state.cell_m == 100
    assert model.state.dt_h == 0.25
    att = place(model, ARMY, 0, 10, strength=10, count=20)
    park_everyone_else(model, att)
    state = model.state
    state.control[state.in_town_mask] = GOV
    state.control[town_cell(model, 23, 10)] = REB  # the target, far east along row 10
    state.built_up[:] = 0.0
    state.river[:] = False
    state.mines[:] = 0
    state.mines[town_cell(model, 1, 10)] = 0.5
    columns = []
    for _ in range(12):
        state.engaged[:] = False
        phase(model, "movement")
        columns.append(set((state.squads.x[att] - town_cell(model, 0, 10)[0]).tolist()))
    return columns, int(state.tally.killed[ARMY])


def test_mines_that_delay_hold_a_squad_for_its_clearing_time_and_kill_fewer():
    delayed, delay_dead = _through_a_mined_cell("delay")
    # into the mined cell on the first step, held there 0.5 * 4 = 2 hours (8 steps), then on
    assert delayed == [{1}] * 9 + [{2}, {3}, {4}]
    killed, kill_dead = _through_a_mined_cell("kill")
    # mines that kill do not hold the squads: they slow the way in (by 1 - 0.5) and walk on
    assert max(killed[8]) > 2
    # 200 fighters hit with chance 0.5 * 0.05 against 0.5 * 0.5: a tenth of the hits
    assert 0 < delay_dead < kill_dead / 3


def test_outnumbered_rebels_fall_back_away_from_the_attackers():
    model = bare_model(extra=["rules.movement.fallback_per_h=100"])
    reb = place(model, REBELS, 10, 10, strength=5)
    park_everyone_else(model, reb)
    model.state.control[model.state.in_town_mask] = REB
    model.state.control[town_cell(model, 10, 11)] = GOV  # attackers just south
    model.state.engaged[reb] = True
    model.state.local_ratio[reb] = 0.1
    phase(model, "movement")
    _x, y = model.state.squads.x[reb][0], model.state.squads.y[reb][0]
    assert y > town_cell(model, 10, 10)[1]  # moved north, away from them


def test_surprised_reserves_stay_put_until_they_react():
    def rows_moved_by(hour):
        model = bare_model(extra=["rules.movement.reposition_per_h=1000", "rules.movement.reserves_react_h=24"])
        reb = place(model, REBELS, 10, 2, strength=10)  # deep in the north, out of contact
        park_everyone_else(model, reb)
        model.state.control[model.state.in_town_mask] = REB
        model.state.control[town_cell(model, 10, 20)] = GOV  # the attackers hold a cell in the south
        model.state.steps = round((hour - model.state.start_hour) / model.state.dt_h)
        model.state.engaged[:] = False
        phase(model, "movement")
        return int(town_cell(model, 10, 2)[1] - model.state.squads.y[reb][0])

    assert rows_moved_by(12.0) == 0  # the first day: they still expect the push from the north
    assert rows_moved_by(30.0) == 1  # then they move a cell towards the front


def test_rebels_come_up_behind_the_attackers_through_a_tunnel():
    model = bare_model(extra=["rules.movement.tunnel_per_h=1000"])
    reb = place(model, REBELS, 2, 2, strength=10)
    park_everyone_else(model, reb)
    a, b = town_cell(model, 2, 2), town_cell(model, 15, 15)
    model.state.tunnels = np.array([[a[0], a[1], b[0], b[1]]])
    model.state.control[model.state.in_town_mask] = REB
    model.state.control[b] = GOV
    model.state.engaged[:] = False
    phase(model, "movement")
    assert (model.state.squads.x[reb][0], model.state.squads.y[reb][0]) == b


# --- control -------------------------------------------------------------------------------------


def test_attackers_hold_a_cell_only_once_it_is_cleared():
    model = bare_model(extra=["rules.control.clear_fighter_h=200", "rules.control.clearing_capacity=10"])
    att = place(model, ARMY, 4, 4, strength=10)
    park_everyone_else(model, att)
    cell = town_cell(model, 4, 4)
    model.state.built_up[cell] = 1.0
    model.state.clearing_left[cell] = 15.0
    phase(model, "control")  # no rebel within range: 10 fighters x 1 h at full pace = 10 fighter-hours
    assert model.state.control[cell] == CONTESTED
    assert model.state.clearing_left[cell] == pytest.approx(5.0)
    phase(model, "control")
    assert model.state.control[cell] == GOV


def test_clearing_work_follows_the_rebels_deployment():
    def work(follows):
        model = bare_model(
            extra=[f"rules.control.work_follows_deployment={follows}", "rules.control.clear_fighter_h=100"]
        )
        deployment = deployment_weights(
            model.config.forces.rebels.deployment, model.config.town.sectors_per_side
        ).ravel()
        sector = model.state.sector[model.state.in_town_mask]
        per_density = (
            model.state.clearing_left[model.state.in_town_mask] / model.state.built_up[model.state.in_town_mask]
        )
        return deployment[sector], per_density

    _, uniform = work(0.0)
    assert uniform == pytest.approx(np.full(uniform.size, 100.0))
    weight, follows = work(1.0)
    # the work per unit of density is proportional to the sector's deployment weight, 100 on average
    assert follows == pytest.approx(100.0 * weight / weight.mean())
    assert follows.mean() == pytest.approx(100.0)
    assert follows[weight == weight.max()].min() > follows[weight == weight.min()].max()


def test_the_rebels_start_where_the_deployment_leans():
    def rebels_by_row(leaning):
        alone = [
            f"forces.rebels.deployment.{name}={3 if name == leaning else 0}" for name in ("north", "west", "centre")
        ]
        model = BattleModel(small_scenario(rebels=1000, extra=alone), rng=0)
        squads = model.state.squads
        placed = (squads.side == REBELS) & squads.in_town()
        rows, cols = np.divmod(model.state.sector[squads.x[placed], squads.y[placed]], 4)  # row-major, 4 x 4
        return np.bincount(rows, minlength=4), np.bincount(cols, minlength=4)

    rows, cols = rebels_by_row("north")
    assert rows[0] > 3 * rows[3]
    assert cols[0] < 3 * cols[3]  # no leaning west
    rows, cols = rebels_by_row("west")
    assert cols[0] > 3 * cols[3]
    assert rows[0] < 3 * rows[3]


def _clearing_beside(defenders, *extra):
    """10 attackers in a cell with 200 fighter-hours of work, ``defenders`` rebels in the next cell.

    Ten attackers work at once, rebels one cell away are within range, 20 of them halve the pace.
    """
    settings = ["rules.control.clearing_capacity=10", "rules.control.opposed_within_cells=1"]
    model = bare_model(extra=[*settings, "rules.control.defenders_halving=20", *extra])
    att = place(model, ARMY, 4, 4, strength=10)
    near = place(model, REBELS, 5, 4, strength=defenders)
    park_everyone_else(model, np.concatenate([att, near]))
    cell = town_cell(model, 4, 4)
    model.state.clearing_left[cell] = 200.0
    return model, near, cell


def test_clearing_slows_with_the_defenders_nearby():
    unsurprised = ["rules.control.defenders_steepness=1", "rules.control.surprise_h=0"]
    model, near, cell = _clearing_beside(20, *unsurprised)
    phase(model, "control")  # pace 1 / (1 + 20 / 20) = 0.5: 10 fighters x 1 h x 0.5 = 5 fighter-hours
    assert model.state.clearing_left[cell] == pytest.approx(195.0)
    model.state.squads.strength[near] = 60
    phase(model, "control")  # pace 1 / (1 + 60 / 20) = 0.25
    assert model.state.clearing_left[cell] == pytest.approx(192.5)


def test_surprised_defenders_stall_clearing_less_until_the_surprise_is_over():
    surprise = ["rules.control.surprise_h=2", "rules.control.surprised_defence=0.25"]
    model, _, cell = _clearing_beside(40, "rules.control.defenders_steepness=1", *surprise)
    hours_left = []
    for step in (1, 2, 3):  # the steps ending at hours 1 and 2 are within the surprise, hour 3 is not
        model.state.steps = step
        before = model.state.clearing_left[cell]
        phase(model, "control")
        hours_left.append(before - model.state.clearing_left[cell])
    # surprised: 40 rebels count as 10, pace 1 / (1 + 10 / 20); then 1 / (1 + 40 / 20)
    assert hours_left == pytest.approx([10 / 1.5, 10 / 1.5, 10 / 3])


def test_a_steep_pace_lets_a_few_defenders_barely_slow_clearing_and_many_stop_it():
    def fighter_hours_done(defenders, steepness):
        extra = [f"rules.control.defenders_steepness={steepness}", "rules.control.surprise_h=0"]
        model, _, cell = _clearing_beside(defenders, *extra)
        phase(model, "control")
        return 200.0 - model.state.clearing_left[cell]

    # pace 1 / (1 + (defenders / 20) ** steepness), 10 fighter-hours at full pace
    assert fighter_hours_done(10, 3) == pytest.approx(10 / (1 + 0.5**3))
    assert fighter_hours_done(40, 3) == pytest.approx(10 / (1 + 2.0**3))
    assert fighter_hours_done(10, 3) > fighter_hours_done(10, 1) > fighter_hours_done(40, 1) > fighter_hours_done(40, 3)


def test_sectors_and_share_follow_the_cells():
    model = bare_model()
    model.state.control[model.state.in_town_mask] = REB
    model.state.control[model.state.in_town_mask & (model.state.sector == 0)] = GOV
    control.update_sectors(model.state, model.config.rules.control)
    assert model.state.sectors_gov == 1
    assert model.state.sector_owner[0] == "gov"
    assert model.state.gov_share == pytest.approx(1 / 16)


# --- villages ------------------------------------------------------------------------------------


def test_the_task_force_fights_in_the_town_until_its_campaign_outside_starts():
    model = BattleModel(small_scenario(hours=36, extra=["rules.villages.campaign_start=2013-05-19T12:00:00"]), rng=2)
    squads = model.state.squads
    task = np.flatnonzero(model.state.task_force)
    assert task.size > 0
    for _ in range(12):  # hourly steps from 00:00 to 11:00
        model.step()
        alive = task[squads.strength[task] > 0]
        assert squads.in_town()[alive].all()
        assert not model.state.objectives
    model.step()  # the step that begins at 12:00
    assert model.state.objectives  # the campaign has started: the task force has left for its objectives
    fighting = task[(squads.status[task] == ACTIVE) & (squads.strength[task] > 0)]
    assert np.isin(squads.node[fighting], model.state.objectives).all()


def test_the_task_force_takes_its_objective_and_the_survivors_fall_back():
    model = BattleModel(
        small_scenario(
            rebels=400,
            army=2000,
            garrison=20,
            hours=72,
            # lethal enough that the garrison breaks well within the 72 hours whatever the seed
            extra=[
                "rules.villages.parallel_objectives=1",
                "rules.fire.attacker_lethality_per_h=0.01",
                "rules.villages.campaign_start=null",  # from the first hour
            ],
        ),
        rng=1,
    )
    hamidiya = model.state.place_index["Hamidiya"]
    for _ in range(model.n_steps):
        phase(model, "villages")
        model.state.steps += 1
        if model.state.node_holder[hamidiya] == GOV:
            break
    assert model.state.node_holder[hamidiya] == GOV
    assert "Hamidiya" in model.state.place_captured_hour
    squads = model.state.squads
    assert not ((squads.node == hamidiya) & (squads.side == REBELS) & (squads.strength > 0)).any()


def test_the_routes_score_is_the_equation():
    # a hand-built network: the town (0), A (1) and B (2) border it, C (3) lies behind them, S (4) is the
    # rebels' source, D (5) a place the attackers hold that borders nothing; routes: [A, S], [A, C, S], [B, C, S]
    town, a, b, c, s, d = range(6)
    links = {town: [a, b], a: [town, s, c], b: [town, c], c: [a, b, s], s: [a, c], d: []}
    neighbours = np.array([n for k in range(6) for n in links[k]], np.int64)
    neighbours_start = np.concatenate([[0], np.cumsum([len(links[k]) for k in range(6)])]).astype(np.int64)
    route_nodes = np.array([a, s, a, c, s, b, c, s], np.int64)
    route_start = np.array([0, 2, 5, 8], np.int64)
    km = np.array([[0.0, 0.0], [0.0, 2.0], [3.0, 0.0], [6.0, 0.0], [0.0, 10.0], [3.0, -1.0]])
    source = np.array([False, False, False, False, True, False])
    rebels_at = np.array([0.0, 50.0, 100.0, 20.0, 500.0, 0.0])

    def scores(holder, kept, route_worth_km=2.0, defender_cost_km=0.01):
        return villages._scores(
            np.array(kept, np.int64),
            np.array(holder, np.int8),
            neighbours,
            neighbours_start,
            town,
            km,
            source,
            route_nodes,
            route_start,
            rebels_at,
            route_worth_km,
            defender_cost_km,
        )

    held = [REB, REB, REB, REB, REB, GOV]
    no = -np.inf
    # A cuts two routes, 2 km from the town, 50 defenders; B one route, 1 km from D, 100 defenders; C borders no
    # attacker; S is a source
    np.testing.assert_allclose(scores(held, []), [no, 2 * 2 - 2 - 0.5, 2 * 1 - 1 - 1.0, no, no, no])
    # with A an objective its two routes are cut already, and A no candidate
    np.testing.assert_allclose(scores(held, [a]), [no, no, 2 * 1 - 1 - 1.0, no, no, no])
    # other weights: each term scales with its own
    np.testing.assert_allclose(scores(held, [], 0.5, 0.03), [no, 0.5 * 2 - 2 - 1.5, 0.5 * 1 - 1 - 3.0, no, no, no])
    # C taken: the routes through it are cut; B is 3 km from C and from the town, but 1 km from D
    c_taken = [REB, REB, REB, GOV, REB, GOV]
    np.testing.assert_allclose(scores(c_taken, []), [no, 2 * 1 - 2 - 0.5, 0 - 1 - 1.0, no, no, no])


def test_by_routes_the_task_force_attacks_the_place_the_score_puts_first():
    # the north-west and north routes cut further out (Arjoun and Borak taken): only the north-east route is
    # open, through Jawadiyeh, which the score puts first (10 km for the route it cuts, less its 3.2 km from
    # the town and 0.1 for its ten defenders); the plan's first candidate is Hamidiya
    first = {}
    for order in ("plan", "routes"):
        model = bare_model(
            extra=[
                f"rules.villages.order={order}",
                "rules.villages.route_worth_km=10",
                "rules.villages.parallel_objectives=1",
                "rules.villages.campaign_start=null",
            ]
        )
        state = model.state
        for name in ("Arjoun", "Borak"):
            state.node_holder[state.place_index[name]] = GOV
        phase(model, "villages")
        first[order] = [state.place_names[k] for k in state.objectives]
        task = np.flatnonzero(state.task_force & (state.squads.strength > 0))
        assert (state.squads.node[task] == state.objectives[0]).all()
    assert first == {"plan": ["Hamidiya"], "routes": ["Jawadiyeh"]}


def test_split_by_defenders_sends_attackers_in_proportion_to_the_garrisons():
    # the plan's first two candidates, Hamidiya and Haret al-Turkumen, garrisoned 60 and 20: split by the
    # defenders, Hamidiya gets three times the attackers (to within a squad); split evenly, the same squads
    sent = {}
    for split in ("by_defenders", "even"):
        model = bare_model(
            extra=[
                f"rules.villages.split={split}",
                "places.4.garrison=60",  # Hamidiya
                "places.6.garrison=20",  # Haret al-Turkumen
                "rules.villages.campaign_start=null",
            ]
        )
        state = model.state
        assert [state.place_names[k] for k in (4, 6)] == ["Hamidiya", "Haret al-Turkumen"]
        phase(model, "villages")
        squads = state.squads
        task = state.task_force & (squads.strength > 0)
        sent[split] = [squads.strength[task & (squads.node == k)].sum() for k in (4, 6)]
        squad_size = squads.strength[task].max()
        total = sum(sent[split])
        if split == "by_defenders":
            assert abs(sent[split][0] - 0.75 * total) <= squad_size
        else:
            assert abs(sent[split][0] - sent[split][1]) <= squad_size
    assert sent["by_defenders"][0] > 2 * sent["by_defenders"][1]


# --- supply --------------------------------------------------------------------------------------


def test_routes_close_when_a_place_on_them_falls_and_the_town_is_encircled():
    model = bare_model()
    open_at_start = [1, 2, 3]  # the south route was cut before the battle
    assert supply.open_routes(model.state, model.config.rules.supply) == open_at_start
    for name in ("Hamidiya", "Haret al-Turkumen", "Jawadiyeh"):
        model.state.node_holder[model.state.place_index[name]] = GOV
    phase(model, "supply")
    assert model.state.routes_open == []
    assert model.state.encirclement_hour == model.state.hour


def test_a_place_under_attack_closes_its_route_until_the_attack_ends():
    model = bare_model()
    jawadiyeh = model.state.place_index["Jawadiyeh"]
    north_east = next(i for i, (nodes, _) in enumerate(model.state.routes) if jawadiyeh in nodes)
    model.state.objectives = [jawadiyeh]  # the task force is fighting for it; the rebels still hold it
    assert model.state.node_holder[jawadiyeh] == REB
    # only the route through it closes (the south one was cut before the battle)
    assert supply.open_routes(model.state, model.config.rules.supply) == [i for i in [1, 2, 3] if i != north_east]
    model.state.objectives = []
    assert north_east in supply.open_routes(model.state, model.config.rules.supply)
    without_rule = bare_model(extra=["rules.supply.fighting_blocks_route=false"])
    without_rule.state.objectives = [jawadiyeh]
    assert north_east in supply.open_routes(without_rule.state, without_rule.config.rules.supply)


def test_wounded_leave_only_by_an_open_route():
    model = bare_model(extra=["rules.supply.evacuation_per_day=1000"])
    model.state.wounded_in_cell[town_cell(model, 5, 5)] = 40
    phase(model, "supply")
    assert model.state.wounded_in_cell.sum() == 0
    assert model.state.tally.wounded_evacuated[REBELS] == 40
    model.state.wounded_in_cell[town_cell(model, 5, 5)] = 40
    for name in ("Hamidiya", "Haret al-Turkumen", "Jawadiyeh"):
        model.state.node_holder[model.state.place_index[name]] = GOV
    phase(model, "supply")
    assert model.state.wounded_in_cell.sum() == 40


def test_routes_that_cannot_be_cut_stay_open():
    model = bare_model(extra=["rules.supply.routes_can_be_cut=false"])
    for i in range(len(model.state.node_holder)):
        model.state.node_holder[i] = GOV
    phase(model, "supply")
    assert model.state.encirclement_hour is None


# --- surrender -----------------------------------------------------------------------------------


def test_wounded_left_in_cells_the_attackers_take_are_captured():
    model = bare_model()
    cell = town_cell(model, 3, 3)
    model.state.wounded_in_cell[cell] = 12
    model.state.control[cell] = GOV
    model.state.engaged[:] = False
    phase(model, "surrender")
    assert model.state.wounded_in_cell[cell] == 0
    assert model.state.tally.captured[REBELS] == 12


# --- cohesion ------------------------------------------------------------------------------------


def _cohesion_after(model, steps=24):
    for _ in range(steps):
        phase(model, "cohesion")
    return model.state.cohesion


def test_cohesion_falls_with_encirclement_and_losses_and_rises_with_help():
    calm = _cohesion_after(bare_model())
    encircled = bare_model()
    encircled.state.routes_open = []
    assert _cohesion_after(encircled) < calm
    bleeding = bare_model()
    bleeding.state.tally.killed[REBELS] += 50
    assert _cohesion_after(bleeding, 1) < 1.0
    helped = bare_model()
    helped.state.cohesion = 0.5
    helped.state.rebel_arrivals_step = 100
    assert _cohesion_after(helped, 1) > 0.5


# --- civilians -----------------------------------------------------------------------------------


def test_civilians_leave_faster_while_a_route_is_open():
    def left(open_routes):
        model = bare_model(civilians=20000)
        model.state.routes_open = [1] if open_routes else []
        model.state.fire_intensity[:] = 0
        for _ in range(24):
            phase(model, "civilians")
        return model.state.tally.withdrawn[CIVILIANS]

    assert left(True) > 2 * left(False)


# --- corridor ------------------------------------------------------------------------------------


def test_the_corridor_opens_after_talks_and_everyone_in_town_withdraws_unharmed():
    model = bare_model(extra=["rules.corridor.negotiation_h=2", "rules.corridor.withdrawal_h=3"])
    reb = place(model, REBELS, 5, 5, strength=40, count=3)
    model.state.wounded_in_cell[town_cell(model, 5, 5)] = 9
    model.state.encirclement_hour = 0.0  # talks need the town encircled
    model.state.cohesion = 0.1
    for _ in range(2):
        phase(model, "corridor")
        model.state.steps += 1
    assert model.state.talks_hour is not None
    assert model.state.withdrawal_hour is None
    phase(model, "corridor")
    assert model.state.withdrawal_hour is not None
    assert model.state.ceasefire
    for _ in range(4):
        model.state.steps += 1
        phase(model, "corridor")
    assert (model.state.squads.strength[reb] == 0).all()
    assert model.state.tally.withdrawn[REBELS] >= 120 + 9
    assert model.state.tally.killed[REBELS] == 0
    assert not model.state.ceasefire


def test_no_corridor_when_disabled():
    model = bare_model(extra=["rules.corridor.enabled=false"])
    model.state.cohesion = 0.0
    for _ in range(50):
        phase(model, "corridor")
        model.state.steps += 1
    assert model.state.talks_hour is None


# --- arrivals ------------------------------------------------------------------------------------


def test_reinforcements_arrive_on_time_and_are_counted():
    model = BattleModel(small_scenario(hours=24), rng=0)
    arriving = model.state.squads.status == 2  # PENDING
    first_step = model.state.squads.arrival_step[arriving].min()
    while model.state.steps < first_step - 1:
        model.state.steps += 1
        phase(model, "arrivals")
    assert model.state.tally.arrived.sum() == 0
    model.state.steps += 1
    phase(model, "arrivals")
    assert model.state.tally.arrived.sum() > 0


def test_rotation_keeps_the_share_of_hezbollah_on_duty():
    model = BattleModel(small_scenario(hezbollah=400, hours=48), rng=0)
    on_duty = []
    for _ in range(model.n_steps):
        model.state.steps += 1
        phase(model, "arrivals")
        hez = model.state.squads.side == HEZBOLLAH
        alive = hez & (model.state.squads.status <= OFF_DUTY)
        on_duty.append(
            (model.state.squads.strength[hez & (model.state.squads.status == ACTIVE)].sum())
            / model.state.squads.strength[alive].sum()
        )
    # the small scenario's policy: 0.5 days on, 0.25 off: two-thirds on duty on average
    assert np.mean(on_duty) == pytest.approx(2 / 3, abs=0.1)
