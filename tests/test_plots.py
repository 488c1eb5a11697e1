"""The figures' functions on small inputs: they draw what they say, and take and return axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import datetime as dt

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.patches import PathPatch

from sim import viz
from sim.analysis.reports.sweep import town_and_killed_targets
from sim.analysis.targets import targets
from sim.palette import LEAN_COLOURS, SIDE_COLOURS
from sim.plots import (
    SWEEP_POINTS_DRAWN,
    draw_control_claims,
    plot_calibration,
    plot_casualties,
    plot_control,
    plot_outcome_vs_parameter,
    plot_sector_bands,
    plot_strength,
    sweep_points_shown,
)
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


def _one_run(days: int = 20) -> dict:
    """A run's summary as plot_control reads it: the town taken over ``days`` days, falling on day 16.6."""
    return {
        "scenario": "test",
        "seed": 3,
        "gov_share_by_day": [min(1.0, 0.4 + 0.04 * d) for d in range(days)],
        "gov_sectors_by_day": [min(16, 6 + d // 2) for d in range(days)],
        "sector_owner_by_day": [["gov"] * 16] * days,
        "encirclement_day": 10.7,
        "withdrawal_day": 16.1,
        "fall_day": 16.6,
    }


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_the_run_figure_tells_the_models_events_from_the_records_and_keeps_its_text_apart(record):
    ax = plot_control(_one_run(), record=record)
    labels = ax.get_legend_handles_labels()[1]
    assert "model: events (dashed)" in labels
    assert "record: events (solid)" in labels
    events = [line for line in ax.get_lines() if len(set(line.get_xdata())) == 1]  # the vertical lines
    styles = {round(float(mdates.date2num(line.get_xdata()[0])), 3): line.get_linestyle() for line in events}
    fall = next(e for e in record.events if e.id == "fall")
    record_fall = round(float(mdates.date2num(dt.datetime.combine(fall.date, dt.time(12)))), 3)
    model_fall = round(float(mdates.date2num(dt.datetime(2013, 5, 19) + dt.timedelta(days=16.6))), 3)
    assert styles[record_fall] == "-"  # the record's fall is drawn, solid
    assert styles[model_fall] == "--"  # the model's, dashed
    renderer = ax.figure.canvas.get_renderer()
    ax.figure.draw(renderer)
    title, frame = ax.title.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert sorted(t.get_text() for t in ax.texts) == [
        "model: encirclement",
        "model: withdrawal, fall",  # half a day apart: one label
        "record: encirclement",
        "record: fall",
        "record: withdrawal",
    ]
    texts = [t.get_window_extent(renderer) for t in ax.texts]
    for box in texts:
        assert not _overlap(box, title)
        assert frame.x0 <= box.x0 <= box.x1 <= frame.x1  # inside the axes
        assert frame.y0 <= box.y0 <= box.y1 <= frame.y1
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            assert not _overlap(a, b)
    plt.close(ax.figure)


def test_sides_take_the_palettes_colours_in_every_figure_and_on_the_page():
    strength = {side: np.full((3, 4), 100.0) for side in ("rebels", "army", "hezbollah")}
    ax = plot_strength(strength)
    assert [to_hex(line.get_color()) for line in ax.get_lines()] == [SIDE_COLOURS[s] for s in strength]
    plt.close(ax.figure)
    killed = {side: np.array([10.0, 20.0, 30.0]) for side in SIDE_COLOURS}
    ax = plot_casualties(killed, {"rebels": (5.0, 50.0)})
    faces = [to_hex(p.get_facecolor(), keep_alpha=False) for p in ax.patches if isinstance(p, PathPatch)]
    assert faces == [SIDE_COLOURS[s] for s in killed]
    plt.close(ax.figure)
    assert {viz.SIDE_NAMES[side]: colour for side, colour in viz.SIDE_COLOURS.items()} == SIDE_COLOURS
    assert viz.OWNER_COLOURS["gov"] == SIDE_COLOURS["army"]
    assert viz.OWNER_COLOURS["reb"] == SIDE_COLOURS["rebels"]
    assert not set(LEAN_COLOURS.values()) & set(SIDE_COLOURS.values())  # a source's lean is not a side


def _sweep_runs(points: int) -> pd.DataFrame:
    rows = []
    for point in range(points):
        for replicate in range(2):
            row = {"point": point, "replicate": replicate, "forces.army.fighters": 4000 + 100 * point}
            row |= {"rules.corridor.enabled": point % 2 == 0, "fall_day": 15.0 + point / 2}
            row |= {f"gov_sectors_d{d:02d}": min(16, d + point) for d in range(5)}
            rows.append(row)
    return pd.DataFrame(rows)


def test_sweep_figures_label_points_by_their_values_draw_the_record_and_state_a_selection(record):
    parameters = ["forces.army.fighters", "rules.corridor.enabled"]
    found = town_and_killed_targets(record)
    ax = plot_sector_bands(_sweep_runs(3), parameters, targets=found)
    labels = ax.get_legend_handles_labels()[1]
    assert "fighters=4100, enabled=False" in labels
    assert "record: events (solid)" in labels
    assert "of 3 points" not in ax.get_title()  # all drawn, no selection to state
    plt.close(ax.figure)
    ax = plot_sector_bands(_sweep_runs(20), parameters, targets=found)
    labels = [label for label in ax.get_legend_handles_labels()[1] if label.startswith("fighters=")]
    assert len(labels) == SWEEP_POINTS_DRAWN
    assert labels[0] == "fighters=4000, enabled=True"  # the first and the last point, in the parameters' order
    assert labels[-1] == "fighters=5900, enabled=False"
    assert f"{SWEEP_POINTS_DRAWN} of 20 points" in ax.get_title()
    plt.close(ax.figure)
    ax = plot_outcome_vs_parameter(_sweep_runs(3), "forces.army.fighters", "fall_day", targets=found)
    fall = next(t for t in found if t.outcome == "fall_day")
    assert any(label.startswith("record: fall of al-Qusayr, 5 June") for label in ax.get_legend_handles_labels()[1])
    assert [p.get_y() for p in ax.patches if p.get_label().startswith("record")] == [fall.low]
    plt.close(ax.figure)


def test_a_selection_of_sweep_points_is_evenly_spaced_from_first_to_last():
    assert sweep_points_shown([0, 1, 2]) == [0, 1, 2]
    assert sweep_points_shown(list(range(10, 30)), most=5) == [10, 15, 20, 24, 29]


def test_an_outcome_no_run_reached_is_said_and_its_axis_spans_the_points():
    runs = _sweep_runs(3).assign(fall_day=None)
    ax = plot_outcome_vs_parameter(runs, "forces.army.fighters", "fall_day")
    low, high = ax.get_xlim()
    assert low < 4000 < 4200 < high
    assert [t.get_text() for t in ax.texts] == ["no run: it never happened"]
    assert "(6 runs: never)" in ax.get_title()
    plt.close(ax.figure)
