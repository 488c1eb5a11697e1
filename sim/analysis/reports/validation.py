"""``qusayr validate``'s files: ``validation.md``, ``validation.json`` and the ensemble's figures.

``validation.md`` lists the checks, every claim, event and casualty range with the ensemble's
median and 90 % band, the event days and the entries not compared; ``validation.json`` holds the
same with every run's summary; the figures show control, the sectors by day, casualties and
strength (PNG and SVG).

Methods: docs/methods.md, sections 5 (validation) and 10 (rendering).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from sim.analysis.fit import Fit, quantiles
from sim.analysis.reports import plotting
from sim.analysis.targets import (
    NOT_FITTED_WHY,
    Target,
    battle_casualty_targets,
    left_out,
    outcome_values,
)
from sim.analysis.validate import ValidationResult, fmt, sectors_claimed, taken_days, validate
from sim.battle_dates import battle_date
from sim.installation import code_version
from sim.output import git_commit, save_figure, write_text
from sim.palette import LEAN_COLOUR_NAMES
from sim.record import Record
from sim.run import EVENT_DAYS

FILES = "validation.md, validation.json, control/sectors/sector-panels/sector-taken/casualties/strength .png .svg"
SECTIONS = {  # kind of target -> (section title, digits of its numbers)
    "control": ("Control claims (share of the town held by the attackers, end of the day)", 2),
    "event": (f"Events (day of the battle the model puts them on; day 0 = {battle_date(0)})", 1),
    "spatial": (
        "Spatial claims (the day the attackers take the part for good: more than half of its sectors, "
        "`town.parts` of the scenario; 'some': one sector, or all while the rebels hold some)",
        1,
    ),
    "casualties": ("Casualties (killed: in the battle, by the end of a day, on a day)", 0),
}


def target_json(target: Target) -> dict[str, Any]:
    """A target as JSON allows it: an open upper end is null."""

    def finite(x: float) -> float | None:
        return None if math.isinf(x) else x

    stated = None if target.stated is None else [finite(x) for x in target.stated]
    return {**asdict(target), "high": finite(target.high), "stated": stated}


def fit_json(fitted: Fit) -> dict[str, Any]:
    """A fit in a JSON-ready form: the totals, and per target its interval and the ensemble's."""
    return {
        "runs": fitted.runs,
        "loss": fitted.loss,
        "goodness_of_fit": fitted.goodness,
        "consistent": fitted.consistent,
        "fitted": fitted.fitted,
        "not_fitted": fitted.not_fitted,
        "per_target": [
            {**target_json(t.target), **{k: v for k, v in asdict(t).items() if k != "target"}}
            for t in fitted.per_target
        ],
    }


def validation_json(result: ValidationResult) -> dict[str, Any]:
    """``validation.json``: the scenario, the fit, the checks and every run's summary."""
    return {
        "scenario": result.scenario.name,
        "scenario_sha256": result.scenario.sha256(),
        "overrides": result.overrides,
        "master_seed": result.master_seed,
        "fit": fit_json(result.fit),
        "checks": [asdict(c) for c in result.checks],
        "posterior_reports": None
        if result.reports is None
        else result.reports.replace([np.inf], None).to_dict("records"),  # JSON has no infinity
        "runs": result.summaries,
    }


def validation_markdown(result: ValidationResult, record: Record, *, command: str) -> str:
    """``validation.md``: checks, every claim, event and casualty range, the event days."""
    fitted, checks, runs = result.fit, result.checks, result.runs
    git = git_commit()
    lines = [
        f"# Validation: scenario `{result.scenario.name}` against the record",
        "",
        f"{len(runs)} runs (seeds from master seed {result.master_seed}), code {code_version()}, commit "
        f"{git['commit'] or 'unknown'}{' (dirty)' if git['dirty'] else ''}. Regenerate with `{command}`.",
        "Definitions (intervals, lean, loss, consistency): `sim/analysis/targets.py` and `sim/analysis/fit.py`.",
        "",
        f"**Loss {fitted.loss:.3f}** (mean over runs of the weighted mean Huber penalty of the distances); "
        f"**goodness of fit {fitted.goodness:.2f}** (weighted share of targets whose interval meets the "
        f"ensemble's 90 % band); consistent with {fitted.consistent} of the {fitted.fitted} fitted targets"
        + (f" ({fitted.not_fitted} scored, not fitted: {NOT_FITTED_WHY})." if fitted.not_fitted else "."),
        "",
        "## Targets of the calibrated baseline",
        "",
        "| check | required | measured | met | rests on |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {c.name} | {c.required} | {c.measured} | {'yes' if c.passed else '**no**'} | {c.cites} |" for c in checks
    ]
    lines += ["", f"{sum(c.passed for c in checks)} of {len(checks)} met.", ""]
    for kind, (title, digits) in SECTIONS.items():
        lines += [
            f"## {title}",
            "",
            "| date | id | source | lean | record | target interval | model median | 90 % band | in interval | "
            "consistent |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in (t for t in fitted.per_target if t.target.kind == kind):
            t, q = row.target, row.quantiles
            what = t.label.replace("|", "/")
            never = f" (never in {row.never:.0%})" if row.never else ""
            lines.append(
                f"| {battle_date(t.day, iso=True)} | {t.id} | {t.source} | {t.lean} | {what} | [{fmt(t.low, digits)}, "
                f"{fmt(t.high, digits)}] | {fmt(q['q50'], digits)}{never} | [{fmt(q['q05'], digits)}, "
                f"{fmt(q['q95'], digits)}] | {row.coverage:.0%} | {'yes' if row.consistent else '**no**'} |"
            )
        lines.append("")
    lines += [
        f"## Event days in the model (day 0 = {battle_date(0)}; median and 90 % band of the runs in which it happened; "
        "never = the share of runs in which it did not)",
        "",
    ]
    lines += ["| outcome | median | 90 % band | never |", "|---|---|---|---|"]
    for column in [*EVENT_DAYS, *sorted(c for c in runs.columns if c.startswith("captured_day_"))]:
        values = outcome_values(runs, column)
        q = quantiles(values)
        lines.append(
            f"| {column.replace('_', ' ')} | {fmt(q['q50'])} | [{fmt(q['q05'])}, {fmt(q['q95'])}] | "
            f"{np.isnan(values).mean():.0%} |"
        )
    lines += sector_table(runs, result.scenario.town.sectors_per_side)
    if result.reports is not None:
        said = result.reports
        lines += [
            "",
            "## The posterior predictive against the observation model",
            "",
            f"Each run drew its input set from the posterior sample; each observation as its source would report "
            f"the runs (output + its side's bias + noise; docs/methods.md, section 6). The 90 % band meets "
            f"{said['meets_90'].mean():.0%} of {len(said)} stated intervals; mean CRPS {said['crps'].mean():.3f} "
            "(in each output's units: shares, days, natural log of a count).",
            "",
            "| observation | lean | day | stated | median | 90 % band | meets | CRPS |",
            "|---|---|---:|---|---:|---|---|---:|",
            *(
                f"| {r.id} | {r.lean} | {r.day} | {r.low:.3g}-{r.high:.3g} | {r.median:.3g} | "
                f"{r.q05:.3g}-{r.q95:.3g} | {'yes' if r.meets_90 else '**no**'} | {r.crps:.3f} |"
                for r in said.itertuples()
            ),
        ]
    lines += ["", "## Entries of the record that are not targets", ""]
    for i, day, what, why in left_out(record, result.scenario):
        lines.append(f"- {battle_date(day, iso=True)} `{i}`: {what}: {why}")
    failed = [c for c in checks if not c.passed]
    if failed:
        lines += ["", "## Where the model misses", ""]
        lines += [f"- {c.name}: required {c.required}; the ensemble gives {c.measured}." for c in failed]
    return "\n".join(lines) + "\n"


def sector_table(runs, sectors_per_side: int) -> list[str]:
    """The median day each sector was taken for good, as a map: rows north to south, columns west to east."""
    median, never = taken_days(runs, sectors_per_side)
    lines = [
        "",
        "## Where the town fell: the day each sector was taken for good",
        "",
        "Median over the runs (a sector never taken counts as day 24); in brackets, the share of runs in "
        "which it was never taken. Sector numbers row-major from the north-west.",
        "",
        "| | " + " | ".join(["W", *[""] * (sectors_per_side - 2), "E"]) + " |",
        "|---|" + "---|" * sectors_per_side,
    ]
    for row in range(sectors_per_side):
        side = "N" if row == 0 else "S" if row == sectors_per_side - 1 else ""
        cells = [
            f"{median[row, col]:.1f}" + (f" ({never[row, col]:.0%})" if never[row, col] else "")
            for col in range(sectors_per_side)
        ]
        lines.append(f"| {side} | " + " | ".join(cells) + " |")
    return lines


def spatial_marks(record: Record, parts: dict[str, tuple[int, ...]]) -> list[tuple[int, float, bool, str]]:
    """The record's spatial claims as marks on the sectors of their parts: (sector, midday, attackers hold, lean)."""
    return [
        (sector, claim.day + 0.5, claim.holder == "gov", claim.lean)
        for claim in record.spatial_claims
        for part in claim.parts
        for sector in parts.get(part, ())
    ]


def figure_data(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Arrays the figures draw: share and sectors by day, sector holders by day, strength, killed."""
    days = min(len(s["gov_share_by_day"]) for s in summaries)
    share = np.array([s["gov_share_by_day"][:days] for s in summaries])
    owners = np.array([[[o == "gov" for o in day] for day in s["sector_owner_by_day"][:days]] for s in summaries])
    side = math.isqrt(owners.shape[-1])
    held = owners.mean(axis=0).reshape(days, side, side)
    strength = {
        name: np.array([s["strength_by_day"][name][:days] for s in summaries])
        for name in summaries[0]["strength_by_day"]
    }
    killed = {
        name: np.array([s["killed"][name] for s in summaries]) for name in ("rebels", "army", "hezbollah", "civilians")
    }
    sector_share = np.array([s["sector_gov_share_by_day"][:days] for s in summaries])
    return {"share": share, "held": held, "sector_share": sector_share, "strength": strength, "killed": killed}


def validation_figures(result: ValidationResult, record: Record, folder: Path) -> list[Path]:
    """The control, sector-map, casualty and strength figures, as PNG and SVG."""
    plt, plots = plotting()
    summaries, name = result.summaries, result.scenario.name
    data = figure_data(summaries)
    ax = plots.plot_control_ensemble(
        data["share"],
        result.targets,
        record,
        title=f"al-Qusayr 2013: control of the town, {name} ({len(summaries)} runs)",
    )
    written = save_figure(ax.figure, folder, "control")
    days = data["held"].shape[0]
    cols = 7
    fig, axes = plt.subplots(math.ceil(days / cols), cols, figsize=(2 * cols, 2.1 * math.ceil(days / cols)))
    claim, held, sectors = sectors_claimed(record, result.scenario)
    note = f"record: {held} of {sectors} ({'gov.' if claim.lean == 'government' else claim.lean} claim)"
    plots.plot_sector_maps(data["held"], np.asarray(axes), record_note={claim.day: note})
    fig.suptitle(
        f"The {sectors} sectors by day, {name}: share of {len(summaries)} runs in which the attackers hold each"
    )
    written += save_figure(fig, folder, "sectors")
    side = result.scenario.town.sectors_per_side
    median, never = taken_days(result.runs, side)
    fig, axes = plt.subplots(side, side, figsize=(2.4 * side, 1.7 * side), sharex=True, sharey=True)
    plots.plot_sector_panels(
        data["sector_share"],
        np.asarray(axes),
        marks=spatial_marks(record, result.scenario.town.part_sectors),
        taken_day=np.where(never.ravel() >= 0.5, np.nan, median.ravel()),
    )
    fig.suptitle(
        f"Each sector's share held by the attackers, {name} ({len(summaries)} runs: median, 90 % band; dotted: "
        "median day taken for good)\nthe record's spatial claims: ▲ attackers hold or take it, ▼ rebels hold it; "
        "colour: the source's lean ("
        + ", ".join(f"{LEAN_COLOUR_NAMES[lean]} {lean}" for lean in ("government", "opposition", "neutral"))
        + ")",
        fontsize=8,
    )
    fig.supxlabel(f"day of the battle (day 0 = {battle_date(0)} 2013); north up, west left", fontsize=8)
    written += save_figure(fig, folder, "sector-panels")
    ax = plots.plot_taken_day_map(median, never)
    ax.set_title(f"Median day each sector was taken for good, {name} ({len(summaries)} runs)", fontsize=9)
    written += save_figure(ax.figure, folder, "sector-taken")
    ranges = {t.outcome.removeprefix("killed_"): (t.low, t.high) for t in battle_casualty_targets(record)}
    written += save_figure(plots.plot_casualties(data["killed"], ranges).figure, folder, "casualties")
    written += save_figure(plots.plot_strength(data["strength"]).figure, folder, "strength")
    return written


def write_validation(
    scenario_name: str, overrides: list[str], runs: int, out: Path, *, record: Record, command: str = "", **options: Any
) -> ValidationResult:
    """Validate (``sim.analysis.validate``) and write the report, the JSON and the figures into ``out``.

    ``options``: ``validate``'s own (``master_seed``, ``workers``, ``cluster``, ``quiet``); ``command``:
    the command line that regenerates the report. A scenario that cannot be loaded stops it before any
    folder is made.
    """
    result = validate(scenario_name, overrides, runs, out, record=record, **options)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "validation.json", json.dumps(validation_json(result), indent=1, default=float) + "\n")
    write_text(out / "validation.md", validation_markdown(result, record, command=command))
    validation_figures(result, record, out)
    return result


def validation_lines(result: ValidationResult, out: Path) -> list[str]:
    """What ``qusayr validate`` prints: the fit, each check, where the files are."""
    fitted = result.fit
    lines = [
        f"{result.scenario.name}: {fitted.runs} runs, loss {fitted.loss:.3f}, goodness of fit "
        f"{fitted.goodness:.2f} ({fitted.consistent} of {fitted.fitted} fitted targets consistent)"
    ]
    for check in result.checks:
        mark = "met " if check.passed else "MISS"
        lines.append(f"  {mark}  {check.name}: {check.measured} (required {check.required})")
    lines.append(f"  written to {out}/ ({FILES})")
    return lines
