"""Length-bucketed batches and fixed scoring subsets."""

from __future__ import annotations

import numpy as np

from skillgym.envs.mtnas.batching import bucket_batches, fixed_subset


def test_bucket_batches_cover_every_index_once():
    lengths = np.random.default_rng(0).integers(1, 40, size=203)
    batches = list(bucket_batches(lengths, 16, np.random.default_rng(1)))
    assert sorted(np.concatenate(batches).tolist()) == list(range(203))
    assert all(len(b) <= 16 for b in batches)
    ordered = list(bucket_batches(lengths, 16, None))
    assert np.all(np.diff(lengths[np.concatenate(ordered)]) >= 0)


def test_fixed_subset_is_seeded_and_bounded():
    assert fixed_subset(10, None, 0).tolist() == list(range(10))
    assert fixed_subset(10, 20, 0).tolist() == list(range(10))
    chosen = fixed_subset(100, 7, 5)
    assert len(set(chosen.tolist())) == 7 and chosen.tolist() == fixed_subset(100, 7, 5).tolist()
