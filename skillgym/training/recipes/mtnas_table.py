"""The ``mtnas-table`` recipe: every assignment of a small space scored, for ``MTNAS-Tabular-v0``.

:func:`~skillgym.envs.mtnas.table.build_table` scores all assignments (at most 5,000) with one
evaluator per seed, a frozen weight-sharing supernet (``backend = "supernet"``) or stand-alone
training (``"reference"``), and the table is written to ``output`` (default: ``table.json`` in
the run folder). Every score goes to the run's ``reward_cache.jsonl`` as it is made;
``metrics.jsonl`` has a row per score (its mean validation accuracy); a checkpoint every
``train.checkpoint_every`` scores records how many are done and the cache's length. A resumed
run reads the scores made before its checkpoint from the cache and computes the rest, which
depend on the assignment and seed alone, so the table is the one an uninterrupted run writes.

With ``ray.address`` set (``--ray [ADDRESS]``) the cells are Ray tasks (the ``ray`` extra,
:mod:`skillgym.integrations.ray_executor`): one per cell for the reference backend, one per seed
for the supernet backend (whose warm-up a seed's cells share), each asking for
``threads.torch`` CPUs and ``ray.memory_mb``. Only this process writes the cache, as results
arrive, so no cell is computed twice, and the table is the one a local run writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillgym.envs.mtnas.cache import RewardCache, fingerprint
from skillgym.envs.mtnas.corpus import Corpus
from skillgym.envs.mtnas.evaluator import Evaluation, Evaluator
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator
from skillgym.envs.mtnas.table import all_assignments, build_table, save_table
from skillgym.envs.mtnas.trainer import TrainConfig
from skillgym.executors import LocalExecutor
from skillgym.training.config import Config, ConfigError, get
from skillgym.training.recipes import THREADS_DEFAULTS, Recipe, apply_threads
from skillgym.training.recipes.mtnas_options import (
    DATA_DEFAULTS,
    DATA_OPTIONS,
    NETWORK_DEFAULTS,
    RAY_DEFAULTS,
    RAY_OPTION,
    SPACE_OPTIONS,
    Option,
    check_data,
    check_network,
    check_ray,
    executor_of,
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
    "ray": dict(RAY_DEFAULTS),
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
    RAY_OPTION,
)


def check(config: Config) -> None:
    """Reject a configuration whose table cannot be built, reading its data files to do so."""
    if get(config, "backend") not in BACKENDS:
        raise ConfigError(f"backend must be one of {list(BACKENDS)}, got "
                          f"{get(config, 'backend')!r}")
    check_ray(config)
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


@dataclass
class SeedEvaluator:
    """Builds one seed's evaluator as a configuration says; picklable, so that remote workers
    build their own. Scores are cached by the recipe, not by the evaluators."""

    corpus: Corpus
    space: SearchSpace
    backend: str
    settings: TrainConfig
    epochs: int
    warmup_steps: int
    validation_limit: int

    @classmethod
    def of(cls, config: Config, corpus: Corpus, space: SearchSpace) -> SeedEvaluator:
        """The evaluators ``config`` describes."""
        return cls(corpus, space, get(config, "backend"), train_settings(config),
                   get(config, "reference.epochs"), get(config, "supernet.warmup_steps"),
                   get(config, "supernet.validation_limit"))

    def __call__(self, seed: int) -> Evaluator:
        if self.backend == "reference":
            return ReferenceEvaluator(self.corpus, self.space, self.epochs, (seed,),
                                      self.settings)
        return SupernetEvaluator(
            self.corpus, self.space,
            SupernetConfig(self.settings, warmup_steps=self.warmup_steps, steps_per_prepare=0,
                           validation_limit=self.validation_limit),
            seed=seed)

    def key(self) -> str:
        """What every score depends on but its seed and assignment (the cache keys' prefix)."""
        settings = ((self.epochs,) if self.backend == "reference"
                    else (self.warmup_steps, self.validation_limit))
        return fingerprint(self.backend, self.space, self.settings, settings,
                           self.corpus.split_sizes(self.space.tasks))


def settings(config: Config, corpus: Corpus, space: SearchSpace) -> dict[str, Any]:
    """What a table's scores depend on besides seed and assignment, recorded in the table: the
    data options but the data folder (a path of the machine that built it), the sizes of the
    splits they gave (training and validation examples of each task), the networks and the
    backend's own settings."""
    backend = get(config, "backend")
    return {
        "data": {key: value for key, value in get(config, "data").items() if key != "root"},
        "splits": [list(size) for size in corpus.split_sizes(space.tasks)],
        "network": dict(get(config, "network")),
        backend: dict(get(config, backend)),
    }


def train(run: RunDir, config: Config, resume: Checkpoint | None) -> None:
    """Score every cell (seed, assignment) not in the cache up to the checkpoint."""
    # Imported here: logging and progress bring stable-baselines3 and TensorBoard, which the
    # command line's parser, importing this module, does not need.
    from rich.console import Console

    from skillgym.progress import progress_bar
    from skillgym.training.logs import run_logger

    apply_threads(config)
    space = search_space(config)
    evaluators = SeedEvaluator.of(config, load_corpus(get(config, "data")), space)
    prefix = evaluators.key()
    path = run.path / CACHE_FILE
    state = (None if resume is None
             else json.loads((resume.path / PROGRESS_FILE).read_text()))
    keep_lines(path, 0 if state is None else state["cache_records"])
    cache = RewardCache(path)
    seeds, backend = get(config, "seeds"), get(config, "backend")
    texts = [space.format(assignment) for assignment in all_assignments(space)]
    before = {(seed, text): found for seed in seeds for text in texts
              if (found := cache.get(f"{prefix}|{seed}|{text}")) is not None}
    every = get(config, "train.checkpoint_every")
    total = len(texts) * len(seeds)
    scored = len(before)
    logger = run_logger(run, resume.step if resume else None)
    progress = progress_bar(Console(stderr=True))

    def report(seed: int, text: str, evaluation: Evaluation) -> None:
        nonlocal scored
        cache.put(f"{prefix}|{seed}|{text}", evaluation)
        scored += 1
        logger.record("eval/reward", evaluation.mean)
        logger.dump(scored)
        if scored // every > (scored - 1) // every or scored == total:
            with run.new_checkpoint(scored) as folder:
                (folder / PROGRESS_FILE).write_text(json.dumps(
                    {"scored": scored, "cache_records": len(cache)}) + "\n")
        progress.update(task, completed=scored, status=f"seed {seed}")

    # A resumed build with every cell scored has nothing to run: no cluster to start.
    executor = executor_of(config) if scored < total else LocalExecutor()
    try:
        progress.start()
        where = executor.describe()
        task = progress.add_task(f"{backend} table ({where})", total=total, completed=scored,
                                 status="")
        # A remote supernet seed is one task: its cells share one warm-up.
        per_item = None if executor.remote and backend == "supernet" else 1
        table = build_table(space, evaluators, seeds, backend, report, executor=executor,
                            cells_per_item=per_item, scored=before,
                            settings=settings(config, evaluators.corpus, space))
    finally:
        progress.stop()
        logger.close()
        executor.close()
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
