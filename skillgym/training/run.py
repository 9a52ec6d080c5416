"""The run folder: everything one training run writes, and nothing else.

::

    RUN_DIR/
      config.toml       the recipe's name and the resolved configuration (re-usable with
                        ``skillgym train --config``)
      metrics.jsonl     one JSON object per logged iteration, with its ``step``
      checkpoints/      step_000000004096/ ... complete checkpoints only
      tensorboard/      TensorBoard event files
      plots/            PNG learning curves

A checkpoint is written into a hidden temporary folder and renamed into place when complete,
so a run killed at any moment leaves only whole checkpoints behind.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillgym.training.config import Config, ConfigError, dumps_toml, load_toml

# The top-level key of config.toml that names the recipe; it is not part of the configuration.
RECIPE_KEY = "recipe"

_CHECKPOINT = re.compile(r"^step_(\d{12})$")


class RunError(ValueError):
    """A run folder that is missing, incomplete, or already in use (one line)."""


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint folder and the number of environment steps it holds."""

    step: int
    path: Path


class RunDir:
    """A run folder (see the module docstring for its layout).

    Args:
        path: the folder; use :meth:`create` for a new run and :meth:`open` for an existing one.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | Path, recipe: str, config: Mapping[str, Any]) -> RunDir:
        """A new run folder for ``recipe`` and ``config``; a non-empty existing one is an error."""
        run = cls(path)
        if run.path.exists() and (not run.path.is_dir() or any(run.path.iterdir())):
            raise RunError(
                f"run folder '{run.path}' already exists; continue it with --resume {run.path} "
                "or choose another --run-dir"
            )
        run.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        run.config_path.write_text(dumps_toml({RECIPE_KEY: recipe, **config}))
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run folder; a missing folder or one without ``config.toml`` is an error."""
        run = cls(path)
        if not run.path.is_dir():
            raise RunError(f"run folder '{run.path}' does not exist")
        if not run.config_path.is_file():
            raise RunError(f"'{run.path}' is not a run folder: it has no {run.config_path.name}")
        return run

    @property
    def config_path(self) -> Path:
        """``config.toml``."""
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        """``metrics.jsonl``."""
        return self.path / "metrics.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        """``checkpoints/``."""
        return self.path / "checkpoints"

    @property
    def tensorboard_dir(self) -> Path:
        """``tensorboard/``."""
        return self.path / "tensorboard"

    @property
    def plots_dir(self) -> Path:
        """``plots/``."""
        return self.path / "plots"

    def _stored(self) -> Config:
        try:
            stored = load_toml(self.config_path)
        except ConfigError as error:
            raise RunError(str(error)) from None
        if not isinstance(stored.get(RECIPE_KEY), str):
            raise RunError(f"{self.config_path} names no recipe (a top-level {RECIPE_KEY} = ...)")
        return stored

    def recipe(self) -> str:
        """The name of the recipe the run trains with."""
        return self._stored()[RECIPE_KEY]

    def config(self) -> Config:
        """The resolved configuration the run was started with (without the recipe's name)."""
        stored = self._stored()
        del stored[RECIPE_KEY]
        return stored

    def checkpoints(self) -> list[Checkpoint]:
        """Every complete checkpoint, oldest first."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = []
        for child in self.checkpoints_dir.iterdir():
            match = _CHECKPOINT.match(child.name)
            if match and child.is_dir():
                found.append(Checkpoint(int(match.group(1)), child))
        return sorted(found, key=lambda checkpoint: checkpoint.step)

    def latest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint with the most steps, or ``None`` before the first one."""
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None

    @contextmanager
    def new_checkpoint(self, step: int) -> Iterator[Path]:
        """A folder to fill with checkpoint ``step``; it appears under its name only when complete.

        An exception while filling it leaves no checkpoint behind.
        """
        final = self.checkpoints_dir / f"step_{step:012d}"
        partial = self.checkpoints_dir / f".{final.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            yield partial
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)

    def remove_partial_checkpoints(self) -> None:
        """Delete checkpoint folders a killed process left half-written."""
        if self.checkpoints_dir.is_dir():
            for child in self.checkpoints_dir.glob(".step_*.partial"):
                shutil.rmtree(child, ignore_errors=True)

    def metrics(self) -> list[dict[str, Any]]:
        """Every row of ``metrics.jsonl``; a last line cut short by a kill is not a row."""
        if not self.metrics_path.is_file():
            return []
        rows = []
        for number, line in enumerate(self.metrics_path.read_text().splitlines(True), start=1):
            if not line.endswith("\n"):
                break
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise RunError(
                    f"{self.metrics_path}:{number}: not a JSON object ({error})"
                ) from None
        return rows

    def rewind_metrics(self, step: int) -> None:
        """Keep only the metrics rows up to ``step``: a resumed run logs the later ones again."""
        kept = [row for row in self.metrics() if row.get("step", 0) <= step]
        self.metrics_path.write_text("".join(json.dumps(row) + "\n" for row in kept))
