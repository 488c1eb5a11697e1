"""The loss of a run (weighted Huber penalties) and the fit of an ensemble (90 % bands, goodness of fit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.analysis.fit import fit, run_losses
from sim.analysis.targets import Target, targets
from sim.record import load_record
from sim.scenario import load_scenario


@pytest.fixture(scope="module")
def found():
    return {t.id: t for t in targets(load_record(), load_scenario("al-qusayr-2013"))}


def test_a_partisan_claim_a_neutral_one_contradicts_the_same_day_is_scored_but_not_fitted(found):
    pushed_back = found["claim-d01-activist-pushed-back"]  # opposition [0, 0.3]; Al Jazeera: most of the town
    assert pushed_back.weight == 0.0
    assert "claim-d01-aljazeera-most" in pushed_back.label
    assert found["claim-d12-doctor-rebels-80pct"].weight == 0.0  # Reuters: two-thirds the same day
    # a partisan claim no neutral one contradicts keeps its weight, and so do the neutral ones
    assert found["claim-d15-oraba-idris-50pct"].weight == 0.5
    assert found["claim-d01-activist-most"].weight == 0.5
    assert found["claim-d01-aljazeera-most"].weight == 1.0
    runs = pd.DataFrame({"gov_share_d01": [0.9], "gov_share_d12": [0.7]})
    contradicted = [found["claim-d01-activist-pushed-back"], found["claim-d12-doctor-rebels-80pct"]]
    assert run_losses(runs, [*contradicted, found["claim-d12-reuters-two-thirds"]])[0] == 0.0
    assert fit(runs, contradicted).per_target[0].median_distance > 0  # still scored
    no_day_12 = pd.DataFrame({"gov_share_d01": [0.9]})  # a shorter run: no share on day 12
    assert run_losses(no_day_12, [*contradicted, found["claim-d01-aljazeera-most"]])[0] == 0.0
    assert np.isnan(run_losses(runs, contradicted)).all()  # nothing fitted: no loss, not a perfect one
    counted = fit(runs, [*contradicted, found["claim-d12-reuters-two-thirds"]])
    assert (counted.consistent, counted.fitted, counted.not_fitted) == (1, 1, 2)  # counts of fitted targets


def test_the_loss_is_the_weighted_mean_of_huber_penalties():
    a = Target("a", "control", "", 0, "neutral", "", "x", 0.5, 0.7, 1.0)
    b = Target("b", "control", "", 0, "government", "", "y", 0.0, 0.1, 0.5)
    runs = pd.DataFrame({"x": [0.45, 0.6], "y": [0.05, 0.4]})
    # distances: a 0.5 (squared: 0.25) then 0; b 0 then 3 (linear beyond 1: 2 * 3 - 1 = 5)
    expected_first = (1.0 * 0.5**2 + 0.5 * 0.0) / 1.5
    expected_second = (0.0 + 0.5 * 5.0) / 1.5
    assert run_losses(runs, [a, b]) == pytest.approx([expected_first, expected_second])
    assert fit(runs, [a, b]).loss == pytest.approx((expected_first + expected_second) / 2)


def test_an_ensemble_is_consistent_when_its_90_percent_band_meets_the_interval():
    target = Target("a", "control", "", 0, "neutral", "", "x", 0.5, 0.7, 1.0)
    near = pd.DataFrame({"x": np.linspace(0.3, 0.52, 40)})  # band reaches 0.5
    far = pd.DataFrame({"x": np.linspace(0.1, 0.3, 40)})
    assert fit(near, [target]).per_target[0].consistent
    result = fit(far, [target])
    assert not result.per_target[0].consistent
    assert result.goodness == 0.0
    assert result.per_target[0].coverage == 0.0
    assert result.per_target[0].quantiles["q50"] == pytest.approx(0.2)
