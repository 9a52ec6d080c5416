"""``skillgym keye``: Keye-VL's response modes on the built-in language model.

* ``skillgym keye build-data --output mixture.jsonl``: the cold-start SFT mixture as JSONL
  (TRL's conversational ``messages`` format);
* ``skillgym keye sft [KEY=VALUE ...]``: fine-tune the built-in model on it (the ``keye-sft``
  recipe of ``skillgym train``, with its run folder, progress and ``--resume``);
* ``skillgym keye grpo [KEY=VALUE ...]``: GRPO of the model on prompts of every mode (the
  ``keye-grpo`` recipe of ``skillgym train``, with its run folder, progress and ``--resume``);
* ``skillgym keye eval MODEL``: accuracy, format compliance, think-rate and tokens by level and
  mode on held-out problems, for a run folder, a checkpoint or the shipped model; writes
  ``records.json``, ``summary.json`` and a plot.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from skillgym.training.cli import CLIError

#: What ``--modes`` accepts: the text modes, and "none" for a prompt without a switch.
EVAL_MODES = ("think", "no_think", "auto_think", "none")


def run_build_data(args: argparse.Namespace) -> int:
    """Write the mixture the arguments describe."""
    from skillgym.envs.keye.mixture import (
        MixtureConfig,
        build_mixture,
        measured_or_bootstrap,
        write_mixture,
    )

    try:
        accuracy = measured_or_bootstrap(args.accuracy)
        config = MixtureConfig(size=args.size, seed=args.seed, split=args.split,
                               think_threshold=args.think_threshold, accuracy=accuracy,
                               loop_fraction=args.loop_fraction)
    except (OSError, ValueError) as error:
        raise CLIError(str(error)) from None
    samples = build_mixture(config)
    write_mixture(samples, args.output)
    print(f"wrote {len(samples)} samples to {args.output} (auto-think choices from "
          f"{accuracy.source})")
    return 0


def recipe_runner(recipe: str):
    """The command that runs ``skillgym train RECIPE`` with the same options."""
    def run_recipe(args: argparse.Namespace) -> int:
        from skillgym.training.commands.train import run

        args.target = None if args.resume else recipe
        return run(args)

    return run_recipe


def model_file(source: Path) -> Path:
    """The model file a ``skillgym keye eval`` source names: a model file, a checkpoint folder
    (its ``model.pt``) or a run folder (its latest checkpoint's)."""
    from skillgym.training.recipes.keye_sft import MODEL_FILE
    from skillgym.training.run import RunDir, RunError

    if source.is_file():
        return source
    if (source / MODEL_FILE).is_file():
        return source / MODEL_FILE
    try:
        latest = RunDir.open(source).latest_checkpoint()
    except RunError as error:
        raise CLIError(f"{source}: not a model file, checkpoint or run folder ({error})") from None
    if latest is None or not (latest.path / MODEL_FILE).is_file():
        raise CLIError(f"run folder {source} has no checkpoint with a {MODEL_FILE} yet")
    return latest.path / MODEL_FILE


def _load_model(source: str):
    from skillgym.models import load_checkpoint
    from skillgym.models.pretrained import load_builtin

    try:
        return load_builtin() if source == "builtin" else load_checkpoint(model_file(Path(source)))
    except (OSError, ValueError) as error:
        raise CLIError(str(error)) from None


def print_summary(summary: dict[str, dict[str, dict[str, float]]], title: str) -> None:
    """The summary as a table: one row per mode and level."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("mode", "level", "accuracy", "format", "think-rate", "tokens", "n"):
        table.add_column(column, justify="left" if column in ("mode", "level") else "right")
    for mode, levels in summary.items():
        for level, row in levels.items():
            table.add_row(mode, level, f"{row['accuracy']:.3f}", f"{row['format']:.3f}",
                          f"{row['think_rate']:.2f}", f"{row['tokens']:.1f}",
                          str(row["count"]))
    Console().print(table)


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate a model in the requested modes and write the results."""
    import torch

    from skillgym.envs.keye.evaluation import evaluate_responder, summarize
    from skillgym.envs.keye.tasks import LEVEL_NUMBERS, sample_problems
    from skillgym.models import SamplingParams
    from skillgym.models.responders import BuiltinResponder
    from skillgym.training.plots import write_mode_plot

    torch.set_num_threads(args.torch_threads)
    levels = args.levels or list(LEVEL_NUMBERS)
    try:
        problems = [problem for level in levels for problem in sample_problems(
            level, args.problems_per_level, args.seed, args.split)]
        params = SamplingParams(max_new_tokens=args.max_new_tokens,
                                temperature=args.temperature)
    except ValueError as error:
        raise CLIError(str(error)) from None
    responder = BuiltinResponder(_load_model(args.model), params)
    records = evaluate_responder(responder, problems, args.modes, seed=args.seed)
    summary = summarize(records)
    output = args.output or Path("runs") / f"keye-eval-{time.strftime('%Y%m%d-%H%M%S')}"
    output.mkdir(parents=True, exist_ok=True)
    (output / "records.json").write_text(json.dumps({"records": records}))
    meta: dict[str, Any] = {key: str(value) if isinstance(value, Path) else value
                            for key, value in vars(args).items() if key != "func"}
    (output / "summary.json").write_text(json.dumps({"args": meta, "summary": summary},
                                                    indent=1))
    write_mode_plot(summary, output / "summary.png")
    print_summary(summary, f"{args.model}: {len(problems)} {args.split} problems per mode")
    print(f"wrote {output}/records.json, summary.json, summary.png")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym keye`` and its sub-commands."""
    parser = subparsers.add_parser(
        "keye", help="Keye response modes: build data, SFT, GRPO, eval",
        description="Keye-VL's response modes on the built-in language model: build the "
                    "cold-start mixture, fine-tune the model on it, improve it with GRPO, "
                    "evaluate it by mode and level.")
    commands = parser.add_subparsers(dest="keye_command", metavar="COMMAND", required=True)

    build = commands.add_parser("build-data", help="write the cold-start SFT mixture (JSONL)")
    build.add_argument("--output", type=Path, required=True, help="the JSONL file to write")
    build.add_argument("--size", type=int, default=40_000, help="number of samples")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--split", default="train", choices=("train", "test"))
    build.add_argument("--accuracy", type=Path, default=None,
                       help="evaluation records (records.json / eval.json) measuring "
                            "non-thinking accuracy; default: the bootstrap guess")
    build.add_argument("--think-threshold", type=float, default=0.9,
                       help="auto-think thinks below this measured non-thinking accuracy")
    build.add_argument("--loop-fraction", type=float, default=0.0,
                       help="the share of thinking traces that stutter (a looping cold start)")
    build.set_defaults(func=run_build_data)

    for name, recipe, summary, description in (
            ("sft", "keye-sft", "fine-tune the built-in model (the keye-sft recipe)",
             "Fine-tune the built-in model on the mixture: 'skillgym train keye-sft' with its "
             "options. Overrides are dotted KEY=VALUE pairs, e.g. train.steps=3000 "
             "data.accuracy=runs/first/checkpoints/.../eval.json."),
            ("grpo", "keye-grpo", "GRPO of the model on mix-mode prompts (the keye-grpo recipe)",
             "GRPO of the built-in model (or init=MODEL) on prompts of every mode: 'skillgym "
             "train keye-grpo' with its options. Overrides are dotted KEY=VALUE pairs, e.g. "
             "train.steps=200 train.group_size=8 rewards.loop=1.0.")):
        command = commands.add_parser(name, help=summary, description=description)
        command.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
        command.add_argument("--config", type=Path, help="a TOML file of configuration tables")
        command.add_argument("--run-dir", type=Path, help="the run folder to create")
        command.add_argument("--resume", type=Path, metavar="RUN_DIR",
                             help="continue this run from its latest checkpoint")
        command.set_defaults(func=recipe_runner(recipe))

    evaluate = commands.add_parser("eval", help="accuracy, tokens and think-rate by level")
    evaluate.add_argument("model", help="a run folder, a checkpoint folder, a model file, or "
                                        "'builtin' for the shipped model")
    evaluate.add_argument("--modes", nargs="+", default=["think", "no_think", "auto_think"],
                          choices=EVAL_MODES)
    evaluate.add_argument("--levels", nargs="+", type=int, default=None)
    evaluate.add_argument("--problems-per-level", type=int, default=100)
    evaluate.add_argument("--split", default="test", choices=("train", "test"))
    evaluate.add_argument("--seed", type=int, default=1)
    evaluate.add_argument("--max-new-tokens", type=int, default=480,
                          help="the reply budget (480 fits the longest reply of the mixture)")
    evaluate.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    evaluate.add_argument("--torch-threads", type=int, default=1)
    evaluate.add_argument("--output", type=Path, default=None,
                          help="the folder to write (default: runs/keye-eval-<time>)")
    evaluate.set_defaults(func=run_eval)
