"""Environment throughput: steps/s of every single env, and batched twins vs ``SyncVectorEnv``.

Every registered id is stepped alone with random actions by Gymnasium's
``gymnasium.utils.performance.benchmark_step``. Every id with a ``vector_entry_point`` is then
stepped as its natively batched twin and as ``SyncVectorEnv`` of single envs, at each count of
sub-environments (16, 256 and 4,096 by default), side by side in one run (alternating rounds)
with random actions, each for a bounded time. Envs with ``action_masks()`` get random *legal*
actions, drawn from the mask of the moment (``benchmark_step`` times that draw with the step, as
it does any action sampling; the batched-vs-sync comparison times ``step()`` alone, for both).

The ids come from the registry, so new families are covered as they land. The table shows
steps/s (sub-environment steps, i.e. batch steps × num_envs) and the batched/sync ratio; the
JSON goes to ``benchmarks/results/env_throughput.json``. The measuring code is
``skillgym.training.bench``, which ``skillgym bench`` runs too.

    python benchmarks/env_throughput.py                  # everything
    python benchmarks/env_throughput.py --ids AEC-Add-v0 --counts 4096
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import skillgym  # noqa: F401  (registers the ids)
from skillgym.envs.registration import entries
from skillgym.training.bench import (
    BenchError,
    machine,
    measure,
    resolve_ids,
    single_table,
    vector_table,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# The targets: (id, steps/s) for a single env, (id, num_envs, ratio) for a batched one.
SINGLE_TARGET = ("skillgym/AEC-Add-v0", 20_000.0)
BATCHED_TARGET = ("skillgym/AEC-Add-v0", 4096, 50.0)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="+", default=None,
                        help="ids to measure, with or without 'skillgym/' (default: all)")
    parser.add_argument("--counts", type=int, nargs="+", default=[16, 256, 4096],
                        help="numbers of sub-environments for batched vs SyncVectorEnv")
    parser.add_argument("--single-seconds", type=float, default=1.0,
                        help="time per single-env measurement")
    parser.add_argument("--vector-seconds", type=float, default=2.0,
                        help="time per batched or SyncVectorEnv measurement")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternating rounds the vector-seconds are split into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS / "env_throughput.json")
    return parser.parse_args()


def targets(single: list[dict], batched: list[dict]) -> list[dict[str, Any]]:
    """The issue's two targets, with the measured value (None when the id is not registered)."""
    env_id, threshold = SINGLE_TARGET
    single_rate = next((row["steps_per_s"] for row in single if row["id"] == env_id), None)
    batched_id, count, ratio = BATCHED_TARGET
    batched_ratio = next(
        (row["ratio"] for row in batched if row["id"] == batched_id and row["num_envs"] == count),
        None,
    )
    return [
        {"target": f"single {env_id} steps/s", "threshold": threshold, "measured": single_rate},
        {"target": f"batched {batched_id} / SyncVectorEnv at {count} envs", "threshold": ratio,
         "measured": batched_ratio},
    ]


def main() -> None:
    args = parse_args()
    console = Console(width=160)
    try:
        ids = [entry.id for entry in entries()] if args.ids is None else resolve_ids(args.ids)
        single, batched = measure(ids, args.counts, args.single_seconds, args.vector_seconds,
                                  args.rounds, args.seed, console=console)
    except BenchError as error:
        raise SystemExit(f"env_throughput: {error}") from None
    console.print(single_table(single))
    console.print(vector_table(batched))
    goals = targets(single, batched)
    table = Table(title="targets")
    for column in ("target", "threshold", "measured", "met"):
        table.add_column(column)
    for goal in goals:
        measured = goal["measured"]
        goal["met"] = None if measured is None else measured >= goal["threshold"]
        table.add_row(goal["target"], f"≥ {goal['threshold']:,.0f}",
                      "not registered" if measured is None else f"{measured:,.1f}",
                      {None: "-", True: "yes", False: "NO"}[goal["met"]])
    console.print(table)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "settings": {key: (str(value) if isinstance(value, Path) else value)
                     for key, value in vars(args).items()},
        "machine": machine(),
        "single": single,
        "batched": batched,
        "targets": goals,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
