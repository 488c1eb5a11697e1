"""Calibration: fit a few free parameters (at most ~6) of a scenario to the record.

Three stages, all on replicate-averaged loss (``sim.compare``: the weighted mean of the Huber
penalties of the distances to the record's intervals, averaged over a parameter set's runs):

1. **Screen** (history matching): the experiment's space-filling design, each point replicated, run
   as a sweep (resumable). A point's implausibility is the second-largest distance between its
   replicate-mean outcomes and the fitted targets (distances are already in units of each target's
   tolerance; the second largest so one odd claim cannot rule out a point; a target scored but not
   fitted, of weight 0, none). Points at or below the
   experiment's ``implausibility`` cut-off are plausible; the refinement searches the box they span
   (the best quarter of the points when none is plausible), widened on each side by one level of the
   screen's design (the parameter's range / (its distinct values - 1)) and clipped to the bounds.
2. **Refine**: Optuna's TPE sampler (seeded) over that box, each trial run on the same
   ``replicates`` seeds (common random numbers, so trials differ by their parameters, not their
   luck), ``parallel`` trials at a time on the sweep executor. Trials are kept in an Optuna journal
   file, so an interrupted calibration resumes.
3. **Confirm**: the ``confirm_top`` best trials are run again on ``confirm_replicates`` fresh common
   seeds. With few replicates per trial the best of many trials is partly the luckiest (the
   winner's curse: a best loss of 0.21 on 4 seeds scored 0.89 on 20 fresh ones); choosing on more
   seeds among a few candidates removes most of that luck.

The scenario's own values of the free parameters (the fit being replaced) take part as one more
candidate: they join the screen (as point -1, on seeds of their own), and, when they fall inside the
refinement box, are its first trial and are always confirmed, so a refit is judged against the fit
it would replace on the same fresh seeds instead of only against what its screen happened to hit
(with 33 points in six dimensions the screen often keeps one or two). A fit with ``train_until``
leaves them out: they were fitted to the whole record, the later part included.

The fitted values are the confirmed best's, unless the scenario's own values do worse than it by
no more than two standard errors of the paired difference over the confirmation's seeds: then they
are kept (a refit replaces a fit only when it is better beyond the noise, so a refit of an
unchanged model gives back its values unless it finds clearly better ones). Their uncertainty: the
range of the refinement's trials whose loss is within two standard errors (over the best trial's
replicates) of the best, widened to take in the fitted values. The confirmation is not kept between
runs: a resumed calibration runs it again (the same seeds, so the same choice). With
``train_until`` only targets dated on or before that day are fitted; the report then scores the
later targets, and the fall day, of ``check_runs`` fresh runs of the fitted values as a prediction.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.compare import HUBER_KNEE, NEVER_DAY, NOT_FITTED_WHY, SHARE_SCALE, Target, fit, run_losses, targets
from sim.output import save_figure, write_text
from sim.record import Record
from sim.scenario import load_scenario
from sim.sweeps.experiment import (
    Calibration,
    Experiment,
    ExperimentError,
    common_seeds,
    load_experiment,
    override_text,
)
from sim.sweeps.runner import RUNS_TABLE, RunFailedError, evaluate, evaluate_on, make_executor, sweep
from sim.validate import run_ensemble

SCREEN_DIR = "screen"
CHECK_DIR = "check"
JOURNAL = "refine.journal"
SEED_STREAM = 1  # the refinement's common seeds, apart from the screen's
CONFIRM_SEED_STREAM = 2  # the confirmation's, apart from the screen's and the refinement's
INCUMBENT_SEED_STREAM = 3  # the scenario's own values' screen runs, apart from the other stages'
INCUMBENT_POINT = -1  # the scenario's own values' row among the screen's points
BEST_SHARE_WHEN_NONE_PLAUSIBLE = 0.25  # assumption: a quarter keeps the box from collapsing onto one lucky point


def implausibility(runs: pd.DataFrame, found: list[Target], parameters: list[str]) -> pd.DataFrame:
    """Per design point: its parameters, mean loss, standard error and implausibility."""
    runs = runs.assign(loss=run_losses(runs, found))
    rows = []
    for point, group in runs.groupby("point"):
        distances = []
        for target in found:
            if target.fitted and all(c in group for c in target.columns):  # one not fitted rules nothing out
                values = target.values(group)
                if target.kind == "event":  # as in the loss: an event that never happens counts as NEVER_DAY
                    values = np.where(np.isnan(values), NEVER_DAY, values)
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
    seeds = common_seeds(experiment.master_seed, INCUMBENT_SEED_STREAM, experiment.replicates)
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
    seeds = common_seeds(experiment.master_seed, SEED_STREAM, settings.refine.replicates)
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
    seeds = common_seeds(experiment.master_seed, CONFIRM_SEED_STREAM, settings.refine.confirm_replicates)
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


def calibrate(
    experiment_name: str | Path,
    out: Path,
    *,
    record: Record,
    train_until: int | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    quiet: bool = False,
    command: str = "",
) -> dict[str, Any]:
    """Screen, refine, confirm, score; write calibration.json and .md, trials.csv, confirmed.csv, the figure."""
    experiment = load_experiment(experiment_name)
    if not experiment.bounded or experiment.listed:
        raise ExperimentError(f"{experiment_name}: parameters: calibration needs bounded parameters only (low/high)")
    if len(experiment.bounded) > 6:
        raise ExperimentError(
            f"{experiment_name}: parameters: {len(experiment.bounded)} free parameters; the record's ~15 claims "
            "identify at most ~6"
        )
    settings = experiment.calibration or Calibration()
    scenario = load_scenario(experiment.scenario, experiment.set)
    found = targets(record, scenario, until_day=train_until)
    if settings.targets is not None:
        unknown = sorted(set(settings.targets) - {t.id for t in found})
        if unknown:
            raise ExperimentError(
                f"{experiment_name}: calibration.targets: no such target{' before the cut' if train_until else ''}: "
                f"{', '.join(unknown)} (the targets: qusayr validate's table)"
            )
        found = [t for t in found if t.id in settings.targets]
    if not found:
        raise ExperimentError(f"{experiment_name}: --train-until {train_until}: no target of the record is that early")
    if not any(t.fitted for t in found):
        raise ExperimentError(
            f"{experiment_name}: calibration.targets / --train-until: the targets left are all scored but not fitted "
            f"({NOT_FITTED_WHY}); choose others"
        )
    days = (scenario.time.end - scenario.time.start).total_seconds() / 86400
    beyond = [t.id for t in found if t.fitted and t.per_day and t.day + 1 > days]
    if beyond:
        raise ExperimentError(
            f"{experiment_name}: scenario: its {days:g} days end before the days of {', '.join(beyond)}; "
            "fit with --train-until, or run the scenario longer"
        )
    everything = targets(record, scenario)
    parameters = [p.path for p in experiment.bounded]
    out.mkdir(parents=True, exist_ok=True)

    # the screen's identity leaves out the calibration settings, so they can change between runs
    screen_experiment = experiment.model_copy(update={"calibration": None})
    if sweep(screen_experiment, out / SCREEN_DIR, workers=workers, cluster=cluster, quiet=quiet):
        raise RunFailedError(f"{out / SCREEN_DIR}: some screen runs failed; see 'qusayr status {out / SCREEN_DIR}'")
    screen = pd.read_parquet(out / SCREEN_DIR / RUNS_TABLE)
    points = implausibility(screen, found, parameters)
    # the fit being replaced is a candidate too, unless the fit is to part of the record (it saw the rest)
    own = incumbent_values(experiment) if train_until is None else None
    in_bounds = own is not None and all(p.low <= own[p.path] <= p.high for p in experiment.bounded)
    incumbent = own if in_bounds else None
    if incumbent is not None:
        points = pd.concat(
            [points, screen_incumbent(experiment, incumbent, found, workers=workers, cluster=cluster)],
            ignore_index=True,
        )
    box, any_plausible = plausible_box(points, experiment, settings.implausibility)
    inside = incumbent is not None and all(lo <= incumbent[k] <= hi for k, (lo, hi, _) in box.items())
    first = incumbent if inside else None
    trials = refine(experiment, settings, box, found, out, workers=workers, cluster=cluster, quiet=quiet, first=first)
    enqueued = trials.loc[trials["scenario_values"], "trial"]
    also = int(enqueued.iloc[0]) if not enqueued.empty else None
    confirmed = confirm(experiment, settings, trials, found, parameters, workers=workers, cluster=cluster, also=also)
    chosen = chosen_trial(confirmed, also)
    values, uncertainty = fitted_values(trials, confirmed, parameters, chosen)

    overrides = [*experiment.set, *(override_text(k, v) for k, v in values.items())]
    check, _ = run_ensemble(
        experiment.scenario,
        overrides,
        settings.check_runs,
        out / CHECK_DIR,
        master_seed=experiment.master_seed + 7,
        workers=workers,
        cluster=cluster,
        quiet=quiet,
    )
    fit_train = fit(check, found)
    later = [t for t in everything if train_until is not None and t.day > train_until]
    fit_later = fit(check, later) if later else None
    fall = pd.to_numeric(check["fall_day"], errors="coerce")
    result = {
        "experiment": experiment.name,
        "scenario": experiment.scenario,
        "train_until": train_until,
        "loss": "sim.compare: weighted mean over targets of the Huber penalty of the distance outside the target "
        "interval, averaged over a parameter set's replicates",
        "targets_fitted": [t.id for t in found if t.fitted],
        "targets_not_fitted": [t.id for t in found if not t.fitted],
        "targets_chosen": settings.targets,
        "screen": {
            "points": int((points["point"] != INCUMBENT_POINT).sum()),
            "replicates": experiment.replicates,
            "cutoff": settings.implausibility,
            "plausible": int(
                ((points["implausibility"] <= settings.implausibility) & (points["point"] != INCUMBENT_POINT)).sum()
            ),
            "scenario_values": (
                None
                if own is None
                else {
                    "values": own,
                    "in_bounds": in_bounds,
                    "implausibility": (
                        float(points.loc[points["point"] == INCUMBENT_POINT, "implausibility"].iloc[0])
                        if in_bounds
                        else None
                    ),
                    "first_trial": also is not None,
                }
            ),
            "box": {k: [lo, hi] for k, (lo, hi, _) in box.items()},
            "box_from": "plausible points" if any_plausible else "the best quarter (none plausible)",
        },
        "refine": {"sampler": "optuna TPE", **settings.refine.model_dump(), "completed": len(trials)},
        "fitted": values,
        "uncertainty": uncertainty,
        "best_refine_loss": float(trials["loss"].min()),
        "confirmed": {
            "trial": chosen,
            "best_trial": int(confirmed.loc[confirmed["loss"].idxmin(), "trial"]),
            "scenario_trial": also,
            "of": len(confirmed),
            "replicates": settings.refine.confirm_replicates,
        },
        "fitted_loss": float(confirmed.loc[confirmed["trial"] == chosen, "loss"].iloc[0]),
        "check": {
            "runs": len(check),
            "loss_fitted_targets": fit_train.loss,
            "goodness_fitted_targets": fit_train.goodness,
            "loss_later_targets": fit_later.loss if fit_later else None,
            "goodness_later_targets": fit_later.goodness if fit_later else None,
            "fall_day_median": float(np.median(fall.fillna(NEVER_DAY))),
            "fell_share": float(fall.notna().mean()),
            "overrides": overrides,
        },
        "command": command,
    }
    write_text(out / "screen_points.csv", points.to_csv(index=False))
    write_text(out / "trials.csv", trials.to_csv(index=False))
    write_text(out / "confirmed.csv", confirmed.to_csv(index=False))
    write_text(out / "calibration.json", json.dumps(result, indent=1) + "\n")
    write_text(out / "calibration.md", calibration_report(result, fit_later))
    _figure(out, points, trials, confirmed, values)
    return result


def _chosen_text(confirmed: dict[str, Any]) -> str:
    """Which confirmed trial gives the fitted values, and why."""
    if confirmed["trial"] == confirmed["best_trial"]:
        own = " (the scenario's own values)" if confirmed["trial"] == confirmed["scenario_trial"] else ""
        return f"the fitted values are trial {confirmed['trial']}'s{own}, the best there"
    return (
        f"the scenario's own values (trial {confirmed['trial']}) are kept: the best there, trial "
        f"{confirmed['best_trial']}, does better by less than two standard errors of the paired difference"
    )


def _incumbent_text(screen: dict[str, Any]) -> str:
    """How the scenario's own values fared in the screen (nothing for a fit to part of the record)."""
    own = screen["scenario_values"]
    if own is None:
        return ""
    if not own["in_bounds"]:
        return "; the scenario's own values lie outside the experiment's bounds and take no part"
    verdict = "plausible" if own["implausibility"] <= screen["cutoff"] else "not plausible"
    outside = "" if own["first_trial"] else ", outside the refinement box, so no trial"
    return f"; the scenario's own values: implausibility {own['implausibility']:.2f}, {verdict}{outside}"


def _not_fitted_text(ids: list[str]) -> str:
    """The targets scored in the reports but not fitted."""
    return f" Scored but not fitted ({NOT_FITTED_WHY}): {', '.join(ids)}." if ids else ""


def _targets_fitted_text(result: dict[str, Any]) -> str:
    """Which targets the calibration fitted: the experiment's choice, the record up to a day, or all of it."""
    cut = f"dated on or before day {result['train_until']}" if result["train_until"] is not None else None
    if result["targets_chosen"] is not None:
        chosen = ", ".join(result["targets_fitted"])
        return f": {chosen} (chosen in the experiment{', ' + cut if cut else ''})."
    return f" {cut}." if cut else " (the whole record)."


def calibration_report(result: dict[str, Any], fit_later) -> str:
    """``calibration.md``: what was fitted to what, the fitted values with their ranges, the check."""
    screen, check, confirmed = result["screen"], result["check"], result["confirmed"]
    first = (screen["scenario_values"] or {}).get("first_trial", False)
    first_text = ", the first of them the scenario's own values" if first else ""
    settings_top = min(result["refine"]["confirm_top"], result["refine"]["completed"])
    also_text = " and the scenario's own values" if first and confirmed["of"] > settings_top else ""
    lines = [
        f"# Calibration: experiment `{result['experiment']}` on `{result['scenario']}`",
        "",
        f"Regenerate with `{result['command']}`.",
        "",
        f"Loss: {result['loss']} (definitions: `sim/compare.py`). Fitted to {len(result['targets_fitted'])} targets"
        + _targets_fitted_text(result)
        + _not_fitted_text(result["targets_not_fitted"]),
        "",
        f"1. Screen: {screen['points']} design points x {screen['replicates']} replicates; "
        f"{screen['plausible']} plausible (second-largest distance <= {screen['cutoff']}){_incumbent_text(screen)}; "
        f"refinement box from {screen['box_from']}.",
        f"2. Refine: {result['refine']['completed']} trials of Optuna TPE, {result['refine']['replicates']} common "
        f"seeds each (best loss {result['best_refine_loss']:.3f}){first_text}.",
        f"3. Confirm: the {settings_top} best trials{also_text} run again on {confirmed['replicates']} fresh common "
        f"seeds; {_chosen_text(confirmed)} (`confirmed.csv`).",
        "",
        "| parameter | fitted | range: the trials within 2 SE of the best refinement loss, and the fitted value "
        "| refinement box (from the screen) |",
        "|---|---|---|---|",
    ]
    for path, value in result["fitted"].items():
        u, box = result["uncertainty"][path], screen["box"][path]
        lines.append(
            f"| `{path}` | {value:.4g} | [{u['low']:.4g}, {u['high']:.4g}] ({u['trials']} trials) | "
            f"[{box[0]:.4g}, {box[1]:.4g}] |"
        )
    lines += [
        "",
        f"Confirmed loss of the fitted values {result['fitted_loss']:.3f}. "
        f"Check: {check['runs']} fresh runs of the fitted values: "
        f"loss on the fitted targets {check['loss_fitted_targets']:.3f} "
        f"(goodness of fit {check['goodness_fitted_targets']:.2f}); "
        f"median fall day {check['fall_day_median']:.2f} (record: 17, the town taken on 5 June), fell in "
        f"{check['fell_share']:.0%} of runs.",
    ]
    if fit_later is not None:
        lines += [
            "",
            f"## Prediction of the record after day {result['train_until']}",
            "",
            f"Loss {fit_later.loss:.3f}, goodness of fit {fit_later.goodness:.2f} "
            f"({fit_later.consistent} of {fit_later.compared} fitted later targets consistent with the 90 % band); "
            f"fall day predicted {check['fall_day_median']:.2f} against the record's 17 "
            f"(error {check['fall_day_median'] - 17:+.2f} days).",
            "",
            "| id | day | target | median | 90 % band | consistent |",
            "|---|---|---|---|---|---|",
        ]
        for row in fit_later.per_target:
            t, q = row.target, row.quantiles
            lines.append(
                f"| {t.id} | {t.day} | [{t.low:.3g}, {t.high:.3g}] | {q['q50']:.3g} | "
                f"[{q['q05']:.3g}, {q['q95']:.3g}] | {'yes' if row.consistent else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def _figure(
    out: Path, points: pd.DataFrame, trials: pd.DataFrame, confirmed: pd.DataFrame, values: dict[str, float]
) -> None:
    import matplotlib

    matplotlib.use("Agg")

    from sim.plots import plot_calibration

    table = pd.concat(
        [
            points.assign(
                stage=np.where(
                    points["point"] == INCUMBENT_POINT, "screen (the scenario's own values)", "screen (design point)"
                )
            ),
            trials.assign(stage="refine (TPE trial)"),
            confirmed.assign(stage="confirm (best trials, fresh seeds)"),
        ],
        ignore_index=True,
    )
    table["order"] = np.arange(len(table))
    ax = plot_calibration(table, values)
    save_figure(ax.figure, out, "calibration")
