"""Copy: write the input tape to the output tape (Zaremba & Sutskever, arXiv:1511.07275)."""

from __future__ import annotations

import numpy as np

from skillgym.envs.algorithmic.base import AlgorithmicEnv, AlgorithmicVectorEnv
from skillgym.envs.algorithmic.core import TapeTask


class CopyTask(TapeTask):
    """The target is the input itself."""

    def target_lengths(self, widths: np.ndarray) -> np.ndarray:
        """As long as the input."""
        return widths

    def source(self, positions: np.ndarray, widths: np.ndarray) -> np.ndarray:
        """Target symbol ``j`` is input symbol ``j``."""
        return positions


class CopyEnv(AlgorithmicEnv):
    """Copy the symbols of an input tape to the output tape.

    ## Description

    A port of Gym's retired ``Copy-v0`` (gym ≤ 0.21, from Zaremba & Sutskever 2015, "Reinforcement
    Learning Neural Turing Machines"). A read head starts on the first cell of a tape of random
    symbols; the agent moves it and writes symbols to an output tape, one per write, and must
    write the input exactly.

    ## Action Space

    ``MultiDiscrete([2, 2, base])`` (the original's ``Tuple``, flattened so that stable-baselines3
    accepts it): move the read head (0 left, 1 right); write or not (0, 1); the symbol to write
    (ignored without a write).

    ## Observation Space

    ``Discrete(base + 1)``: the symbol under the read head, or ``base`` (blank) off the tape.

    ## Rewards

    +1 for a correct write, -0.5 for a wrong write (which ends the episode), -1 for the step after
    the time limit (replacing that step's reward), 0 otherwise.

    ## Starting State

    An input of ``min_length + U{0, 1, 2}`` uniform symbols with the read head on its first cell.
    ``min_length`` starts at 2 and is this instance's curriculum: after 10 recorded episodes in a
    row each scoring at least ``target length - 1``, it grows by one (up to 30). Every reset records
    the episode it ends. The original kept this curriculum in class attributes (shared by every
    instance in a process) until gym 0.17.3; here it is per instance, so vectorised copies progress
    independently.

    ## Episode End

    Terminated after the last target symbol is written, after a wrong write, or on the step after
    the time limit ``width + target length + 4``. The time-out is the task's own failure, with its
    own penalty, so it is a termination; no ``TimeLimit`` is added (the original's 200 steps could
    never bind).

    ## Arguments

    - ``base``: number of distinct symbols (default 5, ``>= 2``).
    - ``render_mode``: ``None``, ``"ansi"``, ``"human"`` or ``"rgb_array"``.

    ``gym.make_vec("skillgym/Copy-v1", num_envs=N, vectorization_mode="vector_entry_point")``
    gives :class:`CopyVectorEnv`.
    """

    def __init__(self, base: int = 5, render_mode: str | None = None) -> None:
        super().__init__(CopyTask(base), render_mode)


class CopyVectorEnv(AlgorithmicVectorEnv):
    """The natively batched :class:`CopyEnv` (see :class:`AlgorithmicVectorEnv`).

    Sub-environment ``i`` of ``reset(seed=s)`` matches a single environment reset with ``s + i``.

    Args:
        num_envs: the number of sub-environments.
        base: number of distinct symbols (default 5).
    """

    def __init__(self, num_envs: int = 1, base: int = 5) -> None:
        super().__init__(CopyTask(base), num_envs)
