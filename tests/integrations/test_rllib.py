"""skillgym's environments in RLlib (the rllib extra): every id registered, one PPO iteration on an
AEC skill (single env, and the natively batched twin against Gymnasium's copies) and one on the
PettingZoo multitask env."""

from __future__ import annotations

import math
import os

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ray.rllib", reason="the rllib extra is not installed (see `make test-rllib`)")
import ray  # noqa: E402
import torch  # noqa: E402
from ray.rllib.algorithms.ppo import PPOConfig  # noqa: E402
from ray.rllib.env.multi_agent_env import MultiAgentEnv  # noqa: E402
from ray.tune.registry import ENV_CREATOR, _global_registry  # noqa: E402
from ray.tune.trainable import trainable  # noqa: E402

import skillgym  # noqa: E402, F401
from skillgym.envs.mtnas import parallel_env  # noqa: E402
from skillgym.integrations.rllib import (  # noqa: E402
    MTNAS_PARALLEL,
    episode_end_metrics,
    flatten_observations,
    register_rllib_envs,
)

AEC = "skillgym/AEC-Add-v0"

# RLlib registers its own Gymnasium id for every env runner it makes, replacing the last one's
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:.*Overriding environment rllib-single-agent-env-v0:UserWarning"),
    # A Ray cluster that hangs fails its test instead of stalling the run (each takes < 1 min).
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A one-CPU Ray cluster of this process's own, for this module."""
    with pytest.MonkeyPatch.context() as patch:
        # a cluster private to this process needs no authentication token, which Ray would
        # otherwise write under the home folder
        patch.setenv("RAY_AUTH_MODE", "disabled")
        # an Algorithm built outside Tune makes its log folder there, under the home folder too
        patch.setattr(trainable, "DEFAULT_STORAGE_PATH", str(tmp_path_factory.mktemp("results")))
        ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="WARNING")
        names = register_rllib_envs()
        yield names
        ray.shutdown()


def weights(module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def aec_config(env_config: dict | None = None, **env_runners) -> PPOConfig:
    return (
        PPOConfig()
        .environment(AEC, env_config={"level": 1, **(env_config or {})})
        .env_runners(**{"num_env_runners": 0,
                        "env_to_module_connector": flatten_observations(), **env_runners})
        .training(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=1)
        .rl_module(model_config={"fcnet_hiddens": [32]})
        .callbacks(on_episode_end=episode_end_metrics())
        .debugging(seed=0)
    )


def test_every_skillgym_id_and_the_pettingzoo_env_are_registered(cluster):
    gymnasium_ids = [name for name in gym.registry if name.startswith("skillgym/")]
    assert len(gymnasium_ids) > 20
    assert sorted(cluster) == sorted([*gymnasium_ids, MTNAS_PARALLEL])
    for name in gymnasium_ids:
        # the creator as an env runner gets it: unpickled from the cluster's registry
        assert _global_registry.contains(ENV_CREATOR, name)
        env = _global_registry.get(ENV_CREATOR, name)({})
        reference = gym.make(name)
        assert env.spec.id == name
        assert env.observation_space == reference.observation_space
        assert env.action_space == reference.action_space
        env.close()
        reference.close()

    # env_config reaches the env's constructor
    env = _global_registry.get(ENV_CREATOR, AEC)({"level": 2, "reward_mode": "digit"})
    assert (env.unwrapped.level, env.unwrapped.reward_mode) == (2, "digit")

    game = _global_registry.get(ENV_CREATOR, MTNAS_PARALLEL)({"max_cycles": 2})
    assert isinstance(game, MultiAgentEnv)
    agents = parallel_env().possible_agents
    assert sorted(game.possible_agents) == sorted(agents)
    observations, _ = game.reset(seed=0)
    assert sorted(observations) == sorted(agents)
    for _ in range(2):
        observations, rewards, terminated, truncated, _ = game.step(
            {agent: game.action_space[agent].sample() for agent in agents})
        assert all(0.0 <= rewards[agent] <= 1.0 for agent in agents)
    assert terminated["__all__"] and not truncated["__all__"]
    assert all(observation[-1] == 2 for observation in observations.values())  # the round index


def test_unknown_names_are_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="AEC-Nope-v0.*allowed.*skillgym/AEC-Add-v0"):
        register_rllib_envs(["skillgym/AEC-Nope-v0"])
    with pytest.raises(ValueError, match="list of names"):
        register_rllib_envs(AEC)
    assert register_rllib_envs([AEC, MTNAS_PARALLEL]) == [AEC, MTNAS_PARALLEL]


@pytest.mark.parametrize("legal_actions", [False, True], ids=["all-actions", "legal-actions"])
def test_one_ppo_iteration_on_an_aec_skill(cluster, legal_actions):
    algo = aec_config({"legal_actions": legal_actions}).build_algo()
    try:
        module = algo.get_module()
        # the flattening connector: RLlib's encoder sees one-hot codes of the Dict observation
        reference = gym.make(AEC)
        assert module.observation_space.shape == (
            gym.spaces.flatdim(reference.observation_space),)
        legal = int(reference.unwrapped.action_masks().sum())
        assert module.action_space.n == (legal if legal_actions else reference.action_space.n)
        before = weights(module)
        result = algo.train()
        runners = result["env_runners"]
        assert runners["num_env_steps_sampled"] == 256
        assert runners["num_episodes"] > 0
        # sparse rewards: +1 for a correct return, -illegal_penalty (0.1) per illegal action,
        # of which the legal actions have none
        low, high = runners["episode_return_min"], runners["episode_return_max"]
        assert math.isfinite(runners["episode_return_mean"])
        floor = 0.0 if legal_actions else -0.1 * runners["episode_len_max"] - 1e-9
        assert floor <= low <= high <= 1.0
        # the episodes' success and level, logged at their ends (an untrained policy is far from
        # the 95 % success over 100 episodes that would move the curriculum up)
        assert 0.0 <= runners["is_success"] <= 1.0 and runners["level"] == 1.0
        if legal_actions:  # no penalty to pay: a return is 1 for a success, else 0
            assert runners["is_success"] == pytest.approx(runners["episode_return_mean"])
        else:
            assert runners["episode_return_mean"] <= runners["is_success"]
        after = weights(algo.get_module())
        assert any(not torch.equal(before[name], after[name]) for name in before)
        assert all(torch.isfinite(value).all() for value in after.values())
    finally:
        algo.stop()


def test_the_batched_twin_samples_and_learns_as_gymnasium_copies_do(cluster):
    """Four copies of AEC-Add, as the natively batched twin (RLlib's vector_entry_point mode)
    and as Gymnasium's SyncVectorEnv: same seeds, so the same episodes and the same update."""
    runs = {}
    for mode in ("vector_entry_point", "sync"):
        algo = aec_config(num_envs_per_env_runner=4, gym_env_vectorize_mode=mode).build_algo()
        try:
            env = algo.env_runner.env.unwrapped
            result = algo.train()["env_runners"]
            runs[mode] = (type(env).__name__, result, weights(algo.get_module()))
        finally:
            algo.stop()
    (twin, native, native_weights), (copies, sync, sync_weights) = runs.values()
    assert (twin, copies) == ("AECVectorEnv", "SyncVectorEnv")
    assert native["num_env_steps_sampled"] == sync["num_env_steps_sampled"] == 256
    assert native["num_episodes"] == sync["num_episodes"] > 0
    assert native["episode_return_mean"] == sync["episode_return_mean"]
    assert all(torch.equal(native_weights[name], sync_weights[name]) for name in sync_weights)


def test_an_env_runner_in_another_process_builds_the_registered_env(cluster):
    """The reason to register: a remote env runner has not imported skillgym, and gets the
    creator from the cluster's registry."""
    algo = aec_config({"legal_actions": True}, num_env_runners=1).build_algo()
    try:
        def describe(runner):
            env, wrappers = runner.env.unwrapped.envs[0], []
            while hasattr(env, "env"):
                wrappers.append(type(env).__name__)
                env = env.env
            return os.getpid(), wrappers, type(env).__name__, env.skill.name, env.level

        (remote,) = algo.env_runner_group.foreach_env_runner(describe, local_env_runner=False)
        pid, wrappers, *env = remote
        assert pid != os.getpid()
        assert "LegalActions" in wrappers and env == ["AECEnv", "ADD", 1]
        runners = algo.train()["env_runners"]
        assert runners["num_env_steps_sampled"] == 256 and runners["num_episodes"] > 0
    finally:
        algo.stop()


def test_one_ppo_iteration_on_the_multitask_pettingzoo_env(cluster):
    config = (
        PPOConfig()
        .environment(MTNAS_PARALLEL, env_config={"max_cycles": 3})
        .env_runners(num_env_runners=0,
                     env_to_module_connector=flatten_observations(multi_agent=True))
        .multi_agent(policies={"shared"},
                     policy_mapping_fn=lambda agent_id, episode, **kwargs: "shared")
        .training(train_batch_size_per_learner=60, minibatch_size=30, num_epochs=1)
        .rl_module(model_config={"fcnet_hiddens": [32]})
        .callbacks(on_episode_end=episode_end_metrics())
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        game = parallel_env(max_cycles=3)
        agents = game.possible_agents
        module = algo.get_module("shared")
        assert module.observation_space.shape == (
            gym.spaces.flatdim(game.observation_space(agents[0])),)
        before = weights(module)
        runners = algo.train()["env_runners"]
        # 60 rounds: 20 episodes of 3 rounds, every agent acting in each
        assert runners["num_env_steps_sampled"] == 60
        assert runners["num_episodes"] == 20
        assert runners["num_module_steps_sampled"]["shared"] == 60 * len(agents)
        assert all(runners["num_agent_steps_sampled"][agent] == 60 for agent in agents)
        # an episode's return sums every agent's rewards (in [0, 1]) over the 3 rounds
        low, high = runners["episode_return_min"], runners["episode_return_max"]
        assert 0.0 < low <= runners["episode_return_mean"] <= high <= 3 * len(agents)
        assert np.isclose(runners["episode_return_mean"],
                          sum(runners["agent_episode_returns_mean"][agent] for agent in agents))
        assert "is_success" not in runners  # per-agent infos: not logged
        after = weights(algo.get_module("shared"))
        assert any(not torch.equal(before[name], after[name]) for name in before)
    finally:
        algo.stop()
