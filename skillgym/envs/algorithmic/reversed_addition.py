"""ReversedAddition: add numbers written column by column, least significant digit first."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from skillgym.envs.algorithmic.base import AlgorithmicEnv, AlgorithmicVectorEnv
from skillgym.envs.algorithmic.core import Task, check_int


class ReversedAdditionTask(Task):
    """A grid of ``rows`` numbers, one per row, least significant digit in column 0.

    Args:
        base: the numbers' base.
        rows: how many numbers are added (``2 <= rows <= base``, so that the final carry is one
            digit: the original allowed more, making the last target symbol unwritable).
    """

    movements: ClassVar[tuple[str, ...]] = ("left", "right", "up", "down")
    letters: ClassVar[bool] = False

    def __init__(self, base: int, rows: int) -> None:
        super().__init__(base)
        self._rows = check_int("rows", rows, 2, self.base)

    @property
    def rows(self) -> int:
        """How many numbers are added."""
        return self._rows

    @property
    def max_target(self) -> int:
        """One digit per column plus a final carry."""
        return self.max_width + 1

    def targets(self, grid: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sum's digits, least significant first, then the final carry if it is not zero."""
        n = len(widths)
        column_sums = grid.sum(axis=2)
        targets = np.full((n, self.max_target), self.base, dtype=np.int64)
        carry = np.zeros(n, dtype=np.int64)
        # Carries run along the columns: a loop over the widest input's columns (at most 32),
        # never over the batch.
        for column in range(int(widths.max(initial=0))):
            inside = column < widths
            total = column_sums[:, column] + carry
            targets[:, column] = np.where(inside, total % self.base, self.base)
            carry = np.where(inside, total // self.base, carry)
        targets[np.arange(n), widths] = np.where(carry > 0, carry, self.base)
        return targets, widths + (carry > 0)

    def time_limits(self, widths: np.ndarray, target_lengths: np.ndarray) -> np.ndarray:
        """``2 * width + 4``: the original's quirk, ignoring an extra carry digit."""
        return 2 * widths + 4


class ReversedAdditionEnv(AlgorithmicEnv):
    """Add ``rows`` numbers written on a grid, least significant digit first.

    ## Description

    A port of Gym's retired ``ReversedAddition-v0`` (``rows=2``) and ``ReversedAddition3-v0``
    (``rows=3``) (gym ≤ 0.21, from Zaremba & Sutskever 2015). Column ``x`` of the input grid holds
    digit ``x`` (least significant first) of each of ``rows`` numbers in base ``base``; the agent
    moves a read head over the grid and must write the digits of their sum, least significant
    first, including a final carry digit if there is one.

    ## Action Space

    ``MultiDiscrete([4, 2, base])``: move the read head (0 left, 1 right, 2 up, 3 down); write or
    not (0, 1); the digit to write (ignored without a write).

    ## Observation Space

    ``Discrete(base + 1)``: the digit under the read head, or ``base`` (blank) off the grid.

    ## Rewards

    +1 for a correct write, -0.5 for a wrong write (which ends the episode), -1 for the step after
    the time limit (replacing that step's reward), 0 otherwise.

    ## Starting State

    A grid of ``min_length + U{0, 1, 2}`` columns of uniform digits with the read head on the top
    left cell. ``min_length`` starts at 2 and is this instance's curriculum: after 10 recorded
    episodes in a row each scoring at least ``target length - 1``, it grows by one (up to 30).
    Every reset records the episode it ends. The original shared this state between all instances
    until gym 0.17.3; here it is per instance.

    ## Episode End

    Terminated after the last target digit is written, after a wrong write, or on the step after
    the time limit ``2 * width + 4`` (the original's quirk: a final carry digit gets no extra
    time). The time-out is the task's own failure, with its own penalty, so it is a termination.

    ## Arguments

    - ``rows``: how many numbers are added (default 2; ``2 <= rows <= base``).
    - ``base``: the numbers' base (default 3, ``>= 2``).
    - ``render_mode``: ``None``, ``"ansi"``, ``"human"`` or ``"rgb_array"``.

    The natively batched twin is :class:`ReversedAdditionVectorEnv`.
    """

    def __init__(self, rows: int = 2, base: int = 3, render_mode: str | None = None) -> None:
        super().__init__(ReversedAdditionTask(base, rows), render_mode)


class ReversedAdditionVectorEnv(AlgorithmicVectorEnv):
    """The natively batched :class:`ReversedAdditionEnv` (see :class:`AlgorithmicVectorEnv`).

    Sub-environment ``i`` of ``reset(seed=s)`` matches a single environment reset with ``s + i``.

    Args:
        num_envs: the number of sub-environments.
        rows: how many numbers are added (default 2).
        base: the numbers' base (default 3).
    """

    def __init__(self, num_envs: int = 1, rows: int = 2, base: int = 3) -> None:
        super().__init__(ReversedAdditionTask(base, rows), num_envs)
