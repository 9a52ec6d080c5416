"""PPO and MaskablePPO learn as well through the kernel policies as with SB3's default ones."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.evaluation import evaluate_policy as evaluate_masked
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from skillgym.policies import KernelMaskablePolicy, KernelMlpPolicy

SEEDS = (0, 1, 2)
# Force the kernel for every batch size, whatever the numpy crossover: it is what is tested.
KERNEL_ALWAYS = {"min_kernel_batch": 0}


class PickTheMarkedEnv(gym.Env):
    """Pick the marked action among the legal ones; an illegal action raises.

    Observation: the legality mask and a one-hot mark (one of the legal actions), 12 floats.
    Reward 1 for the marked action, 0 for another legal one; 16 steps an episode. A uniformly
    random legal choice earns about a third of the maximum.
    """

    n = 6

    def __init__(self) -> None:
        self.observation_space = spaces.Box(0.0, 1.0, (2 * self.n,), np.float32)
        self.action_space = spaces.Discrete(self.n)

    def _draw(self) -> np.ndarray:
        self._mask = self.np_random.random(self.n) < 0.5
        self._mask[self.np_random.integers(self.n, size=2)] = True
        self._mark = self.np_random.choice(np.flatnonzero(self._mask))
        return np.concatenate([self._mask, np.eye(self.n)[self._mark]]).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._draw(), {}

    def step(self, action):
        if not self._mask[action]:
            raise ValueError(f"illegal action {action} under mask {self._mask}")
        reward = float(action == self._mark)
        self._t += 1
        return self._draw(), reward, False, self._t >= 16, {}

    def action_masks(self) -> np.ndarray:
        return self._mask.copy()


def assert_same_within_noise(kernel: list[float], default: list[float], floor: float) -> None:
    """Both learned (mean above ``floor``) and the means differ by less than 3 standard errors."""
    kernel_a, default_a = np.array(kernel), np.array(default)
    assert kernel_a.mean() > floor and default_a.mean() > floor, (kernel, default)
    stderr = np.sqrt(kernel_a.var(ddof=1) / len(kernel) + default_a.var(ddof=1) / len(default))
    assert abs(kernel_a.mean() - default_a.mean()) < 3 * stderr + 0.05 * floor, (kernel, default)


def test_ppo_on_cartpole():
    returns: dict[str, list[float]] = {"kernel": [], "default": []}
    for seed in SEEDS:
        for name, policy, kwargs in (
            ("kernel", KernelMlpPolicy, KERNEL_ALWAYS), ("default", "MlpPolicy", {})
        ):
            env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
            model = PPO(policy, env, n_steps=64, batch_size=256, n_epochs=4, learning_rate=1e-3,
                        seed=seed, device="cpu", policy_kwargs=kwargs)
            model.learn(6144)
            eval_env = make_vec_env("CartPole-v1", n_envs=10, seed=100 + seed)
            returns[name].append(evaluate_policy(model, eval_env, n_eval_episodes=10)[0])
    # A random policy lasts about 22 steps.
    assert_same_within_noise(returns["kernel"], returns["default"], floor=100)


def test_maskable_ppo_on_a_masked_env():
    returns: dict[str, list[float]] = {"kernel": [], "default": []}
    for seed in SEEDS:
        for name, policy, kwargs in (
            ("kernel", KernelMaskablePolicy, KERNEL_ALWAYS), ("default", "MlpPolicy", {})
        ):
            env = make_vec_env(PickTheMarkedEnv, n_envs=8, seed=seed)
            model = MaskablePPO(policy, env, n_steps=64, batch_size=256, n_epochs=4,
                                learning_rate=3e-3, seed=seed, device="cpu", policy_kwargs=kwargs)
            model.learn(2048)
            eval_env = make_vec_env(PickTheMarkedEnv, n_envs=8, seed=100 + seed)
            returns[name].append(evaluate_masked(model, eval_env, n_eval_episodes=40)[0])
    # Random legal choices earn about 16 / 3 = 5.3 an episode, the best policy 16.
    assert_same_within_noise(returns["kernel"], returns["default"], floor=12)

