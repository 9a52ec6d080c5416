"""Speed of the global n-gram repetition penalty, end to end through the TRL adapter, against
open-r1's formula in plain Python, on token ids and on text.

Two workloads, each a batch of 1,024 completions, scored in one process on one thread
(numpy/BLAS thread pools limited through the environment before numpy is imported):

- **ids**: 1,024 completions of 1,024 token ids, as TRL's ``GRPOTrainer`` hands them to a reward
  function: a list of Python lists. Zipf-distributed ids below a Qwen-sized vocabulary, and a
  quarter of the completions degenerating into a repeated stretch.
- **text**: 1,024 completions of 1,024 words, from a Zipf-distributed vocabulary of made-up
  words (some capitalized, some with punctuation), a quarter degenerating the same way.

The variants, side by side on the same batches:

- ``reference``: open-r1's ``get_repetition_penalty_reward`` in plain Python (a set of n-gram
  tuples per completion; for text, of ``text.lower().split()``), the way open-r1 and TRL
  compute it;
- ``TRL adapter``: ``TRLRewardFunction("repetition_penalty", unit=...)`` called the way
  ``GRPOTrainer`` calls it, ``f(prompts=, completions=, completion_ids=)`` (``completion_ids``
  are passed with text too, as TRL does; the text units do not read them). This is the end to
  end figure: building the samples, converting or tokenizing, counting;
- the parts of the adapter's work, for where the time goes: converting the lists to one flat
  batch (``as_ids_batch``) and counting it on the OpenCL kernel
  (``skillgym.rewards.ngram_kernel``, PoCL's single-threaded CPU device); for text the kernel
  splits and counts the words itself;
- the array code (``SKILLGYM_OPENCL=off``, the road without an OpenCL device): the adapter end
  to end, and its parts, tokenizing the texts (``unit_ids``) and counting on the flat batch
  (``global_penalties``); for ids also the counting from a ``(1024, 1024)`` array.

Every variant's values are checked to equal the reference's exactly before they are timed.
The OpenCL program is built (or loaded from its cache) before the timing. Each variant is timed
by the wall clock and by this thread's CPU time (on a shared machine the
wall clock also counts the time other processes held the core, the CPU time only the work done
on it), as the best of 3 calls per batch, the median over batches, the variants round-robin per
batch. Prints a table per workload and writes ``benchmarks/results/rewards.json``.

Usage: ``python benchmarks/rewards.py [--batches 5] [--ngram-size 3] [--seed 0]``
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "POCL_MAX_PTHREAD_COUNT"):
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

from skillgym.kernels.device import ENV_DEVICE  # noqa: E402
from skillgym.rewards.adapters import TRLRewardFunction  # noqa: E402
from skillgym.rewards.base import as_ids_batch  # noqa: E402
from skillgym.rewards.ngram_kernel import NgramKernel, ngram_kernel  # noqa: E402
from skillgym.rewards.repetition import global_penalties, penalties_from_counts  # noqa: E402
from skillgym.rewards.units import unit_ids  # noqa: E402
from skillgym.training.bench import cpu_name  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
COMPLETIONS, LENGTH, VOCABULARY = 1024, 1024, 151_936  # Qwen-sized token vocabulary
WORDS = 50_000  # made-up words in the text vocabulary
TARGET_SPEEDUP, TARGET_RATE = 10.0, 20_000


def reference_penalties(completions: list, ngram_size: int, max_penalty: float,
                        text: bool) -> list[float]:
    """open-r1's repetition penalty in plain Python: on ``text.lower().split()`` for text, on
    the ids themselves for token ids (TRL's variant)."""
    rewards = []
    for completion in completions:
        if text and completion == "":
            rewards.append(0.0)
            continue
        units = completion.lower().split() if text else completion
        if len(units) < ngram_size:
            rewards.append(0.0)
            continue
        ngrams = set()
        total = 0
        for ngram in zip(*[units[i:] for i in range(ngram_size)], strict=False):
            ngrams.add(ngram)
            total += 1
        rewards.append((1 - len(ngrams) / total) * max_penalty)
    return rewards


def zipf_rows(rng: np.random.Generator, vocabulary: int) -> np.ndarray:
    """``(COMPLETIONS, LENGTH)`` Zipf-distributed ids, a quarter of the rows degenerating into
    a repeated stretch from a random point on."""
    ids = (rng.zipf(1.3, size=(COMPLETIONS, LENGTH)) % vocabulary).astype(np.int64)
    for row in rng.choice(COMPLETIONS, COMPLETIONS // 4, replace=False):
        start, period = int(rng.integers(0, LENGTH // 2)), int(rng.integers(1, 40))
        unit = ids[row, start:start + period].copy()
        ids[row, start + period:] = np.resize(unit, LENGTH - start - period)
    return ids


def make_vocabulary(rng: np.random.Generator) -> list[str]:
    """Made-up words of 1-12 letters, some capitalized or followed by punctuation."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = []
    for length in rng.integers(1, 13, WORDS):
        word = "".join(rng.choice(letters, length))
        decoration = rng.random()
        if decoration < 0.1:
            word = word.capitalize()
        elif decoration < 0.15:
            word += str(rng.choice([",", ".", ":", ";"]))
        words.append(word)
    return words


def make_texts(rng: np.random.Generator, vocabulary: list[str]) -> list[str]:
    """1,024 texts of 1,024 words, with the same statistics as the ids."""
    rows = zipf_rows(rng, len(vocabulary))
    words = np.array(vocabulary, dtype=object)
    return [" ".join(words[row].tolist()) for row in rows]


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


Variants = dict[str, Callable[[], list[float] | None]]


def part(function: Callable[[], object]) -> Callable[[], None]:
    """A part of the adapter's work, timed for itself: no scores to check."""
    def call() -> None:
        function()
    return call


def on_array_code(function: Callable[[], list[float] | None]) -> Callable[[], list[float] | None]:
    """``function`` run without the OpenCL device (``SKILLGYM_OPENCL=off``): the array code."""
    def call() -> list[float] | None:
        previous = os.environ.get(ENV_DEVICE)
        os.environ[ENV_DEVICE] = "off"
        try:
            return function()
        finally:
            if previous is None:
                del os.environ[ENV_DEVICE]
            else:
                os.environ[ENV_DEVICE] = previous
    return call


def ids_variants(array: np.ndarray, lists: list[list[int]], ngram_size: int,
                 max_penalty: float, kernel: NgramKernel | None) -> Variants:
    """The ids workload's variants on one batch; parts are indented."""
    trl = TRLRewardFunction("repetition_penalty", unit="tokens", ngram_size=ngram_size,
                            max_penalty=max_penalty)
    prompts, completions = [""] * len(lists), [""] * len(lists)
    flat = as_ids_batch(lists)[0]
    adapter = lambda: trl(prompts=prompts, completions=completions,  # noqa: E731
                          completion_ids=lists)
    variants: Variants = {
        "reference (plain Python)": lambda: reference_penalties(lists, ngram_size, max_penalty,
                                                                text=False),
        'TRL adapter, unit="tokens"': adapter,
        "  part: lists to one flat batch": part(lambda: as_ids_batch(lists)),
    }
    if kernel is not None:
        variants["  part: counting on the kernel, from the flat batch"] = lambda: (
            penalties_from_counts(*kernel.id_counts(flat, ngram_size), max_penalty).tolist())
    variants.update({
        'array code: TRL adapter, unit="tokens"': on_array_code(adapter),
        "  part: counting, from the flat batch": lambda: global_penalties(
            flat, ngram_size, max_penalty).tolist(),
        "  part: counting, from a (1024, 1024) array": lambda: global_penalties(
            array, ngram_size, max_penalty).tolist(),
    })
    return variants


def text_variants(texts: list[str], lists: list[list[int]], ngram_size: int,
                  max_penalty: float, kernel: NgramKernel | None) -> Variants:
    """The text workload's variants on one batch; parts are indented."""
    prompts = [""] * len(texts)
    variants: Variants = {
        "reference (plain Python)": lambda: reference_penalties(texts, ngram_size, max_penalty,
                                                                text=True)}
    adapters = {}
    for unit in ("words", "auto"):
        trl = TRLRewardFunction("repetition_penalty", unit=unit, ngram_size=ngram_size,
                                max_penalty=max_penalty)
        adapters[unit] = (
            lambda trl=trl: trl(prompts=prompts, completions=texts, completion_ids=lists))
        variants[f'TRL adapter, unit="{unit}"'] = adapters[unit]
    if kernel is not None:
        variants["  part: splitting and counting on the kernel"] = lambda: (
            penalties_from_counts(*kernel.word_counts(texts, ngram_size, True),
                                  max_penalty).tolist())
    variants['array code: TRL adapter, unit="words"'] = on_array_code(adapters["words"])
    words = unit_ids(texts, "words")
    variants['  part: tokenizing, unit="words"'] = part(lambda: unit_ids(texts, "words"))
    variants["  part: counting, from the flat batch"] = lambda: global_penalties(
        words, ngram_size, max_penalty).tolist()
    return variants


def run(workload: str, batches: list[Variants], progress: Progress) -> list[dict]:
    """Time every variant on every batch, round-robin, checking scores against the
    reference's; the rows of the workload's table."""
    names = list(batches[0])
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    task = progress.add_task(f"{workload}: scoring batches", total=len(batches) * len(names))
    for variants in batches:
        expected = None
        for name, function in variants.items():
            elapsed, elapsed_cpu, values = timed(function, repeats=3)
            if expected is None:
                expected = values
            elif values is not None and values != expected:
                raise SystemExit(f"{workload}: {name} differs from the reference")
            wall[name].append(elapsed)
            cpu[name].append(elapsed_cpu)
            progress.advance(task)
    reference = statistics.median(wall[names[0]])
    reference_cpu = statistics.median(cpu[names[0]])
    rows = []
    for name in names:
        median, median_cpu = statistics.median(wall[name]), statistics.median(cpu[name])
        rows.append({"variant": name.strip(), "part": name.startswith(" "),
                     "seconds_per_batch": median,
                     "completions_per_second": COMPLETIONS / median,
                     "speedup_vs_reference": reference / median,
                     "cpu_seconds_per_batch": median_cpu,
                     "completions_per_cpu_second": COMPLETIONS / median_cpu,
                     "cpu_speedup_vs_reference": reference_cpu / median_cpu})
    return rows


def table(title: str, rows: list[dict]) -> Table:
    """A workload's rows as a rich table."""
    result = Table(title=title)
    for column in ("variant", "ms / batch", "completions / s", "vs reference",
                   "CPU ms / batch", "per CPU s", "CPU vs reference"):
        result.add_column(column, justify="left" if column == "variant" else "right")
    for row in rows:
        speedups = ("", "") if row["part"] else (f"{row['speedup_vs_reference']:.1f}x",
                                                 f"{row['cpu_speedup_vs_reference']:.1f}x")
        result.add_row(("  " if row["part"] else "") + row["variant"],
                       f"{row['seconds_per_batch'] * 1e3:.1f}",
                       "" if row["part"] else f"{row['completions_per_second']:,.0f}",
                       speedups[0], f"{row['cpu_seconds_per_batch'] * 1e3:.1f}",
                       "" if row["part"] else f"{row['completions_per_cpu_second']:,.0f}",
                       speedups[1])
    return result


def main() -> None:
    """Time both workloads, print their tables and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=5, help="batches timed per variant")
    parser.add_argument("--ngram-size", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    max_penalty, machine = -1.0, cpu_name()
    kernel = ngram_kernel()
    if kernel is not None:  # built (or loaded from the cache) before anything is timed
        kernel.id_counts(as_ids_batch([[1, 2, 3]])[0], args.ngram_size)
        kernel.word_counts(["a b c"], args.ngram_size, True)
    vocabulary = make_vocabulary(rng)
    arrays = [zipf_rows(rng, VOCABULARY) for _ in range(args.batches)]
    id_lists = [array.tolist() for array in arrays]
    texts = [make_texts(rng, vocabulary) for _ in range(args.batches)]
    workloads = {
        "ids": [ids_variants(array, lists, args.ngram_size, max_penalty, kernel)
                for array, lists in zip(arrays, id_lists, strict=True)],
        "text": [text_variants(batch, lists, args.ngram_size, max_penalty, kernel)
                 for batch, lists in zip(texts, id_lists, strict=True)],
    }
    console, results = Console(width=120), {}
    with Progress(transient=True) as progress:
        for workload, batches in workloads.items():
            results[workload] = run(workload, batches, progress)
    for workload, rows in results.items():
        units = "token ids (Python lists)" if workload == "ids" else "words (text)"
        console.print(table(
            f"global {args.ngram_size}-gram penalty, {COMPLETIONS} completions x {LENGTH} "
            f"{units}, one thread on {machine}; median over {args.batches} batches of the best "
            "of 3; parts indented", rows))
        adapter = rows[1]
        console.print(f"{workload}: TRL adapter {adapter['speedup_vs_reference']:.1f}x the "
                      f"reference (target {TARGET_SPEEDUP:.0f}x), "
                      f"{adapter['completions_per_second']:,.0f} completions/s"
                      + (f" (target {TARGET_RATE:,})" if workload == "ids" else ""))

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rewards.json").write_text(json.dumps({
        "benchmark": "global n-gram repetition penalty, end to end through the TRL adapter",
        "completions": COMPLETIONS, "length": LENGTH, "ngram_size": args.ngram_size,
        "batches": args.batches, "seed": args.seed, "threads": 1, "cpu": machine,
        "opencl_device": kernel.device.name if kernel is not None else None,
        "numpy": np.__version__, "python": platform.python_version(),
        "identical_to_reference": True, "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
