"""The multi-agent form: one agent per task chooses that task's modules (PettingZoo).

Following Routing Networks' one-agent-per-task framing, every task is an agent that picks its
own column of modules; all agents act at once each round, the joint assignment is scored, and
each agent is rewarded for a mix of its own task's accuracy and the mean over tasks.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from skillgym.envs.mtnas.evaluator import Evaluator
from skillgym.envs.mtnas.supernet import synthetic_supernet


class MTNASParallelEnv(ParallelEnv):
    """
    ## Description

    One agent per task (named after the task). Each round, every agent chooses its task's
    module at every layer; the joint assignment is scored by the evaluator, and the agents see
    it in the next round's observation, so they can coordinate sharing over ``rounds`` rounds.

    ## Action Space

    Per agent `MultiDiscrete([num_options] * layers)`: its task's option at every layer
    (option `len(pool)` is its private module).

    ## Observation Space

    Per agent (the same global view) `MultiDiscrete([num_options + 1] * (tasks × layers) +
    [rounds + 1])`: the last round's assignment in task-major order (`num_options` before the
    first round), then the round index.

    ## Rewards

    Agent `i` receives `alpha · acc_i + (1 − alpha) · mean_j acc_j` every round, accuracies being
    **validation** accuracies of that round's assignment.

    ## Starting State

    No assignment yet (every slot `num_options`), round 0.

    ## Episode End

    Every agent terminates after `rounds` rounds.

    ## Info

    Per agent: `accuracy` (its task's), `mean_accuracy`, `cache_hit`, `shared_parameters`.

    ## Arguments

    * `evaluator`: an evaluator; `None` builds the synthetic-corpus supernet.
    * `alpha`: the weight of an agent's own accuracy, in [0, 1].
    * `rounds`: the rounds per episode, K ≥ 1.
    * `seed`: the seed of the default supernet.
    """

    metadata = {"name": "mtnas_parallel_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self, evaluator: Evaluator | None = None, alpha: float = 0.5, rounds: int = 3,
        seed: int = 0,
    ):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        self.evaluator = evaluator if evaluator is not None else synthetic_supernet(seed)
        self.space_spec = self.evaluator.space
        self.alpha = float(alpha)
        self.rounds = int(rounds)
        self.possible_agents = list(self.space_spec.tasks)
        self.agents: list[str] = []
        self.render_mode = None
        options = self.space_spec.num_options
        tasks, layers = self.space_spec.shape
        self._observation_space = spaces.MultiDiscrete(
            [options + 1] * (tasks * layers) + [self.rounds + 1], dtype=np.int64
        )
        self._action_space = spaces.MultiDiscrete([options] * layers, dtype=np.int64)
        self._assignment = np.full(self.space_spec.shape, options, dtype=np.int64)
        self._round = 0
        self._rng = np.random.default_rng()

    def observation_space(self, agent: str) -> spaces.MultiDiscrete:
        """Every agent sees the whole assignment and the round index."""
        return self._observation_space

    def action_space(self, agent: str) -> spaces.MultiDiscrete:
        """An agent chooses its task's option at every layer."""
        return self._action_space

    def _observations(self) -> dict[str, np.ndarray]:
        observation = np.append(self._assignment.reshape(-1), self._round)
        return {agent: observation.copy() for agent in self.agents}

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode; ``seed`` seeds the randomness handed to stochastic evaluators."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._assignment.fill(self.space_spec.num_options)
        self._round = 0
        return self._observations(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, np.ndarray]):
        """Score the joint assignment of this round's ``actions`` (one per live agent)."""
        if not self.agents:
            raise RuntimeError("the episode is over: call reset() before step()")
        missing = [agent for agent in self.agents if agent not in actions]
        unknown = [agent for agent in actions if agent not in self.agents]
        if missing or unknown:
            raise ValueError(
                f"actions must have one entry per agent {self.agents}; "
                f"missing {missing}, unknown {unknown}"
            )
        rows = []
        for agent in self.agents:
            row = np.asarray(actions[agent])
            if row.shape != self._action_space.shape:
                raise ValueError(
                    f"action of agent {agent!r} must have shape {self._action_space.shape} "
                    f"(one option per layer), got {row.shape}"
                )
            rows.append(row)
        assignment = self.space_spec.validate(np.stack(rows))
        evaluation = self.evaluator.reward(assignment, self._rng)
        self._assignment[:] = assignment
        self._round += 1
        mean = evaluation.mean
        rewards, infos = {}, {}
        for agent in self.agents:
            own = evaluation.validation[agent]
            rewards[agent] = self.alpha * own + (1.0 - self.alpha) * mean
            infos[agent] = {
                "accuracy": own,
                "mean_accuracy": mean,
                "cache_hit": evaluation.cache_hit,
                "shared_parameters": evaluation.shared_parameters,
            }
        observations = self._observations()
        done = self._round >= self.rounds
        terminations = {agent: done for agent in self.agents}
        truncations = {agent: False for agent in self.agents}
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos


def parallel_env(**kwargs) -> MTNASParallelEnv:
    """The PettingZoo parallel environment (keyword arguments as :class:`MTNASParallelEnv`)."""
    return MTNASParallelEnv(**kwargs)


def env(**kwargs):
    """The PettingZoo AEC form of :func:`parallel_env` (agents act in turn within a round)."""
    return parallel_to_aec(parallel_env(**kwargs))
