"""When to think, learned inside the model: auto-think after GRPO three ways.

Plain GRPO tends to collapse to one mode; AdaptThink's importance sampling and AutoThink's batch
balancing are two published cures. Starting from the shipped model (the cold start), three
``keye-grpo`` runs train on ``/auto_think`` prompts of every level, the same steps, prompts,
budget and seed:

- **importance sampling** (AdaptThink): ``train.forced_decision=true``: half of each group is
  made to choose ``/think`` at "Therefore, /" and half ``/no_think``, the ratio there against
  1/2; the reward is AdaptThink's (``adaptthink``: correctness plus ``delta`` for a correct
  answer without thinking), so not thinking wins only where it costs less than ``delta`` in
  accuracy;
- **batch balancing** (AutoThink): the ``autothink`` reward, whose table damps whichever mode
  dominates the batch, no forced decision;
- **plain GRPO**: AdaptThink's reward without the forced decision;

each beside the Keye format (0.2) and loop (0.5) rewards. Every model then answers the held-out
problems (the ``test`` split) greedily with ``/auto_think``, against the cold start answering
with ``/think`` (always-think), ``/no_think`` and ``/auto_think``: accuracy, mean reply tokens
and think-rate by level, and the targets for each RL run: at least 40 % fewer tokens than
always-think with accuracy within 1 point of it, and a think-rate that rises with the level.

Usage: ``python benchmarks/keye_think_rl.py [--runs DIR] [--steps 80] [--jobs 2]``. Runs
missing under ``--runs`` (default ``benchmarks/results/keye_think_rl``) are trained first and a
run cut short is resumed. Prints a table, writes ``benchmarks/results/keye_think_rl.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from trained_runs import latest_model, run_all, train_command

from skillgym.envs.keye.evaluation import evaluate_responder, summarize
from skillgym.envs.keye.tasks import LEVEL_NUMBERS, sample_problems
from skillgym.models import load_checkpoint
from skillgym.models.pretrained import builtin_path
from skillgym.models.responders import BuiltinResponder
from skillgym.training.bench import cpu_name

RESULTS = Path(__file__).resolve().parent / "results"
ADAPTTHINK = ["rewards.accuracy=0.0", "rewards.adaptthink={weight=1.0, delta=0.05}"]
#: What each RL run sets beside the shared overrides.
ARMS = {
    "importance sampling": [*ADAPTTHINK, "train.forced_decision=true"],
    "batch balancing": ["rewards.accuracy=0.0", "rewards.autothink=1.0"],
    "plain GRPO": ADAPTTHINK,
}
#: The cold start's rows: the mode it is asked in.
BASELINES = {"always-think": "think", "never-think": "no_think", "cold start auto": "auto_think"}


def shared_overrides(steps: int, learning_rate: float, seed: int) -> list[str]:
    """What every RL run of the benchmark sets."""
    return [f"seed={seed}", 'prompts.modes=["auto_think"]', f"train.steps={steps}",
            f"train.learning_rate={learning_rate}", f"train.eval_every={steps}",
            "train.checkpoint_every=10", "train.log_every=5"]


def monotone(summary: dict[str, dict[str, float]]) -> bool:
    """Whether the think-rate never falls from one level to the next."""
    rates = [summary[str(level)]["think_rate"] for level in LEVEL_NUMBERS]
    return all(later >= earlier for earlier, later in zip(rates, rates[1:], strict=False))


def check_targets(summaries: dict[str, dict]) -> dict[str, bool]:
    """Each RL run's targets against always-think."""
    think = summaries["always-think"]["all"]
    targets = {}
    for arm in ARMS:
        row = summaries[arm]["all"]
        targets[f"{arm}: >= 40 % fewer tokens than always-think"] = (
            row["tokens"] <= 0.6 * think["tokens"])
        targets[f"{arm}: accuracy within 1 point of always-think"] = (
            row["accuracy"] >= think["accuracy"] - 0.01)
        targets[f"{arm}: think-rate monotone in the level"] = monotone(summaries[arm])
    return targets


def main() -> None:
    """Train what is missing, evaluate every model, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=RESULTS / "keye_think_rl")
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2,
                        help="runs trained at once (one torch thread each)")
    parser.add_argument("--problems-per-level", type=int, default=40)
    parser.add_argument("--output", type=Path, default=RESULTS / "keye_think_rl.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    runs = {arm: args.runs / arm.replace(" ", "-") for arm in ARMS}
    shared = shared_overrides(args.steps, args.learning_rate, args.seed)
    run_all({run: train_command(run, "keye-grpo", [*shared, *ARMS[arm]])
             for arm, run in runs.items()}, args.jobs)
    problems = [problem for level in LEVEL_NUMBERS for problem in sample_problems(
        level, args.problems_per_level, 1, "test")]
    cold = evaluate_responder(BuiltinResponder(load_checkpoint(builtin_path())), problems,
                              BASELINES.values(), seed=1)
    summaries = {name: summarize(r for r in cold if r["mode"] == mode)[mode]
                 for name, mode in BASELINES.items()}
    # What an auto-think reply costs when it does not think: its analysis and the answer.
    direct = [r["num_tokens"] for r in cold if r["mode"] == "auto_think" and not r["thinks"]]
    floor = sum(direct) / max(len(direct), 1)
    for arm, run in runs.items():
        records = evaluate_responder(BuiltinResponder(load_checkpoint(latest_model(run))),
                                     problems, ["auto_think"], seed=1)
        summaries[arm] = summarize(records)["auto_think"]
    targets = check_targets(summaries)

    table = Table(title=f"held-out problems, {args.problems_per_level} per level, greedy; "
                        f"RL: {args.steps} GRPO steps on /auto_think prompts; {cpu_name()}")
    for column in ("policy", "level", "accuracy %", "tokens", "think-rate"):
        table.add_column(column, justify="left" if column in ("policy", "level") else "right")
    for name, summary in summaries.items():
        for level, row in summary.items():
            table.add_row(name, level, f"{100 * row['accuracy']:.1f}", f"{row['tokens']:.1f}",
                          f"{row['think_rate']:.2f}")
    console = Console()
    console.print(table)
    think = summaries["always-think"]["all"]["tokens"]
    for name in (*ARMS, "cold start auto"):
        console.print(f"{name}: {100 * (1 - summaries[name]['all']['tokens'] / think):.0f} % "
                      "fewer tokens than always-think")
    console.print(f"an auto-think reply that does not think (analysis and answer) takes "
                  f"{floor:.1f} tokens, {100 * floor / think:.0f} % of always-think's mean; the "
                  "token target asks for at most 60 %")
    for target, met in targets.items():
        console.print(f"{'met    ' if met else 'NOT MET'}  {target}")
    args.output.write_text(json.dumps({
        "cpu": cpu_name(), "runs": str(args.runs), "steps": args.steps,
        "learning_rate": args.learning_rate, "seed": args.seed,
        "problems_per_level": args.problems_per_level,
        "seconds": time.perf_counter() - started, "summaries": summaries, "targets": targets,
        "auto_think_floor_tokens": floor,
    }, indent=1))
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
