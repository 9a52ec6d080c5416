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
