"""``skillgym eval``: mean return and success of a run's (or a checkpoint's) agent."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from skillgym.training.cli import CLIError
from skillgym.training.config import ConfigError
from skillgym.training.recipes import RecipeError, get_recipe
from skillgym.training.run import Checkpoint, RunDir, RunError


def locate(path: Path) -> tuple[RunDir, Checkpoint]:
    """The run and checkpoint ``path`` names: a run folder (its latest checkpoint) or a checkpoint.
    """
    if not path.exists():
        raise CLIError(f"run folder or checkpoint '{path}' does not exist")
    if (path / "config.toml").is_file():
        run = RunDir.open(path)
        checkpoint = run.latest_checkpoint()
        if checkpoint is None:
            raise CLIError(f"run folder '{path}' has no checkpoint yet")
        return run, checkpoint
    if path.parent.name == "checkpoints" and (path.parent.parent / "config.toml").is_file():
        run = RunDir.open(path.parent.parent)
        for checkpoint in run.checkpoints():
            if checkpoint.path.resolve() == path.resolve():
                return run, checkpoint
    raise CLIError(f"'{path}' is neither a run folder (with config.toml) nor a checkpoint of one "
                   f"(RUN_DIR/checkpoints/step_*)")


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the summary and write it as JSON."""
    import gymnasium as gym

    import skillgym  # noqa: F401  (registers the skillgym/ ids)
    from skillgym.training.evaluate import EvalError, evaluate

    if args.episodes < 1:
        raise CLIError(f"--episodes must be at least 1, got {args.episodes}")
    try:
        run_dir, checkpoint = locate(args.path)
        recipe = get_recipe(run_dir.recipe())
        trained_id, trained_kwargs = recipe.env_of(run_dir.config())
        env_id = args.env or trained_id
        if env_id not in gym.registry:
            raise CLIError(f"--env: unknown environment id '{env_id}'; run 'skillgym list'")
        agent = recipe.load_agent(checkpoint.path)
        result = evaluate(
            agent,
            env_id,
            episodes=args.episodes,
            seed=args.seed,
            # Keyword arguments belong to the env the run trained on, not to another id.
            env_kwargs=trained_kwargs if env_id == trained_id else {},
            deterministic=not args.stochastic,
        )
    except (ConfigError, RecipeError, RunError, EvalError) as error:
        raise CLIError(str(error)) from None
    report = {"run": str(run_dir.path), "checkpoint": str(checkpoint.path),
              "step": checkpoint.step, "deterministic": not args.stochastic, **result.to_dict()}
    name = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', env_id)}-step{checkpoint.step}.json"
    output = args.output or run_dir.path / "eval" / name
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    success = "n/a" if result.success_rate is None else f"{result.success_rate:.1%}"
    print(f"{env_id} over {result.episodes} episodes (step {checkpoint.step}): "
          f"mean return {result.mean_return:.3f} ± {result.std_return:.3f}, "
          f"mean length {result.mean_length:.1f}, success {success}")
    print(f"written: {output}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym eval``."""
    parser = subparsers.add_parser(
        "eval",
        help="mean return / success of a run's latest checkpoint (or a given checkpoint)",
    )
    parser.add_argument("path", type=Path, metavar="RUN_DIR|CHECKPOINT",
                        help="a run folder (its latest checkpoint) or a checkpoint folder")
    parser.add_argument("--env", metavar="ID", help="environment id (default: the run's own)")
    parser.add_argument("--episodes", type=int, default=20, help="episodes to play (default 20)")
    parser.add_argument("--seed", type=int, default=0,
                        help="reset seed of the first episode; episode i uses seed + i")
    parser.add_argument("--stochastic", action="store_true",
                        help="sample actions instead of taking the most likely one")
    parser.add_argument("--output", type=Path,
                        help="JSON file to write (default: RUN_DIR/eval/<env>-step<N>.json)")
    parser.set_defaults(func=run)
