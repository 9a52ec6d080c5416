"""``skillgym train``: train on an environment id or a named recipe, or resume a run."""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from skillgym.training.cli import CLIError
from skillgym.training.config import Config, ConfigError, load_toml, merge
from skillgym.training.recipes import (
    RECIPES,
    Recipe,
    RecipeError,
    configure,
    get_recipe,
    resolve_target,
)
from skillgym.training.run import RECIPE_KEY, Checkpoint, RunDir, RunError

USER_ERRORS = (ConfigError, RecipeError, RunError)


def _new_run(args: argparse.Namespace) -> tuple[RunDir, Recipe, Config, Checkpoint | None]:
    if args.target is None:
        raise CLIError("give an env id or recipe to train, or --resume RUN_DIR")
    if "=" in args.target:
        raise CLIError(f"the env id or recipe comes before overrides, got '{args.target}'")
    recipe, implied = resolve_target(args.target)
    file = load_toml(args.config) if args.config else {}
    named = file.pop(RECIPE_KEY, recipe.name)
    if named != recipe.name:
        raise CLIError(f"config file '{args.config}' is for recipe '{named}', not '{recipe.name}'")
    config = configure(recipe, file, [*implied, *args.overrides])
    recipe.check(config)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = args.run_dir or Path("runs") / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', args.target)}-{stamp}"
    return RunDir.create(path, recipe.name, config), recipe, config, None


def _resumed_run(args: argparse.Namespace) -> tuple[RunDir, Recipe, Config, Checkpoint | None]:
    if args.target is not None or args.overrides or args.config or args.run_dir:
        raise CLIError("--resume continues a run exactly as configured; it takes no target, "
                       "overrides, --config or --run-dir")
    run = RunDir.open(args.resume)
    recipe = get_recipe(run.recipe())
    # A hand-edited config.toml is checked like any other; keys it lacks take their defaults.
    config = merge(recipe.defaults, recipe.defaults, run.config())
    recipe.check(config)
    run.remove_partial_checkpoints()
    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        # Killed before its first checkpoint: start over, without the old logs.
        run.metrics_path.unlink(missing_ok=True)
        shutil.rmtree(run.tensorboard_dir, ignore_errors=True)
    return run, recipe, config, checkpoint


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let ``kill`` end training the way Ctrl-C does: plots written, resume command printed."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    """Create (or reopen) the run folder, train, and draw the learning curves."""
    # Imported here so that building the parser (for every sub-command) stays light.
    from skillgym.training.plots import write_learning_curves

    try:
        run_dir, recipe, config, checkpoint = (
            _resumed_run(args) if args.resume else _new_run(args)
        )
        if checkpoint:
            where = f"from step {checkpoint.step}"
        elif config.get("init"):
            where = f"from {config['init']}"
        else:
            where = "from scratch"
        print(f"{recipe.name}: training {where} into {run_dir.path}", file=sys.stderr)
        try:
            with _sigterm_as_interrupt():
                recipe.train(run_dir, config, checkpoint)
        except KeyboardInterrupt:
            latest = run_dir.latest_checkpoint()
            saved = f"step {latest.step}" if latest else "none yet"
            print(f"last checkpoint: {saved}; continue with: skillgym train --resume "
                  f"{run_dir.path}", file=sys.stderr)
            raise
        finally:
            write_learning_curves(run_dir)
    except USER_ERRORS as error:
        raise CLIError(str(error)) from None
    latest = run_dir.latest_checkpoint()
    print(f"done: {run_dir.path} (final checkpoint: step {latest.step if latest else 0})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym train``."""
    parser = subparsers.add_parser(
        "train",
        help="train on an env id or a named recipe; --resume continues a run",
        description="Train on an environment id (with the 'ppo' recipe) or a named recipe "
        f"({', '.join(RECIPES)}). Configuration: the recipe's defaults, then the settings it "
        "has tuned for the environment (skillgym/AEC-Add-v0's, say), then --config FILE, "
        "then KEY=VALUE overrides with dotted keys (e.g. ppo.learning_rate=1e-3), which follow "
        "the target directly: skillgym train [OPTIONS] TARGET [KEY=VALUE ...] [OPTIONS].",
    )
    parser.add_argument("target", nargs="?", help="an environment id or a recipe name")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="configuration overrides, e.g. train.total_timesteps=20000")
    parser.add_argument("--config", type=Path, help="a TOML file of configuration tables")
    parser.add_argument("--run-dir", type=Path,
                        help="the run folder to create (default: runs/<target>-<time>)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue this run from its latest checkpoint")
    parser.set_defaults(func=run)
