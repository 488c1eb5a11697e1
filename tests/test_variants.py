"""Directional tests: each variant moves the outcomes the way common sense says, on a small ensemble.

The same seeds run for every scenario (common random numbers), so the paired differences are not
seed noise; the tests take the median of the paired differences, so that one seed whose town falls
days later does not decide. To keep the suite fast the runs take 30-minute steps (at 60 the
advance is slower than at the baseline's 15, see the README) and go through a process pool of two.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from sim.analysis.targets import NEVER_DAY
from sim.run import run
from sim.scenario import load_scenario

SCENARIOS = ["al-qusayr-2013", "attackers-5000", "attackers-8000", "no-hezbollah", "supply-open", "no-corridor"]
SEEDS = range(8)  # a run's fall day varies by days: with 4 seeds the median difference was noise


def _outcomes(name_seed):
    name, seed = name_seed
    summary = run(load_scenario(name, ["time.dt_minutes=30"]), seed).summary
    fall = summary["fall_day"] if summary["fall_day"] is not None else NEVER_DAY
    withdrawal = summary["withdrawal_day"] if summary["withdrawal_day"] is not None else NEVER_DAY
    return {
        "fall": fall,
        "lasted": min(fall, withdrawal),
        "rebels_killed": summary["killed"]["rebels"],
        # the attackers' share averaged over the days: not censored by the run's end as the fall is
        "held": float(np.mean(summary["gov_share_by_day"])),
    }


@pytest.fixture(scope="module")
def outcomes():
    jobs = [(name, seed) for name in SCENARIOS for seed in SEEDS]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_outcomes, jobs))
    table = {}
    for (name, _), result in zip(jobs, results, strict=True):
        for key, value in result.items():
            table.setdefault(name, {}).setdefault(key, []).append(value)
    return {name: {key: np.array(values) for key, values in d.items()} for name, d in table.items()}


def _paired_median(outcomes, variant, key):
    return float(np.median(outcomes[variant][key] - outcomes["al-qusayr-2013"][key]))


def test_fewer_attackers_take_the_town_later(outcomes):
    assert _paired_median(outcomes, "attackers-5000", "fall") > 0
    assert _paired_median(outcomes, "attackers-5000", "held") < 0


def test_more_attackers_take_the_town_sooner(outcomes):
    assert _paired_median(outcomes, "attackers-8000", "fall") < 0
    assert _paired_median(outcomes, "attackers-8000", "held") > 0


def test_without_hezbollah_the_town_falls_later(outcomes):
    assert _paired_median(outcomes, "no-hezbollah", "fall") > 0
    assert _paired_median(outcomes, "no-hezbollah", "held") < 0


def test_with_the_supply_routes_open_the_rebels_last_longer(outcomes):
    assert _paired_median(outcomes, "supply-open", "lasted") > 0


def test_without_a_corridor_the_fall_is_later_and_more_rebels_die(outcomes):
    assert _paired_median(outcomes, "no-corridor", "fall") > 0
    assert _paired_median(outcomes, "no-corridor", "rebels_killed") > 0
