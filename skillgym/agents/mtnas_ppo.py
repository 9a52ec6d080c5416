"""Multitask architecture search with stable-baselines3 PPO over the assembly MDP.

PPO learns the slot-by-slot policy of ``MTNAS-Assemble-v0``: an episode sets every (task, layer)
slot in turn, observing the slots set so far and the cursor, and earns the assignment's reward at
the last slot. Building an assignment draws on nothing but the policy, so the controller speaks
ask / tell like every other searcher: ``ask`` rolls out episodes with SB3's policy (the
observations the environment would give), ``tell`` hands back their rewards, and every
``episodes_per_update`` scored episodes fill SB3's rollout buffer for one PPO update
(``PPO.train``). It runs in :class:`~skillgym.agents.mtnas_search.Search` and so shares its batch
``prepare`` of the evaluator, its re-ranking and its exact checkpoints.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger

from skillgym.agents.mtnas_search import SearchResult, run_search
from skillgym.envs.mtnas.assemble import MTNASAssembleEnv
from skillgym.envs.mtnas.evaluator import Evaluation, Evaluator
from skillgym.envs.mtnas.modules import SearchSpace


class _NoRewards(Evaluator):
    """The space of an assembly env whose only use is its spaces: it is never stepped."""

    def __init__(self, space: SearchSpace):
        self.space = space

    def evaluate(self, assignments, rng=None) -> list[Evaluation]:
        raise RuntimeError("the controller's environment only describes spaces")


def _global_random() -> dict:
    """The global torch and numpy generators' states (SB3 samples and shuffles with them)."""
    kind, key, position, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": (kind, key.tolist(), position, has_gauss, gauss)}


def _set_global_random(state: dict) -> None:
    kind, key, position, has_gauss, gauss = state["numpy"]
    torch.set_rng_state(state["torch"])
    np.random.set_state((kind, np.asarray(key, dtype=np.uint32), position, has_gauss, gauss))


class PPOController:
    """SB3 PPO on the assembly MDP, as an ask/tell searcher.

    The controller keeps its own torch and numpy random states and swaps them in only while it
    samples or updates, so that it is reproducible however the caller uses the global
    generators, and its :meth:`state_dict` is complete.

    Args:
        space: the search space.
        episodes_per_update: scored episodes per PPO update (one rollout).
        learning_rate: Adam's step size.
        n_epochs: passes over each rollout.
        entropy_weight: PPO's entropy coefficient.
        seed: seeds the policy's initial weights and its sampling.
    """

    def __init__(
        self, space: SearchSpace, episodes_per_update: int = 8, learning_rate: float = 3e-3,
        n_epochs: int = 4, entropy_weight: float = 0.01, seed: int = 0,
    ):
        if episodes_per_update < 1:
            raise ValueError(f"episodes_per_update must be >= 1, got {episodes_per_update}")
        self.space = space
        self.episodes_per_update = episodes_per_update
        self.env = MTNASAssembleEnv(_NoRewards(space))
        steps = self.env.slots * episodes_per_update
        outer, outer_python = _global_random(), random.getstate()
        try:
            # PPO's seed sets the global generators; what they hold afterwards is ours.
            self.model = PPO(
                "MlpPolicy", self.env, n_steps=steps, batch_size=steps, n_epochs=n_epochs,
                gamma=1.0, learning_rate=learning_rate, ent_coef=entropy_weight, seed=seed,
                device="cpu",
            )
            self.random = _global_random()
        finally:
            _set_global_random(outer)
            random.setstate(outer_python)
        # Updates record their losses; nothing writes them.
        self.model.set_logger(Logger(folder=None, output_formats=[]))
        self.pending: list[dict[str, torch.Tensor]] = []
        self._asked: list[dict[str, torch.Tensor]] = []

    @contextmanager
    def _own_random(self) -> Iterator[None]:
        outer = _global_random()
        _set_global_random(self.random)
        try:
            yield
        finally:
            self.random = _global_random()
            _set_global_random(outer)

    def _roll_out(self, count: int, deterministic: bool) -> list[dict[str, torch.Tensor]]:
        """``count`` episodes of the policy: per episode, every step's observation, action,
        value and log-probability."""
        slots, options = self.env.slots, self.space.num_options
        chosen = np.full((count, slots), options, dtype=np.int64)
        steps = []
        policy = self.model.policy
        policy.set_training_mode(False)
        with self._own_random(), torch.no_grad():
            for cursor in range(slots):
                observation = np.concatenate([chosen, np.full((count, 1), cursor)], axis=1)
                actions, values, log_probs = policy(
                    policy.obs_to_tensor(observation)[0], deterministic=deterministic
                )
                chosen[:, cursor] = actions.numpy()
                steps.append((observation, actions, values.reshape(-1), log_probs))
        return [
            {"observations": torch.as_tensor(np.stack([step[0][e] for step in steps])),
             "actions": torch.stack([step[1][e] for step in steps]),
             "values": torch.stack([step[2][e] for step in steps]),
             "log_probs": torch.stack([step[3][e] for step in steps])}
            for e in range(count)
        ]

    def _assignment(self, episode: dict[str, torch.Tensor]) -> np.ndarray:
        return episode["actions"].numpy().reshape(self.space.shape)

    def ask(self, count: int) -> list[np.ndarray]:
        """``count`` assignments sampled from the policy."""
        self._asked = self._roll_out(count, deterministic=False)
        return [self._assignment(episode) for episode in self._asked]

    def tell(self, assignments: Sequence[np.ndarray], rewards: Sequence[float]) -> None:
        """Keep the scored episodes; update PPO on every full rollout of them."""
        if len(assignments) != len(self._asked) or not all(
            np.array_equal(a, self._assignment(e)) for a, e in zip(assignments, self._asked,
                                                                    strict=True)):
            raise ValueError("tell() must receive the assignments of the last ask(), in order")
        for episode, reward in zip(self._asked, rewards, strict=True):
            self.pending.append({**episode, "reward": torch.tensor(float(reward))})
        self._asked = []
        while len(self.pending) >= self.episodes_per_update:
            self._update(self.pending[: self.episodes_per_update])
            self.pending = self.pending[self.episodes_per_update:]

    def _update(self, episodes: list[dict[str, torch.Tensor]]) -> None:
        buffer = self.model.rollout_buffer
        buffer.reset()
        last = self.env.slots - 1
        for episode in episodes:
            for cursor in range(self.env.slots):
                buffer.add(
                    episode["observations"][cursor : cursor + 1].numpy(),
                    episode["actions"][cursor : cursor + 1].numpy(),
                    np.array([float(episode["reward"]) if cursor == last else 0.0]),
                    np.array([cursor == 0]),
                    episode["values"][cursor : cursor + 1],
                    episode["log_probs"][cursor : cursor + 1],
                )
        # Every rollout ends with a finished episode: no value to bootstrap from.
        buffer.compute_returns_and_advantage(last_values=torch.zeros(1), dones=np.ones(1))
        with self._own_random():
            self.model.train()

    def recommend(self) -> list[np.ndarray]:
        """The assignment the deterministic policy builds."""
        return [self._assignment(self._roll_out(1, deterministic=True)[0])]

    def state_dict(self) -> dict:
        """The policy, its optimiser, the random states and the episodes not yet trained on."""
        return {"policy": self.model.policy.state_dict(),
                "optimizer": self.model.policy.optimizer.state_dict(),
                "random": self.random, "pending": self.pending,
                "updates": self.model._n_updates}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.model.policy.load_state_dict(state["policy"])
        self.model.policy.optimizer.load_state_dict(state["optimizer"])
        self.random = state["random"]
        self.pending = list(state["pending"])
        self.model._n_updates = state["updates"]


def ppo_search(
    evaluator: Evaluator,
    budget: int,
    episodes_per_update: int = 8,
    rerank: int = 5,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> SearchResult:
    """Search with a :class:`PPOController` for ``budget`` evaluations, in rounds of one rollout.

    Args:
        evaluator: the reward backend.
        budget: episodes, i.e. evaluations.
        episodes_per_update: episodes per PPO update, and per search round.
        rerank: candidates re-scored at the end (with the policy's greedy assignment).
        seed: PPO's seed.
        progress: called with the number of evaluations after every round.
    """
    controller = PPOController(evaluator.space, episodes_per_update, seed=seed)
    return run_search(controller, evaluator, budget, episodes_per_update, rerank, progress)
