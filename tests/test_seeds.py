"""The registry of seed streams: common seeds, and streams kept apart from each other and from the plan."""

from __future__ import annotations

import numpy as np

from sim.sweeps.experiment import Experiment, plan
from sim.sweeps.seeds import Stream, common_seeds


def test_common_seeds_depend_on_the_master_seed_the_stream_and_nothing_else():
    assert common_seeds(2013, Stream.REFINE, 4) == common_seeds(2013, Stream.REFINE, 4)
    assert common_seeds(2013, Stream.REFINE, 6)[:4] == common_seeds(2013, Stream.REFINE, 4)  # more seeds: a longer list
    assert common_seeds(2013, Stream.REFINE, 4) != common_seeds(2014, Stream.REFINE, 4)
    assert len(set(common_seeds(2013, Stream.CONFIRM, 16))) == 16


def test_the_streams_draw_seeds_apart_from_each_other_and_from_a_sweeps_own():
    experiment = Experiment(name="e", scenario="al-qusayr-2013", replicates=8, master_seed=2013)
    swept = {run.seed for run in plan(experiment, "sha")}
    # by name, so that a number given twice (an alias) would count as two streams drawing the same seeds
    drawn = {
        name: set(common_seeds(2013, stream, 8)) for name, stream in Stream.__members__.items() if stream != Stream.PLAN
    }
    for name, seeds in drawn.items():
        assert not seeds & swept, name
        for other, other_seeds in drawn.items():
            assert other == name or not seeds & other_seeds, (name, other)
    # stream 0 is the plan's own sequence (trailing zero words of entropy change nothing): reserved
    assert np.random.SeedSequence([2013, Stream.PLAN]).generate_state(2).tolist() == (
        np.random.SeedSequence(2013).generate_state(2).tolist()
    )
