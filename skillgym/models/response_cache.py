"""A cache of responses keyed by responder, mode, prompt and sampling seed.

Training a router asks the same prompts in the same modes over and over; generating each answer
once and looking it up afterwards turns a step that costs a batch of generation into a step that
costs a dictionary lookup. The cache can be kept in a JSONL file (appended to as responses are
generated, so a killed run loses nothing it paid for).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from skillgym.models.responders import Responder, Response

Key = tuple[str, str, str, int]


class ResponseCache:
    """Responses by ``(responder name, mode, prompt, seed)``.

    Args:
        path: a JSONL file to load at construction and append new responses to; ``None`` keeps
            the cache in memory only. A malformed line raises ValueError naming file and line.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._responses: dict[Key, Response] = {}
        if self.path is not None and self.path.is_file():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    key = (row["responder"], row["mode"], row["prompt"], int(row["seed"]))
                    self._responses[key] = Response(row["text"], int(row["num_tokens"]))
                except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                    raise ValueError(f"{path}:{number}: not a cached response ({error})") from None

    def __len__(self) -> int:
        return len(self._responses)

    def __contains__(self, key: Key) -> bool:
        return key in self._responses

    def fetch(self, responder: Responder, prompts: Sequence[str], modes: Sequence[str],
              seeds: Sequence[int]) -> list[Response]:
        """The response to each ``(prompt, mode, seed)``, generating only the missing ones: one
        ``respond`` call per (mode, seed) among them, so the responder batches them.

        Raises ValueError when the responder returns the wrong number of responses or
        something that is not a :class:`Response`, and RuntimeError (chained to the cause) when
        it raises, both naming the responder; nothing is cached from a failed call.
        """
        if not len(prompts) == len(modes) == len(seeds):
            raise ValueError(f"got {len(prompts)} prompts, {len(modes)} modes and "
                             f"{len(seeds)} seeds")
        keys = [(responder.name, mode, prompt, int(seed))
                for prompt, mode, seed in zip(prompts, modes, seeds, strict=True)]
        missing: dict[tuple[str, int], list[str]] = defaultdict(list)
        for key in dict.fromkeys(keys):
            if key not in self._responses:
                missing[key[1], key[3]].append(key[2])
        for (mode, seed), group in missing.items():
            try:
                answers = responder.respond(group, [mode] * len(group), seed=seed)
            except Exception as error:
                raise RuntimeError(f"responder {responder.name!r} failed on {len(group)} prompts "
                                   f"in mode {mode!r}: {error}") from error
            if not isinstance(answers, list) or len(answers) != len(group) or not all(
                    isinstance(answer, Response) for answer in answers):
                got = len(answers) if isinstance(answers, list) else type(answers).__name__
                raise ValueError(f"responder {responder.name!r} returned {got} responses for "
                                 f"{len(group)} prompts; it must return one Response per prompt")
            self._store([(responder.name, mode, prompt, seed) for prompt in group], answers)
        return [self._responses[key] for key in keys]

    def _store(self, keys: list[Key], answers: list[Response]) -> None:
        self._responses.update(zip(keys, answers, strict=True))
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as file:
                for (name, mode, prompt, seed), answer in zip(keys, answers, strict=True):
                    file.write(json.dumps({"responder": name, "mode": mode, "prompt": prompt,
                                           "seed": seed, "text": answer.text,
                                           "num_tokens": answer.num_tokens},
                                          ensure_ascii=False) + "\n")
