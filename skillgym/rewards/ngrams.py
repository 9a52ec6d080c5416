"""Exact n-gram statistics over batches of integer sequences, with numpy and no per-row loops.

Every repetition reward reduces its input to integer sequences (token ids, word ids or
character code points) and asks this module three questions, each answered for a whole batch
with array operations:

- :func:`unique_ngram_counts`: how many distinct n-grams each sequence has (the global penalty);
- :func:`repeated_starts`: where the n-gram occurrences seen earlier start (the dense penalty,
  and where a repetition is);
- :func:`find_loops`: the first stretch where a unit of period ``p <= max_period`` repeats ``k``
  or more times in a row (the loop detector).

A batch is a :class:`~skillgym.rewards.ragged.Ragged` (every sequence back to back in one flat
array, plus row offsets), a 2-D array of equal-length rows (e.g. a tensor of token ids, used
without copying) or a list of sequences; all three are worked on as one flat array
(:func:`as_ragged`), never split into one array per row. Ids may be of any integer type.

Distinct n-grams are counted exactly, without sorting and without packing n-grams into keys
that could overflow: hashing only decides where n-grams meet, and n-grams that meet are compared
id by id. The count goes in rounds (:func:`unique_ngram_counts`). In each round every
unresolved n-gram hashes its ids to a slot of its row's part of a table, writes its position
there and reads back the one position that remained. An n-gram that reads back its own position
won the slot; one whose ids equal the winner's is a duplicate, resolved (all of the row's
occurrences of an n-gram meet at the same slot, so every slot won is one distinct n-gram); one
whose ids differ lost the slot to another n-gram and tries again in the next round with another
hash. Every round resolves at least one n-gram of each row that has some left, so the count
ends, and it equals a Python ``set``'s whatever the hash. The first round, which sees every
n-gram, runs over blocks of rows small enough for the block's table (eight slots per n-gram) and
temporaries to stay in the core's cache, with 32-bit arithmetic when the ids fit; the later
rounds see only the few n-grams that lost their slot to another one, for the whole batch at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skillgym.rewards.ragged import Ragged

#: What a repetition is counted in.
UNITS: tuple[str, ...] = ("tokens", "words", "chars")

#: A batch of integer sequences, in any of the forms this module accepts.
Batch = Ragged | np.ndarray | Sequence[Sequence[int] | np.ndarray]

_BLOCK = 1 << 16  # ids per block of the first round: its table and temporaries stay in cache
_SLOTS_PER_NGRAM = 8  # an eighth full: few n-grams lose their slot to another one
# Odd multipliers (golden ratio, MurmurHash3, xxHash, SplitMix64) of the multiply-shift hashes,
# by the ids' width in bytes: round r hashes with the r-th, so n-grams that met in one round
# part in the next.
_MULTIPLIERS = {
    4: tuple(np.uint32(m) for m in (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F,
                                    0x165667B1, 0xCC9E2D51, 0x1B873593, 0xE6546B64)),
    8: tuple(np.uint64(m) for m in (
        0x9E3779B97F4A7C15, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9, 0x27D4EB2F165667C5, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)),
}

def as_ragged(batch: Batch) -> Ragged:
    """A batch as a :class:`~skillgym.rewards.ragged.Ragged`: returned as it is, a 2-D array's
    rows as a view when the array is contiguous, a list of sequences copied into one array."""
    if isinstance(batch, Ragged):
        return batch
    if isinstance(batch, np.ndarray):
        if batch.ndim != 2 or not (np.issubdtype(batch.dtype, np.integer)
                                   or batch.dtype == np.bool_):
            raise ValueError("a batch array must be 2-D (sequences x length) of integers, got "
                             f"shape {batch.shape} and dtype {batch.dtype}")
        rows, width = batch.shape
        return Ragged(np.ascontiguousarray(batch).reshape(-1),
                      np.arange(rows + 1, dtype=np.int64) * width)
    return Ragged.from_rows(batch)


def unique_ngram_counts(batch: Batch, n: int,
                        table_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(unique, total)``: the number of distinct n-grams and of n-grams in each sequence.

    Args:
        batch: the sequences (see :func:`as_ragged`).
        n: the n of the n-grams.
        table_bits: give every row ``2**table_bits`` slots in every round, instead of at least
            eight per n-gram; the counts are the same, a small table only takes more rounds.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if table_bits is not None and (isinstance(table_bits, bool)
                                   or not isinstance(table_bits, (int, np.integer))
                                   or not 0 <= table_bits <= 16):
        raise ValueError(f"table_bits must be an integer in [0, 16] or None, got {table_bits!r}")
    ragged = as_ragged(batch)
    offsets, lengths = ragged.offsets, ragged.lengths
    total = np.maximum(lengths - n + 1, 0)
    values = _unsigned(ragged.values)
    bits = _table_bits(total, table_bits)
    starts = _regions(bits)
    uniform = len(bits) > 0 and bool((bits == bits[0]).all())
    # The windows that run past the end of their row are not n-grams.
    ends = offsets[1:, None] - np.arange(1, n)
    crossing = np.sort(ends[ends >= offsets[:-1, None]])
    edges = np.array(_blocks(offsets))
    # One table for every block, as large as the largest block needs (allocating it per block
    # would fault its pages in again and again); it holds positions, in 16 bits when they fit.
    longest = (offsets[edges[1:]] - offsets[edges[:-1]]).max(initial=0)
    table = np.empty(int((starts[edges[1:]] - starts[edges[:-1]]).max(initial=0)) + 1,
                     dtype=np.uint16 if longest <= _BLOCK else np.int32 if longest < 1 << 31
                     else np.int64)
    positions = np.arange(_BLOCK, dtype=table.dtype)
    lost, still, still_rows = [], [], []
    for first, last in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        start, stop = int(offsets[first]), int(offsets[last])
        if stop - start < n:
            continue
        low, high = crossing.searchsorted((start, stop - n + 1))
        bounds = offsets[first:last + 1] - start
        block_lost, block_still = _first_round(
            values[start:stop], lengths[first:last], n, bits[first:last],
            starts[first:last + 1] - starts[first], uniform, crossing[low:high] - start,
            table, positions)
        lost.append(block_lost + start)
        still.append(block_still + start)
        still_rows.append(bounds.searchsorted(block_still, side="right") + (first - 1))
    # A row's duplicates are its n-grams that lost their slot to an equal one, in any round.
    lost = np.concatenate(lost) if lost else np.zeros(0, dtype=np.intp)
    pending = np.concatenate(still) if still else lost
    rows = np.concatenate(still_rows) if still_rows else lost
    found = lost.searchsorted(offsets) - pending.searchsorted(offsets)
    hash_round = 1
    while pending.size:
        lost, pending, rows = _later_round(values, n, pending, rows, len(total), hash_round,
                                           table_bits)
        found += lost.searchsorted(offsets) - pending.searchsorted(offsets)
        hash_round += 1
    return total - (found[1:] - found[:-1]), total


def _unsigned(values: np.ndarray) -> np.ndarray:
    """The ids as unsigned integers of their width (a bijection: equality is kept), 32 or 64
    bits, which the hashes multiply modulo."""
    values = np.ascontiguousarray(values)
    if values.dtype.itemsize == 8:
        return values.view(np.uint64)
    if values.dtype.itemsize == 4:
        return values.view(np.uint32)
    return values.astype(np.uint32)


def _blocks(offsets: np.ndarray) -> list[int]:
    """Row boundaries of blocks of about ``_BLOCK`` ids (a longer row is a block alone)."""
    edges, rows = [0], len(offsets) - 1
    while edges[-1] < rows:
        first = edges[-1]
        last = int(offsets.searchsorted(offsets[first] + _BLOCK, side="right")) - 1
        edges.append(min(max(last, first + 1), rows))
    return edges


def _table_bits(counts: np.ndarray, table_bits: int | None) -> np.ndarray:
    """The size (as a power of two) of each row's part of a table for ``counts`` n-grams."""
    if table_bits is not None:
        return np.full(len(counts), table_bits, dtype=np.int64)
    bits = np.zeros(len(counts), dtype=np.int64)
    some = counts > 0
    bits[some] = np.ceil(np.log2(_SLOTS_PER_NGRAM * counts[some])).astype(np.int64)
    return bits


def _regions(bits: np.ndarray) -> np.ndarray:
    """Where each row's part of a table starts, and (last) the table's size."""
    regions = np.zeros(len(bits) + 1, dtype=np.int64)
    np.cumsum(np.left_shift(1, bits), out=regions[1:])
    return regions


def _first_round(ids: np.ndarray, lengths: np.ndarray, n: int, bits: np.ndarray,
                 starts: np.ndarray, uniform: bool, crossing: np.ndarray, table: np.ndarray,
                 positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first round over every window of a block of rows (the rows' ``lengths``; row ``r``
    owns ``2**bits[r]`` slots of ``table`` from ``starts[r]``; ``crossing``: the windows that
    run past the end of their row; ``positions``: at least ``arange`` of the block's size): the
    positions of the n-grams that lost their slot, and of those among them whose slot went to
    another n-gram."""
    count = len(ids) - n + 1
    keys = ids
    if ids.itemsize == 8:
        # Hashed in 32 bits (about twice as fast) after folding each id's halves into one;
        # the n-grams that meet are still compared on the ids themselves.
        halves = ids.view(np.uint32)
        keys = np.bitwise_xor(halves[0::2], halves[1::2])
    unsigned = keys.dtype.type
    hashed = _hash(keys, slice(0, count), n, 0)
    shifts = (32 - bits).astype(unsigned)
    hashed >>= shifts[0] if uniform else shifts.repeat(lengths)[:count]
    hashed += starts[:-1].astype(unsigned).repeat(lengths)[:count]
    slots = hashed.astype(np.intp)
    spare = int(starts[-1])  # a slot that no n-gram reads, for the crossing windows
    slots[crossing] = spare
    if count > len(positions):  # a row longer than a block
        positions = np.arange(count, dtype=table.dtype)
    positions = positions[:count]
    winners = _claim(table, slots, positions)
    winners[crossing] = positions[crossing]
    lost = (winners != positions).nonzero()[0]
    return lost, lost.compress(_differ(ids, lost, winners.take(lost).astype(np.intp), n))


def _later_round(values: np.ndarray, n: int, pending: np.ndarray, rows: np.ndarray,
                 row_count: int, hash_round: int,
                 table_bits: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A round over the n-grams at ``pending`` (sorted positions in the batch, in ``rows``),
    with a table sized for them: those that lost their slot, those among them that lost it to
    another n-gram, and the latter's rows."""
    bits = _table_bits(np.bincount(rows, minlength=row_count), table_bits)
    starts = _regions(bits)
    hashed = _hash(values, pending, n, hash_round)
    hashed >>= (8 * values.itemsize - bits).astype(values.dtype)[rows]
    slots = hashed.astype(np.intp)
    slots += starts[rows]
    # The table holds the n-grams' indices in ``pending``: 16 bits when they fit.
    items = np.arange(len(pending), dtype=np.uint16 if len(pending) <= 1 << 16 else np.intp)
    winners = _claim(np.empty(int(starts[-1]), dtype=items.dtype), slots, items)
    lost_slot = winners != items
    lost, rows = pending.compress(lost_slot), rows.compress(lost_slot)
    differ = _differ(values, lost, pending.take(winners.compress(lost_slot)), n)
    return lost, lost.compress(differ), rows.compress(differ)


def _hash(ids: np.ndarray, at: slice | np.ndarray, n: int, hash_round: int) -> np.ndarray:
    """The multiply-shift hash (before the shift) of the n-grams starting ``at`` (a slice of
    consecutive starts, or their positions), in the ids' unsigned width."""
    multipliers = _MULTIPLIERS[ids.dtype.itemsize]
    multiplier = multipliers[hash_round % len(multipliers)]
    hashed = np.multiply(ids[at] if isinstance(at, slice) else ids.take(at), multiplier)
    for k in range(1, n):
        hashed += ids[k:][at] if isinstance(at, slice) else ids[k:].take(at)
        hashed *= multiplier
    return hashed


def _claim(table: np.ndarray, slots: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Every item writes itself to its slot, then reads which item holds it. Of the items that
    share a slot, exactly one is read back: numpy's scatter leaves one of the written values."""
    table[slots] = items
    return table.take(slots)


def _differ(ids: np.ndarray, items: np.ndarray, rivals: np.ndarray, n: int) -> np.ndarray:
    """Whether the n-gram at each of ``items`` differs from the one at its rival, id by id."""
    differ = ids.take(items) != ids.take(rivals)
    for k in range(1, n):
        differ |= ids[k:].take(items) != ids[k:].take(rivals)
    return differ


def repeated_starts(batch: Batch, n: int) -> list[np.ndarray]:
    """For each sequence, the start positions of n-gram occurrences already seen earlier in it
    (the first occurrence of each n-gram is not a repeat), in increasing order."""
    ragged = as_ragged(batch)
    values, offsets = ragged.values, ragged.offsets
    count = max(len(values) - n + 1, 0)
    row_of = np.repeat(np.arange(len(ragged)), ragged.lengths)[:count]
    starts = np.flatnonzero(np.arange(count) + n <= offsets[1:][row_of])  # inside their row
    rows = row_of[starts]
    # Sorted by row, then id by id. The sort is stable: the occurrences of an n-gram keep
    # their order, and each one after the first is a repeat.
    order = np.lexsort([values[starts + k] for k in reversed(range(n))] + [rows])
    later, earlier = order[1:], order[:-1]
    same = rows[later] == rows[earlier]
    for k in range(n):
        same &= values[starts[later] + k] == values[starts[earlier] + k]
    repeats = np.sort(starts[later[same]])
    cuts = np.searchsorted(repeats, offsets)
    return [repeats[cuts[row]:cuts[row + 1]] - offsets[row] for row in range(len(ragged))]


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


def find_loops(batch: Batch, max_period: int, min_repeats: int,
               min_span: int) -> list[Loop | None]:
    """For each sequence, its longest-running loop of the smallest period that qualifies: a unit
    of ``p <= max_period`` units repeated ``>= min_repeats`` times in a row over
    ``>= min_span`` units; ``None`` if there is none."""
    ragged = as_ragged(batch)
    values, offsets, lengths = ragged.values, ragged.offsets, ragged.lengths
    found: list[Loop | None] = [None] * len(ragged)
    size = len(values)
    longest = int(lengths.max()) if len(ragged) else 0
    position = np.arange(size)
    # Units from each position to the end of its row.
    room = np.repeat(offsets[1:], lengths) - position
    pending = np.ones(len(ragged), dtype=bool)
    scale = size + 1
    for period in range(1, min(max_period, max(longest - 1, 0)) + 1):
        width = size - period
        # equal[j]: unit j equals unit j + period, both in j's row. A row's last `period`
        # positions are never equal, so runs never carry over into the next row.
        equal = (values[:width] == values[period:]) & (room[:width] > period)
        last_break = np.maximum.accumulate(np.where(equal, -1, position[:width]))
        run = position[:width] - last_break  # equal positions in a row ending at j
        # The longest run of each row and where it first ends, as one maximum per row.
        rows = np.flatnonzero((lengths > 0) & (offsets[:-1] < width))
        if not len(rows):
            break
        best_score = np.maximum.reduceat(run * scale - position[:width], offsets[rows])
        best = -(-best_score // scale)
        best_end = best * scale - best_score - offsets[rows]
        span = best + period
        hit = pending[rows] & (best >= (min_repeats - 1) * period) & (span >= min_span)
        for row, end_at, stretch in zip(rows[hit].tolist(), best_end[hit].tolist(),
                                        span[hit].tolist(), strict=True):
            end = end_at + period + 1
            found[row] = Loop(end - stretch, end, period, stretch // period)
        pending[rows[hit]] = False
        if not pending.any():
            break
    return found
