"""One run of the model: ``run(scenario, seed) -> RunResult``, the function everything else calls.

The result holds the run's summary (the outcomes compared with the record: fall, withdrawal and
encirclement days, sector control day by day, places captured, casualties by side, in all and by
the end of each day; per sector, the day from which the attackers held it for good) and the
per-step series from ``model.datacollector``, as plain columns (``columns``; ``series``: the same as a
pandas table, imported only then: a battle and a sweep's worker run without pandas).
``scalar_outcomes`` names a run's outcomes as the flat columns that sweeps, evaluations and the
loss read (a place's capture day: ``captured_column``; a sector's: ``sector_column``; a value at the
end of a day: ``day_column``). ``SCHEMA_VERSION`` is the version of the outputs' layout and names
(``docs/outputs.md``), written with every output.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.installation import code_version
from sim.model import BattleModel
from sim.rules.control import sector_gov_shares
from sim.scenario import Scenario
from sim.state import FIGHTING_SIDES, OFF_DUTY, SIDE_NAMES

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1  # of the outputs' files and columns (docs/outputs.md); raised when a name or layout changes
# the outcomes a run records at the end of each day (``day_column`` names them in the flat outcomes)
DAILY_OUTCOMES = ("gov_sectors", "gov_share", *(f"killed_{side}" for side in SIDE_NAMES))
# the days a run dates its events on (summary keys and outcome columns), in the order they come in the battle
EVENT_DAYS = ("encirclement_day", "water_cut_day", "talks_day", "withdrawal_day", "fall_day")
# the town's fate: the events of EVENT_DAYS that the record dates as outcomes (its kind of event -> the column)
OUTCOME_EVENT_DAYS = {"encirclement": "encirclement_day", "withdrawal": "withdrawal_day", "fall": "fall_day"}


@dataclass
class RunResult:
    """What a run produced: its summary (JSON-ready) and its per-step series as columns (``step`` and ``SERIES``)."""

    summary: dict[str, Any]
    columns: dict[str, list[float | int]]

    @property
    def series(self) -> pd.DataFrame:
        """The per-step series as a table, one row per step."""
        return series_frame(self.columns)


def series_frame(columns: dict[str, list[float | int]]) -> pd.DataFrame:
    """A run's per-step columns (``RunResult.columns``) as a table, one row per step (pandas imported here)."""
    import pandas as pd

    return pd.DataFrame(columns)


def free_finished_battle() -> None:
    """Free the battle just run, now, and keep the next such collection short.

    A battle's model holds reference cycles (Mesa's grid and its cells: about 4,500 objects) that only
    a full collection frees. Left to the collector, they pile up for ten runs or so (a process grows by
    about 25 MB), and each full collection traverses every object of the process (about 0.1 s). So:
    a full collection after each run, then the survivors frozen (``gc.freeze``: the imported modules
    and loaded kernels, alive to the process's end, and never traversed again), so that each later
    collection traverses only what the next run made. For a process that runs battles one after
    another and keeps nothing else (a sweep's worker, ``qusayr bench``).
    """
    gc.collect()
    gc.freeze()


def _day(hour: float | None) -> float | None:
    """Hours since day 0 as days, rounded; None stays None."""
    return None if hour is None else round(hour / 24.0, 3)


def _by_side(counts: np.ndarray, with_civilians: bool = True) -> dict[str, int]:
    sides = SIDE_NAMES if with_civilians else SIDE_NAMES[:3]
    return {name: int(counts[i]) for i, name in enumerate(sides)}


def run(scenario: Scenario, seed: int) -> RunResult:
    """Run ``scenario`` with ``seed`` to its end and summarise it."""
    model = BattleModel(scenario, rng=seed)
    state = model.state
    sectors_by_day: list[int] = []
    share_by_day: list[float] = []
    owners_by_day: list[list[str]] = []
    sector_share_by_day: list[list[float]] = []
    strength_by_day: dict[str, list[int]] = {SIDE_NAMES[s]: [] for s in FIGHTING_SIDES}
    killed_by_day: dict[str, list[int]] = {name: [] for name in SIDE_NAMES}
    steps_per_day = round(24 / state.dt_h)
    for _ in range(model.n_steps):
        model.step()
        if round(state.hour / state.dt_h) % steps_per_day == 0:
            sectors_by_day.append(state.sectors_gov)
            share_by_day.append(round(state.gov_share, 4))
            owners_by_day.append([str(o) for o in state.sector_owner])
            sector_share_by_day.append([round(float(x), 3) for x in sector_gov_shares(state)])
            squads = state.squads
            for s in FIGHTING_SIDES:
                alive = (squads.side == s) & (squads.status <= OFF_DUTY)
                strength_by_day[SIDE_NAMES[s]].append(int(squads.strength[alive].sum()))
            for name, count in _by_side(state.tally.killed).items():
                killed_by_day[name].append(count)
    tally = state.tally
    summary = {
        "scenario": scenario.name,
        "scenario_sha256": scenario.sha256(),
        "seed": seed,
        "version": code_version(),
        "schema_version": SCHEMA_VERSION,
        "dt_minutes": scenario.time.dt_minutes,
        "days_simulated": round(model.n_steps * state.dt_h / 24.0, 3),
        "start_day": _day(state.start_hour),
        "fall_day": _day(state.fall_hour),
        "withdrawal_day": _day(state.withdrawal_hour),
        "talks_day": _day(state.talks_hour),
        "encirclement_day": _day(state.encirclement_hour),
        "water_cut_day": _day(state.water_cut_hour),
        "gov_sectors_by_day": sectors_by_day,
        "gov_share_by_day": share_by_day,
        "sector_owner_by_day": owners_by_day,
        "sector_gov_share_by_day": sector_share_by_day,
        "places_captured": {name: _day(hour) for name, hour in sorted(state.place_captured_hour.items())},
        "sector_taken_day": [None if np.isnan(hour) else _day(float(hour)) for hour in state.sector_gov_since_hour],
        "killed": _by_side(tally.killed),
        "killed_by_day": killed_by_day,
        "wounded": _by_side(tally.wounded),
        "captured": _by_side(tally.captured, with_civilians=False),
        "withdrawn": _by_side(tally.withdrawn),
        "initial": _by_side(tally.initial),
        "arrived": _by_side(tally.arrived, with_civilians=False),
        "strength_by_day": strength_by_day,
        "final_cohesion": round(state.cohesion, 4),
    }
    collected = model.datacollector.model_vars
    steps = len(next(iter(collected.values())))
    return RunResult(summary=summary, columns={"step": list(range(steps)), **collected})


def captured_column(place: str) -> str:
    """The outcome column holding the day ``place`` was captured."""
    return "captured_day_" + place.lower().replace(" ", "_").replace("-", "_")


def sector_column(sector: int) -> str:
    """The outcome column holding the day from which the attackers held ``sector`` for good.

    Sectors are numbered row-major from the north-west (0-3 the northern row, west to east); a
    sector the attackers do not hold at the run's end has no day (never taken).
    """
    return f"sector_taken_day_{sector:02d}"


def day_column(outcome: str, day: int) -> str:
    """The outcome column holding ``outcome`` (one of ``DAILY_OUTCOMES``) at the end of ``day`` (0: 19 May)."""
    return f"{outcome}_d{day:02d}"


def scalar_outcomes(summary: dict[str, Any], places: list[str]) -> dict[str, Any]:
    """The run's outcomes as flat scalars: event days, casualties, shares by day, places' and sectors' capture days."""
    out: dict[str, Any] = {key: summary[key] for key in summary if key in EVENT_DAYS}  # in the summary's order
    out["final_cohesion"] = summary["final_cohesion"]
    for fate in ("killed", "wounded", "captured", "withdrawn"):
        for side, count in summary[fate].items():
            out[f"{fate}_{side}"] = count
    for day, count in enumerate(summary["gov_sectors_by_day"]):
        out[day_column("gov_sectors", day)] = count
    for day, share in enumerate(summary["gov_share_by_day"]):
        out[day_column("gov_share", day)] = share
    for side, counts in summary["killed_by_day"].items():
        for day, count in enumerate(counts):
            out[day_column(f"killed_{side}", day)] = count
    for place in places:
        out[captured_column(place)] = summary["places_captured"].get(place)
    for sector, day in enumerate(summary["sector_taken_day"]):
        out[sector_column(sector)] = day
    return out
