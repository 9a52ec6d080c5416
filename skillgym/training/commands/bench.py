"""``skillgym bench``: steps per second of environments, single and natively batched."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from skillgym.training.bench import (
    DEFAULT_IDS,
    BenchError,
    machine,
    measure,
    resolve_ids,
    single_table,
    vector_table,
)
from skillgym.training.cli import CLIError


def run(args: argparse.Namespace) -> int:
    """Measure, print the tables and write them as JSON when asked."""
    from rich.console import Console

    modes = ("batched", "sync") if args.sync else ("batched",)
    console = Console()
    try:
        ids = resolve_ids(args.ids or DEFAULT_IDS)
        single, batched = measure(ids, [args.num_envs], args.seconds, args.seconds, args.rounds,
                                  args.seed, modes, console=console)
    except BenchError as error:
        raise CLIError(str(error)) from None
    console.print(single_table(single))
    if batched:
        console.print(vector_table(batched))
    else:
        console.print("none of these ids has a natively batched twin (vector_entry_point)")
    if args.output is not None:
        settings = {"ids": ids, "num_envs": args.num_envs, "seconds": args.seconds,
                    "rounds": args.rounds, "seed": args.seed, "sync": args.sync}
        report = {"settings": settings, "machine": machine(), "single": single,
                  "batched": batched}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written: {args.output}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym bench``."""
    parser = subparsers.add_parser(
        "bench",
        help="environment throughput: steps/s of single and natively batched envs",
        description="Step each environment alone with random actions (legal ones, from "
        "action_masks(), where the env has masks) and report steps/s; step each id that has a "
        "natively batched twin (vector_entry_point) at --num-envs sub-environments and report "
        "sub-environment steps/s. Timings on a shared CPU are noisy: compare rates measured in "
        "one run (--sync measures SyncVectorEnv side by side with the batched twin). "
        "benchmarks/env_throughput.py measures every id the same way.",
    )
    parser.add_argument("ids", nargs="*", metavar="ID",
                        help="environment ids, 'skillgym/' optional for skillgym's own "
                        f"(default: {' '.join(DEFAULT_IDS)})")
    parser.add_argument("--num-envs", type=int, default=256,
                        help="sub-environments of a batched env (default 256)")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="time per measurement (default 1.0)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternating rounds a vector measurement is split into (default 4)")
    parser.add_argument("--sync", action="store_true",
                        help="also measure SyncVectorEnv of single envs, and the ratio")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="JSON file to write")
    parser.set_defaults(func=run)
