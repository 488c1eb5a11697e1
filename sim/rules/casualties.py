"""Casualties: turning hits on fighters into killed and wounded, and where the wounded go.

Each hit fighter is killed with probability ``killed_share``, else wounded:
``killed ~ Binomial(hits, killed_share)``, ``wounded = hits - killed``. The default 0.35 is read off
the record: Hezbollah 114 killed / 200 wounded (infobox) gives 0.36, the opposition's 431-500+
killed / 1,000 wounded gives 0.30-0.33. Attackers' wounded are evacuated at once (they hold the
roads behind them); rebels' wounded stay where they fell until an open route evacuates them
(rule ``supply``) or the attackers take the cell (rule ``surrender``).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from pydantic import Field

from sim.loading import InputModel
from sim.numerics import binomial
from sim.rng import generator
from sim.state import IN_TOWN, REBELS, BattleState


class Params(InputModel):
    """Parameters of the casualty split."""

    killed_share: float = Field(
        0.35, ge=0, le=1, description="share of hit fighters killed (record: infobox Hezbollah 114 killed, 200 wounded)"
    )


def inflict(state: BattleState, p: Params, idx: np.ndarray, p_hit: np.ndarray) -> np.ndarray:
    """Hit each fighter of squads ``idx`` with probability ``p_hit`` (>= 0); return the hits per squad."""
    squads, tally = state.squads, state.tally
    return inflict_kernel(
        squads.strength,
        squads.side,
        squads.node,
        squads.x,
        squads.y,
        idx,
        p_hit,
        p.killed_share,
        state.rng_handle,
        tally.killed,
        tally.wounded,
        tally.wounded_evacuated,
        state.wounded_in_cell,
        state.wounded_at_node,
    )


@njit(cache=True)
def inflict_kernel(
    strength: np.ndarray,
    side: np.ndarray,
    node: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    idx: np.ndarray,
    p_hit: np.ndarray,
    killed_share: float,
    rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
) -> np.ndarray:
    """``inflict`` on the arrays: the hits of squad ``idx[i]`` ~ Binomial(strength, min(p_hit[i], 1)).

    Draws come from the model's generator through ``rng_handle`` (``sim.rng``).

    The draws come in the order of numpy's whole-array form: every squad's hits, then every squad's
    killed (a squad with no hits draws nothing), so a seed gives the same casualties either way.
    """
    rng = generator(rng_handle)
    hits = np.zeros(idx.size, np.int64)
    any_hit = False
    for i in range(idx.size):
        if p_hit[i] > 0:
            hits[i] = binomial(rng, strength[idx[i]], min(p_hit[i], 1.0))
            any_hit = any_hit or hits[i] > 0
    if not any_hit:
        return hits
    for i in range(idx.size):
        squad = idx[i]
        dead = binomial(rng, hits[i], killed_share)
        hurt = hits[i] - dead
        strength[squad] -= hits[i]
        killed[side[squad]] += dead
        wounded[side[squad]] += hurt
        if side[squad] != REBELS:
            wounded_evacuated[side[squad]] += hurt  # the attackers hold the roads behind them
        elif node[squad] == IN_TOWN:
            wounded_in_cell[x[squad], y[squad]] += hurt
        else:
            wounded_at_node[node[squad]] += hurt
    return hits
