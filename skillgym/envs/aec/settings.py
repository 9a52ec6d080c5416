"""The arguments every AEC environment shares, checked and defaulted in one place.

:class:`~skillgym.envs.aec.env.AECEnv` and its batched twin
:class:`~skillgym.envs.aec.vector.AECVectorEnv` both build an :class:`AECSettings` from their
keyword arguments, so a bad argument is refused with the same message by either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from skillgym.envs.aec.skills import ACTION_SETS, skill_named
from skillgym.envs.aec.tasks import TASKS, Task

REWARD_MODES = ("sparse", "digit")
BINDING_MODES = ("default", "all")
ILLEGAL_ACTIONS = ("noop", "raise")


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


@dataclass(frozen=True)
class AECSettings:
    """One AEC environment's arguments, validated on construction (see ``AECEnv`` for their
    effect). Every bad value raises a ``ValueError`` that starts with the field's name.

    Attributes:
        skill: the skill's name (``"ADD"``); its title (``"Add"``) is accepted and stored as
            the name.
        level: the starting curriculum level, an integer in ``1..max_level``.
        max_level: the highest curriculum level, an integer in ``1..`` the skill's number of
            levels; ``None`` (the default) is stored as the skill's last level.
        curriculum: whether to promote to the next level after 95 % success over 100 episodes.
        reward_mode: ``"sparse"`` or ``"digit"`` (only for skills that write each result cell
            once).
        max_steps_factor: the truncation limit as a multiple of the oracle's steps, finite and
            ``> 0``.
        actions: ``"skill"`` (the skill's own primitives, CALLs and RETURN) or ``"primitive"``
            (the flat baseline, no CALL).
        illegal_action: ``"noop"`` or ``"raise"``.
        illegal_penalty: the cost of an illegal action, finite and ``>= 0``.
        grid_obs: whether observations include the whole pad.
        bindings: ``"default"`` or ``"all"`` (each episode drawn with one of the bindings the
            skill's callers use).
        child_step_limit: the steps a called child may take, an integer ``>= 1``; ``None``
            (the default) means ``64 ×`` the pad's width (see :attr:`child_steps`). It may not
            be given with ``actions="primitive"``, which calls no children.
    """

    skill: str = "ADD"
    level: int = 1
    max_level: int | None = None
    curriculum: bool = True
    reward_mode: str = "sparse"
    max_steps_factor: float = 2.0
    actions: str = "skill"
    illegal_action: str = "noop"
    illegal_penalty: float = 0.1
    grid_obs: bool = False
    bindings: str = "default"
    child_step_limit: int | None = None

    def __post_init__(self) -> None:
        skill = skill_named(self.skill.upper() if isinstance(self.skill, str) else self.skill)
        levels = len(TASKS[skill.name].levels)
        max_level = levels if self.max_level is None else self.max_level
        if not _is_integer(max_level) or not 1 <= max_level <= levels:
            raise ValueError(
                f"max_level for {skill.name} must be an integer in 1..{levels}, "
                f"got {self.max_level!r}"
            )
        # Frozen: the normalised values are set once, here.
        object.__setattr__(self, "skill", skill.name)
        object.__setattr__(self, "max_level", int(max_level))
        self.check_level(self.level)
        object.__setattr__(self, "level", int(self.level))
        for name in ("curriculum", "grid_obs"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {value!r}")
            object.__setattr__(self, name, bool(value))
        if self.reward_mode not in REWARD_MODES:
            raise ValueError(
                f"reward_mode must be one of {REWARD_MODES}, got {self.reward_mode!r}"
            )
        if self.reward_mode == "digit" and not self.task.digit_rows:
            supported = [n for n, t in TASKS.items() if t.digit_rows]
            raise ValueError(
                f"reward_mode='digit' scores each result cell's single write; {skill.name} "
                f"rewrites its result cells. Skills with digit rewards: {supported}"
            )
        factor = self.max_steps_factor
        if not (_is_real(factor) and math.isfinite(factor) and factor > 0):
            raise ValueError(f"max_steps_factor must be > 0 and finite, got {factor!r}")
        object.__setattr__(self, "max_steps_factor", float(factor))
        if self.actions not in ACTION_SETS:
            raise ValueError(
                f"actions must be one of {tuple(ACTION_SETS)}, got {self.actions!r}"
            )
        if self.illegal_action not in ILLEGAL_ACTIONS:
            raise ValueError(
                f"illegal_action must be one of {ILLEGAL_ACTIONS}, got {self.illegal_action!r}"
            )
        penalty = self.illegal_penalty
        if not (_is_real(penalty) and math.isfinite(penalty) and penalty >= 0):
            raise ValueError(f"illegal_penalty must be finite and >= 0, got {penalty!r}")
        object.__setattr__(self, "illegal_penalty", float(penalty))
        if self.bindings not in BINDING_MODES:
            raise ValueError(f"bindings must be one of {BINDING_MODES}, got {self.bindings!r}")
        limit = self.child_step_limit
        if limit is not None:
            if not _is_integer(limit) or limit < 1:
                raise ValueError(f"child_step_limit must be an integer >= 1, got {limit!r}")
            if self.actions == "primitive":
                raise ValueError(
                    "child_step_limit has no effect with actions='primitive': the skill calls "
                    "no children"
                )
            object.__setattr__(self, "child_step_limit", int(limit))

    @property
    def task(self) -> Task:
        """The skill's task: its levels, pad width and how its problems are drawn."""
        return TASKS[self.skill]

    @property
    def child_steps(self) -> int:
        """The steps a called child may take: ``child_step_limit``, or 64 × the pad's width."""
        if self.child_step_limit is not None:
            return self.child_step_limit
        return 64 * self.task.width

    def check_level(self, level) -> None:
        """Raise a ``ValueError`` unless ``level`` is an integer in ``1..max_level``."""
        if not _is_integer(level) or not 1 <= level <= self.max_level:
            raise ValueError(
                f"level for {self.skill} must be an integer in 1..{self.max_level} "
                f"(max_level {self.max_level} of {len(self.task.levels)} levels), got {level!r}"
            )


#: The names of :class:`AECSettings`' fields, the keyword arguments every AEC env shares.
SETTING_NAMES = frozenset(field.name for field in fields(AECSettings))
