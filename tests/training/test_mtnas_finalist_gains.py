"""The fidelity benchmark's analysis of the stand-alone ranking of k finalists, against sums
done by hand."""

from __future__ import annotations

import numpy as np
import pytest
from training_helpers import load_benchmark

# Three seeds' mean accuracies of five assignments; 0 is single-task training, 1 hard sharing.
SCORES = np.array([
    [0.80, 0.78, 0.83, 0.70, 0.81],
    [0.80, 0.79, 0.81, 0.72, 0.85],
    [0.80, 0.80, 0.78, 0.71, 0.77],
])
# the supernet ranks 3 first, then 2, then 4
REWARDS = [0.1, 0.2, 0.5, 0.9, 0.3]


def test_gains_by_number_of_finalists_match_a_hand_count():
    fidelity = load_benchmark("mtnas_fidelity")
    gains = fidelity.finalist_gains(SCORES, REWARDS, [0, 1], [1, 2], draws=1)
    # k = 1: finalists {3, 0, 1}. Seen means without seed 0: 0.80, 0.795, -, 0.715 -> 0 (gain 0)
    # against hard sharing: judged by seed 0 0.80 - 0.78, seed 1 0.80 - 0.79, seed 2 0.80 - 0.80
    assert gains[1]["supernet"] == pytest.approx(0.0)
    assert gains[1]["supernet_vs_hard"] == pytest.approx((0.02 + 0.01 + 0.0) / 3)
    # k = 2: finalists {3, 2, 0, 1}. Seen means of 2 without seed 0: 0.795 -> 0 (0.80); without
    # seed 1: 0.805 -> 2, judged 0.81 - 0.80; without seed 2: 0.82 -> 2, judged 0.78 - 0.80
    assert gains[2]["supernet"] == pytest.approx((0.0 + 0.01 - 0.02) / 3)


def test_random_finalists_average_their_draws():
    fidelity = load_benchmark("mtnas_fidelity")
    # every draw of all five assignments is the exhaustive ranking: without seed 0 it picks 4
    # (0.81), without seed 1 assignment 2 (0.805), without seed 2 assignment 4 (0.83)
    gains = fidelity.finalist_gains(SCORES, REWARDS, [0, 1], [5], draws=3)
    expected = ((0.81 - 0.80) + (0.81 - 0.80) + (0.77 - 0.80)) / 3
    assert gains[5]["random"] == pytest.approx(expected)
    assert gains[5]["supernet"] == pytest.approx(expected)
