"""Exact n-gram statistics: the sort-free distinct count against Python sets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillgym.rewards.ngrams import distinct_counts, unique_ngram_counts

INT64 = np.iinfo(np.int64)


def python_distinct(rows: list[list[int]]) -> list[int]:
    """The oracle: the size of a Python set of each row's keys."""
    return [len(set(row)) for row in rows]


def padded(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Rows as an ``int64`` array padded with keys that must not be counted, and their lengths."""
    width = max((len(row) for row in rows), default=0)
    keys = np.full((len(rows), width), 12345, dtype=np.int64)
    for index, row in enumerate(rows):
        keys[index, :len(row)] = row
    return keys, np.array([len(row) for row in rows], dtype=np.int64)


def adversarial_rows() -> list[list[int]]:
    rng = np.random.default_rng(11)
    return [
        [7] * 1000,                                        # all equal
        list(range(1000)),                                 # all distinct
        [],                                                # empty
        [INT64.max - 1, INT64.min, -1, 0, INT64.min, -1],  # the extremes of int64
        [k << 52 for k in range(-300, 300)] * 2,           # only the high bits differ
        [k * 4096 for k in range(700)],                    # only the low bits are all zero
        rng.integers(0, 3, 999).tolist(),                  # three keys, many duplicates
        rng.integers(INT64.min, INT64.max - 1, 1000, endpoint=True).tolist(),
        [12345],                                           # the padding's own value, once
    ]


@pytest.mark.parametrize("table_bits", [None, 0, 1, 3])
def test_distinct_counts_equal_python_sets_on_adversarial_rows(table_bits):
    # With 2**0 or 2**1 slots per row every round is almost all collisions: each round can
    # resolve only one or two keys of a row, so the rows take hundreds of rounds.
    rows = adversarial_rows()
    keys, counts = padded(rows)
    found = distinct_counts(keys, counts, table_bits=table_bits)
    assert found.tolist() == python_distinct(rows)
    assert found.dtype == np.int64


def test_distinct_counts_of_rows_without_keys():
    assert distinct_counts(np.zeros((3, 0), dtype=np.int64), np.zeros(3)).tolist() == [0] * 3
    assert distinct_counts(np.ones((2, 5), dtype=np.int64), np.array([0, 0])).tolist() == [0, 0]
    assert distinct_counts(np.zeros((0, 4), dtype=np.int64), np.zeros(0)).tolist() == []


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.lists(st.integers(-3, 3) | st.integers(INT64.min, INT64.max - 1),
                              max_size=40), min_size=1, max_size=6),
       table_bits=st.none() | st.integers(0, 5))
def test_distinct_counts_property(rows, table_bits):
    keys, counts = padded(rows)
    assert distinct_counts(keys, counts, table_bits).tolist() == python_distinct(rows)


def test_unique_ngram_counts_on_equal_distinct_empty_and_short_sequences():
    batch = [[5] * 600, list(range(600)), [], [1], [1, 2], [1, 2, 3], [9, 9, 9, 9],
             list(range(50)) * 12]
    for n in (1, 2, 3, 8):
        unique, total = unique_ngram_counts([np.array(ids, dtype=np.int64) for ids in batch], n)
        ngrams = [list(zip(*[ids[i:] for i in range(n)], strict=False)) for ids in batch]
        assert unique.tolist() == [len(set(grams)) for grams in ngrams]
        assert total.tolist() == [len(grams) for grams in ngrams]


def test_unique_ngram_counts_on_an_array_of_rows_spanning_several_blocks():
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 4, size=(300, 512))
    ids[::3] = rng.integers(0, 151_936, size=(100, 512))
    unique, total = unique_ngram_counts(ids, 3)
    rows = ids.tolist()
    assert unique.tolist() == [len(set(zip(row, row[1:], row[2:], strict=False)))
                               for row in rows]
    assert total.tolist() == [510] * 300


@pytest.mark.parametrize(("keys", "table_bits", "argument"), [
    (np.zeros((2, 3), dtype=np.int32), None, "keys"),
    (np.zeros(3, dtype=np.int64), None, "keys"),
    ([[1, 2]], None, "keys"),
    (np.zeros((2, 3), dtype=np.int64), -1, "table_bits"),
    (np.zeros((2, 3), dtype=np.int64), 33, "table_bits"),
    (np.zeros((2, 3), dtype=np.int64), 2.0, "table_bits"),
])
def test_distinct_counts_bad_input_names_the_argument(keys, table_bits, argument):
    with pytest.raises(ValueError, match=argument):
        distinct_counts(keys, np.full(2, 3), table_bits)
