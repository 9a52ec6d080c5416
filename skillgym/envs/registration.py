"""One place that registers every skillgym environment id with Gymnasium.

Each environment family keeps a light ``registry`` module (``skillgym.envs.<family>.registry``)
that lists its ids as :class:`EnvEntry` values with *string* entry points, so that
``import skillgym`` registers everything without importing any environment code (or torch).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

NAMESPACE = "skillgym"

# The families whose ``registry`` modules are read, in the order ``skillgym list`` shows them.
FAMILIES: tuple[str, ...] = ("aec", "algorithmic", "mtnas", "keye")


@dataclass(frozen=True)
class EnvEntry:
    """A registrable environment: its name (without namespace), entry points and one-line summary.

    Args:
        name: the id without namespace, e.g. ``"AEC-Add-v0"``; registered as ``skillgym/<name>``.
        entry_point: ``"module:Class"`` of the single environment.
        description: one line, shown by ``skillgym list``.
        vector_entry_point: ``"module:Class"`` of a natively batched twin, if the family has one.
        max_episode_steps: a ``TimeLimit`` to add, if the env does not truncate by itself.
        kwargs: keyword arguments passed to the entry point.
    """

    name: str
    entry_point: str
    description: str
    vector_entry_point: str | None = None
    max_episode_steps: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The full Gymnasium id, ``skillgym/<name>``."""
        return f"{NAMESPACE}/{self.name}"


def entries() -> list[EnvEntry]:
    """Every environment entry of every family, in family order."""
    found: list[EnvEntry] = []
    for family in FAMILIES:
        module = importlib.import_module(f"skillgym.envs.{family}.registry")
        found.extend(module.ENTRIES)
    return found


def register_envs() -> None:
    """Register every entry with Gymnasium; calling it again is a no-op."""
    for entry in entries():
        if entry.id in gym.registry:
            continue
        gym.register(
            id=entry.id,
            entry_point=entry.entry_point,
            vector_entry_point=entry.vector_entry_point,
            max_episode_steps=entry.max_episode_steps,
            kwargs=dict(entry.kwargs),
        )
