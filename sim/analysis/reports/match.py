"""``qusayr match``'s files: ``calibration.json`` (the contract tools read), ``posterior.parquet`` and ``match.md``.

Methods: docs/methods.md, sections 6 (calibration) and 10 (rendering).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.forecast import forecast_json, predictive_runs, prior_sets
from sim.analysis.history_matching import Match, calibration_json, history_match
from sim.analysis.posterior_checks import leave_one_claim_out, sobol_table
from sim.analysis.reports import plotting
from sim.analysis.sbc import simulation_based_calibration
from sim.analysis.targets import targets
from sim.installation import code_version
from sim.output import git_commit, save_figure, write_bytes, write_text
from sim.outputs import csv_text, parquet_bytes, read_runs
from sim.record import load_record
from sim.scenario import load_scenario

FILES = (
    "match.md, calibration.json, posterior.parquet, forecast.json or sbc.json, loo.csv, sobol.csv, "
    "posterior-pairs/-control .png .svg"
)
PINNED_SHARE = 0.5  # assumption: an input is pinned when its posterior 90 % interval spans under half its prior range


def pinned(match: Match) -> list[dict[str, float | str | bool]]:
    """Per input: its prior, the posterior's median and 90 % interval, and whether the record pins it."""
    rows = []
    for i in match.inputs:
        values = match.posterior[i.name].to_numpy()
        q05, q50, q95 = np.quantile(values, [0.05, 0.5, 0.95])
        share = (q95 - q05) / (i.high - i.low) if i.high > i.low else 0.0
        rows.append(
            {
                "name": i.name,
                "low": i.low,
                "high": i.high,
                "median": float(q50),
                "q05": float(q05),
                "q95": float(q95),
                "interval_share": float(share),
                "pinned": bool(share < PINNED_SHARE),
                "source": i.source,
            }
        )
    return rows


def match_markdown(match: Match, loo: pd.DataFrame, sobol: pd.DataFrame, *, command: str) -> str:
    """``match.md``: the waves, which inputs the record pins, what rules out the most, the claims left out, Sobol."""
    git = git_commit()
    commit = f"{git['commit'] or 'unknown'}{' (dirty)' if git['dirty'] else ''}"
    until = f" on the record up to day {match.trained_until_day}" if match.trained_until_day is not None else ""
    settings = match.experiment.history_matching
    lines = [
        f"# History matching of `{match.experiment.scenario}`{until}",
        "",
        f"Experiment `{match.experiment.name}`, code {code_version()}, commit {commit}. Regenerate with "
        f"`{command}`. Method: docs/methods.md, section 6. {len(match.observed)} observations of the record "
        f"on {len(match.outputs)} model outputs; {len(match.inputs)} inputs; ruled out where the "
        f"implausibility of rank {settings.rank} (1: the largest) exceeds {settings.cutoff:g}."
        + (f" Left out, past some run's end: {', '.join(match.unreached)}." if match.unreached else ""),
        "",
        "## Waves",
        "",
        "| wave | points | runs | non-implausible fraction of the prior space |",
        "|---:|---:|---:|---:|",
        *(f"| {w.number} | {w.points} | {w.runs} | {w.non_implausible_fraction:.4g} |" for w in match.waves),
        "",
        f"{match.total_runs} runs in all. Posterior: {len(match.posterior)} input sets from emcee on the last "
        f"wave's emulators (acceptance fraction {match.acceptance_fraction:.2f}).",
        "",
        "## Which inputs the record pins",
        "",
        f"Pinned: the posterior's 90 % interval spans less than {PINNED_SHARE:.0%} of the prior range (assumption).",
        "",
        "| input | prior | posterior median | 90 % interval | share of the prior | pinned | prior's source |",
        "|---|---|---:|---|---:|---|---|",
    ]
    for row in pinned(match):
        lines.append(
            f"| `{row['name']}` | {row['low']:g}-{row['high']:g} | {row['median']:.4g} | "
            f"{row['q05']:.4g}-{row['q95']:.4g} | {row['interval_share']:.2f} | "
            f"{'**pinned**' if row['pinned'] else 'open'} | {row['source']} |"
        )
    lines += [
        "",
        "## Which observations rule out the most",
        "",
        "On the last wave's emulators: the share of the prior space each observation alone rules out, its "
        "smallest implausibility anywhere in it, and its median implausibility over the posterior sample "
        "(above the cut-off: the model cannot meet it where it meets the others).",
        "",
        "| observation | kind | lean | day | ruled out alone | smallest | over the posterior |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in match.ruling.sort_values("ruled_out_share", ascending=False).itertuples():
        lines.append(
            f"| {row.id} | {row.kind} | {row.lean} | {row.day} | {row.ruled_out_share:.0%} | "
            f"{row.smallest_implausibility:.2f} | {row.posterior_implausibility:.2f} |"
        )
    lines += [
        "",
        "## Each claim left out and predicted",
        "",
        f"The posterior without the claim (importance weights on the last wave's emulators, "
        f"docs/methods.md): the predicted 90 % interval meets {loo['meets_90'].mean():.0%} of {len(loo)} stated "
        f"intervals; mean CRPS {loo['crps'].mean():.3f} (units of each output). All rows: `loo.csv`.",
        "",
        "| observation | lean | day | stated | predicted median | 90 % interval | meets | CRPS |",
        "|---|---|---:|---:|---:|---|---|---:|",
        *(
            f"| {r.id} | {r.lean} | {r.day} | {r.low:.3g}-{r.high:.3g} | {r.median:.3g} | {r.q05:.3g}-{r.q95:.3g} | "
            f"{'yes' if r.meets_90 else '**no**'} | {r.crps:.3f} |"
            for r in loo.itertuples()
        ),
        "",
        "## Sobol indices on wave 1's emulators",
        "",
        "Total indices over the prior space of the inputs above each output's noise floor (the share of one "
        "run's variance that is ensemble noise), largest first; all rows: `sobol.csv`.",
        "",
        "| output | noise floor | inputs above it (total index) |",
        "|---|---:|---|",
    ]
    for output, rows in sobol.groupby("output", sort=False):
        above = rows[rows["above_floor"]].sort_values("ST", ascending=False)
        listed = ", ".join(f"`{r.input.rsplit('.', 1)[-1]}` {r.ST:.2f}" for r in above.itertuples()) or "none"
        lines.append(f"| {output} | {rows['noise_floor'].iloc[0]:.2f} | {listed} |")
    return "\n".join(lines) + "\n"


def write_match(
    experiment: str | Path,
    out: Path,
    *,
    train_until: int | None,
    first_wave: Path | None,
    workers: int | None,
    cluster: str | None,
    quiet: bool,
    command: str,
) -> Match:
    """Run ``history_match`` into ``out``, then the posterior predictive, and write their files there.

    Trained on the whole record: ``sbc.json`` too (simulation-based calibration); trained up to a
    day: ``forecast.json`` (the later record predicted, against the prior predictive).
    """
    engine = {"workers": workers, "cluster": cluster, "quiet": quiet}
    out.mkdir(parents=True, exist_ok=True)
    match = history_match(experiment, out, train_until=train_until, first_wave=first_wave, **engine)
    settings = match.experiment.history_matching
    document = calibration_json(match)
    document["inputs"] = [{**item, **row} for item, row in zip(document["inputs"], pinned(match), strict=True)]
    write_text(out / "calibration.json", json.dumps(document, indent=2) + "\n")
    write_bytes(out / "posterior.parquet", parquet_bytes(match.posterior))
    predictive, sets = predictive_runs(match, out, settings.predictive_runs, **engine)
    if train_until is not None:
        first = read_runs(match.waves[0].folder)
        prior = prior_sets(match, first, match.experiment.master_seed)
        forecast = forecast_json(match, predictive, sets, first, prior)
        write_text(out / "forecast.json", json.dumps(forecast, indent=2) + "\n")
    elif settings.sbc_replications:
        sbc = simulation_based_calibration(match, out, settings.sbc_replications, **engine)
        write_text(out / "sbc.json", json.dumps(sbc, indent=2) + "\n")
    loo = leave_one_claim_out(match, match.experiment.master_seed)
    sobol = sobol_table(match, match.experiment.master_seed)
    write_text(out / "loo.csv", csv_text(loo))
    write_text(out / "sobol.csv", csv_text(sobol))
    write_text(out / "match.md", match_markdown(match, loo, sobol, command=command))
    match_figures(match, predictive, out)
    return match


def match_figures(match: Match, predictive: pd.DataFrame, folder: Path) -> list[Path]:
    """The posterior's pairs plot and the posterior predictive control curve with the claims by lean."""
    plt, plots = plotting()
    inputs = match.inputs
    fig, axes = plt.subplots(len(inputs), len(inputs), figsize=(0.9 * len(inputs) + 1, 0.9 * len(inputs) + 1))
    plots.plot_posterior_pairs(match.posterior, {i.name: (i.low, i.high) for i in inputs}, np.asarray(axes))
    fig.suptitle(f"Posterior of {len(inputs)} inputs ({len(match.posterior)} sets), axes the prior ranges")
    written = save_figure(fig, folder, "posterior-pairs")
    experiment = match.experiment
    record = load_record()
    found = targets(record, load_scenario(experiment.scenario, experiment.set))
    days = sorted(c for c in predictive.columns if c.startswith("gov_share_d"))
    share = predictive[days].to_numpy(dtype=float)
    reached = ~np.isnan(share).any(axis=0)  # the days every run reached
    share = share[:, : len(reached) if reached.all() else int(reached.argmin())]
    until = f", trained up to day {match.trained_until_day}" if match.trained_until_day is not None else ""
    ax = plots.plot_control_ensemble(
        share,
        found,
        record,
        title=f"Posterior predictive: control of the town ({len(predictive)} runs, one per posterior set{until})",
    )
    return written + save_figure(ax.figure, folder, "posterior-control")


def match_lines(match: Match, out: Path) -> list[str]:
    """What ``qusayr match`` prints."""
    fraction = match.waves[-1].non_implausible_fraction
    return [
        f"{len(match.waves)} waves, {match.total_runs} runs; non-implausible fraction {fraction:.4g}",
        f"posterior: {len(match.posterior)} input sets; pinned: "
        + ", ".join(row["name"] for row in pinned(match) if row["pinned"]),
        f"written to {out}/ ({FILES})",
    ]
