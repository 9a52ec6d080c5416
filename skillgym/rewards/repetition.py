"""Repetition rewards: the global n-gram penalty, the dense per-token penalty, the loop detector.

All three count in one of three units: ``"tokens"`` (the completion's token ids), ``"words"``
(whitespace words, lowercased, as open-r1 does) or ``"chars"`` (characters, for text without
spaces such as Chinese or Japanese). Each scores a batch with the array code of
:mod:`skillgym.rewards.ngrams`, and :meth:`~skillgym.rewards.base.Reward.explain` says where the
repetition is: ``[start, end)`` spans in units, and for text units also in characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from skillgym.rewards.base import (
    Reward,
    RewardResult,
    Sample,
    check_choice,
    check_int,
    check_number,
)
from skillgym.rewards.ngrams import (
    UNITS,
    Loop,
    char_ids,
    cover,
    find_loops,
    repeated_starts,
    spans,
    unique_ngram_counts,
    word_ids,
)

_WORD = re.compile(r"\S+")


def global_penalties(batch: list[np.ndarray] | np.ndarray, ngram_size: int,
                     max_penalty: float) -> np.ndarray:
    """``(1 - unique / total n-grams) * max_penalty`` per sequence, ``0.0`` without n-grams.

    ``batch`` is a list of 1-D integer arrays or a 2-D array of equal-length sequences.

    The arithmetic is the reference's, in the same order and in float64, so the values are
    bit-identical to open-r1's and TRL's (whose ``-0.0`` for a repetition-free text is ``0.0``
    here, which compares equal).
    """
    unique, total = unique_ngram_counts(batch, ngram_size)
    scaling = 1.0 - unique / np.maximum(total, 1)
    return np.where(total > 0, scaling * max_penalty, 0.0) + 0.0


def dense_penalties(sequence: np.ndarray, ngram_size: int, penalty: float,
                    only_start: bool = False) -> np.ndarray:
    """The per-unit penalty of "Demystifying Long Chain-of-Thought": every unit of an n-gram
    occurrence seen before gets ``penalty`` (not summed where occurrences overlap).

    With ``only_start``, an occurrence is penalized only when it starts more than ``ngram_size``
    units after the previous repeated occurrence, as in the reference implementation.
    """
    starts = repeated_starts([sequence], ngram_size)[0]
    if only_start and len(starts):
        starts = starts[np.concatenate(([True], np.diff(starts) > ngram_size))]
    return np.where(cover(starts, ngram_size, len(sequence)), penalty, 0.0)


class _UnitReward(Reward):
    """A reward that counts in tokens, words or characters."""

    def __init__(self, unit: str, lowercase: bool) -> None:
        check_choice("unit", unit, UNITS)
        self.unit = unit
        self.lowercase = bool(lowercase)

    def units(self, sample: Sample) -> np.ndarray:
        """The sample as a sequence of unit ids."""
        if self.unit == "words":
            return word_ids(sample.completion, self.lowercase)
        if self.unit == "chars":
            return char_ids(sample.completion)
        if sample.completion_ids is None:
            raise ValueError(
                f"{self.name} with unit='tokens' needs integer completion_ids; pass them, or use "
                "unit='words' or unit='chars'"
            )
        return sample.completion_ids

    def located(self, sample: Sample, unit_spans: Sequence[tuple[int, int]]) -> dict[str, Any]:
        """Spans in units, and for text units also in characters of the completion."""
        located: dict[str, Any] = {"spans": [tuple(span) for span in unit_spans]}
        if self.unit == "chars":
            located["char_spans"] = located["spans"]
        elif self.unit == "words":
            words = [match.span() for match in _WORD.finditer(sample.completion)]
            located["char_spans"] = [(words[start][0], words[end - 1][1])
                                     for start, end in unit_spans]
        return located


def _check_ngram_size(ngram_size: Any) -> None:
    check_int("ngram_size", ngram_size, 1)


class NgramRepetitionPenalty(_UnitReward):
    """The global n-gram repetition penalty ``(1 - unique/total n-grams) * max_penalty``.

    With ``unit="words"`` it equals open-r1's ``get_repetition_penalty_reward`` (words of
    ``text.lower().split()``, ``0.0`` for fewer words than ``ngram_size``); with
    ``unit="tokens"`` it equals TRL's (n-grams of the completion token ids). A batch is scored
    with array code (:func:`global_penalties`), not a loop over completions.

    Args:
        ngram_size: the n of the n-grams.
        max_penalty: the penalty of a text that is one n-gram over and over; ``<= 0``.
        unit: ``"words"``, ``"tokens"`` or ``"chars"``.
        lowercase: lowercase words before comparing them (``unit="words"`` only).
    """

    name = "repetition_penalty"

    def __init__(self, ngram_size: int = 3, max_penalty: float = -1.0, unit: str = "words",
                 lowercase: bool = True) -> None:
        _check_ngram_size(ngram_size)
        check_number("max_penalty", max_penalty)
        if max_penalty > 0:
            raise ValueError(f"max_penalty {max_penalty} should not be positive")
        super().__init__(unit, lowercase)
        self.ngram_size = int(ngram_size)
        self.max_penalty = float(max_penalty)

    def score_batch(self, samples: Sequence[Sample]) -> list[float | None]:
        """The penalties of a batch, computed together."""
        batch = [self.units(sample) for sample in samples]
        return global_penalties(batch, self.ngram_size, self.max_penalty).tolist()

    def score(self, sample: Sample) -> float:
        """The penalty of one sample."""
        return self.score_batch([sample])[0]

    def explain(self, sample: Sample) -> RewardResult:
        """The penalty, the n-gram counts and the spans of repeated occurrences."""
        units = self.units(sample)
        unique, total = unique_ngram_counts([units], self.ngram_size)
        starts = repeated_starts([units], self.ngram_size)[0]
        where = self.located(sample, spans(cover(starts, self.ngram_size, len(units))))
        return RewardResult(self.score(sample), {"unique_ngrams": int(unique[0]),
                                                 "total_ngrams": int(total[0]), **where})


class DenseRepetitionPenalty(_UnitReward):
    """The dense repetition penalty: each unit of a repeated n-gram occurrence is penalized.

    :meth:`unit_penalties` gives the per-unit values (for trainers that take token-level
    rewards); the scalar score reduces them by ``reduction``.

    Args:
        ngram_size: the n of the n-grams.
        penalty: the penalty of each unit of a repeated occurrence; ``< 0``.
        only_start: penalize an occurrence only if it starts more than ``ngram_size`` units
            after the previous repeated one (the reference's option).
        unit: ``"tokens"``, ``"words"`` or ``"chars"``.
        reduction: ``"mean"`` (the fraction of penalized units times ``penalty``) or ``"sum"``.
        lowercase: lowercase words before comparing them (``unit="words"`` only).
    """

    name = "dense_repetition"

    def __init__(self, ngram_size: int = 3, penalty: float = -1.0, only_start: bool = False,
                 unit: str = "tokens", reduction: str = "mean", lowercase: bool = True) -> None:
        _check_ngram_size(ngram_size)
        check_number("penalty", penalty)
        if penalty >= 0:
            raise ValueError(f"penalty must be negative, got {penalty}")
        check_choice("reduction", reduction, ("mean", "sum"))
        super().__init__(unit, lowercase)
        self.ngram_size = int(ngram_size)
        self.penalty = float(penalty)
        self.only_start = bool(only_start)
        self.reduction = reduction

    def unit_penalties(self, sample: Sample) -> np.ndarray:
        """The penalty of each unit of the sample."""
        return dense_penalties(self.units(sample), self.ngram_size, self.penalty,
                               self.only_start)

    def explain(self, sample: Sample) -> RewardResult:
        """The reduced penalty and the spans of penalized units."""
        values = self.unit_penalties(sample)
        if not len(values):
            return RewardResult(0.0, self.located(sample, []))
        total = float(values.sum())
        score = total / len(values) if self.reduction == "mean" else total
        return RewardResult(score + 0.0, self.located(sample, spans(values != 0)))


class LoopPenalty(_UnitReward):
    """A loop detector: ``penalty`` when the output is stuck repeating itself, else ``0.0``.

    A loop is a unit of ``p <= max_period`` units repeated ``min_repeats`` or more times back to
    back, covering at least ``min_span`` units (so that "1000" or "......" in clean text is not
    one); with ``unit="words"``, a single word longer than ``max_word_chars`` characters also
    counts (degenerate output without spaces).

    Args:
        max_period: the longest repeated unit looked for (in units).
        min_repeats: how many times in a row the unit must occur.
        min_span: the fewest units a loop covers; default by unit (tokens 16, words 12,
            chars 24).
        max_word_chars: the longest acceptable word (``unit="words"`` only); ``None`` disables.
        penalty: the score of a response with a loop; ``<= 0``.
        unit: ``"words"``, ``"tokens"`` or ``"chars"``.
        lowercase: lowercase words before comparing them (``unit="words"`` only).
    """

    name = "loop"
    DEFAULT_MIN_SPAN = {"tokens": 16, "words": 12, "chars": 24}

    def __init__(self, max_period: int = 30, min_repeats: int = 3, min_span: int | None = None,
                 max_word_chars: int | None = 200, penalty: float = -1.0, unit: str = "words",
                 lowercase: bool = True) -> None:
        check_int("max_period", max_period, 1)
        check_int("min_repeats", min_repeats, 2)
        if min_span is not None:
            check_int("min_span", min_span, 1)
        if max_word_chars is not None:
            check_int("max_word_chars", max_word_chars, 1)
        check_number("penalty", penalty, maximum=0.0)
        super().__init__(unit, lowercase)
        self.max_period = int(max_period)
        self.min_repeats = int(min_repeats)
        self.min_span = int(min_span if min_span is not None else self.DEFAULT_MIN_SPAN[unit])
        self.max_word_chars = max_word_chars
        self.penalty = float(penalty)

    def _long_word(self, sample: Sample) -> tuple[int, int] | None:
        if self.unit != "words" or self.max_word_chars is None:
            return None
        for match in _WORD.finditer(sample.completion):
            if match.end() - match.start() > self.max_word_chars:
                return match.span()
        return None

    def find(self, samples: Sequence[Sample]) -> list[Loop | None]:
        """The loop of each sample (smallest period first), or ``None``."""
        return find_loops([self.units(sample) for sample in samples], self.max_period,
                          self.min_repeats, self.min_span)

    def score_batch(self, samples: Sequence[Sample]) -> list[float | None]:
        """The scores of a batch, its loops found together."""
        loops = self.find(samples)
        return [self.penalty if loop is not None or self._long_word(sample) else 0.0
                for sample, loop in zip(samples, loops, strict=True)]

    def score(self, sample: Sample) -> float:
        """The score of one sample."""
        return self.score_batch([sample])[0]

    def explain(self, sample: Sample) -> RewardResult:
        """The score, and the loop (span, period, repeats) or the over-long word."""
        loop = self.find([sample])[0]
        long_word = self._long_word(sample)
        details: dict[str, Any] = {"loop": loop, "long_word": long_word}
        if loop is not None:
            details.update(self.located(sample, [(loop.start, loop.end)]))
        found = loop is not None or long_word is not None
        return RewardResult(self.penalty if found else 0.0, details)
