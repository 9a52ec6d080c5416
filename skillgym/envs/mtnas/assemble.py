"""``skillgym/MTNAS-Assemble-v0``: assemble a multitask network one (task, layer) slot at a time."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from skillgym.envs.mtnas.evaluator import Evaluation, Evaluator
from skillgym.envs.mtnas.supernet import synthetic_supernet


def evaluation_info(evaluation: Evaluation, assignment: np.ndarray) -> dict[str, Any]:
    """The ``info`` of a scored assignment (shared by every mtnas environment). Whether the
    score came from the evaluator's cache is left out: it depends on earlier episodes (of this
    env or of any other sharing the evaluator), not on the seed and the actions; the envs count
    it in ``cache_hits`` instead."""
    return {
        "accuracy": dict(evaluation.validation),
        "mean_accuracy": evaluation.mean,
        "shared_parameters": evaluation.shared_parameters,
        "assignment": assignment.copy(),
    }


class MTNASAssembleEnv(gym.Env):
    """
    ## Description

    A controller assembles one network per task from a shared pool of module instances
    (Chen et al. 2018, "Exploring Shared Structures and Hierarchies for Multiple NLP Tasks"):
    each step chooses the module of one (task, layer) slot, task by task, layer by layer. Tasks
    that choose the same instance share its weights. When every slot is set, the assignment is
    scored by the evaluator (by default an ENAS-style weight-sharing supernet on the built-in
    synthetic corpus) and the episode ends.

    ## Action Space

    `Discrete(num_options)`: an index into the pool of the current layer (`0 .. len(pool) - 1`)
    or `len(pool)`, the task's private module.

    ## Observation Space

    `MultiDiscrete([num_options + 1] * slots + [slots + 1])`, flat: the option of every slot
    in task-major order (`num_options` marks a slot not chosen yet), then the cursor (the index
    of the next slot to set; `slots` once the episode is over).

    ## Rewards

    0 for every step but the last; the last step's reward is the mean **validation** accuracy
    over tasks of the completed assignment. Test data never enters the reward.

    ## Starting State

    Every slot unset, cursor 0.

    ## Episode End

    Terminates after `tasks × layers` steps. No truncation.

    ## Info

    The last step's `info` holds `accuracy` (per task), `mean_accuracy`, `shared_parameters`
    (parameters used by two or more tasks) and `assignment` (`tasks × layers` array). How many
    scores came from the evaluator's cache is the attribute `cache_hits` (it depends on earlier
    episodes, not on the seed and actions, so it stays out of `info`).

    ## Arguments

    * `evaluator`: an :class:`~skillgym.envs.mtnas.evaluator.Evaluator` (supernet, table, or
      reference); `None` builds :func:`~skillgym.envs.mtnas.supernet.synthetic_supernet`.
    * `seed`: the seed of that default supernet (its weights and batches); the evaluator's state
      persists across episodes, as the shared weights keep training.
    """

    metadata = {"render_modes": []}

    def __init__(self, evaluator: Evaluator | None = None, seed: int = 0):
        self.evaluator = evaluator if evaluator is not None else synthetic_supernet(seed)
        self.space_spec = self.evaluator.space
        tasks, layers = self.space_spec.shape
        self.slots = tasks * layers
        options = self.space_spec.num_options
        self.action_space = spaces.Discrete(options)
        self.observation_space = spaces.MultiDiscrete(
            [options + 1] * self.slots + [self.slots + 1], dtype=np.int64
        )
        self._assignment = np.full(self.space_spec.shape, options, dtype=np.int64)
        self._cursor = self.slots
        self.cache_hits = 0

    def _observation(self) -> np.ndarray:
        return np.append(self._assignment.reshape(-1), self._cursor)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Clear every slot; ``seed`` seeds ``np_random`` (used by stochastic evaluators)."""
        super().reset(seed=seed)
        self._assignment.fill(self.space_spec.num_options)
        self._cursor = 0
        return self._observation(), {}

    def step(self, action):
        """Set the current slot to ``action``; score the assignment once all slots are set."""
        if self._cursor >= self.slots:
            raise RuntimeError("the episode is over: call reset() before step()")
        option = int(action)
        if option != action or not 0 <= option < self.action_space.n:
            raise ValueError(
                f"action must be an integer in 0..{self.action_space.n - 1}, got {action!r}"
            )
        layers = self.space_spec.num_layers
        self._assignment[self._cursor // layers, self._cursor % layers] = option
        self._cursor += 1
        if self._cursor < self.slots:
            return self._observation(), 0.0, False, False, {}
        evaluation = self.evaluator.reward(self._assignment, self.np_random)
        self.cache_hits += int(evaluation.cache_hit)
        info = evaluation_info(evaluation, self._assignment)
        return self._observation(), evaluation.mean, True, False, info
