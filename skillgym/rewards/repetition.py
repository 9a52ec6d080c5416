"""Repetition rewards: the global n-gram penalty, the dense per-unit penalty, the loop detector.

All three count in one of five units (:mod:`skillgym.rewards.units`): ``"auto"`` (the default
of the global penalty and the loop detector: whitespace words, and one unit per CJK ideograph,
kana or hangul syllable, so that English, Chinese, Japanese, Korean and mixed text all work),
``"words"`` (whitespace words, lowercased, exactly as open-r1 splits them), ``"chars"``
(characters), ``"jieba"`` (jieba's segmentation, as open-r1's Chinese mode) or ``"tokens"`` (the
completion's token ids, the dense penalty's default). A batch is tokenized in one pass over its
bytes and scored with the array code of :mod:`skillgym.rewards.ngrams`; the global penalty of a
large batch of token ids or of ASCII text in words is counted by an OpenCL kernel instead
(:mod:`skillgym.rewards.ngram_kernel`), with the same values;
:meth:`~skillgym.rewards.base.Reward.explain` says where the repetition is: ``[start, end)`` spans
in units, and for text units also in characters of the completion.
"""

from __future__ import annotations

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
    completion_id_batch,
    completion_texts,
)
from skillgym.rewards.ngram_kernel import KERNEL_MIN_UNITS, fits_32_bits, ngram_kernel
from skillgym.rewards.ngrams import (
    Loop,
    cover,
    find_loops,
    repeated_starts,
    spans,
    unique_ngram_counts,
)
from skillgym.rewards.ragged import Ragged
from skillgym.rewards.units import TEXT_UNITS, Segmented, check_unit, segment, unit_char_spans

#: What a repetition is counted in.
UNITS: tuple[str, ...] = ("tokens", *TEXT_UNITS)


def global_penalties(batch: list[np.ndarray] | np.ndarray, ngram_size: int,
                     max_penalty: float) -> np.ndarray:
    """``(1 - unique / total n-grams) * max_penalty`` per sequence, ``0.0`` without n-grams.

    ``batch`` is a list of 1-D integer arrays or a 2-D array of equal-length sequences.

    The arithmetic is the reference's, in the same order and in float64, so the values are
    bit-identical to open-r1's and TRL's (whose ``-0.0`` for a repetition-free text is ``0.0``
    here, which compares equal).
    """
    return penalties_from_counts(*unique_ngram_counts(batch, ngram_size), max_penalty)


def penalties_from_counts(unique: np.ndarray, total: np.ndarray,
                          max_penalty: float) -> np.ndarray:
    """:func:`global_penalties` from the counts of distinct and of all n-grams."""
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
    """A reward that counts in tokens or in one of the text units."""

    def __init__(self, unit: str, lowercase: bool) -> None:
        check_choice("unit", unit, UNITS)
        if unit != "tokens":
            check_unit(unit)
        self.unit = unit
        self.lowercase = bool(lowercase)

    def segmented(self, samples: Sequence[Sample]) -> Segmented | None:
        """The text units of a batch (``None`` for ``unit="tokens"``)."""
        if self.unit == "tokens":
            return None
        return segment(completion_texts(samples), self.unit, self.lowercase)

    def batch_units(self, samples: Sequence[Sample],
                    segmented: Segmented | None = None) -> Ragged:
        """The unit ids of each sample (from ``segmented`` if given), as one flat batch."""
        if self.unit != "tokens":
            return (segmented or self.segmented(samples)).ids
        batch, usable = completion_id_batch(samples)
        if not usable.all():
            raise ValueError(
                f"{self.name} with unit='tokens' needs integer completion_ids (missing for "
                f"sample {int(np.argmin(usable))}); pass them, or count in a text unit: "
                f"{list(TEXT_UNITS)}"
            )
        return batch

    def units(self, sample: Sample) -> np.ndarray:
        """The sample as a sequence of unit ids."""
        return self.batch_units([sample])[0]

    def located(self, sample: Sample, unit_spans: Sequence[tuple[int, int]]) -> dict[str, Any]:
        """Spans in units, and for text units also in characters of the completion."""
        located: dict[str, Any] = {"spans": [tuple(span) for span in unit_spans]}
        if self.unit != "tokens":
            characters = unit_char_spans(sample.completion, self.unit)
            located["char_spans"] = [(int(characters[start, 0]), int(characters[end - 1, 1]))
                                     for start, end in unit_spans]
        return located


def _check_ngram_size(ngram_size: Any) -> None:
    check_int("ngram_size", ngram_size, 1)


class NgramRepetitionPenalty(_UnitReward):
    """The global n-gram repetition penalty ``(1 - unique/total n-grams) * max_penalty``.

    With ``unit="words"`` it equals open-r1's ``get_repetition_penalty_reward`` (words of
    ``text.lower().split()``, ``0.0`` for fewer words than ``ngram_size``); with
    ``unit="jieba"`` it equals open-r1's ``language="zh"`` (pieces of ``jieba.cut``); with
    ``unit="tokens"`` it equals TRL's (n-grams of the completion token ids). The default,
    ``"auto"``, equals ``"words"`` on text without CJK, kana or hangul and counts those
    characters one by one. A batch is scored with array code (:func:`global_penalties`), not a
    loop over completions.

    Args:
        ngram_size: the n of the n-grams.
        max_penalty: the penalty of a text that is one n-gram over and over; ``<= 0``.
        unit: ``"auto"``, ``"words"``, ``"chars"``, ``"jieba"`` or ``"tokens"``.
        lowercase: lowercase before comparing (``"auto"`` and ``"words"``).
    """

    name = "repetition_penalty"

    def __init__(self, ngram_size: int = 3, max_penalty: float = -1.0, unit: str = "auto",
                 lowercase: bool = True) -> None:
        _check_ngram_size(ngram_size)
        check_number("max_penalty", max_penalty)
        if max_penalty > 0:
            raise ValueError(f"max_penalty {max_penalty} should not be positive")
        super().__init__(unit, lowercase)
        self.ngram_size = int(ngram_size)
        self.max_penalty = float(max_penalty)

    def score_batch(self, samples: Sequence[Sample]) -> list[float | None]:
        """The penalties of a batch, computed together (on the OpenCL device when there is one
        and the batch is large enough, see :mod:`skillgym.rewards.ngram_kernel`)."""
        counts = self._kernel_counts(samples)
        if counts is None:
            counts = unique_ngram_counts(self.batch_units(samples), self.ngram_size)
        return penalties_from_counts(*counts, self.max_penalty).tolist()

    def _kernel_counts(self, samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray] | None:
        """The n-gram counts from the counting kernels, or ``None`` where they do not apply:
        no device, a small batch, ids wider than 32 bits, or a unit other than tokens, words
        and auto (auto counts ASCII text in words, as the kernel does)."""
        if self.unit not in ("tokens", "words", "auto"):
            return None
        kernel = ngram_kernel()
        if kernel is None:
            return None
        if self.unit == "tokens":
            batch = self.batch_units(samples)
            if batch.values.size < KERNEL_MIN_UNITS or not fits_32_bits(batch.values):
                return None
            return kernel.id_counts(batch, self.ngram_size)
        texts = completion_texts(samples)
        if sum(map(len, texts)) < KERNEL_MIN_UNITS:
            return None
        plain = np.fromiter(map(str.isascii, texts), bool, len(texts))
        if plain.all():
            return kernel.word_counts(texts, self.ngram_size, self.lowercase)
        unique, total = np.zeros(len(texts), np.int64), np.zeros(len(texts), np.int64)
        ascii_rows, other_rows = plain.nonzero()[0], (~plain).nonzero()[0]
        if len(ascii_rows):
            unique[ascii_rows], total[ascii_rows] = kernel.word_counts(
                [texts[row] for row in ascii_rows], self.ngram_size, self.lowercase)
        others = segment([texts[row] for row in other_rows], self.unit, self.lowercase).ids
        unique[other_rows], total[other_rows] = unique_ngram_counts(others, self.ngram_size)
        return unique, total

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

    :meth:`unit_penalties` gives the per-unit values (per token by default, for trainers that
    take token-level rewards); the scalar score reduces them by ``reduction``.

    Args:
        ngram_size: the n of the n-grams.
        penalty: the penalty of each unit of a repeated occurrence; ``< 0``.
        only_start: penalize an occurrence only if it starts more than ``ngram_size`` units
            after the previous repeated one (the reference's option).
        unit: ``"tokens"``, ``"auto"``, ``"words"``, ``"chars"`` or ``"jieba"``.
        reduction: ``"mean"`` (the fraction of penalized units times ``penalty``) or ``"sum"``.
        lowercase: lowercase before comparing (``"auto"`` and ``"words"``).
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
    back, covering at least ``min_span`` units (so that "1000", "......" or "哈哈哈" in clean text
    is not one). With a text unit other than ``"chars"``, a single unit longer than
    ``max_word_chars`` characters also counts (degenerate output without spaces).

    The defaults were chosen on ``benchmarks/loop_detection.py``'s labelled English, Chinese,
    Japanese, Korean, mixed, code, table, number and list texts (tuning seed 1, reported on seed
    0): with ``unit="auto"`` an English word and a CJK character are one unit each, so one
    ``min_span`` serves every script.

    Args:
        max_period: the longest repeated unit looked for (in units).
        min_repeats: how many times in a row the unit must occur.
        min_span: the fewest units a loop covers; default by unit (:attr:`DEFAULT_MIN_SPAN`).
        max_word_chars: the longest acceptable unit, in characters; ``None`` disables.
        penalty: the score of a response with a loop; ``<= 0``.
        unit: ``"auto"``, ``"words"``, ``"chars"``, ``"jieba"`` or ``"tokens"``.
        lowercase: lowercase before comparing (``"auto"`` and ``"words"``).
    """

    name = "loop"
    DEFAULT_MIN_SPAN = {"tokens": 16, "auto": 16, "words": 12, "chars": 24, "jieba": 16}

    def __init__(self, max_period: int = 30, min_repeats: int = 3, min_span: int | None = None,
                 max_word_chars: int | None = 200, penalty: float = -1.0, unit: str = "auto",
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

    def _long_units(self, samples: Sequence[Sample],
                    segmented: Segmented | None) -> list[tuple[int, int] | None]:
        """The first unit of each sample longer than ``max_word_chars`` characters, as a
        character span, or ``None``."""
        found: list[tuple[int, int] | None] = [None] * len(samples)
        if segmented is None or self.unit == "chars" or self.max_word_chars is None:
            return found
        # A unit has at least as many bytes as characters: only rows with a unit of more bytes
        # than the limit are looked at, in characters.
        offsets = segmented.ids.offsets
        candidates = np.flatnonzero(segmented.sizes > self.max_word_chars)
        for row in np.unique(np.searchsorted(offsets, candidates, side="right") - 1).tolist():
            characters = unit_char_spans(samples[row].completion, self.unit)
            long = np.flatnonzero(characters[:, 1] - characters[:, 0] > self.max_word_chars)
            if len(long):
                found[row] = tuple(characters[long[0]].tolist())
        return found

    def find(self, samples: Sequence[Sample]) -> list[Loop | None]:
        """The loop of each sample (smallest period first), or ``None``."""
        return self._find(samples, self.segmented(samples))

    def _find(self, samples: Sequence[Sample], segmented: Segmented | None) -> list[Loop | None]:
        return find_loops(self.batch_units(samples, segmented), self.max_period,
                          self.min_repeats, self.min_span)

    def score_batch(self, samples: Sequence[Sample]) -> list[float | None]:
        """The scores of a batch, its loops found together."""
        segmented = self.segmented(samples)
        loops = self._find(samples, segmented)
        long_units = self._long_units(samples, segmented)
        return [self.penalty if loop is not None or long is not None else 0.0
                for loop, long in zip(loops, long_units, strict=True)]

    def score(self, sample: Sample) -> float:
        """The score of one sample."""
        return self.score_batch([sample])[0]

    def explain(self, sample: Sample) -> RewardResult:
        """The score, and the loop (span, period, repeats) or the over-long unit (its
        character span, ``long_word``)."""
        segmented = self.segmented([sample])
        loop = self._find([sample], segmented)[0]
        long_word = self._long_units([sample], segmented)[0]
        details: dict[str, Any] = {"loop": loop, "long_word": long_word}
        if loop is not None:
            details.update(self.located(sample, [(loop.start, loop.end)]))
        found = loop is not None or long_word is not None
        return RewardResult(self.penalty if found else 0.0, details)
