"""``skillgym report``: what a run folder holds, at a glance, with its plots redrawn."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from skillgym.training.cli import CLIError
from skillgym.training.run import RunDir, RunError


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def last_metrics(rows: list[dict[str, Any]]) -> dict[str, tuple[int, Any]]:
    """Each metric's last logged value and the step it was logged at, in key order.

    Metrics need not be logged on every row (evaluation scores, say), so the last row alone
    would not show them all.
    """
    found: dict[str, tuple[int, Any]] = {}
    for row in rows:
        for key, value in row.items():
            if key != "step":
                found[key] = (row.get("step", 0), value)
    return dict(sorted(found.items()))


def eval_summary(path: Path) -> str:
    """One line about an evaluation JSON that ``skillgym eval`` wrote."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"unreadable ({error})"
    if not isinstance(data, dict):
        return "not an evaluation report"
    step = f"step {data['step']}: " if "step" in data else ""
    if "accuracy" in data and "problems" in data:
        return (f"{step}exact match {data['accuracy']:.1%} on {data['problems']} expressions "
                f"of {data.get('expressions', '?')}")
    if "mean_return" in data:
        success = data.get("success_rate")
        success = "n/a" if success is None else f"{success:.1%}"
        return (f"{step}{data.get('env_id', '?')} over {data.get('episodes', '?')} episodes: "
                f"mean return {data['mean_return']:.3f}, success {success}")
    if data and all(isinstance(record, dict) and isinstance(record.get("accuracy"), dict)
                    for record in data.values()):
        # an aec-hierarchy run's per-skill record: accuracy at every level of each skill
        return "exact match by level (%): " + "; ".join(
            f"{skill} " + " ".join(f"{100 * value:.0f}" for value in record["accuracy"].values())
            for skill, record in data.items())
    return "not an evaluation report"


def draw_plots(run: RunDir) -> list[Path]:
    """Redraw the learning curves, the recipe's own pictures of its results, and accuracy by
    digits for each expressions evaluation.

    Returns every PNG in the run's ``plots/`` folder afterwards.
    """
    from skillgym.training.expressions import plot_by_digits
    from skillgym.training.plots import write_learning_curves
    from skillgym.training.recipes import get_recipe

    write_learning_curves(run)
    get_recipe(run.recipe()).draw(run, run.config())
    for path in sorted((run.path / "eval").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # eval_summary reports it in the table
        if isinstance(data, dict) and data.get("by_digits"):
            plot_by_digits(data, run.plots_dir / f"{path.stem}-by_digits.png", title=path.stem)
    return sorted(run.plots_dir.glob("*.png")) if run.plots_dir.is_dir() else []


def run(args: argparse.Namespace) -> int:
    """Print the report."""
    from rich.console import Console
    from rich.table import Table

    from skillgym.training.config import flat_keys, get

    try:
        run_dir = RunDir.open(args.run_dir)
        recipe, config, rows = run_dir.recipe(), run_dir.config(), run_dir.metrics()
    except RunError as error:
        raise CLIError(str(error)) from None
    console = Console()
    last_step = rows[-1].get("step", 0) if rows else None
    console.print(f"[bold]{run_dir.path}[/]: recipe [bold]{recipe}[/], "
                  + ("nothing logged yet" if last_step is None else
                     f"last logged step {last_step:,} ({len(rows)} rows in metrics.jsonl)"))

    table = Table(title="configuration (config.toml)")
    table.add_column("key")
    table.add_column("value", justify="right")
    for key in flat_keys(config):
        table.add_row(key, _number(get(config, key)))
    console.print(table)

    if rows:
        table = Table(title="last logged metrics")
        for column in ("metric", "value", "step"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        for key, (step, value) in last_metrics(rows).items():
            table.add_row(key, _number(value), f"{step:,}")
        console.print(table)

    checkpoints = run_dir.checkpoints()
    if checkpoints:
        steps = ", ".join(f"{checkpoint.step:,}" for checkpoint in checkpoints)
        console.print(f"checkpoints ({len(checkpoints)}): {steps}; latest: {checkpoints[-1].path}")
    else:
        console.print("checkpoints: none yet")

    evals = sorted((run_dir.path / "eval").glob("*.json"))
    if evals:
        table = Table(title="evaluations (eval/)")
        table.add_column("file")
        table.add_column("result")
        for path in evals:
            table.add_row(path.name, eval_summary(path))
        console.print(table)
    else:
        console.print("evaluations: none yet (skillgym eval writes them into eval/)")

    plots = draw_plots(run_dir)
    console.print("plots: " + (", ".join(str(path) for path in plots) if plots else
                               "none (nothing logged yet)"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym report``."""
    parser = subparsers.add_parser(
        "report",
        help="summary of a run folder: recipe, configuration, last metrics, checkpoints, "
        "evaluations; redraws its plots",
        description="Summarise a run folder: its recipe and configuration, each metric's last "
        "logged value (metrics.jsonl), its checkpoints, the evaluations skillgym eval wrote "
        "into eval/, and its plots, which are redrawn first (learning curves; accuracy by "
        "digits for each evaluation on a file of expressions).",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run folder")
    parser.set_defaults(func=run)
