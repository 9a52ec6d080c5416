"""Reverse: write the input tape backwards (Zaremba & Sutskever, arXiv:1511.07275)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from skillgym.envs.algorithmic.base import AlgorithmicEnv, AlgorithmicVectorEnv
from skillgym.envs.algorithmic.core import TapeTask


class ReverseTask(TapeTask):
    """The target is the input reversed; the curriculum starts at length 1 and is stricter."""

    starting_min_length: ClassVar[int] = 1
    window: ClassVar[int] = 50
    promotion_threshold: ClassVar[float] = -0.1

    def target_lengths(self, widths: np.ndarray) -> np.ndarray:
        """As long as the input."""
        return widths

    def source(self, positions: np.ndarray, widths: np.ndarray) -> np.ndarray:
        """Target symbol ``j`` is input symbol ``width - 1 - j``."""
        return widths - 1 - positions


class ReverseEnv(AlgorithmicEnv):
    """Write the symbols of an input tape to the output tape in reverse order.

    ## Description

    A port of Gym's retired ``Reverse-v0`` (gym ≤ 0.21, from Zaremba & Sutskever 2015). A read head
    starts on the first cell of a tape of random symbols; the agent moves it and writes symbols
    to an output tape and must write the input from last symbol to first.

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
    ``min_length`` starts at 1 and is this instance's curriculum: after 50 recorded episodes in a
    row each scoring at least ``target length - 0.1`` (that is, perfect), it grows by one (up to
    30). Every reset records the episode it ends. The original shared this state between all
    instances until gym 0.17.3; here it is per instance.

    ## Episode End

    Terminated after the last target symbol is written, after a wrong write, or on the step after
    the time limit ``2 * width + 4``. The time-out is the task's own failure, with its own
    penalty, so it is a termination.

    ## Arguments

    - ``base``: number of distinct symbols (default 2, ``>= 2``).
    - ``render_mode``: ``None``, ``"ansi"``, ``"human"`` or ``"rgb_array"``.

    The natively batched twin is :class:`ReverseVectorEnv`.
    """

    def __init__(self, base: int = 2, render_mode: str | None = None) -> None:
        super().__init__(ReverseTask(base), render_mode)


class ReverseVectorEnv(AlgorithmicVectorEnv):
    """The natively batched :class:`ReverseEnv` (see :class:`AlgorithmicVectorEnv`).

    Sub-environment ``i`` of ``reset(seed=s)`` matches a single environment reset with ``s + i``.

    Args:
        num_envs: the number of sub-environments.
        base: number of distinct symbols (default 2).
    """

    def __init__(self, num_envs: int = 1, base: int = 2) -> None:
        super().__init__(ReverseTask(base), num_envs)
