"""stable-baselines3's ``VecEnv`` over a Gymnasium 1.x vector environment.

SB3 trains on its own ``VecEnv`` API (``reset()`` returns observations only, ``step`` returns
``(obs, rewards, dones, infos)`` with one info dict per sub-environment and the episode's last
observation in ``infos[i]["terminal_observation"]``), and has no adapter for Gymnasium's
``VectorEnv``. :class:`GymnasiumVecEnv` is that adapter: it wraps a natively batched twin
(``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``), a
``SyncVectorEnv``, or any ``gymnasium.vector.VectorEnv``, and behaves as SB3's ``DummyVecEnv``
over the single environments would, step for step, without stepping them one by one.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.env_util import is_wrapped
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

# The keys a SAME_STEP vector env adds for the sub-environments it reset within the step.
_FINAL_KEYS = ("final_obs", "_final_obs", "final_info", "_final_info")
# The key of Gymnasium's RecordEpisodeStatistics, which is also where SB3 looks for returns.
_EPISODE_KEY = "episode"


def autoreset_mode_of(venv: VectorEnv) -> AutoresetMode:
    """The vector env's ``metadata["autoreset_mode"]``; a clear error if it is missing."""
    mode = venv.metadata.get("autoreset_mode")
    if mode is None:
        raise ValueError(
            f"venv: {type(venv.unwrapped).__name__} does not declare metadata['autoreset_mode']; "
            f"set it to one of {[m.name for m in AutoresetMode]} (gymnasium.vector.AutoresetMode)"
        )
    try:
        return AutoresetMode(mode)
    except ValueError:
        raise ValueError(
            f"venv: metadata['autoreset_mode'] must be one of {[m.name for m in AutoresetMode]}, "
            f"got {mode!r}"
        ) from None


def observation_rows(obs: VecEnvObs, rows: np.ndarray) -> list[Any]:
    """The single-env observations of ``rows`` of a batched observation, as copies.

    One gather per array, then its rows at C speed: a column of scalars becomes Python numbers,
    a wider array the views of its private copy, which a later partial reset that rewrites the
    batch cannot change.
    """
    if isinstance(obs, dict):
        keys = list(obs)
        columns = [_rows_of(obs[key][rows]) for key in keys]
        # Equal lengths by construction; strict=True would cost a third of this function.
        return [dict(zip(keys, values, strict=False)) for values in zip(*columns, strict=False)]
    if isinstance(obs, tuple):
        return list(zip(*(_rows_of(value[rows]) for value in obs), strict=False))
    return _rows_of(obs[rows])


def _rows_of(picked: np.ndarray) -> list[Any]:
    """The rows of a gathered array: Python scalars for a column, arrays otherwise."""
    return picked.tolist() if picked.ndim == 1 else list(picked)


def fill_infos(per_env: list[dict[str, Any]], infos: dict[str, Any],
               rows: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Add Gymnasium's vector infos to ``per_env``, SB3's one dict per sub-environment.

    A vector info is an array over the batch with a ``_key`` mask of the sub-environments that
    have it (a nested dict for a dict-valued info); sub-environment ``i`` gets ``infos[key][i]``
    only where the mask is true. Numbers become Python scalars, as the single env's dict holds.
    Only the sub-environments ``rows`` (indices; all by default) are filled.
    """
    every = rows is None
    rows = np.arange(len(per_env)) if every else rows
    for key, value in infos.items():
        if key.startswith("_") and key[1:] in infos:
            continue
        mask = infos.get(f"_{key}")
        have = rows if mask is None else rows[mask[rows]]
        if not len(have):
            continue
        if isinstance(value, dict):
            # dicts only for the rows that have it (an episode's statistics: the few that ended)
            nested: list[Any] = [None] * len(per_env)
            for row in have.tolist():
                nested[row] = {}
            fill_infos(nested, value, have)
            items: Sequence[Any] = [nested[row] for row in have.tolist()]
        elif isinstance(value, np.ndarray):
            whole = every and len(have) == len(per_env)
            if value.ndim == 1:  # one tolist() for the column
                items = (value if whole else value[have]).tolist()
            else:  # rows of a wider array stay arrays, copies the env's later steps cannot change
                items = list(value.copy() if whole else value[have])
        else:
            items = [value[row] for row in have.tolist()]
        for row, item in zip(have.tolist(), items, strict=False):  # one item per row
            per_env[row][key] = item
    return per_env


def _sub_envs(venv: VectorEnv) -> list[gym.Env] | None:
    """The single environments a vector env steps in this process (``SyncVectorEnv.envs``)."""
    envs = getattr(venv.unwrapped, "envs", None)
    if (
        isinstance(envs, (list, tuple))
        and len(envs) == venv.num_envs
        and all(isinstance(env, gym.Env) for env in envs)
    ):
        return list(envs)
    return None


class GymnasiumVecEnv(VecEnv):
    """A Gymnasium 1.x ``VectorEnv`` as a stable-baselines3 ``VecEnv``.

    ``observation_space`` and ``action_space`` are the vector env's single spaces. ``reset()``
    returns the batch of observations (a dict of arrays for a Dict space) and puts the reset
    infos, one dict per sub-environment, in ``reset_infos``. ``step`` returns ``(obs, rewards,
    dones, infos)`` with float32 rewards, ``dones = terminated | truncated`` and, as
    ``DummyVecEnv``, ``infos[i]["TimeLimit.truncated"] = truncated and not terminated``; for a
    sub-environment that is done, ``infos[i]["terminal_observation"]`` is the last observation of
    its episode, ``obs[i]`` is the first of its next one and ``reset_infos[i]`` that reset's info.

    Auto-reset, by the vector env's ``metadata["autoreset_mode"]`` (required: a vector env that
    does not declare it is refused):

    - ``NEXT_STEP`` (Gymnasium's default, and the skillgym twins') and ``DISABLED``: the
      sub-environments that are done are reset within the same ``step``, by one
      ``reset(options={"reset_mask": dones})``, instead of spending the next step on the reset.
      The vector env must support ``reset_mask`` and, for the sub-environments it does not
      reset, return their current observations (``SyncVectorEnv`` and the twins do).
    - ``SAME_STEP``: the vector env has already reset them; the last observation and the
      step's info come from its ``infos["final_obs"]`` and ``infos["final_info"]``.

    Seeding as SB3's ``DummyVecEnv``: ``seed(s)`` makes the next ``reset()`` seed sub-environment
    ``i`` with ``s + i`` (one ``venv.reset(seed=[s, s + 1, ...])``), and ``set_options`` gives
    that reset its options. A Gymnasium vector env takes one options dict for the whole batch,
    so per-sub-environment options must all be equal.

    Attributes and methods (``get_attr``, ``set_attr``, ``env_method``, ``has_attr``):

    - a vector env that holds its single environments in this process (``SyncVectorEnv``'s
      ``envs``) is reached through them, exactly as ``DummyVecEnv`` does;
    - otherwise (a natively batched twin) the name is read from the vector env itself, once for
      the whole batch, whatever ``indices``: a numpy array whose first axis is ``num_envs`` (say
      the twin's ``action_masks()`` or ``level``) is split into one row per sub-environment, and
      any other value is returned once per index. ``set_attr`` then sets the batch's one value
      and needs every index. This is how sb3-contrib's ``MaskablePPO`` (``get_action_masks``,
      ``is_masking_supported``) gets the twin's masks.

    Args:
        venv: the Gymnasium vector environment (a ``gymnasium.vector.VectorEnv``, wrappers
            included); :meth:`close` closes it.
    """

    def __init__(self, venv: VectorEnv) -> None:
        if isinstance(venv, VecEnv):
            raise TypeError(f"venv is already a stable-baselines3 VecEnv ({type(venv).__name__})")
        if not isinstance(venv, VectorEnv):
            hint = " (a single env: use gym.make_vec)" if isinstance(venv, gym.Env) else ""
            raise TypeError(
                f"venv must be a gymnasium.vector.VectorEnv, got {type(venv).__name__}{hint}"
            )
        self.venv = venv
        self.autoreset_mode = autoreset_mode_of(venv)
        self._envs = _sub_envs(venv)
        # SB3's constructor reads get_attr("render_mode"), which needs num_envs.
        self.num_envs = venv.num_envs
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: Any = None

    # ------------------------------------------------------------------ stepping

    def reset(self) -> VecEnvObs:
        """Reset every sub-environment with the seeds and options set since the last reset."""
        seeds = None if all(seed is None for seed in self._seeds) else list(self._seeds)
        obs, infos = self.venv.reset(seed=seeds, options=self._batch_options())
        self.reset_infos = fill_infos([{} for _ in range(self.num_envs)], infos)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Keep the batch of actions for :meth:`step_wait`."""
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        """Step every sub-environment; reset those that are done, as ``DummyVecEnv`` does."""
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        dones = np.logical_or(terminated, truncated)
        done_rows = np.flatnonzero(dones)
        timeouts = np.logical_and(truncated, np.logical_not(terminated)).tolist()
        per_env = [{"TimeLimit.truncated": timeout} for timeout in timeouts]
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            self._same_step_finals(per_env, infos, done_rows)
        else:
            fill_infos(per_env, infos)
            if len(done_rows):
                finals = observation_rows(obs, done_rows)
                obs, reset_infos = self.venv.reset(options={"reset_mask": dones})
                for row, final in zip(done_rows.tolist(), finals, strict=True):
                    per_env[row]["terminal_observation"] = final
                    self.reset_infos[row] = {}
                # the reset's infos are masked to the rows it reset
                fill_infos(self.reset_infos, reset_infos)
        return obs, np.asarray(rewards, dtype=np.float32), dones, per_env

    def _same_step_finals(
        self, per_env: list[dict[str, Any]], infos: dict[str, Any], done_rows: np.ndarray
    ) -> None:
        """SAME_STEP: a done row's top-level info is its reset's; its step's is ``final_info``,
        and the statistics of the episode that ended (``episode``, which Gymnasium's
        ``RecordEpisodeStatistics`` adds at the top level) go with it, where SB3 reads them."""
        fill_infos(per_env, {key: value for key, value in infos.items() if key not in _FINAL_KEYS})
        if not len(done_rows):
            return
        finals = fill_infos([{} for _ in per_env], infos.get("final_info", {}), done_rows)
        final_obs = infos["final_obs"]
        for row in done_rows.tolist():
            finals[row]["TimeLimit.truncated"] = per_env[row].pop("TimeLimit.truncated")
            if _EPISODE_KEY in per_env[row]:
                finals[row][_EPISODE_KEY] = per_env[row].pop(_EPISODE_KEY)
            finals[row]["terminal_observation"] = final_obs[row]
            self.reset_infos[row] = per_env[row]
            per_env[row] = finals[row]

    def _batch_options(self) -> dict[str, Any] | None:
        """The one options dict of the next reset (``None`` when none were set)."""
        first = self._options[0]
        if any(options != first for options in self._options[1:]):
            raise ValueError(
                "set_options: a Gymnasium vector env takes one options dict for all "
                f"sub-environments, got different ones: {self._options!r}"
            )
        return dict(first) if first else None

    def close(self) -> None:
        """Close the wrapped vector env."""
        self.venv.close()

    # ------------------------------------------------------------------ rendering

    def get_images(self) -> Sequence[np.ndarray | None]:
        """One RGB frame per sub-environment (the vector env's ``render()``)."""
        if self.render_mode != "rgb_array":
            warnings.warn(
                f"The render mode is {self.render_mode}, but get_images needs 'rgb_array'.",
                stacklevel=2,
            )
            return [None] * self.num_envs
        frames = self.venv.render()
        return [None] * self.num_envs if frames is None else list(frames)

    # ------------------------------------------------------------------ attributes

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """``attr_name`` of each sub-environment of ``indices`` (see the class docstring)."""
        rows = self._get_indices(indices)
        if self._envs is not None:
            return [self._envs[i].get_wrapper_attr(attr_name) for i in rows]
        return self._per_row(self._batch_attr(attr_name), rows)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set ``attr_name`` to ``value`` in the sub-environments of ``indices``."""
        rows = list(self._get_indices(indices))
        if self._envs is not None:
            for i in rows:
                self._envs[i].set_wrapper_attr(attr_name, value)
            return
        if sorted({i % self.num_envs for i in rows}) != list(range(self.num_envs)):
            raise ValueError(
                f"indices: {type(self.venv.unwrapped).__name__} holds one {attr_name!r} for the "
                f"whole batch; set_attr needs indices=None (all), got {indices!r}"
            )
        unwrapped = self.venv.unwrapped
        setattr(unwrapped if hasattr(unwrapped, attr_name) else self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """Call ``method_name`` per sub-environment of ``indices`` (see the class docstring)."""
        rows = self._get_indices(indices)
        if self._envs is not None:
            return [
                self._envs[i].get_wrapper_attr(method_name)(*method_args, **method_kwargs)
                for i in rows
            ]
        method = self._batch_attr(method_name)
        return self._per_row(method(*method_args, **method_kwargs), rows)

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        """Whether each single environment is wrapped in ``wrapper_class`` (a batch: never)."""
        rows = self._get_indices(indices)
        if self._envs is None:
            return [False for _ in rows]
        return [is_wrapped(self._envs[i], wrapper_class) for i in rows]

    def _batch_attr(self, name: str) -> Any:
        """``name`` of the vector env, else of the env under its vector wrappers."""
        for holder in (self.venv, self.venv.unwrapped):
            try:
                return getattr(holder, name)
            except AttributeError:
                continue
        raise AttributeError(f"{type(self.venv.unwrapped).__name__} has no attribute {name!r}")

    def _per_row(self, value: Any, rows: Sequence[int]) -> list[Any]:
        """A batch-level value per sub-environment: its row if it is per-row, else itself."""
        if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == self.num_envs:
            # one gather, then its rows: copies that the env's later steps cannot change
            return list(value[np.asarray(list(rows), dtype=np.intp)])
        return [value for _ in rows]
