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

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.state import CONTESTED, GOV, REB, REBELS

if TYPE_CHECKING:
    from sim.model import BattleModel

SECTOR_GOV, SECTOR_REB, SECTOR_CONTESTED = "gov", "reb", "contested"


class Params(BaseModel):
    """Parameters of control."""

    model_config = ConfigDict(extra="forbid")

    sector_hold_share: float = Field(
        0.75, gt=0.5, le=1, description="share of a sector's cells a side must hold to hold it (assumption)"
    )
    clear_fighter_h: float = Field(
        100.0,
        ge=0,
        description=(
            "fighter-hours to clear a fully built-up 100 m cell of average preparation no rebel is near (assumption)"
        ),
    )
    opposed_within_cells: int = Field(
        2, ge=0, le=10, description="rebels this close (in cells) make clearing a fight (assumption)"
    )
    defenders_halving: float = Field(
        5.0, gt=0, description="rebels within range that halve the pace of clearing (assumption)"
    )
    defenders_steepness: float = Field(
        1.0,
        gt=0,
        description="how sharply the pace falls as defenders gather around defenders_halving (assumption)",
    )
    work_follows_deployment: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of a cell's clearing work that follows the rebels' deployment (assumption)",
    )
    clearing_capacity: float = Field(
        20.0, gt=0, description="attackers able to work at once in a 100 m cell (assumption: about a platoon)"
    )
    surprise_h: float = Field(
        0.0,
        ge=0,
        description="hours from the battle's start (19 May 00:00) during which the rebels are surprised (assumption)",
    )
    surprised_defence: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of their number the rebels near a block count for while surprised (assumption)",
    )


def step(model: BattleModel) -> None:
    """Update cell control, sector holders, the attackers' share, and the fall."""
    if model.well_mixed:
        return
    squads = model.squads
    idx = np.flatnonzero(squads.in_town())
    rebel = squads.side[idx] == REBELS
    x, y = squads.x[idx], squads.y[idx]
    p = model.config.rules.control
    rebels = model.cell_sum(x[rebel], y[rebel], squads.strength[idx[rebel]])
    reb_here = rebels > 0
    attackers = model.cell_sum(x[~rebel], y[~rebel], squads.strength[idx[~rebel]])
    gov_here = attackers > 0
    control = model.control
    alone = gov_here & ~reb_here
    defenders = model.box_sum(rebels, p.opposed_within_cells)
    if model.hour <= p.surprise_h:
        defenders = defenders * p.surprised_defence
    pace = 1.0 / (1.0 + (defenders / p.defenders_halving) ** p.defenders_steepness)
    model.clearing_left[alone] -= (np.minimum(attackers, p.clearing_capacity) * pace)[alone] * model.dt_h
    cleared = alone & (model.clearing_left <= 0)
    control[cleared] = GOV
    control[alone & ~cleared] = CONTESTED
    control[reb_here & ~gov_here] = REB
    control[reb_here & gov_here] = CONTESTED
    model.prepared[control == GOV] = 0.0
    update_sectors(model)
    if model.fall_hour is None and model.sectors_gov == model.n_sectors:
        model.fall_hour = model.hour


def update_sectors(model: BattleModel) -> None:
    """Sector holders and the attackers' share of the town, from cell control."""
    hold = model.config.rules.control.sector_hold_share
    town = model.in_town_mask
    sector = model.sector[town]
    control = model.control[town]
    cells = np.bincount(sector, minlength=model.n_sectors)
    gov = np.bincount(sector, weights=control == GOV, minlength=model.n_sectors) / cells
    reb = np.bincount(sector, weights=control == REB, minlength=model.n_sectors) / cells
    owner = np.full(model.n_sectors, SECTOR_CONTESTED, dtype=object)
    owner[gov >= hold] = SECTOR_GOV
    owner[reb >= hold] = SECTOR_REB
    model.sector_owner = owner
    model.sectors_gov = int((owner == SECTOR_GOV).sum())
    model.gov_share = float((control == GOV).mean())
