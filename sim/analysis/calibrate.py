"""Calibration: fit a few free parameters (at most ~9) of a scenario to the record.

Three stages on the replicate-averaged loss (``sim.analysis.fit``), then a check: **screen**
(history matching: a point's implausibility is the second-largest distance of its replicate means
to the fitted targets; the plausible points span the refinement's box), **refine** (Optuna's TPE
in that box on common seeds, resumable from its journal), **confirm** (the best trials again on
fresh common seeds, against the winner's curse; the scenario's own values are kept unless beaten
by more than two standard errors of the paired difference) and **check** (fresh runs of the fitted
values, scored; with ``train_until`` also on the later targets, as a prediction). Each stage is a
function; ``calibrate`` runs them in turn and returns a ``CalibrationResult``, which
``sim.analysis.reports.calibration`` renders.

Methods: docs/methods.md, sections 6 (calibration) and 7 (the out-of-sample check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.fit import HUBER_KNEE, Fit, fit, run_losses
from sim.analysis.targets import NEVER_DAY, NOT_FITTED_WHY, SHARE_SCALE, Target, event_days, targets
from sim.outputs import read_runs
from sim.record import Record, town_event
from sim.scenario import load_scenario
from sim.sweeps.ensemble import run_ensemble
from sim.sweeps.experiment import Calibration, Experiment, ExperimentError, load_experiment, override_text
from sim.sweeps.failures import RunFailedError
from sim.sweeps.runner import evaluate, evaluate_on, make_executor, sweep
from sim.sweeps.seeds import CHECK_MASTER_SEED_OFFSET, Stream, common_seeds

SCREEN_DIR = "screen"
CHECK_DIR = "check"
JOURNAL = "refine.journal"
INCUMBENT_POINT = -1  # the scenario's own values' row among the screen's points
BEST_SHARE_WHEN_NONE_PLAUSIBLE = 0.25  # assumption: a quarter keeps the box from collapsing onto one lucky point
# the record's ~15 share and event claims identify ~6 parameters; its 30 spatial claims ~3 more (the deployment)
MAX_FREE_PARAMETERS = 9


def implausibility(runs: pd.DataFrame, found: list[Target], parameters: list[str]) -> pd.DataFrame:
    """Per design point: its parameters, mean loss, standard error and implausibility."""
    runs = runs.assign(loss=run_losses(runs, found))
    rows = []
    for point, group in runs.groupby("point"):
        distances = []
        for target in found:
            if target.fitted and all(c in group for c in target.columns):  # one not fitted rules nothing out
                values = target.values(group)
                if target.in_days:  # as in the loss: an event that never happens counts as NEVER_DAY
                    values = event_days(values)
                mean = np.nanmean(values) if not np.isnan(values).all() else np.nan
                distances.append(float(target.distance(np.array([mean]))[0]))
        ordered = sorted(distances, reverse=True)
        rows.append(
            {
                "point": point,
                **{p: group[p].iloc[0] for p in parameters},
                "loss": group["loss"].mean(),
                "loss_se": _standard_error(group["loss"].to_numpy()),
                "implausibility": ordered[1] if len(ordered) > 1 else (ordered[0] if ordered else 0.0),
            }
        )
    return pd.DataFrame(rows)


def plausible_box(points: pd.DataFrame, experiment: Experiment, cutoff: float) -> tuple[dict[str, tuple], bool]:
    """Per parameter, the plausible points' bounds (or the best quarter's) widened by a design level; any plausible.

    The scenario's own values (point ``INCUMBENT_POINT``) widen the box when plausible, but neither the
    design's levels nor the best quarter count them.
    """
    kept = points[points["implausibility"] <= cutoff]
    any_plausible = not kept.empty
    design = points[points["point"] != INCUMBENT_POINT]
    if kept.empty:
        kept = design.nsmallest(max(2, math.ceil(len(design) * BEST_SHARE_WHEN_NONE_PLAUSIBLE)), "loss")
    box = {}
    for p in experiment.bounded:
        # one level of the screen's design on each side (levels: the parameter's distinct values, so a
        # grid's are its own): the screen cannot tell the plausible region's edge more finely than
        # that, and a box spanned by two points alone is too narrow to search
        margin = (p.high - p.low) / max(design[p.path].nunique() - 1, 1)
        low, high = float(kept[p.path].min()) - margin, float(kept[p.path].max()) + margin
        box[p.path] = (max(p.low, low), min(p.high, high), p.integer)
    return box, any_plausible


def incumbent_values(experiment: Experiment) -> dict[str, float]:
    """The scenario's values (with the experiment's ``set``) of the free parameters."""
    scenario = load_scenario(experiment.scenario, experiment.set)
    values = {}
    for p in experiment.bounded:
        node: Any = scenario
        for key in p.path.split("."):
            node = node[int(key)] if isinstance(node, list) else getattr(node, key)
        values[p.path] = int(node) if p.integer else float(node)
    return values


def screen_incumbent(
    experiment: Experiment,
    incumbent: dict[str, float],
    found: list[Target],
    *,
    workers: int | None,
    cluster: str | None,
) -> pd.DataFrame:
    """The scenario's own values run like a screen point (``replicates`` seeds of their own): one row of points."""
    seeds = common_seeds(experiment.master_seed, Stream.SCENARIO_VALUES, experiment.replicates)
    outcomes = evaluate(experiment.scenario, experiment.set, [incumbent], seeds, workers=workers, cluster=cluster)
    return implausibility(outcomes.assign(point=INCUMBENT_POINT), found, list(incumbent))


def refine(
    experiment: Experiment,
    settings: Calibration,
    box: dict[str, tuple],
    found: list[Target],
    folder: Path,
    *,
    workers: int | None,
    cluster: str | None,
    quiet: bool,
    first: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Optuna TPE over ``box``, ``first`` (if given) its first trial; every trial's parameters and losses."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    study = optuna.create_study(study_name=experiment.name, storage=storage, load_if_exists=True, direction="minimize")
    # the targets with their intervals and weights: a change to the comparison makes a new study
    scored = [
        f"{t.id} {t.kind} {' - '.join(t.columns)} [{t.low!r}, {t.high!r}] weight {t.weight!r} log {t.log_scale}"
        for t in found
    ]
    scales = {"huber_knee": HUBER_KNEE, "share_scale": SHARE_SCALE, "never_day": NEVER_DAY}
    identity = {"targets": scored, "scales": scales, "box": {k: list(v) for k, v in box.items()}, "first": first}
    if not study.user_attrs:
        for key, value in identity.items():
            study.set_user_attr(key, value)
    elif {key: study.user_attrs.get(key) for key in identity} != identity:
        raise ExperimentError(
            f"{folder}: holds a calibration fitted to other targets, in another box or from other scenario values; "
            "use a new --out folder"
        )
    # seeded afresh on each resume (offset by the trials so far, so the startup trials do not repeat)
    study.sampler = optuna.samplers.TPESampler(seed=experiment.master_seed + len(study.trials), n_startup_trials=8)
    for trial in study.trials:  # trials left running by an interrupted calibration fail; new ones replace them
        if trial.state == optuna.trial.TrialState.RUNNING:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    # the scenario's values are the first trial, asked again if an interruption or a failure lost it
    alive = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.WAITING)
    if first is not None and not any(t.user_attrs.get("scenario_values") and t.state in alive for t in study.trials):
        study.enqueue_trial(first, user_attrs={"scenario_values": True})
    seeds = common_seeds(experiment.master_seed, Stream.REFINE, settings.refine.replicates)
    executor, slots, shutdown = make_executor(workers, cluster)
    try:
        while True:
            done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
            if done >= settings.refine.trials:
                break
            trials, points = [], []
            for _ in range(min(settings.refine.parallel, settings.refine.trials - done)):
                trial = study.ask()  # each trial sampled before the next is asked for, as Optuna expects
                trials.append(trial)
                points.append(
                    {
                        path: (
                            trial.suggest_int(path, int(low), int(high))
                            if integer
                            else trial.suggest_float(path, low, high)
                        )
                        for path, (low, high, integer) in box.items()
                    }
                )
            outcomes = evaluate_on(executor, slots, experiment.scenario, experiment.set, points, seeds)
            for point, trial in enumerate(trials):
                losses = _point_losses(experiment, outcomes, point, found)
                trial.set_user_attr("replicate_losses", [float(x) for x in losses])
                study.tell(trial, float(losses.mean()))
                if not quiet:
                    print(f"calibrate: trial {trial.number}: loss {losses.mean():.3f}", flush=True)
    finally:
        shutdown()
    rows = []
    for trial in study.trials:
        if trial.state == optuna.trial.TrialState.COMPLETE:
            se = _standard_error(trial.user_attrs["replicate_losses"])
            rows.append(
                {
                    "trial": trial.number,
                    **trial.params,
                    "loss": trial.value,
                    "loss_se": se,
                    "scenario_values": bool(trial.user_attrs.get("scenario_values", False)),
                }
            )
    return pd.DataFrame(rows)


def _point_losses(experiment: Experiment, outcomes: pd.DataFrame, point: int, found: list[Target]) -> np.ndarray:
    """The loss of each replicate run of one parameter set of ``evaluate_on``'s outcomes."""
    losses = run_losses(outcomes[outcomes["point"] == point], found)
    if not np.isfinite(losses).all():
        raise ExperimentError(f"{experiment.name}: the runs give no loss (an outcome the targets need is missing)")
    return losses


def _standard_error(losses) -> float:
    """Standard error of the mean of replicate losses (NaN for a single replicate)."""
    return float(np.std(losses, ddof=1) / math.sqrt(len(losses))) if len(losses) > 1 else float("nan")


def confirm(
    experiment: Experiment,
    settings: Calibration,
    trials: pd.DataFrame,
    found: list[Target],
    parameters: list[str],
    *,
    workers: int | None,
    cluster: str | None,
    also: int | None = None,
) -> pd.DataFrame:
    """The ``confirm_top`` best trials, and trial ``also``, run on ``confirm_replicates`` fresh common seeds."""
    best = trials.nsmallest(settings.refine.confirm_top, "loss")
    if also is not None and also not in set(best["trial"]):
        best = pd.concat([best, trials[trials["trial"] == also]])
    integer = {p.path for p in experiment.bounded if p.integer}
    points = [{p: int(row[p]) if p in integer else float(row[p]) for p in parameters} for _, row in best.iterrows()]
    seeds = common_seeds(experiment.master_seed, Stream.CONFIRM, settings.refine.confirm_replicates)
    outcomes = evaluate(experiment.scenario, experiment.set, points, seeds, workers=workers, cluster=cluster)
    losses = [_point_losses(experiment, outcomes, point, found) for point in range(len(points))]
    # the scenario's values' losses on the same seeds: a candidate's paired difference from them
    own = losses[list(best["trial"]).index(also)] if also is not None else None
    rows = []
    for point, (_, row) in enumerate(best.iterrows()):
        rows.append(
            {
                "trial": int(row["trial"]),
                **points[point],
                "refine_loss": row["loss"],
                "loss": losses[point].mean(),
                "loss_se": _standard_error(losses[point]),
                "vs_scenario_se": _standard_error(losses[point] - own) if own is not None else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def chosen_trial(confirmed: pd.DataFrame, scenario_trial: int | None) -> int:
    """The confirmed best, unless the scenario's own values are within two standard errors of it.

    The standard error is the paired difference's over the confirmation's common seeds: a refit
    replaces the scenario's values only when it does better on the same runs by more than their noise.
    """
    best = confirmed.loc[confirmed["loss"].idxmin()]
    if scenario_trial is None or best["trial"] == scenario_trial:
        return int(best["trial"])
    own = confirmed.loc[confirmed["trial"] == scenario_trial, "loss"].iloc[0]
    # with one seed the difference has no standard error: nothing shows the refit to be better
    better = own - best["loss"] > 2 * best["vs_scenario_se"]
    return int(best["trial"]) if better else scenario_trial


def fitted_values(
    trials: pd.DataFrame, confirmed: pd.DataFrame, parameters: list[str], chosen_trial: int | None = None
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The chosen trial's values (the confirmed best by default), and the range of the trials near the best."""
    if chosen_trial is None:
        chosen_trial = int(confirmed.loc[confirmed["loss"].idxmin(), "trial"])
    chosen = confirmed.loc[confirmed["trial"] == chosen_trial].iloc[0]
    best = trials.loc[trials["loss"].idxmin()]
    threshold = best["loss"] + 2 * (best["loss_se"] if not math.isnan(best["loss_se"]) else 0.0)
    near = trials[(trials["loss"] <= threshold) | (trials["trial"] == chosen["trial"])]
    values = {p: float(chosen[p]) for p in parameters}
    uncertainty = {
        p: {"low": float(near[p].min()), "high": float(near[p].max()), "trials": len(near)} for p in parameters
    }
    return values, uncertainty


@dataclass
class Screen:
    """The screen's points (the design's, and the scenario's own values as ``INCUMBENT_POINT``) and the box."""

    points: pd.DataFrame  # per point: its parameters, loss, loss_se and implausibility
    scenario_values: dict[str, float] | None  # None for a fit to part of the record (they saw the rest)
    in_bounds: bool  # whether the scenario's values lie within the experiment's bounds (and so take part)
    box: dict[str, tuple]  # parameter -> (low, high, integer): where the refinement searches
    any_plausible: bool  # False: the box is the best quarter's

    @property
    def candidate(self) -> dict[str, float] | None:
        """The scenario's values when they take part."""
        return self.scenario_values if self.in_bounds else None


@dataclass
class CheckRuns:
    """Fresh runs of the fitted values, scored on the fitted targets and (``--train-until``) the later ones."""

    runs: pd.DataFrame
    overrides: list[str]
    fit_fitted: Fit
    fit_later: Fit | None
    fall_day_median: float  # a run that did not fall counts as NEVER_DAY
    fell_share: float


@dataclass
class CalibrationResult:
    """Every stage of a calibration, and the fitted values."""

    experiment: Experiment
    settings: Calibration
    train_until: int | None
    targets: list[Target]  # those the calibration fits to (some scored but not fitted)
    screen: Screen
    trials: pd.DataFrame  # the refinement's completed trials
    scenario_trial: int | None  # the refinement's trial of the scenario's own values
    confirmed: pd.DataFrame
    chosen: int  # the confirmed trial whose values are kept
    values: dict[str, float]
    uncertainty: dict[str, dict[str, float]]
    check: CheckRuns
    record_fall_day: int  # the record's day of the fall, which the check's median fall day is set against


def calibration_targets(experiment: Experiment, record: Record, train_until: int | None, name: str) -> list[Target]:
    """The targets a calibration fits: the record's (up to ``train_until``; the experiment's choice).

    Raises:
        ExperimentError: an experiment calibration cannot fit (naming the file ``name`` and the field).

    """
    if not experiment.bounded or experiment.listed:
        raise ExperimentError(f"{name}: parameters: calibration needs bounded parameters only (low/high)")
    if len(experiment.bounded) > MAX_FREE_PARAMETERS:
        raise ExperimentError(
            f"{name}: parameters: {len(experiment.bounded)} free parameters; the record's ~15 claims "
            f"and spatial claims identify at most ~{MAX_FREE_PARAMETERS}"
        )
    settings = experiment.calibration or Calibration()
    scenario = load_scenario(experiment.scenario, experiment.set)
    found = targets(record, scenario, until_day=train_until)
    if settings.targets is not None:
        unknown = sorted(set(settings.targets) - {t.id for t in found})
        if unknown:
            raise ExperimentError(
                f"{name}: calibration.targets: no such target{' before the cut' if train_until else ''}: "
                f"{', '.join(unknown)} (the targets: qusayr validate's table)"
            )
        found = [t for t in found if t.id in settings.targets]
    if not found:
        raise ExperimentError(f"{name}: --train-until {train_until}: no target of the record is that early")
    if not any(t.fitted for t in found):
        raise ExperimentError(
            f"{name}: calibration.targets / --train-until: the targets left are all scored but not fitted "
            f"({NOT_FITTED_WHY}); choose others"
        )
    days = (scenario.time.end - scenario.time.start).total_seconds() / 86400
    beyond = [t.id for t in found if t.fitted and t.per_day and t.day + 1 > days]
    if beyond:
        raise ExperimentError(
            f"{name}: scenario: its {days:g} days end before the days of {', '.join(beyond)}; "
            "fit with --train-until, or run the scenario longer"
        )
    return found


def screen(
    experiment: Experiment,
    settings: Calibration,
    found: list[Target],
    folder: Path,
    *,
    with_scenario_values: bool,
    workers: int | None,
    cluster: str | None,
    quiet: bool,
) -> Screen:
    """Stage 1: the design swept into ``folder`` (resumable), each point's implausibility, the refinement box."""
    # the screen's identity leaves out the calibration settings, so they can change between runs
    screen_experiment = experiment.model_copy(update={"calibration": None})
    if sweep(screen_experiment, folder, workers=workers, cluster=cluster, quiet=quiet):
        raise RunFailedError(f"{folder}: some screen runs failed; see 'qusayr status {folder}'")
    parameters = [p.path for p in experiment.bounded]
    points = implausibility(read_runs(folder), found, parameters)
    own = incumbent_values(experiment) if with_scenario_values else None
    in_bounds = own is not None and all(p.low <= own[p.path] <= p.high for p in experiment.bounded)
    if in_bounds:
        points = pd.concat(
            [points, screen_incumbent(experiment, own, found, workers=workers, cluster=cluster)], ignore_index=True
        )
    box, any_plausible = plausible_box(points, experiment, settings.implausibility)
    return Screen(points, own, in_bounds, box, any_plausible)


def check(
    experiment: Experiment,
    settings: Calibration,
    values: dict[str, float],
    found: list[Target],
    later: list[Target],
    folder: Path,
    *,
    workers: int | None,
    cluster: str | None,
    quiet: bool,
) -> CheckRuns:
    """Stage 4: ``check_runs`` fresh runs of the fitted values (an ensemble in ``folder``), scored."""
    overrides = [*experiment.set, *(override_text(k, v) for k, v in values.items())]
    runs, _ = run_ensemble(
        experiment.scenario,
        overrides,
        settings.check_runs,
        folder,
        master_seed=experiment.master_seed + CHECK_MASTER_SEED_OFFSET,
        workers=workers,
        cluster=cluster,
        quiet=quiet,
    )
    fall = pd.to_numeric(runs["fall_day"], errors="coerce")
    return CheckRuns(
        runs=runs,
        overrides=overrides,
        fit_fitted=fit(runs, found),
        fit_later=fit(runs, later) if later else None,
        fall_day_median=float(np.median(event_days(fall))),
        fell_share=float(fall.notna().mean()),
    )


def calibrate(
    experiment_name: str | Path,
    out: Path,
    *,
    record: Record,
    train_until: int | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    quiet: bool = False,
) -> CalibrationResult:
    """Screen, refine, confirm and check (their runs and the refinement's journal kept in ``out``)."""
    experiment = load_experiment(experiment_name)
    found = calibration_targets(experiment, record, train_until, str(experiment_name))
    settings = experiment.calibration or Calibration()
    scenario = load_scenario(experiment.scenario, experiment.set)
    parameters = [p.path for p in experiment.bounded]
    out.mkdir(parents=True, exist_ok=True)
    engine = {"workers": workers, "cluster": cluster}

    # the fit being replaced is a candidate too, unless the fit is to part of the record (it saw the rest)
    screened = screen(
        experiment, settings, found, out / SCREEN_DIR, with_scenario_values=train_until is None, quiet=quiet, **engine
    )
    incumbent = screened.candidate
    inside = incumbent is not None and all(lo <= incumbent[k] <= hi for k, (lo, hi, _) in screened.box.items())
    trials = refine(
        experiment, settings, screened.box, found, out, quiet=quiet, first=incumbent if inside else None, **engine
    )
    enqueued = trials.loc[trials["scenario_values"], "trial"]
    also = int(enqueued.iloc[0]) if not enqueued.empty else None
    confirmed = confirm(experiment, settings, trials, found, parameters, also=also, **engine)
    chosen = chosen_trial(confirmed, also)
    values, uncertainty = fitted_values(trials, confirmed, parameters, chosen)
    later = [t for t in targets(record, scenario) if train_until is not None and t.day > train_until]
    checked = check(experiment, settings, values, found, later, out / CHECK_DIR, quiet=quiet, **engine)
    return CalibrationResult(
        experiment=experiment,
        settings=settings,
        train_until=train_until,
        targets=found,
        screen=screened,
        trials=trials,
        scenario_trial=also,
        confirmed=confirmed,
        chosen=chosen,
        values=values,
        uncertainty=uncertainty,
        check=checked,
        record_fall_day=town_event(record, "fall").day,
    )
