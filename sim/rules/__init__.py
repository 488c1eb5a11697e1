"""The rules of the model, one mechanism per module, and the order in which a step runs them.

A step of ``BattleModel`` runs ``PHASES`` in this order:

1. ``arrivals``      scheduled reinforcements arrive; Hezbollah rotates; tactics apply (inputs)
2. ``fire_support``  the fire plans' shells, rockets, air raids and missiles land (inputs)
3. ``fire``          aimed fire between squads within range: killed and wounded
4. ``movement``      attackers advance, rebels hold / fall back / counter-attack / use tunnels
5. ``control``       who holds each cell and sector; the attackers' share; the fall
6. ``villages``      the fight for the outside places
7. ``supply``        routes open or cut, encirclement, water, ammunition, wounded, rebel arrivals
8. ``surrender``     cornered rebels surrender; wounded left behind are captured
9. ``cohesion``      the rebels' cohesion
10. ``civilians``    crossfire and flight
11. ``corridor``     talks, the corridor, the withdrawal
"""

from sim.rules import (
    arrivals,
    civilians,
    cohesion,
    control,
    corridor,
    fire,
    fire_support,
    movement,
    supply,
    surrender,
    villages,
)

PHASES = (
    arrivals.step,
    fire_support.step,
    fire.step,
    movement.step,
    control.step,
    villages.step,
    supply.step,
    surrender.step,
    cohesion.step,
    civilians.step,
    corridor.step,
)
