"""How far a router can save tokens: the oracle bound, and a confidence cascade against it.

On the held-out problems of ``keye_modes.py`` (the ``test`` split, ``--problems-per-level`` per
level, greedy decoding), the model answers every prompt twice: with ``/no_think`` (the direct
answer, with each token's log-probability under the model) and with ``/think``. From those:

- per level: direct and thinking accuracy and tokens, and how well the direct answer's lowest
  token log-probability tells a wrong direct answer from a right one (ROC AUC);
- the **oracle bound**: think exactly where the direct answer is wrong (and thinking right),
  the most any router choosing between the two modes could save at always-think's accuracy;
- the **cascade**: answer directly, then think when the direct answer's lowest token
  log-probability is below a threshold τ (both answers' tokens counted), for thresholds over
  the range seen; and the most it saves within 1 point of always-think's accuracy.

It measures what the router target of ``keye_modes.py`` (≥ 40 % fewer tokens than
always-think, accuracy within 1 point) leaves to a router with the best signal found.

Usage: ``python benchmarks/keye_cascade.py [--model builtin|CHECKPOINT]``. Prints the tables,
writes ``benchmarks/results/keye_cascade.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from skillgym.envs.keye.tasks import LEVEL_NUMBERS, sample_problems
from skillgym.models import SamplingParams, decode, encode_prompt, generate, load_checkpoint
from skillgym.models.pretrained import load_builtin
from skillgym.rewards.accuracy import AccuracyReward
from skillgym.rewards.parsing import with_switch
from skillgym.training.bench import cpu_name

RESULTS = Path(__file__).resolve().parent / "results"
THRESHOLDS = 60


def answer(model, problems, mode: str, max_new_tokens: int):
    """Greedy answers in ``mode``: right or not, token counts, each answer's lowest token
    log-probability under the model."""
    prompts = [encode_prompt([{"role": "user", "content": with_switch(p.prompt, mode)}])
               for p in problems]
    out = generate(model, prompts, SamplingParams(max_new_tokens=max_new_tokens,
                                                  temperature=0.0, log_probs=True))
    lengths = out.lengths.numpy()
    accuracy = AccuracyReward()
    right = np.array([accuracy(decode(out.tokens[i, :n]), ground_truth=p.answer) == 1.0
                      for i, (n, p) in enumerate(zip(lengths, problems, strict=True))])
    lowest = np.array([float(out.model_log_probs[i, :n].min()) for i, n in enumerate(lengths)])
    return right, lengths.astype(float), lowest


def auc(right: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC of ``score`` for telling right from wrong (``None`` when one class is empty)."""
    pos, neg = score[right], score[~right]
    if not len(pos) or not len(neg):
        return None
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def main() -> None:
    """Answer both ways, print the per-level table, the bound and the cascade."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="builtin", help="'builtin' or a model checkpoint file")
    parser.add_argument("--problems-per-level", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=480)
    parser.add_argument("--output", type=Path, default=RESULTS / "keye_cascade.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = (load_builtin() if args.model == "builtin" else load_checkpoint(args.model)).eval()
    problems = [p for level in LEVEL_NUMBERS
                for p in sample_problems(level, args.problems_per_level, args.seed, "test")]
    levels = np.array([p.level for p in problems])
    direct, direct_tokens, lowest = answer(model, problems, "no_think", args.max_new_tokens)
    think, think_tokens, _ = answer(model, problems, "think", args.max_new_tokens)
    always_accuracy, always_tokens = think.mean(), think_tokens.mean()

    per_level = []
    for level in LEVEL_NUMBERS:
        at = levels == level
        per_level.append({"level": level, "direct_accuracy": float(direct[at].mean()),
                          "direct_tokens": float(direct_tokens[at].mean()),
                          "think_accuracy": float(think[at].mean()),
                          "think_tokens": float(think_tokens[at].mean()),
                          "auc": auc(direct[at], lowest[at])})
    oracle_thinks = ~direct & think
    oracle = {"accuracy": float(np.where(oracle_thinks, think, direct).mean()),
              "saved": float(1 - np.where(oracle_thinks, think_tokens, direct_tokens).mean()
                             / always_tokens)}
    cascade = []
    for tau in np.quantile(lowest, np.linspace(0, 1, THRESHOLDS)):
        thinks = lowest < tau
        cascade.append({"tau": float(tau),
                        "accuracy": float(np.where(thinks, think, direct).mean()),
                        "saved": float(1 - (direct_tokens + thinks * think_tokens).mean()
                                       / always_tokens),
                        "think_rate": [float(thinks[levels == L].mean()) for L in LEVEL_NUMBERS]})
    within = [c for c in cascade if c["accuracy"] >= always_accuracy - 0.01]
    best = max(within, key=lambda c: c["saved"], default=None)

    console = Console(width=140)
    table = Table(title=f"{args.model}: {args.problems_per_level} held-out problems a level, "
                        f"greedy ({cpu_name()})")
    for column in ("level", "direct %", "direct tokens", "think %", "think tokens",
                   "AUC of lowest log-prob"):
        table.add_column(column, justify="right")
    for row in per_level:
        table.add_row(str(row["level"]), f"{100 * row['direct_accuracy']:.1f}",
                      f"{row['direct_tokens']:.1f}", f"{100 * row['think_accuracy']:.1f}",
                      f"{row['think_tokens']:.1f}",
                      "-" if row["auc"] is None else f"{row['auc']:.3f}")
    console.print(table)
    console.print(f"always-think: {100 * always_accuracy:.1f} % at {always_tokens:.1f} tokens; "
                  f"AUC over all levels {auc(direct, lowest):.3f}")
    console.print(f"oracle bound: {100 * oracle['saved']:.0f} % fewer tokens at "
                  f"{100 * oracle['accuracy']:.1f} %")
    curve = Table(title="cascade: direct answer, then think when its lowest log-prob < τ")
    for column in ("τ", "accuracy %", "fewer tokens %", "think-rate by level"):
        curve.add_column(column, justify="right")
    for row in cascade[::3]:
        curve.add_row(f"{row['tau']:.3f}", f"{100 * row['accuracy']:.1f}",
                      f"{100 * row['saved']:.0f}", " ".join(f"{r:.2f}" for r in row["think_rate"]))
    console.print(curve)
    if best is not None:
        console.print(f"cascade within 1 point of always-think: {100 * best['saved']:.0f} % fewer "
                      f"tokens at {100 * best['accuracy']:.1f} % (τ = {best['tau']:.3f})")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "model": args.model, "problems_per_level": args.problems_per_level, "seed": args.seed,
        "cpu": cpu_name(), "always_think": {"accuracy": float(always_accuracy),
                                            "tokens": float(always_tokens)},
        "per_level": per_level, "oracle": oracle, "cascade": cascade,
        "best_within_one_point": best}, indent=1))
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
