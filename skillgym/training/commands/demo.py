"""``skillgym demo``: the AEC oracle on a few expressions, then a short training run of ADD.

The demo shows the two halves of the AEC family in a few minutes on a laptop CPU: the skill
hierarchy solving expressions exactly (checked against Python's own integers), and a
stable-baselines3 agent (MaskablePPO, through the ``ppo`` recipe) learning the ADD skill and
then adding numbers longer than any it was trained on.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from skillgym.training.cli import CLIError

# Expressions for the oracle: brackets, negation, floor division that is not exact, long numbers.
EXPRESSIONS: tuple[tuple[str, int], ...] = (
    ("3*(4+-5)//2", 3 * (4 + -5) // 2),
    ("-(12 - 30) * 7", -(12 - 30) * 7),
    ("1000 // 7 - 999", 1000 // 7 - 999),
    ("(2 + 3) * (4 - 6) // 3", (2 + 3) * (4 - 6) // 3),
    ("123456789 * 987654321 + 1", 123456789 * 987654321 + 1),
    ("-7 // 2", -7 // 2),
)

ENV_ID = "skillgym/AEC-Add-v0"
# Curriculum levels of ADD used for the generalisation table, and the level training stops at.
EVAL_LEVELS = (1, 2, 3, 4, 5, 6, 7, 8)
TRAIN_LEVEL_CAP = 3
# One PPO rollout of the demo's 8 environments.
MIN_STEPS = 1_024


def show_oracle(console: Console) -> None:
    """Solve :data:`EXPRESSIONS` with the oracle and check each against Python."""
    from skillgym.envs.aec import solve

    table = Table(title="AEC oracle: EVAL calling ADD/SUB/MUL/DIV/COMPARE on a scratchpad")
    for column in ("expression", "answer", "python", "trace steps"):
        table.add_column(column, justify="right" if column != "expression" else "left")
    for text, expected in EXPRESSIONS:
        solution = solve(text)
        ok = "[green]✓[/]" if solution.answer == expected else "[red]✗[/]"
        table.add_row(text, str(solution.answer), f"{expected} {ok}", str(len(solution.trace)))
    console.print(table)


def train_add(console: Console, steps: int, run_path: Path, seed: int) -> Path:
    """Train MaskablePPO on ADD (curriculum up to :data:`TRAIN_LEVEL_CAP`) into ``run_path``."""
    from skillgym.training.config import resolve
    from skillgym.training.recipes import get_recipe
    from skillgym.training.run import RunDir

    recipe = get_recipe("ppo")
    config = resolve(
        recipe.defaults,
        {
            "seed": seed,
            "env": {"id": ENV_ID, "n_envs": 8, "kwargs": {"max_level": TRAIN_LEVEL_CAP}},
            "train": {"total_timesteps": steps, "checkpoint_every": steps},
            "ppo": {"n_steps": 128, "batch_size": 256, "learning_rate": 1e-3, "ent_coef": 0.01},
        },
    )
    recipe.check(config)
    run = RunDir.create(run_path, recipe.name, config)
    console.print(f"\nTraining MaskablePPO on {ENV_ID} for {steps:,} steps into {run.path}")
    started = time.perf_counter()
    recipe.train(run, config, None)
    console.print(f"trained in {time.perf_counter() - started:.0f} s")
    return run.path


def show_generalisation(console: Console, run_path: Path, episodes: int) -> None:
    """Success of the trained ADD policy at every level, longer numbers than trained on included."""
    from skillgym.envs.aec.tasks import TASKS
    from skillgym.training.evaluate import evaluate
    from skillgym.training.recipes import get_recipe
    from skillgym.training.run import RunDir

    run = RunDir(run_path)
    agent = get_recipe("ppo").load_agent(run.latest_checkpoint().path)
    levels = TASKS["ADD"].levels
    table = Table(title=f"Learned ADD: success by operand length ({episodes} episodes each)")
    for column in ("level", "operands", "trained on", "success"):
        table.add_column(column, justify="right")
    for level in EVAL_LEVELS:
        result = evaluate(agent, ENV_ID, episodes, seed=10_000 * level,
                          env_kwargs={"level": level, "curriculum": False}, console=console)
        table.add_row(str(level), levels[level - 1],
                      "yes" if level <= TRAIN_LEVEL_CAP else "no",
                      f"{100 * (result.success_rate or 0.0):.0f} %")
    console.print(table)


def run(args: argparse.Namespace) -> int:
    """Oracle, training, generalisation table."""
    if 0 < args.steps < MIN_STEPS:
        raise CLIError(f"--steps must be 0 (oracle only) or at least {MIN_STEPS}, got {args.steps}")
    if args.episodes < 1:
        raise CLIError(f"--episodes must be at least 1, got {args.episodes}")
    console = Console()
    show_oracle(console)
    if args.steps:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_path = args.run_dir or Path("runs") / f"demo-{stamp}"
        show_generalisation(console, train_add(console, args.steps, run_path, args.seed),
                            args.episodes)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym demo``."""
    parser = subparsers.add_parser(
        "demo", help="the AEC oracle on a few expressions, then a short training run of ADD")
    parser.add_argument("--steps", type=int, default=150_000,
                        help="environment steps of ADD training; 0 shows the oracle only "
                        "(default 150000)")
    parser.add_argument("--episodes", type=int, default=50,
                        help="evaluation episodes per length (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", type=Path, help="where to write the run folder")
    parser.set_defaults(func=run)
