"""Movement: attackers advance; rebels hold, fall back, reinforce, counter-attack, use tunnels.

Attackers move towards the nearest town cell they do not control and where fewer attackers than
the ``control`` rule's ``clearing_capacity`` already are (the surplus of a crowded cell moves on),
covering per step on average::

    cells = speed_m_per_h * dt_h / cell_m / (1 + built_up_slowing * road * built_up(next))
            * (1 - mines(next)) * (1 - suppressed)        (x river_factor on the river, off its crossings)

(the whole part of it, and one more cell with the fractional part as probability), where ``next``
is the first cell on the way, ``road`` is ``road_share`` on a road and 1 off it; mines act in the
cell where the squad stops.

Mines (the entrances' and the booby traps', ``mines`` 0-1 per cell) follow one of two competing
sub-models, the scenario's switch ``mines`` (issue 21):

- ``kill``: mines kill and slow. Entering a mined cell hits each fighter with probability
  ``mines * mine_hit``, and the pace has the factor ``(1 - mines(next))`` above.
- ``delay``: mines cost time (record:mines-at-entrances, the troops "had to defuse mines and bombs";
  record:town-mined, the attack "advancing slowly" for the mining). The pace has no mines factor; a
  squad stopping in a mined cell stays to clear its way, for::

      wait_h = mines(cell) * mine_clear_h

  hours, moving in a step only in the part of it the wait leaves::

      cells * max(0, 1 - wait_h / dt_h)        wait_h -> max(0, wait_h - dt_h) each step

  and each of its fighters is hit with probability ``mines * mine_clearing_hit``.

In both, each squad's passage clears ``mine_clearing`` of the cell's mines.

When enemies are within range they stop to fight, and push on only where they outnumber the enemy
near them by ``assault_ratio``, then at ``assault_per_h * (odds / assault_ratio) ** assault_odds_power``
cells per hour (at most their pace out of contact): a handful of defenders before a company is overrun
(record: the south was seized "quickly" after fierce fighting), an even fight barely moves.
Rebels in contact fall back (to the neighbouring cell farthest from the attackers) when outnumbered
by ``1 / retreat_ratio``, counter-attack into the nearest attacker-held cell when they outnumber the
attackers near them by ``counterattack_ratio``, and otherwise hold; rebels out of contact deeper
than ``reserve_depth_cells`` move towards the front, but only from ``reserves_react_h`` hours after
the battle's start (record:rebels-surprised: they expected the push from the north, so their
reserves stayed where they were while the south and east went). A rebel squad at one end of a tunnel whose
other end the attackers hold goes through with ``tunnel_per_h`` (record: rebel tunnels linking
areas around the town; Hezbollah "attacked from behind"). Each coefficient's description says whether it
is an assumption or calibrated.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numba import njit
from pydantic import Field

from sim.distance import nearest_in_rows, row_nearest
from sim.loading import InputModel
from sim.numerics import power
from sim.rng import generator
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict_kernel
from sim.rules.control import Params as ControlParams
from sim.state import ACTIVE, CONTESTED, GOV, IN_TOWN, REBELS, BattleState

# a falling-back squad's candidate cells (dx, dy), in the order in which ties go to the first
OFFSETS = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)], dtype=np.int64)


class Params(InputModel):
    """Parameters of movement."""

    speed_m_per_h: float = Field(
        1344.0,
        ge=0,
        description="attackers' pace over open ground, not in contact (calibrated: experiments/history-matching.yaml)",
    )
    built_up_slowing: float = Field(4.0, ge=0, description="slowing by building density (assumption)")
    road_share: float = Field(0.25, ge=0, le=1, description="share of the built-up slowing left on a road (assumption)")
    river_factor: float = Field(0.05, ge=0, le=1, description="pace across the river off its crossings (assumption)")
    assault_ratio: float = Field(
        2.0, ge=0, description="local odds at which attackers push into a fought-over cell (assumption)"
    )
    assault_per_h: float = Field(
        0.2, ge=0, description="rate per hour of such a push at odds of assault_ratio (assumption)"
    )
    assault_odds_power: float = Field(
        1.0,
        ge=0,
        description="how the push's rate grows with the odds beyond assault_ratio (assumption: linear)",
    )
    mines: Literal["kill", "delay"] = Field(
        "delay",
        description="what mines do to the attackers (competing sub-models, issue 21): 'kill' hits fighters "
        "entering a mined cell with mine_hit and slows the pace; 'delay' holds a squad mine_clear_h hours per "
        "unit of density to clear its way, hitting fighters with mine_clearing_hit (assumption)",
    )
    mine_hit: float = Field(
        0.05, ge=0, le=1, description="hit chance per fighter entering a fully mined cell (mines: kill; assumption)"
    )
    mine_clear_h: float = Field(
        4.564,
        ge=0,
        description="hours a squad spends clearing its way through a fully mined cell "
        "(calibrated: experiments/history-matching.yaml)",
    )
    mine_clearing_hit: float = Field(
        0.005,
        ge=0,
        le=1,
        description="hit chance per fighter clearing its way through a fully mined cell (mines: delay; "
        "assumption: a tenth of mine_hit, the squad searching and defusing instead of walking in)",
    )
    mine_clearing: float = Field(
        0.5, ge=0, le=1, description="share of a cell's mines cleared by each squad's passage (assumption)"
    )
    retreat_ratio: float = Field(
        0.33, ge=0, description="rebels fall back when their local odds drop below this (assumption)"
    )
    fallback_per_h: float = Field(
        0.5, ge=0, description="chance per hour of falling back when outnumbered (assumption)"
    )
    counterattack_ratio: float = Field(1.5, ge=0, description="local odds at which rebels counter-attack (assumption)")
    counterattack_per_h: float = Field(0.1, ge=0, description="chance per hour of a counter-attack (assumption)")
    reserve_depth_cells: float = Field(3.0, ge=0, description="rebels deeper than this move to the front (assumption)")
    reposition_per_h: float = Field(0.2, ge=0, description="chance per hour of moving towards the front (assumption)")
    reserves_react_h: float = Field(
        20.32,
        ge=0,
        description="hours from the start before reserves move to the front "
        "(calibrated: experiments/history-matching.yaml)",
    )
    tunnel_per_h: float = Field(0.1, ge=0, description="chance per hour of a tunnel raid from an end (assumption)")


def step(state: BattleState, p: Params, control_p: ControlParams, casualties_p: CasualtiesParams) -> None:
    """Move the squads on the town grid: attackers, then rebels, then tunnel raids (``_move``)."""
    if state.well_mixed:
        return
    squads, tally = state.squads, state.tally
    if state.nearest_targets.shape[2:] != state.shape:
        state.nearest_targets = np.full((2, 5, *state.shape), -1, np.int64)
    state.tunnels = _move(
        squads.side,
        squads.x,
        squads.y,
        squads.node,
        squads.strength,
        squads.status,
        squads.suppressed,
        squads.mine_wait_h,
        state.engaged,
        state.local_ratio,
        state.in_town_mask,
        state.control,
        state.road,
        state.built_up,
        state.river,
        state.mines,
        state.tunnels,
        state.nearest_targets,
        state.rng_handle,
        tally.killed,
        tally.wounded,
        tally.wounded_evacuated,
        state.wounded_in_cell,
        state.wounded_at_node,
        casualties_p.killed_share,
        control_p.clearing_capacity,
        p.speed_m_per_h * state.dt_h / state.cell_m,
        p.built_up_slowing,
        p.road_share,
        p.river_factor,
        p.assault_ratio,
        p.assault_per_h,
        p.assault_odds_power,
        p.mines == "delay",
        p.mine_hit,
        p.mine_clear_h,
        p.mine_clearing_hit,
        p.mine_clearing,
        p.retreat_ratio,
        p.fallback_per_h,
        p.counterattack_ratio,
        p.counterattack_per_h,
        p.reserve_depth_cells,
        p.reposition_per_h,
        state.hour >= p.reserves_react_h,
        p.tunnel_per_h,
        state.dt_h,
    )


@njit(cache=True)
def _chance(per_h: float, dt_h: float) -> float:
    """Probability of an event with rate ``per_h`` per hour happening within a step."""
    return 1.0 - np.exp(-per_h * dt_h)


@njit(cache=True)
def _minimum(a: float, b: float) -> float:
    """``np.minimum`` of two floats (a NaN wins)."""
    return a if a <= b or a != a else b


@njit(cache=True)
def _sign(value: int) -> int:
    """``np.sign`` of an integer."""
    return (value > 0) - (value < 0)


@njit(cache=True)
def _use_targets(targets: np.ndarray, nearest: np.ndarray) -> None:
    """Make ``nearest`` (one side's ``BattleState.nearest_targets[site]``) answer for ``targets``.

    Kept as it is while they stay the same, else started again. ``nearest`` holds the targets,
    scipy's first pass (``row_nearest``), the cells' nearest targets found so far and whether each
    cell's is found (``_near``).
    """
    width, height = targets.shape
    for i in range(width):
        for j in range(height):
            if nearest[0, i, j] != targets[i, j]:
                for k in range(width):
                    for m in range(height):
                        nearest[0, k, m] = targets[k, m]
                        nearest[4, k, m] = 0
                row_nearest(targets, nearest[1])
                return


@njit(cache=True, inline="always")  # inlined: a call would count a reference to ``nearest`` in and out
def _near(nearest: np.ndarray, x: int, y: int) -> tuple[int, int]:
    """The nearest target of cell (x, y) (scipy's feature: ``sim.distance``), found once per cell and set of targets.

    ``nearest`` is one side's ``BattleState.nearest_targets[site]`` (``_use_targets``).
    """
    if nearest[4, x, y] == 0:
        nearest[2, x, y], nearest[3, x, y] = nearest_in_rows(nearest[1], x, y)
        nearest[4, x, y] = 1
    return nearest[2, x, y], nearest[3, x, y]


@njit(cache=True, inline="always")  # inlined, as _near: no reference counting of ``nearest`` per call
def _depth(nearest: np.ndarray, x: int, y: int) -> float:
    """Distance from cell (x, y) to its nearest target, as scipy gives it: ``sqrt(dx * dx + dy * dy)``."""
    near_x, near_y = _near(nearest, x, y)
    dx = float(near_x - x)
    dy = float(near_y - y)
    return np.sqrt(dx * dx + dy * dy)


@njit(cache=True)
def _move(
    side: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    status: np.ndarray,
    suppressed: np.ndarray,
    mine_wait_h: np.ndarray,
    engaged: np.ndarray,
    local_ratio: np.ndarray,
    in_town_mask: np.ndarray,
    control: np.ndarray,
    road: np.ndarray,
    built_up: np.ndarray,
    river: np.ndarray,
    mines: np.ndarray,
    tunnels: np.ndarray,
    nearest: np.ndarray,
    rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
    killed_share: float,
    capacity: float,
    base: float,
    built_up_slowing: float,
    road_share: float,
    river_factor: float,
    assault_ratio: float,
    assault_per_h: float,
    assault_odds_power: float,
    delay: bool,
    mine_hit: float,
    mine_clear_h: float,
    mine_clearing_hit: float,
    mine_clearing: float,
    retreat_ratio: float,
    fallback_per_h: float,
    counterattack_ratio: float,
    counterattack_per_h: float,
    reserve_depth_cells: float,
    reposition_per_h: float,
    reacting: bool,
    tunnel_per_h: float,
    dt_h: float,
) -> np.ndarray:
    """The rule on the arrays; returns the tunnels kept (a copy). ``base`` is ``speed_m_per_h * dt_h / cell_m``.

    The squads on the town grid (active, in town, strength > 0), in squad order, split into attackers
    and rebels: the attackers advance, then the rebels move, then they raid through tunnels. Draws
    come from the model's generator (``rng_handle``) in the order and number of the whole-array form:
    one per attacker (staying on a target), one per attacker (pace), one per rebel (moves), one per
    rebel for each direction of the tunnels that has a usable end. The nearest targets (scipy's exact
    Euclidean feature transform, ``sim.distance``) are found only for the cells that need them, and kept
    in ``nearest`` (``BattleState.nearest_targets``) while the targets stay the same.
    """
    gov_count = reb_count = 0
    for i in range(side.size):
        if status[i] == ACTIVE and node[i] == IN_TOWN and strength[i] > 0:
            if side[i] == REBELS:
                reb_count += 1
            else:
                gov_count += 1
    gov = np.empty(gov_count, np.int64)
    reb = np.empty(reb_count, np.int64)
    gov_count = reb_count = 0
    for i in range(side.size):
        if status[i] == ACTIVE and node[i] == IN_TOWN and strength[i] > 0:
            if side[i] == REBELS:
                reb[reb_count] = i
                reb_count += 1
            else:
                gov[gov_count] = i
                gov_count += 1
    if gov.size == 0 and reb.size == 0:
        return tunnels.copy()
    _advance_attackers(
        side,
        x,
        y,
        node,
        strength,
        suppressed,
        mine_wait_h,
        engaged,
        local_ratio,
        in_town_mask,
        control,
        road,
        built_up,
        river,
        mines,
        nearest,
        gov,
        rng_handle,
        killed,
        wounded,
        wounded_evacuated,
        wounded_in_cell,
        wounded_at_node,
        killed_share,
        capacity,
        base,
        built_up_slowing,
        road_share,
        river_factor,
        assault_ratio,
        assault_per_h,
        assault_odds_power,
        delay,
        mine_hit,
        mine_clear_h,
        mine_clearing_hit,
        mine_clearing,
        dt_h,
    )
    _move_rebels(
        x,
        y,
        engaged,
        local_ratio,
        in_town_mask,
        control,
        nearest,
        reb,
        rng_handle,
        _chance(fallback_per_h, dt_h),
        _chance(counterattack_per_h, dt_h),
        _chance(reposition_per_h, dt_h),
        retreat_ratio,
        counterattack_ratio,
        reserve_depth_cells,
        reacting,
    )
    return _tunnel_raids(x, y, control, tunnels, reb, rng_handle, _chance(tunnel_per_h, dt_h))


@njit(cache=True)
def _advance_attackers(
    side: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    node: np.ndarray,
    strength: np.ndarray,
    suppressed: np.ndarray,
    mine_wait_h: np.ndarray,
    engaged: np.ndarray,
    local_ratio: np.ndarray,
    in_town_mask: np.ndarray,
    control: np.ndarray,
    road: np.ndarray,
    built_up: np.ndarray,
    river: np.ndarray,
    mines: np.ndarray,
    nearest: np.ndarray,
    gov: np.ndarray,
    rng_handle: np.ndarray,
    killed: np.ndarray,
    wounded: np.ndarray,
    wounded_evacuated: np.ndarray,
    wounded_in_cell: np.ndarray,
    wounded_at_node: np.ndarray,
    killed_share: float,
    capacity: float,
    base: float,
    built_up_slowing: float,
    road_share: float,
    river_factor: float,
    assault_ratio: float,
    assault_per_h: float,
    assault_odds_power: float,
    delay: bool,
    mine_hit: float,
    mine_clear_h: float,
    mine_clearing_hit: float,
    mine_clearing: float,
    dt_h: float,
) -> None:
    """Attackers (squads ``gov``) move towards the nearest open target and meet the mines where they stop.

    With ``delay`` (``mines: delay``) a squad stopping in a mined cell has ``mine_wait_h`` hours of clearing
    set, and moves only in the part of a step they leave; without, mines slow its pace and hit harder.
    """
    if gov.size == 0:
        return
    width, height = control.shape
    not_held = np.zeros((width, height), np.bool_)
    any_not_held = False
    for i in range(width):
        for j in range(height):
            if in_town_mask[i, j] and control[i, j] != GOV:
                not_held[i, j] = True
                any_not_held = True
    if not any_not_held:
        return
    # squads spread over the cells to take: a cell already holding as many attackers as can
    # work in it is no target, and the surplus in a crowded cell moves on
    load = np.zeros((width, height))
    for k in range(gov.size):
        load[x[gov[k]], y[gov[k]]] += strength[gov[k]]
    open_targets = np.zeros((width, height), np.bool_)
    any_open = False
    for i in range(width):
        for j in range(height):
            if not_held[i, j] and load[i, j] < capacity:
                open_targets[i, j] = True
                any_open = True
    attackers_nearest = nearest[0]  # BattleState.nearest_targets of the attackers
    _use_targets(open_targets if any_open else not_held, attackers_nearest)
    rng = generator(rng_handle)
    at_target = np.empty(gov.size, np.bool_)
    for k in range(gov.size):
        here = load[x[gov[k]], y[gov[k]]]
        surplus = (here - capacity) / max(here, 1.0) if here > capacity else 0.0
        draw = rng.random()
        at_target[k] = not_held[x[gov[k]], y[gov[k]]] and draw >= surplus
    cells = np.empty(gov.size)
    for k in range(gov.size):
        squad = gov[k]
        sx, sy = np.int64(x[squad]), np.int64(y[squad])
        near_x, near_y = _near(attackers_nearest, sx, sy)
        nx = sx + _sign(near_x - sx)
        ny = sy + _sign(near_y - sy)
        cells[k] = _pace(
            base,
            built_up_slowing,
            road_share,
            river_factor,
            road[nx, ny],
            built_up[nx, ny],
            0.0 if delay else mines[nx, ny],
            river[nx, ny],
            suppressed[squad],
            engaged[squad],
            local_ratio[squad],
            assault_ratio,
            assault_per_h,
            assault_odds_power,
            dt_h,
        )
        if delay:
            # a squad clearing its way moves only in the part of the step left after it
            cells[k] *= max(0.0, 1.0 - mine_wait_h[squad] / dt_h)
            mine_wait_h[squad] = max(0.0, mine_wait_h[squad] - dt_h)
    # pace is the expected number of cells this step: its whole part, and one more by chance,
    # so that a long step covers the ground several short ones would
    for k in range(gov.size):
        pace = cells[k]
        draw = rng.random()
        cells[k] = np.floor(pace) + (1.0 if draw < pace - np.floor(pace) else 0.0)
    mined = np.empty(gov.size, np.int64)
    p_hit = np.empty(gov.size)
    n_mined = 0
    for k in range(gov.size):
        if at_target[k] or not cells[k] > 0:
            continue
        squad = gov[k]
        sx, sy = np.int64(x[squad]), np.int64(y[squad])
        near_x, near_y = _near(attackers_nearest, sx, sy)
        dx, dy = near_x - sx, near_y - sy
        reach = np.int64(cells[k])
        mx = sx + _sign(dx) * min(reach, abs(dx))
        my = sy + _sign(dy) * min(reach, abs(dy))
        x[squad], y[squad] = mx, my
        if mines[mx, my] > 0:
            mined[n_mined] = squad
            p_hit[n_mined] = mines[mx, my] * (mine_clearing_hit if delay else mine_hit)
            if delay:
                mine_wait_h[squad] = mines[mx, my] * mine_clear_h
            n_mined += 1
    if n_mined == 0:
        return
    inflict_kernel(
        strength,
        side,
        node,
        x,
        y,
        mined[:n_mined],
        p_hit[:n_mined],
        killed_share,
        rng_handle,
        killed,
        wounded,
        wounded_evacuated,
        wounded_in_cell,
        wounded_at_node,
    )
    for k in range(n_mined):
        mines[x[mined[k]], y[mined[k]]] *= 1.0 - mine_clearing


@njit(cache=True)
def _pace(
    base: float,
    built_up_slowing: float,
    road_share: float,
    river_factor: float,
    on_road: bool,
    built_up: float,
    mines: float,
    on_river: bool,
    suppressed: np.float32,
    engaged: bool,
    local_ratio: float,
    assault_ratio: float,
    assault_per_h: float,
    assault_odds_power: float,
    dt_h: float,
) -> float:
    """An attacker's expected cells this step, from the terrain of the next cell on its way (see the module)."""
    slowing = built_up_slowing * (road_share if on_road else 1.0)
    pace = base / (1.0 + slowing * built_up) * (1.0 - mines)
    # (1 - suppressed) in float32, as numpy has it for the float32 array
    pace *= (river_factor if on_river else 1.0) * np.float64(np.float32(1.0) - suppressed)
    if not engaged:
        return pace
    # a push goes faster the longer the odds (a handful of defenders before a company is overrun),
    # at most at the pace out of contact (terrain, mines, suppression); squads out of contact have
    # infinite odds, and odds beyond a million change nothing, so they are capped to stay finite
    if local_ratio < assault_ratio:
        return 0.0
    odds = _minimum(local_ratio, 1e6) / max(assault_ratio, 1e-9)
    return _minimum(pace, assault_per_h * power(odds, assault_odds_power) * dt_h)


@njit(cache=True)
def _move_rebels(
    x: np.ndarray,
    y: np.ndarray,
    engaged: np.ndarray,
    local_ratio: np.ndarray,
    in_town_mask: np.ndarray,
    control: np.ndarray,
    nearest: np.ndarray,
    reb: np.ndarray,
    rng_handle: np.ndarray,
    fallback_chance: float,
    counterattack_chance: float,
    reposition_chance: float,
    retreat_ratio: float,
    counterattack_ratio: float,
    reserve_depth_cells: float,
    reacting: bool,
) -> None:
    """Rebels (squads ``reb``) fall back, counter-attack, move to the front or hold."""
    if reb.size == 0:
        return
    width, height = control.shape
    held = np.zeros((width, height), np.bool_)
    any_held = False
    for i in range(width):
        for j in range(height):
            if control[i, j] == GOV:
                held[i, j] = True
                any_held = True
    if not any_held:
        return
    rebels_nearest = nearest[1]  # BattleState.nearest_targets of the rebels: the cells the attackers hold
    _use_targets(held, rebels_nearest)
    rng = generator(rng_handle)
    for k in range(reb.size):
        squad = reb[k]
        sx, sy = np.int64(x[squad]), np.int64(y[squad])
        ratio = local_ratio[squad]
        draw = rng.random()
        fall_back = engaged[squad] and ratio < retreat_ratio and draw < fallback_chance
        counter = engaged[squad] and ratio >= counterattack_ratio and draw < counterattack_chance
        reposition = (
            reacting
            and not engaged[squad]
            and _depth(rebels_nearest, sx, sy) > reserve_depth_cells
            and draw < reposition_chance
        )
        new_x, new_y = sx, sy
        if counter or reposition:
            near_x, near_y = _near(rebels_nearest, sx, sy)
            new_x = sx + _sign(near_x - sx)
            new_y = sy + _sign(near_y - sy)
        if fall_back:
            # to the neighbouring cell (or its own) farthest from the attackers, the first of equals
            best = -np.inf
            for o in range(OFFSETS.shape[0]):
                cx = min(max(sx + OFFSETS[o, 0], 0), width - 1)
                cy = min(max(sy + OFFSETS[o, 1], 0), height - 1)
                score = _depth(rebels_nearest, cx, cy) if in_town_mask[cx, cy] and not held[cx, cy] else -1.0
                if score > best:
                    best, new_x, new_y = score, cx, cy
        # rebels stay in the town: a move out of it is cancelled
        if in_town_mask[new_x, new_y]:
            x[squad], y[squad] = new_x, new_y


@njit(cache=True)
def _tunnel_raids(
    x: np.ndarray,
    y: np.ndarray,
    control: np.ndarray,
    tunnels: np.ndarray,
    reb: np.ndarray,
    rng_handle: np.ndarray,
    chance: float,
) -> np.ndarray:
    """Rebels at a tunnel end emerge at the other end when the attackers hold or contest it; returns the tunnels kept.

    ``tunnels`` holds rows x_a, y_a, x_b, y_b. A tunnel whose both ends the attackers hold is found and
    lost (record: tunnels discovered). Where several usable tunnels start in one cell, the last one
    is taken.
    """
    if tunnels.shape[0] == 0 or reb.size == 0:
        return tunnels.copy()
    keep = np.empty(tunnels.shape[0], np.bool_)
    for t in range(tunnels.shape[0]):
        keep[t] = not (control[tunnels[t, 0], tunnels[t, 1]] == GOV and control[tunnels[t, 2], tunnels[t, 3]] == GOV)
    ends = tunnels[keep]
    rng = generator(rng_handle)
    moved = np.zeros(reb.size, np.bool_)
    lookup = np.empty(control.shape, np.int64)
    for col_from, col_to in ((0, 2), (2, 0)):
        lookup[:] = -1
        any_usable = False
        for t in range(ends.shape[0]):
            target = control[ends[t, col_to], ends[t, col_to + 1]]
            if target in (GOV, CONTESTED) and control[ends[t, col_from], ends[t, col_from + 1]] != GOV:
                lookup[ends[t, col_from], ends[t, col_from + 1]] = t
                any_usable = True
        if not any_usable:
            continue
        # the tunnels at each rebel's cell are looked up before any of them goes through
        tunnel = np.empty(reb.size, np.int64)
        for k in range(reb.size):
            tunnel[k] = lookup[x[reb[k]], y[reb[k]]]
        for k in range(reb.size):
            draw = rng.random()
            if tunnel[k] >= 0 and not moved[k] and draw < chance:
                x[reb[k]] = ends[tunnel[k], col_to]
                y[reb[k]] = ends[tunnel[k], col_to + 1]
                moved[k] = True
    return ends
