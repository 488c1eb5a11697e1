"""Control: who holds each cell, each of the 16 sectors, and what share of the town.

A cell is held by the rebels when only rebels are in it, contested when both sides are, and keeps
its holder when it is empty (ground is held until someone else comes). Attackers alone in a cell
hold it only once they have cleared it of fighters, mines and booby traps: the cell's clearing work
starts at::

    clear_fighter_h * built_up * (1 - work_follows_deployment + work_follows_deployment * w / mean(w))

fighter-hours, ``w`` being the rebels' deployment weight of the cell's sector (``mean`` over the
town's cells): the rebels mined and fortified the quarters they held in strength, where they expected
the attack (record:rebels-surprised), and little else. Each step the attackers in a cell work off::

    min(attackers in the cell, clearing_capacity) * dt_h / (1 + (defenders / defenders_halving) ** defenders_steepness)

where ``defenders`` are the rebels within ``opposed_within_cells``: ground the rebels have left
goes fast, ground they crowd slowly, the more so the more of them there are (record: the Army took
"small bit of ground" and consolidated it before advancing again; the rebels held the dense north
for two weeks; the town was entered "without resistance" once they had left). For the first
``surprise_h`` hours of the battle the rebels count for ``surprised_defence`` of their number: the
attack came from where they did not expect it (record:rebels-surprised), and the attackers took
more than half the town "within hours" (record:claim-d00-ap-more-than-half). A sector is held by
a side holding at least ``sector_hold_share`` of its cells, else contested. The attackers' share
of the town is the share of town cells they hold. The town falls the first time the attackers hold
all sectors (the record: "16 squares"). Taking a cell costs the rebels its prepared positions.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.grid import box_sum, cell_sum
from sim.state import CONTESTED, GOV, REB, REBELS, BattleState

SECTOR_GOV, SECTOR_REB, SECTOR_CONTESTED = "gov", "reb", "contested"


class Params(BaseModel):
    """Parameters of control."""

    model_config = ConfigDict(extra="forbid")

    sector_hold_share: float = Field(
        0.75, gt=0.5, le=1, description="share of a sector's cells a side must hold to hold it (assumption)"
    )
    clear_fighter_h: float = Field(
        179.8,
        ge=0,
        description="fighter-hours to clear a fully built-up 100 m cell of average preparation no rebel is near "
        "(calibrated: experiments/calibration.yaml)",
    )
    opposed_within_cells: int = Field(
        2, ge=0, le=10, description="rebels this close (in cells) make clearing a fight (assumption)"
    )
    defenders_halving: float = Field(
        4.463,
        gt=0,
        description="rebels within range that halve the pace of clearing (calibrated: experiments/calibration.yaml)",
    )
    defenders_steepness: float = Field(
        3.904,
        gt=0,
        description="how sharply the pace falls as defenders gather around defenders_halving "
        "(calibrated earlier, held fixed: docs/decisions.md)",
    )
    work_follows_deployment: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of a cell's clearing work that follows the rebels' deployment (assumption "
        "chosen by hand; record:rebels-surprised)",
    )
    clearing_capacity: float = Field(
        95.0,
        gt=0,
        description="attackers able to work at once in a 100 m cell (calibrated earlier, held fixed: "
        "docs/decisions.md)",
    )
    surprise_h: float = Field(
        6.0,
        ge=0,
        description="hours from the battle's start (19 May 00:00) during which the rebels are "
        "surprised (assumption chosen by hand; record:rebels-surprised)",
    )
    surprised_defence: float = Field(
        0.25,
        ge=0,
        le=1,
        description="share of their number the rebels near a block count for while surprised "
        "(assumption chosen by hand; record:rebels-surprised)",
    )


def step(state: BattleState, p: Params) -> None:
    """Update cell control, sector holders, the attackers' share, and the fall."""
    if state.well_mixed:
        return
    squads = state.squads
    idx = np.flatnonzero(squads.in_town())
    rebel = squads.side[idx] == REBELS
    x, y = squads.x[idx], squads.y[idx]
    rebels = cell_sum(state.shape, x[rebel], y[rebel], squads.strength[idx[rebel]])
    reb_here = rebels > 0
    attackers = cell_sum(state.shape, x[~rebel], y[~rebel], squads.strength[idx[~rebel]])
    gov_here = attackers > 0
    control = state.control
    alone = gov_here & ~reb_here
    defenders = box_sum(rebels, p.opposed_within_cells)
    if state.hour <= p.surprise_h:
        defenders = defenders * p.surprised_defence
    pace = 1.0 / (1.0 + (defenders / p.defenders_halving) ** p.defenders_steepness)
    state.clearing_left[alone] -= (np.minimum(attackers, p.clearing_capacity) * pace)[alone] * state.dt_h
    cleared = alone & (state.clearing_left <= 0)
    control[cleared] = GOV
    control[alone & ~cleared] = CONTESTED
    control[reb_here & ~gov_here] = REB
    control[reb_here & gov_here] = CONTESTED
    state.prepared[control == GOV] = 0.0
    update_sectors(state, p)
    if state.fall_hour is None and state.sectors_gov == state.n_sectors:
        state.fall_hour = state.hour


def update_sectors(state: BattleState, p: Params) -> None:
    """Sector holders and the attackers' share of the town, from cell control."""
    hold = p.sector_hold_share
    town = state.in_town_mask
    sector = state.sector[town]
    control = state.control[town]
    cells = np.bincount(sector, minlength=state.n_sectors)
    gov = np.bincount(sector, weights=control == GOV, minlength=state.n_sectors) / cells
    reb = np.bincount(sector, weights=control == REB, minlength=state.n_sectors) / cells
    owner = np.full(state.n_sectors, SECTOR_CONTESTED, dtype=object)
    owner[gov >= hold] = SECTOR_GOV
    owner[reb >= hold] = SECTOR_REB
    state.sector_owner = owner
    state.sectors_gov = int((owner == SECTOR_GOV).sum())
    state.gov_share = float((control == GOV).mean())
