"""``qusayr compare``'s files: ``compare.md``, ``compare.json``, ``differences.csv`` and the figure.

Methods: docs/methods.md, sections 9 (counterfactuals) and 10 (rendering).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sim.analysis.counterfactual import COUNT_OUTCOMES, DAY_OUTCOMES, ComparisonResult, compare
from sim.analysis.reports import plotting
from sim.analysis.targets import NEVER_DAY
from sim.output import save_figure, write_text
from sim.outputs import csv_text

FILES = "compare.md, compare.json, differences.csv, compare.png/.svg"


def comparison_markdown(result: ComparisonResult, *, command: str) -> str:
    """``compare.md``: the outcomes' paired differences with their confidence intervals."""
    names = result.names
    lines = [
        f"# `{names[1]}` (B) against `{names[0]}` (A)",
        "",
        f"{result.runs} common seeds (master seed {result.master_seed}); B - A paired per seed, mean with its 95 % "
        f"confidence interval. Event days that never happen count as day {NEVER_DAY:g}. Regenerate with `{command}`.",
        "",
        "| outcome | A median | B median | B - A (mean) | 95 % CI | excludes 0 |",
        "|---|---|---|---|---|---|",
    ]
    for row in result.differences.itertuples():
        never = ""
        if row.a_never or row.b_never:
            never = f" (never: A {row.a_never:.0%}, B {row.b_never:.0%})"
        lines.append(
            f"| {row.outcome.replace('_', ' ')}{never} | {row.a_median:.3g} | {row.b_median:.3g} | {row.mean:+.3g} | "
            f"[{row.ci_low:+.3g}, {row.ci_high:+.3g}] | {'yes' if row.excludes_zero else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def comparison_json(result: ComparisonResult) -> dict[str, Any]:
    """``compare.json``: the scenarios, the seeds, the differences."""
    return {
        "a": result.names[0],
        "b": result.names[1],
        "runs": result.runs,
        "master_seed": result.master_seed,
        "differences": result.differences.to_dict(orient="records"),
    }


def comparison_figure(result: ComparisonResult, folder: Path) -> list[Path]:
    """The paired differences of the event days, the casualties and the share by day (PNG and SVG)."""
    plt, plots = plotting()
    table, names = result.differences, result.names
    fig, axes = plt.subplots(1, 3, figsize=(16, 4), constrained_layout=True)
    plots.plot_differences(table[table["outcome"].isin(DAY_OUTCOMES)], unit="days", ax=axes[0])
    plots.plot_differences(table[table["outcome"].isin(COUNT_OUTCOMES)], unit="people", ax=axes[1])
    plots.plot_share_difference(table[table["outcome"].str.startswith("gov_share_d")], ax=axes[2])
    fig.suptitle(f"{names[1]} minus {names[0]}: paired differences over common seeds, 95 % confidence intervals")
    return save_figure(fig, folder, "compare")


def write_comparison(
    scenario_a: str, scenario_b: str, runs: int, out: Path, *, command: str = "", **options: Any
) -> ComparisonResult:
    """Compare two scenarios (``sim.analysis.counterfactual``) and write the report, JSON, table and figure.

    ``options``: ``compare``'s own (``ensembles``, ``master_seed``, ``workers``, ``cluster``, ``quiet``);
    ``command``: the command line that regenerates the report.
    """
    result = compare(scenario_a, scenario_b, runs, **options)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "differences.csv", csv_text(result.differences))
    write_text(out / "compare.md", comparison_markdown(result, command=command))
    write_text(out / "compare.json", json.dumps(comparison_json(result), indent=1) + "\n")
    comparison_figure(result, out)
    return result


def comparison_lines(result: ComparisonResult, labels: list[str], out: Path) -> list[str]:
    """What ``qusayr compare`` prints: the fall day's and rebels killed's differences (B - A), where the files are.

    ``labels``: how to call A and B (the names the user gave them).
    """
    rows = result.differences.set_index("outcome")
    parts = []
    for outcome in ("fall_day", "killed_rebels"):
        r = rows.loc[outcome]
        parts.append(f"{outcome} {r['mean']:+.3g} [{r['ci_low']:+.3g}, {r['ci_high']:+.3g}]")
    return [f"{labels[1]} - {labels[0]}: " + ", ".join(parts), f"written to {out}/ ({FILES})"]
