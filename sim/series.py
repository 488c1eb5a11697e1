"""The per-step series of a run: what the model counts after each step, and the Mesa collector that keeps it.

``SERIES`` names the columns (``sim.viz`` charts them, ``sim.run`` returns them as a table).
``SeriesCollector`` is Mesa's ``DataCollector`` (``model_vars``, ``get_model_vars_dataframe``) with
a ``collect`` made for a hot loop: one compiled pass over the squads and grids (``_counts``) instead of a
reporter per column, and plain Python numbers appended without Mesa's deep copy of each value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

from sim.lean_mesa import mesa
from sim.numerics import pairwise_sum
from sim.state import ACTIVE, ARMY, CIVILIANS, HEZBOLLAH, REBELS, BattleState

SERIES = (
    "hour",  # hours since day 0 (19 May 2013 00:00)
    "gov_share",  # the attackers' share of the town
    "gov_sectors",  # sectors the attackers hold
    "rebels",  # fighters able to fight, by side
    "army",
    "hezbollah",
    "civilians",  # civilians in the town
    "rebels_wounded_waiting",  # rebels' wounded not yet evacuated
    "rebels_killed",
    "attackers_killed",
    "civilians_killed",
    "cohesion",  # the rebels' cohesion
    "routes_open",  # supply routes open
    "mean_damage",  # mean damage of the town's cells
)


@njit(cache=True)
def _counts(
    side: np.ndarray,
    status: np.ndarray,
    strength: np.ndarray,
    civilians: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
    damage: np.ndarray,
    in_town: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Fighters able to fight (ACTIVE) of rebels, army, Hezbollah; civilians; rebels' wounded waiting; mean town damage.

    The mean is numpy's ``damage[in_town].mean()`` to the last bit: the pairwise sum of the town's
    cells in row-major order, divided by their number.
    """
    counts = np.zeros(5, np.int64)
    for i in range(side.size):
        if status[i] == ACTIVE:
            counts[side[i]] += strength[i]
    counts[3] = civilians.sum()
    counts[4] = wounded_in_cell.sum() + wounded_at_node.sum()
    town_damage = damage.ravel()[in_town.ravel()]
    return counts, pairwise_sum(town_damage) / town_damage.size


def census(state: BattleState) -> tuple[float | int, ...]:
    """The values of ``SERIES`` for the state now, in its order."""
    squads, killed = state.squads, state.tally.killed
    counts, mean_damage = _counts(
        squads.side,
        squads.status,
        squads.strength,
        state.civilians,
        state.wounded_in_cell,
        state.wounded_at_node,
        state.damage,
        state.in_town_mask,
    )
    rebels, army, hezbollah, civilians, wounded_waiting = counts.tolist()
    return (
        state.hour,
        state.gov_share,
        state.sectors_gov,
        rebels,
        army,
        hezbollah,
        civilians,
        wounded_waiting,
        int(killed[REBELS]),
        int(killed[ARMY] + killed[HEZBOLLAH]),
        int(killed[CIVILIANS]),
        state.cohesion,
        len(state.routes_open),
        mean_damage,
    )


def _reporter(index: int) -> Callable[[mesa.Model], float | int]:
    """Mesa's model reporter of column ``index`` of ``SERIES``."""
    return lambda model: census(model.state)[index]


class SeriesCollector(mesa.DataCollector):
    """Mesa's DataCollector of the model-level ``SERIES`` (a reporter per column), one row per ``collect``."""

    def __init__(self) -> None:
        super().__init__(model_reporters={name: _reporter(index) for index, name in enumerate(SERIES)})
        self._columns = tuple(self.model_vars[name] for name in SERIES)

    def collect(self, model: mesa.Model) -> None:
        """Append the reporters' values, from one census of ``model.state`` (a ``sim.model.BattleModel``)."""
        for column, value in zip(self._columns, census(model.state), strict=True):
            column.append(value)
