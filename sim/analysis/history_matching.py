"""Bayesian history matching in waves, then a posterior sample on the emulators.

The method of Vernon et al. 2010 (Bayesian Analysis 5: 619-669) and Andrianakis et al. 2015 (PLoS
Comput Biol 11: e1003968), on the observation model of ``sim.analysis.observation``:

1. **Wave 1** runs the experiment's design over the priors (its ``parameters``: uniform within
   ``low``-``high``), each point ``replicates`` times (a sweep: resumable through its ledger, on the
   local pool or Dask).
2. For each wave ``k``, Gaussian-process **emulators** (``sim.analysis.emulators``) of every output
   the record is compared with are fitted to the replicate means of the wave's points, with the
   pooled ensemble variance ``w`` of one run as the nugget (``w / replicates`` for a mean).
3. **The space not ruled out** (NROY): ``candidates`` uniform draws over every input (the model's
   and the observation model's biases) are kept where, for every wave's emulators so far, the
   ``rank``-th largest implausibility ``I_t(x)`` is at most ``cutoff``. The kept share of the draws
   is the wave's non-implausible fraction (of the whole prior space).
4. **The next wave** runs ``wave_points`` of the kept draws (more are made, where too few are
   kept, by jittering the kept ones and keeping what passes), and so on until a wave keeps more
   than ``stop_shrink`` of the space the previous one left (after ``min_waves``), or ``max_waves``.
5. **The posterior**: emcee's affine-invariant ensemble sampler (Foreman-Mackey et al. 2013, PASP
   125: 306) on ``log p(x) = log_likelihood(x)`` with the last wave's emulators, a uniform prior
   and zero outside the NROY space; ``samples`` input sets kept from the walkers after burn-in.

A wave's points are written to ``wave-<k>/points.json`` before it runs, so an interrupted match
resumes each wave's sweep where it stopped.

Methods: docs/methods.md, section 6.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.emulators import Emulators, fit_emulators
from sim.analysis.observation import (
    Observation,
    implausibility,
    log_likelihood,
    observations,
    output_values,
)
from sim.analysis.targets import Target, targets
from sim.lifetime import child_pool
from sim.output import write_bytes
from sim.outputs import read_runs
from sim.record import load_record
from sim.scenario import load_scenario
from sim.sweeps.experiment import Experiment, ExperimentError, HistoryMatching, load_experiment
from sim.sweeps.failures import RunFailedError
from sim.sweeps.runner import sweep, usable_cores

METHOD = "history-matching"
POINTS_FILE = "points.json"
ROW_CHUNKS = 2  # rows ruled on, or the density evaluated at, in this many chunks, a process each (ChunkedRows)
RULING_DRAWS = 5_000  # prior draws that measure how much each observation rules out (assumption: +/- 1.4 %)
JITTER_ROUNDS = 30  # assumption: rounds of jittering the kept draws before a wave runs with fewer points


@dataclass(frozen=True)
class Input:
    """An input of the match: a model parameter (run) or a bias of the observation model (not run)."""

    name: str
    low: float
    high: float
    source: str
    simulated: bool


@dataclass(frozen=True)
class Wave:
    """A wave's runs, its emulators and what it left of the space."""

    number: int
    folder: Path  # its sweep folder
    runs: int
    points: int
    emulators: Emulators
    ensemble_var: np.ndarray  # per output: the variance of one run's value, pooled over the wave's points
    non_implausible_fraction: float


@dataclass(frozen=True)
class Match:
    """What ``history_match`` found: the inputs, the waves, the posterior sample."""

    experiment: Experiment
    inputs: list[Input]
    observed: list[Observation]
    outputs: list[str]
    waves: list[Wave]
    posterior: pd.DataFrame  # one row per kept input set, one column per input (physical units)
    acceptance_fraction: float
    trained_until_day: int | None
    ruling: pd.DataFrame  # per observation: how much of the prior space it rules out (``ruling_table``)
    unreached: list[str]  # observations left out: some run of wave 1 ended before their day

    @property
    def total_runs(self) -> int:
        """The model runs of every wave."""
        return sum(w.runs for w in self.waves)


def match_inputs(experiment: Experiment, settings: HistoryMatching) -> list[Input]:
    """The model's bounded parameters, then the observation model's biases."""
    model = [Input(p.path, float(p.low), float(p.high), p.source, True) for p in experiment.bounded]
    biases = [Input(name, p.low, p.high, p.source, False) for name, p in settings.observation.bias_priors.items()]
    return model + biases


def to_physical(unit: np.ndarray, inputs: list[Input]) -> np.ndarray:
    """Points of the unit cube in the inputs' units."""
    low = np.array([i.low for i in inputs])
    high = np.array([i.high for i in inputs])
    return low + unit * (high - low)


def bias_values(unit: np.ndarray, inputs: list[Input]) -> dict[str, np.ndarray]:
    """The observation model's bias inputs at points of the unit cube (all inputs): name -> values."""
    physical = to_physical(unit, inputs)
    return {i.name: physical[:, j] for j, i in enumerate(inputs) if not i.simulated}


def to_unit(values: np.ndarray, inputs: list[Input]) -> np.ndarray:
    """Points in the inputs' units as points of the unit cube."""
    low = np.array([i.low for i in inputs])
    high = np.array([i.high for i in inputs])
    return (values - low) / np.where(high > low, high - low, 1.0)


def wave_outputs(runs: pd.DataFrame, found: list[Target], inputs: list[Input]) -> tuple[np.ndarray, pd.DataFrame]:
    """The wave's points (unit cube, model inputs only) and each run's outputs, with the run's point."""
    simulated = [i for i in inputs if i.simulated]
    values = output_values(runs, found)
    values.insert(0, "point", runs["point"].to_numpy())
    points = runs.groupby("point")[[i.name for i in simulated]].first().sort_index()
    return to_unit(points.to_numpy(dtype=float), simulated), values


def fit_wave(
    number: int, x_unit: np.ndarray, values: pd.DataFrame, outputs: list[str], seed: int, processes: int = 1
) -> tuple[Emulators, np.ndarray, int]:
    """A wave's emulators of the replicate means, the pooled variance of one run, and its point count.

    ``x_unit``, ``values``: the wave's points and each run's outputs (``wave_outputs``); ``processes``:
    the processes that fit them (``fit_emulators``).
    """
    grouped = values.groupby("point")[outputs]
    mean = grouped.mean().sort_index().to_numpy()
    count = grouped.count().sort_index().to_numpy()
    within = grouped.var(ddof=1).sort_index().to_numpy()
    # pooled over the points with more than one run; an output constant within every point gets a tiny floor
    ensemble_var = np.nanmean(np.where(count > 1, within, np.nan), axis=0)
    ensemble_var = np.where(np.isfinite(ensemble_var), ensemble_var, 0.0) + 1e-9
    emulators = fit_emulators(x_unit, mean, ensemble_var / count, outputs, seed=seed + number, processes=processes)
    return emulators, ensemble_var, len(mean)


def ruling_implausibility(
    unit: np.ndarray,
    inputs: list[Input],
    waves: list[tuple[Emulators, np.ndarray]],
    observed: list[Observation],
    outputs: list[str],
    settings: HistoryMatching,
) -> np.ndarray:
    """Per point of the unit cube (all inputs): the largest over the waves of its ``rank``-th largest ``I_t``.

    Each wave screens first (``wave_ruling``). A point an earlier wave ruled out is not looked at again.
    """
    simulated = [j for j, i in enumerate(inputs) if i.simulated]
    biases = bias_values(unit, inputs)
    worst = np.zeros(len(unit))
    for emulators, ensemble_var in waves:
        rows = np.flatnonzero(worst <= settings.cutoff)  # not ruled out by an earlier wave
        if rows.size == 0:
            break
        at = {k: v[rows] for k, v in biases.items()}
        low, _, _ = wave_ruling(unit[rows][:, simulated], emulators, ensemble_var, observed, outputs, at, settings)
        worst[rows] = np.maximum(worst[rows], low)
    return worst


def wave_ruling(
    x_unit: np.ndarray,
    emulators: Emulators,
    ensemble_var: np.ndarray,
    observed: list[Observation],
    outputs: list[str],
    biases: dict[str, np.ndarray],
    settings: HistoryMatching,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """One wave's ``rank``-th largest ``I_t`` at points ``x_unit`` (model inputs), and its exact predictions.

    Returns the ``I_t``, the rows it paid the exact variance for, and those rows' mean and variance.
    The emulators' bound on their variance gives a lower bound of ``I_t`` at the cost of the mean
    (``Emulators.screen``); a point ruled out even so keeps that bound (above the cut-off all the
    same), and only the others pay for the exact variance (``Emulators.predict``).
    """
    rank = min(settings.rank, len(observed))

    def rank_th(predicted: tuple[np.ndarray, np.ndarray], at: np.ndarray) -> np.ndarray:
        mean, var = predicted
        marks = implausibility(observed, outputs, mean, var, ensemble_var, {k: v[at] for k, v in biases.items()})
        return np.sort(marks, axis=1)[:, -rank]

    screened = emulators.screen(x_unit)
    low = rank_th(screened, np.arange(len(x_unit)))
    exact = np.flatnonzero(low <= settings.cutoff)
    if exact.size == 0:
        return low, exact, (screened[0][:0], screened[1][:0])
    predicted = emulators.predict(x_unit[exact])
    low[exact] = rank_th(predicted, exact)
    return low, exact, predicted


def not_ruled_out(
    unit: np.ndarray,
    inputs: list[Input],
    waves: list[tuple[Emulators, np.ndarray]],
    observed: list[Observation],
    outputs: list[str],
    settings: HistoryMatching,
) -> np.ndarray:
    """Whether each point of the unit cube passes every wave's emulators (``ruling_implausibility`` <= cutoff)."""
    return ruling_implausibility(unit, inputs, waves, observed, outputs, settings) <= settings.cutoff


def next_points(rng: np.random.Generator, kept: np.ndarray, count: int, passes: Callable) -> np.ndarray:
    """``count`` points of the NROY space (unit cube): the kept draws, topped up by jittering them.

    ``passes(points)``: whether each point is not ruled out.
    """
    pool = kept
    for _ in range(JITTER_ROUNDS):
        if len(pool) >= count or len(pool) == 0:
            break
        spread = np.maximum(pool.std(axis=0) / 2, 0.01)
        jitter = rng.normal(0, spread, (4 * count, pool.shape[1]))
        trial = np.clip(pool[rng.integers(len(pool), size=4 * count)] + jitter, 0, 1)
        pool = np.concatenate([pool, trial[passes(trial)]])
    return pool[rng.choice(len(pool), size=min(count, len(pool)), replace=False)]


def run_wave(
    experiment: Experiment, folder: Path, *, workers: int | None, cluster: str | None, quiet: bool
) -> pd.DataFrame:
    """Sweep one wave's experiment into ``folder`` (resumable); its runs."""
    if sweep(experiment, folder, workers=workers, cluster=cluster, quiet=quiet):
        raise RunFailedError(f"{folder}: some runs of the wave failed; see 'qusayr status {folder}'")
    return read_runs(folder)


def wave_experiment(experiment: Experiment, number: int, points: list[dict[str, float]]) -> Experiment:
    """The experiment of a later wave: the same runs per point, at the given points, with the wave's seeds."""
    return experiment.model_copy(
        update={
            "name": f"{experiment.name}-wave-{number}",
            "design": "given",
            "given": points,
            "points": len(points),
            "master_seed": experiment.master_seed + number,
            "history_matching": None,
        }
    )


def saved_points(folder: Path, make: Callable[[], list[dict[str, float]]]) -> list[dict[str, float]]:
    """A wave's points from ``folder`` (an interrupted match), else made by ``make()`` and saved first."""
    path = folder / POINTS_FILE
    if path.exists():
        return json.loads(path.read_text())
    points = make()
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes(path, json.dumps(points).encode())
    return points


def log_posterior(
    unit: np.ndarray,
    inputs: list[Input],
    waves: list[tuple[Emulators, np.ndarray]],
    observed: list[Observation],
    outputs: list[str],
    settings: HistoryMatching,
    within_nroy: bool,
) -> np.ndarray:
    """``log p(x)`` up to a constant at each row of the unit cube (all inputs), on the last wave's emulators.

    The log-likelihood; ``-inf`` outside the cube and, ``within_nroy``, outside the space not ruled out (the last wave's
    ruling lends its exact predictions to the likelihood).
    """
    simulated = [j for j, i in enumerate(inputs) if i.simulated]
    emulators, ensemble_var = waves[-1]
    out = np.full(len(unit), -np.inf)
    rows = np.flatnonzero(((unit >= 0) & (unit <= 1)).all(axis=1))
    if within_nroy and rows.size:
        rows = rows[not_ruled_out(unit[rows], inputs, waves[:-1], observed, outputs, settings)]
    if rows.size == 0:
        return out
    biases = bias_values(unit[rows], inputs)
    if within_nroy:
        low, exact, (mean, var) = wave_ruling(
            unit[rows][:, simulated], emulators, ensemble_var, observed, outputs, biases, settings
        )
        kept = low[exact] <= settings.cutoff
        rows, mean, var = rows[exact[kept]], mean[kept], var[kept]
        biases = {k: v[exact[kept]] for k, v in biases.items()}
    else:
        mean, var = emulators.predict(unit[rows][:, simulated])
    if rows.size:
        out[rows] = log_likelihood(observed, outputs, mean, var, ensemble_var, biases)
    return out


_held: tuple = ()  # in a process of ChunkedRows: its function and the arguments after the rows


def _hold(held: tuple) -> None:
    """A ``ChunkedRows`` process's start: keep the function and its arguments."""
    global _held  # a process's own copy, set once when it starts
    _held = held


def _call_held(unit: np.ndarray) -> np.ndarray:
    function, arguments = _held
    return function(unit, *arguments)


class ChunkedRows:
    """``function(unit, *arguments)`` of a batch of rows, as ``ROW_CHUNKS`` chunks of rows, each in a process.

    For the emulators' rulings and the posterior's density (``not_ruled_out``, ``log_posterior``): their
    predictions cost ``k n^2`` per output (``Emulators.predict``) on one core each. With ``processes``
    > 1 the chunks go to that many spawned processes, holding the function's arguments (the emulators)
    from their start; ``close`` (or the end of a ``with``) ends them. The rows are split the same way
    with one process, so the numbers (a matrix product's last bits depend on its rows) do not depend
    on ``processes``.
    """

    def __init__(self, function: Callable, arguments: tuple, processes: int) -> None:
        self.function = function
        self.arguments = arguments
        self.pool = None
        if processes > 1:
            self.pool = child_pool(min(processes, ROW_CHUNKS), _hold, ((function, arguments),))

    def __call__(self, unit: np.ndarray) -> np.ndarray:
        """``function`` at each row of ``unit``."""
        chunks = np.array_split(unit, ROW_CHUNKS)
        if self.pool is None:
            return np.concatenate([self.function(chunk, *self.arguments) for chunk in chunks])
        return np.concatenate(list(self.pool.map(_call_held, chunks)))

    def close(self) -> None:
        """End the processes."""
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def __enter__(self) -> ChunkedRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def analysis_processes(workers: int | None) -> int:
    """The processes that fit a match's emulators and evaluate its density: ``--workers``, at most the cores.

    ``None``: the cores.
    """
    cores = usable_cores()
    return max(1, cores if workers is None else min(cores, workers))


def sample_posterior(
    rng: np.random.Generator,
    start: np.ndarray,
    inputs: list[Input],
    waves: list[tuple[Emulators, np.ndarray]],
    observed: list[Observation],
    outputs: list[str],
    settings: HistoryMatching,
    within_nroy: bool,
    processes: int = 1,
) -> tuple[np.ndarray, float]:
    """The posterior by emcee on the last wave's emulators: kept points (unit cube) and the acceptance.

    ``within_nroy``: zero outside the space not ruled out (when the waves left none: the likelihood alone).
    ``processes``: how many processes evaluate the density (``ChunkedRows``); the same sample either way.
    """
    import emcee

    p = settings.posterior
    walkers = max(p.walkers, 2 * len(inputs) + 2)
    initial = start[rng.choice(len(start), size=walkers, replace=len(start) < walkers)]
    if within_nroy:  # a little apart, but still inside
        nudged = np.clip(initial + rng.normal(0, 1e-4, initial.shape), 0, 1)
        inside = not_ruled_out(nudged, inputs, waves, observed, outputs, settings)
        initial[inside] = nudged[inside]
    # emcee draws from numpy's legacy RandomState: seeded from the match's generator
    state = np.random.RandomState(int(rng.integers(2**32))).get_state()
    used = waves if within_nroy else waves[-1:]  # without the ruling, only the last wave's emulators
    with ChunkedRows(log_posterior, (inputs, used, observed, outputs, settings, within_nroy), processes) as density:
        sampler = emcee.EnsembleSampler(walkers, len(inputs), density, vectorize=True)
        sampler.random_state = state
        sampler.run_mcmc(initial, p.steps, progress=False)
    chain = sampler.get_chain(discard=p.burn, flat=True)
    kept = chain[np.linspace(0, len(chain) - 1, min(p.samples, len(chain))).astype(int)]
    return kept, float(np.mean(sampler.acceptance_fraction))


def history_match(
    experiment_name: str | Path,
    out: Path,
    *,
    train_until: int | None = None,
    first_wave: Path | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    quiet: bool = False,
) -> Match:
    """Waves of runs into ``out/wave-<k>`` until the NROY space stops shrinking, then the posterior.

    ``train_until``: only the record's targets dated on or before that day are matched (a
    forecast's fit). ``first_wave``: a folder holding wave 1 already (the same experiment's), shared
    between fits to different targets since its design does not depend on them.
    """
    experiment = load_experiment(experiment_name)
    settings = experiment.history_matching
    if settings is None:
        raise ExperimentError(f"{experiment_name}: history_matching: missing (the settings of qusayr match)")
    found = targets(load_record(), load_scenario(experiment.scenario, experiment.set), train_until)
    observed = observations(found, settings.observation)
    outputs = list(dict.fromkeys(o.output for o in observed))
    inputs = match_inputs(experiment, settings)
    simulated = [i for i in inputs if i.simulated]
    columns = [j for j, i in enumerate(inputs) if i.simulated]
    # one generator per use, so that a resumed match draws what an uninterrupted one does
    candidates = np.random.default_rng([experiment.master_seed, 0]).random((settings.candidates, len(inputs)))
    waves: list[Wave] = []
    fitted: list[tuple[Emulators, np.ndarray]] = []
    kept = candidates
    processes = analysis_processes(workers)
    ruler: ChunkedRows | None = None  # rules by the waves fitted so far (not_ruled_out), in its processes

    def wave_points(rng: np.random.Generator, kept: np.ndarray, passes: ChunkedRows) -> list[dict[str, float]]:
        chosen = to_physical(next_points(rng, kept, settings.wave_points, passes)[:, columns], simulated)
        return [{i.name: float(v) for i, v in zip(simulated, row, strict=True)} for row in chosen]

    try:
        for number in range(1, settings.max_waves + 1):
            if number == 1:
                folder = first_wave or out / "wave-1"
                wave_run = experiment.model_copy(update={"history_matching": None})
            else:
                folder = out / f"wave-{number}"
                rng = np.random.default_rng([experiment.master_seed, number])
                points = saved_points(folder, lambda rng=rng, kept=kept, ruler=ruler: wave_points(rng, kept, ruler))
                ruler.close()  # its processes would idle through the wave's runs, holding every wave's emulators
                wave_run = wave_experiment(experiment, number, points)
            runs = run_wave(wave_run, folder, workers=workers, cluster=cluster, quiet=quiet)
            x_unit, values = wave_outputs(runs, found, inputs)
            if number == 1:  # outputs some run does not have (a day past its end) cannot be emulated
                reached = set(values.columns[values.notna().all()])
                unreached = [o.id for o in observed if o.output not in reached]
                observed = [o for o in observed if o.output in reached]
                outputs = [name for name in outputs if name in reached]
            emulators, ensemble_var, n_points = fit_wave(
                number, x_unit, values, outputs, experiment.master_seed, processes
            )
            fitted.append((emulators, ensemble_var))
            ruler = ChunkedRows(not_ruled_out, (inputs, list(fitted), observed, outputs, settings), processes)
            passed = ruler(candidates)
            fraction = float(passed.mean())
            previous = waves[-1].non_implausible_fraction if waves else 1.0
            waves.append(Wave(number, folder, len(runs), n_points, emulators, ensemble_var, fraction))
            if not quiet:
                print(
                    f"match: wave {number}: {len(runs)} runs, non-implausible fraction {fraction:.4g}", file=sys.stderr
                )
            kept = candidates[passed]
            if len(kept) == 0 or (number >= settings.min_waves and fraction > settings.stop_shrink * previous):
                break
    finally:
        if ruler is not None:
            ruler.close()
    within_nroy = len(kept) > 0
    if not within_nroy:  # nothing left: the posterior from the likelihood alone, started at the least implausible
        worst = ruling_implausibility(candidates, inputs, fitted, observed, outputs, settings)
        kept = candidates[np.argsort(worst)[: settings.posterior.walkers]]
    rng = np.random.default_rng([experiment.master_seed, settings.max_waves + 1])
    unit, acceptance = sample_posterior(rng, kept, inputs, fitted, observed, outputs, settings, within_nroy, processes)
    posterior = pd.DataFrame(to_physical(unit, inputs), columns=[i.name for i in inputs])
    ruling = ruling_table(candidates, unit, inputs, fitted[-1], observed, outputs, settings.cutoff)
    return Match(experiment, inputs, observed, outputs, waves, posterior, acceptance, train_until, ruling, unreached)


def ruling_table(
    candidates: np.ndarray,
    posterior: np.ndarray,
    inputs: list[Input],
    wave: tuple[Emulators, np.ndarray],
    observed: list[Observation],
    outputs: list[str],
    cutoff: float,
) -> pd.DataFrame:
    """Per observation, on the last wave's emulators: what it rules out, and how far the posterior meets it.

    The share of the prior draws it alone rules out, its smallest implausibility over them, and its
    median implausibility over the posterior sample.
    """
    simulated = [j for j, i in enumerate(inputs) if i.simulated]
    emulators, ensemble_var = wave
    marks = {}
    prior = candidates[:RULING_DRAWS]  # the exact variance costs n^2 a point and output: a sample is enough
    for name, unit in (("prior", prior), ("posterior", posterior)):
        biases = bias_values(unit, inputs)
        mean, var = emulators.predict(unit[:, simulated])
        marks[name] = implausibility(observed, outputs, mean, var, ensemble_var, biases)
    return pd.DataFrame(
        {
            "id": [o.id for o in observed],
            "kind": [o.kind for o in observed],
            "lean": [o.lean for o in observed],
            "day": [o.day for o in observed],
            "ruled_out_share": (marks["prior"] > cutoff).mean(axis=0),
            "smallest_implausibility": marks["prior"].min(axis=0),
            "posterior_implausibility": np.median(marks["posterior"], axis=0),
        }
    )


def calibration_json(match: Match) -> dict[str, Any]:
    """The contract of ``calibration.json`` (docs/methods.md, section 6)."""
    settings = match.experiment.history_matching
    return {
        "method": METHOD,
        "experiment": match.experiment.name,
        "trained_until_day": match.trained_until_day,
        "inputs": [
            {"name": i.name, "low": i.low, "high": i.high, "source": i.source, "simulated": i.simulated}
            for i in match.inputs
        ],
        "waves": [
            {
                "wave": w.number,
                "runs": w.runs,
                "points": w.points,
                "non_implausible_fraction": w.non_implausible_fraction,
            }
            for w in match.waves
        ],
        "total_runs": match.total_runs,
        "cutoff": settings.cutoff,
        "rank": settings.rank,
        "observation_model": {
            "claim": "report = truth + bias(lean) + noise; neutral sources unbiased (sim/analysis/observation.py)",
            **settings.observation.model_dump(mode="json"),
            "observations": len(match.observed),
            "outputs": len(match.outputs),
        },
        "posterior": {
            "samples": len(match.posterior),
            "walkers": settings.posterior.walkers,
            "steps": settings.posterior.steps,
            "burn": settings.posterior.burn,
            "acceptance_fraction": match.acceptance_fraction,
        },
    }
