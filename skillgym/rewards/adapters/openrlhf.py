"""OpenRLHF remote reward functions.

OpenRLHF loads ``reward_func(queries, prompts, labels, **kwargs)`` from the file given as
``--remote_rm_url``; ``queries`` are prompt + response texts, ``prompts`` the prompts and
``labels`` the dataset labels. It expects ``{"rewards": tensor, "scores": tensor,
"extra_logs": {name: tensor}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from skillgym.rewards.adapters.verl import logged_parts
from skillgym.rewards.base import Reward, Sample, as_text
from skillgym.rewards.registry import resolve


class OpenRLHFRewardFunction:
    """A reward as OpenRLHF's ``reward_func``.

    Args:
        reward: a :class:`~skillgym.rewards.base.Reward` or a registered reward name.
        missing_score: the score when the reward has no signal (``None``).
        **config: the reward's configuration, when ``reward`` is a name.

    In the file passed as ``--remote_rm_url``::

        from skillgym.rewards.adapters import OpenRLHFRewardFunction
        reward_func = OpenRLHFRewardFunction("weighted_sum",
                                             components={"accuracy": 1.0, "loop": 0.5})
    """

    def __init__(self, reward: Reward | str, missing_score: float = 0.0, **config: Any) -> None:
        self.reward = resolve(reward, **config)
        self.missing_score = float(missing_score)
        self.__name__ = self.reward.name

    def __call__(self, queries: Sequence[Any], prompts: Sequence[Any], labels: Sequence[Any],
                 **kwargs: Any) -> dict[str, Any]:
        """``{"rewards", "scores", "extra_logs"}`` as float32 tensors, one value per query."""
        import torch

        samples = []
        for query, prompt, label in zip(queries, prompts, labels, strict=True):
            query, prompt = as_text(query), as_text(prompt)
            # The query is the prompt followed by the response; keep the response only.
            response = query[len(prompt):] if prompt and query.startswith(prompt) else query
            samples.append(Sample.build(response, prompt=prompt, ground_truth=label))
        results = [self.reward.explain(sample) for sample in samples]
        scores = [self.missing_score if result.score is None else float(result.score)
                  for result in results]
        rewards = torch.tensor(scores, dtype=torch.float32)
        logs = {self.reward.name: rewards.clone()}
        parts = [logged_parts(result) for result in results]
        for label in parts[0] if parts else ():
            logs[label] = torch.tensor([part[label] for part in parts], dtype=torch.float32)
        return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": logs}
