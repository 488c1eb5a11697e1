"""``qusayr sensitivity``'s files: ``sensitivity.md``, ``indices.csv``, the runs' tables and the figure.

Methods: docs/methods.md, sections 8 (sensitivity) and 10 (rendering).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sim.analysis.reports import plotting
from sim.analysis.sensitivity import LEAD_INDEX, UNITS, SensitivityResult, sensitivity
from sim.output import save_figure, write_text
from sim.outputs import csv_text, write_runs
from sim.sweeps.runner import evaluation_run_id

FILES = "sensitivity.md, indices.csv, runs.parquet, by_day.parquet, sensitivity.png/.svg"


def sensitivity_markdown(result: SensitivityResult) -> str:
    """``sensitivity.md``: one table per outcome, parameters by importance."""
    table, lead = result.indices, LEAD_INDEX[result.method]
    lines = [
        f"# Sensitivity ({result.method}): experiment `{result.experiment.name}` on `{result.experiment.scenario}`",
        "",
        f"{len(result.points)} parameter sets x {len(result.seeds)} common seeds (SALib given the replicate means); "
        "95 % bootstrap confidence intervals. Definitions: `sim/analysis/sensitivity.py`.",
        "",
    ]
    for outcome in dict.fromkeys(table["outcome"]):
        part = table[table["outcome"] == outcome].pivot(index="parameter", columns="index", values=["value", "conf"])
        part = part.sort_values(("value", lead), ascending=False)
        indices = list(dict.fromkeys(table["index"]))
        lines += [f"## {outcome.replace('_', ' ')}", "", "| parameter | " + " | ".join(indices) + " |"]
        lines.append("|---|" + "---|" * len(indices))
        for parameter, row in part.iterrows():
            cells = []
            for index in indices:
                conf = row[("conf", index)]
                cells.append(f"{row[('value', index)]:.3g}" + ("" if np.isnan(conf) else f" ± {conf:.2g}"))
            lines.append(f"| `{parameter}` | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def sensitivity_figure(result: SensitivityResult, folder: Path) -> list[Path]:
    """The indices of each outcome, one panel each (PNG and SVG)."""
    plt, plots = plotting()
    table = result.indices
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), constrained_layout=True)
    for ax in axes.ravel()[table["outcome"].nunique() :]:
        ax.axis("off")
    for ax, outcome in zip(axes.ravel(), dict.fromkeys(table["outcome"]), strict=False):
        unit = UNITS[outcome] if result.method == "morris" else "share of variance"
        plots.plot_indices(table, outcome, unit=unit, ax=ax)
    return save_figure(fig, folder, "sensitivity")


def write_sensitivity(experiment_name: str | Path, out: Path, **options: Any) -> SensitivityResult:
    """Run the sensitivity analysis (``sim.analysis.sensitivity``) and write its files into ``out``.

    ``options``: ``sensitivity``'s own (``method``, ``size``, ``replicates``, ``workers``, ``cluster``).
    """
    result = sensitivity(experiment_name, **options)
    out.mkdir(parents=True, exist_ok=True)
    runs = result.runs.assign(
        run_id=[evaluation_run_id(p, r) for p, r in zip(result.runs["point"], result.runs["replicate"], strict=True)]
    )
    write_runs(out, runs.to_dict("records"), list(result.points[0]))
    write_text(out / "indices.csv", csv_text(result.indices))
    write_text(out / "sensitivity.md", sensitivity_markdown(result))
    sensitivity_figure(result, out)
    return result


def sensitivity_lines(result: SensitivityResult, out: Path) -> list[str]:
    """What ``qusayr sensitivity`` prints: the three leading parameters of each outcome, where the files are."""
    table, lead = result.indices, LEAD_INDEX[result.method]
    lines = []
    for outcome, part in table[table["index"] == lead].groupby("outcome", sort=False):
        top = part.sort_values("value", ascending=False).head(3)
        ranked = ", ".join(f"{p.split('.')[-1]} {v:.3g}" for p, v in zip(top["parameter"], top["value"], strict=True))
        lines.append(f"{outcome}: {lead} {ranked}")
    lines.append(f"written to {out}/ ({FILES})")
    return lines
