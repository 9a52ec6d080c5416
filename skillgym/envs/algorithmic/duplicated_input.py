"""DuplicatedInput: write one symbol per run of equal input symbols (arXiv:1511.07275)."""

from __future__ import annotations

import numpy as np

from skillgym.envs.algorithmic.base import AlgorithmicEnv, AlgorithmicVectorEnv
from skillgym.envs.algorithmic.core import MAX_MIN_LENGTH, TapeTask, check_int


class DuplicatedInputTask(TapeTask):
    """An input of runs of ``duplication`` equal symbols; the target is one symbol per run.

    Args:
        base: number of distinct symbols.
        duplication: the length of every run (``>= 1``).
    """

    def __init__(self, base: int, duplication: int) -> None:
        super().__init__(base)
        self.duplication = check_int("duplication", duplication, 1)

    @property
    def max_width(self) -> int:
        """An input is never shorter than one run."""
        return max(MAX_MIN_LENGTH + 2, self.duplication)

    @property
    def max_target(self) -> int:
        """One symbol per run."""
        return self.max_width // self.duplication

    @property
    def symbols_drawn(self) -> int:
        """One symbol per possible run."""
        return self.max_target

    def lay_out(self, symbols: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``length // duplication`` runs (at least one), as the original: the width may be less."""
        runs = np.maximum(lengths, self.duplication) // self.duplication
        widths = runs * self.duplication
        columns = np.arange(self.max_width)
        tape = symbols[:, np.minimum(columns // self.duplication, self.max_target - 1)]
        tape = np.where(columns[None, :] < widths[:, None], tape, self.base)
        return tape[:, :, None], widths

    def target_lengths(self, widths: np.ndarray) -> np.ndarray:
        """One symbol per run."""
        return widths // self.duplication

    def source(self, positions: np.ndarray, widths: np.ndarray) -> np.ndarray:
        """The first cell of run ``j``."""
        return positions * self.duplication


class DuplicatedInputEnv(AlgorithmicEnv):
    """Write one symbol for every run of ``duplication`` equal input symbols.

    ## Description

    A port of Gym's retired ``DuplicatedInput-v0`` (gym ≤ 0.21, from Zaremba & Sutskever 2015). The
    input tape is a sequence of runs, each a random symbol repeated ``duplication`` times; the
    agent must write every run's symbol once, in order.

    ## Action Space

    ``MultiDiscrete([2, 2, base])``: move the read head (0 left, 1 right); write or not (0, 1); the
    symbol to write (ignored without a write).

    ## Observation Space

    ``Discrete(base + 1)``: the symbol under the read head, or ``base`` (blank) off the tape.

    ## Rewards

    +1 for a correct write, -0.5 for a wrong write (which ends the episode), -1 for the step after
    the time limit (replacing that step's reward), 0 otherwise.

    ## Starting State

    A length ``L = min_length + U{0, 1, 2}`` is drawn, and the input is ``max(L, duplication) //
    duplication`` runs (so its width is ``L`` rounded down to a multiple of ``duplication``), with
    the read head on its first cell. ``min_length`` starts at 2 and is this instance's curriculum:
    after 10 recorded episodes in a row each scoring at least ``target length - 1``, it grows by
    one (up to 30). Every reset records the episode it ends. The original shared this state
    between all instances until gym 0.17.3; here it is per instance.

    ## Episode End

    Terminated after the last target symbol is written, after a wrong write, or on the step after
    the time limit ``width + width / duplication + 4``. The time-out is the task's own failure,
    with its own penalty, so it is a termination.

    ## Arguments

    - ``duplication``: the length of every run (default 2, ``>= 1``).
    - ``base``: number of distinct symbols (default 5, ``>= 2``).
    - ``render_mode``: ``None``, ``"ansi"``, ``"human"`` or ``"rgb_array"``.

    The natively batched twin is :class:`DuplicatedInputVectorEnv`.
    """

    def __init__(
        self, duplication: int = 2, base: int = 5, render_mode: str | None = None
    ) -> None:
        super().__init__(DuplicatedInputTask(base, duplication), render_mode)


class DuplicatedInputVectorEnv(AlgorithmicVectorEnv):
    """The natively batched :class:`DuplicatedInputEnv` (see :class:`AlgorithmicVectorEnv`).

    Sub-environment ``i`` of ``reset(seed=s)`` matches a single environment reset with ``s + i``.

    Args:
        num_envs: the number of sub-environments.
        duplication: the length of every run (default 2).
        base: number of distinct symbols (default 5).
    """

    def __init__(self, num_envs: int = 1, duplication: int = 2, base: int = 5) -> None:
        super().__init__(DuplicatedInputTask(base, duplication), num_envs)
