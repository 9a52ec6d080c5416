"""Exact n-gram statistics over batches of integer sequences, with numpy and no per-item loops.

Every repetition reward reduces its input to integer sequences (token ids, word ids or
character code points, see :func:`word_ids` and :func:`char_ids`) and asks this module three
questions, each answered for a whole batch with array operations:

- :func:`unique_ngram_counts`: how many distinct n-grams each sequence has (the global penalty);
- :func:`repeated_starts`: where the n-gram occurrences seen earlier start (the dense penalty,
  and where a repetition is);
- :func:`find_loops`: the first stretch where a unit of period ``p <= max_period`` repeats ``k``
  or more times in a row (the loop detector).

N-grams are compared through integer keys that are *exact*: the ``n`` ids of an n-gram are
packed into one ``int64`` in mixed radix, and when the packed value would overflow, the partial
keys are first replaced by their dense ranks (``np.unique``), which keeps equality exact instead
of relying on a hash. Distinct keys are counted without sorting (:func:`distinct_counts`):
hashing only chooses where keys meet, and keys are compared exactly. A batch is a list of 1-D
arrays, or a 2-D array of equal-length rows (e.g. a tensor of token ids) used without copying;
ragged lists are padded in groups of similar length so that one very long sequence does not blow
up the padding of the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: What a repetition is counted in.
UNITS: tuple[str, ...] = ("tokens", "words", "chars")

_KEY_LIMIT = (1 << 62) - 1  # packed keys stay below this, so int64 arithmetic never overflows
_PAD_KEY = np.iinfo(np.int64).max  # sorts after every real key
# Odd 64-bit multipliers (golden ratio, MurmurHash3, xxHash64, SplitMix64): round r of
# distinct_counts hashes with the r-th, so keys that met in one round part in the next.
_HASH_MULTIPLIERS = tuple(np.uint64(m) for m in (
    0x9E3779B97F4A7C15, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0xC2B2AE3D27D4EB4F,
    0x165667B19E3779F9, 0x27D4EB2F165667C5, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB))


def word_ids(text: str, lowercase: bool = True) -> np.ndarray:
    """Whitespace words (``str.split()``) as ids, equal words equal ids; lowercased by default,
    as open-r1 does."""
    words = (text.lower() if lowercase else text).split()
    vocabulary: dict[str, int] = {}
    return np.fromiter((vocabulary.setdefault(word, len(vocabulary)) for word in words),
                       dtype=np.int64, count=len(words))


def char_ids(text: str) -> np.ndarray:
    """Characters as their code points (lone surrogates included, so nothing is dropped)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)


def as_batch(sequences: Sequence[Sequence[int] | np.ndarray]) -> list[np.ndarray]:
    """A batch as a list of 1-D ``int64`` arrays."""
    return [np.asarray(sequence, dtype=np.int64).reshape(-1) for sequence in sequences]


def _groups(lengths: np.ndarray, slack: float = 1.5) -> list[np.ndarray]:
    """Row indices grouped by similar length, so that padding each group costs at most about
    ``slack`` times its real size."""
    order = np.argsort(lengths, kind="stable")
    groups, start = [], 0
    while start < len(order):
        total, end = int(lengths[order[start]]), start + 1
        while end < len(order):
            longest = int(lengths[order[end]])
            if (end - start + 1) * longest > slack * (total + longest) + 4096:
                break
            total, end = total + longest, end + 1
        groups.append(order[start:end])
        start = end
    return groups


def _padded(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows stacked into a zero-padded ``(R, L)`` array, and their lengths."""
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max()) if len(rows) else 0
    if len(rows) and (lengths == width).all():
        return np.stack(rows) if width else np.zeros((len(rows), 0), np.int64), lengths
    padded = np.zeros((len(rows), width), dtype=np.int64)
    for index, row in enumerate(rows):
        padded[index, :len(row)] = row
    return padded, lengths


def _grouped(batch: list[np.ndarray] | np.ndarray):
    """``(row indices, padded ids, lengths)`` for each group of rows of similar length."""
    if isinstance(batch, np.ndarray):
        if batch.ndim != 2:
            raise ValueError(f"a batch array must be 2-D (sequences x length), got {batch.shape}")
        rows, width = batch.shape
        yield np.arange(rows), batch.astype(np.int64, copy=False), np.full(rows, width)
        return
    lengths = np.fromiter((len(sequence) for sequence in batch), np.int64, len(batch))
    for group in _groups(lengths):
        ids, group_lengths = _padded([batch[index] for index in group])
        yield group, ids, group_lengths


def _dense_ranks(values: np.ndarray) -> np.ndarray:
    return np.unique(values, return_inverse=True)[1].reshape(values.shape).astype(np.int64)


def ngram_keys(ids: np.ndarray, n: int) -> np.ndarray:
    """Exact keys of the n-grams of each row of ``ids`` (``(R, L)``): ``keys[r, i]`` stands for
    ``ids[r, i:i + n]``, and two keys of the same call are equal iff their n-grams are."""
    rows, width = ids.shape
    positions = width - n + 1
    if positions <= 0:
        return np.zeros((rows, 0), dtype=np.int64)
    units = ids
    low, high = (int(units.min()), int(units.max())) if units.size else (0, 0)
    if high - low + 1 > (1 << 31):
        units = _dense_ranks(units)
        low, high = 0, int(units.max())
    elif low < 0 or high >= 1 << 31:
        units = units - low
        low, high = 0, high - low
    # Digits lie in [0, high]: non-negative ids below 2**31 are used as they are, which saves a
    # pass over the batch.
    radix = high + 1
    keys, largest = units[:, :positions].copy(), radix - 1
    for offset in range(1, n):
        if (largest + 1) * radix - 1 > _KEY_LIMIT:
            keys = _dense_ranks(keys)
            largest = int(keys.max())
        keys *= radix
        keys += units[:, offset:offset + positions]
        largest = largest * radix + radix - 1
    return keys


def _valid(lengths: np.ndarray, width: int, n: int) -> np.ndarray:
    """``valid[r, i]``: the n-gram at ``i`` lies inside row ``r``."""
    return np.arange(width)[None, :] < (lengths - n + 1)[:, None]


def unique_ngram_counts(batch: list[np.ndarray] | np.ndarray,
                        n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(unique, total)``: the number of distinct n-grams and of n-grams in each sequence."""
    unique = np.zeros(len(batch), dtype=np.int64)
    total = np.zeros(len(batch), dtype=np.int64)
    for group, ids, lengths in _grouped(batch):
        counts = np.maximum(lengths - n + 1, 0)
        total[group] = counts
        # Row blocks of about 65,536 n-grams keep the hash table (a megabyte) and every pass's
        # temporaries in the core's cache.
        block = max(1, (1 << 16) // max(ids.shape[1], 1))
        for start in range(0, len(group), block):
            rows = slice(start, start + block)
            unique[group[rows]] = distinct_counts(ngram_keys(ids[rows], n), counts[rows])
    return unique, total


def distinct_counts(keys: np.ndarray, counts: np.ndarray,
                    table_bits: int | None = None) -> np.ndarray:
    """The number of distinct keys among the first ``counts[r]`` of each row of ``keys``.

    ``keys`` is an ``(R, W)`` ``int64`` array, used as scratch: the entries past ``counts[r]``
    are overwritten (so no key may be ``2**63 - 1``, the padding's).

    The count is exact and needs no sort. Each round hashes every unresolved key to a slot of
    its row's part of a table (``2**table_bits`` slots per row, by default at least four per
    key) and writes the item's index there; one writer per slot remains. An item whose key
    equals the key of its slot's winner is resolved: all the row's items with that key met at
    that slot, so each slot won is one distinct key. Items whose slot went to another key try
    again with the next hash. Every round resolves at least one key of each row that has some
    left, so any table size gives the same counts; a small one only takes more rounds.
    """
    if not (isinstance(keys, np.ndarray) and keys.ndim == 2 and keys.dtype == np.int64):
        raise ValueError("keys must be a 2-D int64 array, got "
                         f"{getattr(keys, 'shape', None)} {getattr(keys, 'dtype', type(keys))}")
    if table_bits is not None and not (isinstance(table_bits, int) and 0 <= table_bits <= 32):
        raise ValueError(f"table_bits must be an integer in [0, 32], got {table_bits!r}")
    rows, width = keys.shape
    if width == 0:
        return np.zeros(rows, dtype=np.int64)
    counts = np.asarray(counts)
    padded = counts < width
    if padded.any():
        # The padding of a row becomes one more key, taken off at the end.
        keys[np.arange(width)[None, :] >= counts[:, None]] = _PAD_KEY
    bits = (4 * width - 1).bit_length() if table_bits is None else table_bits
    flat = keys.reshape(-1)
    # Every item reads a slot that at least it wrote in the same round, so the table is never
    # cleared; 32-bit indices halve its size (the scatter and gathers run in cache).
    index = np.arange(flat.size, dtype=np.int32 if flat.size < 1 << 31 else np.int64)
    table = np.empty(rows << bits, dtype=index.dtype)
    winners = _claim(table, _slots(keys, np.arange(rows)[:, None] << bits, bits, 0), index)
    won = winners == index
    distinct = won.reshape(rows, width).sum(axis=1, dtype=np.int32)
    # An item that won its slot is resolved; only those that lost need their winner's key.
    # (np.compress: boolean indexing is several times slower on irregular masks.)
    lost = np.flatnonzero(~won)
    pending = np.compress(flat.take(winners.take(lost).astype(np.intp)) != flat.take(lost), lost)
    hash_round = 1
    while pending.size:
        pending_keys = flat.take(pending)
        pending_rows = pending // width
        winners = _claim(table, _slots(pending_keys, pending_rows << bits, bits, hash_round),
                         pending).astype(np.intp, copy=False)
        distinct += np.bincount(np.compress(winners == pending, pending_rows), minlength=rows)
        pending = np.compress(flat.take(winners) != pending_keys, pending)
        hash_round += 1
    return (distinct - padded).astype(np.int64)


def _slots(keys: np.ndarray, bases: np.ndarray, bits: int, hash_round: int) -> np.ndarray:
    """The multiply-shift hash of ``keys`` into ``2**bits`` slots, offset by their rows'
    ``bases``, flattened."""
    multiplier = _HASH_MULTIPLIERS[hash_round % len(_HASH_MULTIPLIERS)]
    hashed = np.multiply(keys.view(np.uint64), multiplier)
    hashed >>= np.uint64(64 - bits)
    slots = hashed.view(np.int64)
    slots += bases
    return slots.reshape(-1)


def _claim(table: np.ndarray, slots: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Every item writes itself to its slot, then reads which item holds it. Of the items that
    share a slot, exactly one is read back: numpy's scatter leaves one of the written values."""
    table[slots] = items
    return table.take(slots)


def repeated_starts(batch: list[np.ndarray] | np.ndarray, n: int) -> list[np.ndarray]:
    """For each sequence, the start positions of n-gram occurrences already seen earlier in it
    (the first occurrence of each n-gram is not a repeat), in increasing order."""
    starts: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(batch)
    for group, ids, lengths in _grouped(batch):
        keys = ngram_keys(ids, n)
        if keys.shape[1] == 0:
            continue
        keys[~_valid(lengths, keys.shape[1], n)] = _PAD_KEY
        order = np.argsort(keys, axis=1, kind="stable")
        ordered = np.take_along_axis(keys, order, axis=1)
        repeat = np.zeros_like(ordered, dtype=bool)
        repeat[:, 1:] = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != _PAD_KEY)
        flags = np.zeros_like(repeat)
        np.put_along_axis(flags, order, repeat, axis=1)
        for row, index in enumerate(group):
            starts[index] = np.flatnonzero(flags[row])
    return starts


def cover(starts: np.ndarray, n: int, length: int) -> np.ndarray:
    """``mask[i]``: unit ``i`` lies in some n-gram starting at one of ``starts``."""
    delta = np.zeros(length + 1, dtype=np.int64)
    np.add.at(delta, starts, 1)
    np.add.at(delta, np.minimum(starts + n, length), -1)
    return np.cumsum(delta[:-1]) > 0


def spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """The maximal ``[start, end)`` runs of ``True`` in a boolean array."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))


@dataclass(frozen=True)
class Loop:
    """A stretch where one unit repeats back to back.

    Attributes:
        start: index of the loop's first unit.
        end: index just past its last unit.
        period: length of the repeated unit (the smallest period of the stretch).
        repeats: how many whole times the unit occurs in a row.
    """

    start: int
    end: int
    period: int
    repeats: int


def find_loops(batch: list[np.ndarray] | np.ndarray, max_period: int, min_repeats: int,
               min_span: int) -> list[Loop | None]:
    """For each sequence, its longest-running loop of the smallest period that qualifies: a unit
    of ``p <= max_period`` units repeated ``>= min_repeats`` times in a row over
    ``>= min_span`` units; ``None`` if there is none."""
    found: list[Loop | None] = [None] * len(batch)
    for group, ids, lengths in _grouped(batch):
        width = ids.shape[1]
        pending = np.ones(len(group), dtype=bool)
        position = np.arange(width)
        for period in range(1, min(max_period, max(width - 1, 0)) + 1):
            # equal[r, j]: unit j equals unit j + period, both inside row r
            equal = (ids[:, :-period] == ids[:, period:]) & (
                position[None, period:] < lengths[:, None])
            last_break = np.maximum.accumulate(
                np.where(equal, -1, position[None, :width - period]), axis=1)
            run = position[None, :width - period] - last_break  # run of equal ending at j
            best_end = run.argmax(axis=1)
            best = run[np.arange(len(group)), best_end]
            span = best + period
            hit = pending & (best >= (min_repeats - 1) * period) & (span >= min_span)
            for row in np.flatnonzero(hit):
                end = int(best_end[row]) + period + 1
                found[group[row]] = Loop(end - int(span[row]), end, period,
                                         int(span[row]) // period)
            pending &= ~hit
            if not pending.any():
                break
    return found
