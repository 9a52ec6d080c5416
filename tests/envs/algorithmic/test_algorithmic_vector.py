"""Each batched algorithmic env against ``SyncVectorEnv`` of its single env, step for step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import skillgym  # noqa: F401  (registers the ids)
from skillgym.envs.registration import entries

IDS = [entry.id for entry in entries() if entry.entry_point.startswith("skillgym.envs.algorithmic")]
NUM_ENVS = 8
# Per sub-env chance of an episode being played perfectly: some promote, some never do.
PERFECT = np.array([1.0, 1.0, 0.99, 0.97, 0.9, 0.7, 0.3, 0.0])


def make_pair(env_id: str, **kwargs) -> tuple[gym.vector.VectorEnv, gym.vector.SyncVectorEnv]:
    batched = gym.make_vec(env_id, NUM_ENVS, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.make_vec(env_id, NUM_ENVS, vectorization_mode="sync", **kwargs)
    return batched, sync


def mixed_actions(sync: gym.vector.SyncVectorEnv, rng: np.random.Generator, modes: np.ndarray):
    """Per sub-env: perfect writes (read from the single envs), idling, or uniform actions."""
    actions = sync.action_space.sample()
    for i, env in enumerate(sync.envs):
        single = env.unwrapped
        if modes[i] == 0 and single.write_head < len(single.target):
            actions[i, 1:] = (1, single.target[single.write_head])
        elif modes[i] == 1:
            actions[i, 1] = 0
    return actions


def assert_same(batched_out, sync_out, where: str) -> None:
    for name, mine, theirs in zip(("obs", "reward", "terminated", "truncated"), batched_out,
                                  sync_out, strict=False):
        np.testing.assert_array_equal(mine, theirs, err_msg=f"{name} differs {where}")


@pytest.mark.parametrize("env_id", IDS)
def test_batched_matches_sync_vector_env(env_id):
    batched, sync = make_pair(env_id)
    assert batched.metadata["autoreset_mode"] == sync.metadata["autoreset_mode"]
    assert batched.observation_space == sync.observation_space
    assert batched.action_space == sync.action_space
    rng = np.random.default_rng(0)
    sync.action_space.seed(0)
    assert_same(batched.reset(seed=42), sync.reset(seed=42), "after reset")
    modes = np.zeros(NUM_ENVS, dtype=int)
    episodes = 0
    for t in range(1600):
        if t == 800:  # reseed in the middle of episodes: the curriculum survives it
            assert_same(batched.reset(seed=[5, None] * 4), sync.reset(seed=[5, None] * 4), t)
        if t == 1200:
            mask = np.arange(NUM_ENVS) % 3 == 0
            options = {"reset_mask": mask}
            assert_same(batched.reset(options=dict(options)), sync.reset(options=options), t)
        actions = mixed_actions(sync, rng, modes)
        out = batched.step(actions)
        assert_same(out, sync.step(actions), f"at step {t}")
        assert out[4] == {}
        ended = out[2] | out[3]
        episodes += int(ended.sum())
        draws = rng.random(NUM_ENVS)
        modes = np.where(ended, np.where(draws < PERFECT, 0, 1 + (draws > 0.5 + PERFECT / 2)),
                         modes)
    promoted = np.array([env.unwrapped.min_length for env in sync.envs])
    np.testing.assert_array_equal(batched.min_length, promoted)
    assert promoted.max() > promoted.min()  # the test reached curriculum promotions
    assert episodes > 5 * NUM_ENVS


def test_kwargs_reach_the_batched_env():
    batched, sync = make_pair("skillgym/DuplicatedInput-v1", duplication=3, base=4)
    assert batched.single_action_space == sync.single_action_space
    assert_same(batched.reset(seed=1), sync.reset(seed=1), "after reset")
    for _ in range(300):
        actions = sync.action_space.sample()
        assert_same(batched.step(actions), sync.step(actions), "during steps")


def test_unseeded_reset_draws_different_episodes():
    batched, _ = make_pair("skillgym/Copy-v1")
    first = [batched.reset()[0] for _ in range(20)]
    assert len({obs.tobytes() for obs in first}) > 1


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda env: env.step(np.zeros((NUM_ENVS - 1, 3), dtype=np.int64)),
         r"actions must be integers of shape \(8, 3\)"),
        (lambda env: env.step(np.full((NUM_ENVS, 3), 2)), "actions out of range"),
        (lambda env: env.reset(seed=[1, 2]), "seed must be None, an int, or a list of 8"),
        (lambda env: env.reset(options={"reset_mask": np.ones(3, dtype=bool)}),
         r"reset_mask'\] must be a numpy bool array of shape \(8,\)"),
        (lambda env: env.reset(options={"reset_mask": np.zeros(NUM_ENVS, dtype=bool)}),
         "with at least one True"),
        (lambda env: env.reset(options={"level": 1}), "accept none"),
    ],
)
def test_bad_input_is_named(call, message):
    batched, _ = make_pair("skillgym/Copy-v1")
    batched.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        call(batched)


def test_step_before_reset_is_refused():
    batched, _ = make_pair("skillgym/Reverse-v1")
    with pytest.raises(RuntimeError, match="reset"):
        batched.step(np.zeros((NUM_ENVS, 3), dtype=np.int64))
