"""Speed of the global n-gram repetition penalty against a plain-Python open-r1 implementation.

Batches of 1,024 completions of 1,024 token ids are scored, in one process pinned to one thread
(numpy/BLAS thread pools limited through the environment before numpy is imported), by:

- ``reference``: open-r1's formula in plain Python (a set of n-gram tuples per completion),
  the way open-r1 and TRL compute it;
- ``numpy, from lists``: :func:`skillgym.rewards.repetition.global_penalties` on the Python
  lists a trainer hands over (conversion included);
- ``numpy, from array``: the same from a ``(1024, 1024)`` integer array (e.g. a padded tensor);
- ``TRL adapter``: the full ``reward_func(prompts=, completions=, completion_ids=)`` call.

Every variant's values are checked to equal the reference's exactly before it is timed. Each is
timed by the wall clock and by this thread's CPU time: on a shared machine the wall clock also
counts the time other processes held the core, the CPU time only the work done on it. Prints a
table and writes ``benchmarks/results/rewards.json``.

Usage: ``python benchmarks/rewards.py [--batches 5] [--ngram-size 3]``
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from skillgym.rewards.adapters import TRLRewardFunction  # noqa: E402
from skillgym.rewards.ngrams import as_batch  # noqa: E402
from skillgym.rewards.repetition import global_penalties  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
COMPLETIONS, TOKENS, VOCABULARY = 1024, 1024, 151_936  # Qwen-sized vocabulary


def reference_penalties(completion_ids: list[list[int]], ngram_size: int,
                        max_penalty: float) -> list[float]:
    """open-r1's repetition penalty formula in plain Python, on token ids."""
    rewards = []
    for ids in completion_ids:
        if len(ids) < ngram_size:
            rewards.append(0.0)
            continue
        ngrams = set()
        total = 0
        for ngram in zip(*[ids[i:] for i in range(ngram_size)], strict=False):
            ngrams.add(ngram)
            total += 1
        rewards.append((1 - len(ngrams) / total) * max_penalty)
    return rewards


def make_batch(rng: np.random.Generator) -> np.ndarray:
    """Token ids with the statistics of model output: Zipf-distributed ids, and a quarter of
    the completions degenerating into a repeated stretch."""
    ids = (rng.zipf(1.3, size=(COMPLETIONS, TOKENS)) % VOCABULARY).astype(np.int64)
    for row in rng.choice(COMPLETIONS, COMPLETIONS // 4, replace=False):
        start, period = int(rng.integers(0, TOKENS // 2)), int(rng.integers(1, 40))
        unit = ids[row, start:start + period].copy()
        ids[row, start + period:] = np.resize(unit, TOKENS - start - period)
    return ids


def timed(function: Callable[[], list[float]],
          repeats: int) -> tuple[float, float, list[float]]:
    """The best wall time and the best CPU time of this thread over ``repeats`` calls (as
    ``timeit`` reports: the run least disturbed by other work on the machine), and the last
    result."""
    wall, cpu, result = [], [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        result = function()
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return min(wall), min(cpu), result


def main() -> None:
    """Time every variant on the same batches, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=5, help="batches timed per variant")
    parser.add_argument("--ngram-size", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    max_penalty = -1.0
    batches = [make_batch(rng) for _ in range(args.batches)]
    variants: dict[str, Callable[[np.ndarray, list[list[int]]], Callable[[], list[float]]]] = {
        "reference (plain Python)": lambda array, lists: lambda: reference_penalties(
            lists, args.ngram_size, max_penalty),
        "numpy, from lists": lambda array, lists: lambda: global_penalties(
            as_batch(lists), args.ngram_size, max_penalty).tolist(),
        "numpy, from array": lambda array, lists: lambda: global_penalties(
            array, args.ngram_size, max_penalty).tolist(),
        "TRL adapter, from lists": lambda array, lists: lambda: trl(
            prompts=prompts, completions=completions, completion_ids=lists),
    }
    trl = TRLRewardFunction("repetition_penalty", unit="tokens", ngram_size=args.ngram_size,
                            max_penalty=max_penalty)
    prompts, completions = [""] * COMPLETIONS, [""] * COMPLETIONS

    seconds: dict[str, list[float]] = {name: [] for name in variants}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in variants}
    with Progress(transient=True) as progress:
        task = progress.add_task("scoring batches", total=len(batches) * len(variants))
        for array in batches:
            lists = array.tolist()
            expected = None
            # Round-robin over the variants per batch, so that CPU noise hits them all alike.
            for name, make in variants.items():
                elapsed, cpu, values = timed(make(array, lists), repeats=3)
                if expected is None:
                    expected = values
                elif values != expected:
                    raise SystemExit(f"{name} differs from the reference")
                seconds[name].append(elapsed)
                cpu_seconds[name].append(cpu)
                progress.advance(task)

    reference = statistics.median(seconds["reference (plain Python)"])
    reference_cpu = statistics.median(cpu_seconds["reference (plain Python)"])
    rows = []
    for name, times in seconds.items():
        median, median_cpu = statistics.median(times), statistics.median(cpu_seconds[name])
        rows.append({"variant": name, "seconds_per_batch": median,
                     "completions_per_second": COMPLETIONS / median,
                     "speedup_vs_reference": reference / median,
                     "cpu_seconds_per_batch": median_cpu,
                     "completions_per_cpu_second": COMPLETIONS / median_cpu,
                     "cpu_speedup_vs_reference": reference_cpu / median_cpu})
    table = Table(title=f"global {args.ngram_size}-gram penalty, {COMPLETIONS} completions x "
                        f"{TOKENS} tokens, one thread, median over {len(batches)} batches of "
                        "the best of 3")
    for column in ("variant", "ms / batch", "completions / s", "vs reference",
                   "CPU ms / batch", "per CPU s", "CPU vs reference"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for row in rows:
        table.add_row(row["variant"], f"{row['seconds_per_batch'] * 1e3:.1f}",
                      f"{row['completions_per_second']:,.0f}",
                      f"{row['speedup_vs_reference']:.1f}x",
                      f"{row['cpu_seconds_per_batch'] * 1e3:.1f}",
                      f"{row['completions_per_cpu_second']:,.0f}",
                      f"{row['cpu_speedup_vs_reference']:.1f}x")
    Console().print(table)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rewards.json").write_text(json.dumps({
        "benchmark": "global n-gram repetition penalty",
        "completions": COMPLETIONS, "tokens": TOKENS, "ngram_size": args.ngram_size,
        "batches": len(batches), "threads": 1, "numpy": np.__version__,
        "machine": platform.processor() or platform.machine(),
        "identical_to_reference": True, "results": rows,
    }, indent=2))


if __name__ == "__main__":
    main()
