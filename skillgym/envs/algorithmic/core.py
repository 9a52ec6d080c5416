"""The rules of the algorithmic tasks, written once over a batch of episodes.

A single environment is a batch of one and its natively batched twin a batch of many; both drive
the same :class:`Tapes`, so the two cannot drift apart. What differs between tasks (how the input
is drawn, the target, the time limit, the curriculum's constants) is a :class:`Task`.

Episodes are drawn with :mod:`skillgym.envs.counter_rng`: the input of episode ``c`` of a
sub-environment with key ``k`` is a pure function of ``(k, c)``, so a whole batch of auto-resets is
one vectorised draw, and sub-environment ``i`` of a batch draws exactly what a single environment
with the same key draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from skillgym.envs import counter_rng

#: Head moves of a 1-d tape (left, right) and of a 2-d grid (left, right, up, down), as (dx, dy).
TAPE_MOVES = np.array([[-1, 0], [1, 0]], dtype=np.int64)
GRID_MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)

#: The curriculum stops raising the minimum input length here, as the original did.
MAX_MIN_LENGTH = 30

# The counter-RNG stream of episode draws.
_EPISODE_STREAM = 0


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]``, or a ``ValueError`` naming ``name``."""
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return int(value)


def check_options(options: Mapping[str, Any] | None) -> None:
    """The algorithmic tasks take no reset options; any key is a mistake worth reporting."""
    if options:
        raise ValueError(
            f"reset options: the algorithmic environments accept none, got keys {sorted(options)}"
        )


def draw_episodes(
    keys: np.ndarray, counters: np.ndarray, symbols: int, base: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(length offsets (n,) in {0, 1, 2}, symbols (n, symbols) in [0, base))`` of episodes.

    One counter-RNG call draws both (a call costs far more than its words): word 0 is the
    offset, words ``1..`` the symbols.
    """
    high = np.full((1, symbols + 1), base, dtype=np.int64)
    high[0, 0] = 3
    words = counter_rng.integers(keys, counters, _EPISODE_STREAM, symbols + 1, 0, high)
    return words[:, 0], words[:, 1:]


class Task:
    """What one algorithmic task adds to the shared rules.

    Subclasses set the class constants and implement :meth:`targets`; tasks whose input is not a
    plain uniform tape also override :attr:`symbols_drawn` and :meth:`lay_out`.

    Args:
        base: the number of distinct symbols on the input tape (``>= 2``).
    """

    #: Names of the head moves, in action order.
    movements: ClassVar[tuple[str, ...]] = ("left", "right")
    #: The minimum input length of the first episodes.
    starting_min_length: ClassVar[int] = 2
    #: Promotion needs this many consecutive recorded episodes ...
    window: ClassVar[int] = 10
    #: ... each with ``episode return - target length`` at least this.
    promotion_threshold: ClassVar[float] = -1.0
    #: Render symbols as letters (``A``, ``B``, …) rather than digits.
    letters: ClassVar[bool] = True

    def __init__(self, base: int) -> None:
        self.base = check_int("base", base, 2)

    @property
    def rows(self) -> int:
        """Rows of the input grid (1 for a tape)."""
        return 1

    @property
    def moves(self) -> np.ndarray:
        """``(len(movements), 2)`` head displacement of each move action."""
        return GRID_MOVES if len(self.movements) == 4 else TAPE_MOVES

    @property
    def max_width(self) -> int:
        """The widest input the curriculum can draw."""
        return MAX_MIN_LENGTH + 2

    @property
    def max_target(self) -> int:
        """The longest target the curriculum can draw."""
        return self.max_width

    @property
    def symbols_drawn(self) -> int:
        """How many uniform symbols an episode draws: a full grid."""
        return self.max_width * self.rows

    def lay_out(self, symbols: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(grid (n, max_width, rows), widths (n,))`` of episodes of the given lengths.

        Cells right of a row's width hold the blank symbol ``base``.
        """
        symbols = symbols.reshape(len(lengths), self.max_width, self.rows)
        inside = np.arange(self.max_width)[None, :] < lengths[:, None]
        return np.where(inside[:, :, None], symbols, self.base), lengths

    def targets(self, grid: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(targets (n, max_target), lengths (n,))``: the string the agent must write."""
        raise NotImplementedError

    def time_limits(self, widths: np.ndarray, target_lengths: np.ndarray) -> np.ndarray:
        """The last step an episode may use; one step more ends it with reward -1."""
        return widths + target_lengths + 4


class TapeTask(Task):
    """A task on a 1-d tape whose target symbol ``j`` is the input symbol at :meth:`source`."""

    def target_lengths(self, widths: np.ndarray) -> np.ndarray:
        """Target length of each row."""
        raise NotImplementedError

    def source(self, positions: np.ndarray, widths: np.ndarray) -> np.ndarray:
        """Input position of target position ``positions`` (broadcast against ``widths``)."""
        raise NotImplementedError

    def targets(self, grid: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gather each target symbol from its source cell of the tape."""
        lengths = self.target_lengths(widths)
        positions = np.arange(self.max_target)[None, :]
        source = np.broadcast_to(
            self.source(positions, widths[:, None]), (len(widths), self.max_target)
        )
        source = np.clip(source, 0, self.max_width - 1)
        symbols = np.take_along_axis(grid[:, :, 0], source, axis=1)
        return np.where(positions < lengths[:, None], symbols, self.base), lengths


class Tapes:
    """``n`` episodes of one task and the rules that advance them, all as numpy arrays.

    The curriculum is per row (per environment instance). The original Gym code kept it in class
    attributes until gym 0.17.3, so every instance in a process shared (and advanced) one length;
    here each sub-environment promotes on its own record only.

    Promotion follows the original: after ``window`` recorded episodes in a row with
    ``return - target length >= promotion_threshold`` the minimum length grows by one (up to
    :data:`MAX_MIN_LENGTH`) and the record is cleared. A run of good episodes is therefore all the
    state the record needs, and :attr:`streak` keeps just that.
    """

    def __init__(self, task: Task, n: int) -> None:
        self.task = task
        self.n = n
        self.keys = np.zeros(n, dtype=np.uint64)
        self.counters = np.zeros(n, dtype=np.int64)
        self.keyed = np.zeros(n, dtype=bool)
        self.started = np.zeros(n, dtype=bool)
        self.min_length = np.full(n, task.starting_min_length, dtype=np.int64)
        self.streak = np.zeros(n, dtype=np.int64)
        self.grid = np.full((n, task.max_width, task.rows), task.base, dtype=np.int64)
        self.widths = np.zeros(n, dtype=np.int64)
        self.targets = np.zeros((n, task.max_target), dtype=np.int64)
        self.target_lengths = np.zeros(n, dtype=np.int64)
        self.time_limits = np.zeros(n, dtype=np.int64)
        self.head = np.zeros((n, 2), dtype=np.int64)
        self.write_head = np.zeros(n, dtype=np.int64)
        self.time = np.zeros(n, dtype=np.int64)
        self.episode_return = np.zeros(n, dtype=np.float64)
        self._rows = np.arange(n)
        self._nvec = np.array([len(task.movements), 2, task.base])

    def rekey(self, rows: np.ndarray, keys: np.ndarray) -> None:
        """Give ``rows`` (indices) new keys; their next episode is episode 0 of that key."""
        self.keys[rows] = keys
        self.counters[rows] = -1
        self.keyed[rows] = True

    def begin(self, rows: np.ndarray) -> None:
        """Record the episodes of ``rows`` (indices) in the curriculum and start the next ones."""
        self._record(rows)
        self.counters[rows] += 1
        keys, counters = self.keys[rows], self.counters[rows]
        offsets, symbols = draw_episodes(keys, counters, self.task.symbols_drawn, self.task.base)
        grid, widths = self.task.lay_out(symbols, self.min_length[rows] + offsets)
        targets, target_lengths = self.task.targets(grid, widths)
        self.grid[rows] = grid
        self.widths[rows] = widths
        self.targets[rows] = targets
        self.target_lengths[rows] = target_lengths
        self.time_limits[rows] = self.task.time_limits(widths, target_lengths)
        self.head[rows] = 0
        self.write_head[rows] = 0
        self.time[rows] = 0
        self.episode_return[rows] = 0.0
        self.started[rows] = True

    def _record(self, rows: np.ndarray) -> None:
        """Add the episode ending in each row (finished or cut short by a reset) to its record."""
        rows = rows[self.started[rows]]
        shortfall = self.episode_return[rows] - self.target_lengths[rows]
        good = shortfall >= self.task.promotion_threshold
        streak = np.where(good, self.streak[rows] + 1, 0)
        promote = (streak >= self.task.window) & (self.min_length[rows] < MAX_MIN_LENGTH)
        self.min_length[rows] += promote
        self.streak[rows] = np.where(promote, 0, streak)

    def observe(self) -> np.ndarray:
        """``(n,)`` the symbol under each read head; ``base`` (blank) off the input."""
        x, y = self.head[:, 0], self.head[:, 1]
        inside = (x >= 0) & (x < self.widths) & (y >= 0) & (y < self.task.rows)
        cells = self.grid[self._rows, np.where(inside, x, 0), np.where(inside, y, 0)]
        return np.where(inside, cells, self.task.base)

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply ``(n, 3)`` actions to the ``active`` rows; return ``(rewards, terminated)``.

        The order is the original's: judge the write, advance the write head, move the read head,
        then a step past the time limit overrides the reward with -1 and ends the episode.
        Inactive rows keep their state and get reward 0, not terminated.
        """
        write = active & (actions[:, 1] == 1)
        expected = self.targets[self._rows, np.minimum(self.write_head, self.task.max_target - 1)]
        correct = actions[:, 2] == expected
        rewards = np.where(write, np.where(correct, 1.0, -0.5), 0.0)
        self.write_head += write
        terminated = write & (~correct | (self.write_head >= self.target_lengths))
        self.head += self.task.moves[actions[:, 0]] * active[:, None]
        self.time += active
        timeout = active & (self.time > self.time_limits)
        rewards[timeout] = -1.0
        terminated |= timeout
        self.episode_return += rewards
        return rewards, terminated

    def check_actions(self, actions: Any, name: str = "action") -> np.ndarray:
        """``actions`` as an ``(n, 3)`` int64 array, or a ``ValueError`` naming the bad part."""
        array = np.asarray(actions)
        if (
            array.shape == (self.n, 3)
            and array.dtype.kind in "iu"
            and not ((array < 0) | (array >= self._nvec)).any()
        ):
            return array.astype(np.int64, copy=False)
        moves = self.task.movements
        allowed = (
            f"[move in 0..{len(moves) - 1} ({', '.join(moves)}), write in 0..1, "
            f"symbol in 0..{self.task.base - 1}]"
        )
        if array.shape != (self.n, 3) or array.dtype.kind not in "iu":
            shape = "(3,)" if name == "action" else f"({self.n}, 3)"
            raise ValueError(
                f"{name} must be integers of shape {shape}, each {allowed}; got {actions!r}"
            )
        raise ValueError(f"{name} out of range: each must be {allowed}; got {actions!r}")
