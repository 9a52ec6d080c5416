"""``benchmarks/train_speed.py``'s bookkeeping (the benchmark itself is not run here)."""

from __future__ import annotations

import pytest
from training_helpers import load_benchmark


def test_the_fastest_of_repeated_runs_counts_and_every_run_is_kept():
    fastest = load_benchmark("train_speed").fastest
    runs = [{"seconds": 7.9, "steps": 100, "rollout_seconds": 3.0},
            {"seconds": 7.1, "steps": 100, "rollout_seconds": 2.5}]
    assert fastest(runs) == {"seconds": 7.1, "steps": 100, "rollout_seconds": 2.5,
                             "seconds_of_runs": [7.9, 7.1]}
    # a hierarchy run counts no steps
    assert fastest([{"seconds": 30.0}])["seconds_of_runs"] == [30.0]


def test_repeated_runs_that_took_different_steps_are_refused():
    fastest = load_benchmark("train_speed").fastest
    with pytest.raises(RuntimeError, match="different steps"):
        fastest([{"seconds": 1.0, "steps": 100}, {"seconds": 1.1, "steps": 101}])
