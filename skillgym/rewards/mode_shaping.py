"""Mode-selection shaping: rewards that teach a model when thinking is worth its cost.

Each judges a response by two things, whether it thought (a non-empty ``<think>``, see
:attr:`~skillgym.rewards.parsing.ParsedResponse.thinks`) and whether its answer is correct, and
maps them to a score as its paper does:

- :class:`AdaptThinkReward` (AdaptThink): correctness minus the reference model's accuracy, plus
  a bonus ``delta`` for answering without thinking;
- :class:`ThinklessReward` (Thinkless): a fixed table: ``1`` for a correct short answer,
  ``1 - gamma`` for a correct long one, ``-1`` for a wrong one;
- :class:`AutoThinkReward` (AutoThink, stage 1): a table whose entries are pulled toward
  less generous targets for whichever mode dominates the batch, so the policy does not collapse
  into one mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from skillgym.rewards.accuracy import AccuracyReward
from skillgym.rewards.base import Reward, RewardResult, Sample, check_number
from skillgym.rewards.parsing import parse_response


class _ModeShaping(Reward):
    """Shared judging: did the response think, is its answer correct."""

    def __init__(self, accuracy: dict[str, Any] | None) -> None:
        self.accuracy = AccuracyReward(**(accuracy or {}))

    def outcome(self, sample: Sample) -> tuple[bool, bool | None]:
        """``(thought, correct)``; ``correct`` is ``None`` without ground truth."""
        thought = parse_response(sample.completion, lenient=True).thinks
        return thought, self.accuracy.correct(sample)


class AdaptThinkReward(_ModeShaping):
    """AdaptThink: ``correct - reference_accuracy + delta * [no thinking]``.

    ``reference_accuracy`` is the per-sample column of that name (the reference model's mean
    accuracy on the prompt, ``0`` when absent), so a no-thinking answer is preferred unless it
    costs more than ``delta`` in accuracy.

    Args:
        delta: the bonus for answering without thinking.
        require_correct: give the bonus only to correct no-thinking answers (``True``), or to
            every no-thinking answer as in the AdaptThink objective (``False``).
        accuracy: keyword arguments of the judging
            :class:`~skillgym.rewards.accuracy.AccuracyReward`.
    """

    name = "adaptthink"

    def __init__(self, delta: float = 0.05, require_correct: bool = True,
                 accuracy: dict[str, Any] | None = None) -> None:
        check_number("delta", delta)
        super().__init__(accuracy)
        self.delta = float(delta)
        self.require_correct = bool(require_correct)

    def explain(self, sample: Sample) -> RewardResult:
        """The shaped score, with the outcome and the reference accuracy used."""
        thought, correct = self.outcome(sample)
        if correct is None:
            return RewardResult(None, {"thought": thought, "correct": None})
        reference = sample.extra.get("reference_accuracy", 0.0)
        reference = float(reference) if isinstance(reference, (int, float)) else 0.0
        bonus = self.delta if not thought and (correct or not self.require_correct) else 0.0
        return RewardResult(float(correct) - reference + bonus,
                            {"thought": thought, "correct": correct, "reference": reference})


class ThinklessReward(_ModeShaping):
    """Thinkless's fixed table: ``1`` correct without thinking, ``1 - gamma`` correct with
    thinking, ``wrong_score`` wrong.

    Args:
        gamma: the price of thinking, in ``[0, 1]``.
        wrong_score: the score of a wrong answer in either mode.
        accuracy: keyword arguments of the judging
            :class:`~skillgym.rewards.accuracy.AccuracyReward`.
    """

    name = "thinkless"

    def __init__(self, gamma: float = 0.1, wrong_score: float = -1.0,
                 accuracy: dict[str, Any] | None = None) -> None:
        check_number("gamma", gamma, minimum=0.0, maximum=1.0)
        check_number("wrong_score", wrong_score)
        super().__init__(accuracy)
        self.gamma = float(gamma)
        self.wrong_score = float(wrong_score)

    def explain(self, sample: Sample) -> RewardResult:
        """The table entry of the sample's outcome."""
        thought, correct = self.outcome(sample)
        details = {"thought": thought, "correct": correct}
        if correct is None:
            return RewardResult(None, details)
        score = (1.0 - self.gamma if thought else 1.0) if correct else self.wrong_score
        return RewardResult(score, details)


class AutoThinkReward(_ModeShaping):
    """AutoThink's batch-balanced reward (stage 1).

    Each outcome first gets its base score (thinking: ``think_correct`` / ``think_wrong``; no
    thinking: ``no_think_correct`` / ``no_think_wrong``). Then, if the share of one mode in the
    batch exceeds ``balance_rate``, that mode's scores are moved toward its targets
    (thinking: ``0`` / ``-1``; no thinking: ``1`` / ``-2``) by the factor
    ``clip((share - balance_rate) * slope, 0, 1)``. The defaults are the AutoThink release's.
    Meant for whole batches (:meth:`score_batch`); a single sample is a batch of one.

    Args:
        balance_rate: the mode share above which that mode is damped.
        slope: how fast the damping grows with the excess share.
        think_correct, think_wrong, no_think_correct, no_think_wrong: the base table.
        think_targets: the (correct, wrong) targets of damped thinking answers.
        no_think_targets: the (correct, wrong) targets of damped no-thinking answers.
        accuracy: keyword arguments of the judging
            :class:`~skillgym.rewards.accuracy.AccuracyReward`.
    """

    name = "autothink"

    def __init__(self, balance_rate: float = 0.5, slope: float = 2.0,
                 think_correct: float = 1.0, think_wrong: float = 0.0,
                 no_think_correct: float = 2.0, no_think_wrong: float = -1.0,
                 think_targets: tuple[float, float] = (0.0, -1.0),
                 no_think_targets: tuple[float, float] = (1.0, -2.0),
                 accuracy: dict[str, Any] | None = None) -> None:
        check_number("balance_rate", balance_rate, minimum=0.0, maximum=1.0)
        check_number("slope", slope, minimum=0.0)
        for argument, value in (("think_correct", think_correct), ("think_wrong", think_wrong),
                                ("no_think_correct", no_think_correct),
                                ("no_think_wrong", no_think_wrong)):
            check_number(argument, value)
        for argument, pair in (("think_targets", think_targets),
                               ("no_think_targets", no_think_targets)):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"{argument} must be a (correct, wrong) pair, got {pair!r}")
            for value in pair:
                check_number(argument, value)
        super().__init__(accuracy)
        self.balance_rate, self.slope = float(balance_rate), float(slope)
        self.base = {(True, True): float(think_correct), (True, False): float(think_wrong),
                     (False, True): float(no_think_correct), (False, False): float(no_think_wrong)}
        self.targets = {(True, True): float(think_targets[0]),
                        (True, False): float(think_targets[1]),
                        (False, True): float(no_think_targets[0]),
                        (False, False): float(no_think_targets[1])}

    def score_batch(self, samples: Sequence[Sample]) -> list[float | None]:
        """The balanced scores of a batch (samples without ground truth score ``None`` and do
        not count toward the mode shares)."""
        return self.balanced([self.outcome(sample) for sample in samples])

    def balanced(self, outcomes: Sequence[tuple[bool, bool | None]]) -> list[float | None]:
        """The balanced scores of a batch of ``(thought, correct)`` outcomes."""
        judged = [thought for thought, correct in outcomes if correct is not None]
        share = {True: sum(judged) / len(judged) if judged else 0.0}
        share[False] = 1.0 - share[True] if judged else 0.0
        scores: list[float | None] = []
        for thought, correct in outcomes:
            if correct is None:
                scores.append(None)
                continue
            factor = min(max((share[thought] - self.balance_rate) * self.slope, 0.0), 1.0)
            base, target = self.base[thought, correct], self.targets[thought, correct]
            scores.append((1 - factor) * base + factor * target)
        return scores

    def explain(self, sample: Sample) -> RewardResult:
        """The score of the sample as a batch of one."""
        thought, correct = self.outcome(sample)
        return RewardResult(self.balanced([(thought, correct)])[0],
                            {"thought": thought, "correct": correct})
