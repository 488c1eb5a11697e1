"""Figures: pure functions that draw on a matplotlib Axes and return it (never ``show()``).

The model core never imports this module; the CLI and reports do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from sim.record import DAY0, Record

LEAN_COLOURS = {"government": "tab:red", "opposition": "tab:green", "neutral": "tab:blue"}


def _end_of_day(day: int) -> dt.datetime:
    return dt.datetime.combine(DAY0, dt.time()) + dt.timedelta(days=day + 1)


def plot_control(summary: dict[str, Any], *, record: Record | None = None, ax: Axes | None = None) -> Axes:
    """The attackers' share of the town and of its 16 sectors by date, with the record's claims.

    Each claim is drawn at noon of its date as its interval of the attackers' share (see
    ``ControlClaim.gov_share``), coloured by the source's lean.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    days = range(len(summary["gov_share_by_day"]))
    ends = [_end_of_day(d) for d in days]
    ax.plot(ends, summary["gov_share_by_day"], color="black", marker="o", ms=3, label="model: share of town area")
    n_sectors = len(summary["sector_owner_by_day"][0]) if summary["sector_owner_by_day"] else 16
    ax.step(
        ends,
        [s / n_sectors for s in summary["gov_sectors_by_day"]],
        where="post",
        color="grey",
        linestyle="--",
        label=f"model: sectors held / {n_sectors}",
    )
    if record is not None:
        seen: set[str] = set()
        for claim in record.control_claims:
            low, high = claim.gov_share
            low, high = max(low, 0.0), min(high, 1.0)
            when = dt.datetime.combine(claim.date, dt.time(12))
            colour = LEAN_COLOURS[claim.lean]
            label = f"record: {claim.lean} claim" if claim.lean not in seen else None
            seen.add(claim.lean)
            ax.vlines(when, low, high, color=colour, alpha=0.6, linewidth=3)
            ax.plot(when, (low + high) / 2, "o", color=colour, mec="white", label=label)
    for key, text in (("encirclement_day", "encircled"), ("withdrawal_day", "withdrawal"), ("fall_day", "fall")):
        day = summary.get(key)
        if day is not None:
            when = dt.datetime.combine(DAY0, dt.time()) + dt.timedelta(days=day)
            ax.axvline(when, color="tab:purple", linestyle=":", linewidth=1)
            ax.text(when, 1.02, text, rotation=90, va="bottom", ha="center", fontsize=7, color="tab:purple")
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("held by the attackers (share of the town)")
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=2))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.set_xlabel("2013")
    ax.set_title(f"al-Qusayr: control of the town, scenario {summary['scenario']}, seed {summary['seed']}", pad=28)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_outcome_vs_parameter(runs, parameter: str, outcome: str, *, ax: Axes | None = None) -> Axes:
    """One outcome of a sweep against one varied parameter: every run, and each point's median.

    ``runs`` is the sweep's ``runs.parquet`` as a DataFrame; runs where the outcome did not happen
    (a town that never fell) are left out and counted in the title.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    happened = runs[runs[outcome].notna()]
    ax.scatter(happened[parameter], happened[outcome], s=10, alpha=0.4, color="tab:blue", label="runs")
    medians = happened.groupby("point").agg({parameter: "first", outcome: "median"}).sort_values(parameter)
    ax.plot(medians[parameter], medians[outcome], "o", color="black", ms=4, label="median of a point's replicates")
    missing = len(runs) - len(happened)
    ax.set_xlabel(parameter)
    ax.set_ylabel(outcome.replace("_", " "))
    ax.set_title(f"{outcome.replace('_', ' ')} against {parameter}" + (f" ({missing} runs: never)" if missing else ""))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_sector_bands(runs, *, ax: Axes | None = None, max_points: int = 8) -> Axes:
    """Sectors held by the attackers by date for each design point: median and 10-90 % band of its replicates."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    columns = sorted(c for c in runs.columns if c.startswith("gov_sectors_d"))
    ends = [_end_of_day(int(c.removeprefix("gov_sectors_d"))) for c in columns]
    for point, group in list(runs.groupby("point"))[:max_points]:
        values = group[columns].to_numpy(dtype=float)
        line = ax.plot(ends, np.median(values, axis=0), label=f"point {point}")[0]
        ax.fill_between(
            ends,
            np.percentile(values, 10, axis=0),
            np.percentile(values, 90, axis=0),
            color=line.get_color(),
            alpha=0.15,
        )
    ax.set_ylim(0, 16.5)
    ax.set_ylabel("sectors held by the attackers (of 16)")
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=2))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.set_xlabel("2013")
    ax.set_title("Sector control by design point: median and 10-90 % of replicates")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return ax
