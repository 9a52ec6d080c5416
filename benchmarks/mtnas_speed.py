"""Speed and size of the mtnas rewards on real data: cached and uncached rewards, tabular steps.

Measures, side by side in one process:

* a cached supernet reward (a repeated assignment at the same supernet version);
* an uncached score (validation forward pass on the fixed subsets) and an uncached reward
  (one ENAS training step per task, then the score), over random assignments of the tasks (by
  default the six real ones: four FDU-MTL domains, CoNLL-2000 POS and chunk; ``--tasks`` and
  ``--task NAME=FILES`` as for ``skillgym mtnas``);
* steps per second of ``MTNAS-Tabular-v0`` under random actions;
* the process's peak resident memory.

    python benchmarks/mtnas_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.table import Table

import skillgym  # noqa: F401  (registers the ids)
from skillgym.envs.mtnas.datasets import BENCHMARK_TASKS
from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator
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
             "max_length": 64},
    "space": dict(SPACE_DEFAULTS),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_options(parser, OPTIONS, DEFAULTS)
    parser.add_argument("--assignments", type=int, default=30, help="uncached rewards timed")
    parser.add_argument("--cached-calls", type=int, default=2000)
    parser.add_argument("--tabular-steps", type=int, default=200_000)
    parser.add_argument("--output", type=Path, default=RESULTS / "mtnas_speed.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    console = Console(width=120)
    try:
        config, corpus, space = load_options(args, OPTIONS, DEFAULTS)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    evaluator = SupernetEvaluator(corpus, space, SupernetConfig(warmup_steps=20), seed=0)
    rng = np.random.default_rng(0)
    assignments = [space.sample(rng) for _ in range(args.assignments)]
    evaluator.evaluate(assignments[:1])  # builds and warms the supernet outside the timings

    # Wall time is what a search waits for; CPU time shows how much of it is contention from
    # other work on the shared cores.
    score_seconds, reward_seconds, score_cpu, reward_cpu = [], [], [], []
    for assignment in assignments:
        start, cpu = time.perf_counter(), time.process_time()
        evaluator.evaluate([assignment])
        score_seconds.append(time.perf_counter() - start)
        score_cpu.append(time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        evaluator.reward(assignment)
        reward_seconds.append(time.perf_counter() - start)
        reward_cpu.append(time.process_time() - cpu)

    cached = assignments[-1]
    assert evaluator.evaluate([cached])[0].cache_hit
    start = time.perf_counter()
    for _ in range(args.cached_calls):
        evaluator.evaluate([cached])
    cached_seconds = (time.perf_counter() - start) / args.cached_calls

    env = gym.make("skillgym/MTNAS-Tabular-v0").unwrapped
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, size=args.tabular_steps)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, _, _ = env.step(int(action))
        if terminated:
            env.reset()
    tabular_rate = args.tabular_steps / (time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows = [
        ("cached reward", f"{cached_seconds * 1e3:.3f} ms", "≤ 1 ms", cached_seconds <= 1e-3),
        ("uncached score (forward pass)",
         f"{np.median(score_seconds):.3f} s wall, {np.median(score_cpu):.3f} s CPU (medians)",
         "≤ 0.3 s", np.median(score_seconds) <= 0.3),
        ("uncached reward (train step + score)",
         f"{np.median(reward_seconds):.3f} s wall, {np.median(reward_cpu):.3f} s CPU (medians)",
         "≤ 0.3 s", np.median(reward_seconds) <= 0.3),
        ("tabular env", f"{tabular_rate:,.0f} steps/s", "≥ 10,000", tabular_rate >= 10_000),
        ("peak memory", f"{peak_mb:.0f} MB", "≤ 2048 MB", peak_mb <= 2048),
    ]
    table = Table(title=f"mtnas speed and size ({len(space.tasks)} tasks, {space.num_layers} "
                        f"layers, {space.num_options} options a slot)")
    for column in ("measure", "value", "target", "met"):
        table.add_column(column)
    for name, value, target, met in rows:
        table.add_row(name, value, target, "yes" if met else "no")
    console.print(table)
    load = os.getloadavg()[0]
    console.print(f"load average while measuring: {load:.1f} on {os.cpu_count()} cores")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "data": config["data"],
        "space": config["space"],
        "cached_reward_seconds": cached_seconds,
        "uncached_score_seconds": score_seconds,
        "uncached_reward_seconds": reward_seconds,
        "uncached_score_cpu_seconds": score_cpu,
        "uncached_reward_cpu_seconds": reward_cpu,
        "load_average": list(os.getloadavg()),
        "tabular_steps_per_second": tabular_rate,
        "peak_memory_mb": peak_mb,
    }, indent=1))
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
