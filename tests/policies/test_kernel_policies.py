"""SB3 policies acting through the kernel: same numbers as torch, on every supported space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib import MaskablePPO
from stable_baselines3 import A2C, PPO
from torch import nn

from skillgym.kernels import select_device
from skillgym.policies import KernelMaskablePolicy, KernelMlpPolicy, KernelPolicy

DEVICES = [
    pytest.param(
        "auto",
        id="opencl",
        marks=pytest.mark.skipif(select_device("auto") is None, reason="no OpenCL platform"),
    ),
    pytest.param("off", id="numpy"),
]

OBS_SPACES = {
    "box": spaces.Box(-2.0, 2.0, (7,), np.float32),
    "discrete": spaces.Discrete(6),
    "multidiscrete": spaces.MultiDiscrete([3, 4, 2]),
    "dict": spaces.Dict(
        {
            "tokens": spaces.MultiDiscrete([5] * 4),
            "skill": spaces.Discrete(3),
            "pos": spaces.Box(0.0, 1.0, (2,), np.float32),
        }
    ),
    # Dense and categorical parts interleaved in the flattened features (keys are sorted).
    "dict-mixed": spaces.Dict(
        {
            "a_grid": spaces.Box(-1.0, 1.0, (2, 3), np.float32),
            "b_bits": spaces.MultiBinary(3),
            "c_skill": spaces.Discrete(4),
            "d_pos": spaces.Box(0.0, 1.0, (1,), np.float64),
            "e_tokens": spaces.MultiDiscrete([2, 6, 3]),
        }
    ),
}
ACTION_SPACES = {"discrete": spaces.Discrete(5), "multidiscrete": spaces.MultiDiscrete([3, 2, 4])}


class SpacesEnv(gym.Env):
    """Random observations from any space; episodes of 8 steps; reward 1 for action 0."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self._t += 1
        reward = float(np.all(np.asarray(action) == 0))
        return self.observation_space.sample(), reward, False, self._t >= 8, {}

    def action_masks(self) -> np.ndarray:
        n = int(np.sum(getattr(self.action_space, "nvec", self.action_space.n)))
        return np.arange(n) % 2 == 0


def sample_batch(space: spaces.Space, n: int, seed: int):
    space.seed(seed)
    samples = [space.sample() for _ in range(n)]
    if isinstance(space, spaces.Dict):
        return {key: np.stack([s[key] for s in samples]) for key in space.spaces}
    return np.stack(samples)


def torch_reference(policy, obs, actions, masks=None):
    """Values, log-probabilities and greedy actions from the policy's own torch code."""
    obs_tensor, _ = policy.obs_to_tensor(obs)
    with th.no_grad():
        if masks is None:
            values, log_prob, _ = policy.evaluate_actions(obs_tensor, actions)
            greedy = policy.get_distribution(obs_tensor).get_actions(deterministic=True)
        else:
            values, log_prob, _ = policy.evaluate_actions(obs_tensor, actions, action_masks=masks)
            dist = policy.get_distribution(obs_tensor, action_masks=masks)
            greedy = dist.get_actions(deterministic=True)
    return values, log_prob, greedy


@pytest.mark.parametrize("kernel_device", DEVICES)
@pytest.mark.parametrize("action_name", ACTION_SPACES)
@pytest.mark.parametrize("obs_name", OBS_SPACES)
def test_rollout_forward_matches_torch(obs_name, action_name, kernel_device):
    env = SpacesEnv(OBS_SPACES[obs_name], ACTION_SPACES[action_name])
    policy_kwargs = {"kernel_device": kernel_device, "min_kernel_batch": 0, "net_arch": [19, 11]}
    model = PPO(KernelMlpPolicy, env, n_steps=16, batch_size=16, seed=0,
                policy_kwargs=policy_kwargs)
    policy = model.policy
    obs = sample_batch(env.observation_space, 203, seed=1)
    obs_tensor, _ = policy.obs_to_tensor(obs)
    with th.no_grad():
        actions, values, log_prob = policy(obs_tensor)
        greedy_kernel = policy(obs_tensor, deterministic=True)[0]
    assert actions.shape == (203, *env.action_space.shape)
    ref_values, ref_log_prob, greedy = torch_reference(policy, obs, actions)
    np.testing.assert_allclose(values.numpy(), ref_values.numpy(), atol=1e-5)
    np.testing.assert_allclose(log_prob.numpy(), ref_log_prob.numpy(), atol=1e-5)
    np.testing.assert_array_equal(greedy_kernel.numpy(), greedy.reshape(actions.shape).numpy())
    predicted, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(predicted, greedy.reshape(actions.shape).numpy())
    _, grad_values, _ = policy(obs_tensor)  # gradients on: SB3's own torch forward
    assert grad_values.requires_grad


@pytest.mark.parametrize("kernel_device", DEVICES)
def test_maskable_forward_matches_torch_and_respects_masks(kernel_device):
    env = SpacesEnv(OBS_SPACES["dict"], ACTION_SPACES["multidiscrete"])
    policy_kwargs = {"kernel_device": kernel_device, "min_kernel_batch": 0}
    model = MaskablePPO(KernelMaskablePolicy, env, n_steps=16, batch_size=16, seed=0,
                        policy_kwargs=policy_kwargs)
    policy = model.policy
    obs = sample_batch(env.observation_space, 300, seed=2)
    masks = np.random.default_rng(3).random((300, 9)) < 0.5
    masks[:, [0, 3, 5]] = True  # one legal choice per component
    obs_tensor, _ = policy.obs_to_tensor(obs)
    with th.no_grad():
        actions, values, log_prob = policy(obs_tensor, action_masks=masks)
    starts = (0, 3, 5)
    for h in range(3):
        assert masks[np.arange(300), starts[h] + actions[:, h].numpy()].all()
    ref_values, ref_log_prob, greedy = torch_reference(policy, obs, actions, masks)
    np.testing.assert_allclose(values.numpy(), ref_values.numpy(), atol=1e-5)
    np.testing.assert_allclose(log_prob.numpy(), ref_log_prob.numpy(), atol=1e-4)
    predicted, _ = model.predict(obs, deterministic=True, action_masks=masks)
    np.testing.assert_array_equal(predicted, greedy.reshape(actions.shape).numpy())


@pytest.mark.parametrize("kernel_device", DEVICES)
def test_kernel_follows_every_optimiser_step_and_reload(kernel_device, tmp_path):
    env = SpacesEnv(OBS_SPACES["box"], ACTION_SPACES["discrete"])
    policy_kwargs = {"kernel_device": kernel_device, "min_kernel_batch": 0}
    model = PPO(KernelMlpPolicy, env, n_steps=32, batch_size=32, n_epochs=2, seed=0,
                learning_rate=0.05, policy_kwargs=policy_kwargs)
    obs = sample_batch(env.observation_space, 64, seed=4)
    before = model.predict(obs, deterministic=True)[0]
    model.learn(64)
    after = model.predict(obs, deterministic=True)[0]
    _, _, greedy = torch_reference(model.policy, obs, th.zeros(64))
    np.testing.assert_array_equal(after, greedy.numpy())
    assert (before != after).any(), "training at lr 0.05 should change some greedy actions"

    model.save(tmp_path / "model")
    loaded = PPO.load(tmp_path / "model", device="cpu")
    assert type(loaded.policy) is KernelMlpPolicy
    assert loaded.policy.kernel_device == kernel_device
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], after)


@pytest.mark.parametrize("kernel_device", DEVICES)
def test_kernel_policy_serves_a_default_sb3_model(kernel_device):
    env = SpacesEnv(OBS_SPACES["dict"], ACTION_SPACES["discrete"])
    model = A2C("MultiInputPolicy", env, seed=0)
    fast = KernelPolicy.from_sb3(model, device=kernel_device, min_kernel_batch=0)
    batch = sample_batch(env.observation_space, 50, seed=5)
    np.testing.assert_array_equal(fast.act(batch), model.predict(batch, deterministic=True)[0])
    single = {key: value[0] for key, value in batch.items()}
    assert fast.act(single) == model.predict(single, deterministic=True)[0]
    sampled = fast.act(batch, deterministic=False)
    assert sampled.shape == (50,) and env.action_space.contains(int(sampled[0]))


def test_unsupported_policies_fail_at_construction():
    box_actions = SpacesEnv(OBS_SPACES["box"], spaces.Box(-1, 1, (2,), np.float32))
    with pytest.raises(ValueError, match="action_space must be Discrete or MultiDiscrete"):
        PPO(KernelMlpPolicy, box_actions)
    env = SpacesEnv(OBS_SPACES["box"], ACTION_SPACES["discrete"])
    with pytest.raises(ValueError, match=r"activation_fn must be one of \['Tanh', 'ReLU'\]"):
        PPO(KernelMlpPolicy, env, policy_kwargs={"activation_fn": nn.ELU})
    with pytest.raises(ValueError, match="share_features_extractor must be True"):
        PPO(KernelMlpPolicy, env, policy_kwargs={"share_features_extractor": False})
    with pytest.raises(TypeError, match="must be an SB3 actor-critic model or policy"):
        KernelPolicy.from_sb3(object())


AEC_ID = "skillgym/AEC-Add-v0"


@pytest.mark.skipif(AEC_ID not in gym.registry, reason=f"{AEC_ID} is not registered yet")
@pytest.mark.parametrize("kernel_device", DEVICES)
def test_aec_observations_and_masks(kernel_device):
    env = gym.make(AEC_ID)
    model = MaskablePPO(KernelMaskablePolicy, env, n_steps=16, batch_size=16, seed=0,
                        policy_kwargs={"kernel_device": kernel_device, "min_kernel_batch": 0})
    observations, masks = [], []
    obs, _ = env.reset(seed=0)
    for _ in range(64):
        mask = env.unwrapped.action_masks()
        observations.append(obs)
        masks.append(mask)
        obs, _, terminated, truncated, _ = env.step(int(np.flatnonzero(mask)[0]))
        if terminated or truncated:
            obs, _ = env.reset()
    batch = {key: np.stack([o[key] for o in observations]) for key in observations[0]}
    masks = np.stack(masks)
    obs_tensor, _ = model.policy.obs_to_tensor(batch)
    with th.no_grad():
        actions, values, log_prob = model.policy(obs_tensor, action_masks=masks)
    assert masks[np.arange(64), actions.numpy()].all()
    ref_values, ref_log_prob, greedy = torch_reference(model.policy, batch, actions, masks)
    np.testing.assert_allclose(values.numpy(), ref_values.numpy(), atol=1e-5)
    np.testing.assert_allclose(log_prob.numpy(), ref_log_prob.numpy(), atol=1e-4)
    predicted, _ = model.predict(batch, deterministic=True, action_masks=masks)
    np.testing.assert_array_equal(predicted, greedy.numpy())
    # One observation, not a batch: one action, as SB3's predict returns it.
    single, _ = model.predict(observations[5], deterministic=True, action_masks=masks[5])
    assert np.shape(single) == () and single == greedy[5].item()
    with pytest.raises(ValueError, match="tuple"):
        model.predict((observations[5], {}), action_masks=masks[5])


@pytest.mark.parametrize("kernel_device", DEVICES)
def test_categorical_observations_reach_the_kernel_as_codes(kernel_device):
    env = SpacesEnv(OBS_SPACES["dict-mixed"], ACTION_SPACES["discrete"])
    model = PPO(KernelMlpPolicy, env, n_steps=16, batch_size=16, seed=0,
                policy_kwargs={"kernel_device": kernel_device, "min_kernel_batch": 0})
    policy = model.policy
    layout = policy.kernel_policy.coder.layout
    # Features: a_grid 0-5, b_bits 6-8, c_skill 9-12, d_pos 13, e_tokens 14-24.
    assert (layout.obs_dim, layout.n_codes) == (25, 4)
    assert layout.dense_inputs == (0, 1, 2, 3, 4, 5, 6, 7, 8, 13)
    obs = sample_batch(env.observation_space, 150, seed=6)
    obs_tensor, _ = policy.obs_to_tensor(obs)
    with th.no_grad():
        greedy, values, log_prob = policy(obs_tensor, deterministic=True)
        # SB3's rollout buffer hands categorical observations back as floats.
        as_floats = {key: value.float() for key, value in obs_tensor.items()}
        from_floats = policy(as_floats, deterministic=True)
    ref_values, ref_log_prob, ref_greedy = torch_reference(policy, obs, greedy)
    np.testing.assert_allclose(values.numpy(), ref_values.numpy(), atol=1e-5)
    np.testing.assert_allclose(log_prob.numpy(), ref_log_prob.numpy(), atol=1e-5)
    np.testing.assert_array_equal(greedy.numpy(), ref_greedy.numpy())
    for got, expected in zip(from_floats, (greedy, values, log_prob), strict=True):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())

    obs["e_tokens"][7, 1] = 6
    with pytest.raises(ValueError, match=r"observation 'e_tokens' must lie in \[0, n\)"):
        model.predict(obs)
    # Negative values and NaN too (the bounds are checked on all parts at once, as unsigned).
    obs["e_tokens"][7, 1] = 1
    obs["c_skill"][3] = -1
    with pytest.raises(ValueError, match=r"observation 'c_skill' must lie in \[0, n\)"):
        model.predict(obs)
    as_floats = {key: value.astype(np.float32) for key, value in obs.items()}
    as_floats["c_skill"][3] = np.nan
    with pytest.raises(ValueError, match=r"observation 'c_skill' must lie in \[0, n\)"):
        model.predict(as_floats)
    # predict() leaves the policy in eval mode, as SB3's does, also when it was training.
    obs["c_skill"][3] = 2
    policy.set_training_mode(True)
    model.predict(obs)
    assert not any(module.training for module in policy.modules())


def test_observations_that_need_torch_features_skip_the_codes():
    image = spaces.Dict({"image": spaces.Box(0, 255, (36, 36, 1), np.uint8),
                         "skill": spaces.Discrete(3)})
    model = PPO(KernelMlpPolicy, SpacesEnv(image, ACTION_SPACES["discrete"]), n_steps=16,
                batch_size=16, seed=0, policy_kwargs={"kernel_device": "off"})
    assert model.policy.kernel_policy.coder is None  # NatureCNN on the image
    box = PPO(KernelMlpPolicy, SpacesEnv(OBS_SPACES["box"], ACTION_SPACES["discrete"]),
              n_steps=16, batch_size=16, seed=0, policy_kwargs={"kernel_device": "off"})
    assert box.policy.kernel_policy.coder is None  # nothing categorical: a dense input
    obs = sample_batch(image, 20, seed=7)
    _, _, greedy = torch_reference(model.policy, obs, th.zeros(20))
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], greedy.numpy())
