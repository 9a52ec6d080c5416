"""Fidelity of the weight-sharing reward: Kendall τ against stand-alone validation accuracy.

For every seed, a supernet over the real tasks (four FDU-MTL domains, CoNLL-2000 POS and chunk)
is warmed up on random assignments; then ``--assignments`` random assignments are scored twice:
by the supernet (the search's reward, frozen weights, optionally fine-tuned on each assignment
before its score) and by training each from scratch (``--epochs`` epochs, mean validation
accuracy over tasks, averaged over ``--reference-seeds`` seeds). τ is the rank agreement of the
two. With two or more stand-alone seeds the **noise ceiling** is reported as well: τ between
two stand-alone runs of the same assignments that differ only in their seed. A supernet cannot
be expected to agree with one stand-alone run better than another run does.

Scores are cached in ``--cache-path``, so seeds and settings can run as separate processes and a
last run only reads the cache and prints the table::

    for seed in 0 1 2; do python benchmarks/mtnas_fidelity.py --seeds $seed & done; wait
    python benchmarks/mtnas_fidelity.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from skillgym.envs.mtnas.data import BENCHMARK_TASKS as TASKS
from skillgym.envs.mtnas.data import Corpus, load_tasks
from skillgym.envs.mtnas.evaluate import (
    Evaluation,
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
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="share of every training file carved off as validation")
    parser.add_argument("--reference-seeds", type=int, default=1,
                        help="stand-alone seeds per assignment (seed, seed + 100, ...), averaged; "
                             "with two or more, the noise ceiling (τ between the first two) is "
                             "reported too; 0: supernet scores only (cached for a later run)")
    parser.add_argument("--finetune-steps", type=int, default=0,
                        help="supernet steps on each assignment before scoring it (then undone)")
    parser.add_argument("--learning-rate", type=float, default=TrainConfig().learning_rate,
                        help="supernet learning rate (stand-alone training keeps the default)")
    parser.add_argument("--supernet", action=argparse.BooleanOptionalAction, default=True,
                        help="score with the supernet (--no-supernet: stand-alone runs only)")
    parser.add_argument("--cache-path", type=Path, default=RESULTS / "mtnas_fidelity_cache.jsonl",
                        help="JSON-lines cache of every score (shared by per-seed processes)")
    parser.add_argument("--output", type=Path, default=RESULTS / "mtnas_fidelity.json")
    return parser.parse_args()


def per_task_tau(first, second) -> dict[str, float]:
    """Kendall τ of two lists of evaluations, task by task."""
    return {
        task: kendall_tau([e.validation[task] for e in first], [e.validation[task] for e in second])
        for task in TASKS
    }


def standalone(corpus, space, config, seed, args, assignments, advance):
    """Per-seed stand-alone evaluations (cached one seed at a time, so seeds can be added later)."""
    per_seed = []
    for k in range(args.reference_seeds):
        reference = ReferenceEvaluator(
            corpus, space, args.epochs, (seed + 100 * k,), config, cache_path=args.cache_path
        )
        evaluations = []
        for assignment in assignments:
            evaluations.append(reference.evaluate([assignment])[0])
            advance()
        per_seed.append(evaluations)
    return per_seed


def main() -> None:
    args = parse_args()
    console = Console(width=200)
    if not args.data_root.is_dir():
        raise SystemExit(f"data folder {args.data_root} not found; pass --data-root DIR")
    corpus = Corpus(
        load_tasks(TASKS, args.data_root, validation_fraction=args.validation_fraction),
        min_count=2, max_length=args.max_length, max_train=args.max_train,
    )
    space = SearchSpace(TASKS, num_layers=2)
    config = TrainConfig()
    supernet_config = SupernetConfig(
        TrainConfig(learning_rate=args.learning_rate), args.warmup,
        validation_limit=args.validation_limit, finetune_steps=args.finetune_steps,
    )
    runs = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console,
    ) as progress:
        for seed in args.seeds:
            bar = progress.add_task(
                f"seed {seed} stand-alone runs", total=args.assignments * args.reference_seeds
            )
            rng = np.random.default_rng(1000 + seed)
            assignments = [space.sample(rng) for _ in range(args.assignments)]
            run = {"seed": seed, "assignments": [space.format(a) for a in assignments]}
            if args.supernet:
                start = time.perf_counter()
                supernet = SupernetEvaluator(
                    corpus, space, supernet_config, seed=seed, cache_path=args.cache_path
                )
                scored = supernet.evaluate(assignments)
                run["supernet_seconds"] = time.perf_counter() - start
                run["supernet_reward"] = [e.mean for e in scored]
            if args.reference_seeds:
                start = time.perf_counter()
                per_seed = standalone(
                    corpus, space, config, seed, args, assignments, partial(progress.advance, bar)
                )
                run["standalone_seconds"] = time.perf_counter() - start
                # The reference is the mean over stand-alone seeds, task by task.
                trained = [
                    Evaluation({
                        task: float(np.mean([evaluations[i].validation[task]
                                             for evaluations in per_seed]))
                        for task in TASKS
                    })
                    for i in range(len(assignments))
                ]
                run["standalone_validation"] = [e.mean for e in trained]
            if args.reference_seeds >= 2:
                first, second = per_seed[0], per_seed[1]
                run["ceiling_tau"] = kendall_tau([e.mean for e in first], [e.mean for e in second])
                run["ceiling_tau_per_task"] = per_task_tau(first, second)
            if args.supernet and args.reference_seeds:
                run["tau"] = kendall_tau(run["supernet_reward"], run["standalone_validation"])
                run["tau_per_task"] = per_task_tau(scored, trained)
            runs.append(run)

    table = Table(title=f"Kendall τ over {args.assignments} random assignments: supernet reward "
                        f"vs stand-alone validation accuracy, and stand-alone seed vs seed")
    for column in ("seed", "measure", "τ", *TASKS):
        table.add_column(column, justify="right")
    summary = {}
    for measure, name in (("tau", "supernet"), ("ceiling_tau", "ceiling")):
        if measure not in runs[0]:
            continue
        for run in runs:
            table.add_row(str(run["seed"]), name, f"{run[measure]:.3f}",
                          *(f"{run[measure + '_per_task'][task]:.2f}" for task in TASKS))
        taus = np.array([run[measure] for run in runs])
        summary[f"{measure}_mean"] = float(taus.mean())
        summary[f"{measure}_std"] = float(taus.std())
        table.add_row("mean ± std", name, f"{taus.mean():.3f} ± {taus.std():.3f}",
                      *(f"{np.mean([run[measure + '_per_task'][t] for run in runs]):.2f}"
                        for t in TASKS))
    console.print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    output = args.output
    if len(args.seeds) == 1:
        output = output.with_name(f"{output.stem}_seed{args.seeds[0]}{output.suffix}")
    output.write_text(json.dumps(
        {"config": {k: str(v) for k, v in vars(args).items()}, "runs": runs, **summary}, indent=1,
    ))
    console.print(f"wrote {output}")


if __name__ == "__main__":
    main()
