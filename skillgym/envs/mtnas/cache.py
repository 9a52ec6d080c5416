"""The reward cache: evaluations keyed by text, in memory and in a JSON-lines file.

The evaluators begin every key with a :func:`fingerprint` of what a score depends on (space,
settings, seeds, split sizes), so that a cache file kept across runs never answers for another
configuration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from skillgym.envs.mtnas.evaluator import Evaluation


def fingerprint(*parts) -> str:
    """A short, stable hash of ``parts`` (anything ``json`` can write, the rest by ``str``)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class RewardCache:
    """Evaluations keyed by text, in memory and, given ``path``, appended to a JSON-lines file.

    Args:
        path: the file; existing records are loaded, new ones appended as they are stored.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self._records: dict[str, dict] = {}
        if self.path is not None and self.path.exists():
            for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    entry = json.loads(line)
                    self._records[entry["key"]] = entry["evaluation"]
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise ValueError(f"{self.path}:{number}: not a reward-cache record") from error

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> Evaluation | None:
        """The stored evaluation of ``key`` (marked as a cache hit), or ``None``."""
        record = self._records.get(key)
        return None if record is None else Evaluation.from_json(record, cache_hit=True)

    def put(self, key: str, evaluation: Evaluation) -> None:
        """Store ``evaluation`` under ``key`` (and append it to the file, if any)."""
        record = evaluation.to_json()
        self._records[key] = record
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"key": key, "evaluation": record}) + "\n")

    def get_or_compute(self, key: str, compute: Callable[[], Evaluation]) -> Evaluation:
        """The stored evaluation of ``key``, or ``compute()`` stored under it."""
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found
