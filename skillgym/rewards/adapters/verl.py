"""verl reward functions.

verl's reward managers call a custom ``compute_score(data_source, solution_str, ground_truth,
extra_info=None)`` for each response (the naive manager), or
``compute_score(data_sources=..., solution_strs=..., ground_truths=..., extra_infos=...)`` for a
batch (the batch manager). Each result is a float, or a dict whose ``score`` is the reward and
whose other keys are logged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skillgym.rewards.base import Reward, RewardResult, Sample
from skillgym.rewards.registry import resolve


def logged_parts(result: RewardResult) -> dict[str, float]:
    """The per-component scores of a composed reward, as flat ``{label: score}`` (``nan`` when
    a component has none), so that every sample logs the same keys."""
    return {label: float("nan") if part.get("score") is None else float(part["score"])
            for label, part in result.details.items()
            if isinstance(part, Mapping) and "score" in part}


class VerlComputeScore:
    """A reward as verl's ``compute_score`` (single response) and ``batch`` (batch manager).

    Args:
        reward: a :class:`~skillgym.rewards.base.Reward` or a registered reward name.
        return_dict: return ``{"score": ..., <component scores>}`` instead of a float.
        missing_score: the score when the reward has no signal (``None``).
        **config: the reward's configuration, when ``reward`` is a name.

    ``extra_info`` entries become sample context; its ``prompt`` (or ``question``) is read for
    the mode switches. In the file named by verl's ``custom_reward_function.path``::

        from skillgym.rewards.adapters import VerlComputeScore
        compute_score = VerlComputeScore("accuracy")
    """

    def __init__(self, reward: Reward | str, return_dict: bool = False,
                 missing_score: float = 0.0, **config: Any) -> None:
        self.reward = resolve(reward, **config)
        self.return_dict = bool(return_dict)
        self.missing_score = float(missing_score)
        self.__name__ = self.reward.name

    @staticmethod
    def sample(data_source: Any, solution_str: Any, ground_truth: Any,
               extra_info: Any = None) -> Sample:
        """verl's arguments as a sample."""
        extra = dict(extra_info) if isinstance(extra_info, Mapping) else {}
        prompt = extra.pop("prompt", None) or extra.get("question")
        return Sample.build(solution_str, prompt=prompt, ground_truth=ground_truth,
                            extra={"data_source": data_source, **extra})

    def _output(self, result: RewardResult) -> float | dict[str, float]:
        score = self.missing_score if result.score is None else float(result.score)
        return {"score": score, **logged_parts(result)} if self.return_dict else score

    def __call__(self, data_source: Any, solution_str: Any, ground_truth: Any,
                 extra_info: Any = None, **kwargs: Any) -> float | dict[str, float]:
        """The score of one response (verl passes these positionally or by keyword)."""
        sample = self.sample(data_source, solution_str, ground_truth, extra_info)
        if self.return_dict:
            return self._output(self.reward.explain(sample))
        return self._output(RewardResult(self.reward.score(sample)))

    def batch(self, data_sources: Sequence[Any], solution_strs: Sequence[Any],
              ground_truths: Sequence[Any], extra_infos: Sequence[Any] | None = None,
              **kwargs: Any) -> list[float | dict[str, float]]:
        """The scores of a batch (verl's batch reward manager)."""
        extras = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
        samples = [self.sample(*fields) for fields in
                   zip(data_sources, solution_strs, ground_truths, extras, strict=True)]
        if self.return_dict:
            return [self._output(self.reward.explain(sample)) for sample in samples]
        return [self._output(RewardResult(score)) for score in self.reward.score_batch(samples)]
