"""Composition: a weighted sum of rewards that also reports each component."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skillgym.rewards.base import Reward, RewardResult, Sample, check_number


class WeightedSum(Reward):
    """``sum_i weight_i * reward_i``, keeping every component's score in the details.

    A component that has no signal for a sample (``None``, e.g. accuracy without ground truth)
    is left out of that sample's sum, as TRL does with ``nansum``; if every component is
    ``None`` the sum is ``None`` too. Batches are scored component by component, so each keeps
    its own batch speed-ups.

    Args:
        components: ``{name: weight}`` or ``{name: {"weight": w, **config}}`` of registered
            rewards, or ``{label: (reward, weight)}`` with :class:`Reward` instances.
    """

    name = "weighted_sum"

    def __init__(self, components: Mapping[str, Any]) -> None:
        from skillgym.rewards.registry import get

        if not isinstance(components, Mapping) or not components:
            raise ValueError("components must be a non-empty mapping of reward name to weight, "
                             f"got {components!r}")
        self.components: dict[str, tuple[Reward, float]] = {}
        for label, spec in components.items():
            if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], Reward):
                reward, weight = spec
            elif isinstance(spec, Mapping):
                config = dict(spec)
                weight = config.pop("weight", 1.0)
                reward = get(config.pop("name", label), **config)
            else:
                reward, weight = get(label), spec
            check_number(f"weight of {label!r}", weight)
            self.components[label] = (reward, float(weight))

    def _combine(self, scores: Mapping[str, float | None]) -> float | None:
        present = [self.components[label][1] * score for label, score in scores.items()
                   if score is not None]
        return float(sum(present)) if present else None

    def score_columns(self, samples: Sequence[Sample]) -> dict[str, list[float | None]]:
        """Each component's scores of a batch (unweighted), by label."""
        return {label: reward.score_batch(samples)
                for label, (reward, _) in self.components.items()}

    def combine(self, columns: dict[str, list[float | None]]) -> list[float | None]:
        """The weighted sums of the rows of :meth:`score_columns`' columns."""
        rows = len(next(iter(columns.values())))
        return [self._combine({label: column[index] for label, column in columns.items()})
                for index in range(rows)]

    def score_batch(self, samples: Sequence[Sample]) -> list[float | None]:
        """The weighted sums of a batch."""
        return self.combine(self.score_columns(samples))

    def score(self, sample: Sample) -> float | None:
        """The weighted sum of one sample."""
        return self.score_batch([sample])[0]

    def explain(self, sample: Sample) -> RewardResult:
        """The sum, with each component's score, weight and details."""
        parts = {label: reward.explain(sample) for label, (reward, _) in self.components.items()}
        details = {label: {"score": part.score, "weight": self.components[label][1],
                           "details": dict(part.details)} for label, part in parts.items()}
        return RewardResult(self._combine({label: part.score for label, part in parts.items()}),
                            details)
