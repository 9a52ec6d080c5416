"""Helpers of the training tests: tiny PPO settings, a masked test env, state comparison."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import gymnasium as gym
import numpy as np
import torch

import skillgym  # noqa: F401  (registers the skillgym/ ids)
from skillgym.training.resumable import load_policy

# Small enough that a run takes a second or two, large enough to exercise every code path.
TINY = [
    "env.n_envs=2",
    "ppo.n_steps=32",
    "ppo.batch_size=32",
    "ppo.n_epochs=2",
    "ppo.net_arch=[16]",
]

# The installed console script, as users run it.
SKILLGYM = str(Path(sys.executable).with_name("skillgym"))

MASKED_ID = "skillgym-tests/MaskedCorridor-v0"
AEC_ADD = "skillgym/AEC-Add-v0"
# The session fixtures (conftest.py) of a finished run on each masked env, for tests that
# run on both through request.getfixturevalue.
MASKED_RUNS = ("masked_run", "aec_run")


class MaskedCorridor(gym.Env):
    """A corridor of ``length`` cells; reach the right end. Illegal moves raise, so only an agent
    that obeys ``action_masks()`` can play it.

    Actions: 0 left, 1 stay, 2 right; moving off either end is illegal. Observation: the one-hot
    position. Reward 1 on reaching the end, which terminates with ``is_success``.
    """

    def __init__(self, length: int = 4):
        self.length = length
        self.observation_space = gym.spaces.Box(0.0, 1.0, (length,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.position = 0

    def _obs(self) -> np.ndarray:
        return np.eye(self.length, dtype=np.float32)[self.position]

    def action_masks(self) -> np.ndarray:
        return np.array([self.position > 0, True, self.position < self.length - 1])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = int(self.np_random.integers(0, self.length - 1))
        return self._obs(), {}

    def step(self, action):
        if not self.action_masks()[action]:
            raise AssertionError(f"illegal action {action} at position {self.position}")
        self.position += int(action) - 1
        done = self.position == self.length - 1
        return self._obs(), float(done), done, False, {"is_success": done}


if MASKED_ID not in gym.registry:
    gym.register(MASKED_ID, entry_point=MaskedCorridor, max_episode_steps=12)


def training_state(checkpoint: Path) -> dict[str, torch.Tensor]:
    """Every tensor a checkpoint's model holds: policy parameters and optimiser state, flat."""
    model = load_policy(checkpoint)
    tensors = dict(model.policy.state_dict())
    optimizer = model.policy.optimizer.state_dict()
    for index, state in optimizer["state"].items():
        for name, value in state.items():
            tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value)
    return tensors


def assert_bitwise_equal(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    """Same keys, and every tensor equal bit for bit (dtype and shape included)."""
    assert left.keys() == right.keys()
    for key in left:
        assert left[key].dtype == right[key].dtype, key
        assert torch.equal(left[key], right[key]), key


def learning_rows(rows: list[dict]) -> list[dict]:
    """Metrics rows without their wall-clock values, which differ from run to run."""
    clock = {"time/fps", "time/time_elapsed"}
    return [{k: v for k, v in row.items() if k not in clock} for row in rows]


def load_benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/<name>.py`` as a module (its functions, not a run)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
