"""The ``ppo`` recipe: stable-baselines3 PPO on one environment id.

Environments that expose ``action_masks()`` get sb3-contrib's MaskablePPO instead, so illegal
choices are masked out rather than punished. Training is checkpointed exactly (see
:mod:`skillgym.training.resumable`), so ``--resume`` reaches the parameters an uninterrupted run
with the same seed reaches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from rich.console import Console
from sb3_contrib.common.maskable.utils import is_masking_supported
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from skillgym.progress import TrainingProgress
from skillgym.training.config import Config, ConfigError, get
from skillgym.training.logs import run_logger
from skillgym.training.recipes import Recipe
from skillgym.training.resumable import (
    CheckpointCallback,
    ResumableMaskablePPO,
    ResumablePPO,
    load_policy,
    load_training_state,
)
from skillgym.training.run import Checkpoint, RunDir

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "env": {
        "id": "CartPole-v1",
        # Sub-environments stepped in one process; their states are checkpointed exactly.
        "n_envs": 4,
        "kwargs": {},
    },
    "train": {
        "total_timesteps": 100_000,
        "checkpoint_every": 10_000,
        # One thread keeps small networks fast and runs reproducible on a shared CPU.
        "torch_threads": 1,
    },
    "ppo": {
        "learning_rate": 3e-4,
        "n_steps": 256,
        "batch_size": 64,
        "n_epochs": 10,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "clip_range": 0.2,
        "ent_coef": 0.0,
        "vf_coef": 0.5,
        "max_grad_norm": 0.5,
        "net_arch": [64, 64],
    },
}

_POSITIVE = (
    "env.n_envs",
    "train.total_timesteps",
    "train.checkpoint_every",
    "train.torch_threads",
    "ppo.n_steps",
    "ppo.batch_size",
    "ppo.n_epochs",
)


def check(config: Config) -> None:
    """Reject a configuration PPO cannot run, naming the key and the allowed values."""
    import skillgym  # noqa: F401  (registers the skillgym/ ids)

    env_id = get(config, "env.id")
    if env_id not in gym.registry:
        raise ConfigError(f"env.id: unknown environment id '{env_id}'; run 'skillgym list' "
                          "or see gymnasium.pprint_registry()")
    for key in _POSITIVE:
        if get(config, key) < 1:
            raise ConfigError(f"{key} must be a positive integer, got {get(config, key)}")
    if not all(width >= 1 for width in get(config, "ppo.net_arch")):
        raise ConfigError(f"ppo.net_arch must list positive layer widths, got "
                          f"{get(config, 'ppo.net_arch')}")
    for key in ("ppo.gamma", "ppo.gae_lambda"):
        if not 0.0 <= get(config, key) <= 1.0:
            raise ConfigError(f"{key} must be in [0, 1], got {get(config, key)}")
    kwargs = get(config, "env.kwargs")
    try:
        # Environments check their arguments at construction (a TypeError or ValueError).
        gym.make(env_id, **kwargs).close()
    except (TypeError, ValueError) as error:
        raise ConfigError(f"env.kwargs: {env_id} rejected {kwargs}: {error}") from None


def env_of(config: Config) -> tuple[str, dict[str, Any]]:
    """The environment id and keyword arguments ``config`` trains on."""
    return get(config, "env.id"), dict(get(config, "env.kwargs"))


def make_env(config: Config) -> VecEnv:
    """The seeded vector environment; ``Monitor`` records the episode returns that are logged."""
    env_id, kwargs = env_of(config)

    def make() -> gym.Env:
        return Monitor(gym.make(env_id, **kwargs))

    env = DummyVecEnv([make] * get(config, "env.n_envs"))
    # Applied at the first reset: sub-environment i starts from seed + i.
    env.seed(config["seed"])
    return env


def make_model(config: Config, env: VecEnv) -> BaseAlgorithm:
    """A new PPO (MaskablePPO when the env has ``action_masks()``) for ``env``."""
    ppo = dict(config["ppo"])
    net_arch = ppo.pop("net_arch")
    cls = ResumableMaskablePPO if is_masking_supported(env) else ResumablePPO
    dict_obs = isinstance(env.observation_space, gym.spaces.Dict)
    policy = "MultiInputPolicy" if dict_obs else "MlpPolicy"
    return cls(policy, env, seed=config["seed"], device="cpu", policy_kwargs={"net_arch": net_arch},
               **ppo)


def learn(run: RunDir, config: Config, resume: Checkpoint | None,
          build: Callable[[Config], BaseAlgorithm]) -> None:
    """Train the model ``build(config)`` makes (or the checkpoint's, when resuming) to
    ``train.total_timesteps``, checkpointing every ``train.checkpoint_every`` steps."""
    torch.set_num_threads(get(config, "train.torch_threads"))
    logger = run_logger(run, resume.step if resume else None)
    if resume is None:
        model = build(config)
        model.set_logger(logger)
    else:
        model = load_training_state(resume.path, logger)
    total = get(config, "train.total_timesteps")
    progress = TrainingProgress(total, Console(stderr=True))
    callbacks = CallbackList([CheckpointCallback(run, get(config, "train.checkpoint_every")),
                              progress])
    try:
        model.learn(total - model.num_timesteps, callback=callbacks,
                    reset_num_timesteps=resume is None)
    finally:
        progress.progress.stop()
        logger.close()


def train(run: RunDir, config: Config, resume: Checkpoint | None) -> None:
    """Train (or continue training) to ``train.total_timesteps``, checkpointing as it goes."""
    learn(run, config, resume, lambda config: make_model(config, make_env(config)))


RECIPE = Recipe(
    name="ppo",
    defaults=DEFAULTS,
    check=check,
    train=train,
    load_agent=lambda path: load_policy(Path(path)),
    env_of=env_of,
)
