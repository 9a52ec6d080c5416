"""Where a run's logged numbers go: ``metrics.jsonl`` and TensorBoard, through SB3's logger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.logger import KVWriter, Logger, TensorBoardOutputFormat
from torch.utils.tensorboard import SummaryWriter

from skillgym.training.run import RunDir


def _plain(value: Any) -> Any:
    """``value`` as a JSON-ready Python scalar or list (numpy and torch values included)."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return np.asarray(value).tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class JSONLinesWriter(KVWriter):
    """Appends one JSON object per logger dump, ``{"step": ..., key: value, ...}``.

    Each line is flushed at once, so a killed run keeps every row it logged.

    Args:
        path: the ``.jsonl`` file, appended to.
    """

    def __init__(self, path: str | Path):
        self.file = Path(path).open("a")

    def write(
        self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0
    ) -> None:
        """Write one row: the values not excluded from the ``json`` format, and ``step``."""
        row = {"step": int(step)}
        for key, value in sorted(key_values.items()):
            if "json" not in key_excluded.get(key, ()):
                row[key] = _plain(value)
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()

    def close(self) -> None:
        """Close the file."""
        self.file.close()


class ResumedTensorBoardFormat(TensorBoardOutputFormat):
    """SB3's TensorBoard output, told where a resumed run picks up.

    Events a killed run logged after its last checkpoint are logged again on resume; the writer's
    ``purge_step`` makes TensorBoard drop the stale copies instead of drawing both.

    Args:
        folder: the event file folder.
        purge_step: the step the run resumes from (``None`` for a new run).
    """

    def __init__(self, folder: str | Path, purge_step: int | None):
        # The parent only opens a writer; open ours, with purge_step, in its place.
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=purge_step)
        self._is_closed = False


class StagedLogger(Logger):
    """SB3's logger for a run trained in stages, each a model counting steps from zero.

    Rows are logged at ``offset + step``, so that the run's metrics share one step axis; set
    :attr:`offset` to the steps taken before the current stage.
    """

    offset = 0

    def dump(self, step: int = 0) -> None:
        """Write the recorded values at the run's step."""
        super().dump(self.offset + step)


def run_logger(run: RunDir, resume_step: int | None = None) -> StagedLogger:
    """An SB3 logger that writes ``run``'s ``metrics.jsonl`` and TensorBoard events.

    Args:
        run: the run folder.
        resume_step: the checkpoint step a resumed run continues from; the metrics rows logged
            after it are removed, since the resumed run logs them again.
    """
    if resume_step is not None:
        run.rewind_metrics(resume_step)
    return StagedLogger(
        folder=str(run.path),
        output_formats=[
            JSONLinesWriter(run.metrics_path),
            ResumedTensorBoardFormat(run.tensorboard_dir, resume_step or None),
        ],
    )
