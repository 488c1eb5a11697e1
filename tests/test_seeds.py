"""The registry of seed streams: common seeds, and streams kept apart from each other and from the plan."""

from __future__ import annotations

from sim.sweeps.seeds import Stream, common_seeds


def test_common_seeds_depend_on_the_master_seed_the_stream_and_nothing_else():
    assert common_seeds(2013, Stream.REFINE, 4) == common_seeds(2013, Stream.REFINE, 4)
    assert common_seeds(2013, Stream.REFINE, 6)[:4] == common_seeds(2013, Stream.REFINE, 4)  # more seeds: a longer list
    assert common_seeds(2013, Stream.REFINE, 4) != common_seeds(2014, Stream.REFINE, 4)
    assert len(set(common_seeds(2013, Stream.CONFIRM, 16))) == 16
