"""The web page's model and pictures (sim.viz), the page's controls (app.py) and `qusayr viz`."""

import http.server
import io
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from sim.cli import main
from sim.record import load_record
from sim.scenario import load_scenario, scale_forces
from sim.state import GOV, HEZBOLLAH, REB
from sim.viz import (
    LAYERS,
    Charts,
    Controls,
    LiveBattle,
    answers,
    clock_text,
    control_overrides,
    control_targets,
    listen,
    places_key,
    places_png,
    town_image,
    town_png,
)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture(scope="module")
def record():
    return load_record()


def test_default_controls_reproduce_every_variant():
    for variant in ("al-qusayr-2013", "no-hezbollah"):
        assert control_overrides(load_scenario(variant), Controls()) == []
        assert LiveBattle(variant=variant).config == load_scenario(variant)


def test_controls_scale_forces_and_switch_mechanisms_off():
    base = load_scenario()
    controls = Controls(army=1.2, rebels=0.5, hezbollah_present=False, corridor=False, lethality=2.0)
    sets = control_overrides(base, controls)
    scenario = load_scenario("al-qusayr-2013", sets)
    assert scenario.forces.army.fighters == round(base.forces.army.fighters * 1.2)
    army_arrivals = [r.fighters for r in scenario.reinforcements if r.side == "army"]
    assert army_arrivals == [round(r.fighters * 1.2) for r in base.reinforcements if r.side == "army"]
    assert scenario.forces.rebels.fighters == round(base.forces.rebels.fighters * 0.5)
    assert [p.garrison for p in scenario.places] == [round(p.garrison * 0.5) for p in base.places]
    assert scenario.forces.hezbollah.fighters == base.forces.hezbollah.fighters
    assert not scenario.forces.hezbollah.take_part
    assert not scenario.rules.corridor.enabled
    assert scenario.rules.fire.attacker_lethality_per_h == pytest.approx(2 * base.rules.fire.attacker_lethality_per_h)
    assert scenario.rules.fire.rebel_lethality_per_h == pytest.approx(2 * base.rules.fire.rebel_lethality_per_h)


def test_equal_force_controls_scale_the_forces_as_scale_forces_does():
    base = load_scenario()
    sets = control_overrides(base, Controls(army=0.7, hezbollah=0.7, rebels=0.7))
    assert load_scenario("al-qusayr-2013", sets) == scale_forces(base, 0.7)
    assert scale_forces(base, 0.7) != base


def test_live_battle_is_seeded_and_stops_at_the_end():
    a, b, c = LiveBattle(seed=3), LiveBattle(seed=3), LiveBattle(seed=4)
    for model in (a, b, c):
        for _ in range(8):
            model.step()
    assert np.array_equal(a.state.squads.x, b.state.squads.x)
    assert not np.array_equal(a.state.squads.x, c.state.squads.x)
    assert clock_text(a).startswith("Sun 19 May 2013, 02:00 (day 0, step 8 of")
    assert len(a.killed_by_step) == 9
    short = LiveBattle(hezbollah_present=False)
    assert not (short.state.squads.side == HEZBOLLAH).any()
    short.n_steps = 3  # as if the scenario ended after three steps
    for _ in range(3):
        assert short.running
        short.step()
    assert not short.running


def test_town_map_shows_control_and_switchable_layers():
    model = LiveBattle()
    for _ in range(12):
        model.step()
    full = town_image(model)
    width, height = model.state.shape
    assert full.shape == (height * 12, width * 12, 3)
    bare = town_image(model, layers=())
    assert not np.array_equal(full, bare)
    for layer in LAYERS:  # each layer changes the picture on its own
        assert not np.array_equal(town_image(model, layers=[layer]), bare), layer
    model.state.control[model.state.in_town_mask] = GOV
    assert not np.array_equal(town_image(model, layers=()), bare)
    model.state.control[model.state.in_town_mask] = REB
    assert pixels(town_png(model)).shape == full.shape


def test_places_picture_follows_routes_and_holders():
    model = LiveBattle()
    key, picture = places_key(model), places_png(model)
    model.state.routes_open = model.state.routes_open[1:]
    model.state.node_holder[model.state.place_index["Hamidiya"]] = GOV
    assert places_key(model) != key
    assert not np.array_equal(pixels(places_png(model)), pixels(picture))


def test_charts_move_with_the_run_and_show_the_claims(record):
    model = LiveBattle()
    charts = Charts(model, control_targets(record, model.config), record)
    first = pixels(charts.png(model))
    assert first.std() > 10  # not blank: axes, claims, legends
    for _ in range(40):
        model.step()
    later = pixels(charts.png(model))
    assert first.shape == later.shape
    assert (first != later).any(axis=2).sum() > 50
    shown = {t.id for t in control_targets(record, model.config)}  # the claims as the history figures draw them
    assert "claim-d17-regained-control" not in shown  # compared once, as the fall
    assert {"between-sides-d00", "between-sides-d04", "claim-d00-ap-more-than-half"} <= shown


def test_cli_viz_refuses_an_unknown_scenario(capsys):
    assert main(["viz", "no-such-battle"]) == 2
    err = capsys.readouterr().err
    assert "no-such-battle" in err
    assert "Traceback" not in err


def test_cli_viz_bench_times_step_and_redraw(capsys):
    assert main(["viz", "no-corridor", "--bench", "2", "--steps-per-redraw", "3"]) == 0
    timing = json.loads(capsys.readouterr().out)
    assert timing["scenario"] == "no-corridor"
    assert (timing["redraws"], timing["steps_per_redraw"]) == (2, 3)
    assert 0 < timing["median_s"] <= timing["max_s"]


def test_the_page_is_said_to_answer_only_once_it_does():
    started = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a server still starting
    try:
        with listen(0) as listener:  # a port that takes connections but never answers
            silent = f"http://127.0.0.1:{listener.getsockname()[1]}/"
            assert not answers(silent, started, timeout_s=1.0)
        page = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        threading.Thread(target=page.serve_forever, daemon=True).start()
        try:
            assert answers(f"http://127.0.0.1:{page.server_address[1]}/no-such-page", started, timeout_s=10)
        finally:
            page.shutdown()
            page.server_close()
    finally:
        started.kill()
        started.wait()
    assert not answers(silent, started, timeout_s=10)  # the server has ended: no wait
