"""PNG pictures of runs (matplotlib, Agg backend): learning curves drawn from a run's
``metrics.jsonl``, accuracy by size, a multitask assignment."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from skillgym.training.run import RunDir  # noqa: E402

if TYPE_CHECKING:  # the space's module imports torch, which drawing does not need
    from skillgym.envs.mtnas.modules import SearchSpace

# Only these groups are learning curves; time/ holds wall-clock figures, which are not.
CURVE_PREFIXES: tuple[str, ...] = ("rollout/", "train/", "eval/")
# Counters that only grow with the step count.
COUNTERS: tuple[str, ...] = ("train/n_updates",)


def curves(rows: Sequence[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """Each numeric metric under :data:`CURVE_PREFIXES` as ``(steps, values)``, in key order.

    Counters, and metrics logged more than once that never change (a constant learning rate,
    say), are left out: a flat line is not a learning curve; the values stay in ``metrics.jsonl``.
    """
    found: dict[str, tuple[list[int], list[float]]] = {}
    for row in rows:
        for key, value in row.items():
            if not key.startswith(CURVE_PREFIXES) or key in COUNTERS:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            steps, values = found.setdefault(key, ([], []))
            steps.append(row["step"])
            values.append(float(value))
    return {
        key: (steps, values)
        for key, (steps, values) in sorted(found.items())
        if len(values) == 1 or len(set(values)) > 1
    }


def write_learning_curves(run: RunDir, name: str = "learning_curves.png") -> Path | None:
    """Draw every curve of ``run`` in one grid of panels; ``None`` if nothing was logged yet."""
    series = curves(run.metrics())
    if not series:
        return None
    columns = min(3, len(series))
    rows = math.ceil(len(series) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False)
    for axis, (key, (steps, values)) in zip(axes.flat, series.items(), strict=False):
        axis.plot(steps, values, marker="." if len(steps) < 30 else None)
        axis.set_title(key, fontsize=9)
        axis.set_xlabel("environment steps", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(series):]:
        axis.set_visible(False)
    figure.suptitle(run.path.name, fontsize=10)
    figure.tight_layout()
    run.plots_dir.mkdir(parents=True, exist_ok=True)
    path = run.plots_dir / name
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def write_accuracy_plot(
    path: Path,
    series: Mapping[str, Mapping[int, float]],
    xlabel: str,
    title: str,
    counts: Mapping[str, Mapping[int, int]] | None = None,
    log_x: bool = False,
) -> Path:
    """Accuracy (0..1) against a size (level, digits, terms), one line per named series.

    ``counts``, if given, annotates each point with its number of problems.
    """
    figure, axis = plt.subplots(figsize=(5.6, 3.4))
    for name, points in series.items():
        sizes = sorted(points)
        values = [100 * points[size] for size in sizes]
        axis.plot(sizes, values, marker="o", label=name)
        for size, value in zip(sizes, values, strict=True):
            if counts and size in counts.get(name, {}):
                axis.annotate(f"n={counts[name][size]}", (size, value), textcoords="offset points",
                              xytext=(0, 6), ha="center", fontsize=7)
    if log_x:
        axis.set_xscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("exact match (%)")
    axis.set_ylim(-5, 110)
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    if len(series) > 1:
        axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def write_mode_plot(summary: dict[str, dict[str, dict[str, float]]], path: Path) -> Path:
    """Accuracy, think-rate and mean tokens against level, one line per mode (or policy), from
    a :func:`~skillgym.envs.keye.evaluation.summarize` summary, as a PNG."""
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for mode, levels in summary.items():
        numbers = sorted(int(level) for level in levels if level != "all")
        for axis, key in zip(axes, ("accuracy", "think_rate", "tokens"), strict=True):
            axis.plot(numbers, [levels[str(n)][key] for n in numbers], marker="o", label=mode)
    for axis, key in zip(axes, ("accuracy", "think-rate", "mean tokens"), strict=True):
        axis.set_xlabel("level")
        axis.set_title(key)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def signed_points(value: float) -> str:
    """``value`` (points) with its sign and two decimals, never ``-0.00``."""
    return f"{round(value, 2) + 0.0:+.2f}"


def write_assignment_plot(
    path: Path,
    space: SearchSpace,
    assignment: np.ndarray,
    gains: Mapping[str, float] | None = None,
    title: str = "",
) -> Path:
    """A multitask assignment as a grid, tasks × layers: each cell names its module, and the
    cells of one shared instance (same layer, same pool option) have one colour, so that what
    the tasks share shows at a glance; private modules are grey. ``gains``, if given, are
    written beside each task's row (e.g. validation points against training the task alone).
    """
    assignment = space.validate(assignment)
    tasks, layers = space.shape
    palette = plt.get_cmap("tab10").colors
    figure, axis = plt.subplots(figsize=(1.9 * layers + 2.6, 0.55 * tasks + 1.3))
    for row in range(tasks):
        for layer in range(layers):
            option = int(assignment[row, layer])
            private = option == space.private
            users = int((assignment[:, layer] == option).sum())
            face = (0.88, 0.88, 0.88) if private else palette[option % len(palette)]
            axis.add_patch(plt.Rectangle((layer, tasks - 1 - row), 0.96, 0.92, facecolor=face,
                                         alpha=0.35 if private or users == 1 else 0.85,
                                         edgecolor="black", linewidth=0.5))
            label = space.option_name(option) if not private else "private"
            if not private and users > 1:
                label += f" ({users} tasks)"
            axis.text(layer + 0.48, tasks - 0.54 - row, label, ha="center", va="center",
                      fontsize=8)
        if gains is not None and space.tasks[row] in gains:
            axis.text(layers + 0.05, tasks - 0.54 - row, signed_points(gains[space.tasks[row]]),
                      va="center", fontsize=8)
    axis.set_xlim(0, layers + (0.6 if gains is not None else 0))
    axis.set_ylim(0, tasks)
    axis.set_xticks([layer + 0.48 for layer in range(layers)],
                    [f"layer {layer}" for layer in range(layers)], fontsize=8)
    axis.set_yticks([tasks - 0.54 - row for row in range(tasks)], list(space.tasks), fontsize=8)
    axis.tick_params(length=0)
    for side in axis.spines.values():
        side.set_visible(False)
    axis.set_title(title or space.format(assignment), fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
