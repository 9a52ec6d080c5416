"""Repetition correction: GRPO with and without the repetition rewards, from a looping cold start.

Keye-VL corrects abnormal output such as repetitive collapse with rule-based rewards after its
RL stage. This script reproduces that on the built-in model with three arms:

- **(a) cold start**: a model that loops. The shipped checkpoint almost never does at any
  temperature, so the cold start is the shipped model fine-tuned (``keye-sft``) on a mixture in
  which 40 % of the thinking traces stutter (``data.loop_fraction``): one line repeated until the
  repeats cover 24 words, the answer still right, as distilled data with repetitive output is.
- **(b) GRPO with the repetition rewards**: the loop detector (``loop``) and the global n-gram
  repetition penalty (``repetition_penalty``), weight 1.0 each, beside accuracy (1.0) and the
  Keye format (0.2).
- **(c) GRPO without them**: accuracy and format only (``loop`` at weight 0, still logged).

The shipped model is measured too, with each seed, as the loop rate of a clean model.
(b) and (c) start from (a) and differ only in their rewards: the same steps, prompts, budget and
sampling seeds. Each is trained with ``--seeds`` seeds; every model answers the held-out
problems (the ``test`` split) in ``/think``, ``/no_think`` and ``/auto_think`` at the training
temperature (1.0) and budget, with the sampling seed of its run ((a): each seed in turn). Per
arm, the mean and spread over seeds of

- **loop rate**: the share of replies the default loop detector
  (:class:`~skillgym.rewards.repetition.LoopPenalty`) flags;
- **seq-rep-4**: the share of repeated word 4-grams in a reply (``1 - unique / total``,
  Welleck et al. 2019), averaged over replies;
- **accuracy**: exact answers;
- of the looping replies, the share that is right anyway and the share that ran to the end of
  the budget (whether an accuracy reward alone can see the loops; over the seeds with loops);

and the targets: (b)'s loop rate at most a fifth of (a)'s and of (c)'s, with accuracy no lower
than (a)'s.

Usage: ``python benchmarks/keye_repetition.py [--runs DIR] [--seeds 3] [--steps 60] [--jobs 2]``.
Runs missing under ``--runs`` (default ``benchmarks/results/keye_repetition``) are trained first,
``--jobs`` GRPO runs at a time, and a run cut short is resumed, so the one command reproduces
every number. Prints a table, writes ``benchmarks/results/keye_repetition.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from trained_runs import latest_model, run_all, train_command

from skillgym.envs.keye.evaluation import evaluate_responder
from skillgym.envs.keye.tasks import LEVEL_NUMBERS, sample_problems
from skillgym.models import SamplingParams, load_checkpoint
from skillgym.models.pretrained import builtin_path
from skillgym.models.responders import KEYE_REPLY_TOKENS, BuiltinResponder
from skillgym.rewards.base import Sample
from skillgym.rewards.repetition import LoopPenalty, NgramRepetitionPenalty
from skillgym.training.bench import cpu_name

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("think", "no_think", "auto_think")
TEMPERATURE = 1.0
#: The shipped model is measured beside the three arms, as the loop rate a clean model has.
ARMS = ("shipped", "cold start", "with repetition rewards", "without")

#: The looping cold start: the shipped model, 300 steps on a mixture whose thinking traces
#: stutter 40 % of the time (the shipped model's last mixture settings otherwise), auto-think's
#: choices grounded in the shipped model's measured non-thinking accuracy.
COLD_START = [
    "data.size=20000", "data.loop_fraction=0.4",
    "data.proportions={think=300.0, no_think=150.0, auto_think=250.0}",
    "data.level_weights={1=1.0, 2=2.0, 3=1.0, 4=1.0, 5=2.5, 6=3.0}",
    "train.steps=300", "train.learning_rate=0.0003", "train.warmup_steps=20",
    "train.eval_every=300", "train.checkpoint_every=100",
]
#: What (b) and (c) add to the keye-grpo defaults.
REWARDS = {
    "with repetition rewards": ["rewards.loop=1.0", "rewards.repetition_penalty=1.0"],
    "without": ["rewards.loop=0.0"],
}


def grpo_overrides(steps: int, learning_rate: float) -> list[str]:
    """What every GRPO run of the benchmark sets (beside its init, seed and rewards)."""
    return [f"train.steps={steps}", f"train.learning_rate={learning_rate}",
            f"train.eval_every={steps}", "train.checkpoint_every=10", "train.log_every=5"]


def cold_start(runs: Path) -> Path:
    """(a): the shipped model's non-thinking accuracy measured, then the looping SFT run."""
    measured = runs / "builtin-no-think"
    if not (measured / "records.json").is_file():
        run_all({measured: ["keye", "eval", "builtin", "--modes", "no_think",
                            "--problems-per-level", "40", "--output", str(measured)]}, 1)
    run = runs / "cold-start"
    run_all({run: train_command(run, "keye-sft", [
        f"init={builtin_path()}", f"data.accuracy={measured / 'records.json'}",
        *COLD_START])}, 1)
    return latest_model(run)


def measure(model_path: Path, problems, seed: int) -> dict[str, float]:
    """Loop rate, seq-rep-4, accuracy, think-rate and mean tokens of one model's replies."""
    params = SamplingParams(max_new_tokens=KEYE_REPLY_TOKENS, temperature=TEMPERATURE)
    responder = BuiltinResponder(load_checkpoint(model_path), params)
    records = evaluate_responder(responder, problems, MODES, seed=seed)
    samples = [Sample.build(record["response"]) for record in records]
    loops = np.array(LoopPenalty().score_batch(samples)) < 0
    seq_rep = -np.array(NgramRepetitionPenalty(4, unit="words").score_batch(samples))
    return {"loop_rate": float(loops.mean()), "seq_rep_4": float(seq_rep.mean()),
            "accuracy": float(np.mean([r["correct"] for r in records])),
            "think_rate": float(np.mean([r["thinks"] for r in records])),
            "tokens": float(np.mean([r["num_tokens"] for r in records])),
            "loop_rate_think": float(loops[[r["thinks"] for r in records]].mean()),
            "loops_right": float(np.mean([r["correct"] for r, loop in zip(records, loops,
                                                                          strict=True) if loop]
                                         or [np.nan])),
            "loops_to_budget": float(np.mean([r["num_tokens"] >= KEYE_REPLY_TOKENS for r, loop
                                              in zip(records, loops, strict=True) if loop]
                                             or [np.nan]))}


def percent(value: float) -> str:
    """A share as a whole percentage, or a dash where it is undefined (no loops)."""
    return "-" if np.isnan(value) else f"{100 * value:.0f}"


def defined(table: dict[str, dict[str, float]]) -> dict[str, dict[str, float | None]]:
    """``table`` with NaN (a share of no loops) as ``None``, which JSON can hold."""
    return {name: {key: None if np.isnan(value) else value for key, value in row.items()}
            for name, row in table.items()}


def check_targets(means: dict[str, dict[str, float]]) -> dict[str, bool]:
    """The issue's targets on the arms' means over seeds."""
    cold, fixed, plain = (means[arm] for arm in ARMS[1:])
    return {
        "(b) loop rate <= 1/5 of (a)'s": fixed["loop_rate"] <= cold["loop_rate"] / 5,
        "(b) loop rate <= 1/5 of (c)'s": fixed["loop_rate"] <= plain["loop_rate"] / 5,
        "(b) accuracy >= (a)'s": fixed["accuracy"] >= cold["accuracy"],
    }


def main() -> None:
    """Train what is missing, measure every arm and seed, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=RESULTS / "keye_repetition")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60, help="GRPO steps of (b) and (c)")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--problems-per-level", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2,
                        help="GRPO runs trained at once (one torch thread each)")
    parser.add_argument("--output", type=Path, default=RESULTS / "keye_repetition.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.runs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cold = cold_start(args.runs)
    runs = {(arm, seed): args.runs / f"{arm.split()[0]}-s{seed}"
            for arm in REWARDS for seed in range(args.seeds)}
    run_all({run: train_command(run, "keye-grpo", [
        f"init={cold}", f"seed={seed}", *REWARDS[arm],
        *grpo_overrides(args.steps, args.learning_rate)]) for (arm, seed), run in runs.items()},
        args.jobs)
    models = {(arm, seed): path for arm, path in (("shipped", builtin_path()),
                                                  ("cold start", cold))
              for seed in range(args.seeds)}
    models.update({key: latest_model(run) for key, run in runs.items()})
    problems = [problem for level in LEVEL_NUMBERS for problem in sample_problems(
        level, args.problems_per_level, 1, "test")]
    results = {f"{arm}/s{seed}": measure(path, problems, seed)
               for (arm, seed), path in models.items()}
    means, spreads = {}, {}
    for arm in ARMS:
        rows = [results[f"{arm}/s{seed}"] for seed in range(args.seeds)]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a share of no loops stays NaN
            means[arm] = {key: float(np.nanmean([row[key] for row in rows])) for key in rows[0]}
            spreads[arm] = {key: float(np.nanstd([row[key] for row in rows]))
                            for key in rows[0]}
    targets = check_targets(means)

    table = Table(title=f"held-out problems, {args.problems_per_level} per level x "
                        f"{len(MODES)} modes, temperature {TEMPERATURE}, {args.seeds} seeds "
                        f"(mean ± std); {cpu_name()}, one torch thread")
    for column in ("arm", "loop rate %", "loop rate of thinking %", "seq-rep-4 %",
                   "accuracy %", "think-rate", "tokens", "loops right %", "loops to budget %"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    for arm in ARMS:
        mean, spread = means[arm], spreads[arm]
        table.add_row(arm, *(f"{100 * mean[key]:.1f} ± {100 * spread[key]:.1f}" for key in (
            "loop_rate", "loop_rate_think", "seq_rep_4", "accuracy")),
            f"{mean['think_rate']:.2f}", f"{mean['tokens']:.1f}",
            *(percent(mean[key]) for key in ("loops_right", "loops_to_budget")))
    console = Console()
    console.print(table)
    for target, met in targets.items():
        console.print(f"{'met    ' if met else 'NOT MET'}  {target}")
    args.output.write_text(json.dumps({
        "cpu": cpu_name(), "runs": str(args.runs), "seeds": args.seeds, "steps": args.steps,
        "learning_rate": args.learning_rate, "problems_per_level": args.problems_per_level,
        "temperature": TEMPERATURE, "seconds": time.perf_counter() - started,
        "results": defined(results), "means": defined(means), "spreads": defined(spreads),
        "targets": targets,
    }, indent=1))
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
