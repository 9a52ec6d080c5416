"""The ``ppo`` recipe: stable-baselines3 PPO on one environment id.

Environments that expose ``action_masks()`` get sb3-contrib's MaskablePPO instead, so illegal
choices are masked out rather than punished. By default the run takes the suite's fast path: for
discrete actions the policy's rollouts run through the explicit-SIMD kernel (``policy = "auto"``:
:class:`~skillgym.policies.KernelMlpPolicy` / :class:`~skillgym.policies.KernelMaskablePolicy`),
and a skillgym id with a natively batched twin is stepped as one batch (``env.vec = "auto"``: the
twin behind :class:`~skillgym.agents.vec_env.GymnasiumVecEnv`, otherwise SB3's ``DummyVecEnv``).
``policy = "torch"`` and ``env.vec = "dummy"`` give SB3's stock setup; ``env.vec = "subproc"``
steps the single envs in worker processes.

Training is checkpointed exactly (see :mod:`skillgym.training.resumable`), so ``--resume``
reaches the parameters an uninterrupted run with the same seed reaches. With ``subproc`` the
workers' environments cannot be saved: a resumed run starts new episodes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from rich.console import Console
from sb3_contrib.common.maskable.utils import is_masking_supported
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from skillgym.agents.vec_env import GymnasiumVecEnv
from skillgym.policies import KernelMaskablePolicy, KernelMlpPolicy, bool_mask_buffer
from skillgym.progress import TrainingProgress
from skillgym.training.config import Config, ConfigError, get
from skillgym.training.logs import run_logger
from skillgym.training.recipes import THREADS_DEFAULTS, Recipe, apply_threads, threads_of
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
        "n_envs": 4,
        "kwargs": {},
        # How the sub-environments are stepped: "auto" (the natively batched twin when a skillgym
        # id has one, else "dummy"), "native", "dummy" (one by one in this process) or "subproc".
        "vec": "auto",
    },
    "train": {
        "total_timesteps": 100_000,
        "checkpoint_every": 10_000,
    },
    # "kernel": rollouts through the explicit-SIMD policy kernel; "torch": SB3's MlpPolicy;
    # "auto": the kernel wherever it can run the policy (discrete actions).
    "policy": "auto",
    # One thread each keeps small networks fast and runs reproducible on a shared CPU.
    "threads": THREADS_DEFAULTS,
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

# Settings tuned per environment id (rl-baselines3-zoo keeps PPO's this way): a layer over
# DEFAULTS that a config file and overrides still change (``skillgym.training.recipes.configure``).
# AEC-Add learns from the per-digit reward: with these it reaches 95 % at 3 digits in about 175k
# steps (``benchmarks/train_speed.py``); with the sparse reward (``--set
# 'env.kwargs={reward_mode="sparse"}'``) and for AEC-Sub (``--env skillgym/AEC-Sub-v0``) the
# same settings did not reach it within 300k and 600k steps.
TUNED: dict[str, dict[str, Any]] = {
    "skillgym/AEC-Add-v0": {
        "env": {"n_envs": 64, "kwargs": {"reward_mode": "digit"}},
        "train": {"total_timesteps": 500_000, "checkpoint_every": 65_536},
        "ppo": {"learning_rate": 1e-3, "n_steps": 64, "batch_size": 1024, "n_epochs": 4,
                "ent_coef": 0.01},
    },
}

POLICIES = ("auto", "kernel", "torch")
VEC_KINDS = ("auto", "native", "dummy", "subproc")

_POSITIVE = (
    "env.n_envs",
    "train.total_timesteps",
    "train.checkpoint_every",
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
    threads_of(config)
    for key, allowed in (("policy", POLICIES), ("env.vec", VEC_KINDS)):
        if get(config, key) not in allowed:
            raise ConfigError(f"{key} must be one of {list(allowed)}, got {get(config, key)!r}")
    if get(config, "env.vec") == "native" and not has_native_twin(env_id):
        raise ConfigError(f"env.vec: {env_id} has no natively batched skillgym twin; use 'auto', "
                          "'dummy' or 'subproc'")
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
        env = gym.make(env_id, **kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"env.kwargs: {env_id} rejected {kwargs}: {error}") from None
    env.close()
    if get(config, "policy") == "kernel" and not kernel_can_run(env.action_space):
        raise ConfigError(f"policy: the kernel policy needs Discrete or MultiDiscrete actions, "
                          f"{env_id} has {env.action_space}; use policy='auto' or 'torch'")


def env_of(config: Config) -> tuple[str, dict[str, Any]]:
    """The environment id and keyword arguments ``config`` trains on."""
    return get(config, "env.id"), dict(get(config, "env.kwargs"))


def has_native_twin(env_id: str) -> bool:
    """Whether ``env_id`` is one of the suite's envs with a natively batched twin.

    Only the suite's own: their twins take one seed per sub-environment, as SB3 seeds them
    (``seed + i``), while Gymnasium's vectorised classics (``CartPole-v1``) take one seed for the
    whole batch.
    """
    return env_id.startswith("skillgym/") and gym.registry[env_id].vector_entry_point is not None


def same_step_where_offered(env_id: str) -> dict[str, Any]:
    """``autoreset_mode=SAME_STEP`` for a twin that takes the argument, else nothing: a twin
    that resets its ended episodes within the step spares the SB3 adapter a reset call after
    every step in which some episode ends (its first observations are SB3's next ones)."""
    twin = load_env_creator(gym.registry[env_id].vector_entry_point)
    if "autoreset_mode" in inspect.signature(twin).parameters:
        return {"autoreset_mode": AutoresetMode.SAME_STEP}
    return {}


def vec_kind(config: Config) -> str:
    """How ``config``'s environment is stepped: ``"native"``, ``"dummy"`` or ``"subproc"``."""
    kind = get(config, "env.vec")
    if kind == "auto":
        return "native" if has_native_twin(get(config, "env.id")) else "dummy"
    return kind


def kernel_can_run(action_space: gym.Space) -> bool:
    """Whether the kernel policies can act in ``action_space`` (discrete choices only)."""
    return isinstance(action_space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete))


def policy_kind(config: Config, action_space: gym.Space) -> str:
    """The policy ``config`` trains: ``"kernel"`` or ``"torch"``."""
    kind = get(config, "policy")
    if kind == "auto":
        return "kernel" if kernel_can_run(action_space) else "torch"
    return kind


def make_env(config: Config) -> VecEnv:
    """The seeded vector environment, recording the episode returns that are logged."""
    env_id, kwargs = env_of(config)
    n_envs = get(config, "env.n_envs")
    kind = vec_kind(config)
    if kind == "native":
        venv = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point",
                            **same_step_where_offered(env_id), **kwargs)
        # Gymnasium's episode statistics, not SB3's VecMonitor: a VecEnvWrapper cannot be
        # pickled into the exact checkpoints (it keeps its class's members, an ABC's among them).
        env: VecEnv = GymnasiumVecEnv(RecordEpisodeStatistics(venv))
    else:
        def make() -> gym.Env:
            return Monitor(gym.make(env_id, **kwargs))

        env = (DummyVecEnv if kind == "dummy" else SubprocVecEnv)([make] * n_envs)
    # Applied at the first reset: sub-environment i starts from seed + i.
    env.seed(config["seed"])
    return env


def make_model(config: Config, env: VecEnv) -> BaseAlgorithm:
    """A new PPO (MaskablePPO when the env has ``action_masks()``) for ``env``."""
    ppo = dict(config["ppo"])
    net_arch = ppo.pop("net_arch")
    masked = is_masking_supported(env)
    cls = ResumableMaskablePPO if masked else ResumablePPO
    if policy_kind(config, env.action_space) == "kernel":
        policy: Any = KernelMaskablePolicy if masked else KernelMlpPolicy
        if masked:
            ppo["rollout_buffer_class"] = bool_mask_buffer(env.observation_space)
    else:
        dict_obs = isinstance(env.observation_space, gym.spaces.Dict)
        policy = "MultiInputPolicy" if dict_obs else "MlpPolicy"
    return cls(policy, env, seed=config["seed"], device="cpu", policy_kwargs={"net_arch": net_arch},
               **ppo)


def learn(run: RunDir, config: Config, resume: Checkpoint | None,
          build: Callable[[Config], BaseAlgorithm],
          rebuild_env: Callable[[Config], VecEnv] = make_env) -> None:
    """Train the model ``build(config)`` makes (or the checkpoint's, when resuming) to
    ``train.total_timesteps``, checkpointing every ``train.checkpoint_every`` steps.
    ``rebuild_env`` makes the environment of a resumed run whose checkpoint could not hold it."""
    apply_threads(config)
    logger = run_logger(run, resume.step if resume else None)
    if resume is None:
        model = build(config)
        model.set_logger(logger)
    else:
        model = load_training_state(resume.path, logger)
        if model.get_env() is None:
            model.set_env(rebuild_env(config))
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
    tuned=lambda config: TUNED.get(get(config, "env.id"), {}),
)
