"""Exact n-gram statistics on flat batches, against Python sets and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillgym.rewards.ngrams import (
    as_ragged,
    find_loops,
    repeated_starts,
    unique_ngram_counts,
)
from skillgym.rewards.ragged import Ragged

INT64 = np.iinfo(np.int64)


def python_counts(rows: list[list[int]], n: int) -> tuple[list[int], list[int]]:
    """The oracle: the sizes of a Python set and of a list of each row's n-gram tuples."""
    grams = [list(zip(*[row[i:] for i in range(n)], strict=False)) for row in rows]
    return [len(set(row)) for row in grams], [len(row) for row in grams]


def adversarial_rows() -> list[list[int]]:
    rng = np.random.default_rng(11)
    return [
        [7] * 1000,                                        # all equal
        list(range(1000)),                                 # all distinct
        [],                                                # empty
        [INT64.max, INT64.min, -1, 0, INT64.min, -1],      # the extremes of int64
        [k << 52 for k in range(-300, 300)] * 2,           # only the high bits differ
        [k * 4096 for k in range(700)],                    # only the low bits are all zero
        rng.integers(0, 3, 999).tolist(),                  # three ids, many duplicates
        rng.integers(INT64.min, INT64.max, 1000, endpoint=True).tolist(),
        [12345],
    ]


@pytest.mark.parametrize("table_bits", [None, 0, 1, 3])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_counts_equal_python_sets_on_adversarial_rows(table_bits, n):
    # With 2**0 or 2**1 slots per row every round is almost all collisions: a round resolves
    # one or two n-grams of a row, so the rows take hundreds of rounds.
    rows = adversarial_rows()
    unique, total = unique_ngram_counts(rows, n, table_bits=table_bits)
    assert (unique.tolist(), total.tolist()) == python_counts(rows, n)
    assert unique.dtype == total.dtype == np.int64


def test_windows_across_rows_are_not_ngrams():
    # Row 0 ends with 5 6 and row 1 starts with 7: the window 5 6 7 across them equals row 0's
    # first trigram, and must neither count nor hide that trigram.
    rows = [[5, 6, 7, 5, 6], [7, 1, 2], [5, 6], [7], [], [5, 6, 7]]
    for n in (1, 2, 3, 4):
        for table_bits in (None, 0):
            unique, total = unique_ngram_counts(Ragged.from_rows(rows), n, table_bits)
            assert (unique.tolist(), total.tolist()) == python_counts(rows, n)


IDS = st.integers(0, 3) | st.integers(0, 2**32 - 1) | st.integers(INT64.min, INT64.max)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(IDS, max_size=40), max_size=8), n=st.integers(1, 5),
       table_bits=st.none() | st.integers(0, 4))
def test_counts_property(rows, n, table_bits):
    expected = python_counts(rows, n)
    for batch in (rows, Ragged.from_rows(rows)):
        unique, total = unique_ngram_counts(batch, n, table_bits)
        assert (unique.tolist(), total.tolist()) == expected


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.uint32, np.int64, np.uint64,
                                   np.bool_])
def test_every_integer_dtype_counts_the_same(dtype):
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 2, size=(6, 50)).astype(dtype)
    unique, total = unique_ngram_counts(ids, 4)
    assert (unique.tolist(), total.tolist()) == python_counts(ids.astype(int).tolist(), 4)


def test_blocks_mixed_lengths_and_a_row_longer_than_a_block():
    # Short and long rows share blocks, a row of 200,000 ids is a block of its own (its table
    # holds 64-bit positions), and 32-bit and 64-bit ids take the same counts.
    rng = np.random.default_rng(5)
    rows = [rng.integers(0, rng.integers(1, 50), rng.integers(0, 3000)).tolist()
            for _ in range(120)]
    rows.insert(60, rng.integers(0, 40, 200_000).tolist())
    expected = python_counts(rows, 3)
    ragged = Ragged.from_rows(rows)
    for values in (ragged.values, ragged.values.astype(np.uint32)):
        unique, total = unique_ngram_counts(Ragged(values, ragged.offsets), 3)
        assert (unique.tolist(), total.tolist()) == expected


def test_an_array_is_a_batch_of_its_rows_without_a_copy():
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 4, size=(300, 512))
    ids[::3] = rng.integers(0, 151_936, size=(100, 512))
    assert np.shares_memory(as_ragged(ids).values, ids)
    unique, total = unique_ngram_counts(ids, 3)
    assert (unique.tolist(), total.tolist()) == python_counts(ids.tolist(), 3)


def repeats_oracle(row: list[int], n: int) -> list[int]:
    seen, repeats = set(), []
    for start in range(len(row) - n + 1):
        gram = tuple(row[start:start + n])
        if gram in seen:
            repeats.append(start)
        seen.add(gram)
    return repeats


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 3), max_size=30), max_size=6),
       n=st.integers(1, 4))
def test_repeated_starts_of_a_flat_batch(rows, n):
    found = repeated_starts(Ragged.from_rows(rows), n)
    assert [starts.tolist() for starts in found] == [repeats_oracle(row, n) for row in rows]


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 2), max_size=40), max_size=6),
       max_period=st.integers(1, 6), min_repeats=st.integers(2, 4), min_span=st.integers(1, 9))
def test_loops_of_a_flat_batch_are_those_of_each_row_alone(rows, max_period, min_repeats,
                                                           min_span):
    # A run of equal units must stop at the end of its row, not carry into the next one.
    together = find_loops(Ragged.from_rows(rows), max_period, min_repeats, min_span)
    alone = [find_loops([np.array(row, dtype=np.int64)], max_period, min_repeats, min_span)[0]
             for row in rows]
    assert together == alone


def test_loop_runs_stop_at_row_boundaries():
    rows = [[1, 2, 3, 4, 4, 4], [4, 4, 4, 5], [4] * 7]
    loops = find_loops(Ragged.from_rows(rows), max_period=2, min_repeats=4, min_span=4)
    assert loops[:2] == [None, None]
    assert (loops[2].start, loops[2].end, loops[2].period, loops[2].repeats) == (0, 7, 1, 7)


@pytest.mark.parametrize(("call", "argument"), [
    (lambda: unique_ngram_counts([[1, 2]], 0), "n"),
    (lambda: unique_ngram_counts([[1, 2]], 2.0), "n"),
    (lambda: unique_ngram_counts([[1, 2]], 2, table_bits=-1), "table_bits"),
    (lambda: unique_ngram_counts([[1, 2]], 2, table_bits=17), "table_bits"),
    (lambda: unique_ngram_counts([[1, 2]], 2, table_bits=2.0), "table_bits"),
    (lambda: unique_ngram_counts(np.zeros(3, dtype=np.int64), 2), "batch"),
    (lambda: unique_ngram_counts(np.zeros((2, 3)), 2), "batch"),
])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()
