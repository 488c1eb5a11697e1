import json
import subprocess
import sys

import mesa
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mesa.discrete_space import Network, OrthogonalMooreGrid

from sim.model import BattleModel
from sim.rules import PHASES
from sim.run import run
from sim.state import ARMY, CIVILIANS, GONE, GOV, HEZBOLLAH, REB, REBELS
from tests.conftest import small_scenario


def test_builds_with_no_arguments_as_mesa_users_expect():
    model = BattleModel(rng=3)
    assert isinstance(model, mesa.Model)
    assert isinstance(model.grid, OrthogonalMooreGrid)
    assert isinstance(model.network, Network)
    layers = model.grid._mesa_property_layers
    for name in ("built_up", "sector", "control", "civilians", "damage"):
        assert name in layers
    assert model.config.name == "al-qusayr-2013"
    # the 16 sectors tile the town, and only the town
    sectors = model.sector[model.in_town_mask]
    assert np.array_equal(np.unique(sectors), np.arange(16))
    assert (model.sector[~model.in_town_mask] == -1).all()
    assert np.bincount(sectors).min() == np.bincount(sectors).max()
    # people, not squads: strengths add up to the scenario's fighters
    assert model.tally.initial[REBELS] == 1900
    assert model.tally.initial[ARMY] == 5500
    assert model.tally.initial[HEZBOLLAH] == 1850
    assert model.tally.initial[CIVILIANS] == 25000


def test_run_for_advances_time_and_collects():
    model = BattleModel(small_scenario(), rng=1)
    model.run_for(5)
    assert model.steps == 5
    assert model.hour == pytest.approx(5.0)
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == 6  # the start and five steps
    assert {"gov_share", "gov_sectors", "rebels", "civilians", "cohesion"} <= set(frame.columns)


def test_the_phase_order_is_written_once():
    names = [phase.__module__.rsplit(".", 1)[1] for phase in PHASES]
    assert names == [
        "arrivals",
        "fire_support",
        "fire",
        "movement",
        "control",
        "villages",
        "supply",
        "surrender",
        "cohesion",
        "civilians",
        "corridor",
    ]


def _check_invariants(model: BattleModel) -> None:
    assert (model.balance() == 0).all(), model.balance()
    squads = model.squads
    assert (squads.strength >= 0).all()
    assert (squads.strength[squads.status == GONE] == 0).all()
    assert (model.civilians >= 0).all()
    assert (model.wounded_in_cell >= 0).all()
    assert (model.wounded_at_node >= 0).all()
    assert ((squads.ammo >= 0) & (squads.ammo <= 1)).all()
    assert 0 <= model.cohesion <= 1
    assert 0 <= model.gov_share <= 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rebels=st.integers(0, 300),
    army=st.integers(0, 600),
    hezbollah=st.integers(0, 200),
    civilians=st.integers(0, 3000),
    dt_minutes=st.sampled_from([30, 60, 120]),
    corridor_threshold=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31),
)
def test_people_are_conserved_every_step(rebels, army, hezbollah, civilians, dt_minutes, corridor_threshold, seed):
    scenario = small_scenario(
        rebels=rebels,
        army=army,
        hezbollah=hezbollah,
        civilians=civilians,
        hours=24,
        dt_minutes=dt_minutes,
        extra=[
            f"rules.corridor.cohesion_threshold={corridor_threshold}",
            "rules.corridor.negotiation_h=2",
            "rules.corridor.needs_encirclement=false",
        ],
    )
    model = BattleModel(scenario, rng=seed)
    _check_invariants(model)
    for _ in range(model.n_steps):
        model.step()
        _check_invariants(model)


def test_conservation_holds_through_a_withdrawal_and_captures():
    scenario = small_scenario(
        rebels=300,
        army=900,
        hours=48,
        extra=[
            "rules.corridor.cohesion_threshold=0.999",
            "rules.corridor.negotiation_h=6",
            "rules.corridor.needs_encirclement=false",
        ],
    )
    model = BattleModel(scenario, rng=1)  # a seed whose rebels lose some before they leave (hour 9)
    for _ in range(model.n_steps):
        model.step()
        _check_invariants(model)
    assert model.withdrawal_hour is not None
    assert model.tally.withdrawn[REBELS] > 0
    assert model.tally.killed[REBELS] > 0


def _short_run_args():
    return ["--set", "time.end=2013-05-21T00:00:00", "--set", "reinforcements=[]", "--set", "fire_plans=[]"]


def test_same_seed_same_outputs_in_a_new_process(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "sim.cli", "run", "--seed", "11", "--out", str(out), *_short_run_args()]
    subprocess.run(args, check=True, capture_output=True)
    from sim.scenario import load_scenario

    scenario = load_scenario("al-qusayr-2013", _short_run_args()[1::2])
    here = run(scenario, 11).summary
    there = json.loads((out / "summary.json").read_text())
    there.pop("version")
    here.pop("version")
    assert here == there
    other = run(scenario, 12).summary
    other.pop("version")
    assert other != here


def test_control_follows_presence():
    model = BattleModel(small_scenario(), rng=2)
    x, y = model.town_xy(3, 3)
    squads = model.squads
    reb = np.flatnonzero(squads.side == REBELS)[0]
    gov = np.flatnonzero(squads.side == ARMY)[0]
    squads.x[:], squads.y[:] = 0, 0  # everyone far away in a corner of the outskirts
    squads.x[gov], squads.y[gov] = x, y
    model.clearing_left[x, y] = 0.0
    from sim.rules import control

    control.step(model)
    assert model.control[x, y] == GOV
    squads.x[reb], squads.y[reb] = x, y
    control.step(model)
    assert model.control[x, y] == 3  # contested
    squads.x[gov], squads.y[gov] = 0, 0
    control.step(model)
    assert model.control[x, y] == REB


def test_the_civilians_parameters_leave_the_battle_unchanged():
    # the civilians draw from their own stream: a calibration of the battle does not depend on them
    safe, exposed = (
        run(small_scenario(hours=24, extra=[f"rules.fire_support.civilian_exposure={e}"]), seed=5).summary
        for e in (0.0, 0.5)
    )
    assert safe["killed"]["civilians"] == 0 < exposed["killed"]["civilians"]
    for key in ("gov_share_by_day", "strength_by_day", "places_captured"):
        assert safe[key] == exposed[key], key
    assert {k: v for k, v in safe["killed"].items() if k != "civilians"} == {
        k: v for k, v in exposed["killed"].items() if k != "civilians"
    }


def test_reset_rng_restarts_the_civilians_stream_with_the_models():
    model = BattleModel(small_scenario(), rng=3)
    model.step()  # both streams drawn from
    model.reset_rng()  # Mesa's reset to the first state: both streams start over
    seeded = np.random.default_rng(3)
    np.testing.assert_array_equal(model.rng.random(3), seeded.random(3))
    np.testing.assert_array_equal(model.civilian_rng.random(3), seeded.spawn(1)[0].random(3))
    model.reset_rng(4)  # a new seed: the civilians' stream is that seed's child, as in a new model
    fresh = BattleModel(small_scenario(), rng=4)
    fresh.reset_rng()
    np.testing.assert_array_equal(model.civilian_rng.random(3), fresh.civilian_rng.random(3))


def test_the_dead_by_each_days_end_are_the_tally_then():
    scenario = small_scenario(hours=60)
    summary = run(scenario, seed=2).summary
    model = BattleModel(scenario, rng=2)
    by_end = []
    while model.hour < 48:
        model.step()
        if model.hour in (24, 48):
            by_end.append(model.tally.killed.copy())
    expected = {name: [int(day[i]) for day in by_end] for i, name in enumerate(summary["killed"])}
    assert summary["killed_by_day"] == expected
    assert summary["killed_by_day"]["army"][0] > 0  # the first day is fought
    assert all(day[-1] <= summary["killed"][side] for side, day in summary["killed_by_day"].items())
