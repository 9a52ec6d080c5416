"""Searchers on a table of stand-alone accuracies: what each finds at an equal evaluation budget.

A table (``--table``: a ``skillgym mtnas build-table`` file with the reference backend, or a
shipped table's name; by default ``books-conll2000_pos``, every assignment of two real tasks ×
two layers trained from scratch with three seeds) is a search space whose every point is known,
so controllers can be compared over many seeds in seconds, NAS-Bench style. Each searcher runs
``--budget`` evaluations (rounds of ``--batch-size``, ``--rerank`` candidates re-scored at the
end), once per seed in ``--seeds``. Its rewards are one stand-alone run's mean validation
accuracy over tasks, a seed's row of the table drawn at random for every look-up
(``stochastic``: the noise a real search sees) from every seed but one, and the assignment it
returns is judged by the held-out seed's run: a training run the search never saw, so that a
choice is not judged by the very noise that made it look good. Each of the table's seeds
(``--judge-seeds``) judges in turn and the results are pooled. Beside the searchers, judged the
same way: the fixed schemes (single-task training, hard sharing), the exhaustive choice (the
best assignment on the seen seeds' mean), the judge's own best, and how far apart two
stand-alone runs of one assignment are (the noise a searcher must see through). All of it is
validation accuracy (a table holds no test scores), on one validation split per task.

    python benchmarks/mtnas_tabular.py
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from skillgym.agents.mtnas_search import run_search
from skillgym.envs.mtnas.table import TableEvaluator, load_table, table_space
from skillgym.threads import Threads, set_threads
from skillgym.training.bench import cpu_name, machine
from skillgym.training.recipes.mtnas_search import SEARCHERS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mtnas_tabular.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="books-conll2000_pos",
                        help="a table file or a shipped table's name")
    parser.add_argument("--searchers", nargs="+", default=["reinforce", "evolution", "random"],
                        choices=sorted(SEARCHERS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    parser.add_argument("--budget", type=int, default=16, help="evaluations per search")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rerank", type=int, default=3)
    parser.add_argument("--judge-seeds", type=int, nargs="*", default=None,
                        help="the table's seeds that judge in turn, each hidden from the searches "
                             "it judges (default: all)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def split(table: dict, held_out: int) -> tuple[dict, dict[str, float]]:
    """The table without seed row ``held_out`` (what the searches see), and the held-out run's
    mean validation accuracy over tasks of every assignment (the judge)."""
    seen = {**table, "seeds": [s for i, s in enumerate(table["seeds"]) if i != held_out],
            "entries": [{**entry, "validation": [row for i, row in enumerate(entry["validation"])
                                                 if i != held_out]}
                        for entry in table["entries"]]}
    judge = {entry["assignment"]: float(np.mean(entry["validation"][held_out]))
             for entry in table["entries"]}
    return seen, judge


def main() -> None:
    args = parse_args()
    console = Console(width=160)
    set_threads(Threads())  # the searchers' small networks: one thread is the fast choice here
    table = load_table(args.table)
    space = table_space(table)
    seeds = table["seeds"]
    judges = args.judge_seeds or seeds
    if len(seeds) < 2 or any(seed not in seeds for seed in judges):
        raise SystemExit(f"judge seeds must be among the table's seeds {seeds}, and the table "
                         "needs two or more (one judges, the others are seen)")
    fixed = {"single-task": space.format(space.all_private()),
             "hard sharing": space.format(space.hard_sharing())}
    rows: dict[str, list[dict]] = {}
    for judge_seed in judges:
        seen, judge = split(table, seeds.index(judge_seed))
        ranked = sorted(judge.values(), reverse=True)

        def record(name: str, assignment: str, seconds: float | None = None,
                   judge=judge, ranked=ranked, judge_seed=judge_seed) -> None:
            value = judge[assignment]
            rows.setdefault(name, []).append({
                "judge_seed": judge_seed, "assignment": assignment, "judged": value,
                "gain_vs_single_task": value - judge[fixed["single-task"]],
                "regret": ranked[0] - value, "rank": 1 + sum(v > value for v in ranked),
                "seconds": seconds})

        for method in args.searchers:
            for seed in args.seeds:
                start = time.perf_counter()
                evaluator = TableEvaluator(seen, mode="stochastic", seed=10_000 + seed)
                result = run_search(SEARCHERS[method](space, seed, args.batch_size), evaluator,
                                    args.budget, args.batch_size, args.rerank)
                record(method, space.format(result.best), time.perf_counter() - start)
        for name, assignment in fixed.items():
            record(name, assignment)
        # The assignment best on the seen seeds' mean: what an exhaustive search would pick.
        record("exhaustive", max(seen["entries"],
                                 key=lambda entry: np.mean(entry["validation"]))["assignment"])
        record("judge's best", max(judge, key=judge.get))

    view = Table(title=f"{args.table}: {len(table['entries'])} assignments, budget "
                       f"{args.budget}, {len(args.seeds)} search seeds; each table seed in turn "
                       f"judges (its run's mean validation accuracy, %) what the searches chose "
                       f"seeing the others ({cpu_name()})")
    for column in ("method", "judged accuracy", "vs single-task", "regret to best",
                   "median rank", "beats single-task", "seconds a search"):
        view.add_column(column, justify="right")
    summary = {}
    for name, found in rows.items():
        judged = np.array([row["judged"] for row in found])
        gains = np.array([row["gain_vs_single_task"] for row in found])
        timed = [row["seconds"] for row in found if row["seconds"] is not None]
        summary[name] = {
            "judged_mean": float(judged.mean()), "judged_std": float(judged.std()),
            "gain_vs_single_task": float(gains.mean()),
            "regret": float(np.mean([row["regret"] for row in found])),
            "median_rank": float(np.median([row["rank"] for row in found])),
            "beats_single_task": float(np.mean(gains > 0)),
            "seconds": float(np.mean(timed)) if timed else None,
        }
        entry = summary[name]
        view.add_row(name, f"{100 * entry['judged_mean']:.2f} ± {100 * entry['judged_std']:.2f}",
                     f"{100 * entry['gain_vs_single_task']:+.2f}", f"{100 * entry['regret']:.2f}",
                     f"{entry['median_rank']:.0f}",
                     f"{100 * entry['beats_single_task']:.0f} %" if timed else "",
                     f"{entry['seconds']:.3f}" if timed else "")
    console.print(view)
    runs = np.array([np.mean(entry["validation"], axis=1) for entry in table["entries"]])
    spread = float(np.median(np.abs(runs[:, 0] - runs[:, 1])))
    console.print(f"two stand-alone runs of one assignment differ by {100 * spread:.2f} points "
                  f"(median over assignments, seeds {seeds[0]} and {seeds[1]}, mean over tasks)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "machine": machine(), "args": {**vars(args), "output": str(args.output)},
        "assignments": len(table["entries"]), "judge_seeds": judges, "seed_spread": spread,
        "summary": summary, "runs": rows,
    }, indent=1) + "\n")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
