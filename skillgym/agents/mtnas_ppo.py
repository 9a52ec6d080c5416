"""Multitask architecture search with stable-baselines3 PPO on ``MTNAS-Assemble-v0``.

PPO learns a slot-by-slot policy on the assembly environment; every finished episode is one
evaluation of the shared evaluator (so a weight-sharing supernet keeps training on the sampled
assignments, as in ENAS). The result has the same form as the other searchers'.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO

from skillgym.agents.mtnas_search import SearchHistory, SearchResult, finish_search
from skillgym.envs.mtnas.assemble import MTNASAssembleEnv
from skillgym.envs.mtnas.evaluator import Evaluator


class _RecordEpisodes(gym.Wrapper):
    """Records every finished episode's assignment and reward into a search history."""

    def __init__(self, env: MTNASAssembleEnv, history: SearchHistory, progress):
        super().__init__(env)
        self.history = history
        self.progress = progress

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        if terminated:
            self.history.record([info["assignment"]], [reward])
            if self.progress is not None:
                self.progress(self.history.evaluations)
        return observation, reward, terminated, truncated, info


def greedy_assignment(model: PPO, env: MTNASAssembleEnv) -> np.ndarray:
    """The assignment PPO's deterministic policy builds, without scoring it."""
    space = env.space_spec
    assignment = np.full(space.shape, space.num_options, dtype=np.int64)
    for cursor in range(env.slots):
        observation = np.append(assignment.reshape(-1), cursor)
        action, _ = model.predict(observation, deterministic=True)
        assignment[cursor // space.num_layers, cursor % space.num_layers] = int(action)
    return assignment


def ppo_search(
    evaluator: Evaluator,
    budget: int,
    episodes_per_update: int = 8,
    rerank: int = 5,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> SearchResult:
    """Train PPO for ``budget`` episodes (evaluations) and return the best re-scored candidate.

    Args:
        evaluator: the reward backend of the assembly environment.
        budget: episodes, i.e. evaluations (rounded up to whole PPO updates).
        episodes_per_update: episodes collected per PPO update.
        rerank: candidates re-scored at the end (with the policy's greedy assignment).
        seed: PPO's seed.
        progress: called with the number of evaluations after every episode.
    """
    if budget < 1 or episodes_per_update < 1:
        raise ValueError(
            f"budget and episodes_per_update must be >= 1, got {budget}, {episodes_per_update}"
        )
    env = MTNASAssembleEnv(evaluator)
    history = SearchHistory(env.space_spec)
    steps = env.slots * episodes_per_update
    model = PPO(
        "MlpPolicy", _RecordEpisodes(env, history, progress), n_steps=steps, batch_size=steps,
        n_epochs=4, gamma=1.0, learning_rate=3e-3, ent_coef=0.01, seed=seed, device="cpu",
    )
    model.learn(total_timesteps=budget * env.slots)
    return finish_search(history, evaluator, [greedy_assignment(model, env)], rerank)
