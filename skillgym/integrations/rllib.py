"""skillgym's environments in RLlib: the ``rllib`` extra (``pip install 'skillgym[rllib]'``).

:func:`register_rllib_envs` registers every ``skillgym/`` Gymnasium id with Tune's registry under
the same name, and the PettingZoo multitask env (:func:`skillgym.envs.mtnas.parallel_env`, in
RLlib's ``ParallelPettingZooEnv``) as :data:`MTNAS_PARALLEL`::

    register_rllib_envs()
    config = (
        PPOConfig()
        .environment("skillgym/AEC-Add-v0", env_config={"level": 1, "legal_actions": True})
        .env_runners(env_to_module_connector=flatten_observations())
    )

Registering matters beyond this process: an RLlib env runner in another process (or on another
machine) knows neither skillgym's Gymnasium ids nor PettingZoo envs, but it receives Tune's
registry, whose creators import skillgym when they are unpickled there.

RLlib's default encoders take flat ``Box`` observations; skillgym's are ``Dict``, ``Discrete``
and ``MultiDiscrete`` spaces, which :func:`flatten_observations` one-hot encodes on the way into
the model. RLlib's default models do not mask actions and nothing in RLlib calls
``action_masks()``: in the AEC envs an action outside the mask is then a no-op that costs
``illegal_penalty``, which PPO has to learn to avoid (4 of the 304 actions are legal in
AEC-Add). ``env_config={"legal_actions": True}`` gives the policy the legal actions only
(:class:`LegalActions`; an AEC skill's mask never changes). See ``docs/training.md``.

Ray is imported only inside the functions that need it, when they are called.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from skillgym.envs.registration import entries

#: The RLlib name of the PettingZoo multitask env (one agent per task): not a Gymnasium id, as it
#: is a multi-agent env; its ``env_config`` is :class:`~skillgym.envs.mtnas.parallel.
#: MTNASParallelEnv`'s keyword arguments.
MTNAS_PARALLEL = "skillgym/MTNAS-Parallel-v0"

def import_rllib(module: str) -> Any:
    """The RLlib (or Tune) module ``module``, or an ImportError that says which extra to
    install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"RLlib needs the rllib extra: pip install 'skillgym[rllib]' ({error})") \
            from None


def import_register_env() -> Callable[[str, Callable[[dict], Any]], None]:
    """Tune's ``register_env``, or an ImportError that says which extra to install."""
    # RLlib itself, not only Tune: the ray extra has Tune but none of RLlib's dependencies, and
    # registering would then succeed only for training to fail later.
    import_rllib("ray.rllib")
    return import_rllib("ray.tune.registry").register_env


def skillgym_ids() -> list[str]:
    """Every Gymnasium id that skillgym registers, in ``skillgym list`` order."""
    return [entry.id for entry in entries()]


def make_env(env_id: str,
             env_config: Mapping[str, Any] | None = None) -> gym.Env | gym.vector.VectorEnv:
    """``gym.make(env_id, **env_config)``: the creator registered for each Gymnasium id.

    Two keys of ``env_config`` are not passed to the env:

    - ``legal_actions`` (``True``): wrap the env in :class:`LegalActions`, so that the policy
      chooses among the actions its ``action_masks()`` allows (the AEC envs; RLlib reads no
      masks of its own accord).
    - ``num_envs``, which RLlib adds in its ``"vector_entry_point"`` vectorisation mode
      (``env_runners(gym_env_vectorize_mode="vector_entry_point")``): that many copies as one
      vector env, the id's natively batched twin where it has one, else Gymnasium's
      ``SyncVectorEnv``.
    """
    kwargs = dict(env_config or {})
    legal_actions = bool(kwargs.pop("legal_actions", False))
    num_envs = kwargs.pop("num_envs", None)
    if num_envs is None:
        env = gym.make(env_id, **kwargs)
        return LegalActions(env) if legal_actions else env
    if legal_actions:
        raise ValueError(
            "legal_actions wraps single envs: use gym_env_vectorize_mode='sync' (RLlib's default) "
            "rather than 'vector_entry_point' with it"
        )
    mode = "vector_entry_point" if gym.spec(env_id).vector_entry_point else "sync"
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)


class LegalActions(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """The actions an env's ``action_masks()`` allows, as ``Discrete(k)``: action ``i`` is the
    ``i``-th allowed action of the env's own space.

    For envs whose mask does not change during an episode (every AEC env: a skill's mask depends
    only on the skill and on ``actions``), this is action masking for frameworks that cannot mask,
    such as RLlib's default models: the policy never spends a step on an illegal action.
    A mask that changes raises ``RuntimeError`` at the next ``reset``.

    Args:
        env: a Gymnasium env with a ``Discrete`` action space and ``action_masks()``.
    """

    def __init__(self, env: gym.Env) -> None:
        # recorded so that the wrapped env's spec can rebuild it (gym.make(env.spec))
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ActionWrapper.__init__(self, env)
        if not isinstance(env.action_space, gym.spaces.Discrete) or not hasattr(
            env.unwrapped, "action_masks"
        ):
            raise ValueError(
                f"LegalActions needs a Discrete action space and action_masks(), got "
                f"{env.action_space} on {type(env.unwrapped).__name__}"
            )
        self._mask = np.asarray(env.unwrapped.action_masks(), dtype=bool)
        self._legal = np.flatnonzero(self._mask) + env.action_space.start
        if len(self._legal) == 0:
            raise ValueError(f"{type(env.unwrapped).__name__} allows no action")
        self.action_space = gym.spaces.Discrete(len(self._legal))

    @property
    def legal(self) -> np.ndarray:
        """The env's own action for each of this wrapper's actions."""
        return self._legal.copy()

    def reset(self, **kwargs: Any):
        """Reset the env; ``RuntimeError`` if its mask is no longer the one at construction."""
        result = self.env.reset(**kwargs)
        if not np.array_equal(self.env.unwrapped.action_masks(), self._mask):
            raise RuntimeError(
                f"the action mask of {type(self.env.unwrapped).__name__} changed; LegalActions "
                "holds only for masks that do not"
            )
        return result

    def action(self, action: Any) -> int:
        """This wrapper's action ``i`` as the env's ``i``-th allowed action."""
        return int(self._legal[int(action)])


def make_mtnas_parallel(env_config: Mapping[str, Any] | None = None) -> Any:
    """The PettingZoo multitask env in RLlib's ``ParallelPettingZooEnv``: the creator registered
    as :data:`MTNAS_PARALLEL`; ``env_config`` holds ``parallel_env``'s keyword arguments."""
    wrappers = import_rllib("ray.rllib.env.wrappers.pettingzoo_env")
    from skillgym.envs.mtnas import parallel_env

    return wrappers.ParallelPettingZooEnv(parallel_env(**dict(env_config or {})))


def register_rllib_envs(ids: Iterable[str] | None = None) -> list[str]:
    """Register skillgym's environments with RLlib (Tune's ``register_env``); return the names.

    Each Gymnasium id is registered under the same name, its creator building
    ``gym.make(id, **env_config)``; :data:`MTNAS_PARALLEL` is the PettingZoo multitask env in
    RLlib's ``ParallelPettingZooEnv``. Registering again replaces the earlier creators, so
    calling this twice is harmless. Call it before ``ray.init`` or after: Tune's registry
    reaches the cluster either way.

    Args:
        ids: the names to register, from :func:`skillgym_ids` and :data:`MTNAS_PARALLEL`;
            ``None`` registers all of them.

    Returns:
        The names registered, in the order registered.

    Raises:
        ImportError: RLlib is not installed (the message names the extra).
        ValueError: a name that skillgym does not have (the message lists the allowed ones).
    """
    if isinstance(ids, str):
        raise ValueError(f"ids must be a list of names, not the string {ids!r}")
    known = [*skillgym_ids(), MTNAS_PARALLEL]
    names = known if ids is None else list(ids)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"ids has unknown names {unknown}; allowed: {known}")
    register_env = import_register_env()
    for name in names:
        if name == MTNAS_PARALLEL:
            register_env(name, make_mtnas_parallel)
        else:
            # a partial of a module-level function pickles by reference, so remote env runners
            # import skillgym to rebuild it
            register_env(name, functools.partial(make_env, name))
    return names


def flatten_observations(multi_agent: bool = False) -> Callable[..., Any]:
    """An ``env_to_module_connector`` for ``AlgorithmConfig.env_runners`` that one-hot encodes
    ``Discrete`` and ``MultiDiscrete`` observations and concatenates ``Dict`` ones (RLlib's
    ``FlattenObservations``), as RLlib's default encoders need a flat ``Box``.

    Args:
        multi_agent: ``True`` for a multi-agent env such as :data:`MTNAS_PARALLEL`.

    Returns:
        A function ``(env, spaces=None, device=None) -> connector``, the signature RLlib calls.
    """
    return functools.partial(_flatten_connector, multi_agent=multi_agent)


def _flatten_connector(env: Any = None, spaces: Any = None, device: Any = None, *,
                       multi_agent: bool) -> Any:
    connectors = import_rllib("ray.rllib.connectors.env_to_module")
    return connectors.FlattenObservations(multi_agent=multi_agent)


def episode_end_metrics(keys: Sequence[str] = ("is_success", "level")) -> Callable[..., None]:
    """An ``on_episode_end`` callback for ``AlgorithmConfig.callbacks`` that logs, for each key
    of ``keys`` in an episode's last ``info``, its mean over recent episodes as RLlib logs
    ``episode_return_mean`` (the last ``metrics_num_episodes_for_smoothing`` episodes, 100 by
    default), so that ``train()`` reports it under ``env_runners``.

    skillgym's envs report ``is_success`` (SB3's convention) at an episode's end, and the AEC envs
    their curriculum ``level``. Single-agent episodes only: a multi-agent episode's infos are
    per agent, and are skipped.

    Args:
        keys: the info keys to log; their values must be numbers or booleans.

    Returns:
        A function for ``config.callbacks(on_episode_end=...)``.
    """
    return functools.partial(_log_episode_end, keys=tuple(keys))


def _log_episode_end(*, episode: Any, env_runner: Any = None, metrics_logger: Any = None,
                     keys: tuple[str, ...], **kwargs: Any) -> None:
    if metrics_logger is None or not hasattr(episode, "get_infos"):
        return
    info = episode.get_infos(-1)
    if not isinstance(info, Mapping):
        return
    window = getattr(getattr(env_runner, "config", None), "metrics_num_episodes_for_smoothing",
                     100)
    for key in keys:
        if key in info:
            metrics_logger.log_value(key, float(info[key]), reduce="mean", window=window)
