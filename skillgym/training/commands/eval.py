"""``skillgym eval``: a run's (or a checkpoint's) agent on episodes of an env, or on a file of
expressions (exact-match accuracy by terms and digits; ``oracle`` evaluates the AEC oracle)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from skillgym.training.cli import CLIError
from skillgym.training.config import ConfigError
from skillgym.training.recipes import EvalError, RecipeError, get_recipe
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


DEFAULT_EPISODES = 20
# The target that names the AEC oracle instead of a run folder (``./oracle`` is a folder).
ORACLE = "oracle"


def _write(report: dict, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {output}")


def run_expressions(args: argparse.Namespace) -> int:
    """Solve every expression of ``--expressions``, print the tables and write them as JSON."""
    from rich.console import Console

    from skillgym.training.expressions import (
        ExpressionsError,
        OracleSolver,
        read_problems,
        score,
        tables,
    )

    played = {"--env": args.env, "--episodes": args.episodes, "--seed": args.seed,
              "--stochastic": args.stochastic or None}
    given = [flag for flag, value in played.items() if value is not None]
    if given:
        raise CLIError(f"{', '.join(given)}: for playing an env's episodes, not for --expressions")
    try:
        problems = read_problems(args.expressions)
        if args.path == ORACLE:
            solver, source, output = OracleSolver(), {"agent": ORACLE}, args.output
        else:
            run_dir, checkpoint = locate(Path(args.path))
            solver = get_recipe(run_dir.recipe()).load_agent(checkpoint.path)
            if not callable(getattr(solver, "answer", None)):
                raise CLIError(f"this run's agent ({type(solver).__name__}, recipe "
                               f"'{run_dir.recipe()}') does not solve expressions")
            source = {"run": str(run_dir.path), "checkpoint": str(checkpoint.path),
                      "step": checkpoint.step}
            name = f"{args.expressions.stem}-step{checkpoint.step}.json"
            output = args.output or run_dir.path / "eval" / name
    except (ConfigError, RecipeError, RunError, ExpressionsError) as error:
        raise CLIError(str(error)) from None
    console = Console()
    result = score(solver, problems, console, description=f"solve {args.expressions.name}")
    for table in tables(result):
        console.print(table)
    who = f"step {source['step']}" if "step" in source else ORACLE
    print(f"{args.expressions} ({who}): exact match {result.correct}/{len(problems)} = "
          f"{result.accuracy:.1%}")
    if output is None:
        print("no JSON written (give --output FILE to keep the oracle's results)")
    else:
        _write({**source, "expressions": str(args.expressions), **result.to_dict()}, output)
    return 0


def run_episodes(args: argparse.Namespace) -> int:
    """Play episodes, print the summary and write it as JSON."""
    import gymnasium as gym

    import skillgym  # noqa: F401  (registers the skillgym/ ids)
    from skillgym.training.evaluate import evaluate

    if args.path == ORACLE:
        raise CLIError(f"'{ORACLE}' solves expressions only: give --expressions FILE.jsonl")
    episodes = DEFAULT_EPISODES if args.episodes is None else args.episodes
    seed = args.seed or 0
    if episodes < 1:
        raise CLIError(f"--episodes must be at least 1, got {episodes}")
    try:
        run_dir, checkpoint = locate(Path(args.path))
        recipe = get_recipe(run_dir.recipe())
        trained_id, trained_kwargs = recipe.env_of(run_dir.config())
        env_id = args.env or trained_id
        if env_id not in gym.registry:
            raise CLIError(f"--env: unknown environment id '{env_id}'; run 'skillgym list'")
        agent = recipe.load_agent(checkpoint.path)
        result = evaluate(
            agent,
            env_id,
            episodes=episodes,
            seed=seed,
            # Keyword arguments belong to the env the run trained on, not to another id; the
            # agent may bring its own (a skill hierarchy's learned children).
            env_kwargs={**(trained_kwargs if env_id == trained_id else {}),
                        **recipe.agent_env_kwargs(agent, env_id)},
            deterministic=not args.stochastic,
        )
    except (ConfigError, RecipeError, RunError, EvalError) as error:
        raise CLIError(str(error)) from None
    report = {"run": str(run_dir.path), "checkpoint": str(checkpoint.path),
              "step": checkpoint.step, "deterministic": not args.stochastic, **result.to_dict()}
    name = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', env_id)}-step{checkpoint.step}.json"
    success = "n/a" if result.success_rate is None else f"{result.success_rate:.1%}"
    print(f"{env_id} over {result.episodes} episodes (step {checkpoint.step}): "
          f"mean return {result.mean_return:.3f} ± {result.std_return:.3f}, "
          f"mean length {result.mean_length:.1f}, success {success}")
    _write(report, args.output or run_dir.path / "eval" / name)
    return 0


def run(args: argparse.Namespace) -> int:
    """Solve ``--expressions`` when given, else play episodes."""
    return run_expressions(args) if args.expressions is not None else run_episodes(args)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym eval``."""
    parser = subparsers.add_parser(
        "eval",
        help="a run's agent on episodes of an env, or on a file of expressions",
        description="Play episodes of the run's env (or --env) and report mean return and "
        "success, or, with --expressions FILE.jsonl, solve every expression in the file and "
        "report exact-match accuracy by number of terms and by digits. FILE has one JSON object "
        'a line with "expression" (or reasoning-gym\'s "metadata": {"expression": ...}) and '
        '"answer" (an integer, or a string of one); "/" is floor division; blank lines are '
        "skipped. The target 'oracle' is the AEC oracle (expressions only).",
    )
    # Kept as typed: Path("./oracle") would read back as the bare word "oracle".
    parser.add_argument("path", metavar="RUN_DIR|CHECKPOINT|oracle",
                        help="a run folder (its latest checkpoint), a checkpoint folder, or "
                        f"'{ORACLE}' (a folder of that name: ./{ORACLE})")
    parser.add_argument("--expressions", type=Path, metavar="FILE.jsonl",
                        help="solve the expressions of this JSON Lines file instead of playing")
    parser.add_argument("--env", metavar="ID", help="environment id (default: the run's own)")
    parser.add_argument("--episodes", type=int,
                        help=f"episodes to play (default {DEFAULT_EPISODES})")
    parser.add_argument("--seed", type=int,
                        help="reset seed of the first episode; episode i uses seed + i (default 0)")
    parser.add_argument("--stochastic", action="store_true",
                        help="sample actions instead of taking the most likely one")
    parser.add_argument("--output", type=Path,
                        help="JSON file to write (default: RUN_DIR/eval/<env>-step<N>.json, or "
                        "RUN_DIR/eval/<FILE stem>-step<N>.json with --expressions; the oracle "
                        "writes only with --output)")
    parser.set_defaults(func=run)
