"""Training runs for the benchmarks that compare trained models: each run trained when it is
missing, resumed when it stopped short, several at once, each logging beside its folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from skillgym.training.run import RunDir


def run_all(commands: dict[Path, list[str]], jobs: int) -> None:
    """Run ``skillgym`` with each command, ``jobs`` at a time, each logging to ``NAME.log``
    beside its run folder; stop at the first that fails."""
    waiting, running = list(commands.items()), []
    while waiting or running:
        while waiting and len(running) < jobs:
            run, command = waiting.pop(0)
            print(f"{run.name}: skillgym {' '.join(command)}", flush=True)
            run.parent.mkdir(parents=True, exist_ok=True)
            with open(run.parent / f"{run.name}.log", "a") as log:
                running.append((run, subprocess.Popen([sys.executable, "-m", "skillgym",
                                                       *command], stdout=log, stderr=log)))
        run, process = running.pop(0)
        if process.wait() != 0:
            for _, other in running:
                other.kill()
            raise SystemExit(f"training {run} failed; see {run.parent / (run.name + '.log')}")


def train_command(run: Path, recipe: str, overrides: list[str]) -> list[str]:
    """The ``skillgym`` command that trains ``run``, or resumes it when it exists (a finished
    run is then left as it is)."""
    if (run / "config.toml").is_file():
        return ["train", "--resume", str(run)]
    return ["train", recipe, *overrides, "--run-dir", str(run)]


def latest_model(run: Path) -> Path:
    """The model file of ``run``'s latest checkpoint."""
    return RunDir.open(run).latest_checkpoint().path / "model.pt"
