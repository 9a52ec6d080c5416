"""Fidelity of the weight-sharing reward: Kendall τ against stand-alone validation accuracy.

For every seed, a supernet over the real tasks (four FDU-MTL domains, CoNLL-2000 POS and chunk)
is warmed up on random assignments; then ``--assignments`` random assignments are scored twice:
by the supernet (the search's reward, frozen weights) and by training each from scratch
(``--epochs`` epochs, mean validation accuracy over tasks). τ is the rank agreement of the two.

Scores are cached in ``--cache-path``, so seeds can run as separate processes and a last run
over all seeds only reads the cache and prints the table::

    for seed in 0 1 2; do python benchmarks/mtnas_fidelity.py --seeds $seed & done; wait
    python benchmarks/mtnas_fidelity.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from skillgym.envs.mtnas.data import Corpus, load_tasks
from skillgym.envs.mtnas.evaluate import (
    ReferenceEvaluator,
    SupernetConfig,
    SupernetEvaluator,
    TrainConfig,
    kendall_tau,
)
from skillgym.envs.mtnas.modules import SearchSpace

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
TASKS = ("books", "dvd", "electronics", "kitchen_housewares", "conll2000_pos", "conll2000_chunk")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--assignments", type=int, default=30, help="random assignments per seed")
    parser.add_argument("--warmup", type=int, default=200, help="supernet training steps")
    parser.add_argument("--validation-limit", type=int, default=None,
                        help="validation examples per task in a supernet score (default: all)")
    parser.add_argument("--epochs", type=int, default=3, help="stand-alone training epochs")
    parser.add_argument("--max-train", type=int, default=600,
                        help="training examples kept per task (validation stays whole)")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--cache-path", type=Path, default=RESULTS / "mtnas_fidelity_cache.jsonl",
                        help="JSON-lines cache of every score (shared by per-seed processes)")
    parser.add_argument("--output", type=Path, default=RESULTS / "mtnas_fidelity.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    console = Console(width=200)
    if not args.data_root.is_dir():
        raise SystemExit(f"data folder {args.data_root} not found (see /work/shared/data README)")
    corpus = Corpus(
        load_tasks(TASKS, args.data_root), min_count=2, max_length=args.max_length,
        max_train=args.max_train,
    )
    space = SearchSpace(TASKS, num_layers=2)
    config = TrainConfig()
    runs = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console,
    ) as progress:
        for seed in args.seeds:
            bar = progress.add_task(f"seed {seed}", total=args.assignments)
            rng = np.random.default_rng(1000 + seed)
            assignments = [space.sample(rng) for _ in range(args.assignments)]
            start = time.perf_counter()
            supernet = SupernetEvaluator(
                corpus, space,
                SupernetConfig(config, args.warmup, validation_limit=args.validation_limit),
                seed=seed, cache_path=args.cache_path,
            )
            scored = supernet.evaluate(assignments)
            rewards = [evaluation.mean for evaluation in scored]
            supernet_seconds = time.perf_counter() - start
            reference = ReferenceEvaluator(
                corpus, space, args.epochs, (seed,), config, cache_path=args.cache_path
            )
            trained = []
            for assignment in assignments:
                trained.append(reference.evaluate([assignment])[0])
                progress.advance(bar)
            standalone = [evaluation.mean for evaluation in trained]
            runs.append({
                "seed": seed,
                "tau": kendall_tau(rewards, standalone),
                "tau_per_task": {
                    task: kendall_tau(
                        [e.validation[task] for e in scored], [e.validation[task] for e in trained]
                    )
                    for task in TASKS
                },
                "assignments": [space.format(a) for a in assignments],
                "supernet_reward": rewards,
                "standalone_validation": standalone,
                "supernet_seconds": supernet_seconds,
                "standalone_seconds": time.perf_counter() - start - supernet_seconds,
            })

    table = Table(title=f"Kendall τ, supernet reward vs stand-alone validation accuracy "
                        f"({args.assignments} random assignments)")
    for column in ("seed", "τ", "supernet reward range", "stand-alone range", *TASKS):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            str(run["seed"]), f"{run['tau']:.3f}",
            f"{min(run['supernet_reward']):.3f}–{max(run['supernet_reward']):.3f}",
            f"{min(run['standalone_validation']):.3f}–{max(run['standalone_validation']):.3f}",
            *(f"{run['tau_per_task'][task]:.2f}" for task in TASKS),
        )
    taus = np.array([run["tau"] for run in runs])
    table.add_row("mean ± std", f"{taus.mean():.3f} ± {taus.std():.3f}", "", "",
                  *("" for _ in TASKS))
    console.print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    output = args.output
    if len(args.seeds) == 1:
        output = output.with_name(f"{output.stem}_seed{args.seeds[0]}{output.suffix}")
    output.write_text(json.dumps(
        {"config": {k: str(v) for k, v in vars(args).items()}, "runs": runs,
         "tau_mean": float(taus.mean()), "tau_std": float(taus.std())}, indent=1,
    ))
    console.print(f"wrote {output}")


if __name__ == "__main__":
    main()
