"""Whether two ensembles of one scenario agree in distribution, outcome by outcome (``qusayr agree``).

For a change that must leave the model the same in law but may change its bits (a compiled kernel
summing in another order, a different engine), run the same scenario's ensemble before and after
(``sim.sweeps.ensemble``) and compare each outcome's two samples: medians, how often the event never
happens, and the two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``, exact for small
samples) on the runs where it does. A p-value below 0.01 flags an outcome whose distribution moved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from sim.loading import LoadError

# the outcomes compared: the town's fate, control on days 0, 5, 10 and 15, the killed by side
AGREEMENT_OUTCOMES = (
    "fall_day",
    "withdrawal_day",
    "encirclement_day",
    *(f"gov_sectors_d{day:02d}" for day in (0, 5, 10, 15)),
    *(f"gov_share_d{day:02d}" for day in (0, 5, 10, 15)),
    "killed_rebels",
    "killed_army",
    "killed_hezbollah",
    "killed_civilians",
)
FLAG_P = 0.01  # below this, the two samples of an outcome differ


def agreement(
    before: pd.DataFrame, after: pd.DataFrame, outcomes: tuple[str, ...] = AGREEMENT_OUTCOMES
) -> pd.DataFrame:
    """Per outcome: runs, runs where it never happens, medians and the KS statistic and p-value of the two samples."""
    rows = []
    for outcome in outcomes:
        for name, table in (("before", before), ("after", after)):
            if outcome not in table.columns:
                raise LoadError(f"the {name} runs table has no column {outcome!r}")
        a = pd.to_numeric(before[outcome], errors="coerce").to_numpy(float)
        b = pd.to_numeric(after[outcome], errors="coerce").to_numpy(float)
        a_seen, b_seen = a[~np.isnan(a)], b[~np.isnan(b)]
        test = ks_2samp(a_seen, b_seen) if a_seen.size and b_seen.size else None
        rows.append(
            {
                "outcome": outcome,
                "runs_before": a.size,
                "runs_after": b.size,
                "never_before": int(a.size - a_seen.size),
                "never_after": int(b.size - b_seen.size),
                "median_before": float(np.median(a_seen)) if a_seen.size else np.nan,
                "median_after": float(np.median(b_seen)) if b_seen.size else np.nan,
                "ks_statistic": float(test.statistic) if test else np.nan,
                "ks_p": float(test.pvalue) if test else np.nan,
            }
        )
    return pd.DataFrame(rows)


def identical_runs(before: pd.DataFrame, after: pd.DataFrame) -> int:
    """How many seeds run in both give every outcome column the same value in both (missing equals missing)."""
    outcomes = [c for c in before.columns if c in after.columns and c not in ("run_id", "point", "replicate")]
    both = before[outcomes].merge(after[outcomes], on="seed", suffixes=("_before", "_after"))
    same = np.ones(len(both), bool)
    for column in outcomes:
        if column != "seed":
            a, b = both[f"{column}_before"], both[f"{column}_after"]
            same &= ((a == b) | (a.isna() & b.isna())).to_numpy()
    return int(same.sum())


def agreement_markdown(table: pd.DataFrame, labels: tuple[str, str], identical: int | None = None) -> str:
    """The agreement table as Markdown, each outcome flagged when its KS p-value is below ``FLAG_P``."""
    lines = [
        f"| outcome | median {labels[0]} | median {labels[1]} | never ({labels[0]} / {labels[1]}) | KS D | KS p |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in table.itertuples():
        flag = " (differs)" if row.ks_p < FLAG_P else ""
        lines.append(
            f"| {row.outcome} | {row.median_before:.4g} | {row.median_after:.4g} | {row.never_before} / "
            f"{row.never_after} | {row.ks_statistic:.3f} | {row.ks_p:.3g}{flag} |"
        )
    runs = f"{int(table['runs_before'].iloc[0])} and {int(table['runs_after'].iloc[0])} runs" if len(table) else ""
    same = "" if identical is None else f"; {identical} seeds gave identical outcomes in both"
    return "\n".join(lines) + f"\n\n{runs}{same}; KS p-values below {FLAG_P} are flagged.\n"
