"""The reward interface: :class:`Evaluator`, which every backend implements, and its result.

An evaluator is asked to ``prepare`` a batch of assignments (a weight-sharing backend trains its
shared weights on them), then to ``evaluate`` them into :class:`Evaluation` values. A
distributed backend can implement the same two calls over many workers.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from skillgym.envs.mtnas.modules import SearchSpace


@dataclass
class Evaluation:
    """The score of one assignment.

    Attributes:
        validation: per-task validation accuracy (the reward's ingredients).
        cache_hit: whether the scores came from the cache.
        shared_parameters: parameters used by two or more tasks.
        test: per-task test accuracy (mean over seeds); only the reference evaluator fills it.
        test_std: per-task standard deviation of test accuracy over seeds (reference only).
        validation_std: per-task standard deviation of validation accuracy over seeds.
    """

    validation: dict[str, float]
    cache_hit: bool = False
    shared_parameters: int = 0
    test: dict[str, float] = field(default_factory=dict)
    test_std: dict[str, float] = field(default_factory=dict)
    validation_std: dict[str, float] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        """The reward: mean validation accuracy over tasks."""
        return float(np.mean(list(self.validation.values())))

    @property
    def test_mean(self) -> float:
        """Mean test accuracy over tasks (reference evaluations only)."""
        return float(np.mean(list(self.test.values())))

    def to_json(self) -> dict:
        """A JSON-ready dict (``cache_hit`` excluded: it describes a lookup, not the score)."""
        record = asdict(self)
        record.pop("cache_hit")
        return record

    @classmethod
    def from_json(cls, record: dict, cache_hit: bool) -> Evaluation:
        """The inverse of :meth:`to_json`."""
        return cls(cache_hit=cache_hit, **record)


class Evaluator(abc.ABC):
    """Scores assignments of :attr:`space`; the interface shared by every backend."""

    space: SearchSpace

    def prepare(self, assignments: Sequence[np.ndarray]) -> None:  # noqa: B027  (optional hook)
        """Called before ``assignments`` are scored; weight-sharing backends train on them."""

    @abc.abstractmethod
    def evaluate(
        self, assignments: Sequence[np.ndarray], rng: np.random.Generator | None = None
    ) -> list[Evaluation]:
        """Score every assignment (validated against :attr:`space`).

        Args:
            assignments: arrays of shape ``space.shape``.
            rng: randomness for backends that sample their scores (the tabular stochastic mode).
        """

    def reward(self, assignment: np.ndarray, rng: np.random.Generator | None = None) -> Evaluation:
        """``prepare`` then ``evaluate`` one assignment: what an environment step needs."""
        self.prepare([assignment])
        return self.evaluate([assignment], rng)[0]
