"""Batching over encoded splits: length-bucketed batches, fixed scoring subsets, epoch length."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from skillgym.envs.mtnas.corpus import Task


def bucket_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None
) -> Iterator[np.ndarray]:
    """Index batches that cover every example once, grouping similar lengths to cut padding.

    With ``rng``, examples are shuffled, sorted by length within pools of 50 batches, and the
    batches are yielded in random order; without it, batches follow length order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    count = len(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        for start in range(0, count, batch_size):
            yield order[start : start + batch_size]
        return
    order = rng.permutation(count)
    pool = batch_size * 50
    batches = []
    for start in range(0, count, pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    for position in rng.permutation(len(batches)):
        yield batches[position]


def fixed_subset(size: int, limit: int | None, seed: int) -> np.ndarray:
    """A seeded, sorted choice of ``min(limit, size)`` indices out of ``size`` (all if no limit)."""
    if limit is None or limit >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng(seed).choice(size, limit, replace=False))


def steps_per_epoch(tasks: Sequence[Task], batch_size: int) -> int:
    """Training steps (one batch of every task each) for the largest task to see all its data."""
    return max(math.ceil(len(task.train) / batch_size) for task in tasks)
