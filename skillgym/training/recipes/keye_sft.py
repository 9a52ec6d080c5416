"""The ``keye-sft`` recipe: the built-in language model fine-tuned on the Keye cold-start mixture.

The mixture (:mod:`skillgym.envs.keye.mixture`) is built from the configuration, or read from
``data.path``, and kept in the run folder as ``data.jsonl``; a malformed line is skipped and
counted, never fatal. Training is :class:`~skillgym.agents.lm_sft.SFTTrainer`; every
``train.eval_every`` steps the model answers held-out problems of every level in each mode
(:func:`~skillgym.envs.keye.evaluation.evaluate_responder`), and the accuracy, format compliance,
think-rate and tokens are logged under ``eval/``.

A checkpoint holds ``trainer.pt`` (the exact training state: a resumed run ends bit-identical to
an uninterrupted one), ``model.pt`` (the model alone, for :func:`~skillgym.models.load_checkpoint`),
``model_fp16.pt`` (the same in half precision, the form the package ships) and, when the
checkpoint was evaluated, ``eval.json`` (every record and their summary: the measurement that
grounds the next mixture's auto-think choices, ``data.accuracy = ".../eval.json"``) and
``eval.png`` (accuracy, think-rate and tokens by level for each mode).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from skillgym.agents.lm_sft import SFTSettings, SFTTrainer, encode_conversations
from skillgym.envs.keye.evaluation import evaluate_responder, summarize
from skillgym.envs.keye.mixture import (
    MixtureConfig,
    build_mixture,
    measured_or_bootstrap,
    read_mixture,
    write_mixture,
)
from skillgym.envs.keye.tasks import LEVEL_NUMBERS, sample_problems
from skillgym.models import (
    CausalTransformer,
    SamplingParams,
    TransformerConfig,
    load_checkpoint,
    save_checkpoint,
)
from skillgym.models.responders import KEYE_REPLY_TOKENS, BuiltinResponder
from skillgym.progress import progress_bar
from skillgym.training.config import Config, ConfigError, get
from skillgym.training.logs import run_logger
from skillgym.training.plots import write_mode_plot
from skillgym.training.recipes import (
    THREADS_DEFAULTS,
    EvalError,
    Recipe,
    apply_threads,
    threads_of,
)
from skillgym.training.run import Checkpoint, RunDir, RunError

DATA_FILE = "data.jsonl"
TRAINER_FILE = "trainer.pt"
MODEL_FILE = "model.pt"
HALF_MODEL_FILE = "model_fp16.pt"
EVAL_FILE = "eval.json"
EVAL_PLOT = "eval.png"
#: The modes the model is evaluated in while it trains.
EVAL_MODES = ("think", "no_think", "auto_think")

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    # A model checkpoint (model.pt) to start from instead of a new model, e.g. a first pass.
    "init": "",
    "model": {"n_layers": 4, "d_model": 128, "n_heads": 8, "context_length": 512},
    "data": {
        # A mixture JSONL to train on; empty: build one from the settings below.
        "path": "",
        "size": 40_000,
        # Keye-VL-1.5's text-mode cold-start ratio (non-reasoning : reasoning : auto-think).
        "proportions": {"think": 230.0, "no_think": 330.0, "auto_think": 20.0},
        # Weight of each difficulty level within each mode (TOML keys are strings).
        "level_weights": {str(level): 1.0 for level in LEVEL_NUMBERS},
        "no_switch_fraction": 0.5,
        "think_threshold": 0.9,
        # The share of thinking traces that stutter (a looping cold start; see mixture.py).
        "loop_fraction": 0.0,
        # Evaluation records (an eval.json) measuring non-thinking accuracy; empty: the
        # bootstrap guess, for the first pass only.
        "accuracy": "",
    },
    "train": {
        "steps": 3000,
        "batch_size": 64,
        # > 0: batches of this many padded tokens instead of batch_size conversations (a batch
        # of three-token non-thinking answers then carries as much text as one of traces).
        "batch_tokens": 6000,
        # 3e-3 kept the model from learning even to copy a number (docs/keye.md).
        "learning_rate": 1e-3,
        "final_learning_rate": 0.05,
        "warmup_steps": 100,
        "weight_decay": 0.01,
        "grad_clip": 1.0,
        "log_every": 50,
        "eval_every": 1000,
        "checkpoint_every": 500,
    },
    # One thread each: the model is small and the machine's cores are shared.
    "threads": THREADS_DEFAULTS,
    # Held-out problems per level answered in each mode at every evaluation.
    "eval": {"problems_per_level": 40, "max_new_tokens": KEYE_REPLY_TOKENS, "seed": 1},
}

_POSITIVE = ("data.size", "train.steps", "train.batch_size", "train.log_every",
             "train.eval_every", "train.checkpoint_every",
             "eval.problems_per_level", "eval.max_new_tokens")


def _settings(config: Config) -> SFTSettings:
    train = get(config, "train")
    return SFTSettings(**{key: train[key] for key in (
        "steps", "batch_size", "batch_tokens", "learning_rate", "final_learning_rate",
        "warmup_steps", "weight_decay", "grad_clip")}, seed=config["seed"])


def _mixture_config(config: Config) -> MixtureConfig:
    data = get(config, "data")
    try:
        level_weights = {int(level): weight for level, weight in data["level_weights"].items()}
    except ValueError:
        raise ConfigError(f"data.level_weights: the keys must be level numbers "
                          f"{list(LEVEL_NUMBERS)}, got {list(data['level_weights'])}") from None
    return MixtureConfig(size=data["size"], proportions=dict(data["proportions"]),
                         level_weights=level_weights,
                         seed=config["seed"], no_switch_fraction=data["no_switch_fraction"],
                         think_threshold=data["think_threshold"],
                         loop_fraction=data["loop_fraction"],
                         accuracy=measured_or_bootstrap(data["accuracy"]))


def check(config: Config) -> None:
    """Reject a configuration the recipe cannot run, before a run folder is written."""
    threads_of(config)
    for key in _POSITIVE:
        if get(config, key) < 1:
            raise ConfigError(f"{key} must be a positive integer, got {get(config, key)}")
    for key in ("init", "data.path", "data.accuracy"):
        path = get(config, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"{key}: no such file '{path}'")
    try:
        TransformerConfig(**get(config, "model"))
        _settings(config)
        if not get(config, "data.path"):
            _mixture_config(config)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _samples(run: RunDir, config: Config) -> tuple[list[dict], int]:
    """The run's mixture (built, or copied from ``data.path``, into the run folder once, so that
    a resumed run reads what the run started with) and how many malformed lines it skipped."""
    kept = run.path / DATA_FILE
    source = get(config, "data.path") or str(kept)
    if not kept.is_file():
        if get(config, "data.path"):
            kept.write_bytes(Path(source).read_bytes())
        else:
            write_mixture(build_mixture(_mixture_config(config)), kept)
    mixture = read_mixture(kept, on_error="skip")
    for error in mixture.skipped[:5]:
        print(f"skipped {source}:{error.line}: {error.reason}")
    return mixture.samples, len(mixture.skipped)


def _model(config: Config) -> CausalTransformer:
    if get(config, "init"):
        return load_checkpoint(get(config, "init"))
    torch.manual_seed(config["seed"])
    return CausalTransformer(TransformerConfig(**get(config, "model")))


def held_out_evaluator(config: Config) -> Callable[[CausalTransformer], list[dict[str, Any]]]:
    """A function scoring a model on the configured held-out problems in :data:`EVAL_MODES`."""
    problems = [problem for level in LEVEL_NUMBERS for problem in sample_problems(
        level, get(config, "eval.problems_per_level"), get(config, "eval.seed"), "test")]
    params = SamplingParams(max_new_tokens=get(config, "eval.max_new_tokens"), temperature=0.0)

    def evaluate(model: CausalTransformer) -> list[dict[str, Any]]:
        return evaluate_responder(BuiltinResponder(model, params), problems, EVAL_MODES)

    return evaluate


def log_evaluation(logger, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Log each mode's overall figures as curves and its accuracy per level beside them (under
    ``levels/``, kept in metrics.jsonl but not drawn: the checkpoint's ``eval.png`` shows them)."""
    summary = summarize(records)
    for mode, levels in summary.items():
        for level, row in levels.items():
            if level == "all":
                for key in ("accuracy", "format", "think_rate", "tokens"):
                    logger.record(f"eval/{mode}_{key}", row[key])
            else:
                logger.record(f"levels/{mode}_accuracy_L{level}", row["accuracy"])
    return summary


def save_model_checkpoint(run: RunDir, step: int, state: dict[str, Any],
                          model: CausalTransformer, records: list[dict[str, Any]] | None,
                          summary: dict[str, Any] | None) -> None:
    """A checkpoint of a language-model run: the trainer's ``state``, the model in full and
    half precision, and the evaluation when there is one."""
    with run.new_checkpoint(step) as folder:
        torch.save(state, folder / TRAINER_FILE)
        save_checkpoint(model, folder / MODEL_FILE)
        save_checkpoint(model, folder / HALF_MODEL_FILE, half=True)
        if records is not None:
            (folder / EVAL_FILE).write_text(json.dumps({"records": records,
                                                        "summary": summary}))
            write_mode_plot(summary, folder / EVAL_PLOT)


def train(run: RunDir, config: Config, resume: Checkpoint | None) -> None:
    """Fine-tune to ``train.steps``, evaluating, logging and checkpointing as it goes."""
    apply_threads(config)
    samples, malformed = _samples(run, config)
    model = _model(config)
    data = encode_conversations(samples, model.config.context_length)
    skipped = {**data.skipped, **({"malformed line": malformed} if malformed else {})}
    if skipped:
        print(f"set aside: {skipped}")
    trainer = SFTTrainer(model, data, _settings(config))
    if resume is not None:
        trainer.load_state_dict(torch.load(resume.path / TRAINER_FILE, weights_only=True))
    evaluate = held_out_evaluator(config)
    logger = run_logger(run, resume.step if resume else None)
    every = {key: get(config, f"train.{key}") for key in ("log_every", "eval_every",
                                                          "checkpoint_every")}
    losses: list[float] = []
    progress = progress_bar(Console(stderr=True))
    try:
        progress.start()
        task = progress.add_task("sft", total=trainer.settings.steps,
                                 completed=trainer.steps_done, status="")
        while not trainer.done:
            try:
                metrics = trainer.step()
            except FloatingPointError as error:
                raise stopped(run, error) from None
            losses.append(metrics["loss"])
            step = trainer.steps_done
            records = summary = None
            if step % every["eval_every"] == 0 or trainer.done:
                progress.update(task, status="evaluating")
                records = evaluate(model)
                summary = log_evaluation(logger, records)
            if step % every["log_every"] == 0 or records is not None:
                logger.record("train/loss", sum(losses) / len(losses))
                logger.record("train/learning_rate", metrics["learning_rate"])
                logger.record("train/grad_norm", metrics["grad_norm"])
                logger.dump(step)
                losses.clear()
            if step % every["checkpoint_every"] == 0 or records is not None:
                save_model_checkpoint(run, trainer.steps_done, trainer.state_dict(), model,
                                      records, summary)
            progress.update(task, completed=step, status=f"loss {metrics['loss']:.3f}")
    finally:
        progress.stop()
        logger.close()


def stopped(run: RunDir, error: FloatingPointError) -> RunError:
    """The error that ends a language-model run whose loss stopped being finite, naming the
    checkpoint that holds the last finite model."""
    latest = run.latest_checkpoint()
    return RunError(f"{error}; training stopped. The last checkpoint "
                    f"({latest.path if latest else 'none'}) holds the last finite model")


def not_an_agent(recipe: str) -> Callable[..., Any]:
    """The ``load_agent`` and ``env_of`` of a recipe whose runs hold a language model."""
    def refuse(*args: Any) -> Any:
        raise EvalError(f"a {recipe} run holds a language model, not an environment agent: "
                        "evaluate it with 'skillgym keye eval RUN'")

    return refuse


RECIPE = Recipe(
    name="keye-sft",
    defaults=DEFAULTS,
    check=check,
    train=train,
    load_agent=not_an_agent("keye-sft"),
    env_of=not_an_agent("keye-sft"),
)
