"""A hierarchy of learned AEC skills, trained bottom-up.

Every skill of the AEC family (``skillgym.envs.aec``) is one MaskablePPO policy over its own
environment. Skills are learned children first: while a skill trains, the skills it calls act
through their already learned policies, frozen (or through the oracle, if asked), so a parent
only learns *when* to call which child. Each skill climbs its environment's curriculum up to a
training level and is then tested far beyond it. An optional warm start clones the oracle's
decisions (behaviour cloning on the oracle's traces of the skill's own task and of its callers')
before PPO, and an imitation anchor keeps them while PPO trains.

A trained :class:`Hierarchy` is one folder: ``hierarchy.json`` (the skills, the graph, the levels
each skill trained on) and one policy file per skill. Loaded, it is the AEC environments' child
policies (``AECEnv(..., child_policies=hierarchy.child_policies())``), an SB3-style agent that
plays any AEC environment (:meth:`Hierarchy.predict`), and an expression solver
(:meth:`Hierarchy.answer`), which runs ``AEC-Eval`` end to end on learned skills.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sb3_contrib.common.maskable.policies import MaskableMultiInputActorCriticPolicy
from stable_baselines3.common.callbacks import BaseCallback

from skillgym.envs.aec.child_policy import SkillPolicy, observation_key
from skillgym.envs.aec.env import AECEnv
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.skills import (
    ACTION_SETS,
    MASKS,
    SKILL_NAMES,
    SKILLS,
    skill_named,
)
from skillgym.envs.aec.solve import compute
from skillgym.envs.aec.tasks import TASKS
from skillgym.policies import (
    KernelMaskablePolicy,
    actor_features,
    features_log_probs,
)

HIERARCHY_FILE = "hierarchy.json"
FORMAT_VERSION = 1
# The policy classes a skill may be saved with, by name.
_STOCK = MaskableMultiInputActorCriticPolicy
_POLICY_CLASSES = {cls.__name__: cls for cls in (_STOCK, KernelMaskablePolicy)}


def children_of(skill: str) -> list[str]:
    """The distinct skills ``skill`` calls, in the order of its definition."""
    found: list[str] = []
    for child, _ in skill_named(skill).children:
        if child not in found:
            found.append(child)
    return found


def bottom_up(targets: Iterable[str]) -> list[str]:
    """``targets`` and every skill they call, directly or not, children before parents.

    Skills of one level keep the order of ``skills.SKILLS``, so the order is a function of the
    set alone.
    """
    needed: set[str] = set()
    stack = list(targets)
    for name in stack:
        skill_named(name)  # a ValueError naming the known skills
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(children_of(name))
    return [skill.name for skill in sorted(SKILLS, key=lambda s: s.level) if skill.name in needed]


class Hierarchy:
    """Learned skill policies; skills without one act through the oracle.

    With ``actions="primitive"`` it holds flat agents instead (each skill alone on the
    primitive-only action set, the baseline): they call nothing, so there is no oracle to fall
    back on and no expression solving.

    Args:
        policies: the learned policy of each trained skill, by name.
        levels: the highest curriculum level each skill trained on (for reports).
        actions: ``"skill"`` (a hierarchy) or ``"primitive"`` (flat agents).
    """

    def __init__(
        self,
        policies: Mapping[str, SkillPolicy] | None = None,
        levels: Mapping[str, int] | None = None,
        actions: str = "skill",
    ) -> None:
        if actions not in ACTION_SETS:
            raise ValueError(f"actions must be one of {tuple(ACTION_SETS)}, got {actions!r}")
        self.actions = actions
        self.policies: dict[str, SkillPolicy] = dict(policies or {})
        self.levels: dict[str, int] = dict(levels or {})
        for name, policy in self.policies.items():
            skill_named(name)
            if policy.actions != actions:
                raise ValueError(f"{name}'s policy acts on {policy.actions!r} actions, the "
                                 f"hierarchy on {actions!r}")

    @property
    def skills(self) -> list[str]:
        """The learned skills, bottom-up."""
        return [name for name in bottom_up(self.policies) if name in self.policies]

    def add(self, skill: str, policy: MaskableMultiInputActorCriticPolicy, level: int) -> None:
        """Add (or replace) ``skill``'s learned policy, trained up to curriculum ``level``."""
        self.policies[skill] = SkillPolicy(skill, policy, self.actions)
        self.levels[skill] = level

    def child_policies(self, skills: Iterable[str] | None = None) -> dict[str, SkillPolicy]:
        """The learned policies (of ``skills`` only, if given), as ``AECEnv``'s child policies."""
        names = self.policies if skills is None else [s for s in skills if s in self.policies]
        return {name: self.policies[name] for name in names}

    def act(self, obs: Mapping[str, Any]) -> int:
        """The action of the skill that ``obs`` belongs to (learned, else the oracle's)."""
        name = SKILL_NAMES[int(obs["skill"])]
        policy = self.policies.get(name)
        if policy is not None:
            return policy(obs)
        if self.actions == "primitive":
            raise ValueError(f"no flat agent for {name}; trained: {self.skills}")
        return oracle(obs, MASKS[int(obs["skill"])])

    def predict(
        self,
        observation: Mapping[str, Any],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, None]:
        """stable-baselines3's ``predict`` for one AEC observation (always deterministic).

        Play an AEC environment made with ``child_policies=hierarchy.child_policies()`` so that
        its called children act by the hierarchy too.
        """
        if not deterministic:
            raise ValueError("a Hierarchy acts deterministically; pass deterministic=True")
        return np.array(self.act(observation)), None

    def answer(self, text: str) -> int | None:
        """The value of an integer expression, computed by EVAL and its callees as learned.

        ``None`` when the learned skills leave no number; a malformed expression raises
        ``ValueError`` and a zero divisor ``ZeroDivisionError``.
        """
        if self.actions == "primitive":
            raise ValueError("flat agents call no skills, so they cannot run EVAL's expressions")
        return compute(text, self.policies)

    def env(self, skill: str, **kwargs: Any) -> AECEnv:
        """``skill``'s environment with this hierarchy's learned children (and action set)."""
        if self.actions == "primitive":
            return AECEnv(skill, actions="primitive", **kwargs)
        return AECEnv(skill, child_policies=self.child_policies(children_closure(skill)), **kwargs)

    def save(self, folder: str | Path) -> Path:
        """Write the hierarchy into ``folder`` (created if needed); returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        skills = {}
        for name in self.skills:
            file = f"{name}.pt"
            self.policies[name].policy.save(str(folder / file))
            skills[name] = {"file": file, "max_level": self.levels.get(name),
                            "children": children_of(name),
                            "policy": type(self.policies[name].policy).__name__}
        meta = {"format": FORMAT_VERSION, "actions": self.actions, "order": self.skills,
                "skills": skills}
        (folder / HIERARCHY_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Hierarchy:
        """The hierarchy saved in ``folder``; a missing or malformed folder is a ``ValueError``."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / HIERARCHY_FILE).read_text())
        except FileNotFoundError:
            raise ValueError(f"'{folder}' holds no skill hierarchy (no {HIERARCHY_FILE})") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"{folder / HIERARCHY_FILE}: not JSON ({error})") from None
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{folder / HIERARCHY_FILE}: format {meta.get('format')!r}, "
                             f"this version reads {FORMAT_VERSION}")
        hierarchy = cls(actions=meta["actions"])
        for name, entry in meta["skills"].items():
            # Folders written before the kernel policies name no class: the stock policy.
            kind = _POLICY_CLASSES.get(entry.get("policy", _STOCK.__name__))
            if kind is None:
                raise ValueError(f"{folder / HIERARCHY_FILE}: skill {name} has an unknown policy "
                                 f"class {entry['policy']!r}; known: {list(_POLICY_CLASSES)}")
            policy = kind.load(str(folder / entry["file"]), device="cpu")
            hierarchy.add(name, policy, entry["max_level"])
        return hierarchy


def children_closure(skill: str) -> list[str]:
    """Every skill ``skill`` calls, directly or not (itself excluded)."""
    return [name for name in bottom_up([skill]) if name != skill]


def callers_of(skill: str, among: Iterable[str]) -> list[str]:
    """The skills of ``among`` that call ``skill``, directly or not, bottom-up."""
    return [name for name in bottom_up(among) if skill in children_closure(name)]


@dataclass
class Demonstrations:
    """Distinct observations of one skill, each with the oracle's action.

    Attributes:
        observations: batched observation arrays (``depth`` 0), one row per distinct observation.
        actions: the oracle's action on each.
        steps: the oracle's decisions for the skill in the traces, every visit counted (its own
            environment steps, plus its steps as a called child in its callers' traces).
    """

    observations: dict[str, np.ndarray]
    actions: np.ndarray
    steps: int


def oracle_demonstrations(
    skill: str, levels: Mapping[str, int], episodes: int, seed: int,
    callers: Iterable[str] = (),
) -> Demonstrations:
    """The oracle's decisions for ``skill``, from traces of its own task and of its callers'.

    A skill is called in states its own environment never starts from: ADD calls CARRY on a
    column whose carry cell already holds 1, MUL calls ADD with its first and last roles on one
    row. So, as in NPI's execution traces, the demonstrations are every step ``skill`` takes in
    the oracle's solutions of its own task (laid out by default, and with every binding its
    callers use) and of each task in ``callers`` (with every binding), ``episodes`` episodes per
    task and layout, spread evenly over levels ``1 .. levels[task]`` (default: every level). All
    skills act by the oracle.

    The oracle is a function of the observation, so one observation never asks for two actions
    (a conflict would be a bug, and raises).
    """
    seen: dict[tuple[bytes, int, int], tuple[dict, int]] = {}
    steps = 0

    def record(obs: Mapping[str, Any], mask: np.ndarray) -> int:
        nonlocal steps
        action = oracle(obs, mask)
        key = observation_key(obs)
        known = seen.get(key)
        if known is None:
            observed = {**{name: np.copy(value) for name, value in obs.items()}, "depth": 0}
            seen[key] = (observed, action)
        elif known[1] != action:
            raise RuntimeError(f"the oracle of {skill} chose {known[1]} and {action} on one "
                               "observation")
        steps += 1
        return action

    # The own task is drawn both with its default layout (what its environment and a user see)
    # and with every caller's binding; callers with every binding of theirs.
    plays = [(skill, "default"), (skill, "all"), *((caller, "all") for caller in callers)]
    for number, (task, bindings) in enumerate(plays):
        mine = task == skill
        env = AECEnv(task, max_level=levels.get(task), bindings=bindings,
                     child_policies=None if mine else {skill: record})
        env.reset(seed=seed + number)
        for episode in range(episodes):
            obs, _ = env.reset(options={"level": 1 + episode * env.max_level // episodes})
            done = False
            while not done:
                action = record(obs, env.action_masks()) if mine else oracle(obs, None)
                obs, _, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
    entries = list(seen.values())
    observations = {name: np.stack([np.asarray(e[0][name]) for e in entries])
                    for name in entries[0][0]}
    return Demonstrations(observations, np.array([e[1] for e in entries], dtype=np.int64), steps)


def behaviour_clone(
    policy: MaskableMultiInputActorCriticPolicy,
    demonstrations: Demonstrations,
    mask: np.ndarray,
    epochs: int,
    learning_rate: float = 3e-3,
    batch_size: int = 64,
    confidence: float = 0.99,
) -> float:
    """Fit ``policy`` to the oracle's actions by cross-entropy, for at most ``epochs`` epochs.

    Clones only while the policy, *sampling*, would take the oracle's action with probability
    below ``confidence`` on some demonstration (checked before every epoch, the first included:
    a policy already that confident, as one is after most of the imitation anchor's PPO
    updates, is left as it is). PPO continues from a sampling policy, and one whose argmax is
    right but whose samples are not would start PPO from failing episodes. Uses torch's global
    generator (seed it for reproducible results). Returns the fraction of demonstrations whose
    most likely action is the oracle's.
    """
    # Encoded once for every epoch: each step, and each epoch's check, reads rows of it.
    features = _demonstration_features(policy, demonstrations)
    actions = torch.as_tensor(demonstrations.actions)
    # One mask for every demonstration: each step reads a broadcast view of it.
    step_mask = torch.as_tensor(mask)
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate, fused=True)
    if isinstance(policy, KernelMaskablePolicy):
        policy.watch_optimizer(optimizer)
    size = len(actions)
    policy.train()
    agreement, least = _fit(policy, features, actions, step_mask)
    for _ in range(epochs):
        if least >= confidence:
            break
        order = torch.randperm(size)
        for start in range(0, size, batch_size):
            rows = order[start : start + batch_size]
            log_probs, taken = features_log_probs(policy, features[rows], actions[rows],
                                                  step_mask.expand(len(rows), -1))
            loss = -log_probs.gather(-1, taken.reshape(-1, 1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        agreement, least = _fit(policy, features, actions, step_mask)
    policy.eval()
    return agreement


def agreement(policy: MaskableMultiInputActorCriticPolicy, demonstrations: Demonstrations,
              mask: np.ndarray) -> float:
    """The fraction of demonstrations on which ``policy``'s most likely action is the oracle's."""
    features = _demonstration_features(policy, demonstrations)
    return _fit(policy, features, torch.as_tensor(demonstrations.actions),
                torch.as_tensor(mask))[0]


def _demonstration_features(policy: MaskableMultiInputActorCriticPolicy,
                            demonstrations: Demonstrations) -> Any:
    obs, _ = policy.obs_to_tensor(demonstrations.observations)
    return actor_features(policy, obs)


def _fit(policy: MaskableMultiInputActorCriticPolicy, features: Any, actions: torch.Tensor,
         mask: torch.Tensor) -> tuple[float, float]:
    """How well ``policy`` takes ``actions`` on the demonstrations' ``features`` under the
    skill's ``mask``: the fraction whose argmax it is, and the smallest probability it gives
    one of them."""
    with torch.no_grad():
        log_probs, taken = features_log_probs(policy, features, actions,
                                              mask.expand(len(actions), -1))
        least = log_probs.gather(-1, taken.reshape(-1, 1)).exp().min()
    return float((log_probs.argmax(-1) == taken).float().mean()), float(least)


class ImitationAnchor(BaseCallback):
    """Keeps a warm-started policy faithful to its demonstrations while PPO trains it.

    PPO updates the policy on the states its rollouts visit; through the shared layers this also
    moves the decisions on states the rollouts rarely visit (a skill's states inside its
    callers' tasks), which the warm start had right (``benchmarks/aec_generalization.py``
    without the anchor: 81 % of 100-digit sums, 1.5 % of 20 x 20 products and 92.5 % of
    reasoning-gym expressions; with it, 100 % of each). After every PPO update this runs
    :func:`behaviour_clone` on the demonstrations again, for up to ``epochs`` epochs while the
    update has left the policy short of the cloning's confidence on some demonstration, in the
    spirit of demonstration-augmented policy gradients (Rajeswaran et al. 2018).
    """

    def __init__(self, demonstrations: Demonstrations, mask: np.ndarray, epochs: int,
                 learning_rate: float, batch_size: int) -> None:
        super().__init__()
        self.demonstrations = demonstrations
        self.mask = mask
        self.settings = {"epochs": epochs, "learning_rate": learning_rate,
                         "batch_size": batch_size}

    def _anchor(self) -> None:
        self.logger.record("train/imitation_agreement",
                           behaviour_clone(self.model.policy, self.demonstrations, self.mask,
                                           **self.settings))

    def _on_rollout_start(self) -> None:
        # the first rollout follows the warm start itself; every later one follows an update
        if self.model._n_updates > 0:
            self._anchor()

    def _on_training_end(self) -> None:
        self._anchor()

    def _on_step(self) -> bool:
        return True


class CurriculumTracker(BaseCallback):
    """Follows a skill's curriculum during PPO: success at the top level, and when it is reached.

    Logs ``rollout/success_rate`` (all finished episodes of the rollout), ``rollout/level`` (the
    mean level the environments are at) and records ``steps_to_target``: the first step at which
    the last ``window`` episodes played at ``max_level`` succeeded at least ``target`` of the
    time. With ``stop=True``, training ends there.
    """

    def __init__(self, max_level: int, target: float = 0.95, window: int = 100,
                 stop: bool = False) -> None:
        super().__init__()
        self.max_level = max_level
        self.target = target
        self.top: deque[bool] = deque(maxlen=window)
        self.stop = stop
        self.steps_to_target: int | None = None
        self._rollout: list[bool] = []

    def _on_step(self) -> bool:
        infos = self.locals["infos"]
        for row in np.flatnonzero(self.locals["dones"]).tolist():  # the episodes that ended
            info = infos[row]
            if "is_success" in info:
                self._rollout.append(bool(info["is_success"]))
                if info["level"] == self.max_level:
                    self.top.append(bool(info["is_success"]))
        if (self.steps_to_target is None and len(self.top) == self.top.maxlen
                and sum(self.top) >= self.target * len(self.top)):
            self.steps_to_target = self.num_timesteps
        return not (self.stop and self.steps_to_target is not None)

    def state(self) -> dict[str, Any]:
        """What :meth:`restore` needs to continue exactly (JSON-ready)."""
        return {"top": list(self.top), "steps_to_target": self.steps_to_target,
                "rollout": list(self._rollout)}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state` taken earlier."""
        self.top.clear()
        self.top.extend(state["top"])
        self.steps_to_target = state["steps_to_target"]
        self._rollout = list(state["rollout"])

    def _on_rollout_end(self) -> None:
        if self._rollout:
            self.logger.record("rollout/success_rate", float(np.mean(self._rollout)))
            self._rollout.clear()
        levels = self.training_env.get_attr("level")
        self.logger.record("rollout/level", float(np.mean(levels)))


def level_accuracy(
    hierarchy: Hierarchy, skill: str, level: int, episodes: int, seed: int = 0
) -> float:
    """The fraction of ``episodes`` problems of ``skill`` at ``level`` the hierarchy solves.

    Called skills act by the hierarchy; a skill without a learned policy acts by the oracle.
    Episode ``i`` is problem ``i`` of ``skillgym.envs.aec.problems.problems(skill, level, ...,
    seed)``: the environment is reset with ``seed`` once, then episode after episode.
    """
    env = hierarchy.env(skill, level=level, curriculum=False)
    act = hierarchy.act
    solved = 0
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        if episode:
            obs, _ = env.reset()
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(act(obs))
            done = terminated or truncated
        solved += bool(info["is_success"])
    return solved / episodes


def task_levels(skill: str) -> int:
    """The number of curriculum levels of ``skill``'s environment."""
    return len(TASKS[skill_named(skill).name].levels)
