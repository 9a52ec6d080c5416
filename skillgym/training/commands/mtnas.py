"""``skillgym mtnas``: multitask architecture search, stand-alone evaluation, reward tables.

* ``skillgym mtnas search --tasks books dvd conll2000_pos --data-root ../shared/data``: a
  weight-sharing search (REINFORCE controller, random search, regularised evolution or PPO);
  writes ``config.json``, ``metrics.jsonl`` (best reward per evaluation budget) and
  ``result.json`` (the chosen assignment) to a run folder.
* ``skillgym mtnas evaluate 0,0/6,1 --tasks ...``: trains an assignment from scratch over
  several seeds and reports mean ± std test accuracy per task.
* ``skillgym mtnas build-table --output table.json``: scores every assignment of a small space
  for ``MTNAS-Tabular-v0``.

Without ``--tasks`` the synthetic corpus is used, so every sub-command runs with no data.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from skillgym.envs.mtnas.synthetic import SYNTHETIC_TASKS
from skillgym.training.cli import CLIError

METHODS = ("reinforce", "random", "evolution", "ppo")


def _add_data_arguments(parser: argparse.ArgumentParser, run_dir: bool = True) -> None:
    from skillgym.envs.mtnas.modules import DEFAULT_POOL, MODULE_KINDS

    parser.add_argument("--tasks", nargs="+", default=list(SYNTHETIC_TASKS),
                        help="task names: FDU-MTL domains, conll2000_pos/chunk, ud_upos/xpos, "
                             "syn_* (default: the synthetic tasks)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder with fdu_mtl/, conll2000/, ud_ewt/ (needed for real tasks)")
    parser.add_argument("--max-train", type=int, default=None,
                        help="training examples kept per task (default: all)")
    parser.add_argument("--max-length", type=int, default=100,
                        help="classification inputs are cut to this many tokens")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--pool", nargs="+", default=list(DEFAULT_POOL), choices=MODULE_KINDS,
                        help="module kind of every shared instance of a layer")
    parser.add_argument("--private-kind", default="bilstm", choices=MODULE_KINDS)
    if run_dir:
        parser.add_argument("--run-dir", type=Path, default=None,
                            help="the run folder (default: runs/mtnas-<command>-<time>)")


def _load(args: argparse.Namespace):
    """The corpus and the search space the arguments describe; bad input becomes a CLIError."""
    from skillgym.envs.mtnas.corpus import Corpus
    from skillgym.envs.mtnas.datasets import load_tasks
    from skillgym.envs.mtnas.modules import SearchSpace

    try:
        corpus = Corpus(
            load_tasks(args.tasks, args.data_root), min_count=2 if args.data_root else 1,
            max_length=args.max_length, max_train=args.max_train,
        )
        space = SearchSpace(tuple(args.tasks), args.layers, tuple(args.pool), args.private_kind)
    except (ValueError, FileNotFoundError) as error:
        raise CLIError(str(error)) from None
    return corpus, space


def _run_dir(args: argparse.Namespace) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = args.run_dir or Path("runs") / f"mtnas-{args.mtnas_command}-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    config = {key: value for key, value in vars(args).items() if key != "func"}
    (folder / "config.json").write_text(json.dumps(config, indent=1, default=str))
    return folder


def _progress():
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )


def _describe(space, assignment) -> dict[str, list[str]]:
    return {
        task: [space.option_name(int(option)) for option in row]
        for task, row in zip(space.tasks, assignment, strict=True)
    }


def search(args: argparse.Namespace) -> int:
    """Run one weight-sharing search and write the run folder."""
    from skillgym.agents.mtnas_ppo import ppo_search
    from skillgym.agents.mtnas_reinforce import ReinforceController
    from skillgym.agents.mtnas_search import RandomSearch, RegularizedEvolution, run_search
    from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator

    corpus, space = _load(args)
    folder = _run_dir(args)
    try:
        config = SupernetConfig(warmup_steps=args.warmup, validation_limit=args.validation_limit)
    except ValueError as error:
        raise CLIError(str(error)) from None
    evaluator = SupernetEvaluator(
        corpus, space, config, seed=args.seed, cache_path=folder / "reward_cache.jsonl"
    )
    start = time.perf_counter()
    with _progress() as progress:
        bar = progress.add_task(f"{args.method} search", total=args.budget)

        def advance(done: int) -> None:
            progress.update(bar, completed=done)

        if args.method == "ppo":
            result = ppo_search(evaluator, args.budget, args.batch_size, args.rerank, args.seed,
                                advance)
        else:
            searcher = {
                "reinforce": lambda: ReinforceController(space, seed=args.seed),
                "random": lambda: RandomSearch(space, args.seed),
                "evolution": lambda: RegularizedEvolution(space, seed=args.seed),
            }[args.method]()
            result = run_search(searcher, evaluator, args.budget, args.batch_size, args.rerank,
                                advance)
    with (folder / "metrics.jsonl").open("w") as handle:
        for evaluations, reward, assignment in result.best_per_budget:
            handle.write(json.dumps({"evaluations": evaluations, "best_reward": reward,
                                     "best_assignment": assignment}) + "\n")
    summary = {
        "assignment": space.format(result.best),
        "modules": _describe(space, result.best),
        "supernet_reward": result.best_reward,
        "evaluations": result.evaluations,
        "seconds": time.perf_counter() - start,
    }
    (folder / "result.json").write_text(json.dumps(summary, indent=1))
    print(f"best assignment {summary['assignment']}  supernet validation accuracy "
          f"{result.best_reward:.4f}  ({result.evaluations} evaluations, "
          f"{summary['seconds']:.0f} s)")
    for task, modules in summary["modules"].items():
        print(f"  {task}: {' -> '.join(modules)}")
    print(f"run folder: {folder}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Train one assignment from scratch over the seeds; print test accuracy per task."""
    from skillgym.envs.mtnas.reference import ReferenceEvaluator

    corpus, space = _load(args)
    try:
        assignment = space.parse(args.assignment)
    except ValueError as error:
        raise CLIError(str(error)) from None
    folder = _run_dir(args)
    with _progress() as progress:
        bar = progress.add_task("stand-alone training", total=len(args.seeds) * args.epochs)
        evaluator = ReferenceEvaluator(
            corpus, space, args.epochs, args.seeds,
            progress=lambda seed_index, epoch: progress.advance(bar),
        )
        evaluation = evaluator.evaluate([assignment])[0]
    result = {"assignment": space.format(assignment), "modules": _describe(space, assignment),
              **evaluation.to_json()}
    (folder / "result.json").write_text(json.dumps(result, indent=1))
    for task in space.tasks:
        print(f"{task:>24}: test {100 * evaluation.test[task]:6.2f} ± "
              f"{100 * evaluation.test_std[task]:.2f}   validation "
              f"{100 * evaluation.validation[task]:6.2f}")
    print(f"{'mean':>24}: test {100 * evaluation.test_mean:6.2f}  over seeds {list(args.seeds)}")
    print(f"run folder: {folder}")
    return 0


def build_table_command(args: argparse.Namespace) -> int:
    """Score every assignment of the space and write the table file."""
    from skillgym.envs.mtnas.reference import ReferenceEvaluator
    from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator
    from skillgym.envs.mtnas.table import all_assignments, build_table, save_table

    corpus, space = _load(args)
    try:
        count = len(all_assignments(space))
    except ValueError as error:
        raise CLIError(str(error)) from None

    def evaluator_for_seed(seed: int):
        if args.backend == "reference":
            return ReferenceEvaluator(corpus, space, args.epochs, (seed,))
        config = SupernetConfig(warmup_steps=args.warmup, steps_per_prepare=0)
        return SupernetEvaluator(corpus, space, config, seed=seed)

    with _progress() as progress:
        bar = progress.add_task(f"{args.backend} table", total=count * len(args.seeds))
        table = build_table(space, evaluator_for_seed, args.seeds, args.backend,
                            progress=lambda: progress.advance(bar))
    save_table(table, args.output)
    print(f"wrote {count} assignments × {len(args.seeds)} seeds to {args.output}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym mtnas search|evaluate|build-table``."""
    parser = subparsers.add_parser("mtnas", help="multitask architecture search")
    commands = parser.add_subparsers(dest="mtnas_command", metavar="SUBCOMMAND", required=True)

    found = commands.add_parser("search", help="search assignments with a weight-sharing supernet")
    _add_data_arguments(found)
    found.add_argument("--method", choices=METHODS, default="reinforce")
    found.add_argument("--budget", type=int, default=96, help="assignments to evaluate")
    found.add_argument("--batch-size", type=int, default=8, help="assignments per round")
    found.add_argument("--rerank", type=int, default=5, help="candidates re-scored at the end")
    found.add_argument("--warmup", type=int, default=150, help="supernet warm-up steps")
    found.add_argument("--validation-limit", type=int, default=64,
                       help="validation examples per task in each score")
    found.add_argument("--seed", type=int, default=0)
    found.set_defaults(func=search)

    scored = commands.add_parser("evaluate", help="train one assignment from scratch, test it")
    scored.add_argument("assignment", help="rows of options per task joined by '/', e.g. 0,0/6,1")
    _add_data_arguments(scored)
    scored.add_argument("--epochs", type=int, default=5)
    scored.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    scored.set_defaults(func=evaluate)

    table = commands.add_parser("build-table", help="score every assignment of a small space")
    _add_data_arguments(table, run_dir=False)
    table.set_defaults(tasks=["syn_pos", "syn_topic"], layers=2, pool=["cnn3", "identity"],
                       private_kind="cnn3")
    table.add_argument("--output", type=Path, required=True, help="the table file (JSON)")
    table.add_argument("--backend", choices=("supernet", "reference"), default="supernet")
    table.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    table.add_argument("--epochs", type=int, default=2, help="reference backend epochs")
    table.add_argument("--warmup", type=int, default=150, help="supernet backend warm-up steps")
    table.set_defaults(func=build_table_command)
