"""``skillgym rewards``: list the available rewards, or score a JSONL file of completions."""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
from pathlib import Path
from typing import Any

from skillgym.training.cli import CLIError

# Keys read from each JSONL record, in order of preference.
_COMPLETION_KEYS = ("completion", "response", "output")
_TRUTH_KEYS = ("ground_truth", "solution", "answer")


def _summary(factory: Any) -> str:
    doc = inspect.getdoc(factory) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def run_list(args: argparse.Namespace) -> int:
    """Print every reward name with the first paragraph of its documentation."""
    from skillgym.rewards.registry import factory_of, names

    rows = []
    for name in names():
        try:
            rows.append({"name": name, "description": _summary(factory_of(name))})
        except ValueError as error:  # a broken plugin is listed with its error, not hidden
            rows.append({"name": name, "description": f"(unavailable: {error})"})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"skillgym rewards ({len(rows)})")
    table.add_column("name")
    table.add_column("description", overflow="fold")
    for row in rows:
        table.add_row(escape(row["name"]), escape(row["description"]))
    Console().print(table)
    return 0


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise CLIError(f"FILE {str(path)!r} does not exist")
    records = []
    with path.open(encoding="utf-8", errors="surrogateescape") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise CLIError(f"{path}:{number}: not a JSON object: {error.msg}") from error
            if not isinstance(record, dict):
                raise CLIError(f"{path}:{number}: expected a JSON object, got "
                               f"{type(record).__name__}")
            if not any(key in record for key in _COMPLETION_KEYS):
                raise CLIError(f"{path}:{number}: no completion; expected one of the keys "
                               f"{list(_COMPLETION_KEYS)}")
            records.append(record)
    return records


def run_score(args: argparse.Namespace) -> int:
    """Score every record of the file and print one JSON line per record, then a summary."""
    from skillgym.rewards.base import Sample
    from skillgym.rewards.registry import get

    try:
        config = json.loads(args.config) if args.config else {}
    except json.JSONDecodeError as error:
        raise CLIError(f"--config is not valid JSON: {error.msg}") from error
    if not isinstance(config, dict):
        raise CLIError("--config must be a JSON object of the reward's arguments")
    try:
        reward = get(args.reward, **config)
    except (ValueError, TypeError) as error:
        raise CLIError(str(error)) from error

    records = _records(Path(args.file))
    samples = []
    for record in records:
        completion = next(record[key] for key in _COMPLETION_KEYS if key in record)
        truth = next((record[key] for key in _TRUTH_KEYS if key in record), None)
        extra = {key: value for key, value in record.items()
                 if key not in (*_COMPLETION_KEYS, *_TRUTH_KEYS, "prompt", "completion_ids")}
        samples.append(Sample.build(completion, record.get("prompt"), truth,
                                    record.get("completion_ids"), extra))
    try:
        scores = reward.score_batch(samples)
    except ValueError as error:  # e.g. unit="tokens" on records without completion_ids
        raise CLIError(str(error)) from error
    for index, score in enumerate(scores):
        print(json.dumps({"index": index, "reward": reward.name, "score": score}))
    present = [score for score in scores if score is not None]
    mean = math.fsum(present) / len(present) if present else float("nan")
    print(f"{reward.name}: {len(scores)} records, {len(present)} scored, mean {mean:.6g}",
          file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym rewards list`` and ``skillgym rewards score``."""
    parser = subparsers.add_parser("rewards", help="list rewards or score completions")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every available reward with a one-line summary")
    listing.add_argument("--json", action="store_true", help="print one JSON object per line")
    listing.set_defaults(func=run_list)
    scoring = actions.add_parser(
        "score", help="score a JSONL file (keys: completion, prompt, ground_truth, "
                      "completion_ids, any extra column)")
    scoring.add_argument("file", metavar="FILE.jsonl", help="one JSON object per line")
    scoring.add_argument("--reward", required=True, help="a name from `skillgym rewards list`")
    scoring.add_argument("--config", default=None,
                         help="the reward's arguments as a JSON object, "
                              'e.g. \'{"ngram_size": 2}\'')
    scoring.set_defaults(func=run_score)
