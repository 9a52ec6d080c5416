"""The counter-based generator: purity, batch/single agreement, uniformity, bad ranges."""

from __future__ import annotations

import numpy as np
import pytest

from skillgym.envs.counter_rng import draw_key, integers, random_bits


def test_rows_are_pure_functions_of_key_and_counter():
    keys = np.array([1, 2, 3, 2], dtype=np.uint64)
    counters = np.array([0, 5, 7, 5])
    batch = random_bits(keys, counters, stream=3, size=6)
    for row, (key, counter) in enumerate(zip(keys, counters, strict=True)):
        alone = random_bits(np.array([key]), np.array([counter]), stream=3, size=6)
        np.testing.assert_array_equal(batch[row], alone[0])
    np.testing.assert_array_equal(batch[1], batch[3])


def test_streams_counters_and_keys_all_change_the_words():
    base = random_bits(np.array([9], dtype=np.uint64), np.array([0]), stream=0, size=4)
    for keys, counters, stream in [([10], [0], 0), ([9], [1], 0), ([9], [0], 1)]:
        other = random_bits(np.array(keys, dtype=np.uint64), np.array(counters), stream, 4)
        assert not np.any(base == other)


def test_integers_are_uniform_in_range():
    keys = np.arange(2000, dtype=np.uint64)
    draws = integers(keys, np.zeros(2000), stream=1, size=50, low=0, high=10)
    assert draws.min() == 0 and draws.max() == 9
    counts = np.bincount(draws.ravel(), minlength=10)
    expected = draws.size / 10
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 27.9  # the 0.999 quantile of chi-square with 9 degrees of freedom


def test_per_row_ranges():
    low = np.array([[0], [100]])
    high = np.array([[2], [103]])
    draws = integers(np.array([1, 2], dtype=np.uint64), np.zeros(2), 0, 200, low, high)
    assert set(draws[0]) == {0, 1}
    assert set(draws[1]) == {100, 101, 102}


def test_bad_range_is_rejected():
    with pytest.raises(ValueError, match="high > low"):
        integers(np.array([1], dtype=np.uint64), np.zeros(1), 0, 1, low=5, high=5)


def test_draw_key_follows_the_seed():
    first = draw_key(np.random.default_rng(7))
    assert first == draw_key(np.random.default_rng(7))
    assert first != draw_key(np.random.default_rng(8))
    assert isinstance(first, np.uint64)
