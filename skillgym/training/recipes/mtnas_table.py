"""The ``mtnas-table`` recipe: every assignment of a small space scored, for ``MTNAS-Tabular-v0``.

:func:`~skillgym.envs.mtnas.table.build_table` scores all assignments (at most 5,000) with one
evaluator per seed, a frozen weight-sharing supernet (``backend = "supernet"``) or stand-alone
training (``"reference"``), and the table is written to ``output`` (default: ``table.json`` in
the run folder). Every score goes to the run's ``reward_cache.jsonl`` as it is made;
``metrics.jsonl`` has a row per score (its mean validation accuracy); a checkpoint every
``train.checkpoint_every`` scores records how many are done and the cache's length. A resumed
run reads the scores made before its checkpoint from the cache and computes the rest, which
depend on the assignment and seed alone, so the table is the one an uninterrupted run writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skillgym.envs.mtnas.evaluator import Evaluation, Evaluator
from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator
from skillgym.envs.mtnas.table import all_assignments, build_table, save_table
from skillgym.training.config import Config, ConfigError, get
from skillgym.training.recipes import THREADS_DEFAULTS, Recipe, apply_threads
from skillgym.training.recipes.mtnas_options import (
    DATA_DEFAULTS,
    DATA_OPTIONS,
    NETWORK_DEFAULTS,
    SPACE_OPTIONS,
    Option,
    check_data,
    check_network,
    keep_lines,
    load_corpus,
    not_an_agent,
    search_space,
    train_settings,
)
from skillgym.training.run import Checkpoint, RunDir

BACKENDS = ("supernet", "reference")
CACHE_FILE = "reward_cache.jsonl"
PROGRESS_FILE = "progress.json"
TABLE_FILE = "table.json"

DEFAULTS: dict[str, Any] = {
    # The table file to write; empty: table.json in the run folder.
    "output": "",
    "backend": "supernet",
    # One evaluator per seed; the table keeps every seed's scores.
    "seeds": [0, 1],
    # Two synthetic tasks, two layers, {cnn3, identity} and a private cnn3: 3^4 = 81 assignments.
    "data": {**DATA_DEFAULTS, "tasks": ["syn_pos", "syn_topic"]},
    "space": {"layers": 2, "pool": ["cnn3", "identity"], "private_kind": "cnn3"},
    "supernet": {"warmup_steps": 150, "validation_limit": 64},
    "reference": {"epochs": 2},
    "network": dict(NETWORK_DEFAULTS),
    "train": {"checkpoint_every": 20},
    "threads": THREADS_DEFAULTS,
}

#: ``skillgym mtnas build-table``'s options.
OPTIONS: tuple[Option, ...] = (
    *DATA_OPTIONS,
    *SPACE_OPTIONS,
    Option("--output", "output", "the table file (JSON)", metavar="FILE"),
    Option("--backend", "backend", "what scores an assignment", choices=BACKENDS),
    Option("--seeds", "seeds", "one evaluator per seed"),
    Option("--epochs", "reference.epochs", "training epochs of the reference backend"),
    Option("--warmup", "supernet.warmup_steps", "warm-up steps of the supernet backend"),
    Option("--checkpoint-every", "train.checkpoint_every", "scores between checkpoints"),
)


def check(config: Config) -> None:
    """Reject a configuration whose table cannot be built, reading its data files to do so."""
    if get(config, "backend") not in BACKENDS:
        raise ConfigError(f"backend must be one of {list(BACKENDS)}, got "
                          f"{get(config, 'backend')!r}")
    for key in ("reference.epochs", "supernet.validation_limit", "train.checkpoint_every"):
        if get(config, key) < 1:
            raise ConfigError(f"{key} must be a positive integer, got {get(config, key)}")
    if get(config, "supernet.warmup_steps") < 0:
        raise ConfigError(f"supernet.warmup_steps must be >= 0, got "
                          f"{get(config, 'supernet.warmup_steps')}")
    seeds = get(config, "seeds")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must list distinct seeds, at least one, got {seeds}")
    check_data(config)
    check_network(config)
    try:
        all_assignments(search_space(config))
    except ValueError as error:
        raise ConfigError(str(error)) from None


def output_path(run: RunDir, config: Config) -> Path:
    """Where the table is written."""
    return Path(get(config, "output") or run.path / TABLE_FILE)


class _Reported(Evaluator):
    """Scores with ``inner`` and reports every score (to log, show and checkpoint it)."""

    def __init__(self, inner: Evaluator, report: Callable[[Evaluator, Evaluation], None]):
        self.inner = inner
        self.space = inner.space
        self.report = report

    def evaluate(self, assignments: Sequence[np.ndarray],
                 rng: np.random.Generator | None = None) -> list[Evaluation]:
        """The inner evaluator's scores, each reported."""
        found = self.inner.evaluate(assignments, rng)
        for evaluation in found:
            self.report(self.inner, evaluation)
        return found


def train(run: RunDir, config: Config, resume: Checkpoint | None) -> None:
    """Score every assignment for every seed (the ones before the checkpoint from the cache)."""
    # Imported here: logging and progress bring stable-baselines3 and TensorBoard, which the
    # command line's parser, importing this module, does not need.
    from rich.console import Console

    from skillgym.progress import progress_bar
    from skillgym.training.logs import run_logger

    apply_threads(config)
    corpus, space = load_corpus(get(config, "data")), search_space(config)
    cache = run.path / CACHE_FILE
    state = (None if resume is None
             else json.loads((resume.path / PROGRESS_FILE).read_text()))
    keep_lines(cache, 0 if state is None else state["cache_records"])
    seeds, backend = get(config, "seeds"), get(config, "backend")
    every = get(config, "train.checkpoint_every")
    total = len(all_assignments(space)) * len(seeds)
    settings = train_settings(config)
    done = 0 if state is None else state["scored"]
    scored = 0
    logger = run_logger(run, resume.step if resume else None)
    progress = progress_bar(Console(stderr=True))

    def report(evaluator: Evaluator, evaluation: Evaluation) -> None:
        nonlocal scored
        scored += 1
        if scored <= done:  # logged and checkpointed before the resume
            return
        logger.record("eval/reward", evaluation.mean)
        logger.dump(scored)
        if scored // every > (scored - 1) // every or scored == total:
            with run.new_checkpoint(scored) as folder:
                (folder / PROGRESS_FILE).write_text(json.dumps(
                    {"scored": scored, "cache_records": len(evaluator.cache)}) + "\n")
        progress.update(task, completed=scored)

    def evaluator_for_seed(seed: int) -> Evaluator:
        if backend == "reference":
            inner = ReferenceEvaluator(corpus, space, get(config, "reference.epochs"), (seed,),
                                       settings, cache_path=cache)
        else:
            inner = SupernetEvaluator(
                corpus, space, SupernetConfig(
                    settings, warmup_steps=get(config, "supernet.warmup_steps"),
                    steps_per_prepare=0,
                    validation_limit=get(config, "supernet.validation_limit")),
                seed=seed, cache_path=cache)
        progress.update(task, status=f"seed {seed}")
        return _Reported(inner, report)

    try:
        progress.start()
        task = progress.add_task(f"{backend} table", total=total, completed=done, status="")
        table = build_table(space, evaluator_for_seed, seeds, backend)
    finally:
        progress.stop()
        logger.close()
    output = output_path(run, config)
    save_table(table, output)
    print(f"wrote {len(table['entries'])} assignments × {len(seeds)} seeds to {output}")


RECIPE = Recipe(
    name="mtnas-table",
    defaults=DEFAULTS,
    check=check,
    train=train,
    load_agent=not_an_agent("mtnas-table"),
    env_of=not_an_agent("mtnas-table"),
)
