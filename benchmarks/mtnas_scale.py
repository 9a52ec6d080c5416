"""A table of stand-alone accuracies on Ray: throughput with 1 and 2 workers here, the per-task
overhead, a scaling model to N workers, and what Ray costs in memory on this machine.

The cells are the ``mtnas-table`` recipe's with the reference backend (one stand-alone training
per seed and assignment) on real data: FDU-MTL books and CoNLL-2000 POS from ``../shared/data``,
one layer, {cnn3, identity} plus a private cnn3 (9 assignments a seed; ``--set`` changes any key
of the recipe's configuration), ``--epochs`` 4: about 13 s a cell here. In one run: the cells
one after another in this process, then as Ray tasks on a cluster started here with 1 worker
CPU, then with 2. The three tables must be equal. Reported:

* wall-clock of each build and cells per minute;
* the per-task overhead, (1-worker build − local build) / cells: scheduling, shipping the work
  and the results, as a share of a cell; the workers are started before (a process each,
  importing torch and skillgym), and that time is reported apart;
* a model fitted to the two Ray builds, ``T(N) = a + b · ceil(C / N)`` for ``C`` cells on ``N``
  workers, printed for more workers and for a larger table (``--cells``);
* ``ray.init``'s time and the resident memory of Ray's processes (idle, after start).

    python benchmarks/mtnas_scale.py
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from skillgym.envs.mtnas.table import all_assignments, build_table
from skillgym.integrations.ray_executor import RayExecutor
from skillgym.threads import Threads, set_threads
from skillgym.training.bench import cpu_name, machine
from skillgym.training.config import resolve
from skillgym.training.recipes import get_recipe
from skillgym.training.recipes.mtnas_options import load_corpus, search_space
from skillgym.training.recipes.mtnas_table import SeedEvaluator

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "mtnas_scale.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=4, help="stand-alone epochs per cell")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="mtnas-table configuration overrides, e.g. network.dim=64")
    parser.add_argument("--cells", type=int, default=3**6 * 3,
                        help="a larger table's cells, for the model's forecast")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def ray_memory_mb() -> float:
    """Resident memory of this process's children (Ray's server, raylet and workers), MB."""
    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def _start_worker(_: int) -> None:
    """A first task for a worker: the imports a cell needs, then a moment, so that each
    worker gets one."""
    import skillgym.envs.mtnas.reference  # noqa: F401

    time.sleep(1)


def main() -> None:
    args = parse_args()
    console = Console()
    set_threads(Threads())
    config = resolve(get_recipe("mtnas-table").defaults, None, [
        "backend=reference", f"reference.epochs={args.epochs}", f"seeds={args.seeds}",
        "space.layers=1", 'data.tasks=["books", "conll2000_pos"]', f"data.root={DATA}",
        *args.set])
    space = search_space(config)
    evaluators = SeedEvaluator.of(config, load_corpus(config["data"]), space)
    cells = len(all_assignments(space)) * len(args.seeds)
    console.print(f"{cells} cells: {space.tasks}, {args.epochs} epochs, seeds {args.seeds}")

    start = time.perf_counter()
    local = build_table(space, evaluators, args.seeds, "reference")
    builds = {"local": time.perf_counter() - start}
    memory, init, started = {}, {}, {}
    for workers in (1, 2):
        start = time.perf_counter()
        with RayExecutor(cpus=1, local_cpus=workers) as executor:
            init[workers] = time.perf_counter() - start
            time.sleep(2)  # the processes settle
            memory[workers] = ray_memory_mb()
            # The workers start first (a process each, importing torch and skillgym): a cost
            # per worker, not per task, measured apart.
            start = time.perf_counter()
            list(executor.map(_start_worker, range(workers)))
            started[workers] = time.perf_counter() - start
            start = time.perf_counter()
            table = build_table(space, evaluators, args.seeds, "reference", executor=executor)
            builds[f"ray-{workers}"] = time.perf_counter() - start
        if table != local:
            raise SystemExit(f"the table built on {workers} Ray worker(s) differs from the local "
                             "one")

    per_cell = builds["local"] / cells
    overhead = (builds["ray-1"] - builds["local"]) / cells
    # T(N) = a + b * ceil(C / N), through the 1- and 2-worker builds
    slope = (builds["ray-1"] - builds["ray-2"]) / (cells - math.ceil(cells / 2))
    intercept = builds["ray-1"] - slope * cells

    def model(workers: int, count: int) -> float:
        return intercept + slope * math.ceil(count / workers)

    summary = Table(title=f"build-table on Ray, {cpu_name()}")
    for column in ("build", "wall s", "cells/min", "equal to local"):
        summary.add_column(column, justify="right")
    for name, seconds in builds.items():
        summary.add_row(name, f"{seconds:.1f}", f"{60 * cells / seconds:.1f}", "yes")
    console.print(summary)
    console.print(f"a cell: {per_cell:.1f} s here; per-task overhead on Ray: {overhead:.2f} s "
                  f"({100 * overhead / per_cell:.1f} % of a cell); model T(N) = "
                  f"{intercept:.1f} + {slope:.2f} · ceil(C/N) s")
    console.print(f"ray.init: {init[1]:.1f} s (1 CPU), {init[2]:.1f} s (2 CPUs); workers "
                  f"started (before the builds): {started[1]:.1f} s, {started[2]:.1f} s; Ray's "
                  f"processes idle: {memory[1]:.0f} MB (1 CPU), {memory[2]:.0f} MB (2 CPUs)")
    rows = []
    if slope <= 0 or intercept < 0:
        # Two workers no faster than one: other work held the second core, and a line through
        # these two points forecasts nothing.
        console.print("[bold red]no forecast[/]: the two-worker build was not faster than the "
                      "one-worker build (was the machine busy?); measure on a quiet machine")
    else:
        forecast = Table(title="model forecast (workers of one CPU; more nodes add workers)")
        for column in ("workers", f"T, {cells} cells", "speed-up", f"T, {args.cells:,} cells",
                       "speed-up", "efficiency"):
            forecast.add_column(column, justify="right")
        for workers in (1, 2, 4, 8, 16, 32, 64):
            small, large = model(workers, cells), model(workers, args.cells)
            speedup = model(1, args.cells) / large
            rows.append({"workers": workers, "small_s": small, "large_s": large,
                         "speedup_large": speedup})
            forecast.add_row(str(workers), f"{small:.0f} s", f"{model(1, cells) / small:.2f}x",
                             f"{large / 3600:.2f} h", f"{speedup:.1f}x",
                             f"{100 * speedup / workers:.0f} %")
        console.print(forecast)
    results = {"machine": machine(), "args": {**vars(args), "output": str(args.output)},
               "cells": cells, "builds_s": builds, "cell_s": per_cell,
               "overhead_s": overhead, "overhead_share": overhead / per_cell,
               "model": {"intercept_s": intercept, "per_round_s": slope},
               "ray_init_s": init, "worker_start_s": started, "ray_memory_mb": memory,
               "forecast": rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
