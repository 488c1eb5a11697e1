"""Counterfactuals: two scenarios on the same seeds, and their paired differences.

Both ensembles use the seeds of the same master seed (common random numbers: run ``r`` of A and
run ``r`` of B draw from the same stream), so the difference ``B_r - A_r`` removes most of the
noise two independent ensembles would carry. For each outcome the mean paired difference gets a
95 % confidence interval ``mean ± t(0.975, n - 1) * sd / sqrt(n)``; an interval that excludes zero
means the change of scenario moves that outcome. Event days that never happen count as day 24
(``sim.compare.NEVER_DAY``), and the share of such runs is reported beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sim.compare import NEVER_DAY
from sim.output import save_figure, write_text
from sim.scenario import load_scenario
from sim.validate import run_ensemble

DAY_OUTCOMES = ("encirclement_day", "withdrawal_day", "fall_day")
COUNT_OUTCOMES = ("killed_rebels", "killed_army", "killed_hezbollah", "killed_civilians", "captured_rebels")


def paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean of ``b - a`` with its 95 % t confidence interval, and the number of pairs."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    n = len(d)
    mean = float(d.mean())
    half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def _column(runs: pd.DataFrame, outcome: str) -> np.ndarray:
    values = pd.to_numeric(runs[outcome], errors="coerce")
    return values.fillna(NEVER_DAY).to_numpy(dtype=float) if outcome in DAY_OUTCOMES else values.to_numpy(dtype=float)


def differences(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Paired differences B - A per outcome and per day's share of the town held by the attackers."""
    a, b = a.sort_values("replicate").reset_index(drop=True), b.sort_values("replicate").reset_index(drop=True)
    if list(a["seed"]) != list(b["seed"]):
        raise ValueError("the two ensembles do not share their seeds")
    rows = []
    for outcome in (*DAY_OUTCOMES, *COUNT_OUTCOMES):
        rows.append(
            {
                "outcome": outcome,
                "a_median": float(np.median(_column(a, outcome))),
                "b_median": float(np.median(_column(b, outcome))),
                "a_never": float(a[outcome].isna().mean()) if outcome in DAY_OUTCOMES else 0.0,
                "b_never": float(b[outcome].isna().mean()) if outcome in DAY_OUTCOMES else 0.0,
                **paired(_column(a, outcome), _column(b, outcome)),
            }
        )
    shares = sorted(c for c in a.columns if c.startswith("gov_share_d") and c in b.columns)
    for column in shares:
        rows.append(
            {
                "outcome": column,
                "a_median": float(a[column].median()),
                "b_median": float(b[column].median()),
                "a_never": 0.0,
                "b_never": 0.0,
                **paired(a[column].to_numpy(float), b[column].to_numpy(float)),
            }
        )
    table = pd.DataFrame(rows)
    table["excludes_zero"] = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    return table


def compare(
    scenario_a: str,
    scenario_b: str,
    runs: int,
    out: Path,
    *,
    ensembles: Path,
    master_seed: int = 1,
    workers: int | None = None,
    cluster: str | None = None,
    quiet: bool = False,
    command: str = "",
) -> pd.DataFrame:
    """Run both ensembles (or reuse them), write compare.md, differences.csv and the figure."""
    names = []
    tables = []
    for scenario in (scenario_a, scenario_b):
        loaded = load_scenario(scenario)
        names.append(loaded.name)
        # keyed by the scenario's content too: an edited scenario gets a new ensemble
        folder = ensembles / f"{loaded.name}-{loaded.sha256()[:8]}-m{master_seed}-n{runs}"
        table, _ = run_ensemble(
            scenario, [], runs, folder, master_seed=master_seed, workers=workers, cluster=cluster, quiet=quiet
        )
        tables.append(table)
    table = differences(*tables)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "differences.csv", table.to_csv(index=False))
    write_text(out / "compare.md", report(names, table, runs, master_seed, command))
    write_text(
        out / "compare.json",
        json.dumps(
            {
                "a": names[0],
                "b": names[1],
                "runs": runs,
                "master_seed": master_seed,
                "differences": table.to_dict(orient="records"),
            },
            indent=1,
        )
        + "\n",
    )
    _figure(out, names, table)
    return table


def report(names: list[str], table: pd.DataFrame, runs: int, master_seed: int, command: str) -> str:
    """``compare.md``: the outcomes' paired differences with their confidence intervals."""
    lines = [
        f"# `{names[1]}` (B) against `{names[0]}` (A)",
        "",
        f"{runs} common seeds (master seed {master_seed}); B - A paired per seed, mean with its 95 % confidence "
        f"interval. Event days that never happen count as day {NEVER_DAY:g}. Regenerate with `{command}`.",
        "",
        "| outcome | A median | B median | B - A (mean) | 95 % CI | excludes 0 |",
        "|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        never = ""
        if row.a_never or row.b_never:
            never = f" (never: A {row.a_never:.0%}, B {row.b_never:.0%})"
        lines.append(
            f"| {row.outcome.replace('_', ' ')}{never} | {row.a_median:.3g} | {row.b_median:.3g} | {row.mean:+.3g} | "
            f"[{row.ci_low:+.3g}, {row.ci_high:+.3g}] | {'yes' if row.excludes_zero else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def _figure(out: Path, names: list[str], table: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.plots import plot_differences, plot_share_difference

    fig, axes = plt.subplots(1, 3, figsize=(16, 4), constrained_layout=True)
    plot_differences(table[table["outcome"].isin(DAY_OUTCOMES)], unit="days", ax=axes[0])
    plot_differences(table[table["outcome"].isin(COUNT_OUTCOMES)], unit="people", ax=axes[1])
    plot_share_difference(table[table["outcome"].str.startswith("gov_share_d")], ax=axes[2])
    fig.suptitle(f"{names[1]} minus {names[0]}: paired differences over common seeds, 95 % confidence intervals")
    save_figure(fig, out, "compare")


def summary_line(names: list[str], table: pd.DataFrame) -> str:
    """One line: the fall day's and rebels killed's differences."""
    rows = table.set_index("outcome")
    parts = []
    for outcome in ("fall_day", "killed_rebels"):
        r = rows.loc[outcome]
        parts.append(f"{outcome} {r['mean']:+.3g} [{r['ci_low']:+.3g}, {r['ci_high']:+.3g}]")
    return f"{names[1]} - {names[0]}: " + ", ".join(parts)
