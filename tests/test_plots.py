"""The figures' functions on small inputs: they draw what they say, and take and return axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from sim.analysis.targets import targets
from sim.plots import draw_control_claims, plot_calibration
from sim.record import load_record
from sim.scenario import load_scenario


@pytest.fixture(scope="module")
def record():
    return load_record()


def test_a_calibration_whose_losses_are_all_zero_is_drawn(tmp_path):
    trials = pd.DataFrame({"order": [0, 1, 2], "loss": [0.0, 0.0, 0.0], "stage": ["screen", "refine", "confirm"]})
    _, ax = plt.subplots()
    assert plot_calibration(trials, {"rules.control.clear_fighter_h": 100.0}, ax=ax) is ax
    assert ax.get_yscale() == "symlog"  # a log axis has no place for 0: it warned and drew nothing
    ax.figure.savefig(tmp_path / "calibration.png")
    plt.close(ax.figure)


def test_control_claims_and_the_sides_brackets_are_drawn(record):
    control = [t for t in targets(record, load_scenario("al-qusayr-2013")) if t.kind == "control"]
    _, ax = plt.subplots()
    assert draw_control_claims(ax, control, record) is ax
    labels = set(ax.get_legend_handles_labels()[1])
    assert "record: between the sides' claims of the day" in labels  # the brackets of days 0 and 4
    assert {f"record: {lean} claim (interval after lean)" for lean in ("government", "opposition", "neutral")} <= labels
    brackets = [t for t in control if t.lean == "both sides"]
    assert len(ax.collections) == len(control)  # one bar per claim, one line per bracket
    assert brackets
    plt.close(ax.figure)
