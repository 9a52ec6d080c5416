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

The two take turns, round after round; each rate is the best round's, and the speed-up of
each round over the baseline round next to it gives the range (the machine is shared: the
range says how much its load moves the ratio). The time spent in the policy and in the
environment is reported separately. Target: kernel side >= 50x.

Speed is worth nothing if learning suffers, so the script also trains MaskablePPO with both
policies on AEC skills (``reward_mode="digit"``, same seeds, 8 envs) and compares their
greedy returns on the same evaluation problems, before and after training.

Usage:
    python benchmarks/rollout_throughput.py [--envs 1024 4096] [--rounds 5]
        [--learning-steps 16384] [--seeds 0 1 2]
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
LEARNING_ENV_IDS = ("skillgym/AEC-Add1-v0", "skillgym/AEC-Add-v0")
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


def learning_parity(env_id: str, seed: int, steps: int) -> dict[str, float]:
    """Greedy evaluation return of MaskablePPO with each policy, untrained and after ``steps``."""
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.evaluation import evaluate_policy
    from stable_baselines3.common.env_util import make_vec_env

    from skillgym.policies import KernelMaskablePolicy

    def make_env():
        return gym.make(env_id, reward_mode="digit")

    result = {}
    for name, policy in (("kernel", KernelMaskablePolicy), ("default", "MultiInputPolicy")):
        env = make_vec_env(make_env, n_envs=8, seed=seed)
        model = MaskablePPO(policy, env, n_steps=64, batch_size=256, n_epochs=4,
                            learning_rate=1e-3, seed=seed, device="cpu")
        problems = make_vec_env(make_env, n_envs=8, seed=1000 + seed)
        result[f"{name}_untrained"] = evaluate_policy(model, problems, n_eval_episodes=32)[0]
        model.learn(steps)
        problems = make_vec_env(make_env, n_envs=8, seed=1000 + seed)
        result[f"{name}_trained"] = evaluate_policy(model, problems, n_eval_episodes=32)[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kernel-steps", type=int, default=10, help="steps per kernel round")
    parser.add_argument("--baseline-steps", type=int, default=3, help="steps per baseline round")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--learning-steps", type=int, default=16384,
                        help="MaskablePPO steps per learning run (0: skip the comparison)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
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

    rows, learning = [], []
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
            per_round = sorted(
                (b["policy_s"] + b["env_s"]) / args.baseline_steps
                / ((k["policy_s"] + k["env_s"]) / args.kernel_steps)
                for k, b in zip(kernel_rounds, baseline_rounds, strict=True)
            )
            row["speedup_per_round"] = per_round
            rows.append(row)
            batched.close()
            dummy.close()
        if args.learning_steps > 0:
            runs = [(env_id, seed) for env_id in LEARNING_ENV_IDS for seed in args.seeds]
            task = progress.add_task("learning parity", total=len(runs))
            for env_id, seed in runs:
                learning.append(
                    {"env_id": env_id, "seed": seed,
                     **learning_parity(env_id, seed, args.learning_steps)}
                )
                progress.advance(task)

    table = Table(title=f"Rollout env steps/s on {ENV_ID} (masked sampling)")
    for column in ("envs", "kernel + batched steps/s", "policy µs", "env µs",
                   "default + DummyVecEnv steps/s", "policy µs", "env µs", "speed-up",
                   "per round"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            str(row["num_envs"]),
            f"{row['kernel_steps_per_s']:,.0f}", f"{row['kernel_policy_us_per_step']:,.0f}",
            f"{row['kernel_env_us_per_step']:,.0f}",
            f"{row['baseline_steps_per_s']:,.0f}", f"{row['baseline_policy_us_per_step']:,.0f}",
            f"{row['baseline_env_us_per_step']:,.0f}", f"{row['speedup']:.1f}x",
            f"{row['speedup_per_round'][0]:.1f}-{row['speedup_per_round'][-1]:.1f}x",
        )
    console.print(table)
    for row in rows:
        met = "met " if row["speedup"] >= TARGET else "MISS"
        console.print(f"{met}  {row['num_envs']} envs: {row['speedup']:.1f}x (target ≥ {TARGET}x)")
    if learning:
        table = Table(title=f"MaskablePPO, {args.learning_steps} steps: greedy return on the same "
                      "32 evaluation problems (untrained -> trained)")
        for column in ("env", "seed", "kernel policy", "default policy"):
            table.add_column(column, justify="right")
        for run in learning:
            table.add_row(
                run["env_id"], str(run["seed"]),
                f"{run['kernel_untrained']:.2f} -> {run['kernel_trained']:.2f}",
                f"{run['default_untrained']:.2f} -> {run['default_trained']:.2f}",
            )
        console.print(table)
        for env_id in LEARNING_ENV_IDS:
            kernel = [r["kernel_trained"] for r in learning if r["env_id"] == env_id]
            default = [r["default_trained"] for r in learning if r["env_id"] == env_id]
            console.print(f"{env_id}: mean trained return, kernel {sum(kernel) / len(kernel):.2f}, "
                          f"default {sum(default) / len(default):.2f}")
    RESULTS.write_text(json.dumps(
        {"env_id": ENV_ID, "target": TARGET, "rows": rows, "learning": learning}, indent=2
    ))
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
