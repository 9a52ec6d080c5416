"""How well a responder answers the Keye tasks in each mode: accuracy, tokens, think-rate.

:func:`evaluate_responder` asks a responder every problem in every mode and scores each
response with the reward plugins (exact accuracy, the strict Keye format of the requested mode);
:func:`summarize` reduces the records by mode and level. The records are also what
:func:`~skillgym.envs.keye.mixture.accuracy_table` reads to ground auto-think's choice in a
measurement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from skillgym.envs.keye.tasks import Problem
from skillgym.models.responders import Responder
from skillgym.rewards.accuracy import AccuracyReward
from skillgym.rewards.format import KeyeFormatReward
from skillgym.rewards.parsing import parse_response, with_switch

_ACCURACY = AccuracyReward()
_FORMAT = KeyeFormatReward()


def score_response(problem: Problem, mode: str, text: str, num_tokens: int) -> dict[str, Any]:
    """One record: the problem, the mode asked, and whether the response was right, well
    formed in that mode, and thought (a non-empty ``<think>``)."""
    prompt = with_switch(problem.prompt, mode)
    return {
        "problem_id": problem.id,
        "level": problem.level,
        "digits": problem.digits,
        "mode": mode,
        "correct": _ACCURACY(text, ground_truth=problem.answer) == 1.0,
        "well_formed": _FORMAT(text, prompt=prompt) == 1.0,
        "thinks": parse_response(text, lenient=True).thinks,
        "num_tokens": int(num_tokens),
        "response": text,
    }


def evaluate_responder(responder: Responder, problems: Sequence[Problem],
                       modes: Iterable[str], *, seed: int = 0) -> list[dict[str, Any]]:
    """Every problem answered in every mode, scored (see :func:`score_response`)."""
    records = []
    for mode in modes:
        responses = responder.respond([p.prompt for p in problems], [mode] * len(problems),
                                      seed=seed)
        records += [score_response(problem, mode, response.text, response.num_tokens)
                    for problem, response in zip(problems, responses, strict=True)]
    return records


def summarize(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """``summary[mode][level]``: accuracy, format compliance, think-rate, mean tokens and the
    number of problems; level ``"all"`` pools the levels."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        groups[record["mode"], str(record["level"])].append(record)
        groups[record["mode"], "all"].append(record)
    summary: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for (mode, level), rows in sorted(groups.items()):
        count = len(rows)
        summary[mode][level] = {
            "accuracy": sum(r["correct"] for r in rows) / count,
            "format": sum(r["well_formed"] for r in rows) / count,
            "think_rate": sum(r["thinks"] for r in rows) / count,
            "tokens": sum(r["num_tokens"] for r in rows) / count,
            "count": count,
        }
    return dict(summary)
