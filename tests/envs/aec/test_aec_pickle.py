"""AEC envs survive pickling (as in stable-baselines3 checkpoints) and deep copies unchanged."""

from __future__ import annotations

import copy
import pickle

import cloudpickle
import numpy as np
import pytest

from skillgym.envs.aec.env import AECEnv
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.vector import AECVectorEnv

COPIERS = {
    "pickle": lambda env: pickle.loads(pickle.dumps(env)),
    "cloudpickle": lambda env: cloudpickle.loads(cloudpickle.dumps(env)),
    "deepcopy": copy.deepcopy,
}


def transcript(env: AECEnv, actions: np.random.Generator, steps: int) -> list:
    """Every step's (observation, reward, terminated, truncated, info), resetting at episode ends.

    Mostly the oracle's action, sometimes a random legal one, so that episodes both succeed and
    fail and several resets happen.
    """
    mask = env.action_masks()
    legal = np.flatnonzero(mask)
    out = []
    obs = env.machine.observe(env._top)
    for _ in range(steps):
        action = oracle(obs, mask) if actions.random() < 0.8 else actions.choice(legal)
        obs, reward, terminated, truncated, info = env.step(action)
        out.append(({k: np.asarray(v).tolist() for k, v in obs.items()}, reward, terminated,
                    truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            out.append(({k: np.asarray(v).tolist() for k, v in obs.items()}, info))
    return out


@pytest.mark.parametrize("copier", COPIERS)
@pytest.mark.parametrize("skill, level", [("ADD", 3), ("MUL", 3), ("EVAL", 3)])
def test_a_copied_env_continues_exactly_as_the_original(copier, skill, level):
    env = AECEnv(skill, level=level, grid_obs=True)
    env.reset(seed=5)
    transcript(env, np.random.default_rng(0), 7)  # mid-episode
    restored = COPIERS[copier](env)
    assert np.shares_memory(restored.machine.flat, restored.machine.grid)
    assert transcript(restored, np.random.default_rng(1), 150) == transcript(
        env, np.random.default_rng(1), 150
    )


@pytest.mark.parametrize("copier", COPIERS)
def test_a_copied_batched_env_continues_exactly_as_the_original(copier):
    env = AECVectorEnv(4, skill="ADD", level=2, reward_mode="digit")
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    legal = np.flatnonzero(env.action_masks()[0])
    for _ in range(5):
        env.step(rng.choice(legal, 4))
    restored = COPIERS[copier](env)
    for _ in range(60):
        actions = rng.choice(legal, 4)
        mine, theirs = restored.step(actions), env.step(actions)
        for key in mine[0]:
            np.testing.assert_array_equal(mine[0][key], theirs[0][key])
        for a, b in zip(mine[1:4], theirs[1:4], strict=True):
            np.testing.assert_array_equal(a, b)
        assert mine[4].keys() == theirs[4].keys()
        for key in mine[4]:
            assert mine[4][key].tolist() == theirs[4][key].tolist()
