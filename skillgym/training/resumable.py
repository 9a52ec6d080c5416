"""Exact checkpoints of stable-baselines3 on-policy training.

A resumed run must end with bit-for-bit the parameters an uninterrupted run reaches, so a
checkpoint holds everything later updates depend on, taken at a rollout boundary (after one
``train()`` and before the next rollout, where no half-filled rollout buffer exists):

- the model: policy parameters, optimiser state, timestep counters, the last observation and
  episode-start flags, the episode statistics window (SB3's ``save``);
- the vector environment with every sub-environment mid-episode (pickled whole: its state,
  its ``np_random`` generator, its wrappers' counters), except worker processes
  (``SubprocVecEnv``), which a resumed run rebuilds;
- the global ``random``, numpy and torch generators (action sampling, minibatch shuffling),
  and the generator a kernel policy samples its actions from;
- the logger's values recorded but not yet written (the last update's losses).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import SubprocVecEnv

from skillgym.policies.buffers import encode_observations
from skillgym.training.run import RunDir, RunError

MODEL_FILE = "model.zip"
STATE_FILE = "state.pkl"
META_FILE = "meta.json"


class _RunIterations:
    """Numbers logged iterations from the start of the run, not of the latest ``learn()`` call.

    SB3 counts ``time/iterations`` in a local variable of ``learn()``, which restarts at zero
    when a resumed run calls ``learn()`` again.
    """

    def _setup_learn(self, *args: Any, **kwargs: Any) -> Any:
        result = super()._setup_learn(*args, **kwargs)
        self._iterations_before_learn = self.num_timesteps // (self.n_steps * self.n_envs)
        return result

    def dump_logs(self, iteration: int = 0) -> None:
        super().dump_logs(self._iterations_before_learn + iteration)


class ResumablePPO(_RunIterations, PPO):
    """stable-baselines3 PPO whose logged iteration count survives a resume."""


class ResumableMaskablePPO(_RunIterations, MaskablePPO):
    """sb3-contrib MaskablePPO whose logged iteration count survives a resume; a kernel
    policy's boolean-mask buffer holds the observations as its codes
    (:func:`~skillgym.policies.buffers.encode_observations`)."""

    def _setup_model(self) -> None:
        super()._setup_model()
        encode_observations(self.rollout_buffer, getattr(self.policy, "observation_coder", None))


ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "PPO": ResumablePPO,
    "MaskablePPO": ResumableMaskablePPO,
}


def algorithm_name(model: BaseAlgorithm) -> str:
    """The key of ``model``'s class in :data:`ALGORITHMS`."""
    for name, cls in ALGORITHMS.items():
        if type(model) is cls:
            return name
    raise TypeError(f"{type(model).__name__} is not one of {sorted(ALGORITHMS)}")


def _rng_state() -> dict[str, Any]:
    return {
        "random": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["random"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_training_state(model: BaseAlgorithm, folder: Path) -> None:
    """Write everything :func:`load_training_state` needs into ``folder``."""
    model.save(folder / MODEL_FILE)
    logger = model.logger
    env = model.get_env()
    state = {
        # Worker processes cannot be pickled: a resumed run rebuilds those envs (new episodes).
        "env": None if isinstance(env, SubprocVecEnv) else env,
        "rng": _rng_state(),
        # The kernel policies sample from a generator of their own.
        "sampling": getattr(model.policy, "sampling_state", lambda: None)(),
        "logger": {
            "values": dict(logger.name_to_value),
            "counts": dict(logger.name_to_count),
            "excluded": dict(logger.name_to_excluded),
        },
    }
    with (folder / STATE_FILE).open("wb") as handle:
        cloudpickle.dump(state, handle)
    meta = {"algorithm": algorithm_name(model), "step": int(model.num_timesteps)}
    # The kernel policies' layout, chosen per device: what the rollouts ran on.
    layout = getattr(model.policy, "kernel_layout", None)
    if layout is not None:
        meta["kernel_layout"] = layout
    (folder / META_FILE).write_text(json.dumps(meta) + "\n")


def _meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise RunError(f"'{folder}' is not a checkpoint: it has no readable {META_FILE}") from None
    if meta.get("algorithm") not in ALGORITHMS:
        raise RunError(f"checkpoint '{folder}' names unknown algorithm {meta.get('algorithm')!r}; "
                       f"known: {', '.join(ALGORITHMS)}")
    return meta


def load_policy(folder: Path) -> BaseAlgorithm:
    """The model of checkpoint ``folder``, without its environment (for evaluation)."""
    cls = ALGORITHMS[_meta(folder)["algorithm"]]
    return cls.load(folder / MODEL_FILE, device="cpu")


def load_training_state(folder: Path, logger: Logger) -> BaseAlgorithm:
    """The model of checkpoint ``folder`` with its environment, RNGs and pending log values.

    A model trained on worker processes (``SubprocVecEnv``) comes back without an environment:
    the caller sets a new one.

    Args:
        folder: a folder written by :func:`save_training_state`.
        logger: the logger the resumed run writes to; it receives the values recorded before
            the checkpoint but not yet written.
    """
    model = load_policy(folder)
    with (folder / STATE_FILE).open("rb") as handle:
        state = cloudpickle.load(handle)
    if state["env"] is not None:
        # Without force_reset the model keeps its saved last observation: the env is mid-episode.
        model.set_env(state["env"], force_reset=False)
    model.set_logger(logger)
    logger.name_to_value.update(state["logger"]["values"])
    logger.name_to_count.update(state["logger"]["counts"])
    logger.name_to_excluded.update(state["logger"]["excluded"])
    if state.get("sampling") is not None:
        model.policy.load_sampling_state(state["sampling"])
    # Last: loading builds freshly seeded parts (the policy, the kernel's generator) from the
    # global generators before their states are overwritten.
    _set_rng_state(state["rng"])
    return model


class CheckpointCallback(BaseCallback):
    """Saves an exact checkpoint at the first rollout boundary after every ``every`` steps.

    Also saves one when training ends, so the final model is always a checkpoint.

    Args:
        run: the run folder whose ``checkpoints/`` receives them.
        every: environment steps (summed over the vector env) between checkpoints; at least 1.
        offset: steps the run took before this model's (a run trained in stages); checkpoints
            are named by ``offset + num_timesteps``.
        write: fills a checkpoint folder for the model (default :func:`save_training_state`);
            a staged run adds what its other stages need.
    """

    def __init__(
        self,
        run: RunDir,
        every: int,
        offset: int = 0,
        write: Callable[[BaseAlgorithm, Path], None] = save_training_state,
    ):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.run = run
        self.every = every
        self.offset = offset
        self.write = write
        self.last_saved: int | None = None

    def _on_training_start(self) -> None:
        # A resumed run starts on the checkpoint it was loaded from.
        self.last_saved = self.num_timesteps

    def _on_rollout_start(self) -> None:
        if self.num_timesteps // self.every > self.last_saved // self.every:
            self._save()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if self.num_timesteps != self.last_saved:
            self._save()

    def _save(self) -> None:
        with self.run.new_checkpoint(self.offset + self.num_timesteps) as folder:
            self.write(self.model, folder)
        self.last_saved = self.num_timesteps
