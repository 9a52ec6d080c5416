"""Reward functions for reasoning-model RL, their registry and trainer adapters.

Rewards are configured once and then score model outputs, never raising on what a model
writes (``None``, empty, huge, broken tags, invalid UTF-8, non-strings all get a defined
score)::

    import skillgym.rewards as rewards

    penalty = rewards.get("repetition_penalty", ngram_size=3, max_penalty=-1.0)
    penalty("the cat the cat the cat")                      # -0.5
    rewards.names()                                          # every available reward

What is here:

- parsing of Keye-VL's five response modes (:mod:`~skillgym.rewards.parsing`);
- format (:class:`KeyeFormatReward`) and accuracy (:class:`AccuracyReward`, exact arithmetic
  under a thread-safe deadline) rewards;
- repetition rewards: the global n-gram penalty (open-r1 and TRL semantics), the dense
  per-token penalty, and a loop detector (:mod:`~skillgym.rewards.repetition`);
- length and mode-choice shaping (:mod:`~skillgym.rewards.length`,
  :mod:`~skillgym.rewards.mode_shaping`) and weighted sums (:class:`WeightedSum`);
- adapters for TRL, verl, OpenRLHF, reasoning-gym and Gymnasium
  (:mod:`~skillgym.rewards.adapters`).
"""

from skillgym.rewards.accuracy import AccuracyReward
from skillgym.rewards.base import Reward, RewardResult, Sample, as_ids, as_text
from skillgym.rewards.composition import WeightedSum
from skillgym.rewards.format import KeyeFormatReward
from skillgym.rewards.keye_evaluator import keye_extract_answer
from skillgym.rewards.length import CosineLengthReward, SoftOverlongPenalty
from skillgym.rewards.mode_shaping import AdaptThinkReward, AutoThinkReward, ThinklessReward
from skillgym.rewards.parsing import ParsedResponse, extract_answer, parse_response, requested_mode
from skillgym.rewards.registry import ENTRY_POINT_GROUP, get, names, register
from skillgym.rewards.repetition import DenseRepetitionPenalty, LoopPenalty, NgramRepetitionPenalty

__all__ = [
    "ENTRY_POINT_GROUP",
    "AccuracyReward",
    "AdaptThinkReward",
    "AutoThinkReward",
    "CosineLengthReward",
    "DenseRepetitionPenalty",
    "KeyeFormatReward",
    "LoopPenalty",
    "NgramRepetitionPenalty",
    "ParsedResponse",
    "Reward",
    "RewardResult",
    "Sample",
    "SoftOverlongPenalty",
    "ThinklessReward",
    "WeightedSum",
    "as_ids",
    "as_text",
    "extract_answer",
    "get",
    "keye_extract_answer",
    "names",
    "parse_response",
    "register",
    "requested_mode",
]
