"""The baseline scenario holds the posterior's median of every input the history matching calibrates.

``make history`` writes the posterior (docs/history/posterior.parquet) and the inputs it covers
(docs/history/calibration.json); writing the median into scenarios/al-qusayr-2013.yaml, rounded to
four significant digits, is a deliberate step, and this test keeps the two from drifting apart.
"""

import json

import pandas as pd

from sim.scenario import load_scenario
from sim.sweeps.experiment import override_text
from tests.conftest import REPO_ROOT

HISTORY = REPO_ROOT / "docs" / "history"
MIN_INPUTS = 12  # issue 22: every uncertain input calibrated, at least 12


def test_the_baselines_calibrated_values_are_the_posteriors_median():
    calibration = json.loads((HISTORY / "calibration.json").read_text(encoding="utf-8"))
    posterior = pd.read_parquet(HISTORY / "posterior.parquet")
    simulated = [i["name"] for i in calibration["inputs"] if i["simulated"]]
    assert len(simulated) >= MIN_INPUTS
    assert len(posterior) >= 200
    baseline = load_scenario("al-qusayr-2013")
    medians = [override_text(name, float(f"{posterior[name].median():.4g}")) for name in simulated]
    assert load_scenario("al-qusayr-2013", medians).sha256() == baseline.sha256(), medians
