"""Timing the engine: one battle (``qusayr bench``), each phase of a step, and the per-agent Mesa peer beside it.

``bench`` runs a battle once to load the compiled kernels (numba's on-disk cache; the first run in a
fresh checkout compiles them), then ``repeat`` times more, and reports the median of those: the cost
of a battle in a process that has started, as in a sweep's worker. ``peer`` runs the naive
per-agent Mesa model (``../shared/bench/naive_mesa.py``) on the same fighters for a share of the
steps and scales its time to the whole battle, so that the two are measured side by side on a
machine whose speed drifts. ``phase_profile`` times each phase of ``sim.rules.phases`` over a
whole battle, in microseconds per step. ``docs/performance.md`` has the figures.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.installation import CHECKOUT
from sim.loading import LoadError
from sim.model import BattleModel
from sim.run import RunResult, free_finished_battle, run
from sim.scenario import Scenario, load_scenario, scale_forces
from sim.state import BattleState

# the peer beside the checkout (the team's shared folder); an installed package has none
PEER_SCRIPT = CHECKOUT.parent / "shared" / "bench" / "naive_mesa.py" if CHECKOUT else None
PEER_STEP_SHARE = 0.1  # the peer runs a tenth of the steps (its time scaled up): its step costs the same all along


def _peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _private_mb() -> float | None:
    """The process's resident memory now that no other process shares (USS: private pages), in MB; Linux only.

    Resident memory counts the shared libraries' pages (numba's LLVM, pyarrow) in every process that
    maps them; the private pages are what one more worker adds.
    """
    try:
        lines = Path("/proc/self/smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    kib = sum(int(line.split()[1]) for line in lines if line.startswith(("Private_Clean:", "Private_Dirty:")))
    return round(kib / 1024.0, 1)


def _timed_run(scenario: Scenario, seed: int) -> tuple[float, RunResult]:
    """A battle's seconds and result; the seconds include freeing it, as a worker does (``free_finished_battle``)."""
    started = time.perf_counter()
    result = run(scenario, seed)
    free_finished_battle()
    return time.perf_counter() - started, result


def bench(
    scenario_name: str | Path,
    overrides: list[str],
    seed: int,
    forces_scale: float = 1.0,
    repeat: int = 3,
    peer_script: Path | None = None,
) -> dict[str, Any]:
    """Time a battle of the scenario with every force multiplied by ``forces_scale``.

    Returns the scenario's name, its fighters (at the start and arriving), the steps, the first run's
    seconds (loading, or compiling, the kernels), the seconds of each of ``repeat`` later runs and
    their median, the process's peak resident memory and its private memory at the end, in MB.
    With ``peer_script``, the peer runs between our first run and the timed ones, and the result
    adds its seconds (scaled to the whole battle) and the ratio of its time to our median.
    """
    scenario = scale_forces(load_scenario(scenario_name, overrides), forces_scale)
    first_seconds, result = _timed_run(scenario, seed)
    summary = result.summary
    line: dict[str, Any] = {"scenario": scenario.name, "fighters": 0, "steps": len(result.columns["step"]) - 1}
    attackers = sum(summary["initial"][s] + summary["arrived"][s] for s in ("army", "hezbollah"))
    defenders = summary["initial"]["rebels"] + summary["arrived"]["rebels"]
    line["fighters"] = attackers + defenders
    line["first_run_seconds"] = round(first_seconds, 3)
    if peer_script is not None:
        line["peer"] = peer(peer_script, attackers, defenders, line["steps"])
    runs = [_timed_run(scenario, seed)[0] for _ in range(repeat)]
    line["runs_seconds"] = [round(seconds, 3) for seconds in runs]
    line["seconds"] = round(statistics.median(runs), 3)
    if peer_script is not None:
        line["peer_ratio"] = round(line["peer"]["seconds_scaled"] / line["seconds"], 1)  # as printed
    line["peak_rss_mb"] = _peak_rss_mb()
    line["private_mb"] = _private_mb()
    return line


def peer(script: Path, attackers: int, defenders: int, steps: int) -> dict[str, Any]:
    """Run the per-agent peer on ``attackers`` against ``defenders`` for ``PEER_STEP_SHARE`` of ``steps``.

    Its seconds are scaled to ``steps`` (``seconds_scaled``): ``seconds * steps / peer steps``.
    """
    if not script.is_file():
        raise LoadError(f"{script}: no such peer script (--peer-script)")
    peer_steps = max(round(steps * PEER_STEP_SHARE), 1)
    command = [sys.executable, str(script), str(attackers), str(defenders), str(peer_steps)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LoadError(f"{script}: the peer failed (exit {done.returncode}): {done.stderr.strip()[-200:]}")
    try:
        line = json.loads(done.stdout.strip().splitlines()[-1])
        seconds = float(line["seconds"])
    except (IndexError, ValueError, KeyError, TypeError):
        raise LoadError(f"{script}: the peer printed no JSON line with 'seconds'") from None
    return {
        "command": " ".join(["python", script.name, *command[2:]]),
        "steps": peer_steps,
        "seconds": round(seconds, 3),
        "seconds_scaled": round(seconds * steps / peer_steps, 3),
    }


@dataclass(frozen=True)
class _TimedPhase:
    """A phase of ``sim.rules.phases`` whose ``run`` adds its seconds to ``spent[name]``."""

    name: str
    inner: Callable[[BattleState], None]
    spent: dict[str, float]

    def run(self, state: BattleState) -> None:
        started = time.perf_counter()
        self.inner(state)
        self.spent[self.name] += time.perf_counter() - started


def phase_profile(scenario_name: str | Path, overrides: list[str], seed: int) -> dict[str, float]:
    """Microseconds per step of each phase over a whole battle, after a warm-up battle (kernels loaded).

    ``collect and Mesa`` is the rest of a step: Mesa's own step and the series' collection.
    """
    scenario = load_scenario(scenario_name, overrides)
    run(scenario, seed)
    free_finished_battle()
    model = BattleModel(scenario, rng=seed)
    spent = {phase.name: 0.0 for phase in model.phases}
    model.phases = tuple(_TimedPhase(phase.name, phase.run, spent) for phase in model.phases)
    started = time.perf_counter()
    for _ in range(model.n_steps):
        model.step()
    total = time.perf_counter() - started
    per_step = {name: 1e6 * seconds / model.n_steps for name, seconds in spent.items()}
    per_step["collect and Mesa"] = 1e6 * (total - sum(spent.values())) / model.n_steps
    per_step["step"] = 1e6 * total / model.n_steps
    return {name: round(us, 1) for name, us in per_step.items()}
