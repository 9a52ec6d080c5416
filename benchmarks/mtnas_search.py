"""Multitask architecture search on real data: test accuracy of the architectures each method picks.

Tasks: by default four FDU-MTL sentiment domains (books, dvd, electronics, kitchen_housewares)
and CoNLL-2000 POS and chunk tagging; ``--tasks`` and ``--task NAME=FILES`` choose others, as
for ``skillgym mtnas``. For every seed:

* ``alone``: each task trained by itself (its private BiLSTMs);
* ``hard``: every task shares the same BiLSTM instance at every layer (hard sharing);
* ``random``, ``reinforce`` (and optionally ``evolution``): a weight-sharing search with the
  same evaluation budget, its finalists ranked by stand-alone training on two seeds of the
  search's own (never a seed the picks are judged with), whose best assignment is then trained
  from scratch.

Each search is an ``mtnas-search`` run (``--runs``/``seed<S>-<method>``: config, metrics,
checkpoints, ``result.json``; ``skillgym report`` reads it), resumed where it stopped when the
benchmark is run again. Every architecture is trained from scratch by the reference evaluator
(``--epochs`` epochs of the multitask space's length, so a task trained alone gets as many steps
as in a multitask network; the epoch chosen by validation accuracy) and scored on the test
split, which no search ever sees. The table shows mean ± std over seeds of test accuracy per
task and each method's CPU seconds per seed in this process (a search's: search, ranking and
the training of its pick); the JSON also holds the chosen assignments, the best-per-budget
curves and wall times (a resumed search's times cover its last part only).

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
from rich.table import Table

from skillgym.envs.mtnas.batching import steps_per_epoch
from skillgym.envs.mtnas.datasets import BENCHMARK_TASKS
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.envs.mtnas.trainer import TrainConfig
from skillgym.progress import progress_bar
from skillgym.training.cli import main as skillgym
from skillgym.training.config import ConfigError, merge
from skillgym.training.recipes import mtnas_search
from skillgym.training.recipes.mtnas_options import (
    DATA_DEFAULTS,
    DATA_OPTIONS,
    SPACE_DEFAULTS,
    SPACE_OPTIONS,
    add_options,
    load_options,
    overrides,
)
from skillgym.training.run import RunDir

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
OPTIONS = (*DATA_OPTIONS, *SPACE_OPTIONS)
# The first seed of the searches' stand-alone rankings, above any benchmark seed.
RANKING_SEEDS = 10_000
DEFAULTS = {
    "data": {**DATA_DEFAULTS, "tasks": list(BENCHMARK_TASKS), "root": str(DATA),
             "validation_fraction": 0.25, "max_length": 64},
    "space": dict(SPACE_DEFAULTS),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_options(parser, OPTIONS, DEFAULTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--searchers", nargs="+", default=["random", "reinforce"],
                        choices=sorted(mtnas_search.SEARCHERS))
    parser.add_argument("--budget", type=int, default=120, help="evaluations per search")
    parser.add_argument("--batch-size", type=int, default=8, help="assignments per search round")
    parser.add_argument("--rerank", type=int, default=5)
    parser.add_argument("--finalists", type=int,
                        default=mtnas_search.DEFAULTS["final"]["finalists"],
                        help="re-scored candidates each search trains from scratch at the end, "
                             "beside single-task training and hard sharing (0: the supernet "
                             "decides)")
    parser.add_argument("--warmup", type=int, default=1000, help="supernet warm-up steps")
    parser.add_argument("--validation-limit", type=int, default=0,
                        help="validation examples per task in a supernet score (0: all)")
    parser.add_argument("--finetune-steps", type=int, default=0,
                        help="supernet steps on each assignment before scoring it (then undone)")
    parser.add_argument("--checkpoint-every", type=int, default=40,
                        help="evaluations between a search's checkpoints")
    parser.add_argument("--epochs", type=int, default=2, help="reference training epochs")
    parser.add_argument("--runs", type=Path, default=RESULTS / "mtnas_search_runs",
                        help="the folder of the searches' run folders")
    parser.add_argument("--output", type=Path, default=RESULTS / "mtnas_search.json")
    return parser.parse_args()


def search(args: argparse.Namespace, config: dict, seed: int, method: str) -> dict:
    """One ``mtnas-search`` run (resumed if its folder exists); its ``result.json``."""
    layer = {
        "seed": seed, "data": config["data"], "space": config["space"],
        "search": {"method": method, "budget": args.budget, "batch_size": args.batch_size,
                   "rerank": args.rerank},
        "supernet": {"warmup_steps": args.warmup, "validation_limit": args.validation_limit,
                     "finetune_steps": args.finetune_steps},
        # The ranking trains as long as the final training below, so that it ranks what is
        # then measured, and on seeds of its own: the test number of the pick is then not
        # from a run chosen for its own validation score.
        "final": {"finalists": args.finalists, "epochs": args.epochs,
                  "seeds": ranking_seeds(seed)},
        "train": {"checkpoint_every": args.checkpoint_every},
    }
    path = args.runs / f"seed{seed}-{method}"
    if (path / "config.toml").is_file():
        defaults = mtnas_search.DEFAULTS
        if RunDir(path).config() != merge(defaults, defaults, layer):
            raise SystemExit(f"{path} holds a search with other settings; remove it or pass "
                             "another --runs")
        argv = ["train", "--resume", str(path)]
    else:
        argv = ["train", mtnas_search.RECIPE.name, *overrides(layer), "--run-dir", str(path)]
    code = skillgym(argv)
    if code == 130:  # interrupted; the run folder continues next time
        raise KeyboardInterrupt
    if code != 0:
        raise SystemExit(f"the search in {path} failed")
    return json.loads((path / mtnas_search.RESULT_FILE).read_text())


def ranking_seeds(seed: int) -> list[int]:
    """The stand-alone ranking's two seeds in the search of benchmark seed ``seed``: distinct
    from every benchmark seed (the seeds the picks are judged with) and from each other's."""
    return [RANKING_SEEDS + 2 * seed, RANKING_SEEDS + 2 * seed + 1]


def run_seed(args, config, corpus, space, seed: int, console: Console) -> dict:
    """Search with every searcher, then train each method's architecture from scratch."""
    train = TrainConfig()
    tasks = space.tasks
    record = {"seed": seed, "settings": settings(args, config), "methods": {}}
    picks = {"hard": space.hard_sharing(0)}
    for name in args.searchers:
        start, cpu = time.perf_counter(), time.process_time()
        result = search(args, config, seed, name)
        picks[name] = space.parse(result["assignment"])
        record["methods"][name] = {
            # The search and its stand-alone ranking of the finalists, whose share is in the
            # run's timing.json.
            "search_seconds": time.perf_counter() - start,
            "search_cpu_seconds": time.process_time() - cpu,
            "supernet_choice": result["supernet_choice"],
            "supernet_reward": result["supernet_reward"],
            "final_ranking": result.get("final_ranking", []),
            "best_per_budget": result["best_per_budget"],
            "evaluations": result["evaluations"],
            "run": str(args.runs / f"seed{seed}-{name}"),
        }
    alone = {}
    epoch_steps = steps_per_epoch(corpus.subset(tasks), train.batch_size)
    with progress_bar(console) as progress:
        bar = progress.add_task(f"seed {seed} reference training", total=len(tasks) + len(picks),
                                status="")
        cpu = time.process_time()
        for task in tasks:
            single = SearchSpace((task,), space.num_layers, space.pool, space.private_kind)
            reference = ReferenceEvaluator(
                corpus, single, args.epochs, (seed,), train, epoch_steps=epoch_steps
            )
            alone[task] = reference.evaluate([single.all_private()])[0].test[task]
            progress.advance(bar)
        record["methods"]["alone"] = {"test": alone, "cpu_seconds": time.process_time() - cpu}
        reference = ReferenceEvaluator(corpus, space, args.epochs, (seed,), train)
        for name, assignment in picks.items():
            cpu = time.process_time()
            evaluation = reference.evaluate([assignment])[0]
            method = record["methods"].setdefault(name, {})
            # a search's cost is its search, its ranking and the training of its pick
            method["cpu_seconds"] = method.get("search_cpu_seconds", 0.0) + (
                time.process_time() - cpu)
            method.update(
                assignment=space.format(assignment),
                test=evaluation.test,
                validation=evaluation.validation,
                shared_parameters=evaluation.shared_parameters,
            )
            progress.advance(bar)
    record["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return record


def settings(args: argparse.Namespace, config: dict) -> dict:
    """What a seed's record depends on (a saved record is reused only if it matches)."""
    keys = ("searchers", "budget", "batch_size", "rerank", "finalists", "warmup",
            "validation_limit", "finetune_steps", "epochs")
    return {**{key: getattr(args, key) for key in keys}, "ranking_seeds_from": RANKING_SEEDS,
            "data": config["data"], "space": config["space"]}


def main() -> None:
    args = parse_args()
    console = Console(width=180)
    try:
        config, corpus, space = load_options(args, OPTIONS, DEFAULTS)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    tasks = space.tasks
    methods = ["alone", "hard", *args.searchers]
    runs = []
    for seed in args.seeds:
        saved = args.output.with_name(f"{args.output.stem}_seed{seed}.json")
        if saved.exists() and json.loads(saved.read_text())["settings"] == settings(args, config):
            runs.append(json.loads(saved.read_text()))
            continue
        runs.append(run_seed(args, config, corpus, space, seed, console))
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(runs[-1], indent=1))
    test = {
        method: [[run["methods"][method]["test"][task] for task in tasks] for run in runs]
        for method in methods
    }

    table = Table(title=f"Test accuracy (%), mean ± std over seeds {args.seeds}")
    table.add_column("method")
    for task in tasks:
        table.add_column(task, justify="right")
    table.add_column("mean", justify="right")
    table.add_column("CPU s", justify="right")
    summary = {}
    for method in methods:
        scores = 100 * np.array(test[method])  # (seeds, tasks)
        means = scores.mean(1)
        summary[method] = {
            "per_task_mean": dict(zip(tasks, scores.mean(0).tolist(), strict=True)),
            "per_task_std": dict(zip(tasks, scores.std(0).tolist(), strict=True)),
            "mean": float(means.mean()),
            "mean_std": float(means.std()),
        }
        cells = [f"{m:.2f} ± {s:.2f}" for m, s in zip(scores.mean(0), scores.std(0), strict=True)]
        # CPU seconds in this process, per seed (a resumed search's covers its last part)
        cpu = float(np.mean([run["methods"][method]["cpu_seconds"] for run in runs]))
        summary[method]["cpu_seconds"] = cpu
        table.add_row(method, *cells, f"{means.mean():.2f} ± {means.std():.2f}", f"{cpu:,.1f}")
    console.print(table)
    peak_mb = max(run["peak_memory_mb"] for run in runs)
    seconds = [m["search_seconds"] for run in runs for m in run["methods"].values()
               if "search_seconds" in m]
    console.print(f"peak memory {peak_mb:.0f} MB; one search (warm-up + {args.budget} evaluations "
                  f"+ re-scoring) took {min(seconds):.0f}–{max(seconds):.0f} s wall")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(
        {"config": {k: str(v) for k, v in vars(args).items()}, "data": config["data"],
         "space": config["space"], "summary": summary, "runs": runs, "peak_memory_mb": peak_mb},
        indent=1,
    ))
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
