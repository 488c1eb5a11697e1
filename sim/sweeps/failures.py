"""Runs that failed, as the command line reports them (exit status 1, not 2: the input was fine).

Kept apart from the runner so that ``qusayr`` can name the error without importing the engine.
"""


class RunFailedError(Exception):
    """Runs that failed: the message says which, and where to look."""
