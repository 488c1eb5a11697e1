"""The model's state arrays: fighters grouped in squads (structure of arrays), and the tallies.

Squads are the unit of movement and fire, but every count is in people: a squad's ``strength``
is its number of fighters able to fight. All per-squad state lives in numpy arrays of equal length
so that every rule updates it by whole-array operations (no Python loop over fighters).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

REBELS, ARMY, HEZBOLLAH, CIVILIANS = 0, 1, 2, 3
SIDE_NAMES = ("rebels", "army", "hezbollah", "civilians")
FIGHTING_SIDES = (REBELS, ARMY, HEZBOLLAH)

# Squad status.
# the codes are ordered: status <= OFF_DUTY means alive and counted present
ACTIVE = 0  # in the fight: on the town grid (node == IN_TOWN) or at an outside place (node >= 0)
OFF_DUTY = 1  # rotated out (Hezbollah rotation): alive and counted present, not fighting
PENDING = 2  # not yet arrived (a scheduled reinforcement): not counted anywhere yet
GONE = 3  # strength 0, or withdrawn / captured whole

IN_TOWN = -1  # value of ``node`` for squads on the town grid

# Cell control codes (the ``control`` property layer).
NONE, GOV, REB, CONTESTED = 0, 1, 2, 3


@dataclass
class Squads:
    """Structure of arrays, one entry per squad."""

    side: np.ndarray  # int8: REBELS, ARMY or HEZBOLLAH
    x: np.ndarray  # int16 grid column (east)
    y: np.ndarray  # int16 grid row (north)
    node: np.ndarray  # int16: IN_TOWN, or the index of the outside place the squad is at
    strength: np.ndarray  # int32 fighters able to fight
    status: np.ndarray  # int8 ACTIVE / OFF_DUTY / PENDING / GONE
    ammo: np.ndarray  # float32 0-1, share of a full basic load (rebels; attackers stay at 1)
    unit: np.ndarray  # int16: rebel unit number (0-14), Hezbollah rotation cohort, else 0
    arrival_step: np.ndarray  # int32: step at which a PENDING squad arrives
    entry: np.ndarray  # int16: where a PENDING squad arrives (direction code or outside place)
    suppressed: np.ndarray  # float32 0-1, this step's suppression by fire support

    @classmethod
    def empty(cls, n: int) -> Squads:
        """Arrays for ``n`` squads, all GONE with strength 0."""
        return cls(
            side=np.zeros(n, np.int8),
            x=np.zeros(n, np.int16),
            y=np.zeros(n, np.int16),
            node=np.full(n, IN_TOWN, np.int16),
            strength=np.zeros(n, np.int32),
            status=np.full(n, GONE, np.int8),
            ammo=np.ones(n, np.float32),
            unit=np.zeros(n, np.int16),
            arrival_step=np.zeros(n, np.int32),
            entry=np.zeros(n, np.int16),
            suppressed=np.zeros(n, np.float32),
        )

    def __len__(self) -> int:
        return len(self.side)

    def in_town(self) -> np.ndarray:
        """Mask of squads fighting on the town grid."""
        return (self.status == ACTIVE) & (self.node == IN_TOWN) & (self.strength > 0)

    def is_gov(self) -> np.ndarray:
        """Mask of attacker squads (army and Hezbollah)."""
        return self.side != REBELS


@dataclass
class Tally:
    """People counted by side (index REBELS, ARMY, HEZBOLLAH, CIVILIANS) and fate.

    Conservation, for each side: present + killed + wounded_evacuated + captured + withdrawn
    = initial + arrived.
    """

    initial: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
    arrived: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
    killed: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
    wounded: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))  # every wound, evacuated or not
    wounded_evacuated: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
    captured: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
    withdrawn: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))
