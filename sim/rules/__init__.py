"""The rules of the model, one mechanism per module, their parameters, and the order in which a step runs them.

A step of ``BattleModel`` runs the phases of ``phases()`` in this order:

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

Each rule's ``step`` takes the battle's state (``sim.state.BattleState``), its own ``Params`` and
whatever other parameters or exogenous inputs it reads; ``phases`` binds them once per model, so
the wiring between rules is written here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from sim.loading import InputModel
from sim.rules import (
    arrivals,
    casualties,
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

# the Params classes under names of their own: in Rules, a field named after its rule hides the module
CasualtiesParams = casualties.Params
FireParams = fire.Params
FireSupportParams = fire_support.Params
MovementParams = movement.Params
ControlParams = control.Params
VillagesParams = villages.Params
SupplyParams = supply.Params
SurrenderParams = surrender.Params
CohesionParams = cohesion.Params
CiviliansParams = civilians.Params
CorridorParams = corridor.Params


class Rules(InputModel):
    """Parameters of every rule, each declared beside its rule (``sim/rules/<rule>.py``).

    A rule's defaults are the baseline scenario's values; the villages' policy inputs (the
    campaign's start and its plan) have none, so a scenario sets them.
    """

    casualties: CasualtiesParams = CasualtiesParams()
    fire: FireParams = FireParams()
    fire_support: FireSupportParams = FireSupportParams()
    movement: MovementParams = MovementParams()
    control: ControlParams = ControlParams()
    villages: VillagesParams
    supply: SupplyParams = SupplyParams()
    surrender: SurrenderParams = SurrenderParams()
    cohesion: CohesionParams = CohesionParams()
    civilians: CiviliansParams = CiviliansParams()
    corridor: CorridorParams = CorridorParams()


@dataclass(frozen=True)
class Phase:
    """One phase of a step: a rule's ``step`` bound to its parameters and inputs; ``run(state)`` runs it."""

    run: partial[None]

    @property
    def name(self) -> str:
        """The rule's name: its module's."""
        return self.run.func.__module__.rsplit(".", 1)[-1]


def phases(
    rules: Rules,
    fire_plans: list[fire_support.FirePlan],
    rotation: list[arrivals.RotationPolicy],
    tactics: list[arrivals.TacticsChange],
) -> tuple[Phase, ...]:
    """The phases of a step, in the order of this module's docstring."""
    hits = rules.casualties
    return (
        Phase(partial(arrivals.step, rotation=rotation, tactics=tactics)),
        Phase(partial(fire_support.step, p=rules.fire_support, casualties_p=hits, plans=fire_plans)),
        Phase(partial(fire.step, p=rules.fire, cohesion_p=rules.cohesion, casualties_p=hits)),
        Phase(partial(movement.step, p=rules.movement, control_p=rules.control, casualties_p=hits)),
        Phase(partial(control.step, p=rules.control)),
        Phase(
            partial(villages.step, p=rules.villages, fire_p=rules.fire, cohesion_p=rules.cohesion, casualties_p=hits)
        ),
        Phase(partial(supply.step, p=rules.supply, casualties_p=hits)),
        Phase(partial(surrender.step, p=rules.surrender)),
        Phase(partial(cohesion.step, p=rules.cohesion)),
        Phase(partial(civilians.step, p=rules.civilians, fire_support_p=rules.fire_support)),
        Phase(partial(corridor.step, p=rules.corridor)),
    )
