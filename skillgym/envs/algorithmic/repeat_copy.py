"""RepeatCopy: write the input, then it reversed, then it again (arXiv:1511.07275)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from skillgym.envs.algorithmic.base import AlgorithmicEnv, AlgorithmicVectorEnv
from skillgym.envs.algorithmic.core import TapeTask


class RepeatCopyTask(TapeTask):
    """The target is ``input + reversed(input) + input``; the curriculum is stricter."""

    window: ClassVar[int] = 50
    promotion_threshold: ClassVar[float] = -0.1

    @property
    def max_target(self) -> int:
        """Three times the widest input."""
        return 3 * self.max_width

    def target_lengths(self, widths: np.ndarray) -> np.ndarray:
        """Three times the input."""
        return 3 * widths

    def source(self, positions: np.ndarray, widths: np.ndarray) -> np.ndarray:
        """Forward over the first third, backward over the second, forward over the last."""
        return np.where(
            positions < widths,
            positions,
            np.where(positions < 2 * widths, 2 * widths - 1 - positions, positions - 2 * widths),
        )


class RepeatCopyEnv(AlgorithmicEnv):
    """Write the input tape forwards, then backwards, then forwards again.

    ## Description

    A port of Gym's retired ``RepeatCopy-v0`` (gym ≤ 0.21, from Zaremba & Sutskever 2015). A read
    head starts on the first cell of a tape of random symbols; the agent moves it and writes
    symbols to an output tape and must write ``input + reversed(input) + input``.

    ## Action Space

    ``MultiDiscrete([2, 2, base])``: move the read head (0 left, 1 right); write or not (0, 1); the
    symbol to write (ignored without a write).

    ## Observation Space

    ``Discrete(base + 1)``: the symbol under the read head, or ``base`` (blank) off the tape.

    ## Rewards

    +1 for a correct write, -0.5 for a wrong write (which ends the episode), -1 for the step after
    the time limit (replacing that step's reward), 0 otherwise.

    ## Starting State

    An input of ``min_length + U{0, 1, 2}`` uniform symbols with the read head on its first cell.
    ``min_length`` starts at 2 and is this instance's curriculum: after 50 recorded episodes in a
    row each scoring at least ``target length - 0.1`` (that is, perfect), it grows by one (up to
    30). Every reset records the episode it ends. The original shared this state between all
    instances until gym 0.17.3; here it is per instance.

    ## Episode End

    Terminated after the last target symbol is written, after a wrong write, or on the step after
    the time limit ``4 * width + 4``. The time-out is the task's own failure, with its own
    penalty, so it is a termination.

    ## Arguments

    - ``base``: number of distinct symbols (default 5, ``>= 2``).
    - ``render_mode``: ``None``, ``"ansi"``, ``"human"`` or ``"rgb_array"``.

    The natively batched twin is :class:`RepeatCopyVectorEnv`.
    """

    def __init__(self, base: int = 5, render_mode: str | None = None) -> None:
        super().__init__(RepeatCopyTask(base), render_mode)


class RepeatCopyVectorEnv(AlgorithmicVectorEnv):
    """The natively batched :class:`RepeatCopyEnv` (see :class:`AlgorithmicVectorEnv`).

    Sub-environment ``i`` of ``reset(seed=s)`` matches a single environment reset with ``s + i``.

    Args:
        num_envs: the number of sub-environments.
        base: number of distinct symbols (default 5).
    """

    def __init__(self, num_envs: int = 1, base: int = 5) -> None:
        super().__init__(RepeatCopyTask(base), num_envs)
