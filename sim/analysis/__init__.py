"""The analysis wing: the record as targets, the loss and fit, and the analyses built on them.

``targets`` (the record as intervals on a run's outcomes) and ``fit`` (the loss of a run, the fit
of an ensemble) underlie ``validate``, ``calibrate``, ``sensitivity`` and ``counterfactual``: each
computes a result object. ``reports`` renders those results (Markdown, JSON, figures) and writes
the files of the ``qusayr`` commands.
"""
