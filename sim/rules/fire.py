"""Aimed direct fire between squads within range, with cover, prepared positions and suppression.

Shooters in cell ``s`` spread their fire over the enemy fighters within ``range_cells`` of ``s``
(Lanchester's aimed fire, locally). With ``S(s)`` the effective shooters of a side in ``s`` and
``M(s)`` the enemy fighters within range of ``s``, a fighter in cell ``c`` is hit in a step with
probability::

    p(c) = 1 - exp(-lethality_per_h * dt_h * sum_{s within range of c} S(s) / M(s) * exposure(c))

so a side's expected hits per step are ``lethality_per_h * dt_h * (its effective shooters in
contact)``: in a well-mixed space this is the Lanchester square law ``dB/dt = -a A``.
Effective shooters = strength x side effectiveness (Hezbollah's small-group multiplier from the
scenario's tactics) x (1 - suppression) x, for rebels, ammunition and cohesion factors.
Exposure: rebels ``(1 - cover) * (1 - prepared_bonus * prepared)``, attackers
``1 - attacker_cover_share * cover``, where ``cover = cover_max * built_up * (1 - damage)``; a
Hezbollah fighter's is further multiplied by ``effectiveness ** -small_groups_exposure_power``:
small groups in a guerrilla role (record:hezbollah-small-groups) offer fewer and fleeting targets
as well as fighting better.
Each coefficient's description says whether it is an assumption or calibrated, and where from.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from pydantic import Field

from sim.loading import InputModel
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict_kernel
from sim.rules.cohesion import Params as CohesionParams
from sim.rules.cohesion import fire_factor
from sim.state import ACTIVE, HEZBOLLAH, IN_TOWN, REBELS, BattleState


class Params(InputModel):
    """Parameters of direct fire."""

    range_cells: int = Field(1, ge=0, le=5, description="reach of aimed fire in cells (assumption: urban ~100-150 m)")
    attacker_lethality_per_h: float = Field(
        0.001078,
        ge=0,
        description="hits per attacker fighter-hour in contact (calibrated: experiments/history-matching.yaml)",
    )
    rebel_lethality_per_h: float = Field(0.005, ge=0, description="hits per rebel fighter-hour in contact (assumption)")
    cover_max: float = Field(0.6, ge=0, le=1, description="cover of a fully built-up, undamaged cell (assumption)")
    prepared_bonus: float = Field(
        0.5,
        ge=0,
        le=1,
        description="fire a rebel avoids in a prepared position (assumption; record: bunkers, sniper posts)",
    )
    attacker_cover_share: float = Field(
        0.5, ge=0, le=1, description="share of a cell's cover attackers use (assumption)"
    )
    small_groups_exposure_power: float = Field(
        0.9736,
        ge=0,
        description="how far Hezbollah's tactics' effectiveness also shields it: exposure x effectiveness ** -power "
        "(calibrated: experiments/history-matching.yaml)",
    )
    ammo_per_h: float = Field(
        0.005,
        ge=0,
        description="share of a rebel basic load fired per hour in contact (assumption: a prepared town's stocks)",
    )
    low_ammo: float = Field(
        0.5, gt=0, le=1, description="below this ammunition share rebel fire falls linearly (assumption)"
    )


def step(state: BattleState, p: Params, cohesion_p: CohesionParams, casualties_p: CasualtiesParams) -> None:
    """Fire of every squad in town at the enemies within range; the hits go to the casualties' ``inflict_kernel``."""
    if state.ceasefire:
        state.engaged[:] = False
        return
    squads, tally = state.squads, state.tally
    fire_kernel(
        squads.side,
        squads.x,
        squads.y,
        squads.node,
        squads.status,
        squads.strength,
        squads.ammo,
        squads.suppressed,
        state.engaged,
        state.local_ratio,
        state.fire_intensity,
        state.built_up,
        state.damage,
        state.prepared,
        state.well_mixed,
        p.range_cells,
        state.dt_h,
        state.hezbollah_effectiveness,
        state.hezbollah_effectiveness**-p.small_groups_exposure_power,
        fire_factor(state.cohesion, cohesion_p),
        p.attacker_lethality_per_h,
        p.rebel_lethality_per_h,
        p.cover_max,
        p.prepared_bonus,
        p.attacker_cover_share,
        p.ammo_per_h,
        p.low_ammo,
        casualties_p.killed_share,
        state.rng_handle,
        tally.killed,
        tally.wounded,
        tally.wounded_evacuated,
        state.wounded_in_cell,
        state.wounded_at_node,
    )


@njit(cache=True)
def fire_kernel(
    side: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    node: np.ndarray,
    status: np.ndarray,
    strength: np.ndarray,
    ammo: np.ndarray,
    suppressed: np.ndarray,
    engaged: np.ndarray,
    local_ratio: np.ndarray,
    fire_intensity: np.ndarray,
    built_up: np.ndarray,
    damage: np.ndarray,
    prepared: np.ndarray,
    well_mixed: bool,
    range_cells: int,
    dt_h: float,
    hezbollah_effectiveness: float,
    hezbollah_exposure: float,
    rebel_fire: float,
    attacker_lethality_per_h: float,
    rebel_lethality_per_h: float,
    cover_max: float,
    prepared_bonus: float,
    attacker_cover_share: float,
    ammo_per_h: float,
    low_ammo: float,
    killed_share: float,
    rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
) -> None:
    """``step`` on the arrays (no ceasefire): the squads' fire (``aim``), the hits (``inflict_kernel``), the ammunition.

    The draws are ``inflict_kernel``'s, for the squads in town in index order; the ammunition is
    float32 arithmetic as numpy's on a float32 array and a Python float.
    """
    idx, p_hit, firing = aim(
        side,
        x,
        y,
        node,
        status,
        strength,
        ammo,
        suppressed,
        engaged,
        local_ratio,
        fire_intensity,
        built_up,
        damage,
        prepared,
        well_mixed,
        range_cells,
        dt_h,
        hezbollah_effectiveness,
        hezbollah_exposure,
        rebel_fire,
        attacker_lethality_per_h,
        rebel_lethality_per_h,
        cover_max,
        prepared_bonus,
        attacker_cover_share,
        low_ammo,
    )
    if idx.size == 0:
        return
    inflict_kernel(
        strength,
        side,
        node,
        x,
        y,
        idx,
        p_hit,
        killed_share,
        rng_handle,
        killed,
        wounded,
        wounded_evacuated,
        wounded_in_cell,
        wounded_at_node,
    )
    spent = np.float32(ammo_per_h * dt_h)
    for j in range(idx.size):
        if firing[j]:
            ammo[idx[j]] = max(np.float32(0.0), ammo[idx[j]] - spent)


@njit(cache=True)
def aim(
    side: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    node: np.ndarray,
    status: np.ndarray,
    strength: np.ndarray,
    ammo: np.ndarray,
    suppressed: np.ndarray,
    engaged: np.ndarray,
    local_ratio: np.ndarray,
    fire_intensity: np.ndarray,
    built_up: np.ndarray,
    damage: np.ndarray,
    prepared: np.ndarray,
    well_mixed: bool,
    range_cells: int,
    dt_h: float,
    hezbollah_effectiveness: float,
    hezbollah_exposure: float,
    rebel_fire: float,
    attacker_lethality_per_h: float,
    rebel_lethality_per_h: float,
    cover_max: float,
    prepared_bonus: float,
    attacker_cover_share: float,
    low_ammo: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The squads in town, the probability that each one's fighters are hit, and which of them fire.

    Sets ``engaged`` (cleared for every squad first), ``local_ratio`` and ``fire_intensity`` (with
    no squad in town, the last two are left as they were); the squads that fire are the rebels
    with enemies in range (they spend ammunition). ``hezbollah_exposure`` is
    ``hezbollah_effectiveness ** -small_groups_exposure_power`` and ``rebel_fire`` the cohesion's
    ``fire_factor``, worked out by ``step``.

    Per-cell sums go in squad order (as ``np.bincount``'s). Sums within range, the odds and the
    probabilities of a hit are worked out once per cell with squads (and side), in numpy's order
    of operations (window sums in the order of numpy's shifted slices): elsewhere nobody is hit and the fire
    intensity is zero. Suppression and ammunition are float32 arithmetic, as numpy's on float32
    arrays and Python floats.
    """
    engaged[:] = False
    idx = np.empty(side.size, np.int64)
    n = 0
    for i in range(side.size):
        if status[i] == ACTIVE and node[i] == IN_TOWN and strength[i] > 0:
            idx[n] = i
            n += 1
    if n == 0:
        return idx[:0], np.empty(0), np.empty(0, np.bool_)
    idx = idx[:n]
    width, height = fire_intensity.shape
    # the cells with squads, numbered in order of their first squad (slot), and each squad's cell
    slot = np.full((width, height), -1, np.int64)
    cells_x = np.empty(n, np.int64)
    cells_y = np.empty(n, np.int64)
    cell = np.empty(n, np.int64)
    sides_in = np.zeros((n, 3), np.bool_)  # the sides (REBELS, ARMY, HEZBOLLAH) with squads in each cell
    cells = 0
    # per cell: bodies of each side (grids 0: rebels, 1: attackers) and effective shooters (grids 2, 3)
    sums = np.zeros((width, height, 4))
    for j in range(n):
        i = idx[j]
        rebel = side[i] == REBELS
        effect = hezbollah_effectiveness if side[i] == HEZBOLLAH else 1.0
        effect *= np.float64(np.float32(1.0) - suppressed[i])
        if rebel:
            ammo_factor = min(np.float32(1.0), np.float32(ammo[i] / np.float32(low_ammo)))
            effect *= np.float64(np.float32(ammo_factor * np.float32(rebel_fire)))
        a, b = x[i], y[i]
        if slot[a, b] < 0:
            slot[a, b] = cells
            cells_x[cells], cells_y[cells] = a, b
            cells += 1
        cell[j] = slot[a, b]
        sides_in[cell[j], side[i]] = True
        k = 0 if rebel else 1
        fighters = np.float64(strength[i])
        sums[a, b, k] += fighters
        sums[a, b, k + 2] += fighters * effect
    # per cell with squads: targets (0, 1) and effective shooters (2, 3) within range, and the fire
    # falling on each fighter of side k there: shooters of the other side in range of the cell,
    # each spreading its fire over the fighters of side k within its own range
    near = np.empty((cells, 4))
    on_each = np.zeros((width, height, 2))
    for c in range(cells):
        a, b = cells_x[c], cells_y[c]
        near[c] = _within_range4(sums, a, b, range_cells, well_mixed)
        for k in range(2):
            if near[c, k] > 0:
                on_each[a, b, k] = sums[a, b, 3 - k] / near[c, k]
    fire_intensity[:] = 0.0
    p_side = np.zeros((cells, 3))  # probability that a fighter of each side (by side code) in the cell is hit
    ratio = np.empty((cells, 2))  # local odds of each side in the cell (inf: no enemies in range)
    for c in range(cells):
        a, b = cells_x[c], cells_y[c]
        incoming = _within_range2(on_each, a, b, range_cells, well_mixed)
        # shots per hour falling in each cell, for the civilians caught in the crossfire
        fire_intensity[a, b] = (
            incoming[0] * sums[a, b, 0] * attacker_lethality_per_h + incoming[1] * sums[a, b, 1] * rebel_lethality_per_h
        )
        cover = 0.0 if well_mixed else cover_max * built_up[a, b] * (1.0 - damage[a, b])
        for s in range(3):
            if not sides_in[c, s]:
                continue
            if s == REBELS:
                k, lethality = 0, attacker_lethality_per_h
                exposure = (1.0 - cover) * (1.0 - prepared_bonus * prepared[a, b])
            else:
                k, lethality = 1, rebel_lethality_per_h
                exposure = 1.0 - attacker_cover_share * cover
            if s == HEZBOLLAH:
                exposure *= hezbollah_exposure
            rate = lethality * dt_h * incoming[k] * exposure
            p_side[c, s] = 1.0 - np.exp(-rate) if rate != 0 else 0.0  # exp(-0) is 1: no hits, no draws
        for k in range(2):
            # local odds in effective fire: a side short of ammunition or cohesion counts for less
            ratio[c, k] = near[c, 2 + k] / max(near[c, 3 - k], 1e-9) if near[c, 1 - k] > 0 else np.inf

    p_hit = np.empty(n)
    firing = np.zeros(n, np.bool_)
    for j in range(n):
        i, c = idx[j], cell[j]
        k = 0 if side[i] == REBELS else 1
        p_hit[j] = p_side[c, side[i]]
        engaged[i] = near[c, 1 - k] > 0  # enemies within range
        local_ratio[i] = ratio[c, k]
        firing[j] = k == 0 and engaged[i]
    return idx, p_hit, firing


@njit(cache=True)
def _within_range4(
    stack: np.ndarray, a: int, b: int, radius: int, well_mixed: bool
) -> tuple[float, float, float, float]:
    """Sums of the 4 grids of ``stack`` (along its last axis) over the cells within ``radius`` of cell (a, b).

    Summed along x, then along y, each in increasing order from zero: the order of numpy's shifted
    slices of a zero-padded grid, so the same sums to the last bit. In a well-mixed space, the cell's own values.
    """
    if well_mixed:
        return stack[a, b, 0], stack[a, b, 1], stack[a, b, 2], stack[a, b, 3]
    width, height = stack.shape[0], stack.shape[1]
    total0 = total1 = total2 = total3 = 0.0
    for jj in range(max(b - radius, 0), min(b + radius + 1, height)):
        along0 = along1 = along2 = along3 = 0.0
        for ii in range(max(a - radius, 0), min(a + radius + 1, width)):
            cell = stack[ii, jj]
            along0 += cell[0]
            along1 += cell[1]
            along2 += cell[2]
            along3 += cell[3]
        total0 += along0
        total1 += along1
        total2 += along2
        total3 += along3
    return total0, total1, total2, total3


@njit(cache=True)
def _within_range2(stack: np.ndarray, a: int, b: int, radius: int, well_mixed: bool) -> tuple[float, float]:
    """``_within_range4`` for a stack of 2 grids."""
    if well_mixed:
        return stack[a, b, 0], stack[a, b, 1]
    width, height = stack.shape[0], stack.shape[1]
    total0 = total1 = 0.0
    for jj in range(max(b - radius, 0), min(b + radius + 1, height)):
        along0 = along1 = 0.0
        for ii in range(max(a - radius, 0), min(a + radius + 1, width)):
            along0 += stack[ii, jj, 0]
            along1 += stack[ii, jj, 1]
        total0 += along0
        total1 += along1
    return total0, total1
