"""The ``keye-grpo`` recipe: GRPO of the built-in language model on the Keye tasks.

Training is :class:`~skillgym.agents.grpo.GRPOTrainer`, from the shipped model or ``init`` (a
``model.pt``, e.g. of a ``keye-sft`` run): every step draws prompts of every configured mode,
samples a group of replies to each and updates on their group-relative advantages. The metrics
log the reward and each of its components, the think-rate (overall and by level), the loop rate
(the default loop detector on every reply), reply length, KL, clipping and the groups skipped
for having no spread. Every ``train.eval_every`` steps, and at the end, the model answers the
held-out problems in each mode as ``keye-sft`` evaluates them.

Checkpoints hold what ``keye-sft``'s do: ``trainer.pt`` (the exact training state: a resumed
run ends bit-identical to an uninterrupted one), ``model.pt``, ``model_fp16.pt`` and, when
evaluated, ``eval.json`` and ``eval.png``; ``skillgym keye eval RUN`` evaluates them.
"""

from __future__ import annotations

from typing import Any

import torch
from rich.console import Console

from skillgym.agents.grpo import (
    DEFAULT_REWARDS,
    SWITCH_MODES,
    GRPOSettings,
    GRPOTrainer,
    PromptDraw,
)
from skillgym.envs.keye.tasks import LEVEL_NUMBERS
from skillgym.models import CausalTransformer, load_checkpoint
from skillgym.models.responders import KEYE_REPLY_TOKENS
from skillgym.progress import progress_bar
from skillgym.training.config import Config, ConfigError, OpenTable, get
from skillgym.training.logs import run_logger
from skillgym.training.recipes import THREADS_DEFAULTS, Recipe, apply_threads, threads_of
from skillgym.training.recipes.keye_sft import (
    TRAINER_FILE,
    held_out_evaluator,
    log_evaluation,
    not_an_agent,
    save_model_checkpoint,
    stopped,
)
from skillgym.training.run import Checkpoint, RunDir

_SETTINGS = ("prompts_per_step", "group_size", "max_new_tokens", "temperature",
             "learning_rate", "weight_decay", "grad_clip", "iterations", "beta", "clip_low",
             "clip_high", "ratio_level", "aggregation", "advantage_scale", "fallback_score",
             "forced_decision")

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    # A model checkpoint (model.pt) to start from; empty: the shipped model.
    "init": "",
    "prompts": {"levels": list(LEVEL_NUMBERS), "modes": ["think", "no_think", "auto_think"],
                "pool_size": 500, "pool_seed": 0},
    # {name: weight} or {name: {weight = w, ...config}} of registered reward plugins; a run
    # adds others by name (rewards.autothink=1.0) and turns one off with weight 0.
    "rewards": OpenTable(DEFAULT_REWARDS),
    "train": {
        "steps": 200,
        "prompts_per_step": 8,
        "group_size": 8,
        "max_new_tokens": KEYE_REPLY_TOKENS,
        "temperature": 1.0,
        "learning_rate": 1e-5,
        "weight_decay": 0.0,
        "grad_clip": 1.0,
        "iterations": 1,
        "beta": 0.04,
        "clip_low": 0.2,
        "clip_high": 0.2,
        "ratio_level": "token",
        "aggregation": "sequence",
        "advantage_scale": "group",
        "fallback_score": 0.0,
        # AdaptThink's importance sampling at the auto-think decision (half forced each way).
        "forced_decision": False,
        "log_every": 5,
        "eval_every": 100,
        "checkpoint_every": 25,
    },
    "threads": THREADS_DEFAULTS,
    "eval": {"problems_per_level": 40, "max_new_tokens": KEYE_REPLY_TOKENS, "seed": 1},
}

_POSITIVE = ("train.steps", "train.log_every", "train.eval_every", "train.checkpoint_every",
             "eval.problems_per_level", "eval.max_new_tokens")


def _settings(config: Config) -> GRPOSettings:
    train = get(config, "train")
    return GRPOSettings(**{key: train[key] for key in _SETTINGS}, seed=config["seed"])


def _prompts(config: Config) -> PromptDraw:
    prompts = get(config, "prompts")
    return PromptDraw(levels=tuple(prompts["levels"]), modes=tuple(prompts["modes"]),
                      pool_size=prompts["pool_size"], pool_seed=prompts["pool_seed"])


def check(config: Config) -> None:
    """Reject a configuration the recipe cannot run, before a run folder is written."""
    from pathlib import Path

    from skillgym.rewards.composition import WeightedSum

    threads_of(config)
    for key in _POSITIVE:
        if get(config, key) < 1:
            raise ConfigError(f"{key} must be a positive integer, got {get(config, key)}")
    if get(config, "init") and not Path(get(config, "init")).is_file():
        raise ConfigError(f"init: no such file '{get(config, 'init')}'")
    modes = get(config, "prompts.modes")
    if any(mode not in SWITCH_MODES for mode in modes):
        raise ConfigError(f"prompts.modes must be among {list(SWITCH_MODES)}, got {modes}")
    try:
        _settings(config)
        WeightedSum(dict(get(config, "rewards")))
    except (ValueError, KeyError) as error:
        raise ConfigError(str(error)) from None


def _model(config: Config) -> CausalTransformer:
    if get(config, "init"):
        return load_checkpoint(get(config, "init"))
    from skillgym.models.pretrained import load_builtin

    return load_builtin()


def train(run: RunDir, config: Config, resume: Checkpoint | None) -> None:
    """GRPO to ``train.steps``, evaluating, logging and checkpointing as it goes."""
    apply_threads(config)
    model = _model(config)
    trainer = GRPOTrainer(model, _settings(config), _prompts(config),
                          rewards=dict(get(config, "rewards")))
    if resume is not None:
        trainer.load_state_dict(torch.load(resume.path / TRAINER_FILE, weights_only=False))
    evaluate = held_out_evaluator(config)
    logger = run_logger(run, resume.step if resume else None)
    every = {key: get(config, f"train.{key}") for key in ("log_every", "eval_every",
                                                          "checkpoint_every")}
    steps = get(config, "train.steps")
    progress = progress_bar(Console(stderr=True))
    try:
        progress.start()
        task = progress.add_task("grpo", total=steps, completed=trainer.step, status="")
        while trainer.step < steps:
            try:
                metrics = trainer.train_step()
            except FloatingPointError as error:
                raise stopped(run, error) from None
            step = trainer.step
            records = summary = None
            if step % every["eval_every"] == 0 or step == steps:
                progress.update(task, status="evaluating")
                records = evaluate(model)
                summary = log_evaluation(logger, records)
            if step % every["log_every"] == 0 or records is not None:
                for key, value in metrics.items():
                    logger.record(key if "/" in key else f"train/{key}", value)
                logger.dump(step)
            if step % every["checkpoint_every"] == 0 or records is not None:
                save_model_checkpoint(run, step, trainer.state_dict(), model, records, summary)
            progress.update(task, completed=step,
                            status=f"reward {metrics['reward']:.3f}, "
                                   f"thinks {metrics['think_rate']:.2f}")
    finally:
        progress.stop()
        logger.close()


RECIPE = Recipe(
    name="keye-grpo",
    defaults=DEFAULTS,
    check=check,
    train=train,
    load_agent=not_an_agent("keye-grpo"),
    env_of=not_an_agent("keye-grpo"),
)
