"""A sweep's unit of work, run in the worker processes: ``execute`` one (point, replicate).

It returns plain Python values (the series as columns, the summary as JSON bytes) and imports
neither pandas nor pyarrow (nor does the battle: ``sim.lean_mesa``), so that a worker's memory is
the engine's; the driver (``sim.sweeps.runner``) writes the series' Parquet file.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import time
from typing import Any

from sim.run import free_finished_battle, run, scalar_outcomes
from sim.scenario import TOWN_PLACE, Scenario


class ScenarioMismatchError(Exception):
    """A worker built another scenario than the driver sent (another version of the code)."""


def free_finished_battle_in_worker() -> None:
    """``sim.run.free_finished_battle``, only in a worker process (a pool's or a Dask nanny's child).

    A driver running the runs itself (``--workers 0``) holds objects of its own, which frozen could
    never be collected.
    """
    if multiprocessing.parent_process() is not None:
        free_finished_battle()


def execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one (point, replicate); return its id, outcomes, series (columns), summary, times, worker, scenario hash.

    ``spec`` holds the scenario itself (a ``model_dump`` of the validated scenario) and its sha256:
    the worker reads no file, and refuses a scenario that does not hash as the driver's did.
    """
    started = time.time()
    scenario = Scenario.model_validate(spec["scenario"])
    sha256 = scenario.sha256()
    if sha256 != spec["scenario_sha256"]:
        raise ScenarioMismatchError(
            f"the worker's scenario hashes to {sha256[:12]}, the driver's to {spec['scenario_sha256'][:12]}: "
            "does the worker run another version of the code?"
        )
    result = run(scenario, spec["seed"])
    free_finished_battle_in_worker()
    places = [p.name for p in scenario.places if p.name != TOWN_PLACE]
    return {
        "run_id": spec["run_id"],
        "outcomes": scalar_outcomes(result.summary, places),
        "series": result.columns,
        "summary": json.dumps(result.summary).encode(),
        "started": started,
        "ended": time.time(),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "scenario_sha256": sha256,
    }
