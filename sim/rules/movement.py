"""Movement: attackers advance; rebels hold, fall back, reinforce, counter-attack, use tunnels.

Attackers move towards the nearest town cell they do not control and where fewer attackers than
the ``control`` rule's ``clearing_capacity`` already are (the surplus of a crowded cell moves on),
covering per step on average::

    cells = speed_m_per_h * dt_h / cell_m / (1 + built_up_slowing * road * built_up(next))
            * (1 - mines(next)) * (1 - suppressed)        (x river_factor on the river, off its crossings)

(the whole part of it, and one more cell with the fractional part as probability), where ``next``
is the first cell on the way, ``road`` is ``road_share`` on a road and 1 off it; mines act in the
cell where the squad stops.

When enemies are within range they stop to fight, and push on only where they outnumber the enemy
near them by ``assault_ratio``, then at ``assault_per_h * (odds / assault_ratio) ** assault_odds_power``
cells per hour (at most their pace out of contact): a handful of defenders before a company is overrun
(record: the south was seized "quickly" after fierce fighting), an even fight barely moves.
Entering a mined cell hits each fighter with probability ``mines * mine_hit``; their passage clears
``mine_clearing`` of the mines.
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

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.ndimage import distance_transform_edt

from sim.grid import cell_sum
from sim.rules.casualties import Params as CasualtiesParams
from sim.rules.casualties import inflict
from sim.rules.control import Params as ControlParams
from sim.state import CONTESTED, GOV, REBELS, BattleState

OFFSETS = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)], dtype=np.int16)


class Params(BaseModel):
    """Parameters of movement."""

    model_config = ConfigDict(extra="forbid")

    speed_m_per_h: float = Field(
        1928.0,
        ge=0,
        description="attackers' pace over open ground, not in contact (calibrated earlier, held "
        "fixed: docs/decisions.md)",
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
    mine_hit: float = Field(
        0.05, ge=0, le=1, description="hit chance per fighter entering a fully mined cell (assumption)"
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
        2.24,
        ge=0,
        description="hours from the start before reserves move to the front (calibrated: "
        "experiments/calibration.yaml; record:rebels-surprised)",
    )
    tunnel_per_h: float = Field(0.1, ge=0, description="chance per hour of a tunnel raid from an end (assumption)")


def _chance(per_h: float, dt_h: float) -> float:
    """Probability of an event with rate ``per_h`` per hour happening within a step."""
    return 1.0 - float(np.exp(-per_h * dt_h))


def step(state: BattleState, p: Params, control_p: ControlParams, casualties_p: CasualtiesParams) -> None:
    """Move the squads on the town grid."""
    if state.well_mixed:
        return
    squads = state.squads
    idx = np.flatnonzero(squads.in_town())
    if idx.size == 0:
        return
    gov = idx[squads.side[idx] != REBELS]
    reb = idx[squads.side[idx] == REBELS]
    _advance_attackers(state, p, control_p.clearing_capacity, casualties_p, gov)
    _move_rebels(state, p, reb)
    _tunnel_raids(state, p, reb)


def _advance_attackers(
    state: BattleState, p: Params, capacity: float, casualties_p: CasualtiesParams, gov: np.ndarray
) -> None:
    squads = state.squads
    not_held = state.in_town_mask & (state.control != GOV)
    if gov.size == 0 or not not_held.any():
        return
    x, y = squads.x[gov].astype(np.int64), squads.y[gov].astype(np.int64)
    # squads spread over the cells to take: a cell already holding as many attackers as can
    # work in it is no target, and the surplus in a crowded cell moves on
    load = cell_sum(state.shape, x, y, squads.strength[gov])
    open_targets = not_held & (load < capacity)
    if not open_targets.any():
        open_targets = not_held
    _, (near_x, near_y) = distance_transform_edt(~open_targets, return_indices=True)
    here = load[x, y]
    surplus = np.where(here > capacity, (here - capacity) / np.maximum(here, 1.0), 0.0)
    at_target = not_held[x, y] & (state.rng.random(gov.size) >= surplus)
    nx = x + np.sign(near_x[x, y] - x)
    ny = y + np.sign(near_y[x, y] - y)
    base = p.speed_m_per_h * state.dt_h / state.cell_m
    slowing = p.built_up_slowing * np.where(state.road[nx, ny], p.road_share, 1.0)
    pace = base / (1.0 + slowing * state.built_up[nx, ny]) * (1.0 - state.mines[nx, ny])
    pace *= np.where(state.river[nx, ny], p.river_factor, 1.0) * (1.0 - squads.suppressed[gov])
    engaged = state.engaged[gov]
    push = state.local_ratio[gov] >= p.assault_ratio
    # a push goes faster the longer the odds (a handful of defenders before a company is overrun),
    # at most at the pace out of contact (terrain, mines, suppression); squads out of contact have
    # infinite odds, and odds beyond a million change nothing, so they are capped to stay finite
    odds = np.where(engaged & push, np.minimum(state.local_ratio[gov], 1e6) / max(p.assault_ratio, 1e-9), 0.0)
    push_cells = p.assault_per_h * odds**p.assault_odds_power * state.dt_h
    pace = np.where(engaged, np.where(push, np.minimum(pace, push_cells), 0.0), pace)
    # pace is the expected number of cells this step: its whole part, and one more by chance,
    # so that a long step covers the ground several short ones would
    cells = np.floor(pace) + (state.rng.random(gov.size) < pace - np.floor(pace))
    moves = ~at_target & (cells > 0)
    movers = gov[moves]
    if movers.size == 0:
        return
    dx, dy = near_x[x, y][moves] - x[moves], near_y[x, y][moves] - y[moves]
    reach = cells[moves].astype(np.int64)
    mx = x[moves] + np.sign(dx) * np.minimum(reach, np.abs(dx))
    my = y[moves] + np.sign(dy) * np.minimum(reach, np.abs(dy))
    squads.x[movers], squads.y[movers] = mx, my
    mined = state.mines[mx, my] > 0
    if mined.any():
        inflict(state, casualties_p, movers[mined], state.mines[mx[mined], my[mined]] * p.mine_hit)
        np.multiply.at(state.mines, (mx[mined], my[mined]), 1.0 - p.mine_clearing)


def _move_rebels(state: BattleState, p: Params, reb: np.ndarray) -> None:
    squads = state.squads
    if reb.size == 0:
        return
    held = state.control == GOV
    if not held.any():
        return
    depth, (near_x, near_y) = distance_transform_edt(~held, return_indices=True)
    x, y = squads.x[reb].astype(np.int64), squads.y[reb].astype(np.int64)
    engaged = state.engaged[reb]
    ratio = state.local_ratio[reb]
    dt_h = state.dt_h
    draw = state.rng.random(reb.size)
    fall_back = engaged & (ratio < p.retreat_ratio) & (draw < _chance(p.fallback_per_h, dt_h))
    counter = engaged & (ratio >= p.counterattack_ratio) & (draw < _chance(p.counterattack_per_h, dt_h))
    reacting = state.hour >= p.reserves_react_h
    reposition = (
        reacting & ~engaged & (depth[x, y] > p.reserve_depth_cells) & (draw < _chance(p.reposition_per_h, dt_h))
    )
    toward = counter | reposition
    new_x, new_y = x.copy(), y.copy()
    new_x[toward] = x[toward] + np.sign(near_x[x[toward], y[toward]] - x[toward])
    new_y[toward] = y[toward] + np.sign(near_y[x[toward], y[toward]] - y[toward])
    if fall_back.any():
        cx = x[fall_back, None] + OFFSETS[None, :, 0]
        cy = y[fall_back, None] + OFFSETS[None, :, 1]
        w, h = state.shape
        cx, cy = np.clip(cx, 0, w - 1), np.clip(cy, 0, h - 1)
        score = np.where(state.in_town_mask[cx, cy] & ~held[cx, cy], depth[cx, cy], -1.0)
        best = score.argmax(axis=1)
        rows = np.arange(best.size)
        new_x[fall_back], new_y[fall_back] = cx[rows, best], cy[rows, best]
    # rebels stay in the town: a move out of it is cancelled
    inside = state.in_town_mask[new_x, new_y]
    squads.x[reb] = np.where(inside, new_x, x)
    squads.y[reb] = np.where(inside, new_y, y)


def _tunnel_raids(state: BattleState, p: Params, reb: np.ndarray) -> None:
    """Rebels at a tunnel end emerge at the other end when the attackers hold or contest it."""
    if state.tunnels.size == 0 or reb.size == 0:
        return
    squads = state.squads
    ends = state.tunnels  # (n, 4): x_a, y_a, x_b, y_b
    control = state.control
    # a tunnel whose both ends the attackers hold is found and lost (record: tunnels discovered)
    both_held = (control[ends[:, 0], ends[:, 1]] == GOV) & (control[ends[:, 2], ends[:, 3]] == GOV)
    state.tunnels = ends = ends[~both_held]
    chance = _chance(p.tunnel_per_h, state.dt_h)
    moved = np.zeros(reb.size, bool)
    for col_from, col_to in ((0, 2), (2, 0)):
        src = ends[:, col_from : col_from + 2]
        dst = ends[:, col_to : col_to + 2]
        target = control[dst[:, 0], dst[:, 1]]
        usable = ((target == GOV) | (target == CONTESTED)) & (control[src[:, 0], src[:, 1]] != GOV)
        if not usable.any():
            continue
        lookup = np.full(state.shape, -1, np.int64)
        lookup[src[usable, 0], src[usable, 1]] = np.flatnonzero(usable)
        tunnel = lookup[squads.x[reb], squads.y[reb]]
        go = (tunnel >= 0) & ~moved & (state.rng.random(reb.size) < chance)
        squads.x[reb[go]] = dst[tunnel[go], 0]
        squads.y[reb[go]] = dst[tunnel[go], 1]
        moved |= go
