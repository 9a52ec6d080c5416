"""Length shaping: the cosine-scaled length reward and DAPO's soft over-long penalty."""

from __future__ import annotations

import math
from typing import Any

from skillgym.rewards.accuracy import AccuracyReward
from skillgym.rewards.base import (
    Reward,
    RewardResult,
    Sample,
    check_choice,
    check_int,
    check_number,
)


def completion_length(sample: Sample, unit: str, reward: str) -> int:
    """The sample's length in ``"tokens"`` (its completion ids) or ``"chars"``."""
    if unit == "chars":
        return len(sample.completion)
    if sample.completion_ids is None:
        raise ValueError(f"{reward} with unit='tokens' needs integer completion_ids; pass them, "
                         "or use unit='chars'")
    return len(sample.completion_ids)


class CosineLengthReward(Reward):
    """Correctness scaled by length along a cosine ("Demystifying Long Chain-of-Thought").

    ``r = v_min + (v_max - v_min) * (1 + cos(pi * min(L / max_len, 1))) / 2``, where a correct
    answer runs from ``max_value_correct`` (shortest) down to ``min_value_correct`` (at
    ``max_len``), and a wrong one from ``min_value_wrong`` (shortest) up to ``max_value_wrong``:
    short correct answers earn most, and a wrong answer is penalized less the longer it thought.
    The progress is clamped at 1, as TRL does, so that lengths past ``max_len`` are not rewarded
    by the cosine climbing back. A sample without ground truth scores ``None``.

    Args:
        max_len: the length at which the schedule reaches its long end.
        min_value_wrong: the reward of the shortest wrong answer.
        max_value_wrong: the reward of a wrong answer at ``max_len``.
        min_value_correct: the reward of a correct answer at ``max_len``.
        max_value_correct: the reward of the shortest correct answer.
        unit: ``"chars"`` (open-r1) or ``"tokens"`` (TRL; needs completion ids).
        accuracy: keyword arguments of the :class:`~skillgym.rewards.accuracy.AccuracyReward`
            that judges correctness.
    """

    name = "cosine_length"

    def __init__(self, max_len: int = 1000, min_value_wrong: float = -1.0,
                 max_value_wrong: float = -0.5, min_value_correct: float = 0.5,
                 max_value_correct: float = 1.0, unit: str = "chars",
                 accuracy: dict[str, Any] | None = None) -> None:
        check_int("max_len", max_len, 1)
        for argument, value in (("min_value_wrong", min_value_wrong),
                                ("max_value_wrong", max_value_wrong),
                                ("min_value_correct", min_value_correct),
                                ("max_value_correct", max_value_correct)):
            check_number(argument, value)
        check_choice("unit", unit, ("chars", "tokens"))
        self.max_len = int(max_len)
        self.min_value_wrong, self.max_value_wrong = float(min_value_wrong), float(max_value_wrong)
        self.min_value_correct = float(min_value_correct)
        self.max_value_correct = float(max_value_correct)
        self.unit = unit
        self.accuracy = AccuracyReward(**(accuracy or {}))

    def explain(self, sample: Sample) -> RewardResult:
        """The scaled reward, with the length and the verdict."""
        correct = self.accuracy.correct(sample)
        if correct is None:
            return RewardResult(None, {"reason": "no ground truth"})
        length = completion_length(sample, self.unit, self.name)
        cosine = math.cos(min(length / self.max_len, 1.0) * math.pi)
        if correct:
            low, high = self.min_value_correct, self.max_value_correct
        else:
            low, high = self.max_value_wrong, self.min_value_wrong
        score = low + 0.5 * (high - low) * (1.0 + cosine)
        return RewardResult(float(score), {"length": length, "correct": correct})


class SoftOverlongPenalty(Reward):
    """DAPO's soft over-long punishment (Eq. 13): ``0`` up to ``max_completion_len -
    soft_punish_cache``, then linearly down to ``-1`` at ``max_completion_len``, ``-1`` beyond.

    Args:
        max_completion_len: ``L_max``, the hard length limit.
        soft_punish_cache: ``L_cache``, the length of the linear ramp before the limit.
        unit: ``"tokens"`` (DAPO, TRL; needs completion ids) or ``"chars"``.
    """

    name = "soft_overlong"

    def __init__(self, max_completion_len: int = 4096, soft_punish_cache: int = 512,
                 unit: str = "tokens") -> None:
        check_int("max_completion_len", max_completion_len, 1)
        check_int("soft_punish_cache", soft_punish_cache, 0)
        if soft_punish_cache > max_completion_len:
            raise ValueError(f"soft_punish_cache must be <= max_completion_len "
                             f"({max_completion_len}), got {soft_punish_cache}")
        check_choice("unit", unit, ("tokens", "chars"))
        self.max_completion_len = int(max_completion_len)
        self.soft_punish_cache = int(soft_punish_cache)
        self.unit = unit

    def explain(self, sample: Sample) -> RewardResult:
        """The penalty and the length it was computed from."""
        length = completion_length(sample, self.unit, self.name)
        start = self.max_completion_len - self.soft_punish_cache
        if length <= start:
            score = 0.0
        elif length <= self.max_completion_len:
            score = (start - length) / self.soft_punish_cache
        else:
            score = -1.0
        return RewardResult(score, {"length": length})
