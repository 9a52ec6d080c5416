"""Fidelity of the weight-sharing reward: Kendall τ against stand-alone validation accuracy.

``--assignments`` random assignments over the tasks (by default four FDU-MTL domains and
CoNLL-2000 POS and chunk; ``--tasks`` and ``--task NAME=FILES`` as for ``skillgym mtnas``) are
drawn once (``--assignment-seed``) and scored twice: by training each from
scratch (``--epochs`` epochs on every task's whole training split, mean validation accuracy over
tasks, averaged over the ``--reference-seeds``), and, for every seed in ``--seeds``, by a
supernet warmed up on random assignments with that seed (the search's reward, frozen weights,
optionally fine-tuned on each assignment before its score). τ, the rank agreement of the two,
is reported per supernet seed. With two or more reference seeds two limits set by the
reference's own noise are reported as well: the **ceiling**, τ between the stand-alone runs of
the first two seeds, and the **bound**, the τ a perfect reward (the assignments' expected
stand-alone accuracy) would reach against the reference average, estimated from the seed-to-seed
correlation ``r`` as ``(2/π) arcsin(√(k r / (1 + (k − 1) r)))`` for ``k`` averaged seeds
(Spearman–Brown reliability, Greiner's relation for normal scores).

With ``--table FILE`` (a ``skillgym mtnas build-table`` file with the reference backend, or a
shipped table's name, e.g. ``books-conll2000_pos``) the reference is that table instead: every
assignment of its space, its seeds, its data settings (the same validation split; a table that
records its split sizes is refused on data that split otherwise) and its network settings for
the supernet; nothing is trained stand-alone::

    python benchmarks/mtnas_fidelity.py --table books-conll2000_pos --seeds 0 1 2

With a reference of two or more seeds that holds single-task training and hard sharing (a
table does), the benchmark also measures what the search's stand-alone ranking of its finalists
gains over single-task training for each of ``--finalist-counts``: the supernet's top ``k`` plus
the two fixed schemes, the pick made on the mean of all seeds but one and judged by the held-out
seed's run, against ``k`` assignments drawn at random (:func:`finalist_gains`).

Scores are cached in ``--cache-path``, so reference seeds and supernet seeds can run as separate
processes and a last run only reads the cache and prints the table::

    python benchmarks/mtnas_fidelity.py --seeds --reference-seeds 0 &
    python benchmarks/mtnas_fidelity.py --seeds --reference-seeds 1 &
    for seed in 0 1 2; do python benchmarks/mtnas_fidelity.py --seeds $seed --reference-seeds & done
    wait; python benchmarks/mtnas_fidelity.py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from skillgym.envs.mtnas.datasets import BENCHMARK_TASKS
from skillgym.envs.mtnas.evaluator import Evaluation
from skillgym.envs.mtnas.ranking import kendall_tau
from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.envs.mtnas.supernet import WARMUP_SAMPLING, SupernetConfig, SupernetEvaluator
from skillgym.envs.mtnas.table import load_table, table_space
from skillgym.envs.mtnas.trainer import TrainConfig
from skillgym.progress import progress_bar
from skillgym.training.config import ConfigError
from skillgym.training.recipes.mtnas_options import (
    DATA_DEFAULTS,
    DATA_OPTIONS,
    SPACE_DEFAULTS,
    SPACE_OPTIONS,
    add_options,
    load_options,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
OPTIONS = (*DATA_OPTIONS, *SPACE_OPTIONS)
DEFAULTS = {
    "data": {**DATA_DEFAULTS, "tasks": list(BENCHMARK_TASKS), "root": str(DATA),
             "validation_fraction": 0.25, "max_length": 64},
    "space": dict(SPACE_DEFAULTS),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_options(parser, OPTIONS, DEFAULTS)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2],
                        help="supernet seeds (none: stand-alone runs only)")
    parser.add_argument("--assignments", type=int, default=30, help="random assignments scored")
    parser.add_argument("--assignment-seed", type=int, default=1000,
                        help="seed of the random assignments (the same for every supernet seed)")
    parser.add_argument("--warmup", type=int, default=1000, help="supernet training steps")
    parser.add_argument("--warmup-sampling", choices=WARMUP_SAMPLING, default="uniform",
                        help="the paths of a warm-up step (fair: FairNAS, every option once)")
    parser.add_argument("--validation-limit", type=int, default=None,
                        help="validation examples per task in a supernet score (default: all)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="stand-alone epochs (an epoch: the largest task's split once)")
    parser.add_argument("--reference-seeds", type=int, nargs="*", default=[0, 1],
                        help="stand-alone seeds per assignment, averaged; with two or more, the "
                             "noise ceiling and the perfect-reward bound are reported too; none: "
                             "supernet scores only (cached for a later run)")
    parser.add_argument("--finetune-steps", type=int, default=0,
                        help="supernet steps on each assignment before scoring it (then undone)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="supernet learning rate (default: the networks' own; stand-alone "
                             "training keeps it)")
    parser.add_argument("--table", default=None, metavar="FILE|NAME",
                        help="a table of stand-alone accuracies as the reference (a build-table "
                             "file or a shipped table's name): its space, seeds, data and network "
                             "settings, every assignment; --assignments, --assignment-seed, "
                             "--epochs and --reference-seeds do not apply")
    parser.add_argument("--finalist-counts", type=int, nargs="*", default=[1, 3, 5, 8, 16],
                        help="finalist counts of the stand-alone ranking analysis (a reference "
                             "of two or more seeds that holds single-task training and hard "
                             "sharing, as a table does)")
    parser.add_argument("--cache-path", type=Path, default=RESULTS / "mtnas_fidelity_cache.jsonl",
                        help="JSON-lines cache of every score (shared by per-seed processes)")
    parser.add_argument("--output", type=Path, default=RESULTS / "mtnas_fidelity.json")
    return parser.parse_args()


def agreement(statistic, first, second) -> tuple[float, dict[str, float]]:
    """``statistic`` of two lists of evaluations: on the mean over tasks, and task by task."""
    per_task = {
        task: statistic([e.validation[task] for e in first], [e.validation[task] for e in second])
        for task in first[0].validation
    }
    return statistic([e.mean for e in first], [e.mean for e in second]), per_task


def reliability(first: Sequence[float], second: Sequence[float], seeds: int) -> float:
    """Squared correlation of a ``seeds``-seed average with its expectation (Spearman–Brown),
    from two seeds' scores."""
    r = max(float(np.corrcoef(first, second)[0, 1]), 0.0)
    return seeds * r / (1 + (seeds - 1) * r)


def tau_of(correlation: float) -> float:
    """Kendall τ of two normal scores with this correlation (Greiner's relation)."""
    return 2 / math.pi * math.asin(max(-1.0, min(correlation, 1.0)))


def perfect_reward_tau(first: Sequence[float], second: Sequence[float], seeds: int) -> float:
    """Expected τ of the true ranking against a ``seeds``-seed average, from two seeds' scores."""
    return tau_of(math.sqrt(reliability(first, second, seeds)))


def finalist_gains(scores: np.ndarray, rewards: Sequence[float], fixed: Sequence[int],
                   counts: Sequence[int], draws: int = 200, seed: int = 0) -> dict[int, dict]:
    """What the search's stand-alone ranking of its finalists gains, by number of finalists.

    ``scores`` is ``(seeds, assignments)`` stand-alone mean accuracies (a table's runs). For
    ``k`` in ``counts`` the finalists are the ``k`` assignments the supernet's ``rewards`` rank
    highest, plus the ``fixed`` schemes (single-task training first, then hard sharing), as in
    the ``mtnas-search`` recipe; the ranking picks the finalist with the best mean over all
    seeds but one, and the held-out seed's run judges the pick (each seed judging in turn, the
    gains averaged): its gain over single-task training and over hard sharing under that judge.
    The same for ``k`` assignments drawn at random (``draws`` draws), the supernet's control.
    """
    scores = np.asarray(scores)
    order = np.argsort(-np.asarray(rewards), kind="stable")
    rng = np.random.default_rng(seed)
    single, hard = fixed[0], fixed[1]

    def pick(candidates: np.ndarray, seen: np.ndarray) -> int:
        """The finalist with the best mean over the seen seeds."""
        candidates = np.union1d(candidates, fixed)
        return int(candidates[np.argmax(seen[candidates])])

    found = {}
    for count in counts:
        drawn = [rng.choice(len(order), size=count, replace=False) for _ in range(draws)]
        gains = {"supernet": [], "random": [], "supernet_vs_hard": []}
        for judge in range(len(scores)):
            seen = np.delete(scores, judge, axis=0).mean(0)
            chosen = pick(order[:count], seen)
            gains["supernet"].append(scores[judge, chosen] - scores[judge, single])
            gains["supernet_vs_hard"].append(scores[judge, chosen] - scores[judge, hard])
            gains["random"].append(np.mean([scores[judge, pick(d, seen)] - scores[judge, single]
                                            for d in drawn]))
        found[count] = {name: float(np.mean(values)) for name, values in gains.items()}
    return found


def finalists_table(runs: list[dict], counts: Sequence[int], seeds: int,
                    console: Console) -> dict[int, dict]:
    """Print :func:`finalist_gains` of the supernet runs (mean ± std over supernet seeds; the
    random finalists, drawn by one seeded generator, are the same for every supernet seed) and
    return the means."""
    table = Table(title=f"The stand-alone ranking of k finalists (+ single-task and hard "
                        f"sharing), picked on {seeds - 1} seeds' mean, judged by the held-out "
                        f"seed: mean accuracy points over single-task training")
    for column in ("k", "supernet's top k", "vs hard sharing", "k at random"):
        table.add_column(column, justify="right")
    means = {}
    for count in counts:
        rows = {name: 100 * np.array([run["finalist_gains"][count][name] for run in runs])
                for name in ("supernet", "supernet_vs_hard", "random")}
        means[count] = {name: float(values.mean()) for name, values in rows.items()}
        table.add_row(str(count), *(f"{rows[name].mean():+.2f} ± {rows[name].std():.2f}"
                                    for name in ("supernet", "supernet_vs_hard")),
                      f"{rows['random'].mean():+.2f}")
    console.print(table)
    return means


def standalone(corpus, space, config, args, assignments, advance) -> list[list[Evaluation]]:
    """Stand-alone evaluations, one list per reference seed (each seed cached on its own)."""
    per_seed = []
    for seed in args.reference_seeds:
        reference = ReferenceEvaluator(
            corpus, space, args.epochs, (seed,), config, cache_path=args.cache_path
        )
        evaluations = []
        for assignment in assignments:
            evaluations.append(reference.evaluate([assignment])[0])
            advance()
        per_seed.append(evaluations)
    return per_seed


def table_defaults(table: dict) -> dict:
    """The benchmark's configuration defaults for a table's reference: its space, and its data
    settings where it records them (the data folder stays the benchmark's)."""
    space = table_space(table)
    data = {**DEFAULTS["data"], "tasks": list(space.tasks),
            **table.get("settings", {}).get("data", {})}
    return {"data": data, "space": {"layers": space.num_layers, "pool": list(space.pool),
                                    "private_kind": space.private_kind}}


def table_reference(table: dict, space) -> tuple[list, list[list[Evaluation]]]:
    """A table's assignments and its evaluations, one list per seed of the table."""
    entries = table["entries"]
    assignments = [space.parse(entry["assignment"]) for entry in entries]
    per_seed = [
        [Evaluation(dict(zip(space.tasks, entry["validation"][index], strict=True)))
         for entry in entries]
        for index in range(len(table["seeds"]))
    ]
    return assignments, per_seed


def main() -> None:
    args = parse_args()
    console = Console(width=200)
    tabular = None
    try:
        if args.table is not None:
            tabular = load_table(args.table)
        config, corpus, space = load_options(
            args, OPTIONS, DEFAULTS if tabular is None else table_defaults(tabular)
        )
        if tabular is not None and space != table_space(tabular):
            raise ConfigError(f"the table {args.table} covers {table_space(tabular)}; the options "
                              f"ask for {space}")
        splits = tabular and tabular.get("settings", {}).get("splits")
        here = [list(size) for size in corpus.split_sizes(space.tasks)]
        if splits and here != splits:
            raise ConfigError(f"the data split differently from the table's (task, training, "
                              f"validation examples): {here} here, {splits} there")
    except (ConfigError, FileNotFoundError, ValueError) as error:
        raise SystemExit(str(error)) from None
    tasks = space.tasks
    network = TrainConfig(**(tabular or {}).get("settings", {}).get("network", {}))
    if args.learning_rate is not None:
        network = dataclasses.replace(network, learning_rate=args.learning_rate)
    supernet_config = SupernetConfig(
        network, args.warmup, warmup_sampling=args.warmup_sampling,
        validation_limit=args.validation_limit, finetune_steps=args.finetune_steps,
    )
    if tabular is not None:
        assignments, per_seed = table_reference(tabular, space)
        reference_seeds = tabular["seeds"]
    else:
        rng = np.random.default_rng(args.assignment_seed)
        assignments = [space.sample(rng) for _ in range(args.assignments)]
        reference_seeds = args.reference_seeds
    record = {"data": config["data"], "space": config["space"], "table": args.table,
              "assignments": [space.format(a) for a in assignments]}
    runs = []
    with progress_bar(console) as progress:
        trained = None
        if tabular is None and reference_seeds:
            bar = progress.add_task(
                "stand-alone runs", total=len(assignments) * len(reference_seeds), status=""
            )
            start = time.perf_counter()
            per_seed = standalone(
                corpus, space, TrainConfig(), args, assignments, partial(progress.advance, bar)
            )
            record["standalone_seconds"] = time.perf_counter() - start
        if reference_seeds:
            # The reference is the mean over stand-alone seeds, task by task.
            trained = [
                Evaluation({
                    task: float(np.mean([evaluations[i].validation[task]
                                         for evaluations in per_seed]))
                    for task in tasks
                })
                for i in range(len(assignments))
            ]
            record["standalone_validation"] = [e.mean for e in trained]
            record["standalone_validation_per_task"] = [e.validation for e in trained]
            if len(per_seed) >= 2:
                first, second = per_seed[0], per_seed[1]
                pair = f"{reference_seeds[0]} vs {reference_seeds[1]}"
                runs.append({"seed": pair, "measure": "ceiling",
                             **dict(zip(("tau", "tau_per_task"),
                                        agreement(kendall_tau, first, second), strict=True))})
                bound = partial(perfect_reward_tau, seeds=len(per_seed))
                runs.append({"seed": pair, "measure": "bound",
                             **dict(zip(("tau", "tau_per_task"),
                                        agreement(bound, first, second), strict=True))})
                record["reference_reliability"] = reliability(
                    [e.mean for e in first], [e.mean for e in second], len(per_seed)
                )
                record["seed_difference"] = agreement(
                    lambda x, y: (float(np.median(np.abs(np.subtract(x, y)))),
                                  float(np.max(np.abs(np.subtract(x, y))))),
                    first, second,
                )
        for seed in args.seeds:
            progress.add_task(f"supernet seed {seed}", total=None, status="")
            start = time.perf_counter()
            supernet = SupernetEvaluator(
                corpus, space, supernet_config, seed=seed, cache_path=args.cache_path
            )
            scored = supernet.evaluate(assignments)
            run = {"seed": seed, "measure": "supernet",
                   "supernet_seconds": time.perf_counter() - start,
                   "supernet_reward": [e.mean for e in scored]}
            if trained is not None:
                run["tau"], run["tau_per_task"] = agreement(kendall_tau, scored, trained)
            if record.get("reference_reliability", 0) > 0:
                # The supernet's correlation with the reference, divided by the reference's
                # with its own expectation: the agreement it would show without that noise.
                run["tau_noise_free"] = tau_of(
                    math.sin(run["tau"] * math.pi / 2) / math.sqrt(record["reference_reliability"])
                )
            runs.append(run)

    drawn = f"the {args.table} table's" if tabular else "random"
    table = Table(title=f"Kendall τ over {len(assignments)} {drawn} assignments: supernet reward "
                        f"vs stand-alone validation accuracy, and stand-alone seed vs seed")
    for column in ("seed", "measure", "τ", *tasks):
        table.add_column(column, justify="right")
    summary = {}
    for measure in ("ceiling", "bound", "supernet"):
        found = [run for run in runs if run["measure"] == measure and "tau" in run]
        for run in found:
            table.add_row(str(run["seed"]), measure, f"{run['tau']:.3f}",
                          *(f"{run['tau_per_task'][task]:.2f}" for task in tasks))
        if measure == "supernet" and found:
            taus = np.array([run["tau"] for run in found])
            summary["tau_mean"], summary["tau_std"] = float(taus.mean()), float(taus.std())
            table.add_row("mean ± std", measure, f"{taus.mean():.3f} ± {taus.std():.3f}",
                          *(f"{np.mean([run['tau_per_task'][t] for run in found]):.2f}"
                            for t in tasks))
    console.print(table)
    if "standalone_validation" in record:
        means = 100 * np.array(record["standalone_validation"])
        console.print(f"stand-alone mean accuracy over tasks: {means.min():.1f}–{means.max():.1f} %"
                      " across the assignments")
    if "seed_difference" in record:
        overall, per_task = record["seed_difference"]
        cells = ", ".join(f"{task} {100 * m:.2f} / {100 * x:.2f}"
                          for task, (m, x) in per_task.items())
        first, second = reference_seeds[:2]
        console.print(f"|seed {first} − seed {second}| of an assignment, median / max points: "
                      f"mean over tasks {100 * overall[0]:.2f} / {100 * overall[1]:.2f}; {cells}")
    fixed = [next((i for i, a in enumerate(assignments) if np.array_equal(a, scheme)), None)
             for scheme in (space.all_private(), space.hard_sharing())]
    supernet_runs = [run for run in runs if run["measure"] == "supernet"]
    if reference_seeds and len(per_seed) >= 2 and None not in fixed and supernet_runs:
        counts = [k for k in args.finalist_counts if k <= len(assignments)]
        scores = np.array([[e.mean for e in evaluations] for evaluations in per_seed])
        for run in supernet_runs:
            run["finalist_gains"] = finalist_gains(scores, run["supernet_reward"], fixed, counts)
        summary["finalist_gains"] = finalists_table(supernet_runs, counts, len(per_seed), console)
    denoised = [run["tau_noise_free"] for run in runs if "tau_noise_free" in run]
    if denoised:
        summary["tau_noise_free_mean"] = float(np.mean(denoised))
        console.print("supernet τ against the noise-free stand-alone ranking (estimated from "
                      f"the reference's seed-to-seed correlation): "
                      f"{', '.join(f'{t:.3f}' for t in denoised)}; mean {np.mean(denoised):.3f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    output = args.output
    trained_seeds = [] if tabular else args.reference_seeds
    if len(args.seeds) + len(trained_seeds) == 1:
        # A one-seed process (of several run side by side) must not overwrite the others' file.
        kind = "seed" if args.seeds else "reference_seed"
        only = (args.seeds or trained_seeds)[0]
        output = output.with_name(f"{output.stem}_{kind}{only}{output.suffix}")
    output.write_text(json.dumps(
        {"config": {k: str(v) for k, v in vars(args).items()}, **record, "runs": runs, **summary},
        indent=1,
    ))
    console.print(f"wrote {output}")


if __name__ == "__main__":
    main()
