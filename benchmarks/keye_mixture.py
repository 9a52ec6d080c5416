"""Build speed and sample lengths of the Keye cold-start mixture.

Builds the default mixture (50,000 samples, Keye's text-mode ratios, equal level weights, the
bootstrap accuracy table) in this process from cold caches, then again with the caches warm, and
times both (wall and process CPU). Also times the oracle's rendering alone: level-6 traces from
cold caches (per problem and per distinct operation the oracle runs). Then, per level and mode,
the byte lengths of traces, responses and whole samples (prompt + response; the model's context
is 512 bytes with the chat template's few tokens). Writes ``benchmarks/results/keye_mixture.json``.

Usage: ``python benchmarks/keye_mixture.py [--size 50000] [--seed 0]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from skillgym.envs.keye import tasks
from skillgym.envs.keye.mixture import MixtureConfig, build_mixture
from skillgym.envs.keye.tasks import iter_problems
from skillgym.envs.keye.traces import operation_lines, render_trace
from skillgym.training.bench import cpu_name

RESULTS = Path(__file__).resolve().parent / "results" / "keye_mixture.json"


def clear_caches() -> None:
    """Forget every cached trace and operation, as in a fresh process."""
    operation_lines.cache_clear()
    tasks._trace.cache_clear()


def timed(function, *args):
    """``function(*args)``, its wall seconds and its process CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def oracle_rendering(count: int, seed: int) -> dict:
    """Level-6 traces rendered from cold caches: time per problem and per oracle run."""
    stream = iter_problems(6, seed)
    texts = [next(stream).text for _ in range(count)]
    clear_caches()
    _, wall, cpu = timed(lambda: [render_trace(text) for text in texts])
    runs = operation_lines.cache_info().misses
    return {"problems": count, "oracle_runs": runs, "wall_seconds": wall, "cpu_seconds": cpu,
            "ms_per_problem": 1e3 * wall / count, "ms_per_oracle_run": 1e3 * wall / runs}


def summary(values: list[int]) -> dict:
    """Min, median, 95th percentile and max."""
    array = np.asarray(values)
    return {"n": int(array.size), "min": int(array.min()), "median": float(np.median(array)),
            "p95": float(np.percentile(array, 95)), "max": int(array.max())}


def lengths(samples: list[dict]) -> dict:
    """Byte lengths per (level, mode): responses and whole samples; traces per level."""
    grouped: dict[tuple, list[int]] = defaultdict(list)
    for sample in samples:
        prompt, response = (m["content"].encode() for m in sample["messages"])
        key = (sample["level"], sample["mode"])
        grouped[key + ("response",)].append(len(response))
        grouped[key + ("sample",)].append(len(prompt) + len(response))
        if sample["form"] == "think":
            thinking = response.partition(b"<think>")[2].partition(b"</think>")[0]
            grouped[(sample["level"], "trace")].append(len(thinking))
    return {" ".join(map(str, key)): summary(values) for key, values in sorted(grouped.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--oracle-problems", type=int, default=2_000)
    args = parser.parse_args()
    console = Console(width=120)
    cpu = cpu_name()

    config = MixtureConfig(size=args.size, seed=args.seed)
    clear_caches()
    samples, cold_wall, cold_cpu = timed(build_mixture, config)
    _, warm_wall, warm_cpu = timed(build_mixture, config)
    rendering = oracle_rendering(args.oracle_problems, args.seed + 1)

    speed = Table(title=f"Building {args.size:,} samples, one process, on {cpu}")
    for column in ("caches", "wall s", "CPU s", "samples/s"):
        speed.add_column(column, justify="right")
    speed.add_row("cold", f"{cold_wall:.1f}", f"{cold_cpu:.1f}", f"{args.size / cold_wall:,.0f}")
    speed.add_row("warm", f"{warm_wall:.1f}", f"{warm_cpu:.1f}", f"{args.size / warm_wall:,.0f}")
    console.print(speed)
    console.print(
        f"oracle rendering, level 6, cold caches: {rendering['ms_per_problem']:.2f} ms per "
        f"problem, {rendering['ms_per_oracle_run']:.2f} ms per oracle run "
        f"({rendering['oracle_runs']:,} runs for {rendering['problems']:,} problems) on {cpu}"
    )

    table = lengths(samples)
    shown = Table(title="Bytes per level and mode: median / 95th percentile / max")
    for column in ("level", "trace", "think response", "think sample", "no_think sample",
                   "auto_think sample", "auto_think samples"):
        shown.add_column(column, justify="right")

    def cell(key: str) -> str:
        row = table.get(key)
        return "-" if row is None else f"{row['median']:.0f} / {row['p95']:.0f} / {row['max']}"

    for level in tasks.LEVEL_NUMBERS:
        shown.add_row(str(level), cell(f"{level} trace"), cell(f"{level} think response"),
                      cell(f"{level} think sample"), cell(f"{level} no_think sample"),
                      cell(f"{level} auto_think sample"),
                      str(table.get(f"{level} auto_think sample", {"n": 0})["n"]))
    console.print(shown)
    forms = defaultdict(int)
    for sample in samples:
        forms[f"{sample['mode']} -> {sample['form']}"] += 1
    console.print("modes -> forms: " + ", ".join(f"{k}: {v:,}" for k, v in sorted(forms.items())))

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "cpu": cpu,
        "python": platform.python_version(),
        "size": args.size,
        "seed": args.seed,
        "cold": {"wall_seconds": cold_wall, "cpu_seconds": cold_cpu},
        "warm": {"wall_seconds": warm_wall, "cpu_seconds": warm_cpu},
        "oracle_rendering_level6": rendering,
        "forms": dict(forms),
        "bytes": table,
    }, indent=2))
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
