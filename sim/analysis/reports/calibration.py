"""``qusayr calibrate``'s files: ``calibration.md``, ``calibration.json``, the stages' tables and the figure.

``screen_points.csv`` (the screen's points with their implausibility), ``trials.csv`` (the
refinement's trials), ``confirmed.csv`` (the confirmed trials on fresh seeds), and
``calibration.png``/``.svg`` (the loss of every stage and the fitted values).

Methods: docs/methods.md, sections 6 (calibration), 7 (the out-of-sample check) and 10 (rendering).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.calibrate import INCUMBENT_POINT, CalibrationResult, calibrate
from sim.analysis.reports import plotting
from sim.analysis.targets import NOT_FITTED_WHY
from sim.battle_dates import battle_date
from sim.output import save_figure, write_text
from sim.outputs import csv_text
from sim.record import Record

FILES = "calibration.md, calibration.json, trials.csv, confirmed.csv, calibration.png/.svg"
LOSS = (
    "sim.analysis.fit: weighted mean over targets of the Huber penalty of the distance outside the target "
    "interval, averaged over a parameter set's replicates"
)


def calibration_json(calibrated: CalibrationResult, *, command: str) -> dict[str, Any]:
    """``calibration.json``: the stages, the fitted values with their ranges, the check."""
    experiment, settings, screen = calibrated.experiment, calibrated.settings, calibrated.screen
    points, trials, confirmed, check = screen.points, calibrated.trials, calibrated.confirmed, calibrated.check
    design = points["point"] != INCUMBENT_POINT
    own = screen.scenario_values
    return {
        "experiment": experiment.name,
        "scenario": experiment.scenario,
        "train_until": calibrated.train_until,
        "loss": LOSS,
        "targets_fitted": [t.id for t in calibrated.targets if t.fitted],
        "targets_not_fitted": [t.id for t in calibrated.targets if not t.fitted],
        "targets_chosen": settings.targets,
        "screen": {
            "points": int(design.sum()),
            "replicates": experiment.replicates,
            "cutoff": settings.implausibility,
            "plausible": int(((points["implausibility"] <= settings.implausibility) & design).sum()),
            "scenario_values": (
                None
                if own is None
                else {
                    "values": own,
                    "in_bounds": screen.in_bounds,
                    "implausibility": (
                        float(points.loc[~design, "implausibility"].iloc[0]) if screen.in_bounds else None
                    ),
                    "first_trial": calibrated.scenario_trial is not None,
                }
            ),
            "box": {k: [lo, hi] for k, (lo, hi, _) in screen.box.items()},
            "box_from": "plausible points" if screen.any_plausible else "the best quarter (none plausible)",
        },
        "refine": {"sampler": "optuna TPE", **settings.refine.model_dump(), "completed": len(trials)},
        "fitted": calibrated.values,
        "uncertainty": calibrated.uncertainty,
        "best_refine_loss": float(trials["loss"].min()),
        "confirmed": {
            "trial": calibrated.chosen,
            "best_trial": int(confirmed.loc[confirmed["loss"].idxmin(), "trial"]),
            "scenario_trial": calibrated.scenario_trial,
            "of": len(confirmed),
            "replicates": settings.refine.confirm_replicates,
        },
        "fitted_loss": float(confirmed.loc[confirmed["trial"] == calibrated.chosen, "loss"].iloc[0]),
        "check": {
            "runs": len(check.runs),
            "loss_fitted_targets": check.fit_fitted.loss,
            "goodness_fitted_targets": check.fit_fitted.goodness,
            "loss_later_targets": check.fit_later.loss if check.fit_later else None,
            "goodness_later_targets": check.fit_later.goodness if check.fit_later else None,
            "fall_day_median": check.fall_day_median,
            "fell_share": check.fell_share,
            "overrides": check.overrides,
        },
        "command": command,
    }


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


def calibration_markdown(calibrated: CalibrationResult, *, command: str) -> str:
    """``calibration.md``: what was fitted to what, the fitted values with their ranges, the check."""
    result, fit_later, fall_day = (
        calibration_json(calibrated, command=command),
        calibrated.check.fit_later,
        calibrated.record_fall_day,
    )
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
        f"Loss: {result['loss']} (definitions: `sim/analysis/fit.py`). "
        f"Fitted to {len(result['targets_fitted'])} targets"
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
        f"median fall day {check['fall_day_median']:.2f} (record: {fall_day}, the town taken on "
        f"{battle_date(fall_day)}), fell in {check['fell_share']:.0%} of runs.",
    ]
    if fit_later is not None:
        lines += [
            "",
            f"## Prediction of the record after day {result['train_until']}",
            "",
            f"Loss {fit_later.loss:.3f}, goodness of fit {fit_later.goodness:.2f} "
            f"({fit_later.consistent} of {fit_later.fitted} fitted later targets consistent with the 90 % band); "
            f"fall day predicted {check['fall_day_median']:.2f} against the record's {fall_day} "
            f"(error {check['fall_day_median'] - fall_day:+.2f} days).",
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


def calibration_figure(calibrated: CalibrationResult, folder: Path) -> list[Path]:
    """The loss of every stage's parameter sets, and the fitted values (PNG and SVG)."""
    _, plots = plotting()
    points = calibrated.screen.points
    table = pd.concat(
        [
            points.assign(
                stage=np.where(
                    points["point"] == INCUMBENT_POINT, "screen (the scenario's own values)", "screen (design point)"
                )
            ),
            calibrated.trials.assign(stage="refine (TPE trial)"),
            calibrated.confirmed.assign(stage="confirm (best trials, fresh seeds)"),
        ],
        ignore_index=True,
    )
    table["order"] = np.arange(len(table))
    return save_figure(plots.plot_calibration(table, calibrated.values).figure, folder, "calibration")


def write_calibration(
    experiment_name: str | Path, out: Path, *, record: Record, command: str = "", **options: Any
) -> CalibrationResult:
    """Calibrate (``sim.analysis.calibrate``, its runs kept in ``out``) and write the report, tables and figure.

    ``options``: ``calibrate``'s own (``train_until``, ``workers``, ``cluster``, ``quiet``); ``command``: the
    command line that regenerates the report.
    """
    calibrated = calibrate(experiment_name, out, record=record, **options)
    write_text(out / "screen_points.csv", csv_text(calibrated.screen.points))
    write_text(out / "trials.csv", csv_text(calibrated.trials))
    write_text(out / "confirmed.csv", csv_text(calibrated.confirmed))
    write_text(out / "calibration.json", json.dumps(calibration_json(calibrated, command=command), indent=1) + "\n")
    write_text(out / "calibration.md", calibration_markdown(calibrated, command=command))
    calibration_figure(calibrated, out)
    return calibrated


def calibration_lines(calibrated: CalibrationResult, out: Path) -> list[str]:
    """What ``qusayr calibrate`` prints: the fitted values with their ranges, the check, where the files are."""
    confirmed = calibrated.confirmed
    fitted_loss = float(confirmed.loc[confirmed["trial"] == calibrated.chosen, "loss"].iloc[0])
    lines = [f"calibrated {len(calibrated.values)} parameters, confirmed loss {fitted_loss:.3f}:"]
    for path, value in calibrated.values.items():
        u = calibrated.uncertainty[path]
        lines.append(f"  {path} = {value:.4g}  (range near the best: {u['low']:.4g} - {u['high']:.4g})")
    check = calibrated.check
    lines.append(
        f"  check ({len(check.runs)} runs): median fall day {check.fall_day_median:.2f} "
        f"(record {calibrated.record_fall_day})"
    )
    if check.fit_later is not None:
        lines.append(f"  prediction of the targets after day {calibrated.train_until}: loss {check.fit_later.loss:.3f}")
    lines.append(f"  written to {out}/ ({FILES})")
    return lines
