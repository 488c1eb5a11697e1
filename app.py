"""The battle in a browser: Mesa's SolaraViz page for the al-Qusayr model.

Start it with ``qusayr viz [SCENARIO] [--port N]``: loopback only, local Host and Origin only, no
asset fetched off the machine, the server ending with the command (``sim.viz_server``). ``solara
run app.py`` serves the same page without those guards; the scenario comes from
``$QUSAYR_SCENARIO`` (default: the baseline). The page shows the town map
(who holds each cell, the 16 sectors; units, civilians and damage as layers to switch), the
outside places and routes, a clock, the share of the town held against the record's claims and
the killed by side. Its controls rebuild the model (``sim.viz.LiveBattle``) on Reset; Step runs
one model step (the sidebar's render interval sets how many steps a Step or a frame of Play runs).

The page's model lives as long as the server (Mesa's convention of a module-level ``page``): tabs
opened on the same server share it, and a page loaded again shows it where it was.
"""

from __future__ import annotations

import os

import solara
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import update_counter

from sim.record import load_record
from sim.scenario import DEFAULT_SCENARIO, list_scenarios
from sim.viz import (
    LAYERS,
    SCENARIO_VARIABLE,
    Charts,
    LiveBattle,
    clock_text,
    control_targets,
    forces_text,
    killed_text,
    legend_entries,
    places_key,
    places_png,
    status_text,
    town_png,
)


@solara.component
def BattleMap(model: LiveBattle):  # noqa: N802 (Solara names components like classes)
    """The clock, the town map with its layer switches, and the outside places."""
    update_counter.get()  # redraw after every step (Mesa bumps this counter)
    layers, set_layers = solara.use_state(list(LAYERS))
    places = solara.use_memo(lambda: places_png(model), [places_key(model)])

    def switch(layer: str, on: bool) -> None:
        set_layers([name for name in LAYERS if (name == layer and on) or (name != layer and name in layers)])

    with solara.Column(gap="4px"):
        solara.Text(clock_text(model), classes=["qusayr-clock"], style={"font-size": "1.2em", "font-weight": "bold"})
        solara.Text(status_text(model), classes=["qusayr-status"])
        with solara.Row(gap="12px"):
            for layer in LAYERS:
                solara.Checkbox(label=layer, value=layer in layers, on_value=lambda on, layer=layer: switch(layer, on))
        with solara.Row(gap="8px"):
            solara.Image(town_png(model, layers), classes=["qusayr-town"])
            solara.Image(places, classes=["qusayr-places"])
        with solara.Row(gap="10px", style={"flex-wrap": "wrap", "font-size": "0.8em"}):
            for colour, label in legend_entries(layers):
                solara.Text(f"■ {label}", style={"color": colour, "text-shadow": "0 0 1px #555"})
        solara.Text(forces_text(model), classes=["qusayr-forces"], style={"font-size": "0.8em"})


@solara.component
def BattleCharts(model: LiveBattle):  # noqa: N802 (Solara names components like classes)
    """The share of the town held against the record's claims, and the killed by side."""
    update_counter.get()
    record = solara.use_memo(load_record, [])
    charts = solara.use_memo(lambda: Charts(model, control_targets(record, model.config), record), [model])
    with solara.Column(gap="4px"):
        solara.Image(charts.png(model), classes=["qusayr-charts"])
        solara.Text(killed_text(model), classes=["qusayr-killed"])


def model_params(variant: str) -> dict:
    """The page's controls: the scenario variant, the main parameters and the seed."""
    variants = list_scenarios()
    if variant not in variants:
        variants.append(variant)  # a scenario file given by path
    return {
        "variant": {"type": "Select", "value": variant, "values": variants, "label": "scenario variant"},
        "army": Slider("army and militia (x the scenario's)", value=1.0, min=0.5, max=1.5, step=0.05),
        "hezbollah": Slider("Hezbollah (x the scenario's)", value=1.0, min=0.5, max=1.5, step=0.05),
        "rebels": Slider("rebels (x the scenario's)", value=1.0, min=0.5, max=1.5, step=0.05),
        "hezbollah_present": {"type": "Checkbox", "value": True, "label": "Hezbollah takes part"},
        "corridor": {"type": "Checkbox", "value": True, "label": "a corridor can be offered"},
        "lethality": Slider("lethality of aimed fire (x the scenario's)", value=1.0, min=0.25, max=2.0, step=0.05),
        "seed": {"type": "SliderInt", "value": 1, "min": 0, "max": 999, "step": 1, "label": "seed"},
    }


def make_page(variant: str | None = None):
    """The SolaraViz page for ``variant`` (default: ``$QUSAYR_SCENARIO``, else the baseline)."""
    variant = variant or os.environ.get(SCENARIO_VARIABLE) or DEFAULT_SCENARIO
    model = LiveBattle(variant=variant)
    return SolaraViz(
        model,
        components=[(BattleMap, 0), (BattleCharts, 0)],
        model_params=model_params(variant),
        name="al-Qusayr 2013",
        render_interval=1,  # Step: one model step (15 minutes in the baseline); the sidebar's slider changes it
        play_interval=50,
    )


page = make_page()
