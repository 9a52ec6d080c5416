"""The ``keye-router`` recipe: PPO learns when the language model should think.

The policy is :class:`~skillgym.policies.KernelMlpPolicy` (its rollouts run through the OpenCL
kernel), the environment the natively batched ``Keye-ModeSelect-v0`` behind
:class:`~skillgym.agents.vec_env.GymnasiumVecEnv`, so every step asks the responder for the whole
batch's missing responses at once. Responses are cached in the run folder
(``responses.jsonl``): each prompt of the pool is answered once per mode, however long the
router trains, and a resumed run regenerates nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gymnasium.wrappers.vector import RecordEpisodeStatistics
from stable_baselines3.common.base_class import BaseAlgorithm

from skillgym.agents.vec_env import GymnasiumVecEnv
from skillgym.envs.keye.mode_select import ModeSelectVectorEnv
from skillgym.models.response_cache import ResponseCache
from skillgym.policies import KernelMlpPolicy
from skillgym.training.config import Config, ConfigError, get
from skillgym.training.recipes import THREADS_DEFAULTS, Recipe, threads_of
from skillgym.training.recipes.ppo import DEFAULTS as PPO_DEFAULTS
from skillgym.training.recipes.ppo import learn
from skillgym.training.resumable import ResumablePPO, load_policy
from skillgym.training.run import Checkpoint, RunDir

ENV_ID = "skillgym/Keye-ModeSelect-v0"
CACHE_FILE = "responses.jsonl"

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "env": {
        # "builtin" (the shipped model) or a model checkpoint file.
        "responder": "builtin",
        "levels": [1, 2, 3, 4, 5, 6],
        "modes": ["no_think", "think"],
        "pool_size": 200,
        "token_cost": 5e-4,
        "n_envs": 64,
    },
    "train": {"total_timesteps": 20_480, "checkpoint_every": 4096},
    "threads": THREADS_DEFAULTS,
    # "kernel": rollouts through the explicit-SIMD policy kernel; "torch": SB3's MlpPolicy.
    "policy": "kernel",
    "ppo": {**PPO_DEFAULTS["ppo"], "n_steps": 32, "batch_size": 256, "n_epochs": 4,
            "ent_coef": 0.01, "gamma": 1.0, "gae_lambda": 1.0, "learning_rate": 1e-3},
}

POLICIES = ("kernel", "torch")


def env_of(config: Config) -> tuple[str, dict[str, Any]]:
    """The environment id and keyword arguments ``config`` trains on."""
    env = get(config, "env")
    responder = None if env["responder"] == "builtin" else env["responder"]
    return ENV_ID, {"responder": responder, "levels": list(env["levels"]),
                    "modes": list(env["modes"]), "pool_size": env["pool_size"],
                    "token_cost": env["token_cost"]}


def check(config: Config) -> None:
    """Reject a configuration the recipe cannot run."""
    threads_of(config)
    if get(config, "policy") not in POLICIES:
        raise ConfigError(f"policy must be one of {list(POLICIES)}, got {get(config, 'policy')!r}")
    for key in ("env.n_envs", "env.pool_size", "train.total_timesteps",
                "train.checkpoint_every", "ppo.n_steps", "ppo.batch_size",
                "ppo.n_epochs"):
        if get(config, key) < 1:
            raise ConfigError(f"{key} must be a positive integer, got {get(config, key)}")
    responder = get(config, "env.responder")
    if responder != "builtin" and not Path(responder).is_file():
        raise ConfigError(f"env.responder must be 'builtin' or a model checkpoint file, got "
                          f"{responder!r}")
    _, kwargs = env_of(config)
    try:
        # Validates levels, modes and costs; the responder is only loaded on first use.
        ModeSelectVectorEnv(1, **{**kwargs, "pool_size": 1})
    except ValueError as error:
        raise ConfigError(f"env: {error}") from None


def make_model(config: Config, run: RunDir) -> BaseAlgorithm:
    """PPO with the chosen policy on the batched env, its responses cached in ``run``."""
    _, kwargs = env_of(config)
    venv = ModeSelectVectorEnv(get(config, "env.n_envs"), **kwargs,
                               cache=ResponseCache(run.path / CACHE_FILE))
    # Gymnasium's episode statistics, not SB3's VecMonitor: a VecEnvWrapper cannot be pickled
    # into the exact checkpoints (it keeps its class's members, an ABC's among them).
    env = GymnasiumVecEnv(RecordEpisodeStatistics(venv))
    env.seed(config["seed"])
    ppo = dict(get(config, "ppo"))
    net_arch = ppo.pop("net_arch")
    policy = KernelMlpPolicy if get(config, "policy") == "kernel" else "MultiInputPolicy"
    return ResumablePPO(policy, env, seed=config["seed"], device="cpu",
                        policy_kwargs={"net_arch": net_arch}, **ppo)


def train(run: RunDir, config: Config, resume: Checkpoint | None) -> None:
    """Train the router (or continue), checkpointing as it goes."""
    learn(run, config, resume, lambda config: make_model(config, run))


RECIPE = Recipe(
    name="keye-router",
    defaults=DEFAULTS,
    check=check,
    train=train,
    load_agent=lambda path: load_policy(Path(path)),
    env_of=env_of,
)
