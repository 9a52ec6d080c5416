"""Problems drawn ahead hand out exactly the draws made when each episode begins."""

from __future__ import annotations

import numpy as np
import pytest

from skillgym.envs.aec.ahead import DrawnAhead
from skillgym.envs.counter_rng import integers

NUM_ENVS = 12


class CountingDraw:
    """A counter-based draw of a number and a row of three per episode; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, keys, counters, level):
        self.calls += 1
        words = integers(keys, counters, 3, 4, 0, 1000) * level
        return {"number": words[:, 0], "row": words[:, 1:]}


def test_take_equals_drawing_when_each_episode_begins():
    rng = np.random.default_rng(0)
    draw = CountingDraw()
    ahead = DrawnAhead(draw, NUM_ENVS, depth=8)
    keys = rng.integers(0, 2**63, NUM_ENVS).astype(np.uint64)
    counters = np.zeros(NUM_ENVS, dtype=np.int64)
    levels = np.ones(NUM_ENVS, dtype=np.int64)
    taken = 0
    for step in range(400):
        if step % 97 == 96:  # a reseed: new keys, counters back to 0
            rekeyed = rng.random(NUM_ENVS) < 0.5
            keys[rekeyed] = rng.integers(0, 2**63, rekeyed.sum()).astype(np.uint64)
            counters[rekeyed] = 0
        promoted = rng.random(NUM_ENVS) < 0.01
        levels[promoted] = np.minimum(levels[promoted] + 1, 3)
        rows = np.flatnonzero(rng.random(NUM_ENVS) < 0.3)
        if not len(rows):
            continue
        got = ahead.take(rows, keys, counters, levels)
        for row, number, cells in zip(rows, got["number"], got["row"], strict=True):
            expected = CountingDraw()(keys[[row]], counters[[row]], int(levels[row]))
            assert number == expected["number"][0]
            np.testing.assert_array_equal(cells, expected["row"][0])
        counters[rows] += 1
        taken += len(rows)
    # batched refills: far fewer draws than episodes
    assert taken > 1000
    assert draw.calls < taken / 8


def test_a_refill_takes_the_rows_that_used_half_their_store():
    draw = CountingDraw()
    ahead = DrawnAhead(draw, 4, depth=4)
    keys = np.arange(1, 5, dtype=np.uint64)
    counters = np.zeros(4, dtype=np.int64)
    levels = np.ones(4, dtype=np.int64)
    ahead.take(np.arange(4), keys, counters, levels)
    assert draw.calls == 1
    counters[:] = [4, 2, 1, 0]  # row 0 used its store up, row 1 half of it
    ahead.take(np.array([0]), keys, counters, levels)
    assert draw.calls == 2
    counters[:] = [5, 5, 1, 0]  # row 1 was refilled at 2: 5 is still held
    ahead.take(np.array([1]), keys, counters, levels)
    assert draw.calls == 2
    counters[:] = [5, 5, 4, 0]  # row 2 was not refilled: its store holds 0-3
    ahead.take(np.array([2]), keys, counters, levels)
    assert draw.calls == 3


def test_a_store_of_no_episodes_is_refused():
    with pytest.raises(ValueError, match="depth must be >= 1"):
        DrawnAhead(CountingDraw(), 4, depth=0)
