"""The observation model of the claims: stated intervals, the sides' biases, noise, discrepancy, implausibility."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.analysis.observation import (
    implausibility,
    log_likelihood,
    observations,
    output_name,
    output_values,
)
from sim.analysis.targets import BETWEEN_SIDES, Target, targets
from sim.record import load_record
from sim.scenario import load_scenario
from sim.sweeps.experiment import ObservationSettings

SETTINGS = ObservationSettings()


def _share(lean: str, low: float, high: float, **fields) -> Target:
    return Target(
        id=f"claim-{lean}",
        kind="control",
        label="",
        day=3,
        lean=lean,
        source="",
        outcome="gov_share_d03",
        low=0.0,
        high=1.0,
        weight=1.0,
        stated=(low, high),
        **fields,
    )


def test_the_records_observations_are_its_fitted_targets_as_stated():
    found = targets(load_record(), load_scenario())
    observed = {o.id: o for o in observations(found, SETTINGS)}
    by_id = {t.id: t for t in found}
    assert not any(i.startswith(BETWEEN_SIDES) for i in observed)  # the biases model the sides' brackets
    assert not any(not by_id[i].fitted for i in observed)
    assert len(observed) == sum(t.fitted and not t.id.startswith(BETWEEN_SIDES) for t in found)
    # a government share: its wording's interval, shifted by the government's bias, not stretched by hand
    gov = observed["claim-d04-official-80pct"]
    assert (gov.low, gov.high, gov.bias, gov.bias_sign) == (0.6, 0.8, "share_bias_government", 1.0)  # "up to 80 %"
    assert by_id["claim-d04-official-80pct"].low < gov.low  # the old interval was stretched
    assert observed["claim-d04-rebel-sources-40pct"].bias_sign == -1.0
    assert observed["claim-d12-reuters-two-thirds"].bias is None  # neutral: unbiased
    assert gov.noise_var == pytest.approx(SETTINGS.share_noise_sd**2 + SETTINGS.discrepancy_share**2)
    # a date: the stated window; its slack is noise now
    fall = observed["fall"]
    assert (fall.low, fall.high) == (17.25, 17.5)
    assert fall.noise_var == pytest.approx(0.5**2 + SETTINGS.discrepancy_day**2)
    # casualties in log units
    hezbollah = observed["killed-hezbollah"]
    assert hezbollah.low == hezbollah.high == pytest.approx(math.log(114))
    assert observed["killed-army"].high == math.inf


def test_implausibility_is_the_distance_over_the_root_of_the_summed_variances():
    observed = observations([_share("government", 0.7, 0.9), _share("neutral", 0.5, 0.6)], SETTINGS)
    outputs = [output_name(_share("neutral", 0, 1))]
    assert [o.output for o in observed] == outputs * 2  # the same day's share: one output
    mean = np.array([[0.5], [0.8], [0.55]])
    emulator_var = np.array([[0.01], [0.0], [0.02]])
    ensemble_var = np.array([0.03])
    biases = {"share_bias_government": np.array([0.1, 0.0, 0.0])}
    marks = implausibility(observed, outputs, mean, emulator_var, ensemble_var, biases)
    noise = SETTINGS.share_noise_sd**2 + SETTINGS.discrepancy_share**2
    # row 0: the government's 0.7 is the truth plus 0.1: the model's 0.5 is 0.1 below 0.6
    assert marks[0, 0] == pytest.approx(0.1 / math.sqrt(noise + 0.03 + 0.01))
    assert marks[0, 1] == 0.0  # inside the neutral claim
    assert marks[1, 1] == pytest.approx(0.2 / math.sqrt(noise + 0.03))
    assert marks[2, 0] == pytest.approx(0.15 / math.sqrt(noise + 0.03 + 0.02))
    likelihood = log_likelihood(observed, outputs, mean, emulator_var, ensemble_var, biases)
    assert likelihood == pytest.approx(-0.5 * (marks**2).sum(axis=1))


def test_an_opposition_claim_is_shifted_down_by_its_bias():
    (observed,) = observations([_share("opposition", 0.3, 0.5)], SETTINGS)
    outputs = [observed.output]
    biases = {"share_bias_opposition": np.array([0.0, 0.2])}
    marks = implausibility([observed], outputs, np.array([[0.65], [0.65]]), np.zeros((2, 1)), np.zeros(1), biases)
    assert marks[0, 0] > 0  # 0.65 is above what the rebels said
    assert marks[1, 0] == 0.0  # ... but not above it less their bias of 0.2


def test_output_values_read_days_never_as_day_24_and_counts_in_logs():
    day = Target("e", "event", "", 5, "neutral", "", "fall_day", 4, 6, 1.0, stated=(5, 6), report_sd=0.5)
    dead = Target("k", "casualties", "", 5, "neutral", "", "killed_army", 5, 50, 1.0, log_scale=True, stated=(10, 10))
    runs = pd.DataFrame({"fall_day": [17.0, None], "killed_army": [0.0, 100.0]})
    values = output_values(runs, [day, dead])
    assert values["fall_day"].tolist() == [17.0, 24.0]
    assert values["log:killed_army"].tolist() == pytest.approx([0.0, math.log(100)])
