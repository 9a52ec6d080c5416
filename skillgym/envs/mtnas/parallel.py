"""The multi-agent form: one agent per task chooses that task's modules (PettingZoo).

Following Routing Networks' one-agent-per-task framing, every task is an agent that picks its
own column of modules; all agents act at once each round, the joint assignment is scored, and
each agent is rewarded for a mix of its own task's accuracy and the mean over tasks.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from skillgym.envs.mtnas.evaluator import Evaluator
from skillgym.envs.mtnas.supernet import synthetic_supernet
from skillgym.envs.rendering import TEXT_RENDER_MODES, text_to_rgb


class MTNASParallelEnv(ParallelEnv):
    """
    ## Description

    One agent per task (named after the task). Each round, every agent chooses its task's
    module at every layer; the joint assignment is scored by the evaluator, and the agents see
    it in the next round's observation, so they can coordinate sharing over ``max_cycles``
    rounds.

    ## Action Space

    Per agent `MultiDiscrete([num_options] * layers)`: its task's option at every layer
    (option `len(pool)` is its private module).

    ## Observation Space

    Per agent (the same global view) `MultiDiscrete([num_options + 1] * (tasks × layers) +
    [max_cycles + 1])`: the last round's assignment in task-major order (`num_options` before
    the first round), then the round index. `state()` returns this same vector and
    `state_space` is this space: the observation is already global, so a centralised critic
    needs nothing more.

    ## Rewards

    Agent `i` receives `alpha · acc_i + (1 − alpha) · mean_j acc_j` every round, accuracies being
    **validation** accuracies of that round's assignment.

    ## Starting State

    No assignment yet (every slot `num_options`), round 0.

    ## Episode End

    Every agent terminates (not truncates: the round index is part of the observation, so the
    horizon belongs to the problem) after `max_cycles` rounds.

    ## Info

    Per agent: `accuracy` (its task's), `mean_accuracy`, `shared_parameters`. Whether a score
    came from the evaluator's cache depends on earlier episodes, not on the seed and actions, so
    it is counted in the attribute `cache_hits` instead (rounds scored from the cache since
    construction).

    ## Arguments

    * `evaluator`: an evaluator; `None` builds the synthetic-corpus supernet.
    * `alpha`: the weight of an agent's own accuracy, in [0, 1].
    * `max_cycles`: the rounds per episode, K ≥ 1 (PettingZoo's name for the episode length).
    * `seed`: the seed of the default supernet.
    * `render_mode`: `None`, `"ansi"` (`render()` returns the round and every task's modules as
      text), `"human"` (that text printed after every reset and round) or `"rgb_array"` (the
      text as a picture).
    """

    metadata = {
        "name": "mtnas_parallel_v0",
        "render_modes": list(TEXT_RENDER_MODES),
        "is_parallelizable": True,
    }

    def __init__(
        self, evaluator: Evaluator | None = None, alpha: float = 0.5, max_cycles: int = 3,
        seed: int = 0, render_mode: str | None = None,
    ):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if isinstance(max_cycles, bool) or not isinstance(max_cycles, int | np.integer) or (
            max_cycles < 1
        ):
            raise ValueError(f"max_cycles must be an integer >= 1, got {max_cycles!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.evaluator = evaluator if evaluator is not None else synthetic_supernet(seed)
        self.space_spec = self.evaluator.space
        self.alpha = float(alpha)
        self.max_cycles = int(max_cycles)
        self.render_mode = render_mode
        self.possible_agents = list(self.space_spec.tasks)
        self.agents: list[str] = []
        self.cache_hits = 0
        options = self.space_spec.num_options
        tasks, layers = self.space_spec.shape
        self._observation_space = spaces.MultiDiscrete(
            [options + 1] * (tasks * layers) + [self.max_cycles + 1], dtype=np.int64
        )
        self.state_space = self._observation_space
        self._action_space = spaces.MultiDiscrete([options] * layers, dtype=np.int64)
        self._assignment = np.full(self.space_spec.shape, options, dtype=np.int64)
        self._round = 0
        self._rng = np.random.default_rng()

    def _check_agent(self, agent: str) -> None:
        if agent not in self.possible_agents:
            raise KeyError(f"agent must be one of {self.possible_agents}, got {agent!r}")

    def observation_space(self, agent: str) -> spaces.MultiDiscrete:
        """Every agent sees the whole assignment and the round index; KeyError for an unknown
        agent."""
        self._check_agent(agent)
        return self._observation_space

    def action_space(self, agent: str) -> spaces.MultiDiscrete:
        """An agent chooses its task's option at every layer; KeyError for an unknown agent."""
        self._check_agent(agent)
        return self._action_space

    def state(self) -> np.ndarray:
        """The global state: the last round's assignment (task-major) and the round index."""
        return np.append(self._assignment.reshape(-1), self._round)

    def _observations(self) -> dict[str, np.ndarray]:
        observation = self.state()
        return {agent: observation.copy() for agent in self.agents}

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode; ``seed`` seeds the randomness handed to stochastic evaluators."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._assignment.fill(self.space_spec.num_options)
        self._round = 0
        if self.render_mode == "human":
            self.render()
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
        self.cache_hits += int(evaluation.cache_hit)
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
                "shared_parameters": evaluation.shared_parameters,
            }
        observations = self._observations()
        done = self._round >= self.max_cycles
        terminations = {agent: done for agent in self.agents}
        truncations = {agent: False for agent in self.agents}
        if done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    def render(self) -> str | np.ndarray | None:
        """The round and every task's module at every layer, in the ``render_mode`` chosen."""
        if self.render_mode is None:
            gymnasium.logger.warn(
                f"render() needs a render_mode {self.metadata['render_modes']} at construction"
            )
            return None
        if self.render_mode == "rgb_array":
            return text_to_rgb(self._text())
        if self.render_mode == "human":
            print(self._text())
            return None
        return self._text()

    def _text(self) -> str:
        """A table of module names, one row per task (``-``: not chosen yet), under the round."""
        space = self.space_spec
        rows = [["task", *(f"layer {layer}" for layer in range(space.num_layers))]]
        for task, options in zip(space.tasks, self._assignment, strict=True):
            rows.append([
                task,
                *("-" if option == space.num_options else space.option_name(option)
                  for option in options),
            ])
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        return "\n".join([f"round {self._round} of {self.max_cycles}", *lines])


def parallel_env(**kwargs) -> MTNASParallelEnv:
    """The PettingZoo parallel environment (keyword arguments as :class:`MTNASParallelEnv`)."""
    return MTNASParallelEnv(**kwargs)


def env(**kwargs):
    """The PettingZoo AEC form of :func:`parallel_env` (agents act in turn within a round)."""
    return parallel_to_aec(parallel_env(**kwargs))
