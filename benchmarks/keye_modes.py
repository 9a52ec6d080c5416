"""When to think: accuracy, tokens and think-rate by level for four ways of choosing the mode.

On held-out problems (the ``test`` split, which neither the model's SFT mixture nor the router's
pool contains), the same model answers in:

- **always-think**: every prompt with ``/think``;
- **never-think**: every prompt with ``/no_think``;
- **auto-think**: every prompt with ``/auto_think``, the model's own choice;
- **router**: the mode a ``keye-router`` run's policy chooses from the prompt (deterministic);
- **oracle**: per problem, ``/think`` only when that answer is right and the ``/no_think`` one
  is not: the highest accuracy any router choosing between the two could reach with this model,
  at the fewest tokens, the bound its targets face.

and the script checks the targets: on the hardest level always-think beats never-think by at
least 20 points, on the easiest never-think is within 1 point of it; the router uses at least
40 % fewer tokens than always-think with accuracy within 1 point of it; the think-rate of
auto-think and of the router rises with the level (never falls).

Usage: ``python benchmarks/keye_modes.py --router runs/<keye-router run> [--model builtin]
[--problems-per-level 100]``; without ``--router`` a router is trained first with the recipe's
defaults into ``benchmarks/results/keye_router``. Prints a table, writes
``benchmarks/results/keye_modes.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from skillgym.envs.keye.evaluation import evaluate_responder, summarize
from skillgym.envs.keye.mode_select import prompt_observation, resolve_responder
from skillgym.envs.keye.tasks import LEVEL_NUMBERS, sample_problems
from skillgym.training.bench import cpu_name
from skillgym.training.cli import main as skillgym
from skillgym.training.recipes.keye_router import env_of
from skillgym.training.resumable import load_policy
from skillgym.training.run import RunDir

RESULTS = Path(__file__).resolve().parent / "results"
POLICIES = ("always-think", "never-think", "auto-think", "router", "oracle")
_MODE_OF = {"always-think": "think", "never-think": "no_think", "auto-think": "auto_think"}


def router_run(path: Path | None, model: str) -> RunDir:
    """The router run to evaluate: the given one, or one trained now with the defaults."""
    if path is not None:
        return RunDir.open(path)
    run = RESULTS / "keye_router"
    if not (run / "config.toml").is_file():
        responder = [] if model == "builtin" else [f"env.responder={model}"]
        if skillgym(["train", "keye-router", *responder, "--run-dir", str(run)]) != 0:
            raise SystemExit("training the router failed")
    return RunDir.open(run)


def router_records(run: RunDir, problems, records: list[dict]) -> list[dict]:
    """The router's choice for each problem, with the record of the response in that mode."""
    _, kwargs = env_of(run.config())
    modes = kwargs["modes"]
    policy = load_policy(run.latest_checkpoint().path)
    width = policy.observation_space["prompt"].shape[0]
    actions, _ = policy.predict(prompt_observation([p.prompt for p in problems], width),
                                deterministic=True)
    by_key = {(r["problem_id"], r["mode"]): r for r in records}
    return [{**by_key[problem.id, modes[int(action)]], "mode": "router",
             "chosen": modes[int(action)]}
            for problem, action in zip(problems, actions, strict=True)]


def oracle_records(problems, records: list[dict]) -> list[dict]:
    """Per problem, the thinking record when only it is right, else the non-thinking one (as
    right, or as wrong, and shorter)."""
    by_key = {(r["problem_id"], r["mode"]): r for r in records}
    chosen = []
    for problem in problems:
        plain, thought = by_key[problem.id, "no_think"], by_key[problem.id, "think"]
        best = thought if thought["correct"] and not plain["correct"] else plain
        chosen.append({**best, "mode": "oracle", "chosen": best["mode"]})
    return chosen


def check_targets(summary: dict) -> dict[str, bool]:
    """Each target of the benchmark, met or not."""
    levels = [str(level) for level in LEVEL_NUMBERS]
    think, never = summary["always-think"], summary["never-think"]
    router = summary["router"]

    def rising(policy: str) -> bool:
        rates = [summary[policy][level]["think_rate"] for level in levels]
        return all(later >= earlier for earlier, later in zip(rates, rates[1:], strict=False))

    return {
        "hardest: always-think - never-think >= 20 points":
            think[levels[-1]]["accuracy"] - never[levels[-1]]["accuracy"] >= 0.20,
        "easiest: never-think within 1 point of always-think":
            never[levels[0]]["accuracy"] >= think[levels[0]]["accuracy"] - 0.01,
        "router: >= 40 % fewer tokens than always-think":
            router["all"]["tokens"] <= 0.6 * think["all"]["tokens"],
        "router: accuracy within 1 point of always-think":
            router["all"]["accuracy"] >= think["all"]["accuracy"] - 0.01,
        "auto-think: think-rate rises with the level": rising("auto-think"),
        "router: think-rate rises with the level": rising("router"),
    }


def main() -> None:
    """Evaluate the four policies and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="builtin",
                        help="'builtin' or a model checkpoint file")
    parser.add_argument("--router", type=Path, default=None, help="a keye-router run folder")
    parser.add_argument("--problems-per-level", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS / "keye_modes.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    RESULTS.mkdir(exist_ok=True)
    run = router_run(args.router, args.model)
    problems = [problem for level in LEVEL_NUMBERS for problem in sample_problems(
        level, args.problems_per_level, args.seed, "test")]
    started = time.perf_counter()
    responder = resolve_responder(None if args.model == "builtin" else args.model)
    records = evaluate_responder(responder, problems, _MODE_OF.values(), seed=args.seed)
    records = ([{**record, "mode": policy} for policy, mode in _MODE_OF.items()
                for record in records if record["mode"] == mode]
               + router_records(run, problems, records) + oracle_records(problems, records))
    summary = summarize(records)
    targets = check_targets(summary)

    table = Table(title=f"held-out problems, {args.problems_per_level} per level; "
                        f"{cpu_name()}, one torch thread")
    for column in ("policy", "level", "accuracy", "tokens", "think-rate", "format"):
        table.add_column(column, justify="left" if column in ("policy", "level") else "right")
    for policy in POLICIES:
        for level, row in summary[policy].items():
            table.add_row(policy, level, f"{100 * row['accuracy']:.1f}", f"{row['tokens']:.1f}",
                          f"{row['think_rate']:.2f}", f"{100 * row['format']:.1f}")
    console = Console()
    console.print(table)
    for target, met in targets.items():
        console.print(f"{'met    ' if met else 'NOT MET'}  {target}")
    oracle, think = summary["oracle"]["all"], summary["always-think"]["all"]
    console.print(f"the oracle's bound: {100 * (1 - oracle['tokens'] / think['tokens']):.0f} % "
                  f"fewer tokens than always-think, accuracy {100 * oracle['accuracy']:.1f} % "
                  f"against {100 * think['accuracy']:.1f} %")
    args.output.write_text(json.dumps({
        "model": args.model, "router": str(run.path), "cpu": cpu_name(),
        "problems_per_level": args.problems_per_level, "seed": args.seed,
        "seconds": time.perf_counter() - started, "summary": summary, "targets": targets,
    }, indent=1))
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
