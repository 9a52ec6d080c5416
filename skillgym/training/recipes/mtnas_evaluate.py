"""The ``mtnas-evaluate`` recipe: one assignment trained from scratch over seeds, then tested.

Each seed trains a fresh multitask network through ``assignment`` for ``epochs`` epochs
(:class:`~skillgym.envs.mtnas.reference.ReferenceEvaluator`), keeps the epoch with the best mean
validation accuracy and reads test accuracy there; the result is the mean ± standard deviation
over seeds per task. This is the number to report for an assignment a search found.

The run folder holds ``metrics.jsonl`` (a row per seed, counted from 1: its validation and test
accuracies), a checkpoint after every seed (``runs.json``: every finished seed's accuracies;
each seed is trained from its own seed alone, so a resumed run ends exactly as an uninterrupted
one) and ``result.json`` (per-task test and validation accuracy, mean and standard deviation).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.training.config import Config, ConfigError, get
from skillgym.training.recipes import THREADS_DEFAULTS, Recipe, apply_threads
from skillgym.training.recipes.mtnas_options import (
    DATA_DEFAULTS,
    DATA_OPTIONS,
    NETWORK_DEFAULTS,
    RAY_DEFAULTS,
    RAY_OPTION,
    SPACE_DEFAULTS,
    SPACE_OPTIONS,
    Option,
    check_data,
    check_network,
    check_ray,
    describe,
    executor_of,
    load_corpus,
    not_an_agent,
    search_space,
    train_settings,
)
from skillgym.training.run import Checkpoint, RunDir

RUNS_FILE = "runs.json"
RESULT_FILE = "result.json"

DEFAULTS: dict[str, Any] = {
    # The assignment: each task's options, layer by layer, rows joined by "/", e.g. "0,0/6,1".
    "assignment": "",
    # One network trained from scratch per seed (three or more for a reported number).
    "seeds": [0, 1, 2],
    # Training epochs per seed (an epoch: the largest task's training split once).
    "epochs": 5,
    "data": dict(DATA_DEFAULTS),
    "space": dict(SPACE_DEFAULTS),
    "network": dict(NETWORK_DEFAULTS),
    "threads": THREADS_DEFAULTS,
    "ray": dict(RAY_DEFAULTS),
}

#: ``skillgym mtnas evaluate``'s options.
OPTIONS: tuple[Option, ...] = (
    Option("assignment", "assignment", "rows of options per task joined by '/', e.g. 0,0/6,1"),
    *DATA_OPTIONS,
    *SPACE_OPTIONS,
    Option("--epochs", "epochs", "training epochs per seed"),
    Option("--seeds", "seeds", "one network trained from scratch per seed"),
    RAY_OPTION,
)


def check(config: Config) -> None:
    """Reject a configuration that cannot be evaluated, reading its data files to do so."""
    if get(config, "epochs") < 1:
        raise ConfigError(f"epochs must be a positive integer, got {get(config, 'epochs')}")
    seeds = get(config, "seeds")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must list distinct seeds, at least one, got {seeds}")
    check_data(config)
    check_network(config)
    check_ray(config)
    if not get(config, "assignment"):
        raise ConfigError("assignment is required: each task's options joined by '/', "
                          "e.g. assignment=\"0,0/6,1\"")
    try:
        search_space(config).parse(get(config, "assignment"))
    except ValueError as error:
        raise ConfigError(str(error)) from None


def train(run: RunDir, config: Config, resume: Checkpoint | None) -> None:
    """Train the assignment for every seed not done yet, then write and print the result."""
    # Imported here: logging and progress bring stable-baselines3 and TensorBoard, which the
    # command line's parser, importing this module, does not need.
    from rich.console import Console

    from skillgym.progress import progress_bar
    from skillgym.training.logs import run_logger

    apply_threads(config)
    space = search_space(config)
    assignment = space.parse(get(config, "assignment"))
    seeds, epochs = get(config, "seeds"), get(config, "epochs")
    runs = [] if resume is None else json.loads((resume.path / RUNS_FILE).read_text())
    logger = run_logger(run, resume.step if resume else None)
    progress = progress_bar(Console(stderr=True))
    executor = executor_of(config)
    try:
        progress.start()
        task = progress.add_task("stand-alone training", total=len(seeds) * epochs,
                                 completed=len(runs) * epochs, status="")
        reference = ReferenceEvaluator(
            load_corpus(get(config, "data")), space, epochs, seeds, train_settings(config),
            progress=lambda index, epoch: progress.update(task, completed=index * epochs
                                                          + epoch + 1, status=f"seed "
                                                          f"{seeds[index]}"),
            executor=executor,
        )
        # Seeds may finish out of order on Ray; each is logged and checkpointed once all
        # before it are, so that a checkpoint always holds the first seeds.
        remaining = list(range(len(runs), len(seeds)))
        finished: dict[int, list] = {}
        for number, found in reference.seed_runs([(assignment, i) for i in remaining]):
            finished[remaining[number]] = list(found)
            progress.update(task, completed=(len(runs) + len(finished)) * epochs)
            while len(runs) in finished:
                index = len(runs)
                validation, test = finished.pop(index)
                runs.append([validation, test])
                logger.record("eval/seed", seeds[index])
                logger.record("eval/validation_mean", float(np.mean(validation)))
                logger.record("eval/test_mean", float(np.mean(test)))
                for name, value in zip(space.tasks, test, strict=True):
                    logger.record(f"eval/test_{name}", value)
                logger.dump(index + 1)
                with run.new_checkpoint(index + 1) as folder:
                    (folder / RUNS_FILE).write_text(json.dumps(runs) + "\n")
    finally:
        progress.stop()
        logger.close()
        executor.close()
    evaluation = reference.combine(assignment, runs)
    result = {"assignment": space.format(assignment), "modules": describe(space, assignment),
              "seeds": seeds, **evaluation.to_json()}
    (run.path / RESULT_FILE).write_text(json.dumps(result, indent=1) + "\n")
    for name in space.tasks:
        print(f"{name:>24}: test {100 * evaluation.test[name]:6.2f} ± "
              f"{100 * evaluation.test_std[name]:.2f}   validation "
              f"{100 * evaluation.validation[name]:6.2f}")
    print(f"{'mean':>24}: test {100 * evaluation.test_mean:6.2f}  over seeds {seeds}")


RECIPE = Recipe(
    name="mtnas-evaluate",
    defaults=DEFAULTS,
    check=check,
    train=train,
    load_agent=not_an_agent("mtnas-evaluate"),
    env_of=not_an_agent("mtnas-evaluate"),
)
