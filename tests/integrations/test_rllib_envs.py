"""The parts of the RLlib integration that need no RLlib: the env creators, LegalActions, lazy
imports and the missing-extra message. Unlike test_rllib.py these run in the main venv too (it
has the ray extra: Ray and Tune, none of RLlib's dependencies)."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import skillgym  # noqa: F401
from skillgym.envs.aec import oracle
from skillgym.integrations.rllib import LegalActions, make_env, skillgym_ids

AEC = "skillgym/AEC-Add-v0"


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_the_rllib_integration_never_imports_ray():
    code = ("import sys, skillgym, skillgym.integrations, skillgym.integrations.rllib as r;"
            " r.flatten_observations(); r.skillgym_ids(); r.make_env('skillgym/AEC-Add-v0');"
            " print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    assert run(code) == "[]"


def test_without_rllib_registering_names_the_extra_to_install():
    code = ("try:\n import ray.rllib\n print('rllib')\nexcept ImportError:\n"
            " from skillgym.integrations.rllib import register_rllib_envs\n"
            " try:\n  register_rllib_envs()\n except ImportError as error:\n  print(error)")
    out = run(code)
    if out == "rllib":
        pytest.skip("RLlib is installed here: tests/integrations/test_rllib.py covers it")
    assert "pip install 'skillgym[rllib]'" in out


def test_the_ids_are_gymnasiums_skillgym_ids():
    assert skillgym_ids() == [name for name in gym.registry if name.startswith("skillgym/")]


def test_the_creator_passes_env_config_to_the_env():
    env = make_env(AEC, {"level": 2, "reward_mode": "digit"})
    assert env.spec.id == AEC
    assert (env.unwrapped.level, env.unwrapped.reward_mode) == (2, "digit")
    with pytest.raises(ValueError, match="reward_mode"):
        make_env(AEC, {"reward_mode": "dense"})


@pytest.mark.parametrize(("env_id", "batched"), [(AEC, "AECVectorEnv"),
                                                 ("skillgym/AEC-Carry-v0", "SyncVectorEnv")])
def test_num_envs_makes_the_batched_twin_where_there_is_one(env_id, batched):
    envs = make_env(env_id, {"num_envs": 3, "level": 1})
    assert type(envs).__name__ == batched and envs.num_envs == 3
    single = gym.make(env_id, level=1)
    assert envs.single_observation_space == single.observation_space
    observations, _ = envs.reset(seed=5)
    first, _ = single.reset(seed=5)
    assert all(np.array_equal(observations[key][0], first[key]) for key in first)
    envs.close()


# check_env warns that it is given a wrapper, which here is the point
@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version:UserWarning")
def test_legal_actions_replays_the_oracle_with_the_masked_choices_only():
    base = gym.make(AEC, level=2)
    env = make_env(AEC, {"level": 2, "legal_actions": True})
    assert isinstance(env, LegalActions)
    mask = base.unwrapped.action_masks()
    assert env.action_space == gym.spaces.Discrete(int(mask.sum()))
    assert np.array_equal(env.legal, np.flatnonzero(mask))
    check_env(env, skip_render_check=True)
    for seed in range(5):
        observation, _ = env.reset(seed=seed)
        done, steps, total = False, 0, 0.0
        while not done:
            choice = int(np.flatnonzero(env.legal == oracle(observation))[0])
            observation, reward, terminated, truncated, info = env.step(choice)
            done, steps, total = terminated or truncated, steps + 1, total + reward
        assert terminated and info["is_success"] and total == 1.0
        # every choice of the wrapper is an action the mask allows: nothing is illegal
        for choice in range(env.action_space.n):
            env.reset(seed=seed)
            assert not env.step(choice)[-1].get("illegal_action", False)


def test_legal_actions_refuses_envs_without_masks_and_with_vector_mode():
    with pytest.raises(ValueError, match="action_masks"):
        LegalActions(gym.make("skillgym/Copy-v1"))
    with pytest.raises(ValueError, match="gym_env_vectorize_mode='sync'"):
        make_env(AEC, {"legal_actions": True, "num_envs": 2})
