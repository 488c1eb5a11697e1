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

PAGE_TITLE = "al-Qusayr 2013: the battle, step by step"
SWATCH = {"display": "inline-block", "width": "0.9em", "height": "0.9em", "border": "1px solid #555"}
# Mesa's sliders show their value only while dragged (Vuetify's thumb label, hidden by an inline
# display: none): shown always, in a bubble above the thumb, with room made above each slider for it
SLIDER_VALUES_SHOWN = """
.v-slider__thumb-label-container { display: block !important; }
.v-input__slider { padding-top: 30px; }
"""


@solara.component
def BattleMap(model: LiveBattle):  # noqa: N802 (Solara names components like classes)
    """The clock, and the town map with its layer switches and its legend."""
    update_counter.get()  # redraw after every step (Mesa bumps this counter)
    layers, set_layers = solara.use_state(list(LAYERS))

    def switch(layer: str, on: bool) -> None:
        set_layers([name for name in LAYERS if (name == layer and on) or (name != layer and name in layers)])

    with solara.Column(gap="4px"):
        solara.Text(clock_text(model), classes=["qusayr-clock"], style={"font-size": "1.2em", "font-weight": "bold"})
        solara.Text(status_text(model), classes=["qusayr-status"])
        with solara.Row(gap="12px"):
            for layer in LAYERS:
                solara.Checkbox(label=layer, value=layer in layers, on_value=lambda on, layer=layer: switch(layer, on))
        solara.Image(town_png(model, layers), classes=["qusayr-town"])
        with solara.Row(gap="14px", style={"flex-wrap": "wrap"}, classes=["qusayr-legend"]):
            for colour, label in legend_entries(layers):
                with solara.Row(gap="4px", style={"align-items": "center"}):
                    solara.Text("", style={**SWATCH, "background": colour})
                    solara.Text(label)
        solara.Text(forces_text(model), classes=["qusayr-forces"], style={"font-size": "0.9em"})


@solara.component
def BattleCharts(model: LiveBattle):  # noqa: N802 (Solara names components like classes)
    """The share of the town held against the record's claims, the killed by side, and the outside places.

    The places are here rather than beside the town map, where there is no room to read their names.
    """
    update_counter.get()
    record = solara.use_memo(load_record, [])
    charts = solara.use_memo(lambda: Charts(model, control_targets(record, model.config), record), [model])
    places = solara.use_memo(lambda: places_png(model), [places_key(model)])
    with solara.Column(gap="4px"):
        solara.Image(charts.png(model), classes=["qusayr-charts"])
        solara.Text(killed_text(model), classes=["qusayr-killed"])
        solara.Image(places, classes=["qusayr-places"])


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
    """The page for ``variant`` (default: ``$QUSAYR_SCENARIO``, else the baseline): a title, and SolaraViz."""
    variant = variant or os.environ.get(SCENARIO_VARIABLE) or DEFAULT_SCENARIO
    model = LiveBattle(variant=variant)  # made once: the page's model lives as long as the server

    @solara.component
    def Page():  # noqa: N802 (Solara names components like classes)
        solara.Title(PAGE_TITLE)
        solara.Style(SLIDER_VALUES_SHOWN)
        SolaraViz(
            model,
            components=[(BattleMap, 0), (BattleCharts, 0)],
            model_params=model_params(variant),
            name=PAGE_TITLE,
            render_interval=1,  # Step: one model step (15 minutes in the baseline); the sidebar's slider changes it
            play_interval=50,
        )

    return Page()


page = make_page()
