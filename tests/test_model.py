import json
import re
import subprocess
import sys

import mesa
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import rules
from sim.model import BattleModel
from sim.run import run
from sim.state import ARMY, CIVILIANS, GONE, GOV, HEZBOLLAH, REBELS
from tests.conftest import small_scenario
from tests.test_rules import town_cell


def test_builds_with_no_arguments_as_mesa_users_expect():
    model = BattleModel(rng=3)
    assert isinstance(model, mesa.Model)
    assert model.config.name == "al-qusayr-2013"
    # the 16 sectors tile the town, and only the town
    sectors = model.state.sector[model.state.in_town_mask]
    assert np.array_equal(np.unique(sectors), np.arange(16))
    assert (model.state.sector[~model.state.in_town_mask] == -1).all()
    assert np.bincount(sectors).min() == np.bincount(sectors).max()
    # people, not squads: strengths add up to the scenario's fighters
    assert model.state.tally.initial[REBELS] == 1900
    assert model.state.tally.initial[ARMY] == 5500
    assert model.state.tally.initial[HEZBOLLAH] == 1850
    assert model.state.tally.initial[CIVILIANS] == 25000


def test_the_states_layers_are_the_mesa_grids_property_layers():
    model = BattleModel(small_scenario(), rng=3)
    x, y = town_cell(model, 2, 3)
    mesa_cell = model.grid[(x, y)]
    assert mesa_cell.built_up == model.state.built_up[x, y] > 0
    model.state.control[x, y] = GOV
    model.state.civilians[x, y] = 123
    assert mesa_cell.control == GOV
    assert mesa_cell.civilians == 123


def test_run_for_advances_time_and_collects():
    model = BattleModel(small_scenario(), rng=1)
    model.run_for(5)
    assert model.state.steps == 5
    assert model.state.hour == pytest.approx(5.0)
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == 6  # the start and five steps
    assert {"gov_share", "gov_sectors", "rebels", "civilians", "cohesion"} <= set(frame.columns)


def test_a_step_runs_the_phases_in_the_documented_order():
    documented = re.findall(r"^\d+\.\s+``(\w+)``", rules.__doc__, flags=re.MULTILINE)
    assert documented  # the docstring's numbered list of phases
    model = BattleModel(small_scenario(), rng=1)
    assert [p.name for p in model.phases] == documented


def _check_invariants(model: BattleModel) -> None:
    assert (model.state.balance() == 0).all(), model.state.balance()
    squads = model.state.squads
    assert (squads.strength >= 0).all()
    assert (squads.strength[squads.status == GONE] == 0).all()
    assert (model.state.civilians >= 0).all()
    assert (model.state.wounded_in_cell >= 0).all()
    assert (model.state.wounded_at_node >= 0).all()
    assert ((squads.ammo >= 0) & (squads.ammo <= 1)).all()
    assert 0 <= model.state.cohesion <= 1
    assert 0 <= model.state.gov_share <= 1


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
    assert model.state.withdrawal_hour is not None
    assert model.state.tally.withdrawn[REBELS] > 0
    assert model.state.tally.killed[REBELS] > 0


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
    assert model.state.rng is model.rng  # the rules draw from the model's generators
    assert model.state.civilian_rng is model.civilian_rng
    model.reset_rng(4)  # a new seed: the civilians' stream is that seed's child, as in a new model
    assert model.state.rng is model.rng
    assert model.state.civilian_rng is model.civilian_rng
    fresh = BattleModel(small_scenario(), rng=4)
    fresh.reset_rng()
    np.testing.assert_array_equal(model.civilian_rng.random(3), fresh.civilian_rng.random(3))


def test_the_dead_by_each_days_end_are_the_tally_then():
    scenario = small_scenario(hours=60)
    summary = run(scenario, seed=2).summary
    model = BattleModel(scenario, rng=2)
    by_end = []
    while model.state.hour < 48:
        model.step()
        if model.state.hour in (24, 48):
            by_end.append(model.state.tally.killed.copy())
    expected = {name: [int(day[i]) for day in by_end] for i, name in enumerate(summary["killed"])}
    assert summary["killed_by_day"] == expected
    assert sum(day[0] for day in summary["killed_by_day"].values()) > 0  # the first day is fought
    assert all(day[-1] <= summary["killed"][side] for side, day in summary["killed_by_day"].items())


def test_mesa_spaces_work_with_their_libraries_deferred():
    # sim.lean_mesa imports Mesa with scipy.spatial and networkx deferred: the spaces that use them still
    # work (in a fresh process: here Mesa is already imported)
    code = (
        "import random, sys\n"
        "import numpy as np\n"
        "from sim.lean_mesa import mesa\n"
        "assert 'scipy.spatial' not in sys.modules and 'networkx' not in sys.modules\n"
        "grid = mesa.discrete_space.HexGrid((3, 3), random=random.Random(1))\n"
        "assert grid.find_nearest_cell(np.array([0.1, 0.1])).coordinate == (0, 0)\n"
        "import networkx\n"
        "network = mesa.discrete_space.Network(networkx.path_graph(3), random=random.Random(1))\n"
        "assert len(network.all_cells) == 3\n"
        "import pandas\n"
        "assert mesa.agent.pd.DataFrame is pandas.DataFrame\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
