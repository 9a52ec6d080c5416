"""Accuracy reward: is the extracted final answer equal to the ground truth."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from skillgym.rewards.base import (
    Reward,
    RewardResult,
    Sample,
    check_choice,
    check_int,
    check_number,
)
from skillgym.rewards.parsing import EXTRACTION_STYLES, extract_answer
from skillgym.rewards.verifier import DeadlineRunner, answers_match, check_deadline

Verifier = Callable[[str, Any], "bool | None"]


def resolve_verifier(verifier: str | Verifier) -> Verifier:
    """``"exact"`` (:func:`~skillgym.rewards.verifier.answers_match`), a callable, or the
    ``"module:function"`` path of one."""
    if callable(verifier):
        return verifier
    if verifier == "exact":
        return answers_match
    if isinstance(verifier, str) and ":" in verifier:
        module, _, attribute = verifier.partition(":")
        try:
            found = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"verifier {verifier!r} cannot be imported: {error}") from error
        if callable(found):
            return found
    raise ValueError(
        f"verifier must be 'exact', a callable or a 'module:function' path, got {verifier!r}"
    )


class AccuracyReward(Reward):
    """Score whether a response's final answer (Keye evaluator order) matches the ground truth.

    The verifier runs under a wall-clock ``deadline`` on a small thread pool, so a slow or hung
    verifier (e.g. a symbolic-math library on adversarial input) costs at most the deadline and
    scores ``timeout_score``; this works from any thread, unlike ``signal.alarm``. A sample
    without ground truth scores ``None`` (no signal), which TRL skips.

    Args:
        verifier: ``"exact"`` (exact arithmetic on integers, decimals, fractions and simple
            expressions, else normalized text), a callable ``(predicted, gold) -> bool``, or its
            ``"module:function"`` path.
        deadline: seconds the verifier may take.
        timeout_score: the score when the verifier misses the deadline or raises.
        correct_score: the score of a correct answer.
        wrong_score: the score of a wrong answer.
        workers: threads in the verifier pool.
        extraction: ``"skillgym"`` (Keye's evaluator order without its quirks, stripped) or
            ``"keye"`` (Keye's evaluator character for character, to reproduce its benchmark
            numbers); see :func:`~skillgym.rewards.parsing.extract_answer`.
    """

    name = "accuracy"

    def __init__(self, verifier: str | Verifier = "exact", deadline: float = 1.0,
                 timeout_score: float = 0.0, correct_score: float = 1.0,
                 wrong_score: float = 0.0, workers: int = 1,
                 extraction: str = "skillgym") -> None:
        check_deadline(deadline)
        check_choice("extraction", extraction, EXTRACTION_STYLES)
        for argument, value in (("timeout_score", timeout_score),
                                ("correct_score", correct_score), ("wrong_score", wrong_score)):
            check_number(argument, value)
        check_int("workers", workers, 1)
        self.verifier = verifier
        self._verify = resolve_verifier(verifier)
        self.deadline = float(deadline)
        self.timeout_score = float(timeout_score)
        self.correct_score = float(correct_score)
        self.wrong_score = float(wrong_score)
        self.extraction = extraction
        self._runner = DeadlineRunner(workers=workers)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_verify")  # re-resolved from `verifier`, which may be a lambda-free path
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._verify = resolve_verifier(self.verifier)

    def _judge(self, sample: Sample) -> tuple[str, bool | None, bool]:
        """The extracted answer, the verifier's verdict and whether it finished in time."""
        answer = extract_answer(sample.completion, style=self.extraction)
        verdict, finished = self._runner.run(self._verify, (answer, sample.ground_truth),
                                             self.deadline, None)
        return answer, (None if verdict is None else bool(verdict)), finished

    def correct(self, sample: Sample) -> bool | None:
        """Whether the answer is correct: ``None`` without ground truth; ``False`` when the
        verifier misses its deadline or fails."""
        if sample.ground_truth is None:
            return None
        _, verdict, finished = self._judge(sample)
        return verdict if finished else False

    def explain(self, sample: Sample) -> RewardResult:
        """Score the sample; details give the extracted answer and whether the verifier finished."""
        if sample.ground_truth is None:
            return RewardResult(None, {"reason": "no ground truth"})
        answer, verdict, finished = self._judge(sample)
        details = {"answer": answer, "finished": finished}
        if not finished:
            return RewardResult(self.timeout_score, details)
        if verdict is None:
            return RewardResult(None, {**details, "reason": "empty ground truth"})
        return RewardResult(self.correct_score if verdict else self.wrong_score, details)
