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
from pydantic import BaseModel, ConfigDict, Field

from sim.state import IN_TOWN, REBELS, BattleState


class Params(BaseModel):
    """Parameters of the casualty split."""

    model_config = ConfigDict(extra="forbid")

    killed_share: float = Field(
        0.35, ge=0, le=1, description="share of hit fighters killed (record: infobox Hezbollah 114 killed, 200 wounded)"
    )


def inflict(state: BattleState, p: Params, idx: np.ndarray, p_hit: np.ndarray) -> np.ndarray:
    """Hit each fighter of squads ``idx`` with probability ``p_hit`` (>= 0); return the hits per squad."""
    squads = state.squads
    hits = np.zeros(idx.size, np.int64)
    exposed = p_hit > 0
    if not exposed.any():
        return hits
    hits[exposed] = state.rng.binomial(squads.strength[idx[exposed]], np.minimum(p_hit[exposed], 1.0))
    if not hits.any():
        return hits
    killed = state.rng.binomial(hits, p.killed_share)
    wounded = hits - killed
    squads.strength[idx] -= hits.astype(np.int32)
    sides = squads.side[idx]
    tally = state.tally
    tally.killed[:3] += np.bincount(sides, weights=killed, minlength=3).astype(np.int64)
    wounded_by_side = np.bincount(sides, weights=wounded, minlength=3).astype(np.int64)
    tally.wounded[:3] += wounded_by_side
    tally.wounded_evacuated[1:3] += wounded_by_side[1:3]
    rebel = (sides == REBELS) & (wounded > 0)
    if rebel.any():
        ridx, rw = idx[rebel], wounded[rebel]
        town = squads.node[ridx] == IN_TOWN
        np.add.at(state.wounded_in_cell, (squads.x[ridx][town], squads.y[ridx][town]), rw[town])
        np.add.at(state.wounded_at_node, squads.node[ridx][~town], rw[~town])
    return hits
