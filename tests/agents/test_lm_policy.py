"""CachedLMPolicy in Keye-TextGen's batched twin: its logits equal the model's on each row's
whole conversation at every step, across staggered autoresets and cache rebuilds; seeded
actions repeat; bad input is named."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from skillgym.agents.lm_policy import CachedLMPolicy
from skillgym.envs.keye.text_gen import TextGenVectorEnv
from skillgym.models import PAD, CausalTransformer, SamplingParams
from skillgym.models.pretrained import load_builtin

ENVS = 6


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return load_builtin().double().eval()


def roll(model, capacity: int | None, steps: int = 60, seed: int = 0):
    """Drive the twin for ``steps`` steps; per step, the policy's logits against a full
    forward of each row's conversation (the observation, PAD stripped)."""
    env = TextGenVectorEnv(ENVS, modes=("think", "no_think", "auto_think"), window=256,
                           max_new_tokens=40, pool_size=20)
    policy = CachedLMPolicy(model, ENVS, SamplingParams(temperature=1.0),
                            torch.Generator().manual_seed(seed), capacity=capacity)
    observation, _ = env.reset(seed=seed)
    starting, worst, restarts, actions = None, 0.0, 0, []
    for _ in range(steps):
        action = policy.act(observation, starting)
        actions.append(action)
        with torch.no_grad():
            for row in range(ENVS):
                conversation = [t for t in observation["tokens"][row] if t != PAD]
                full = model(torch.tensor([conversation]))[0, -1]
                worst = max(worst, float((full - policy.last_logits[row]).abs().max()))
        observation, _, terminated, truncated, _ = env.step(action)
        starting = terminated | truncated
        restarts += int(starting.sum())
    return worst, restarts, policy, np.stack(actions)


def test_cached_logits_equal_a_full_forward_across_autoresets(model):
    worst, restarts, policy, _ = roll(model, capacity=None)
    assert restarts >= ENVS  # replies ended at different steps and restarted
    assert worst < 1e-9
    assert policy.rebuilds == 1


def test_a_full_cache_is_rebuilt_and_stays_exact(model):
    # The same weights with a context as short as the env's window (rotary positions have no
    # weights), so that the smallest cache allowed fills within the roll.
    short = CausalTransformer(replace(model.config, context_length=256)).double().eval()
    short.load_state_dict(model.state_dict())
    worst, _, policy, _ = roll(short, capacity=256)
    assert policy.rebuilds > 1
    assert worst < 1e-9


def test_same_seed_same_actions(model):
    first = roll(model, capacity=None, steps=30, seed=3)[3]
    again = roll(model, capacity=None, steps=30, seed=3)[3]
    other = roll(model, capacity=None, steps=30, seed=4)[3]
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_bad_input_is_named(model):
    with pytest.raises(ValueError, match="num_envs must be"):
        CachedLMPolicy(model, 0)
    with pytest.raises(ValueError, match="capacity must be"):
        CachedLMPolicy(model, 2, capacity=8)
    env = TextGenVectorEnv(2, modes=("think",), window=256, max_new_tokens=40, pool_size=5)
    policy = CachedLMPolicy(model, 2)
    observation, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match=r"must be \(num_envs=2, window\)"):
        policy.act({"tokens": observation["tokens"][:1]})
    policy.act(observation)
    with pytest.raises(ValueError, match="starting must have shape"):
        policy.act(observation, np.zeros(3, dtype=bool))
    # The observation of a reset, passed as if the chosen tokens had been written.
    with pytest.raises(ValueError, match="did not write the token chosen"):
        policy.act(env.reset(seed=1)[0], np.zeros(2, dtype=bool))
    # A window that no longer holds the whole conversation.
    policy = CachedLMPolicy(model, 1)
    chosen = policy.act({"tokens": np.array([[1, 2, 3, 4]])})
    with pytest.raises(ValueError, match="longer than the observation's window"):
        policy.act({"tokens": np.array([[2, 3, 4, int(chosen[0])]])}, np.zeros(1, dtype=bool))
