"""The AEC oracle at scale, and the single-env step rate of AEC-Add/Sub/Mul.

For every curriculum level of every skill, 10,000 seeded instances (including 100-digit ADD and
SUB, 20-digit x 20-digit MUL and EVAL on reasoning-gym's default configuration) are run with the
oracle on the scratchpad and each result is checked against Python integer arithmetic (EVAL
against Python's ``eval`` with ``//``). The table shows, per level, the instances, how many were
solved, the mean number of top-level steps and the mean trace length (steps at every depth).

Then ``gymnasium.utils.performance.benchmark_step`` (random actions) measures steps/s of a single
``skillgym/AEC-Add-v0``, ``-Sub-v0`` and ``-Mul-v0``. Writes ``benchmarks/results/aec_oracle.json``.

Usage: ``python benchmarks/aec_oracle.py [--instances 10000] [--jobs 2] [--skills ADD,MUL]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.utils.performance import benchmark_step
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

import skillgym  # noqa: F401  (registers the ids)
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.solve import lay_out, oracle_machine, run
from skillgym.envs.aec.tasks import TASKS
from skillgym.envs.aec.tokens import GREATER, LESS, read_number
from skillgym.envs.counter_rng import draw_key

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 250
SEED = 2026

# The result each number skill must leave, from Python integers: (role, value of a and b).
NUMBER_RESULTS = {
    "ADD": (("OUT", lambda a, b: a + b),),
    "SUB": (("OUT", lambda a, b: a - b),),
    "MULD": (("OUT", lambda a, b: a * b),),
    "MUL": (("OUT", lambda a, b: a * b),),
    "DIV": (("QUOT", lambda a, b: a // b), ("REM", lambda a, b: a % b)),
}


def python_says_solved(name: str, grid: np.ndarray, ptrs: np.ndarray, instance) -> bool:
    """The pad's result against Python: integers for numbers, ``eval`` for expressions."""
    task = TASKS[name]
    if name in NUMBER_RESULTS:
        return all(
            read_number(grid[task.row(role)]) == value(instance.a, instance.b)
            for role, value in NUMBER_RESULTS[name]
        )
    if name == "COMPARE":
        verdict = grid[task.row("CMP"), 1]
        return verdict == (
            GREATER if instance.a > instance.b else LESS if instance.a < instance.b else verdict
        ) and (instance.a == instance.b) == (verdict not in (LESS, GREATER))
    if name == "EVAL":
        answer = eval(re.sub(r"/+", "//", instance.text))
        row = "".join("-" if t == 18 else str(t) for t in grid[0].tolist() if t < 10 or t == 18)
        return int(row) == answer
    # single-column skills: the task's targets are Python's digit arithmetic on the column
    return task.succeeded(grid, ptrs, instance)


def run_chunk(name: str, level: int, start: int, count: int) -> dict:
    """Oracle on instances ``start .. start + count - 1`` of one level; counts and step totals."""
    task = TASKS[name]
    key = draw_key(np.random.default_rng([SEED, level, list(TASKS).index(name)]))
    steps_at_all_depths = 0

    def counting(obs, mask):
        nonlocal steps_at_all_depths
        steps_at_all_depths += 1
        return oracle(obs, mask)

    machine = oracle_machine(task, policy=counting)
    solved = top_steps = longest = 0
    for counter in range(start, start + count):
        instance = task.sample(key, counter, level)
        lay_out(machine, task, instance)
        top = machine.top
        top_steps += run(machine, counting, max_steps=64 * task.width**2)
        solved += python_says_solved(name, machine.grid, top.ptrs, instance)
        longest = max(longest, len(str(instance.a)), len(str(instance.b)))
    return {
        "solved": solved,
        "count": count,
        "top_steps": top_steps,
        "all_steps": steps_at_all_depths,
        "longest_operand": longest,
    }


def oracle_table(instances: int, jobs: int, skills: list[str], console: Console) -> list[dict]:
    levels = [(name, level) for name in skills for level in range(1, len(TASKS[name].levels) + 1)]
    rows = {
        job: {
            "skill": job[0],
            "level": job[1],
            "description": TASKS[job[0]].levels[job[1] - 1],
            "instances": 0,
            "solved": 0,
            "top_steps": 0,
            "all_steps": 0,
            "longest_operand": 0,
        }
        for job in levels
    }
    chunks = [
        (name, level, start, min(CHUNK, instances - start))
        for name, level in levels
        for start in range(0, instances, CHUNK)
    ]
    # the longest levels first, so that both workers stay busy to the end
    chunks.sort(
        key=lambda c: -TASKS[c[0]].width * (c[1] + 2) * (4 if c[0] in ("MUL", "DIV") else 1)
    )
    columns = (
        *Progress.get_default_columns()[:2],
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress, ProcessPoolExecutor(jobs) as pool:
        bar = progress.add_task("oracle instances", total=len(chunks) * CHUNK)
        futures = {pool.submit(run_chunk, *chunk): chunk for chunk in chunks}
        for future in as_completed(futures):
            name, level, _, count = futures[future]
            result, row = future.result(), rows[name, level]
            row["instances"] += result["count"]
            row["longest_operand"] = max(row["longest_operand"], result.pop("longest_operand"))
            for field in ("solved", "top_steps", "all_steps"):
                row[field] += result[field]
            progress.advance(bar, count)
    table = list(rows.values())
    for row in table:
        row["mean_top_steps"] = row.pop("top_steps") / row["instances"]
        row["mean_trace_length"] = row.pop("all_steps") / row["instances"]
    return table


def step_rates(seconds: float) -> list[dict]:
    """``benchmark_step`` of the bare envs, with the share of a CPU the process got meanwhile
    (the machine is shared), and the rate per CPU-second that share implies."""
    rates = []
    for env_id in ("skillgym/AEC-Add-v0", "skillgym/AEC-Sub-v0", "skillgym/AEC-Mul-v0"):
        env = gym.make(env_id).unwrapped  # the bare env: the rate of its own step
        cpu, wall = time.process_time(), time.perf_counter()
        rate = benchmark_step(env, seconds, seed=0)
        share = (time.process_time() - cpu) / (time.perf_counter() - wall)
        rates.append(
            {
                "id": env_id,
                "steps_per_second": rate,
                "cpu_share": share,
                "steps_per_cpu_second": rate / share,
            }
        )
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skills", default=",".join(TASKS), help="comma-separated skill names")
    parser.add_argument("--seconds", type=float, default=5.0, help="per benchmark_step run")
    args = parser.parse_args()
    skills = [name.strip().upper() for name in args.skills.split(",")]
    unknown = sorted(set(skills) - set(TASKS))
    if unknown:
        parser.error(f"--skills: unknown {unknown}; known: {list(TASKS)}")

    console = Console(width=120)
    rates = step_rates(args.seconds)
    started = time.perf_counter()
    table = oracle_table(args.instances, args.jobs, skills, console)
    elapsed = time.perf_counter() - started

    shown = Table(title=f"AEC oracle, {args.instances} seeded instances per level")
    for column in (
        "skill",
        "level",
        "problems",
        "instances",
        "solved",
        "mean top steps",
        "mean trace length",
    ):
        shown.add_column(column, justify="left" if column in ("skill", "problems") else "right")
    for row in table:
        shown.add_row(
            row["skill"],
            str(row["level"]),
            row["description"],
            str(row["instances"]),
            str(row["solved"]),
            f"{row['mean_top_steps']:.1f}",
            f"{row['mean_trace_length']:.1f}",
        )
    console.print(shown)
    speed = Table(title="benchmark_step, random actions, single env")
    speed.add_column("id")
    for column in ("steps/s", "CPU share", "steps/CPU-s"):
        speed.add_column(column, justify="right")
    for rate in rates:
        speed.add_row(
            rate["id"],
            f"{rate['steps_per_second']:,.0f}",
            f"{rate['cpu_share']:.2f}",
            f"{rate['steps_per_cpu_second']:,.0f}",
        )
    console.print(speed)
    solved = sum(row["solved"] for row in table)
    total = sum(row["instances"] for row in table)
    console.print(f"solved {solved:,} of {total:,} in {elapsed:.0f} s with {args.jobs} processes")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "aec_oracle.json"
    out.write_text(
        json.dumps(
            {
                "instances_per_level": args.instances,
                "seed": SEED,
                "jobs": args.jobs,
                "seconds": elapsed,
                "machine": platform.machine(),
                "python": platform.python_version(),
                "levels": table,
                "step_rates": rates,
            },
            indent=2,
        )
    )
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
