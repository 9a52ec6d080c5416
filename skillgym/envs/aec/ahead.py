"""A batched twin's next problems, drawn many episodes ahead.

A counter-based draw (:mod:`skillgym.envs.counter_rng`) is a pure function of a
sub-environment's key, its episode counter and its level, so the problems of a row's coming
episodes can be drawn before they begin and are the same numbers when they do. Auto-resets
begin a few episodes at every step, and a draw's cost is mostly its fixed count of numpy calls,
whatever the batch: drawing each step's few problems as they begin would pay those calls at
every step. :class:`DrawnAhead` draws ``depth`` episodes for many rows in one call and hands
them out as the rows begin them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: ``draw(keys, counters, level)``: the problems of a batch of episodes at one level, as arrays
#: whose first axis is the batch's.
Draw = Callable[[np.ndarray, np.ndarray, int], dict[str, np.ndarray]]

_NO_LEVEL = -1


class DrawnAhead:
    """Each sub-environment's problems for its next ``depth`` episodes, drawn ahead in batches.

    A row's store holds the episodes ``first .. first + depth - 1`` of one key at one level.
    :meth:`take` hands out the episodes asked for; when one is missing (the row used its store
    up, was promoted to another level or got a new key) it refills, in one draw per level, that
    row and every other row that has used half its store, so that refills come in batches
    rather than one row per step.

    Args:
        draw: the draw of a batch of episodes at one level (a pure function of its arguments).
        num_envs: the number of sub-environments.
        depth: the episodes each row holds (``>= 1``).
    """

    def __init__(self, draw: Draw, num_envs: int, depth: int = 16) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth!r}")
        self._draw = draw
        self.depth = depth
        self._keys = np.zeros(num_envs, dtype=np.uint64)
        self._levels = np.full(num_envs, _NO_LEVEL, dtype=np.int64)
        self._first = np.zeros(num_envs, dtype=np.int64)
        self._store: dict[str, np.ndarray] = {}

    def take(self, rows: np.ndarray, keys: np.ndarray, counters: np.ndarray,
             levels: np.ndarray) -> dict[str, np.ndarray]:
        """The problems of episode ``counters[row]`` at level ``levels[row]`` under key
        ``keys[row]`` for each of ``rows`` (indices); ``keys``, ``counters`` and ``levels``
        are every row's, so that the rows refilled beside them draw their own next episodes."""
        offset = counters[rows] - self._first[rows]
        held = ((offset >= 0) & (offset < self.depth) & (self._levels[rows] == levels[rows])
                & (self._keys[rows] == keys[rows]))
        if not held.all():
            used = counters - self._first
            refill = ((used < 0) | (used >= self.depth // 2) | (self._levels != levels)
                      | (self._keys != keys))
            refill[rows[~held]] = True
            self._refill(np.flatnonzero(refill), keys, counters, levels)
            offset = counters[rows] - self._first[rows]
        return {name: store[rows, offset] for name, store in self._store.items()}

    def _refill(self, rows: np.ndarray, keys: np.ndarray, counters: np.ndarray,
                levels: np.ndarray) -> None:
        """Draw the next ``depth`` episodes of ``rows``, one draw per level among them."""
        steps = np.arange(self.depth, dtype=np.int64)
        for level in np.unique(levels[rows]).tolist():
            part = rows[levels[rows] == level]
            drawn = self._draw(np.repeat(keys[part], self.depth),
                               (counters[part, None] + steps).ravel(), level)
            for name, values in drawn.items():
                values = values.reshape(len(part), self.depth, *values.shape[1:])
                if name not in self._store:
                    self._store[name] = np.empty((len(self._keys), *values.shape[1:]),
                                                 dtype=values.dtype)
                self._store[name][part] = values
        self._keys[rows], self._levels[rows], self._first[rows] = (
            keys[rows], levels[rows], counters[rows])
