"""Counter-based random numbers shared by single environments and their batched twins.

A batched environment must draw, for sub-environment ``i``, exactly the episodes that a single
environment seeded like ``i`` draws, yet without a Python loop over sub-environments at every
auto-reset. Stateful generators cannot do that; a counter-based one can: every number is a pure
function ``hash(key, counter, stream, index)``, so a whole batch of keys and counters is drawn in
one vectorised call, and one key drawn from ``np_random`` at seeding ties it to Gymnasium's seeding.

The hash is SplitMix64's finaliser (Steele, Lea & Flood 2014), applied in uint64 arithmetic, whose
wrap-around is exactly numpy's array overflow behaviour.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's bijective finaliser, elementwise on a uint64 array."""
    x = (x ^ (x >> np.uint64(30))) * _MUL1
    x = (x ^ (x >> np.uint64(27))) * _MUL2
    return x ^ (x >> np.uint64(31))


def draw_key(np_random: np.random.Generator) -> np.uint64:
    """One 64-bit key from a Gymnasium ``np_random``; call it once per seeding."""
    return np.uint64(np_random.integers(0, 2**64, dtype=np.uint64))


def random_bits(keys: np.ndarray, counters: np.ndarray, stream: int, size: int) -> np.ndarray:
    """``(B, size)`` uint64 words, a pure function of each row's key and counter.

    Args:
        keys: ``(B,)`` uint64, one key per sub-environment.
        counters: ``(B,)`` integers, e.g. the episode index of each sub-environment.
        stream: a small integer naming what is drawn (operand digits, lengths, …), so that
            different draws of one episode are independent.
        size: how many words per row.
    """
    keys = np.asarray(keys, dtype=np.uint64).reshape(-1, 1)
    counters = np.asarray(counters, dtype=np.uint64).reshape(-1, 1)
    # Array arithmetic on uint64 wraps silently, which is the modular arithmetic wanted here.
    row = _mix(keys ^ _mix(counters * _GOLDEN + np.uint64(stream)))
    return _mix(row + _index_steps(size))


@lru_cache(maxsize=64)
def _index_steps(size: int) -> np.ndarray:
    """``(1, size)`` multiples of the golden ratio, the per-index offsets of a row (read-only)."""
    steps = np.arange(1, size + 1, dtype=np.uint64)[None, :] * _GOLDEN
    steps.flags.writeable = False
    return steps


def integers(
    keys: np.ndarray, counters: np.ndarray, stream: int, size: int, low, high
) -> np.ndarray:
    """``(B, size)`` int64 uniform on ``[low, high)``; ``low``/``high`` may be per row ``(B, 1)``.

    The top 53 bits give a float in [0, 1) that is scaled, so the bias is below 2**-40 for any
    range an environment uses.
    """
    span = np.subtract(high, low, dtype=np.int64)
    if np.any(span <= 0):
        raise ValueError(f"integers: need high > low, got low={low!r}, high={high!r}")
    unit = (random_bits(keys, counters, stream, size) >> np.uint64(11)).astype(np.float64)
    unit *= 2.0**-53 * span
    # floor() then int64 equals truncation here, since every value is non-negative.
    return unit.astype(np.int64) + low
