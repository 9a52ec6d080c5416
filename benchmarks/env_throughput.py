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
JSON goes to ``benchmarks/results/env_throughput.json``.

    python benchmarks/env_throughput.py                  # everything
    python benchmarks/env_throughput.py --ids AEC-Add-v0 --counts 4096
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.performance import benchmark_step
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import skillgym  # noqa: F401  (registers the ids)
from skillgym.envs.registration import NAMESPACE, EnvEntry, entries

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


def selected(wanted: list[str] | None) -> list[EnvEntry]:
    """The registry's entries, filtered by ``--ids``; an unknown id is an error, not a skip."""
    known = entries()
    if wanted is None:
        return known
    by_id = {entry.id: entry for entry in known}
    chosen = []
    for name in wanted:
        env_id = name if name.startswith(f"{NAMESPACE}/") else f"{NAMESPACE}/{name}"
        if env_id not in by_id:
            raise SystemExit(f"--ids: unknown id {name!r}; registered: {sorted(by_id)}")
        chosen.append(by_id[env_id])
    return chosen


class LegalActions(gym.Wrapper):
    """Makes ``action_space.sample()`` draw uniformly from the env's current ``action_masks()``.

    ``benchmark_step`` samples ``env.action_space`` blindly; for envs that expose masks, random
    legal actions are the meaningful workload.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._legal = MaskedDiscrete(env)

    @property
    def action_space(self) -> gym.Space:
        """A ``Discrete`` space whose ``sample()`` follows the current mask."""
        return self._legal


class MaskedDiscrete(gym.spaces.Discrete):
    """The env's ``Discrete`` action space, sampling only what ``action_masks()`` allows."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(int(env.action_space.n))
        self._env = env

    def sample(self, mask: Any = None, probability: Any = None) -> np.int64:
        """A uniform legal action (the arguments are ignored: the env's mask decides)."""
        legal = np.flatnonzero(self._env.unwrapped.action_masks())
        return legal[self.np_random.integers(len(legal))]


def has_masks(entry: EnvEntry) -> bool:
    """Whether the single env exposes ``action_masks()`` (sb3-contrib's MaskablePPO convention)."""
    env = gym.make(entry.id)
    try:
        return callable(getattr(env.unwrapped, "action_masks", None))
    finally:
        env.close()


def single_steps_per_second(entry: EnvEntry, masked: bool, seconds: float, seed: int) -> float:
    """``benchmark_step`` on ``gym.make(id)`` (with its default wrappers), random actions."""
    env = gym.make(entry.id)
    try:
        if masked:
            env = LegalActions(env)
        env.action_space.seed(seed)
        return float(benchmark_step(env, target_duration=seconds, seed=seed))
    finally:
        env.close()


def legal_actions(envs: gym.vector.VectorEnv, rng: np.random.Generator) -> np.ndarray:
    """One uniform legal action per sub-env, from the batched ``action_masks()`` or each env's."""
    if isinstance(envs, gym.vector.SyncVectorEnv):
        masks = np.stack(envs.call("action_masks"))
    else:
        masks = np.asarray(envs.action_masks())
    masks = masks.astype(bool)
    # Without a loop: the first index whose running count of legal actions passes a uniform pick.
    picks = np.floor(rng.random(len(masks)) * masks.sum(axis=1)).astype(np.int64)
    return (np.cumsum(masks, axis=1) > picks[:, None]).argmax(axis=1)


def timed_steps(
    envs: gym.vector.VectorEnv, masked: bool, seconds: float, rng: np.random.Generator
) -> tuple[int, float]:
    """``(batch steps, seconds inside step())`` of stepping for at least ``seconds`` (and 3 steps).

    Drawing random actions (legal ones, from the current masks, for masked envs) is left out of
    the timed part for both contenders: the ratio compares the environments, not the sampler.
    """
    steps, stepping = 0, 0.0
    start = time.perf_counter()
    while steps < 3 or time.perf_counter() - start < seconds:
        actions = legal_actions(envs, rng) if masked else envs.action_space.sample()
        tic = time.perf_counter()
        envs.step(actions)
        stepping += time.perf_counter() - tic
        steps += 1
    return steps, stepping


def measure_batched(
    entry: EnvEntry, masked: bool, count: int, seconds: float, rounds: int, seed: int
) -> dict[str, Any]:
    """The batched twin and ``SyncVectorEnv`` at ``count`` sub-envs, in alternating rounds.

    Alternating spreads a load spike on the shared CPU over both contenders instead of one.
    """
    contenders = {
        "batched": gym.make_vec(entry.id, num_envs=count, vectorization_mode="vector_entry_point"),
        "sync": gym.make_vec(entry.id, num_envs=count, vectorization_mode="sync"),
    }
    totals = {key: [0, 0.0] for key in contenders}
    try:
        rngs = {key: np.random.default_rng(seed) for key in contenders}
        for envs in contenders.values():
            envs.action_space.seed(seed)
            envs.reset(seed=seed)
        for _ in range(rounds):
            for key, envs in contenders.items():
                steps, stepping = timed_steps(envs, masked, seconds / rounds, rngs[key])
                totals[key][0] += steps
                totals[key][1] += stepping
    finally:
        for envs in contenders.values():
            envs.close()
    row: dict[str, Any] = {"id": entry.id, "num_envs": count}
    for key, (steps, stepping) in totals.items():
        row[f"{key}_steps_per_s"] = steps * count / stepping
        row[f"{key}_batch_steps"] = steps
    row["ratio"] = row["batched_steps_per_s"] / row["sync_steps_per_s"]
    return row


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
    chosen = selected(args.ids)
    vectorised = [entry for entry in chosen if entry.vector_entry_point]
    single: list[dict[str, Any]] = []
    batched: list[dict[str, Any]] = []
    masked: dict[str, bool] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("single envs", total=len(chosen))
        for entry in chosen:
            progress.update(task, description=f"single {entry.id}")
            masked[entry.id] = has_masks(entry)
            rate = single_steps_per_second(entry, masked[entry.id], args.single_seconds, args.seed)
            single.append({"id": entry.id, "steps_per_s": rate, "masked": masked[entry.id]})
            progress.advance(task)
        task = progress.add_task("batched vs sync", total=len(vectorised) * len(args.counts))
        for entry in vectorised:
            for count in args.counts:
                progress.update(task, description=f"batched vs sync {entry.id} × {count}")
                batched.append(measure_batched(entry, masked[entry.id], count,
                                               args.vector_seconds, args.rounds, args.seed))
                progress.advance(task)

    table = Table(title="single envs: steps/s (benchmark_step, random actions)")
    table.add_column("id")
    table.add_column("steps/s", justify="right")
    for row in single:
        rate = row["steps_per_s"]
        table.add_row(row["id"], f"{rate:,.0f}" if rate >= 100 else f"{rate:.2g}")
    console.print(table)
    table = Table(title="batched twin vs SyncVectorEnv: sub-env steps/s, same run")
    for column in ("id", "num_envs", "batched", "SyncVectorEnv", "ratio"):
        table.add_column(column, justify="left" if column == "id" else "right")
    for row in batched:
        table.add_row(row["id"], str(row["num_envs"]), f"{row['batched_steps_per_s']:,.0f}",
                      f"{row['sync_steps_per_s']:,.0f}", f"{row['ratio']:,.1f}×")
    console.print(table)
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
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "numpy": np.__version__, "gymnasium": gym.__version__},
        "single": single,
        "batched": batched,
        "targets": goals,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
