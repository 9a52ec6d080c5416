"""Rollouts in Keye-TextGen's batched twin: the model with its KV cache against the model
reading each observation whole.

The shipped model acts in ``TextGenVectorEnv`` (mixed ``/think``, ``/no_think`` and
``/auto_think`` prompts, the default 480-token reply budget and 512-token window), sampling at
temperature 1, two ways, with the same seeds:

- **cached**: :class:`~skillgym.agents.lm_policy.CachedLMPolicy`, which keeps every layer's keys
  and values across steps and autoresets (one new column per row and step);
- **observation**: the model run over the observation every step (its left-padded window,
  trimmed to the longest conversation), what a policy that sees only the observation does.

Under the same seeds both take the same actions up to float32 rounding (the policy's test
checks its logits against full forwards in float64), so they step through the same episodes.
The two take turns for ``--rounds`` rounds of ``--steps`` env steps each; the table gives env
steps per second (sub-env steps: tokens) of the best round, each round's ratio, and the
process's CPU time, on one torch thread.

Usage: ``python benchmarks/textgen_rollout.py [--envs 64] [--steps 200] [--rounds 3]``. Writes
``benchmarks/results/textgen_rollout.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from skillgym.agents.lm_policy import CachedLMPolicy
from skillgym.envs.keye.text_gen import TextGenVectorEnv
from skillgym.models import PAD, SamplingParams, sample_next
from skillgym.models.pretrained import load_builtin
from skillgym.training.bench import cpu_name

RESULTS = Path(__file__).resolve().parent / "results" / "textgen_rollout.json"
PARAMS = SamplingParams(temperature=1.0)


def rollout(model, envs: int, steps: int, cached: bool, seed: int) -> tuple[float, float, int]:
    """Wall and CPU seconds of ``steps`` env steps, and the replies that ended."""
    env = TextGenVectorEnv(envs)
    generator = torch.Generator().manual_seed(seed)
    policy = CachedLMPolicy(model, envs, PARAMS, generator) if cached else None
    observation, _ = env.reset(seed=seed)
    starting, ended = None, 0
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for _ in range(steps):
            if cached:
                action = policy.act(observation, starting)
            else:
                tokens = torch.from_numpy(observation["tokens"])
                tokens = tokens[:, int((tokens != PAD).any(0).nonzero()[0]):]
                logits = model(tokens, tokens != PAD, last_only=True)[:, -1]
                action = sample_next(logits, PARAMS, generator)[0].numpy()
            observation, _, terminated, truncated, _ = env.step(action)
            starting = terminated | truncated
            ended += int(starting.sum())
    return time.perf_counter() - wall, time.process_time() - cpu, ended


def main() -> None:
    """Alternate the two, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_builtin().eval()
    rounds = []
    for index in range(args.rounds):
        row = {}
        for name, cached in (("cached", True), ("observation", False)):
            wall, cpu, ended = rollout(model, args.envs, args.steps, cached, seed=index)
            row[name] = {"wall": wall, "cpu": cpu, "ended": ended,
                         "steps_per_second": args.steps / wall}
        row["speedup_wall"] = row["observation"]["wall"] / row["cached"]["wall"]
        row["speedup_cpu"] = row["observation"]["cpu"] / row["cached"]["cpu"]
        rounds.append(row)
    best = {name: max(r[name]["steps_per_second"] for r in rounds)
            for name in ("cached", "observation")}
    table = Table(title=f"Keye-TextGen twin, {args.envs} envs, {args.steps} steps a round; "
                        f"{cpu_name()}, one torch thread")
    for column in ("policy", "env steps/s (best)", "tokens/s (best)", "replies ended"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name in ("cached", "observation"):
        table.add_row(name, f"{best[name]:.1f}", f"{best[name] * args.envs:.0f}",
                      str(rounds[0][name]["ended"]))
    console = Console()
    console.print(table)
    console.print("speed-up per round (wall / CPU): " + ", ".join(
        f"{r['speedup_wall']:.1f}x / {r['speedup_cpu']:.1f}x" for r in rounds))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu": cpu_name(), "envs": args.envs, "steps": args.steps,
                                   "rounds": rounds, "best_steps_per_second": best,
                                   "load": os.getloadavg()}, indent=1))
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
