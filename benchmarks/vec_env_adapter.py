"""The SB3 adapter's cost: steps/s of a batched twin raw, through GymnasiumVecEnv, DummyVecEnv.

Three ways of stepping ``skillgym/AEC-Add-v0``'s sub-environments, with the same random legal
actions (a pool drawn before timing):

- raw: the natively batched twin's own ``step`` (Gymnasium API; a sub-env that ended spends
  its next step on the reset, NEXT_STEP);
- adapter: :class:`~skillgym.agents.vec_env.GymnasiumVecEnv` over that twin (SB3 API: infos as
  one dict per sub-env, done sub-envs reset within the step);
- DummyVecEnv: SB3's ``DummyVecEnv`` of single envs, what the adapter replaces.

SB3 learns from transitions, and a raw NEXT_STEP step of a sub-env that ended is none: the
table also gives the raw twin's transitions/s, its steps/s times the share of sub-env steps that
were not restarts (counted on the same actions, untimed), and the adapter's ratio to that.

The three take turns, round after round, each for a bounded time; each rate is its best round's
(the machine is shared), and the range of the adapter's rate over the raw one in the same round
says how much the machine's load moves that ratio. Rates are sub-environment steps per second
(batch steps × num_envs).
MaskablePPO also reads the masks every step: ``get_action_masks`` is timed for the adapter and
for ``DummyVecEnv``. Writes ``benchmarks/results/vec_env_adapter.json``.

    python benchmarks/vec_env_adapter.py [--counts 64 1024] [--seconds 1.0] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3.common.vec_env import DummyVecEnv

import skillgym  # noqa: F401  (registers the ids)
from skillgym.agents.vec_env import GymnasiumVecEnv
from skillgym.training.bench import cpu_name, machine

ENV_ID = "skillgym/AEC-Add-v0"
RESULTS = Path(__file__).resolve().parent / "results" / "vec_env_adapter.json"
POOL = 64  # distinct action batches, cycled


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[64, 1024],
                        help="numbers of sub-environments")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="time per contender per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def rate(call: Callable[[np.ndarray], object], pool: list[np.ndarray], seconds: float) -> float:
    """Calls per second of ``call`` over the action pool, for about ``seconds``."""
    calls, start = 0, time.perf_counter()
    while True:
        for actions in pool:
            call(actions)
        calls += len(pool)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed


def restart_share(num_envs: int, pool: list[np.ndarray], seed: int) -> float:
    """The share of the raw twin's sub-env steps that were NEXT_STEP restarts, over the pool."""
    raw = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point")
    raw.reset(seed=seed)
    restarts, ended = 0, np.zeros(num_envs, dtype=bool)
    for actions in pool * 4:
        restarts += int(ended.sum())
        _, _, terminated, truncated, _ = raw.step(actions)
        ended = terminated | truncated
    raw.close()
    return restarts / (4 * len(pool) * num_envs)


def measure(num_envs: int, seconds: float, rounds: int, seed: int) -> dict[str, Any]:
    """Best-round sub-env steps/s of raw, adapter and DummyVecEnv, and masks/s of the two."""
    raw = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point")
    adapter = GymnasiumVecEnv(
        gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point")
    )
    dummy = DummyVecEnv([lambda: gym.make(ENV_ID)] * num_envs)
    raw.reset(seed=seed)
    for env in (adapter, dummy):
        env.seed(seed)
        env.reset()
    legal = np.flatnonzero(raw.action_masks()[0])
    rng = np.random.default_rng(seed)
    pool = [rng.choice(legal, num_envs) for _ in range(POOL)]
    steps = {"raw": raw.step, "adapter": adapter.step, "DummyVecEnv": dummy.step}
    masks = {"adapter masks": adapter, "DummyVecEnv masks": dummy}
    rounds_of: dict[str, list[float]] = {name: [] for name in [*steps, *masks]}
    for _ in range(rounds):
        for name, step in steps.items():
            rounds_of[name].append(rate(step, pool, seconds) * num_envs)
        for name, env in masks.items():
            rounds_of[name].append(rate(lambda _, env=env: get_action_masks(env), pool,
                                        seconds / 4))
    for env in (raw, adapter, dummy):
        env.close()
    best = {name: max(rates) for name, rates in rounds_of.items()}
    # the adapter's round over the raw round just before it: how much the machine's load moves it
    paired = [a / r for a, r in zip(rounds_of["adapter"], rounds_of["raw"], strict=True)]
    best["adapter/raw per round"] = [min(paired), max(paired)]
    best["raw restart share"] = restart_share(num_envs, pool, seed)
    best["raw transitions"] = best["raw"] * (1 - best["raw restart share"])
    return best


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)  # nothing here runs torch; SB3 imports it
    console = Console(width=160)
    cpu = cpu_name()
    rows = []
    for count in args.counts:
        console.print(f"measuring {count} envs ...")
        rows.append({"num_envs": count, **measure(count, args.seconds, args.rounds, args.seed)})
    table = Table(title=f"{ENV_ID}: sub-env steps/s, best of {args.rounds} rounds ({cpu})")
    for column in ("num_envs", "raw", "raw transitions", "adapter", "DummyVecEnv", "adapter/raw",
                   "per round", "adapter/raw transitions", "adapter/Dummy", "masks/s adapter",
                   "masks/s Dummy"):
        table.add_column(column, justify="right")
    for row in rows:
        row["adapter/raw"] = row["adapter"] / row["raw"]
        row["adapter/raw transitions"] = row["adapter"] / row["raw transitions"]
        row["adapter/DummyVecEnv"] = row["adapter"] / row["DummyVecEnv"]
        table.add_row(
            f"{row['num_envs']:,}", f"{row['raw']:,.0f}", f"{row['raw transitions']:,.0f}",
            f"{row['adapter']:,.0f}", f"{row['DummyVecEnv']:,.0f}", f"{row['adapter/raw']:.2f}",
            "{:.2f}-{:.2f}".format(*row["adapter/raw per round"]),
            f"{row['adapter/raw transitions']:.2f}", f"{row['adapter/DummyVecEnv']:.1f}",
            f"{row['adapter masks']:,.0f}", f"{row['DummyVecEnv masks']:,.0f}",
        )
    console.print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "settings": {key: value for key, value in vars(args).items() if key != "output"},
        "machine": {**machine(), "torch_threads": torch.get_num_threads()},
        "env_id": ENV_ID,
        "rows": rows,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
