"""Counterfactuals: two scenarios on the same seeds, and their paired differences.

For each outcome, the mean paired difference ``B_r - A_r`` over common seeds with its 95 % confidence
interval ``mean ± t(0.975, n - 1) * sd / sqrt(n)``; event days that never happen count as
``sim.analysis.targets.NEVER_DAY``. ``compare`` returns a ``ComparisonResult``;
``sim.analysis.reports.counterfactual`` renders it.

Methods: docs/methods.md, section 9 (counterfactuals).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sim.analysis.targets import event_days, outcome_values
from sim.output import path_under
from sim.run import OUTCOME_EVENT_DAYS
from sim.scenario import load_scenario
from sim.sweeps.ensemble import run_ensemble

DAY_OUTCOMES = tuple(OUTCOME_EVENT_DAYS.values())  # the days of the town's fate
COUNT_OUTCOMES = ("killed_rebels", "killed_army", "killed_hezbollah", "killed_civilians", "captured_rebels")


@dataclass
class ComparisonResult:
    """Scenario B against scenario A on common seeds."""

    names: list[str]  # the scenarios' names, A then B
    runs: int
    master_seed: int
    differences: pd.DataFrame  # per outcome: medians, never shares, paired mean B - A with its 95 % CI


def paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean of ``b - a`` with its 95 % t confidence interval, and the number of pairs."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    n = len(d)
    mean = float(d.mean())
    half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def _values(runs: pd.DataFrame, outcome: str) -> np.ndarray:
    """An outcome of every run; an event day that never came counts as ``NEVER_DAY`` (``event_days``)."""
    values = outcome_values(runs, outcome)
    return event_days(values) if outcome in DAY_OUTCOMES else values


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
                "a_median": float(np.median(_values(a, outcome))),
                "b_median": float(np.median(_values(b, outcome))),
                "a_never": float(a[outcome].isna().mean()) if outcome in DAY_OUTCOMES else 0.0,
                "b_never": float(b[outcome].isna().mean()) if outcome in DAY_OUTCOMES else 0.0,
                **paired(_values(a, outcome), _values(b, outcome)),
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
    *,
    ensembles: Path,
    master_seed: int = 1,
    workers: int | None = None,
    cluster: str | None = None,
    quiet: bool = False,
) -> ComparisonResult:
    """Run both ensembles (or reuse those kept in ``ensembles``) and their paired differences.

    Each ensemble's folder is named after its scenario and must lie inside ``ensembles``.
    """
    pair = (scenario_a, scenario_b)
    loaded = [load_scenario(scenario) for scenario in pair]  # bad input: before any run
    # keyed by the scenario's content too: an edited scenario gets a new ensemble
    folders = [
        path_under(ensembles, f"{spec.name}-{spec.sha256()[:8]}-m{master_seed}-n{runs}", f"{scenario}: name")
        for scenario, spec in zip(pair, loaded, strict=True)
    ]
    tables = []
    for scenario, folder in zip(pair, folders, strict=True):
        table, _ = run_ensemble(
            scenario, [], runs, folder, master_seed=master_seed, workers=workers, cluster=cluster, quiet=quiet
        )
        tables.append(table)
    names = [spec.name for spec in loaded]
    return ComparisonResult(names, runs, master_seed, differences(*tables))
