"""The kernel policies' training path: the same numbers and gradients as SB3's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from test_kernel_policies import OBS_SPACES, sample_batch

from skillgym.policies import KernelMaskablePolicy, KernelMlpPolicy, action_log_probs

ACTIONS = spaces.Discrete(13)


def make(policy_class, obs_space, **kwargs):
    th.manual_seed(0)
    return policy_class(obs_space, ACTIONS, lambda _: 3e-4, net_arch=[16, 16], **kwargs)


def batch(policy, seed=0, size=40):
    obs, _ = policy.obs_to_tensor(sample_batch(policy.observation_space, size, seed))
    rng = np.random.default_rng(seed)
    masks = rng.random((size, ACTIONS.n)) < 0.4
    actions = rng.integers(ACTIONS.n, size=size)
    masks[np.arange(size), actions] = True  # the taken action is allowed
    return obs, th.as_tensor(actions), masks


def grads(policy, outputs):
    values, log_prob, entropy = outputs
    policy.zero_grad()
    (values.sum() + log_prob.sum() + 0.1 * entropy.sum()).backward()
    return [p.grad.clone() for p in policy.parameters()]


@pytest.mark.parametrize("obs_name", ["box", "dict-mixed"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_maskable_evaluate_actions_matches_sb3(obs_name, masked):
    policy = make(KernelMaskablePolicy, OBS_SPACES[obs_name])
    obs, actions, masks = batch(policy)
    masks = masks if masked else None
    lean = policy.evaluate_actions(obs, actions, masks)
    sb3 = MaskableActorCriticPolicy.evaluate_actions(policy, obs, actions, masks)
    for ours, theirs in zip(lean, sb3, strict=True):
        th.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-6)
    for ours, theirs in zip(grads(policy, lean), grads(policy, sb3), strict=True):
        th.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-5)


def test_mlp_evaluate_actions_and_log_probs_match_sb3():
    policy = make(KernelMlpPolicy, OBS_SPACES["dict"])
    obs, actions, masks = batch(policy, seed=3)
    lean = policy.evaluate_actions(obs, actions)
    sb3 = ActorCriticPolicy.evaluate_actions(policy, obs, actions)
    for ours, theirs in zip(lean, sb3, strict=True):
        th.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-6)
    maskable = make(KernelMaskablePolicy, OBS_SPACES["dict"])
    with th.no_grad():
        ours = action_log_probs(maskable, obs, masks)
        theirs = maskable.get_distribution(obs, action_masks=masks).distribution.logits
    th.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-6)


def test_multidiscrete_actions_take_sb3s_path_and_log_probs_need_discrete():
    policy = KernelMaskablePolicy(OBS_SPACES["box"], spaces.MultiDiscrete([3, 4]),
                                  lambda _: 3e-4, net_arch=[8])
    obs, _ = policy.obs_to_tensor(sample_batch(policy.observation_space, 5, 0))
    actions = th.zeros((5, 2), dtype=th.long)
    lean = policy.evaluate_actions(obs, actions)
    sb3 = MaskableActorCriticPolicy.evaluate_actions(policy, obs, actions)
    for ours, theirs in zip(lean, sb3, strict=True):
        th.testing.assert_close(ours, theirs, atol=0, rtol=0)
    with pytest.raises(TypeError, match="action_log_probs needs a Discrete action space"):
        action_log_probs(policy, obs)


def test_adam_is_fused_with_sb3s_eps_unless_told_otherwise():
    policy = make(KernelMaskablePolicy, OBS_SPACES["box"])
    assert policy.optimizer.defaults["fused"] and policy.optimizer.defaults["eps"] == 1e-5
    told = make(KernelMaskablePolicy, OBS_SPACES["box"], optimizer_kwargs={"eps": 1e-7})
    assert told.optimizer.defaults["fused"] and told.optimizer.defaults["eps"] == 1e-7
    sgd = make(KernelMaskablePolicy, OBS_SPACES["box"], optimizer_class=th.optim.SGD)
    assert "fused" not in sgd.optimizer_kwargs


@pytest.mark.parametrize("obs_name", OBS_SPACES)
def test_features_are_sb3s_exactly(obs_name):
    policy = make(KernelMaskablePolicy, OBS_SPACES[obs_name])
    obs, _ = policy.obs_to_tensor(sample_batch(policy.observation_space, 9, 4))
    ours = policy.extract_features(obs)
    assert th.equal(ours, MaskableActorCriticPolicy.extract_features(policy, obs))
    assert (policy._coder is None) == (obs_name == "box")  # nothing categorical to scatter


def test_features_reject_a_value_outside_its_space():
    policy = make(KernelMaskablePolicy, OBS_SPACES["dict"])
    obs, _ = policy.obs_to_tensor(sample_batch(policy.observation_space, 3, 0))
    obs["skill"][1] = 3  # Discrete(3)
    with pytest.raises(ValueError, match=r"observation 'skill' must lie in \[0, n\)"):
        policy.extract_features(obs)
