"""The ``aec-hierarchy`` recipe: the AEC skills learned bottom-up, each by MaskablePPO.

For every skill that the targets (``skills``) need, children first: an optional warm start by
behaviour cloning on the oracle's traces (:func:`~skillgym.agents.aec_hierarchy.
oracle_demonstrations`), then MaskablePPO on the skill's own environment, climbing its
curriculum up to ``levels.<SKILL>``, with its children acting by their learned policies, frozen
(``children = "oracle"`` lets them act by the oracle instead). After each skill, its accuracy is
measured at every level of its environment, far beyond the training levels.

``actions = "primitive"`` trains each target alone on the primitive-only action set (no CALL
actions, no children): the flat baseline, by the same trainer on the same problems.

The policies are the kernel's (:class:`~skillgym.policies.KernelMaskablePolicy`): a skill's
rollouts, and every decision of a learned child it calls, run through the explicit-SIMD kernel
(``policy = "torch"``: sb3-contrib's stock policy). A skill's environment steps its sub-envs one
by one (``DummyVecEnv``): the natively batched twins play with oracle children only, and these
children are learned.

A checkpoint holds the finished skills (``hierarchy/``, a
:class:`~skillgym.agents.aec_hierarchy.Hierarchy` folder), ``progress.json`` and, mid-skill, the
exact PPO training state (``current/``). Each skill starts from the run's seed plus its index in
the order, so a run resumed from any checkpoint ends with the parameters an uninterrupted run
reaches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
from rich.console import Console
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv

from skillgym.agents.aec_hierarchy import (
    CurriculumTracker,
    Demonstrations,
    Hierarchy,
    ImitationAnchor,
    agreement,
    behaviour_clone,
    bottom_up,
    callers_of,
    children_closure,
    level_accuracy,
    oracle_demonstrations,
    task_levels,
)
from skillgym.envs.aec.env import AECEnv
from skillgym.envs.aec.registry import ENTRIES
from skillgym.envs.aec.skills import MASKS, SKILL_INDEX, SKILL_NAMES
from skillgym.policies import KernelMaskablePolicy, bool_mask_buffer
from skillgym.progress import TrainingProgress
from skillgym.training.config import Config, ConfigError, get
from skillgym.training.logs import run_logger
from skillgym.training.plots import write_accuracy_plot
from skillgym.training.recipes import (
    THREADS_DEFAULTS,
    EvalError,
    Recipe,
    apply_threads,
    threads_of,
)
from skillgym.training.recipes.ppo import DEFAULTS as PPO_DEFAULTS
from skillgym.training.recipes.ppo import POLICIES
from skillgym.training.resumable import (
    CheckpointCallback,
    ResumableMaskablePPO,
    load_training_state,
    save_training_state,
)
from skillgym.training.run import Checkpoint, RunDir

HIERARCHY_DIR = "hierarchy"
CURRENT_DIR = "current"
PROGRESS_FILE = "progress.json"
LEVELS_FILE = "levels.json"

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    # The skills to learn; every skill they call is learned first.
    "skills": ["EVAL"],
    # What a training skill's children act by: "learned" (frozen) or "oracle".
    "children": "learned",
    # "skill": CALL children; "primitive": the flat baseline (each target alone, no children).
    "actions": "skill",
    # The highest curriculum level each skill trains on (skills not listed have one level).
    # ADD/SUB: 5 digits; MULD: 3 x 1; COMPARE: 3 digits; MUL: 3 x 3; DIV: 4 / 2; EVAL: 2-4 terms
    # of up to 3 digits with brackets.
    "levels": {"ADD": 4, "SUB": 4, "MULD": 3, "COMPARE": 3, "MUL": 5, "DIV": 4, "EVAL": 5},
    "warm_start": {
        # Oracle episodes per task and layout (0: no warm start, PPO from scratch).
        "episodes": 1000,
        "epochs": 400,
        # Minibatches of 128 at twice the learning rate reach the cloning's confidence in about
        # half the steps of 64, and from 128 rows the policy's first layer is a sparse product.
        "learning_rate": 6e-3,
        "batch_size": 128,
        # Epochs of behaviour cloning after every PPO update (0: none), which keep PPO from
        # moving the imitated decisions on states its rollouts rarely visit.
        "anchor_epochs": 20,
    },
    "train": {
        "timesteps_per_skill": 8192,
        "n_envs": 8,
        "checkpoint_every": 8192,
        # Success over the last 100 episodes at the top training level that counts as learned;
        # with stop_at_target, a skill's PPO ends when it is reached.
        "target": 0.95,
        "stop_at_target": False,
    },
    # The ppo recipe's PPO settings, but for fine-tuning a warm-started policy: smaller steps,
    # fewer and larger minibatches, and wider layers (a skill maps hundreds of observations).
    "ppo": {
        **PPO_DEFAULTS["ppo"],
        "learning_rate": 1e-4,
        "batch_size": 256,
        "n_epochs": 4,
        # After a warm start every episode succeeds; normalised advantages would turn the value
        # estimate's noise into unit-sized policy updates and undo it (a cloned CARRY lost all
        # its successes within 8k PPO steps when they were on).
        "normalize_advantage": False,
        "net_arch": [128, 128],
    },
    # Episodes per level in the accuracy measured after each skill.
    "eval": {"episodes": 100},
    # "kernel" (rollouts and every learned child's decisions through the explicit-SIMD kernel)
    # or "torch" (sb3-contrib's stock policy); "auto" is the kernel (the actions are discrete).
    "policy": "auto",
    "threads": THREADS_DEFAULTS,
}

_POSITIVE = ("train.timesteps_per_skill", "train.n_envs", "train.checkpoint_every",
             "ppo.n_steps", "ppo.batch_size", "ppo.n_epochs",
             "warm_start.epochs", "warm_start.batch_size", "eval.episodes")


def check(config: Config) -> None:
    """Reject a configuration the recipe cannot run, naming the key and the allowed values."""
    threads_of(config)
    skills = get(config, "skills")
    if not skills:
        raise ConfigError("skills must name at least one skill, e.g. [\"ADD\", \"SUB\"]")
    unknown = [name for name in skills if name not in SKILL_INDEX]
    if unknown:
        raise ConfigError(f"skills: unknown {unknown}; known: {list(SKILL_NAMES)}")
    for key, allowed in (("children", ("learned", "oracle")), ("actions", ("skill", "primitive")),
                         ("policy", POLICIES)):
        if get(config, key) not in allowed:
            raise ConfigError(f"{key} must be one of {allowed}, got {get(config, key)!r}")
    if get(config, "actions") == "primitive" and get(config, "warm_start.episodes"):
        raise ConfigError("actions='primitive' has no oracle to imitate: set warm_start.episodes=0")
    for name, level in get(config, "levels").items():
        if not 1 <= level <= task_levels(name):
            raise ConfigError(f"levels.{name} must be in 1..{task_levels(name)}, got {level}")
    for key in _POSITIVE:
        if get(config, key) < 1:
            raise ConfigError(f"{key} must be a positive integer, got {get(config, key)}")
    episodes = get(config, "warm_start.episodes")
    if episodes < 0:
        raise ConfigError(f"warm_start.episodes must be >= 0, got {episodes}")
    if not 0.0 < get(config, "train.target") <= 1.0:
        raise ConfigError(f"train.target must be in (0, 1], got {get(config, 'train.target')}")


def order(config: Config) -> list[str]:
    """The skills a configuration trains, in training order."""
    if get(config, "actions") == "primitive":
        return list(dict.fromkeys(get(config, "skills")))
    return bottom_up(get(config, "skills"))


def top_level(config: Config, skill: str) -> int:
    """The highest curriculum level ``skill`` trains on."""
    return get(config, "levels").get(skill, task_levels(skill))


def env_of(config: Config) -> tuple[str, dict[str, Any]]:
    """The environment of the last skill trained (the top of the hierarchy), for ``eval``."""
    skill = order(config)[-1]
    return ENTRIES[SKILL_INDEX[skill]].id, {"actions": get(config, "actions")}


class _Progress:
    """What a checkpoint records besides the models: finished skills, steps, measurements."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or {}
        self.finished: list[str] = data.get("finished", [])
        self.steps: int = data.get("steps", 0)
        self.skills: dict[str, dict[str, Any]] = data.get("skills", {})
        self.current: dict[str, Any] | None = data.get("current")

    def to_dict(self) -> dict[str, Any]:
        return {"finished": self.finished, "steps": self.steps, "skills": self.skills,
                "current": self.current}


def _write(folder: Path, hierarchy: Hierarchy, progress: _Progress) -> None:
    hierarchy.save(folder / HIERARCHY_DIR)
    (folder / PROGRESS_FILE).write_text(json.dumps(progress.to_dict(), indent=2) + "\n")


def _skill_env(config: Config, skill: str, hierarchy: Hierarchy, seed: int) -> DummyVecEnv:
    kwargs: dict[str, Any] = {"max_level": top_level(config, skill), "bindings": "all",
                              "actions": get(config, "actions")}
    if get(config, "actions") == "skill" and get(config, "children") == "learned":
        kwargs["child_policies"] = hierarchy.child_policies(children_closure(skill))

    def make() -> gym.Env:
        return Monitor(AECEnv(skill, **kwargs))

    env = DummyVecEnv([make] * get(config, "train.n_envs"))
    env.seed(seed)
    return env


def _demonstrations(config: Config, skill: str, seed: int) -> Demonstrations | None:
    """The warm start's oracle traces (``None`` without a warm start); deterministic."""
    episodes = get(config, "warm_start.episodes")
    if not episodes:
        return None
    return oracle_demonstrations(skill, get(config, "levels"), episodes, seed,
                                 callers=callers_of(skill, order(config)))


def _new_model(config: Config, skill: str, hierarchy: Hierarchy, seed: int,
               demonstrations: Demonstrations | None) -> ResumableMaskablePPO:
    ppo = dict(config["ppo"])
    net_arch = ppo.pop("net_arch")
    env = _skill_env(config, skill, hierarchy, seed)
    if get(config, "policy") == "torch":
        policy: Any = "MultiInputPolicy"
    else:
        policy = KernelMaskablePolicy
        ppo["rollout_buffer_class"] = bool_mask_buffer(env.observation_space)
    model = ResumableMaskablePPO(policy, env, seed=seed, device="cpu",
                                 policy_kwargs={"net_arch": net_arch}, **ppo)
    if demonstrations is not None:
        behaviour_clone(model.policy, demonstrations, MASKS[SKILL_INDEX[skill]],
                        epochs=get(config, "warm_start.epochs"),
                        learning_rate=get(config, "warm_start.learning_rate"),
                        batch_size=get(config, "warm_start.batch_size"))
    return model


def _accuracy(config: Config, hierarchy: Hierarchy, skill: str, seed: int) -> dict[str, float]:
    episodes = get(config, "eval.episodes")
    return {str(level): level_accuracy(hierarchy, skill, level, episodes, seed=seed + level)
            for level in range(1, task_levels(skill) + 1)}


def train(run: RunDir, config: Config, resume: Checkpoint | None) -> None:
    """Train every skill of the configuration in order, resuming from ``resume`` if given."""
    apply_threads(config)
    console = Console(stderr=True)
    logger = run_logger(run, resume.step if resume else None)
    if resume is None:
        hierarchy, progress = Hierarchy(actions=get(config, "actions")), _Progress()
    else:
        hierarchy = Hierarchy.load(resume.path / HIERARCHY_DIR)
        progress = _Progress(json.loads((resume.path / PROGRESS_FILE).read_text()))
    total = get(config, "train.timesteps_per_skill")
    try:
        for index, skill in enumerate(order(config)):
            if skill in progress.finished:
                continue
            seed = config["seed"] + index
            tracker = CurriculumTracker(top_level(config, skill), get(config, "train.target"),
                                        stop=get(config, "train.stop_at_target"))
            # The traces draw nothing from the global generators, so a resumed run rebuilds them.
            with console.status(f"{skill}: oracle traces"):
                demonstrations = _demonstrations(config, skill, seed)
            stats = progress.skills.setdefault(skill, {})
            if progress.current is not None:  # resuming mid-skill, exactly
                model = load_training_state(resume.path / CURRENT_DIR, logger)
                tracker.restore(progress.current["tracker"])
                offset = progress.current["offset"]
            else:
                set_random_seed(seed)
                with console.status(f"{skill}: behaviour cloning"):
                    model = _new_model(config, skill, hierarchy, seed, demonstrations)
                model.set_logger(logger)
                if demonstrations is not None:
                    stats.update(warm_start_steps=demonstrations.steps,
                                 warm_start_observations=len(demonstrations.actions))
                    console.print(f"{skill}: cloned the oracle on {len(demonstrations.actions):,} "
                                  f"distinct observations ({demonstrations.steps:,} steps)")
                offset = progress.steps + stats.get("warm_start_steps", 0)
            logger.offset = offset

            def write(model: ResumableMaskablePPO, folder: Path, skill=skill, offset=offset,
                      tracker=tracker) -> None:
                (folder / CURRENT_DIR).mkdir()
                save_training_state(model, folder / CURRENT_DIR)
                current = {"skill": skill, "offset": offset, "tracker": tracker.state()}
                _write(folder, hierarchy, _Progress({**progress.to_dict(), "current": current}))

            bar = TrainingProgress(total, console, description=skill)
            # The anchor comes after the checkpoint: a checkpoint holds the model before the
            # anchor's cloning at that rollout boundary, which a resumed run then repeats.
            callbacks = [tracker,
                         CheckpointCallback(run, get(config, "train.checkpoint_every"), offset,
                                            write), bar]
            anchor_epochs = get(config, "warm_start.anchor_epochs")
            if demonstrations is not None and anchor_epochs:
                callbacks.append(ImitationAnchor(
                    demonstrations, MASKS[SKILL_INDEX[skill]], anchor_epochs,
                    get(config, "warm_start.learning_rate"), get(config, "warm_start.batch_size")))
            try:
                model.learn(total - model.num_timesteps, callback=CallbackList(callbacks),
                            reset_num_timesteps=False)
            finally:
                bar.progress.stop()
            hierarchy.add(skill, model.policy, top_level(config, skill))
            progress.current = None
            progress.steps = offset + model.num_timesteps
            with console.status(f"{skill}: accuracy at every level"):
                accuracy = _accuracy(config, hierarchy, skill, 10_000 * (index + 1))
            if demonstrations is not None:
                stats["warm_start_agreement"] = agreement(model.policy, demonstrations,
                                                          MASKS[SKILL_INDEX[skill]])
            stats.update(ppo_steps=model.num_timesteps, steps_to_target=tracker.steps_to_target,
                         accuracy=accuracy)
            progress.finished.append(skill)
            logger.offset = 0
            for level, value in accuracy.items():
                logger.record(f"skills/{skill}/accuracy_level_{level}", value)
            logger.dump(progress.steps)
            console.print(f"{skill}: accuracy by level " + ", ".join(
                f"{level}: {value:.0%}" for level, value in accuracy.items()))
            with run.new_checkpoint(progress.steps) as folder:
                _write(folder, hierarchy, progress)
    finally:
        logger.close()
    _report(run, progress)


def _report(run: RunDir, progress: _Progress) -> None:
    """``eval/levels.json`` and ``plots/accuracy_by_level.png`` from the finished skills."""
    found = {name: stats["accuracy"] for name, stats in progress.skills.items()
             if "accuracy" in stats}
    (run.path / "eval").mkdir(exist_ok=True)
    (run.path / "eval" / LEVELS_FILE).write_text(json.dumps(progress.skills, indent=2) + "\n")
    several = {name: {int(level): value for level, value in accuracy.items()}
               for name, accuracy in found.items() if len(accuracy) > 1}
    if several:
        write_accuracy_plot(run.plots_dir / "accuracy_by_level.png", several,
                            xlabel="curriculum level", title=run.path.name)


def load_agent(path: Path) -> Hierarchy:
    """The hierarchy of checkpoint ``path``."""
    return Hierarchy.load(Path(path) / HIERARCHY_DIR)


def agent_env_kwargs(agent: Hierarchy, env_id: str) -> dict[str, Any]:
    """An AEC env played by a hierarchy calls its learned children (a flat agent's: no CALLs)."""
    if env_id not in {entry.id for entry in ENTRIES}:
        raise EvalError(f"a skill hierarchy plays the AEC environments (skillgym/AEC-*), "
                        f"not {env_id}")
    if agent.actions == "primitive":
        return {"actions": "primitive"}
    return {"child_policies": agent.child_policies()}


RECIPE = Recipe(
    name="aec-hierarchy",
    defaults=DEFAULTS,
    check=check,
    train=train,
    load_agent=load_agent,
    env_of=env_of,
    agent_env_kwargs=agent_env_kwargs,
)
