"""The kernel policies' training path: the same numbers and gradients as SB3's own."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from test_kernel_policies import OBS_SPACES, sample_batch

from skillgym.policies import (
    KernelMaskablePolicy,
    KernelMlpPolicy,
    actor_critic,
    bool_mask_buffer,
    taken_log_probs,
)
from skillgym.policies.buffers import encode_observations
from skillgym.policies.lean_layers import SPARSE_MIN_BATCH, SparseInputs, sparse_linear
from skillgym.training.resumable import ResumableMaskablePPO

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


def few_allowed(size):
    """Masks allowing only actions 2, 5 and 11 (the batch's other columns drop out of the
    head) and an allowed action per sample."""
    masks = np.zeros((size, ACTIONS.n), dtype=bool)
    masks[:, [2, 5, 11]] = np.random.default_rng(1).random((size, 3)) < 0.7
    masks[:, 2] |= ~masks.any(1)
    return masks, th.as_tensor([int(np.flatnonzero(row)[-1]) for row in masks])


@pytest.fixture
def sparse_calls(monkeypatch):
    """How many times the sparse first layer ran."""
    calls = []

    def counted(*args):
        calls.append(1)
        return sparse_linear(*args)

    monkeypatch.setattr(actor_critic, "sparse_linear", counted)
    return calls


# A batch below SPARSE_MIN_BATCH takes SB3's dense first layers, one above it the sparse one
# (where the observation has codes).
SIZES = [SPARSE_MIN_BATCH - 24, SPARSE_MIN_BATCH + 16]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("obs_name", ["box", "dict-mixed"])
@pytest.mark.parametrize("masked", ["unmasked", "masked", "few-allowed"])
def test_maskable_evaluate_actions_matches_sb3(obs_name, masked, size, sparse_calls):
    policy = make(KernelMaskablePolicy, OBS_SPACES[obs_name])
    obs, actions, masks = batch(policy, size=size)
    assert len(sparse_calls) == 0
    if masked == "few-allowed":
        masks, actions = few_allowed(len(actions))
    masks = None if masked == "unmasked" else masks
    lean = policy.evaluate_actions(obs, actions, masks)
    assert len(sparse_calls) == (obs_name == "dict-mixed" and size >= SPARSE_MIN_BATCH)
    sb3 = MaskableActorCriticPolicy.evaluate_actions(policy, obs, actions, masks)
    for ours, theirs in zip(lean, sb3, strict=True):
        th.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-6)
    for ours, theirs in zip(grads(policy, lean), grads(policy, sb3), strict=True):
        th.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("size", [1, *SIZES])
@pytest.mark.parametrize("policy_class", [KernelMaskablePolicy, KernelMlpPolicy])
def test_predict_values_matches_sb3(policy_class, size, sparse_calls):
    policy = make(policy_class, OBS_SPACES["dict-mixed"])
    obs, _, _ = batch(policy, seed=5, size=size)
    sb3_class = MaskableActorCriticPolicy if policy_class is KernelMaskablePolicy else (
        ActorCriticPolicy)
    ours, theirs = policy.predict_values(obs), sb3_class.predict_values(policy, obs)
    assert len(sparse_calls) == (size >= SPARSE_MIN_BATCH)
    th.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-6)
    for mine, sb3s in zip(value_grads(policy, ours), value_grads(policy, theirs), strict=True):
        th.testing.assert_close(mine, sb3s, atol=2e-6, rtol=1e-5)


def value_grads(policy, values):
    """Every parameter's gradient of ``values.sum()`` (zeros off the value's path)."""
    policy.zero_grad()
    values.sum().backward()
    return [th.zeros_like(p) if p.grad is None else p.grad.clone() for p in policy.parameters()]


def test_a_masked_taken_action_keeps_sb3s_log_probability():
    """A taken action its mask forbids (never sampled, but a caller may pass one) keeps
    sb3-contrib's -1e8 logit even where no sample of the batch allows it."""
    policy = make(KernelMaskablePolicy, OBS_SPACES["box"])
    obs, actions, _ = batch(policy)
    masks, actions = few_allowed(len(actions))
    actions[0] = 7
    lean = policy.evaluate_actions(obs, actions, masks)
    sb3 = MaskableActorCriticPolicy.evaluate_actions(policy, obs, actions, masks)
    assert lean[1][0] < -1e7
    for ours, theirs in zip(lean, sb3, strict=True):
        th.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-6)


@pytest.mark.parametrize("size", SIZES)
def test_mlp_evaluate_actions_and_log_probs_match_sb3(size):
    policy = make(KernelMlpPolicy, OBS_SPACES["dict"])
    obs, actions, masks = batch(policy, seed=3, size=size)
    lean = policy.evaluate_actions(obs, actions)
    sb3 = ActorCriticPolicy.evaluate_actions(policy, obs, actions)
    for ours, theirs in zip(lean, sb3, strict=True):
        th.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-6)
    maskable = make(KernelMaskablePolicy, OBS_SPACES["dict"])
    for allowed, taken_actions in ((masks, actions), few_allowed(len(actions))):
        with th.no_grad():
            ours, taken = taken_log_probs(maskable, obs, taken_actions, allowed)
            theirs = maskable.get_distribution(obs, action_masks=allowed).distribution.logits
        # the columns are the allowed actions in order: the taken ones land on their own
        kept = th.as_tensor(allowed).any(0).nonzero().squeeze(1)
        th.testing.assert_close(ours, theirs[:, kept], atol=2e-6, rtol=1e-6)
        assert th.equal(kept[taken], taken_actions)


def test_multidiscrete_actions_take_sb3s_path_and_log_probs_need_discrete():
    policy = KernelMaskablePolicy(OBS_SPACES["box"], spaces.MultiDiscrete([3, 4]),
                                  lambda _: 3e-4, net_arch=[8])
    obs, _ = policy.obs_to_tensor(sample_batch(policy.observation_space, 5, 0))
    actions = th.zeros((5, 2), dtype=th.long)
    lean = policy.evaluate_actions(obs, actions)
    sb3 = MaskableActorCriticPolicy.evaluate_actions(policy, obs, actions)
    for ours, theirs in zip(lean, sb3, strict=True):
        th.testing.assert_close(ours, theirs, atol=0, rtol=0)
    with pytest.raises(TypeError, match="taken_log_probs needs a Discrete action space"):
        taken_log_probs(policy, obs, actions)


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


@pytest.mark.parametrize("size", SIZES)
def test_bool_masks_give_the_float_masks_numbers(size):
    policy = make(KernelMaskablePolicy, OBS_SPACES["dict-mixed"])
    obs, actions, masks = batch(policy, size=size)
    as_bool = policy.evaluate_actions(obs, actions, th.as_tensor(masks))
    as_float = policy.evaluate_actions(obs, actions, th.as_tensor(masks, dtype=th.float32))
    for ours, theirs in zip(as_bool, as_float, strict=True):
        assert th.equal(ours, theirs)


@pytest.mark.parametrize("obs_name", ["box", "dict"])
def test_the_bool_mask_buffers_hold_the_envs_masks(obs_name):
    env = MaskedEnv(OBS_SPACES[obs_name])
    buffer_class = bool_mask_buffer(env.observation_space)
    model = MaskablePPO(KernelMaskablePolicy, env, n_steps=32, batch_size=16, n_epochs=1,
                        rollout_buffer_class=buffer_class, seed=0, device="cpu")
    model.learn(64)
    assert isinstance(model.rollout_buffer, buffer_class)
    held = model.rollout_buffer.action_masks
    assert held.dtype == np.bool_
    assert np.array_equal(held.reshape(-1, ACTIONS.n), np.stack(env.seen[-32:]))
    sample = next(model.rollout_buffer.get(16))
    assert sample.action_masks.dtype == th.bool
    # a minibatch's tensors are its own (the buffer hands them over without a second copy)
    kept = [tensor.clone() for tensor in (sample.action_masks, sample.old_values, sample.actions)]
    model.rollout_buffer.action_masks[:] = False
    model.rollout_buffer.values[:] = 7.0
    model.rollout_buffer.actions[:] = 3
    for tensor, before in zip((sample.action_masks, sample.old_values, sample.actions), kept,
                              strict=True):
        assert th.equal(tensor, before)


class MaskedEnv(gym.Env):
    """Random observations and masks (each step's allowed actions drawn anew); records the
    masks it hands out."""

    def __init__(self, observation_space):
        self.observation_space, self.action_space = observation_space, ACTIONS
        self.seen = []
        self._rng = np.random.default_rng(0)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, bool(self._rng.random() < 0.1), False, {}

    def action_masks(self):
        masks = self._rng.random(ACTIONS.n) < 0.5
        masks[0] = True
        self.seen.append(masks)
        return masks


@pytest.mark.parametrize("obs_name", ["discrete", "dict-mixed"])
def test_coded_buffers_hand_over_the_policys_inputs_and_train_the_same(obs_name):
    """A buffer given the policy's coder hands each minibatch its rows of the rollout's codes;
    training with it ends with bit-for-bit the parameters training without it reaches."""
    def train(encode):
        space = copy.deepcopy(OBS_SPACES[obs_name])
        space.seed(0)
        env = MaskedEnv(space)
        model = ResumableMaskablePPO(KernelMaskablePolicy, env, n_steps=160, batch_size=SIZES[1],
                                     n_epochs=2, seed=0, device="cpu",
                                     rollout_buffer_class=bool_mask_buffer(env.observation_space))
        assert encode_observations(model.rollout_buffer, model.policy.observation_coder)
        if not encode:
            model.rollout_buffer.encode_with(None)
        model.learn(320)
        return model

    coded, plain = train(encode=True), train(encode=False)
    for ours, theirs in zip(coded.policy.parameters(), plain.policy.parameters(), strict=True):
        assert th.equal(ours, theirs)
    np.random.seed(1)  # the buffers' minibatches are drawn from numpy's global generator
    sample = next(coded.rollout_buffer.get(SIZES[1]))
    assert isinstance(sample.observations, SparseInputs)
    np.random.seed(1)
    expected = next(plain.rollout_buffer.get(SIZES[1])).observations
    policy = coded.policy
    th.testing.assert_close(sample.observations.dense(), policy.extract_features(expected),
                            rtol=0, atol=0)
    # and the coded observations give evaluate_actions' numbers
    values, log_prob, entropy = policy.evaluate_actions(sample.observations, sample.actions.long(),
                                                        sample.action_masks)
    for ours, theirs in zip((values, log_prob, entropy), policy.evaluate_actions(
            expected, sample.actions.long(), sample.action_masks), strict=True):
        assert th.equal(ours, theirs)


def test_coded_observations_need_a_policy_with_their_coder():
    box = make(KernelMaskablePolicy, OBS_SPACES["box"])  # dense inputs: no coder
    coded = make(KernelMaskablePolicy, OBS_SPACES["dict"]).observation_coder.sparse_inputs(
        sample_batch(OBS_SPACES["dict"], 4, 0))
    assert box.observation_coder is None
    with pytest.raises(TypeError, match="coded observations need a kernel policy"):
        box.predict_values(coded)
    # a buffer is handed a coder only where it is a boolean-mask buffer and a coder exists
    coder = make(KernelMaskablePolicy, OBS_SPACES["dict"]).observation_coder
    env = MaskedEnv(OBS_SPACES["dict"])
    stock = MaskablePPO(KernelMaskablePolicy, env, n_steps=8, device="cpu").rollout_buffer
    ours = bool_mask_buffer(env.observation_space)(8, env.observation_space, ACTIONS)
    assert not encode_observations(stock, coder)
    assert not encode_observations(ours, None) and ours.coder is None
    assert encode_observations(ours, coder) and ours.coder is coder
