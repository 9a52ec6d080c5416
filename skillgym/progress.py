"""Rich progress bars for training and evaluation."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from stable_baselines3.common.callbacks import BaseCallback


def progress_bar(console: Console | None = None) -> Progress:
    """A progress display with a bar, ``done/total``, elapsed and remaining time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
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
