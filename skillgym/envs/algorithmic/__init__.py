"""Gymnasium ports of Gym's retired algorithmic environments, each with a natively batched twin.

Copy, RepeatCopy, Reverse, ReversedAddition (2 and 3 rows) and DuplicatedInput keep the
original observation, rewards, time limit and length curriculum; the action is a
``MultiDiscrete`` instead of a ``Tuple``, and the curriculum is per instance.
"""

from skillgym.envs.algorithmic.copy import CopyEnv, CopyVectorEnv
from skillgym.envs.algorithmic.duplicated_input import DuplicatedInputEnv, DuplicatedInputVectorEnv
from skillgym.envs.algorithmic.repeat_copy import RepeatCopyEnv, RepeatCopyVectorEnv
from skillgym.envs.algorithmic.reverse import ReverseEnv, ReverseVectorEnv
from skillgym.envs.algorithmic.reversed_addition import (
    ReversedAdditionEnv,
    ReversedAdditionVectorEnv,
)

__all__ = [
    "CopyEnv",
    "CopyVectorEnv",
    "DuplicatedInputEnv",
    "DuplicatedInputVectorEnv",
    "RepeatCopyEnv",
    "RepeatCopyVectorEnv",
    "ReverseEnv",
    "ReverseVectorEnv",
    "ReversedAdditionEnv",
    "ReversedAdditionVectorEnv",
]
