"""Multitask architecture search on real data: test accuracy of the architectures each method picks.

Tasks: four FDU-MTL sentiment domains (books, dvd, electronics, kitchen_housewares) and
CoNLL-2000 POS and chunk tagging. For every seed:

* ``alone``: each task trained by itself (its private BiLSTMs);
* ``hard``: every task shares the same BiLSTM instance at every layer (hard sharing);
* ``random``, ``reinforce`` (and optionally ``evolution``): a weight-sharing search with the
  same evaluation budget, whose best assignment is then trained from scratch.

Every architecture is trained from scratch by the reference evaluator (``--epochs`` epochs of
the multitask space's length, so a task trained alone gets as many steps as in a multitask
network; the epoch chosen by validation accuracy) and scored on the test split, which no search
ever sees. The table shows mean ± std over seeds of test accuracy per task; the JSON also holds the
chosen assignments, the best-per-budget curves and wall times.

    python benchmarks/mtnas_search.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from skillgym.agents.mtnas_reinforce import ReinforceController
from skillgym.agents.mtnas_search import RandomSearch, RegularizedEvolution, run_search
from skillgym.envs.mtnas.batching import steps_per_epoch
from skillgym.envs.mtnas.corpus import Corpus
from skillgym.envs.mtnas.datasets import BENCHMARK_TASKS as TASKS
from skillgym.envs.mtnas.datasets import load_tasks
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator
from skillgym.envs.mtnas.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
SEARCHERS = {
    "random": lambda space, seed: RandomSearch(space, seed),
    "evolution": lambda space, seed: RegularizedEvolution(space, seed=seed),
    "reinforce": lambda space, seed: ReinforceController(space, seed=seed),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--searchers", nargs="+", default=["random", "reinforce"],
                        choices=sorted(SEARCHERS))
    parser.add_argument("--budget", type=int, default=120, help="evaluations per search")
    parser.add_argument("--batch-size", type=int, default=8, help="assignments per search round")
    parser.add_argument("--rerank", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1000, help="supernet warm-up steps")
    parser.add_argument("--validation-limit", type=int, default=None,
                        help="validation examples per task in a supernet score (default: all)")
    parser.add_argument("--finetune-steps", type=int, default=0,
                        help="supernet steps on each assignment before scoring it (then undone)")
    parser.add_argument("--epochs", type=int, default=2, help="reference training epochs")
    parser.add_argument("--max-train", type=int, default=None,
                        help="training examples kept per task (default: all; validation and test "
                             "stay whole)")
    parser.add_argument("--validation-fraction", type=float, default=0.25,
                        help="share of every training file carved off as validation")
    parser.add_argument("--max-length", type=int, default=64,
                        help="classification inputs are cut to this many tokens")
    parser.add_argument("--output", type=Path, default=RESULTS / "mtnas_search.json")
    return parser.parse_args()


def run_seed(args, corpus, space, seed: int, progress: Progress) -> dict:
    """Search with every searcher, then train each method's architecture from scratch."""
    config = TrainConfig()
    supernet = SupernetConfig(
        config, warmup_steps=args.warmup, steps_per_prepare=1,
        validation_limit=args.validation_limit, finetune_steps=args.finetune_steps,
    )
    record = {"seed": seed, "settings": settings(args), "methods": {}}
    picks = {"hard": space.hard_sharing(0)}
    for name in args.searchers:
        bar = progress.add_task(f"seed {seed} {name} search", total=args.budget)
        start = time.perf_counter()
        evaluator = SupernetEvaluator(corpus, space, supernet, seed=seed)
        result = run_search(
            SEARCHERS[name](space, seed), evaluator, args.budget, args.batch_size, args.rerank,
            progress=lambda done, bar=bar: progress.update(bar, completed=done),
        )
        picks[name] = result.best
        record["methods"][name] = {
            "search_seconds": time.perf_counter() - start,
            "supernet_reward": result.best_reward,
            "best_per_budget": result.best_per_budget,
            "evaluations": result.evaluations,
        }
    bar = progress.add_task(f"seed {seed} reference training", total=len(TASKS) + len(picks))
    alone = {}
    epoch_steps = steps_per_epoch(corpus.subset(TASKS), config.batch_size)
    for task in TASKS:
        single = SearchSpace((task,), num_layers=2)
        reference = ReferenceEvaluator(
            corpus, single, args.epochs, (seed,), config, epoch_steps=epoch_steps
        )
        alone[task] = reference.evaluate([single.all_private()])[0].test[task]
        progress.advance(bar)
    record["methods"]["alone"] = {"test": alone}
    reference = ReferenceEvaluator(corpus, space, args.epochs, (seed,), config)
    for name, assignment in picks.items():
        evaluation = reference.evaluate([assignment])[0]
        record["methods"].setdefault(name, {}).update(
            assignment=space.format(assignment),
            test=evaluation.test,
            validation=evaluation.validation,
            shared_parameters=evaluation.shared_parameters,
        )
        progress.advance(bar)
    record["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return record


def settings(args: argparse.Namespace) -> dict:
    """The arguments a seed's record depends on (a saved record is reused only if they match)."""
    keys = ("searchers", "budget", "batch_size", "rerank", "warmup", "validation_limit",
            "finetune_steps", "epochs", "max_train", "max_length", "validation_fraction")
    return {key: getattr(args, key) for key in keys}


def main() -> None:
    args = parse_args()
    console = Console(width=180)
    if not args.data_root.is_dir():
        raise SystemExit(f"data folder {args.data_root} not found; pass --data-root DIR")
    corpus = Corpus(
        load_tasks(TASKS, args.data_root, validation_fraction=args.validation_fraction),
        min_count=2, max_length=args.max_length, max_train=args.max_train,
    )
    space = SearchSpace(TASKS, num_layers=2)
    methods = ["alone", "hard", *args.searchers]
    runs = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console,
    ) as progress:
        for seed in args.seeds:
            saved = args.output.with_name(f"{args.output.stem}_seed{seed}.json")
            if saved.exists() and json.loads(saved.read_text())["settings"] == settings(args):
                runs.append(json.loads(saved.read_text()))
                continue
            runs.append(run_seed(args, corpus, space, seed, progress))
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(runs[-1], indent=1))
    test = {
        method: [[run["methods"][method]["test"][task] for task in TASKS] for run in runs]
        for method in methods
    }

    table = Table(title=f"Test accuracy (%), mean ± std over seeds {args.seeds}")
    table.add_column("method")
    for task in TASKS:
        table.add_column(task, justify="right")
    table.add_column("mean", justify="right")
    summary = {}
    for method in methods:
        scores = 100 * np.array(test[method])  # (seeds, tasks)
        means = scores.mean(1)
        summary[method] = {
            "per_task_mean": dict(zip(TASKS, scores.mean(0).tolist(), strict=True)),
            "per_task_std": dict(zip(TASKS, scores.std(0).tolist(), strict=True)),
            "mean": float(means.mean()),
            "mean_std": float(means.std()),
        }
        cells = [f"{m:.2f} ± {s:.2f}" for m, s in zip(scores.mean(0), scores.std(0), strict=True)]
        table.add_row(method, *cells, f"{means.mean():.2f} ± {means.std():.2f}")
    console.print(table)
    peak_mb = max(run["peak_memory_mb"] for run in runs)
    seconds = [m["search_seconds"] for run in runs for m in run["methods"].values()
               if "search_seconds" in m]
    console.print(f"peak memory {peak_mb:.0f} MB; one search (warm-up + {args.budget} evaluations "
                  f"+ re-scoring) took {min(seconds):.0f}–{max(seconds):.0f} s wall")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(
        {"config": {k: str(v) for k, v in vars(args).items()}, "summary": summary, "runs": runs,
         "peak_memory_mb": peak_mb}, indent=1,
    ))
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
