"""The one registry of seed streams: every analysis draws its seeds from a stream declared here.

A sweep's runs take their seeds from ``SeedSequence(master_seed)`` (``sim.sweeps.experiment.plan``);
an analysis that runs parameter sets on seeds shared by all of them (common random numbers) takes
them from ``SeedSequence([master_seed, stream])`` (``common_seeds``). A list of entropy words padded
with zeros gives the same sequence as the list alone, so stream 0 *is* the plan's: it is reserved,
and every other analysis has a number of its own, so two analyses of the same master seed never
draw the same seeds.
"""

from __future__ import annotations

from enum import IntEnum, unique

import numpy as np


@unique  # a number given twice is an error at import, not an alias
class Stream(IntEnum):
    """The seed streams of the analyses of one master seed."""

    PLAN = 0  # a sweep's own seeds (plan: SeedSequence(master_seed)): reserved, the screen and every ensemble
    REFINE = 1  # calibration's refinement: every trial on the same seeds
    CONFIRM = 2  # calibration's confirmation: the best trials on fresh seeds
    SCENARIO_VALUES = 3  # calibration: the scenario's own values run like a screen point
    SENSITIVITY = 4  # SALib's parameter sets, each run on the same seeds


# calibration's check ensemble of the fitted values is a sweep of master seed + this (plan's seeds,
# not a stream): fresh runs, apart from the screen's (master seed) and from an ensemble validated
# with the same master seed (one validated with master seed + 7 would draw the same seeds: kept, since
# changing it would change every calibration's check)
CHECK_MASTER_SEED_OFFSET = 7


def common_seeds(master_seed: int, stream: Stream, count: int) -> list[int]:
    """``count`` seeds shared by every parameter set of an analysis (common random numbers).

    ``stream`` keeps analyses of the same master seed apart from each other and from ``plan``.
    """
    children = np.random.SeedSequence([master_seed, int(stream)]).spawn(count)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]
