"""``skillgym demo``: the AEC oracle on a few expressions, then a small hierarchy learned.

The demo shows the AEC family in a few minutes on a laptop CPU: the oracle's skill hierarchy
solving expressions exactly (checked against Python's own integers), then the ``aec-hierarchy``
recipe learning ADD and SUB with every skill they call, bottom-up, on numbers of at most five
digits, and the learned skills adding and subtracting numbers of up to 100 digits.
"""

from __future__ import annotations

import argparse
import json
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

# The small hierarchy the demo trains: ADD and SUB with everything they call.
SKILLS = ("ADD", "SUB")
# Settings that keep the demo to a few minutes on two cores; the recipe's defaults otherwise.
DEMO_OVERRIDES = ("train.timesteps_per_skill=4096",)


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


def train_hierarchy(console: Console, run_path: Path, seed: int, episodes: int) -> Path:
    """Train ADD, SUB and their skills bottom-up with the ``aec-hierarchy`` recipe."""
    from skillgym.training.config import resolve
    from skillgym.training.recipes import get_recipe
    from skillgym.training.run import RunDir

    recipe = get_recipe("aec-hierarchy")
    overrides = [f"seed={seed}", f"skills={json.dumps(list(SKILLS))}",
                 f"eval.episodes={episodes}", *DEMO_OVERRIDES]
    config = resolve(recipe.defaults, None, overrides)
    recipe.check(config)
    run = RunDir.create(run_path, recipe.name, config)
    console.print(f"\nTraining the skills of {' and '.join(SKILLS)} bottom-up (oracle-trace warm "
                  f"start, then MaskablePPO) on <= 5 digits, into {run.path}")
    started = time.perf_counter()
    recipe.train(run, config, None)
    console.print(f"trained in {time.perf_counter() - started:.0f} s")
    return run.path


def show_generalisation(console: Console, run_path: Path, episodes: int) -> Path:
    """The learned ADD and SUB at 1 to 100 digits: a table and a plot (``plots/``)."""
    from skillgym.envs.aec.tasks import TASKS
    from skillgym.training.plots import write_accuracy_plot
    from skillgym.training.recipes.aec_hierarchy import LEVELS_FILE, top_level
    from skillgym.training.run import RunDir

    run = RunDir(run_path)
    config = run.config()
    skills = config["skills"]  # ADD and SUB, whose levels are the same lengths
    measured = json.loads((run.path / "eval" / LEVELS_FILE).read_text())
    table = Table(title=f"Learned skills: exact match by operand length ({episodes} problems each)")
    for column in ("digits", "trained on", *skills):
        table.add_column(column, justify="right")
    digits = TASKS[skills[0]].len_a
    top = top_level(config, skills[0])
    for level, size in enumerate(digits, start=1):
        cells = [f"{100 * measured[skill]['accuracy'][str(level)]:.0f} %" for skill in skills]
        table.add_row(str(size), "yes" if level <= top else "no", *cells)
    console.print(table)
    series = {skill: {size: measured[skill]["accuracy"][str(level)]
                      for level, size in enumerate(digits, start=1)} for skill in skills}
    path = write_accuracy_plot(run.plots_dir / "accuracy_by_digits.png", series,
                               xlabel="digits per operand", log_x=True,
                               title=f"trained on <= {digits[top - 1]} digits")
    console.print(f"plot: {path}")
    return path


def run(args: argparse.Namespace) -> int:
    """Oracle, training, generalisation table and plot."""
    if args.episodes < 1:
        raise CLIError(f"--episodes must be at least 1, got {args.episodes}")
    console = Console()
    show_oracle(console)
    if not args.oracle_only:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_path = args.run_dir or Path("runs") / f"demo-{stamp}"
        show_generalisation(console, train_hierarchy(console, run_path, args.seed, args.episodes),
                            args.episodes)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym demo``."""
    parser = subparsers.add_parser(
        "demo", help="the AEC oracle on a few expressions, then a small skill hierarchy learned "
        "bottom-up and tested on 1 to 100 digits")
    parser.add_argument("--oracle-only", action="store_true", help="show the oracle table only")
    parser.add_argument("--episodes", type=int, default=100,
                        help="test problems per length (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", type=Path, help="where to write the run folder")
    parser.set_defaults(func=run)
