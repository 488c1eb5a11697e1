"""The project's colours, for every figure (``sim.plots``) and the web page (``sim.viz``): plain hex strings.

One colour per side, the same everywhere: rebels green, the army and militia red, Hezbollah gold,
civilians purple. What the attackers hold together (a cell, a sector, a place: "gov" in the outputs)
takes the army's red.

The record's claims are coloured by their source's lean, in hues no side uses (blue, brown, cyan),
so that a government source is never read as the army, nor an opposition source as the rebels.
The model is drawn in black and greys; the record's events in a slate grey, solid, where the
model's events are black and dashed.

No import here: the page and the figures take their colours from this module without pulling in
matplotlib or the model.
"""

from __future__ import annotations

SIDE_COLOURS = {"rebels": "#1e8449", "army": "#c0392b", "hezbollah": "#e6b400", "civilians": "#6c3483"}
SIDE_LABELS = {"rebels": "rebels", "army": "army and militia", "hezbollah": "Hezbollah", "civilians": "civilians"}
ATTACKERS_COLOUR = SIDE_COLOURS["army"]  # the army and Hezbollah together
CONTESTED_COLOUR = "#d68910"  # a cell or sector both sides hold fighters in

LEAN_COLOURS = {"government": "#2166ac", "opposition": "#8c510a", "neutral": "#17a2b8"}
LEAN_COLOUR_NAMES = {"government": "blue", "opposition": "brown", "neutral": "cyan"}  # for captions

MODEL_COLOUR = "#000000"  # the model's line (a run, or an ensemble's median)
MODEL_BAND_COLOUR = "#808080"  # the model's spread (bands, single runs), and its second line (sectors held)
MODEL_EVENT_STYLE = {"color": MODEL_COLOUR, "linestyle": (0, (4, 2)), "linewidth": 1.0}  # dashed
RECORD_COLOUR = "#4a5a6a"  # the record where no lean applies: its events, ranges and notes
RECORD_EVENT_STYLE = {"color": RECORD_COLOUR, "linestyle": "-", "linewidth": 1.4, "alpha": 0.7}  # solid
