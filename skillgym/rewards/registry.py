"""The reward registry: built-in rewards by name, plus third-party ones from entry points.

A third-party package makes its rewards available to :func:`get`, :func:`names` and the
``skillgym rewards`` command by declaring an entry point in the group ``skillgym.rewards``
whose object is a callable taking the reward's configuration as keyword arguments and returning
a :class:`~skillgym.rewards.base.Reward` (a ``Reward`` subclass is such a callable)::

    [project.entry-points."skillgym.rewards"]
    my_reward = "my_package.rewards:MyReward"
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from skillgym.rewards.base import Reward

ENTRY_POINT_GROUP = "skillgym.rewards"

# Built-ins as import paths, so that listing names imports nothing.
_BUILTIN: dict[str, str] = {
    "accuracy": "skillgym.rewards.accuracy:AccuracyReward",
    "keye_format": "skillgym.rewards.format:KeyeFormatReward",
    "repetition_penalty": "skillgym.rewards.repetition:NgramRepetitionPenalty",
    "dense_repetition": "skillgym.rewards.repetition:DenseRepetitionPenalty",
    "loop": "skillgym.rewards.repetition:LoopPenalty",
    "cosine_length": "skillgym.rewards.length:CosineLengthReward",
    "soft_overlong": "skillgym.rewards.length:SoftOverlongPenalty",
    "adaptthink": "skillgym.rewards.mode_shaping:AdaptThinkReward",
    "thinkless": "skillgym.rewards.mode_shaping:ThinklessReward",
    "autothink": "skillgym.rewards.mode_shaping:AutoThinkReward",
    "weighted_sum": "skillgym.rewards.composition:WeightedSum",
}
_REGISTERED: dict[str, Callable[..., Reward]] = {}


def _load(path: str) -> Callable[..., Reward]:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _plugins() -> dict[str, Any]:
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def register(name: str, factory: Callable[..., Reward], *, replace: bool = False) -> None:
    """Make ``factory`` (keyword configuration -> :class:`Reward`) available as ``name``.

    Raises ``ValueError`` if the name is taken, unless ``replace``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ValueError(f"factory must be callable, got {factory!r}")
    if not replace and (name in _BUILTIN or name in _REGISTERED):
        raise ValueError(f"a reward named {name!r} is already registered; pass replace=True")
    _REGISTERED[name] = factory


def names() -> list[str]:
    """Every available reward name: built-in, registered and from entry points, sorted."""
    return sorted({*_BUILTIN, *_REGISTERED, *_plugins()})


def factory_of(name: str) -> Callable[..., Reward]:
    """The factory behind ``name``; ``ValueError`` listing the names if there is none."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _BUILTIN:
        return _load(_BUILTIN[name])
    plugin = _plugins().get(name)
    if plugin is None:
        raise ValueError(f"unknown reward {name!r}; available: {', '.join(names())}")
    try:
        return plugin.load()
    except Exception as error:  # a broken plugin must name itself, not fail obscurely
        raise ValueError(f"reward plugin {name!r} ({plugin.value}) failed to load: {error}") \
            from error


def get(name: str, **config: Any) -> Reward:
    """A configured reward by name, e.g. ``get("repetition_penalty", ngram_size=3)``.

    Raises ``ValueError`` for an unknown name or a bad configuration (naming the argument), and
    ``TypeError`` for an argument the reward does not take.
    """
    reward = factory_of(name)(**config)
    if not isinstance(reward, Reward):
        raise ValueError(f"reward {name!r} did not build a Reward but {type(reward).__name__}")
    return reward


def resolve(reward: Reward | str, **config: Any) -> Reward:
    """``reward`` itself if it is a :class:`Reward` (then ``config`` must be empty), else
    ``get(reward, **config)``."""
    if isinstance(reward, Reward):
        if config:
            raise ValueError(f"configuration {sorted(config)} given with a built reward; pass a "
                             "reward name to configure it")
        return reward
    if isinstance(reward, str):
        return get(reward, **config)
    raise ValueError(f"reward must be a Reward or a reward name, got {reward!r}")
