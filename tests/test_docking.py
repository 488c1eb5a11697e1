"""Docking: in a well-mixed space the model's mean attrition follows Lanchester's square law."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from sim.model import BattleModel
from sim.state import ARMY, REBELS
from tests.conftest import small_scenario

A0, B0, ARRIVING = 800, 400, 200  # attackers, rebels, rebels arriving at hour 2
ATTACKER_LETHALITY, REBEL_LETHALITY = 0.05, 0.08  # hits per fighter-hour
HOURS, DT_MINUTES, RUNS = 6, 6, 30


def lanchester(
    t_end: float, arrival_h: float, rebel_lethality: float = REBEL_LETHALITY
) -> tuple[np.ndarray, np.ndarray]:
    """Aimed fire: dA/dt = -b B, dB/dt = -a A, with B + ARRIVING at ``arrival_h``; values at each hour."""

    def rates(_, y):
        a, b = y
        return [-rebel_lethality * max(b, 0.0), -ATTACKER_LETHALITY * max(a, 0.0)]

    first = solve_ivp(rates, (0, arrival_h), [A0, B0], dense_output=True, rtol=1e-9, atol=1e-9)
    a, b = first.y[:, -1]
    second = solve_ivp(rates, (arrival_h, t_end), [a, b + ARRIVING], dense_output=True, rtol=1e-9, atol=1e-9)
    hours = np.arange(1, int(t_end) + 1)
    # the value at the arrival hour is the one just before the arrivals join
    values = np.array([first.sol(h) if h <= arrival_h else second.sol(h) for h in hours])
    return values[:, 0], values[:, 1]


@pytest.fixture(scope="module")
def ensemble():
    scenario = small_scenario(
        rebels=B0,
        army=A0,
        hezbollah=0,
        civilians=0,
        hours=HOURS,
        dt_minutes=DT_MINUTES,
        garrison=0,
        extra=[
            "space=well_mixed",
            "forces.hezbollah.take_part=false",
            "fire_plans=[]",
            f"reinforcements.0.fighters={ARRIVING}",
            "reinforcements.0.at=2013-05-19T02:00:00",
            "reinforcements.1.fighters=0",
            f"rules.fire.attacker_lethality_per_h={ATTACKER_LETHALITY}",
            f"rules.fire.rebel_lethality_per_h={REBEL_LETHALITY}",
        ],
    )
    steps_per_hour = 60 // DT_MINUTES
    attackers, rebels = [], []
    for seed in range(RUNS):
        model = BattleModel(scenario, rng=seed)
        a_row, b_row = [], []
        for step in range(1, model.n_steps + 1):
            model.step()
            if step % steps_per_hour == 0:
                a_row.append(model.state.fighting(ARMY))
                b_row.append(model.state.fighting(REBELS))
        attackers.append(a_row)
        rebels.append(b_row)
    return np.array(attackers, float), np.array(rebels, float)


def test_mean_attrition_matches_the_square_law(ensemble):
    attackers, rebels = ensemble
    expected_a, expected_b = lanchester(HOURS, 2.0)
    for observed, expected in ((attackers, expected_a), (rebels, expected_b)):
        mean = observed.mean(axis=0)
        standard_error = observed.std(axis=0, ddof=1) / np.sqrt(len(observed))
        # Monte Carlo error (4 standard errors) plus 1% for the discrete time step
        tolerance = 4 * standard_error + 0.01 * expected
        assert np.all(np.abs(mean - expected) <= tolerance), (mean, expected, tolerance)


def test_the_law_is_not_met_by_a_wrong_coefficient(ensemble):
    """The comparison has teeth: the square law with a 20% higher rebel lethality is rejected."""
    attackers, _ = ensemble
    wrong_a, _ = lanchester(HOURS, 2.0, rebel_lethality=1.2 * REBEL_LETHALITY)
    mean = attackers.mean(axis=0)
    standard_error = attackers.std(axis=0, ddof=1) / np.sqrt(len(attackers))
    assert np.any(np.abs(mean - wrong_a) > 4 * standard_error + 0.01 * wrong_a)
