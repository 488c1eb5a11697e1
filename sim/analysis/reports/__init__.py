"""What the analysis commands write: each result rendered as Markdown, JSON, tables and figures.

One module per analysis (``validation``, ``calibration``, ``sensitivity``, ``counterfactual``), and
``sweep`` for what a sweep folder holds and a finished sweep's figures. Each analysis has a
``write_*`` function, the one the ``qusayr`` command calls: it runs the analysis, writes its files
and returns the result; and a ``*_lines`` function, what the command prints. Figures are drawn by
``sim.plots``.
"""
