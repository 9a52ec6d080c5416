"""What the fast road buys in training: `skillgym train`'s defaults against SB3's stock setup.

Three parts, each side by side in one run, seed after seed (the machine is shared: a ratio
from one run is steadier than two numbers from two):

* ``update``: one PPO minibatch update of ``--batch`` AEC-Add observations (``evaluate_actions``
  under the action masks, backward, Adam) with the recipe's kernel policy and with SB3's stock
  policy, in turns: what the updates of the ``add`` part cost per sample.
* ``add``: the ``ppo`` recipe on ``skillgym/AEC-Add-v0`` with curriculum up to ``--max-level``
  digits, trained until 95 % of the last 100 episodes at the top level succeed (or
  ``--max-steps``), as ``skillgym train skillgym/AEC-Add-v0`` configures it (the settings tuned
  for the env; kernel policy, native batched twin) and with SB3's stock setup
  (``policy=torch env.vec=dummy``: ``MaskableMultiInputActorCriticPolicy`` over a
  ``DummyVecEnv``, MaskablePPO); both with the same PPO settings (``--set`` changes them for
  both). Each setup and seed runs ``--add-repeats`` times, the setups in turns, and the
  fastest run counts: a seeded run takes the same steps every time, so its runs differ only
  in what else the machine was doing. Reports wall-clock (and the part spent collecting
  rollouts), environment steps, steps/s and steps to the target. ``--env`` runs the add and
  update parts on another AEC column skill (``skillgym/AEC-Sub-v0``).
* ``hierarchy``: the whole ``aec-hierarchy`` recipe (``--skills``) with ``policy=kernel`` and
  ``policy=torch``: wall-clock and the accuracy table each ends with (which must agree). With
  ``--before DIR`` (an export of older code, e.g. ``git archive REV | tar -x -C DIR``) the
  same two setups also run on that code, taking turns with the current ones, and the
  speed-ups are against the older code's ``policy=torch``: the recipe before and after.

Writes ``benchmarks/results/train_speed.json``.

    python benchmarks/train_speed.py --parts update add hierarchy --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from rich.console import Console
from rich.table import Table
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3.common.callbacks import BaseCallback

import skillgym  # noqa: F401  (registers the ids)
from skillgym.agents.aec_hierarchy import CurriculumTracker
from skillgym.training.bench import cpu_name, machine
from skillgym.training.cli import main as skillgym_main
from skillgym.training.recipes import apply_threads, configure, get_recipe
from skillgym.training.recipes.aec_hierarchy import LEVELS_FILE
from skillgym.training.recipes.ppo import make_env, make_model

RESULTS = Path(__file__).resolve().parent / "results" / "train_speed.json"
# The fast road is the recipes' defaults; the stock setup is one option away.
SETUPS = {"fast": [], "stock": ["policy=torch", "env.vec=dummy"]}
HIERARCHY_SETUPS = {"kernel": ["policy=kernel"], "torch": ["policy=torch"]}
# Marks a hierarchy setup that runs the --before code.
BEFORE = "before"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("update", "add", "hierarchy"),
                        default=["update", "add", "hierarchy"])
    parser.add_argument("--batch", type=int, default=1024,
                        help="the update part's minibatch (AEC-Add samples)")
    parser.add_argument("--repeats", type=int, default=5, help="the update part's rounds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--env", default="skillgym/AEC-Add-v0",
                        help="the add and update parts' environment (an AEC column skill)")
    parser.add_argument("--max-level", type=int, default=3, help="AEC-Add's top level (digits)")
    parser.add_argument("--max-steps", type=int, default=600_000,
                        help="environment steps at most per AEC-Add run")
    parser.add_argument("--add-repeats", type=int, default=2,
                        help="runs of each AEC-Add setup and seed, in turns; the fastest counts "
                             "(a run's steps are the same every time: only the machine varies)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="ppo recipe overrides for both AEC-Add setups, e.g. env.n_envs=64")
    parser.add_argument("--skills", default='["EVAL"]',
                        help="the hierarchy part's skills (a TOML list)")
    parser.add_argument("--before", type=Path, default=None, metavar="DIR",
                        help="a source tree of older code: the hierarchy part runs it too")
    parser.add_argument("--runs", type=Path, default=Path("runs/train_speed"),
                        help="where the hierarchy part's run folders go")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def train_add(setup: list[str], seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One AEC-Add run to the target: wall-clock, steps, steps/s and steps to the target."""
    recipe = get_recipe("ppo")
    config = configure(recipe, None, [
        f"env.id={args.env}", f"env.kwargs={{max_level={args.max_level}}}", f"seed={seed}",
        *args.set, *setup])
    recipe.check(config)
    apply_threads(config)
    start = time.perf_counter()
    env = make_env(config)
    model = make_model(config, env)
    tracker, clock = CurriculumTracker(args.max_level, stop=True), RolloutClock()
    model.learn(args.max_steps, callback=[tracker, clock])
    seconds = time.perf_counter() - start
    env.close()
    return {"seed": seed, "seconds": seconds, "steps": int(model.num_timesteps),
            "steps_per_second": model.num_timesteps / seconds,
            "rollout_seconds": clock.seconds,
            "steps_to_target": tracker.steps_to_target,
            "reached": tracker.steps_to_target is not None}


class RolloutClock(BaseCallback):
    """Wall-clock seconds spent collecting rollouts (the rest of ``learn`` is updates and
    set-up)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self._started = 0.0

    def _on_rollout_start(self) -> None:
        self._started = time.perf_counter()

    def _on_rollout_end(self) -> None:
        self.seconds += time.perf_counter() - self._started

    def _on_step(self) -> bool:
        return True


def time_updates(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One PPO minibatch update (``evaluate_actions``, backward, Adam) of ``--batch`` AEC-Add
    samples with the recipe's kernel policy and with SB3's stock one, in turns, best of
    ``--repeats`` rounds of 20 updates each."""
    recipe = get_recipe("ppo")
    timings = {}
    for name, setup in SETUPS.items():
        config = configure(recipe, None, [f"env.id={args.env}", f"env.n_envs={args.batch}",
                                          f"ppo.batch_size={args.batch}", *args.set, *setup])
        apply_threads(config)
        env = make_env(config)
        model = make_model(config, env)
        obs, _ = model.policy.obs_to_tensor(env.reset())
        # as the rollout buffer hands them to the update: floats
        masks = get_action_masks(env).astype(np.float32)
        actions = th.as_tensor([np.flatnonzero(row)[0] for row in masks])
        timings[name] = (model.policy, obs, actions, masks)
    best = dict.fromkeys(timings, float("inf"))
    for _ in range(args.repeats):
        for name, (policy, obs, actions, masks) in timings.items():
            start = time.perf_counter()
            for _ in range(20):
                values, log_prob, entropy = policy.evaluate_actions(obs, actions, masks)
                loss = -log_prob.mean() + 0.5 * values.pow(2).mean() - 0.01 * entropy.mean()
                policy.optimizer.zero_grad()
                loss.backward()
                policy.optimizer.step()
            best[name] = min(best[name], (time.perf_counter() - start) / 20)
    return [{"seed": 0, "setup": name, "seconds": seconds} for name, seconds in best.items()]


def train_hierarchy(setup: list[str], seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """The whole aec-hierarchy recipe: wall-clock and the final accuracy table. A setup that
    starts with ``before`` runs ``--before``'s code in a process of its own."""
    name = "-".join(part.split("=")[-1] for part in setup)
    folder = (args.runs / f"hierarchy-{name}-seed{seed}").resolve()
    shutil.rmtree(folder, ignore_errors=True)
    command = ["train", "aec-hierarchy", f"skills={args.skills}", f"seed={seed}",
               *(part for part in setup if part != BEFORE), "--run-dir", str(folder)]
    start = time.perf_counter()
    if BEFORE in setup:
        env = {**os.environ, "PYTHONPATH": str(args.before.resolve())}
        code = subprocess.run([sys.executable, "-m", "skillgym", *command], env=env,
                              cwd=args.before).returncode
    else:
        code = skillgym_main(command)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"the aec-hierarchy run {folder} failed (exit code {code})")
    skills = json.loads((folder / "eval" / LEVELS_FILE).read_text())
    return {"seed": seed, "seconds": seconds,
            "accuracy": {skill: stats["accuracy"] for skill, stats in skills.items()}}


def _by_seed(rows: list[dict[str, Any]]) -> dict[int, dict[str, dict[str, Any]]]:
    """The rows of each seed, by setup."""
    grouped: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["seed"], {})[row["setup"]] = row
    return grouped


def update_table(rows: list[dict[str, Any]], env: str, batch: int) -> Table:
    table = Table(title=f"One PPO update of {batch:,} {env} samples, {cpu_name()}")
    for column in ("setup", "ms", "ratio"):
        table.add_column(column, justify="right")
    stock = next(row["seconds"] for row in rows if row["setup"] == "stock")
    for row in rows:
        table.add_row(row["setup"], f"{row['seconds'] * 1e3:.2f}",
                      f"{stock / row['seconds']:.2f}x")
    return table


def add_table(rows: list[dict[str, Any]], env: str, max_level: int) -> Table:
    table = Table(title=f"{env} to 95 % at {max_level} digits, {cpu_name()}")
    for column in ("seed", "setup", "wall s", "rollouts s", "env steps", "steps/s",
                   "steps to 95 %", "wall ratio"):
        table.add_column(column, justify="right")
    for seed, pair in _by_seed(rows).items():
        for setup, row in pair.items():
            ratio = pair["stock"]["seconds"] / row["seconds"] if "stock" in pair else None
            table.add_row(str(seed), setup, f"{row['seconds']:.1f}",
                          f"{row['rollout_seconds']:.1f}", f"{row['steps']:,}",
                          f"{row['steps_per_second']:,.0f}",
                          f"{row['steps_to_target']:,}" if row["reached"] else "not reached",
                          "" if ratio is None else f"{ratio:.2f}x")
    return table


def hierarchy_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"aec-hierarchy recipe, {cpu_name()}")
    for column in ("seed", "setup", "wall s", "speed-up", "accuracy table equal"):
        table.add_column(column, justify="right")
    for seed, pair in _by_seed(rows).items():
        stock = pair.get("before torch", pair.get("torch"))
        for setup, row in pair.items():
            speedup = "" if stock is None else f"{stock['seconds'] / row['seconds']:.2f}x"
            equal = "" if stock is None else str(stock["accuracy"] == row["accuracy"])
            table.add_row(str(seed), setup, f"{row['seconds']:.1f}", speedup, equal)
    return table


def fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of repeated runs of one setup and seed, with every run's wall-clock; the
    runs must have taken the same steps where they count them (a seeded run is
    deterministic)."""
    steps = {run.get("steps") for run in runs}
    if len(steps) > 1:
        raise RuntimeError(f"repeated runs of one setup and seed took different steps: {steps}")
    best = min(runs, key=lambda run: run["seconds"])
    return {**best, "seconds_of_runs": [run["seconds"] for run in runs]}


def warm_up() -> float:
    """Pay the process's one-time costs before any timed run, which only the setup timed first
    would otherwise pay: torch imports its compiler when the first optimizer is made. Returns
    the seconds it took."""
    start = time.perf_counter()
    th.optim.Adam([th.zeros(1, requires_grad=True)])
    return time.perf_counter() - start


def main() -> None:
    args = parse_args()
    console = Console()
    warm_up_seconds = warm_up()
    console.print(f"one-time imports before the timed runs: {warm_up_seconds:.2f} s, {cpu_name()}")
    results: dict[str, Any] = {"machine": machine(), "warm_up_seconds": warm_up_seconds, "args": {
        key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}}
    # part: (its setups, one run of a setup and seed, its table)
    hierarchy_setups = dict(HIERARCHY_SETUPS)
    if args.before is not None:
        hierarchy_setups.update({f"{BEFORE} {name}": [BEFORE, *setup]
                                 for name, setup in HIERARCHY_SETUPS.items()})
    parts = {"add": (SETUPS, train_add, lambda rows: add_table(rows, args.env, args.max_level)),
             "hierarchy": (hierarchy_setups, train_hierarchy, hierarchy_table)}
    for part in args.parts:
        if part == "update":
            results[part] = time_updates(args)
            console.print(update_table(results[part], args.env, args.batch))
            continue
        setups, train, table = parts[part]
        repeats = args.add_repeats if part == "add" else 1
        rows = []
        for seed in args.seeds:  # the setups take turns, seed after seed
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in setups}
            for repeat in range(repeats):
                for name, setup in setups.items():
                    console.print(f"{part}: seed {seed}, {name}, run {repeat + 1}/{repeats}")
                    runs[name].append(train(setup, seed, args))
            rows.extend({"setup": name, **fastest(found)} for name, found in runs.items())
        results[part] = rows
        console.print(table(rows))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
