"""The ``mtnas-search`` recipe: a weight-sharing search for the multitask module assignment.

A :class:`~skillgym.agents.mtnas_search.Search` runs in rounds of ``search.batch_size``
assignments: the searcher (``search.method``: REINFORCE controller, random search, regularised
evolution or PPO) proposes them, the supernet (:class:`~skillgym.envs.mtnas.supernet.
SupernetEvaluator`, warmed up first) trains on them and scores them, and the searcher learns from
the scores, until ``search.budget`` assignments are scored; then the ``search.rerank`` best are
scored again with the final shared weights. Last, the stand-alone ranking (``final``): the
``final.finalists`` best of those by the supernet, single-task training and hard sharing are
each trained from scratch for every ``final.seeds`` seed (:class:`~skillgym.envs.mtnas.reference.
ReferenceEvaluator`), and the best mean validation accuracy is the result (``final.finalists =
0``: the supernet's choice is).

The run folder holds, besides ``config.toml``, ``metrics.jsonl`` (a row per round: the best
reward so far and its assignment, the round's mean reward), ``reward_cache.jsonl`` (every
score), ``final_cache.jsonl`` (the stand-alone scores), ``result.json`` (the chosen assignment,
its modules by name, the supernet's choice and reward, the best per evaluation budget, every
finalist's stand-alone validation accuracy, and ``per_task``: each task's accuracy under the
chosen assignment and the fixed schemes, and its gain over them), ``plots/assignment.png`` (the
chosen assignment, shared instances coloured; :func:`draw`), ``timing.json`` (the wall-clock
seconds of the search and of the ranking) and checkpoints every ``train.checkpoint_every``
evaluations, named by the evaluations done. A checkpoint (``search.pt``) holds the searcher's
state (its weights, optimiser and random state), the search history, the supernet's weights,
optimiser, random state and version, and the length of the reward cache, so a run killed at any
moment and resumed ends with exactly the result of one never stopped.

With ``ray.address`` set (``--ray [ADDRESS]``, the ``ray`` extra) each round's uncached scores
run as Ray tasks, cut into as many pieces as the cluster runs at once, each on a copy of the
supernet as it stands (warm-up and the supernet's training stay in this process), and the
stand-alone ranking trains every finalist and seed as a task of its own; the result is the one
a local run gives.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from skillgym.agents.mtnas_search import Search, Searcher, SearchResult, finalists
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.supernet import WARMUP_SAMPLING, SupernetConfig, SupernetEvaluator
from skillgym.executors import Executor
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
    keep_lines,
    load_corpus,
    not_an_agent,
    search_space,
    train_settings,
)
from skillgym.training.run import Checkpoint, RunDir

CACHE_FILE = "reward_cache.jsonl"
FINAL_CACHE_FILE = "final_cache.jsonl"
TIMING_FILE = "timing.json"
STATE_FILE = "search.pt"
RESULT_FILE = "result.json"
ASSIGNMENT_PLOT = "assignment.png"


def _reinforce(space: SearchSpace, seed: int, batch_size: int) -> Searcher:
    from skillgym.agents.mtnas_reinforce import ReinforceController

    return ReinforceController(space, seed=seed)


def _random(space: SearchSpace, seed: int, batch_size: int) -> Searcher:
    from skillgym.agents.mtnas_search import RandomSearch

    return RandomSearch(space, seed)


def _evolution(space: SearchSpace, seed: int, batch_size: int) -> Searcher:
    from skillgym.agents.mtnas_search import RegularizedEvolution

    return RegularizedEvolution(space, seed=seed)


def _ppo(space: SearchSpace, seed: int, batch_size: int) -> Searcher:
    # Imported on use: stable-baselines3 is needed by this searcher alone.
    from skillgym.agents.mtnas_ppo import PPOController

    return PPOController(space, episodes_per_update=batch_size, seed=seed)


#: The searchers by ``search.method``: each is built from the space, the seed and the round size.
SEARCHERS: dict[str, Callable[[SearchSpace, int, int], Searcher]] = {
    "reinforce": _reinforce, "random": _random, "evolution": _evolution, "ppo": _ppo,
}

DEFAULTS: dict[str, Any] = {
    # Seeds the searcher and the supernet (its weights, batches, warm-up and scoring subsets).
    "seed": 0,
    "data": dict(DATA_DEFAULTS),
    "space": dict(SPACE_DEFAULTS),
    "search": {
        "method": "reinforce",
        # Assignments scored during the search (re-scoring comes on top).
        "budget": 96,
        # Assignments per round (a PPO update's episodes, for method "ppo").
        "batch_size": 8,
        # The best distinct candidates scored again with the final shared weights.
        "rerank": 5,
    },
    "supernet": {
        "warmup_steps": 150,
        # The paths of a warm-up step: "uniform" (one random assignment) or "fair" (FairNAS:
        # every option of every slot once, on one batch).
        "warmup_sampling": "uniform",
        # Gradient steps on each proposed assignment before its round is scored.
        "steps_per_prepare": 1,
        # Validation examples per task in each score (0: the whole split).
        "validation_limit": 64,
        # Steps on an assignment alone before its score, then undone (0: none).
        "finetune_steps": 0,
    },
    "final": {
        # Re-scored candidates, best by the supernet, trained from scratch at the end (0: the
        # supernet's choice is the result).
        "finalists": 3,
        # Single-task training and hard sharing join the finalists.
        "fixed_schemes": True,
        # One network trained from scratch per seed and finalist, for this many epochs (an
        # epoch: the largest task's training split once); mean validation accuracy decides.
        "seeds": [0, 1],
        "epochs": 3,
    },
    "network": dict(NETWORK_DEFAULTS),
    "train": {
        # Evaluations between checkpoints (at the end of the round that reaches them); a
        # checkpoint holds the supernet and its optimiser, 18 MB on the six benchmark tasks.
        "checkpoint_every": 24,
    },
    "threads": THREADS_DEFAULTS,
    # Where the supernet's scores and the stand-alone ranking's trainings run (warm-up and the
    # supernet's training stay here).
    "ray": dict(RAY_DEFAULTS),
}

#: ``skillgym mtnas search``'s options.
OPTIONS: tuple[Option, ...] = (
    *DATA_OPTIONS,
    *SPACE_OPTIONS,
    Option("--method", "search.method", "the searcher", choices=tuple(SEARCHERS)),
    Option("--budget", "search.budget", "assignments to evaluate"),
    Option("--batch-size", "search.batch_size", "assignments per round"),
    Option("--rerank", "search.rerank", "candidates re-scored at the end"),
    Option("--finalists", "final.finalists",
           "re-scored candidates trained from scratch at the end (0: the supernet decides)"),
    Option("--final-seeds", "final.seeds", "seeds of the stand-alone ranking"),
    Option("--final-epochs", "final.epochs", "epochs of the stand-alone ranking"),
    Option("--warmup", "supernet.warmup_steps", "supernet warm-up steps"),
    Option("--warmup-sampling", "supernet.warmup_sampling", "the paths of a warm-up step",
           choices=WARMUP_SAMPLING),
    Option("--validation-limit", "supernet.validation_limit",
           "validation examples per task in each score (0: all)"),
    Option("--checkpoint-every", "train.checkpoint_every", "evaluations between checkpoints"),
    Option("--seed", "seed", "seed of the searcher and the supernet"),
    RAY_OPTION,
)


def supernet_config(config: Config) -> SupernetConfig:
    """The weight-sharing settings of a configuration."""
    supernet = get(config, "supernet")
    return SupernetConfig(
        train_settings(config), warmup_steps=supernet["warmup_steps"],
        warmup_sampling=supernet["warmup_sampling"],
        steps_per_prepare=supernet["steps_per_prepare"],
        validation_limit=supernet["validation_limit"] or None,
        finetune_steps=supernet["finetune_steps"],
    )


def check(config: Config) -> None:
    """Reject a configuration the search cannot run, reading its data files to do so."""
    if get(config, "search.method") not in SEARCHERS:
        raise ConfigError(f"search.method must be one of {list(SEARCHERS)}, got "
                          f"{get(config, 'search.method')!r}")
    for key in ("search.budget", "search.batch_size", "search.rerank", "train.checkpoint_every"):
        if get(config, key) < 1:
            raise ConfigError(f"{key} must be a positive integer, got {get(config, key)}")
    if get(config, "final.finalists") < 0:
        raise ConfigError(f"final.finalists must be >= 0, got {get(config, 'final.finalists')}")
    if get(config, "final.epochs") < 1:
        raise ConfigError(f"final.epochs must be a positive integer, got "
                          f"{get(config, 'final.epochs')}")
    if not get(config, "final.seeds"):
        raise ConfigError("final.seeds must list at least one seed")
    for key in ("supernet.warmup_steps", "supernet.steps_per_prepare", "supernet.validation_limit",
                "supernet.finetune_steps"):
        if get(config, key) < 0:
            raise ConfigError(f"{key} must be >= 0, got {get(config, key)}")
    check_data(config)
    check_network(config)
    check_ray(config)
    try:
        supernet_config(config)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _save(run: RunDir, search: Search, evaluator: SupernetEvaluator) -> None:
    with run.new_checkpoint(search.evaluations) as folder:
        torch.save({"search": search.state_dict(), "evaluator": evaluator.state_dict(),
                    "cache_records": len(evaluator.cache)}, folder / STATE_FILE)


def _result(config: Config, space: SearchSpace, result: SearchResult) -> dict[str, Any]:
    return {
        "method": get(config, "search.method"),
        "assignment": space.format(result.best),
        "modules": describe(space, result.best),
        "supernet_choice": space.format(result.best),
        "supernet_reward": result.best_reward,
        "evaluations": result.evaluations,
        "best_per_budget": [list(row) for row in result.best_per_budget],
    }


def _scheme(space: SearchSpace, assignment: np.ndarray) -> str:
    """How a finalist came: a fixed scheme's name, or ``"search"``."""
    if np.array_equal(assignment, space.all_private()):
        return "single-task"
    if np.array_equal(assignment, space.hard_sharing()):
        return "hard sharing"
    return "search"


def rank_finalists(
    run: RunDir, config: Config, space: SearchSpace, result: SearchResult, console: Any,
    executor: Executor,
) -> dict[str, Any]:
    """Train every finalist from scratch for every ``final.seeds`` seed (cached in the run
    folder, so that a resumed run trains only the rest) and return the ranking: the result's
    new ``assignment`` and ``modules`` (the best mean validation accuracy) and a row per
    finalist."""
    from skillgym.envs.mtnas.reference import ReferenceEvaluator
    from skillgym.progress import progress_bar

    final = get(config, "final")
    candidates = finalists(result, space, final["finalists"], final["fixed_schemes"])
    supernet = dict(result.finals)
    seeds, epochs = final["seeds"], final["epochs"]
    progress = progress_bar(console)
    progress.start()
    task = progress.add_task("stand-alone ranking", total=len(candidates) * len(seeds) * epochs,
                             status="")

    def advance(seed_index: int, epoch: int) -> None:
        progress.advance(task)

    judge = ReferenceEvaluator(load_corpus(get(config, "data")), space, epochs, seeds,
                               train_settings(config), cache_path=run.path / FINAL_CACHE_FILE,
                               progress=advance, executor=executor)
    cached = sum(judge.cache.get(judge.key(assignment)) is not None for assignment in candidates)
    progress.update(task, completed=cached * len(seeds) * epochs)  # a resumed ranking's
    try:
        # All at once, so that a remote executor trains every finalist and seed side by side;
        # here, one after another, each finalist cached as soon as its seeds are done.
        evaluations = judge.evaluate(candidates)
    finally:
        progress.stop()
    rows = [{"assignment": space.format(assignment), "scheme": _scheme(space, assignment),
             "supernet_reward": supernet.get(space.format(assignment)),
             "validation_mean": evaluation.mean, "validation": evaluation.validation,
             "validation_std": evaluation.validation_std}
            for assignment, evaluation in zip(candidates, evaluations, strict=True)]
    best = max(range(len(rows)), key=lambda index: rows[index]["validation_mean"])
    for index, row in enumerate(rows):
        row["chosen"] = index == best
    return {"assignment": rows[best]["assignment"],
            "modules": describe(space, candidates[best]),
            "per_task": per_task(rows, space.tasks),
            "final_ranking": rows, "final_seeds": seeds, "final_epochs": epochs}


def per_task(rows: list[dict[str, Any]], tasks: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Task by task, the stand-alone validation accuracy of the chosen finalist and of each
    fixed scheme among the finalists (``single_task``, ``hard_sharing``), and the chosen one's
    gain over each: which tasks gain from what the search shares and which lose."""
    chosen = next(row for row in rows if row["chosen"])
    schemes = {row["scheme"].replace(" ", "_").replace("-", "_"): row for row in rows
               if row["scheme"] != "search"}
    found = {}
    for task in tasks:
        entry = {"chosen": chosen["validation"][task]}
        for name, row in schemes.items():
            entry[name] = row["validation"][task]
            entry[f"gain_vs_{name}"] = entry["chosen"] - entry[name]
        found[task] = entry
    return found


def draw(run: RunDir, config: Config) -> None:
    """The chosen assignment as a picture, ``plots/assignment.png`` (tasks × layers, shared
    instances coloured, each task's validation points against training it alone beside its
    row), once the run has its result."""
    from skillgym.training.plots import write_assignment_plot

    path = run.path / RESULT_FILE
    if not path.is_file():
        return
    result = json.loads(path.read_text())
    space = search_space(config)
    gains = {task: 100 * entry["gain_vs_single_task"]
             for task, entry in result.get("per_task", {}).items()
             if "gain_vs_single_task" in entry}
    caption = "; right: validation points vs each task alone" if gains else ""
    write_assignment_plot(run.plots_dir / ASSIGNMENT_PLOT, space,
                          space.parse(result["assignment"]), gains or None,
                          title=f"{result['assignment']} ({result['method']}){caption}")


def train(run: RunDir, config: Config, resume: Checkpoint | None) -> None:
    """Search (or continue searching) to ``search.budget``, checkpointing as it goes; the
    supernet's scores and the stand-alone ranking run on the configuration's executor."""
    started = time.perf_counter()
    apply_threads(config)
    space = search_space(config)
    state = None if resume is None else torch.load(resume.path / STATE_FILE, weights_only=True)
    # The cache as it was at the checkpoint (a run killed later appended to it).
    keep_lines(run.path / CACHE_FILE, 0 if state is None else state["cache_records"])
    executor = executor_of(config)
    try:
        _search(run, config, resume, space, state, started, executor)
    finally:
        executor.close()


def _search(run: RunDir, config: Config, resume: Checkpoint | None, space: SearchSpace,
            state: dict | None, started: float, executor: Executor) -> None:
    """:func:`train` once its state is read and its executor made."""
    # Imported here: logging and progress bring stable-baselines3 and TensorBoard, which the
    # command line's parser, importing this module, does not need.
    from rich.console import Console

    from skillgym.progress import progress_bar
    from skillgym.training.logs import run_logger

    evaluator = SupernetEvaluator(load_corpus(get(config, "data")), space,
                                  supernet_config(config), seed=config["seed"],
                                  cache_path=run.path / CACHE_FILE, executor=executor)
    method, seed = get(config, "search.method"), config["seed"]
    search = Search(SEARCHERS[method](space, seed, get(config, "search.batch_size")), evaluator,
                    get(config, "search.budget"), get(config, "search.batch_size"),
                    get(config, "search.rerank"))
    if state is not None:
        search.load_state_dict(state["search"])
        evaluator.load_state_dict(state["evaluator"])
    every = get(config, "train.checkpoint_every")
    saved = search.evaluations
    console = Console(stderr=True)
    if state is None:
        # A line, not a spinner, so that a log shows what the first minutes are spent on.
        console.print(f"supernet warm-up: {get(config, 'supernet.warmup_steps')} steps",
                      highlight=False)
        evaluator.trainer  # noqa: B018  (builds and warms up the supernet)
    logger = run_logger(run, resume.step if resume else None)
    progress = progress_bar(console)
    result = None
    try:
        progress.start()
        task = progress.add_task(f"{method} search", total=search.budget,
                                 completed=search.evaluations, status="")
        while not search.done:
            rewards = search.round()
            _, best, assignment = search.history.best_per_budget[-1]
            logger.record("eval/best_reward", best)
            logger.record("eval/best_assignment", assignment)
            logger.record("eval/round_reward", float(np.mean(rewards)))
            if search.done:
                result = search.finish()
                logger.record("eval/final_reward", result.best_reward)
                logger.record("eval/final_assignment", space.format(result.best))
            logger.dump(search.evaluations)
            if search.evaluations // every > saved // every or search.done:
                _save(run, search, evaluator)
                saved = search.evaluations
            progress.update(task, completed=search.evaluations, status=f"best {best:.4f}")
    finally:
        progress.stop()
        logger.close()
    if result is None:  # resumed from the last checkpoint: only the re-scoring was left
        result = search.finish()
    summary = _result(config, space, result)
    searched = time.perf_counter()
    if get(config, "final.finalists"):
        summary.update(rank_finalists(run, config, space, result, console, executor))
    (run.path / RESULT_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    draw(run, config)
    # Apart from the result, which a resumed run writes exactly as an uninterrupted one; of
    # this process only (a resumed run's search seconds cover its last part).
    seconds = {"search": searched - started, "final_ranking": time.perf_counter() - searched}
    (run.path / TIMING_FILE).write_text(json.dumps(seconds, indent=1) + "\n")
    print(f"supernet's choice {summary['supernet_choice']}  supernet validation accuracy "
          f"{result.best_reward:.4f}  ({result.evaluations} evaluations)")
    for row in summary.get("final_ranking", []):
        mark = "  <- chosen" if row["chosen"] else ""
        print(f"  stand-alone validation {row['validation_mean']:.4f}  {row['assignment']} "
              f"({row['scheme']}){mark}")
    from skillgym.training.plots import signed_points

    print(f"best assignment {summary['assignment']}")
    for name, modules in summary["modules"].items():
        gains = summary.get("per_task", {}).get(name, {})
        against = ", ".join(f"{signed_points(100 * gains[key])} vs {key[len('gain_vs_'):]}"
                            for key in gains if key.startswith("gain_vs_"))
        print(f"  {name}: {' -> '.join(modules)}" + (f"  (validation points: {against})"
                                                      if against else ""))


RECIPE = Recipe(
    name="mtnas-search",
    defaults=DEFAULTS,
    check=check,
    train=train,
    load_agent=not_an_agent("mtnas-search"),
    env_of=not_an_agent("mtnas-search"),
    draw=draw,
)
