"""``skillgym/MTNAS-OneShot-v0``: choose a whole multitask assignment in one bandit step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from skillgym.envs.mtnas.assemble import evaluation_info
from skillgym.envs.mtnas.evaluator import Evaluator
from skillgym.envs.mtnas.supernet import synthetic_supernet


class MTNASOneShotEnv(gym.Env):
    """
    ## Description

    The one-step bandit form of :class:`~skillgym.envs.mtnas.assemble.MTNASAssembleEnv`: the
    action is the module of every (task, layer) slot at once, scored by the evaluator.

    ## Action Space

    `MultiDiscrete([num_options] * (tasks × layers))`, flat in task-major order; option
    `len(pool)` is the task's private module.

    ## Observation Space

    `Discrete(1)`: a bandit has no state; the observation is always 0.

    ## Rewards

    Mean **validation** accuracy over tasks of the chosen assignment.

    ## Starting State

    The constant observation 0.

    ## Episode End

    Terminates after one step.

    ## Info

    `accuracy` (per task), `mean_accuracy`, `shared_parameters`, `assignment`. As in every mtnas
    env, whether the score came from the evaluator's cache is counted in the attribute
    `cache_hits`, not in `info`: a one-step episode's info must depend only on the seed and the
    action (Gymnasium's determinism check).

    ## Arguments

    * `evaluator`: an evaluator; `None` builds the synthetic-corpus supernet.
    * `seed`: the seed of that default supernet.
    """

    metadata = {"render_modes": []}

    def __init__(self, evaluator: Evaluator | None = None, seed: int = 0):
        self.evaluator = evaluator if evaluator is not None else synthetic_supernet(seed)
        self.space_spec = self.evaluator.space
        tasks, layers = self.space_spec.shape
        self.action_space = spaces.MultiDiscrete(
            [self.space_spec.num_options] * (tasks * layers), dtype=np.int64
        )
        self.observation_space = spaces.Discrete(1)
        self.cache_hits = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start the (one-step) episode; ``seed`` seeds ``np_random``."""
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        """Score the assignment ``action`` (reshaped to tasks × layers)."""
        flat = np.asarray(action)
        if flat.shape != self.action_space.shape:
            raise ValueError(
                f"action must have shape {self.action_space.shape} (tasks × layers, flat), "
                f"got {flat.shape}"
            )
        assignment = self.space_spec.validate(flat.reshape(self.space_spec.shape))
        evaluation = self.evaluator.reward(assignment, self.np_random)
        self.cache_hits += int(evaluation.cache_hit)
        return 0, evaluation.mean, True, False, evaluation_info(evaluation, assignment)
