"""What the analysis commands write: each result rendered as Markdown, JSON, tables and figures.

One module per analysis (``validation``, ``calibration``, ``sensitivity``, ``counterfactual``), and
``sweep`` for what a sweep folder holds and a finished sweep's figures. Each analysis has a
``write_*`` function, the one the ``qusayr`` command calls: it runs the analysis, writes its files
and returns the result; and a ``*_lines`` function, what the command prints. Figures are drawn by
``sim.plots``, on matplotlib's file-only backend (``plotting``).

Methods: docs/methods.md, section 10 (rendering).
"""

from __future__ import annotations

from types import ModuleType


def plotting() -> tuple[ModuleType, ModuleType]:
    """``(matplotlib.pyplot, sim.plots)`` on the Agg backend: figures to files, no display needed.

    Imported when a report draws, not when it is imported: the analyses and the CLI's other commands
    do without matplotlib's start-up.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import sim.plots

    return plt, sim.plots
