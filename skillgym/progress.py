"""Rich progress bars for training and evaluation, and progress lines for logs.

On a terminal a bar is redrawn in place; written to a file or a pipe it would show only at the
end, so there :func:`progress_bar` gives a :class:`LineProgress` instead, which prints a plain
line when a task starts, at most every :data:`LINE_INTERVAL` seconds while it advances, and when
it stops.
"""

from __future__ import annotations

import datetime
from typing import Any

from rich import get_console
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from stable_baselines3.common.callbacks import BaseCallback

#: Seconds between two progress lines of one task in a log.
LINE_INTERVAL = 30.0
#: Seconds of advances the remaining time is estimated from. Rich's default, 30 s, holds no two
#: advances of work whose pieces take longer (a stand-alone training, a table cell), and the
#: estimate is then unknown.
SPEED_WINDOW = 600.0


def _clock(seconds: float | None) -> str:
    return "?" if seconds is None else str(datetime.timedelta(seconds=int(seconds)))


class LineProgress(Progress):
    """Progress as plain lines, for a console that is not a terminal (a log file, a pipe).

    The same interface as rich's :class:`~rich.progress.Progress` (``add_task``, ``update``,
    ``advance``, ``start``, ``stop``); nothing is redrawn. Each line reads
    ``description: done/total (percent), elapsed, left, status``.

    Args:
        console: where the lines go.
        interval: seconds between two lines of one task while it advances.
    """

    def __init__(self, console: Console | None = None, interval: float = LINE_INTERVAL):
        super().__init__(console=console, disable=True, speed_estimate_period=SPEED_WINDOW)
        self.interval = interval
        # Per task: when its last line was printed and the count it showed.
        self._shown: dict[TaskID, tuple[float, float]] = {}

    def _line(self, task_id: TaskID) -> None:
        task = self._tasks[task_id]
        total = f"/{task.total:,.0f} ({task.percentage:.0f}%)" if task.total else ""
        status = task.fields.get("status", "")
        self.console.print(
            f"{task.description}: {task.completed:,.0f}{total}, {_clock(task.elapsed)} elapsed, "
            f"{_clock(task.time_remaining)} left" + (f", {status}" if status else ""),
            markup=False, highlight=False, soft_wrap=True,
        )
        self._shown[task_id] = (self.get_time(), task.completed)

    def _maybe_line(self, task_id: TaskID) -> None:
        when, completed = self._shown.get(task_id, (float("-inf"), None))
        task = self._tasks[task_id]
        if task.completed != completed and self.get_time() - when >= self.interval:
            self._line(task_id)

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> TaskID:
        """Add a task and print its first line."""
        task_id = super().add_task(description, *args, **kwargs)
        self._line(task_id)
        return task_id

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        """Update a task; print a line if the last is ``interval`` seconds old."""
        super().update(task_id, **kwargs)
        self._maybe_line(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        """Advance a task; print a line if the last is ``interval`` seconds old."""
        super().advance(task_id, advance)
        self._maybe_line(task_id)

    def stop(self) -> None:
        """Print the last line of every task that advanced since its previous line."""
        for task_id in self._tasks:
            if self._shown.get(task_id, (0.0, None))[1] != self._tasks[task_id].completed:
                self._line(task_id)
        super().stop()


def progress_bar(console: Console | None = None, interval: float = LINE_INTERVAL) -> Progress:
    """A progress display with a bar, ``done/total``, elapsed and remaining time.

    On a console that is not an interactive terminal it is a :class:`LineProgress` printing a
    line every ``interval`` seconds instead.
    """
    shown = console or get_console()
    if not (shown.is_interactive or shown.is_jupyter):
        return LineProgress(console, interval)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        speed_estimate_period=SPEED_WINDOW,
        # Redraws cost CPU the training itself needs; twice a second is enough to watch.
        refresh_per_second=2,
    )


class TrainingProgress(BaseCallback):
    """Advances a rich progress bar once per rollout, showing the mean episode return.

    Args:
        total_timesteps: the run's total number of environment steps (the bar's end).
        console: where to draw; the default console if ``None``.
        description: the bar's label.
    """

    def __init__(self, total_timesteps: int, console: Console | None = None,
                 description: str = "train"):
        super().__init__()
        self.total_timesteps = total_timesteps
        self.description = description
        self.progress = progress_bar(console)
        self.task = None

    def _on_training_start(self) -> None:
        self.progress.start()
        self.task = self.progress.add_task(
            self.description, total=self.total_timesteps, completed=self.num_timesteps, status=""
        )

    def _on_rollout_end(self) -> None:
        buffer = self.model.ep_info_buffer
        status = ""
        if buffer:
            mean_return = sum(info["r"] for info in buffer) / len(buffer)
            status = f"return {mean_return:.2f}"
        self.progress.update(self.task, completed=self.num_timesteps, status=status)

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self.progress.update(self.task, completed=self.num_timesteps)
        self.progress.stop()
