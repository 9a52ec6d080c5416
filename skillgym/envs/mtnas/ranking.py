"""Rank agreement between two sets of scores: how faithfully a cheap reward orders assignments."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b rank correlation of two equally long sequences (ties handled).

    Raises:
        ValueError: the lengths differ, fewer than two values, or either sequence is constant.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"x and y must be 1-D of equal length >= 2, got {x.shape} and {y.shape}")
    upper = np.triu_indices(len(x), k=1)
    dx = np.sign(x[:, None] - x[None, :])[upper]
    dy = np.sign(y[:, None] - y[None, :])[upper]
    denominator = math.sqrt(float(np.count_nonzero(dx)) * float(np.count_nonzero(dy)))
    if denominator == 0:
        raise ValueError("kendall_tau is undefined when x or y is constant")
    return float(np.sum(dx * dy) / denominator)
