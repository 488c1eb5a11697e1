"""Control: who holds each cell, each of the 16 sectors, and what share of the town.

A cell is held by the rebels when only rebels are in it, contested when both sides are, and keeps
its holder when it is empty (ground is held until someone else comes). Attackers alone in a cell
hold it only once they have cleared it of fighters, mines and booby traps: the cell's clearing work
starts at::

    clear_fighter_h * built_up * (1 - work_follows_deployment + work_follows_deployment * w / mean(w))

fighter-hours, ``w`` being the rebels' deployment weight of the cell's sector
(``sim.scenario.deployment_weights``; ``mean`` over the town's cells): the rebels mined and
fortified the quarters they held in strength, where they expected the attack
(record:rebels-surprised), and little else. Each step the attackers in a cell work off::

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
from numba import njit
from pydantic import Field

from sim.loading import InputModel
from sim.numerics import power
from sim.state import ACTIVE, CONTESTED, GOV, IN_TOWN, REB, REBELS, BattleState

SECTOR_GOV, SECTOR_REB, SECTOR_CONTESTED = "gov", "reb", "contested"
SECTOR_CODE_GOV, SECTOR_CODE_REB, SECTOR_CODE_CONTESTED = 0, 1, 2  # state.sector_code: sector_owner as codes
_OWNER_NAMES = np.array([SECTOR_GOV, SECTOR_REB, SECTOR_CONTESTED], dtype=object)  # by code


class Params(InputModel):
    """Parameters of control."""

    sector_hold_share: float = Field(
        0.75, gt=0.5, le=1, description="share of a sector's cells a side must hold to hold it (assumption)"
    )
    clear_fighter_h: float = Field(
        154.2,
        ge=0,
        description="fighter-hours to clear a fully built-up 100 m cell of average preparation no rebel is near "
        "(calibrated: experiments/history-matching.yaml)",
    )
    opposed_within_cells: int = Field(
        2, ge=0, le=10, description="rebels this close (in cells) make clearing a fight (assumption)"
    )
    defenders_halving: float = Field(
        10.52,
        gt=0,
        description="rebels within range that halve the pace of clearing "
        "(calibrated: experiments/history-matching.yaml)",
    )
    defenders_steepness: float = Field(
        5.136,
        gt=0,
        description="how sharply the pace falls as defenders gather around defenders_halving "
        "(calibrated: experiments/history-matching.yaml)",
    )
    work_follows_deployment: float = Field(
        0.6539,
        ge=0,
        le=1,
        description="share of a cell's clearing work that follows the rebels' deployment "
        "(calibrated: experiments/history-matching.yaml)",
    )
    clearing_capacity: float = Field(
        149.2,
        gt=0,
        description="attackers able to work at once in a 100 m cell (calibrated: experiments/history-matching.yaml)",
    )
    surprise_h: float = Field(
        16.54,
        ge=0,
        description="hours from the battle's start (19 May 00:00) during which the rebels are "
        "surprised (calibrated: experiments/history-matching.yaml)",
    )
    surprised_defence: float = Field(
        0.4636,
        ge=0,
        le=1,
        description="share of their number the rebels near a block count for while surprised "
        "(calibrated: experiments/history-matching.yaml)",
    )


def step(state: BattleState, p: Params) -> None:
    """Update cell control, sector holders, the attackers' share, and the fall."""
    if state.well_mixed:
        return
    squads = state.squads
    control_kernel(
        squads.side,
        squads.x,
        squads.y,
        squads.node,
        squads.strength,
        squads.status,
        state.control,
        state.clearing_left,
        state.prepared,
        state.hour <= p.surprise_h,
        p.surprised_defence,
        p.opposed_within_cells,
        p.defenders_halving,
        p.defenders_steepness,
        p.clearing_capacity,
        state.dt_h,
    )
    update_sectors(state, p)
    if state.fall_hour is None and state.sectors_gov == state.n_sectors:
        state.fall_hour = state.hour


@njit(cache=True, error_model="numpy")
def control_kernel(
    side: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    status: np.ndarray,
    control: np.ndarray,
    clearing_left: np.ndarray,
    prepared: np.ndarray,
    surprise: bool,
    surprised_defence: float,
    opposed_within_cells: int,
    defenders_halving: float,
    defenders_steepness: float,
    clearing_capacity: float,
    dt_h: float,
) -> None:
    """Cell control on the arrays (``step`` without the sectors), updating ``control``, ``clearing_left``, ``prepared``.

    Rebels and attackers per cell are summed in squad order (as ``np.bincount``); the defenders near a
    cell are a window sum (along x, then along y, each in increasing order, as numpy's shifted slices
    of a zero-padded grid), taken
    only for the cells the attackers hold alone, the only ones whose pace is used.
    """
    width, height = control.shape
    rebels = np.zeros((width, height))
    attackers = np.zeros((width, height))
    for i in range(side.size):
        if status[i] == ACTIVE and node[i] == IN_TOWN and strength[i] > 0:
            if side[i] == REBELS:
                rebels[x[i], y[i]] += strength[i]
            else:
                attackers[x[i], y[i]] += strength[i]
    r = opposed_within_cells
    for i in range(width):
        for j in range(height):
            reb_here = rebels[i, j] > 0
            gov_here = attackers[i, j] > 0
            if gov_here and not reb_here:
                defenders = 0.0
                for jj in range(max(j - r, 0), min(j + r + 1, height)):
                    along_x = 0.0
                    for ii in range(max(i - r, 0), min(i + r + 1, width)):
                        along_x += rebels[ii, jj]
                    defenders += along_x
                if surprise:
                    defenders = defenders * surprised_defence
                pace = 1.0 / (1.0 + power(defenders / defenders_halving, defenders_steepness))
                clearing_left[i, j] -= min(attackers[i, j], clearing_capacity) * pace * dt_h
                control[i, j] = GOV if clearing_left[i, j] <= 0 else CONTESTED
            elif reb_here:
                control[i, j] = CONTESTED if gov_here else REB
            if control[i, j] == GOV:
                prepared[i, j] = 0.0


def update_sectors(state: BattleState, p: Params) -> None:
    """Sector holders and the attackers' share of the town, from cell control.

    ``state.sector_owner`` and ``state.sector_gov_since_hour`` change only when a sector changes hands.
    """
    if state.sector_code.size != state.n_sectors:
        state.sector_code = np.full(state.n_sectors, -1, np.int8)
        state.sector_gov_since_hour = np.full(state.n_sectors, np.nan)
    changed, state.sectors_gov, state.gov_share = sectors_kernel(
        state.control, state.in_town_mask, state.sector, p.sector_hold_share, state.sector_code
    )
    if changed:
        state.sector_owner = _OWNER_NAMES[state.sector_code]
        held = state.sector_code == SECTOR_CODE_GOV
        since = state.sector_gov_since_hour
        since[~held] = np.nan
        since[held & np.isnan(since)] = state.hour


def sector_gov_shares(state: BattleState) -> np.ndarray:
    """Each sector's share of its town cells the attackers hold (the counts ``sectors_kernel`` compares)."""
    town = state.in_town_mask
    sector = state.sector[town]
    held = (state.control[town] == GOV).astype(float)
    return np.bincount(sector, weights=held, minlength=state.n_sectors) / np.bincount(sector, minlength=state.n_sectors)


@njit(cache=True, error_model="numpy")
def sectors_kernel(
    control: np.ndarray, in_town: np.ndarray, sector: np.ndarray, hold: float, code: np.ndarray
) -> tuple[bool, int, float]:
    """Sector holders into ``code`` (``SECTOR_CODE_*``); whether any changed, the attackers' sectors and share of cells.

    A sector's share of cells held is the count held / the count of its town cells (``nan`` for a
    sector without cells, held by no one).
    """
    n = code.size
    cells = np.zeros(n, np.int64)
    gov = np.zeros(n, np.int64)
    reb = np.zeros(n, np.int64)
    town_cells = 0
    gov_cells = 0
    width, height = control.shape
    for i in range(width):
        for j in range(height):
            if in_town[i, j]:
                s = sector[i, j]
                cells[s] += 1
                town_cells += 1
                if control[i, j] == GOV:
                    gov[s] += 1
                    gov_cells += 1
                elif control[i, j] == REB:
                    reb[s] += 1
    changed = False
    sectors_gov = 0
    for s in range(n):
        owner = SECTOR_CODE_CONTESTED
        if gov[s] / cells[s] >= hold:
            owner = SECTOR_CODE_GOV
        if reb[s] / cells[s] >= hold:
            owner = SECTOR_CODE_REB
        if owner == SECTOR_CODE_GOV:
            sectors_gov += 1
        if code[s] != owner:
            code[s] = owner
            changed = True
    return changed, sectors_gov, gov_cells / town_cells
