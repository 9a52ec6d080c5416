"""The evaluation record every backend returns."""

from __future__ import annotations

import dataclasses

from skillgym.envs.mtnas.evaluator import Evaluation


def test_evaluation_json_round_trip():
    evaluation = Evaluation({"a": 0.5, "b": 1.0}, True, 12, {"a": 0.4}, {"a": 0.1}, {"a": 0.0})
    record = evaluation.to_json()
    assert "cache_hit" not in record
    assert Evaluation.from_json(record, cache_hit=False) == dataclasses.replace(
        evaluation, cache_hit=False
    )
    assert evaluation.mean == 0.75
