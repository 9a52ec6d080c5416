"""Rollout throughput: kernel policy + natively batched AEC env against DummyVecEnv + SB3's policy.

Both sides collect the same kind of experience from ``skillgym/AEC-Add-v0``: every step, read
the action masks, sample masked actions from an (untrained) actor-critic policy with SB3's
default architecture (``CombinedExtractor`` over the Dict observation, 64-64 tanh MLPs, 304
actions) and step all environments.

- kernel: ``gym.make_vec(..., vectorization_mode="vector_entry_point")`` (the batched numpy
  env) and :class:`~skillgym.policies.KernelMaskablePolicy`, whose ``predict`` is one kernel
  launch;
- baseline: SB3's ``DummyVecEnv`` of single envs and sb3-contrib's default
  ``MaskableActorCriticPolicy`` (what ``MaskablePPO("MultiInputPolicy", env)`` builds).

The two take turns, round after round; each rate is the best round's. The time spent in the
policy and in the environment is reported separately. Target: kernel side >= 50x.

Usage:
    python benchmarks/rollout_throughput.py [--envs 1024 4096] [--rounds 3]
Writes benchmarks/results/rollout_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import torch as th

ENV_ID = "skillgym/AEC-Add-v0"
RESULTS = Path(__file__).resolve().parent / "results" / "rollout_throughput.json"
TARGET = 50.0


def unavailable_reason() -> str | None:
    """Why the batched env cannot be made, or ``None`` if it can."""
    import skillgym  # noqa: F401  (registers the ids)

    if ENV_ID not in gym.registry:
        return f"{ENV_ID} is not registered yet"
    if gym.spec(ENV_ID).vector_entry_point is None:
        return f"{ENV_ID} has no vector_entry_point (natively batched env) yet"
    return None


def timed_rollout(venv, policy, steps: int, gymnasium_api: bool) -> dict[str, float]:
    """Run ``steps`` masked-sampling steps; seconds spent in the policy and in the env."""
    from sb3_contrib.common.maskable.utils import get_action_masks

    obs = venv.reset(seed=0)[0] if gymnasium_api else venv.reset()
    policy_s = env_s = 0.0
    for _ in range(steps):
        start = time.perf_counter()
        masks = venv.action_masks() if gymnasium_api else get_action_masks(venv)
        actions, _ = policy.predict(obs, action_masks=masks)
        middle = time.perf_counter()
        obs = venv.step(actions)[0]
        env_s += time.perf_counter() - middle
        policy_s += middle - start
    return {"policy_s": policy_s, "env_s": env_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kernel-steps", type=int, default=10, help="steps per kernel round")
    parser.add_argument("--baseline-steps", type=int, default=3, help="steps per baseline round")
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    console = Console(width=160)
    reason = unavailable_reason()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if reason is not None:
        console.print(f"[bold]rollout_throughput.py: not run: {reason}.[/bold]")
        RESULTS.write_text(json.dumps({"env_id": ENV_ID, "skipped": reason}, indent=2))
        return

    from sb3_contrib.common.maskable.policies import MaskableMultiInputActorCriticPolicy
    from stable_baselines3.common.vec_env import DummyVecEnv

    from skillgym.policies import KernelMaskablePolicy

    th.set_num_threads(args.torch_threads)
    single = gym.make(ENV_ID)
    spaces = (single.observation_space, single.action_space, lambda _: 3e-4)
    th.manual_seed(0)
    baseline_policy = MaskableMultiInputActorCriticPolicy(*spaces)
    kernel_policy = KernelMaskablePolicy(*spaces)
    kernel_policy.load_state_dict(baseline_policy.state_dict())  # the very same network

    rows = []
    with Progress(console=console) as progress:
        task = progress.add_task("rollouts", total=len(args.envs) * args.rounds)
        for n in args.envs:
            batched = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="vector_entry_point")
            dummy = DummyVecEnv([lambda: gym.make(ENV_ID)] * n)
            dummy.seed(0)
            timed_rollout(batched, kernel_policy, 2, gymnasium_api=True)  # builds the kernel
            timed_rollout(dummy, baseline_policy, 1, gymnasium_api=False)
            kernel_rounds, baseline_rounds = [], []
            for _ in range(args.rounds):
                kernel_rounds.append(
                    timed_rollout(batched, kernel_policy, args.kernel_steps, gymnasium_api=True)
                )
                baseline_rounds.append(
                    timed_rollout(dummy, baseline_policy, args.baseline_steps, gymnasium_api=False)
                )
                progress.advance(task)
            row = {"num_envs": n}
            for name, found, steps in (
                ("kernel", kernel_rounds, args.kernel_steps),
                ("baseline", baseline_rounds, args.baseline_steps),
            ):
                best = min(found, key=lambda r: r["policy_s"] + r["env_s"])
                row[f"{name}_steps_per_s"] = n * steps / (best["policy_s"] + best["env_s"])
                row[f"{name}_policy_us_per_step"] = 1e6 * best["policy_s"] / steps
                row[f"{name}_env_us_per_step"] = 1e6 * best["env_s"] / steps
            row["speedup"] = row["kernel_steps_per_s"] / row["baseline_steps_per_s"]
            rows.append(row)
            batched.close()
            dummy.close()

    table = Table(title=f"Rollout env steps/s on {ENV_ID} (masked sampling)")
    for column in ("envs", "kernel + batched steps/s", "policy µs", "env µs",
                   "default + DummyVecEnv steps/s", "policy µs", "env µs", "speed-up"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            str(row["num_envs"]),
            f"{row['kernel_steps_per_s']:,.0f}", f"{row['kernel_policy_us_per_step']:,.0f}",
            f"{row['kernel_env_us_per_step']:,.0f}",
            f"{row['baseline_steps_per_s']:,.0f}", f"{row['baseline_policy_us_per_step']:,.0f}",
            f"{row['baseline_env_us_per_step']:,.0f}", f"{row['speedup']:.1f}x",
        )
    console.print(table)
    for row in rows:
        met = "met " if row["speedup"] >= TARGET else "MISS"
        console.print(f"{met}  {row['num_envs']} envs: {row['speedup']:.1f}x (target ≥ {TARGET}x)")
    RESULTS.write_text(json.dumps({"env_id": ENV_ID, "target": TARGET, "rows": rows}, indent=2))
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
