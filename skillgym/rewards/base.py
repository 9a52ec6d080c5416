"""The reward contract: a :class:`Sample` in, a score out, and a total coercion of model output.

Every reward in this package is a :class:`Reward`. It scores one :class:`Sample` (the completion
text plus whatever context the host trainer knows: prompt, ground truth, token ids, extra
columns) and may score a whole batch at once when that is faster. Model output reaches a reward
only through :func:`as_text` and :func:`as_ids`, which turn anything (``None``, bytes that are not
UTF-8, chat messages, arbitrary objects) into a string or an integer array, so that no model
output can make a reward raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def as_text(value: Any) -> str:
    """The text of a completion, whatever shape the host hands it in.

    ``str`` is returned unchanged; bytes are decoded as UTF-8 with invalid sequences replaced by
    U+FFFD; a chat message (``{"content": ...}``) gives its content, a list of messages the last
    one's (TRL's conversational completions), and a list of content parts (``{"type": "text",
    "text": ...}``) their joined text. ``None`` and any other object give ``""``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        if "content" in value:
            return as_text(value["content"])
        if value.get("type") == "text":
            return as_text(value.get("text"))
        return ""
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(part, Mapping) and "type" in part for part in value):
            return "".join(as_text(part) for part in value)
        return as_text(value[-1])
    return ""


def as_ids(value: Any) -> np.ndarray | None:
    """Token ids as a 1-D ``int64`` array, or ``None`` when there are none to use.

    Accepts lists, tuples, numpy arrays and anything with ``.tolist()`` (torch tensors). Ids
    that are not integers make the whole sequence unusable (``None``) rather than being dropped
    one by one, which would silently change the n-grams.
    """
    if value is None:
        return None
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        return None
    return array.astype(np.int64, copy=False)


@dataclass(frozen=True)
class Sample:
    """One completion with its context, as every reward sees it.

    Attributes:
        completion: the completion text (already coerced by :func:`as_text`).
        prompt: the prompt text, used for the mode switches (``/think``, ``/no_think``, ...).
        ground_truth: the reference answer, if the task has one.
        completion_ids: the completion's token ids, if the host has them.
        extra: any further per-sample columns (e.g. ``reference_accuracy`` for AdaptThink).
    """

    completion: str
    prompt: str = ""
    ground_truth: Any = None
    completion_ids: np.ndarray | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        completion: Any,
        prompt: Any = None,
        ground_truth: Any = None,
        completion_ids: Any = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Sample:
        """A sample from raw host values, coercing the model output so that it cannot raise.

        ``extra`` must be a mapping (or ``None``): extra columns are never dropped silently.
        """
        if extra is not None and not isinstance(extra, Mapping):
            raise ValueError(f"extra must be a mapping of column name to value, got "
                             f"{type(extra).__name__}")
        return cls(
            completion=as_text(completion),
            prompt=as_text(prompt),
            ground_truth=ground_truth,
            completion_ids=as_ids(completion_ids),
            extra=dict(extra or {}),
        )


@dataclass(frozen=True)
class RewardResult:
    """A score and the details behind it.

    Attributes:
        score: the reward; ``None`` means "no signal for this sample" (e.g. no ground truth),
            which TRL skips and the other adapters replace by their ``missing_score``.
        details: what the reward saw, e.g. the repeated spans or each component of a sum.
    """

    score: float | None
    details: Mapping[str, Any] = field(default_factory=dict)


class Reward:
    """Base class of every reward: configure at construction, then score samples.

    Subclasses implement :meth:`explain` (score and details of one sample), and may override
    :meth:`score_batch` when a batch can be scored faster than one sample at a time. Construction
    validates the configuration and raises ``ValueError`` naming the argument; scoring never
    raises on model output.
    """

    #: The registry name; also the ``__name__`` that trainers use as the logging key.
    name: str = "reward"

    @property
    def __name__(self) -> str:  # noqa: D105 - trainers read it to label the logged reward
        return self.name

    def explain(self, sample: Sample) -> RewardResult:
        """The score of one sample and the details behind it."""
        raise NotImplementedError

    def score(self, sample: Sample) -> float | None:
        """The score of one sample."""
        return self.explain(sample).score

    def score_batch(self, samples: Sequence[Sample]) -> list[float | None]:
        """The scores of a batch, in order."""
        return [self.score(sample) for sample in samples]

    def __call__(self, completion: Any, *, prompt: Any = None, ground_truth: Any = None,
                 completion_ids: Any = None, **extra: Any) -> float | None:
        """Score one raw completion with its context (further keywords become ``extra``)."""
        return self.score(Sample.build(completion, prompt, ground_truth, completion_ids, extra))

    def __repr__(self) -> str:
        config = ", ".join(f"{key}={value!r}" for key, value in vars(self).items()
                           if not key.startswith("_"))
        return f"{type(self).__name__}({config})"


def check_choice(argument: str, value: Any, allowed: Sequence[Any]) -> None:
    """Raise ``ValueError`` naming ``argument`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{argument} must be one of {list(allowed)}, got {value!r}")


def check_int(argument: str, value: Any, minimum: int) -> None:
    """Raise ``ValueError`` naming ``argument`` unless ``value`` is an int ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{argument} must be an integer >= {minimum}, got {value!r}")


def check_number(argument: str, value: Any, *, minimum: float | None = None,
                 maximum: float | None = None) -> None:
    """Raise ``ValueError`` naming ``argument`` unless ``value`` is a finite real in range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{argument} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{argument} must be finite, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{argument} must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{argument} must be <= {maximum}, got {value!r}")
