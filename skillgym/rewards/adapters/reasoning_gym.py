"""reasoning-gym scoring: ``score_answer(answer, entry) -> float``.

reasoning-gym datasets score an extracted answer against an entry ``{"question", "answer",
"metadata"}``; a reward can stand in for (or wrap) a dataset's ``score_answer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skillgym.rewards.base import Reward, Sample
from skillgym.rewards.registry import resolve


class ReasoningGymScorer:
    """A reward as reasoning-gym's ``score_answer(answer, entry)``.

    Args:
        reward: a :class:`~skillgym.rewards.base.Reward` or a registered reward name.
        missing_score: the score when the reward has no signal (``None``).
        **config: the reward's configuration, when ``reward`` is a name.

    Example::

        import reasoning_gym
        from skillgym.rewards.adapters import ReasoningGymScorer

        data = reasoning_gym.create_dataset("basic_arithmetic", size=10, seed=0)
        score_answer = ReasoningGymScorer("accuracy")
        scores = [score_answer(model_answer, entry) for entry in data]
    """

    def __init__(self, reward: Reward | str, missing_score: float = 0.0, **config: Any) -> None:
        self.reward = resolve(reward, **config)
        self.missing_score = float(missing_score)
        self.__name__ = self.reward.name

    def __call__(self, answer: Any, entry: Any) -> float:
        """The score of ``answer`` for ``entry``."""
        entry = entry if isinstance(entry, Mapping) else {}
        metadata = entry.get("metadata")
        sample = Sample.build(answer, prompt=entry.get("question"),
                              ground_truth=entry.get("answer"),
                              extra=metadata if isinstance(metadata, Mapping) else None)
        score = self.reward.score(sample)
        return self.missing_score if score is None else float(score)
