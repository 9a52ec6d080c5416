"""Child policies: the ``(obs, action_mask) -> int`` callables through which the AEC machine runs
called skills, and trained models as such callables."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from skillgym.envs.aec.machine import Policy
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.skills import ACTION_SETS, SKILL_INDEX, SKILL_NAMES, skill_named


def policy_table(
    policies: Mapping[str, Policy] | None, argument: str = "child_policies"
) -> dict[int, Policy]:
    """Every skill's policy by index, as the machine looks them up: the given ones (by skill
    name), the oracle for the rest. ``argument`` names ``policies`` in error messages."""
    policies = dict(policies or {})
    for name, policy in policies.items():
        if name not in SKILL_INDEX:
            raise ValueError(f"{argument}: unknown skill {name!r}; known: {list(SKILL_NAMES)}")
        if not callable(policy):
            raise ValueError(f"{argument}[{name!r}] must be callable (obs, action_mask) -> int")
    return {i: policies.get(name, oracle) for i, name in enumerate(SKILL_NAMES)}


def observation_key(obs: Mapping[str, Any]) -> tuple[bytes, int, int]:
    """What a skill's decision depends on: the tokens under its pointers, its args and its
    previous action (its observation without the constant skill and the ignored depth)."""
    tokens = np.asarray(obs["tokens"], dtype=np.int64)
    return tokens.tobytes(), int(obs["args"]), int(obs["prev_action"])


class SkillPolicy:
    """One skill's trained policy, acting deterministically, as an AEC child policy.

    ``policy`` is anything with stable-baselines3's ``predict``: a model (``PPO``,
    ``MaskablePPO``) or its policy network. Those whose ``predict`` takes ``action_masks``
    (sb3-contrib's) get the skill's mask; others act unmasked, and the machine treats their
    masked-out actions as no-ops.

    The AEC machine calls ``policy(obs, action_mask) -> action`` for every step of a called
    child. A skill's observation (without the pad, ``grid_obs``) has finitely many values: the
    tokens under its pointers, its args and its previous action. A deterministic policy maps each
    to one action, so the action is computed once per distinct observation and remembered:
    exactly the policy's argmax, without a forward pass per step.

    The policy is trained at depth 0 (as its environment's own skill); called as a child it sees
    its depth, which it ignores, so the depth is set to 0 before the policy reads it.

    Args:
        skill: the skill's name.
        policy: the trained model or policy network.
        actions: the action set it was trained with, ``"skill"`` or ``"primitive"`` (the flat
            baseline's; see ``AECEnv``).
    """

    def __init__(self, skill: str, policy: Any, actions: str = "skill") -> None:
        self.skill = skill_named(skill).name
        if actions not in ACTION_SETS:
            raise ValueError(f"actions must be one of {tuple(ACTION_SETS)}, got {actions!r}")
        predict = getattr(policy, "predict", None)
        if not callable(predict):
            raise TypeError(f"policy must have a predict method, got {type(policy).__name__}")
        self.policy = policy
        self.actions = actions
        # a writable copy: torch warns on (and would not own) read-only numpy memory
        masks = ACTION_SETS[actions][SKILL_INDEX[self.skill]][None].copy()
        takes_masks = "action_masks" in inspect.signature(predict).parameters
        self._predict_kwargs = {"deterministic": True}
        if takes_masks:
            self._predict_kwargs["action_masks"] = masks
        self._memo: dict[tuple[bytes, int, int], int] = {}

    def __call__(self, obs: Mapping[str, Any], action_mask: np.ndarray | None = None) -> int:
        """The action for one observation (``action_mask`` is the skill's own; it is fixed)."""
        # The pad makes observations too many to remember.
        key = None if "grid" in obs else observation_key(obs)
        action = self._memo.get(key)
        if action is None:
            batch = {name: np.asarray(value)[None] for name, value in obs.items()}
            batch["depth"] = np.zeros(1, dtype=np.int64)
            chosen, _ = self.policy.predict(batch, **self._predict_kwargs)
            action = int(np.asarray(chosen).reshape(-1)[0])
            if key is not None:
                self._memo[key] = action
        return action

    # The memo is rebuilt on demand; pickles (env checkpoints) stay small and exact.
    def __getstate__(self) -> dict[str, Any]:
        return {"skill": self.skill, "policy": self.policy, "actions": self.actions}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["skill"], state["policy"], state["actions"])
