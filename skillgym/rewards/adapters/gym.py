"""A Gymnasium wrapper that scores a text environment's output with any reward."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

from skillgym.rewards.base import Reward, Sample, check_choice
from skillgym.rewards.registry import resolve


class TextRewardWrapper(gym.Wrapper):
    """Score each step's text output with a reward, replacing or adding to the env's reward.

    The output scored is the action (an agent that writes text, e.g. a ``spaces.Text`` action)
    or, with ``completion_key``, ``info[completion_key]`` (an env that generates the text
    itself). The prompt is the latest text observation, else ``info["prompt"]``; the ground
    truth is ``info["ground_truth"]`` of the step, else of the reset. The reward's score and
    details are added to ``info["reward_plugin"]``.

    Args:
        env: the environment to wrap.
        reward: a :class:`~skillgym.rewards.base.Reward` or a registered reward name.
        combine: ``"replace"`` the env's reward with the score, or ``"add"`` the score to it.
        completion_key: the ``info`` key holding the text to score; ``None`` scores the action.
        missing_score: the score when the reward has no signal (``None``).
        **config: the reward's configuration, when ``reward`` is a name.
    """

    def __init__(self, env: gym.Env, reward: Reward | str, *, combine: str = "replace",
                 completion_key: str | None = None, missing_score: float = 0.0,
                 **config: Any) -> None:
        check_choice("combine", combine, ("replace", "add"))
        super().__init__(env)
        self.reward = resolve(reward, **config)
        self.combine = combine
        self.completion_key = completion_key
        self.missing_score = float(missing_score)
        self._prompt: Any = None
        self._ground_truth: Any = None

    def _remember(self, observation: Any, info: dict[str, Any]) -> None:
        self._prompt = observation if isinstance(observation, str) else info.get("prompt",
                                                                                self._prompt)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env and remember its prompt and ground truth."""
        observation, info = self.env.reset(seed=seed, options=options)
        self._prompt = None
        self._remember(observation, info)
        self._ground_truth = info.get("ground_truth")
        return observation, info

    def step(self, action: Any):
        """Step the env and score its output."""
        observation, env_reward, terminated, truncated, info = self.env.step(action)
        completion = info.get(self.completion_key) if self.completion_key else action
        sample = Sample.build(completion, prompt=self._prompt,
                              ground_truth=info.get("ground_truth", self._ground_truth))
        result = self.reward.explain(sample)
        score = self.missing_score if result.score is None else float(result.score)
        info = {**info, "reward_plugin": {"name": self.reward.name, "score": result.score,
                                          "details": dict(result.details)}}
        reward: SupportsFloat = score if self.combine == "replace" else float(env_reward) + score
        self._remember(observation, info)
        return observation, reward, terminated, truncated, info
