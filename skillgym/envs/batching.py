"""What every natively batched twin shares with ``SyncVectorEnv``: seeds and partial resets.

``SyncVectorEnv.reset(seed=s)`` seeds sub-environment ``i`` with ``s + i`` (or with ``seed[i]``
from a list), and ``options["reset_mask"]`` resets only some sub-environments. A batched twin
whose episodes come from :mod:`skillgym.envs.counter_rng` reproduces that by giving each
sub-environment the key a single environment would draw from its own seeded ``np_random``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv

from skillgym.envs.counter_rng import draw_key


def sync_seeds(seed: int | list[int | None] | None, num_envs: int) -> list[int | None]:
    """One seed (or ``None``) per sub-environment, by ``SyncVectorEnv``'s convention."""
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return [int(seed) + i for i in range(num_envs)]
    if isinstance(seed, (list, tuple)) and len(seed) == num_envs:
        return list(seed)
    raise ValueError(f"seed must be None, an int, or a list of {num_envs} ints/None, got {seed!r}")


def reset_rows(mask: Any, num_envs: int, started: bool) -> np.ndarray:
    """Indices of the sub-environments to reset: all, or those of ``options["reset_mask"]``.

    A partial reset needs every sub-environment to have been reset once (``started``).
    """
    if mask is None:
        return np.arange(num_envs)
    if (
        not isinstance(mask, np.ndarray)
        or mask.shape != (num_envs,)
        or mask.dtype != np.bool_
        or not mask.any()
    ):
        raise ValueError(
            f"options['reset_mask'] must be a numpy bool array of shape ({num_envs},) "
            f"with at least one True, got {mask!r}"
        )
    if not started and not mask.all():
        raise ValueError("options['reset_mask'] can only be partial after a full reset()")
    return np.flatnonzero(mask)


def new_keys(
    rows: np.ndarray,
    seeds: list[int | None],
    keyed: np.ndarray,
    np_random: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows that get a new key, their keys)`` among the sub-environments being reset.

    A seeded row gets the key a single env draws from ``np_random`` seeded with its seed (one
    generator per seeded row: explicit seeding is the only loop over sub-environments). An
    unseeded row that never had a key gets one from the batch's own ``np_random``; the others
    keep theirs and move on to their next episode.
    """
    is_seeded = np.fromiter((seed is not None for seed in seeds), dtype=bool, count=len(seeds))
    seeded = rows[is_seeded[rows]]
    keys = [draw_key(seeding.np_random(seeds[row])[0]) for row in seeded.tolist()]
    unseeded = rows[~is_seeded[rows] & ~keyed[rows]]
    fresh = np_random.integers(0, 2**64, size=len(unseeded), dtype=np.uint64)
    return np.concatenate([seeded, unseeded]), np.concatenate([np.array(keys, np.uint64), fresh])


def reset_keyed(env: Any, episodes: Any, seed: int | list[int | None] | None,
                options: dict[str, Any] | None, started: bool) -> None:
    """A batched twin's ``reset()`` over counter-keyed episodes: the rows to reset (all, or
    ``options["reset_mask"]``), their keys by ``SyncVectorEnv``'s seeding, and their first
    episodes drawn (``episodes`` has ``keyed``, ``rekey(rows, keys)`` and ``begin(rows)``).

    Raises:
        ValueError: an option other than ``reset_mask``, or a bad mask or seed.
    """
    options = dict(options or {})
    rows = reset_rows(options.pop("reset_mask", None), env.num_envs, started)
    if options:
        raise ValueError(f"the only option is reset_mask, got {sorted(options)}")
    seeds = sync_seeds(seed, env.num_envs)
    VectorEnv.reset(env, seed=seed if isinstance(seed, int) else None)
    rekeyed, keys = new_keys(rows, seeds, episodes.keyed, env.np_random)
    episodes.rekey(rekeyed, keys)
    episodes.begin(rows)


def checked_autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    """A twin's ``autoreset_mode`` argument as an ``AutoresetMode``: ``NEXT_STEP`` or
    ``SAME_STEP`` (or their values, ``"NextStep"`` and ``"SameStep"``).

    Raises:
        ValueError: any other value, with the allowed ones.
    """
    allowed = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)
    try:
        checked = AutoresetMode(mode)
    except ValueError:
        checked = None
    if checked not in allowed:
        raise ValueError(f"autoreset_mode must be one of {[m.value for m in allowed]}, "
                         f"got {mode!r}")
    return checked


def same_step_info(final_obs: dict[str, np.ndarray], ended: np.ndarray,
                   final_info: dict[str, Any]) -> dict[str, Any]:
    """The part of a step's ``info`` that a same-step autoreset adds where the sub-environments
    ``ended`` (a boolean mask) ended: each one's last observation (a row of the batch's
    ``final_obs``) in ``final_obs`` and ``final_info`` (a vector info of those rows), each with
    its ``_key`` mask, as ``SyncVectorEnv`` packs them."""
    observations = np.empty(len(ended), dtype=object)
    for row in np.flatnonzero(ended).tolist():
        observations[row] = {key: value[row] for key, value in final_obs.items()}
    return {"final_obs": observations, "_final_obs": ended.copy(), "final_info": final_info,
            "_final_info": ended.copy()}


def column_info(rows: np.ndarray, num_envs: int,
                components: dict[str, np.ndarray]) -> dict[str, Any]:
    """A vector info in which the sub-environments ``rows`` (indices) have every one of
    ``components`` (one value per row), each with its ``_key`` mask, as ``SyncVectorEnv``
    gathers it."""
    has = np.zeros(num_envs, dtype=bool)
    has[rows] = True
    info: dict[str, Any] = {}
    for key, value in components.items():
        column = np.zeros(num_envs, dtype=value.dtype)
        column[rows] = value
        info[key], info[f"_{key}"] = column, has
    return info


def info_rows(info: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The part of a vector ``info`` (arrays, each with its ``_key`` mask) that the
    sub-environments ``rows`` (a boolean mask) hold: what ``SyncVectorEnv`` gathers from them
    alone (the others' entries zero, or ``None`` in an object column; a key none of them has
    left out)."""
    part: dict[str, Any] = {}
    for key, value in info.items():
        if key.startswith("_"):
            continue
        has = info[f"_{key}"] & rows
        if not has.any():
            continue
        column = (np.full(len(value), None, dtype=object) if value.dtype == object
                  else np.zeros_like(value))
        column[has] = value[has]
        part[key], part[f"_{key}"] = column, has
    return part


def checked_actions(actions: Any, num_envs: int, choices: int) -> np.ndarray:
    """A batched twin's ``step()`` actions as an array of ``num_envs`` integers in
    ``[0, choices)``.

    Raises:
        ValueError: anything else, with what was expected.
    """
    actions = np.asarray(actions)
    if actions.shape != (num_envs,) or not np.issubdtype(actions.dtype, np.integer) or (
            (actions < 0) | (actions >= choices)).any():
        raise ValueError(f"actions must be {num_envs} ints in [0, {choices}), got {actions!r}")
    return actions
