"""The reward contract: a :class:`Sample` in, a score out, and a total coercion of model output.

Every reward in this package is a :class:`Reward`. It scores one :class:`Sample` (the completion
text plus whatever context the host trainer knows: prompt, ground truth, token ids, extra
columns) and may score a whole batch at once when that is faster. Model output reaches a reward
only through :func:`as_text` and :func:`as_ids`, which turn anything (``None``, bytes that are not
UTF-8, chat messages, arbitrary objects) into a string or an integer array, so that no model
output can make a reward raise.

Trainers hand a batch over column by column; :class:`SampleBatch` keeps it that way, so that a
reward that scores a whole batch reads a column at once (:func:`completion_texts`,
:func:`completion_id_batch`: every completion's ids in one flat
:class:`~skillgym.rewards.ragged.Ragged`) and no :class:`Sample` is built for it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skillgym.rewards.ragged import Ragged


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

    Accepts lists, tuples, numpy arrays and torch tensors. Ids are integers, Python's or
    numpy's (``bool`` counts as 0 and 1, as in Python); anything else (floats, strings,
    ``None``, nested lists, integers of more than 64 bits) makes the whole sequence unusable
    (``None``) rather than being dropped one by one, which would silently change the n-grams.
    """
    if isinstance(value, list):
        buffer = array("I")
        if _append_small_ids(buffer, value):
            return np.frombuffer(buffer, dtype=np.uintc).astype(np.int64)
    if value is None:
        return None
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        ids = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if ids.ndim != 1 or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)
                             or ids.dtype == np.bool_):
        return None
    return ids.astype(np.int64, copy=False)


def as_ids_batch(values: Sequence[Any]) -> tuple[Ragged, np.ndarray]:
    """Many completions' token ids (each coerced as :func:`as_ids`) as one flat batch.

    Returns the :class:`~skillgym.rewards.ragged.Ragged` of the ids and which rows are usable;
    an unusable value is an empty row. The ids are ``uint32`` when every one lies in
    ``[0, 2**32)``, else ``int64``.

    Lists of such ids, what trainers hand over, are appended straight to one buffer
    (``array.fromlist``, about four times faster than ``np.asarray`` row by row, and exact: it
    refuses anything but integers in range instead of converting it).
    """
    listed = _listed_ids_batch(values)
    if listed is not None:
        return listed
    buffer = array("I")
    append = buffer.fromlist
    lengths = [0] * len(values)
    usable = np.ones(len(values), dtype=bool)
    for row, value in enumerate(values):
        if isinstance(value, list):
            try:
                append(value)
            except (TypeError, ValueError, OverflowError):
                pass  # the buffer is unchanged; as_ids decides
            else:
                lengths[row] = len(value)
                continue
        ids = as_ids(value)
        if ids is None:
            usable[row] = False
        elif ids.size and (ids.min() < 0 or ids.max() > 0xFFFFFFFF):
            return _wide_ids_batch(values)
        else:
            buffer.frombytes(ids.astype(np.uintc).tobytes())
            lengths[row] = ids.size
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Ragged(np.frombuffer(buffer, dtype=np.uintc), offsets), usable


def _listed_ids_batch(values: Sequence[Any]) -> tuple[Ragged, np.ndarray] | None:
    """:func:`as_ids_batch` when every value is a list of ids in ``[0, 2**32)``, in one loop
    without a check per row (``fromlist`` refuses anything else); ``None`` otherwise."""
    buffer = array("I")
    append = buffer.fromlist
    try:
        for value in values:
            append(value)
    except (TypeError, ValueError, OverflowError):
        return None
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, values), np.int64, len(values)), out=offsets[1:])
    return (Ragged(np.frombuffer(buffer, dtype=np.uintc), offsets),
            np.ones(len(values), dtype=bool))


def _append_small_ids(buffer: array, ids: list) -> bool:
    """Append a list of integers in ``[0, 2**32)`` to an ``array("I")`` (``np.uintc``, 32 bits
    wherever numpy runs); ``False``, and the buffer unchanged, if the list holds anything
    else."""
    try:
        buffer.fromlist(ids)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _wide_ids_batch(values: Sequence[Any]) -> tuple[Ragged, np.ndarray]:
    """:func:`as_ids_batch` when some ids need 64 bits."""
    rows = [as_ids(value) for value in values]
    usable = np.array([ids is not None for ids in rows], dtype=bool)
    empty = np.zeros(0, dtype=np.int64)
    return Ragged.from_rows([empty if ids is None else ids for ids in rows]), usable


class _LazyIds:
    """The ``completion_ids`` field of :class:`Sample`: the host's value is kept as given and
    coerced by :func:`as_ids` when first read, so that building a sample whose ids no reward
    reads costs nothing (a dataclass field whose default is a descriptor goes through it)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._given, self._ids = f"_{name}_given", f"_{name}"

    def __get__(self, sample: Sample | None, owner: type | None = None) -> np.ndarray | None:
        if sample is None:
            return None  # the field's default
        state = sample.__dict__
        if self._ids not in state:
            state[self._ids] = as_ids(state.get(self._given))
        return state[self._ids]

    def __set__(self, sample: Sample, value: Any) -> None:
        sample.__dict__[self._given] = value
        sample.__dict__.pop(self._ids, None)

    def given(self, sample: Sample) -> Any:
        """The value the host gave, before coercion."""
        return sample.__dict__.get(self._given)


_COMPLETION_IDS = _LazyIds()


@dataclass(frozen=True)
class Sample:
    """One completion with its context, as every reward sees it.

    Attributes:
        completion: the completion text (already coerced by :func:`as_text`).
        prompt: the prompt text, used for the mode switches (``/think``, ``/no_think``, ...).
        ground_truth: the reference answer, if the task has one.
        completion_ids: the completion's token ids, if the host has them (coerced by
            :func:`as_ids` when first read).
        extra: any further per-sample columns (e.g. ``reference_accuracy`` for AdaptThink).
    """

    completion: str
    prompt: str = ""
    ground_truth: Any = None
    completion_ids: np.ndarray | None = _COMPLETION_IDS
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
            completion_ids=completion_ids,
            extra=dict(extra or {}),
        )


class SampleBatch(Sequence[Sample]):
    """A batch of samples stored by column, the way trainers hand it over.

    Indexing gives a :class:`Sample` (built with :meth:`Sample.build` on first access, then
    kept), so any reward can iterate the batch; a reward that scores a whole batch reads the
    columns instead (:func:`completion_texts`, :func:`completion_id_batch`), and no sample is
    built for it.

    Args:
        completions: the completions, as the host gives them.
        prompts, ground_truths, completion_ids: one value per completion, or ``None``.
        extra: further columns, ``{name: one value per completion}``.

    Raises:
        ValueError: a column's length differs from the number of completions (naming it).
    """

    def __init__(self, completions: Sequence[Any], prompts: Sequence[Any] | None = None,
                 ground_truths: Sequence[Any] | None = None,
                 completion_ids: Sequence[Any] | None = None,
                 extra: Mapping[str, Sequence[Any]] | None = None) -> None:
        self._completions = list(completions)
        count = len(self._completions)
        columns = {"prompts": prompts, "ground_truths": ground_truths,
                   "completion_ids": completion_ids, **{f"extra[{key!r}]": column
                                                        for key, column in (extra or {}).items()}}
        for name, column in columns.items():
            if column is not None and len(column) != count:
                raise ValueError(f"{name} has {len(column)} values for {count} completions")
        self._prompts = prompts
        self._ground_truths = ground_truths
        self._completion_ids = completion_ids
        self._extra = dict(extra or {})
        self._samples: list[Sample | None] = [None] * count
        self._texts: list[str] | None = None
        self._ids: tuple[Ragged, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._completions)

    def __getitem__(self, index: int | slice) -> Any:
        """The sample at ``index`` (a list of samples for a slice)."""
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        sample = self._samples[index]
        if sample is None:
            sample = self._samples[index] = Sample.build(
                self._completions[index],
                None if self._prompts is None else self._prompts[index],
                None if self._ground_truths is None else self._ground_truths[index],
                None if self._completion_ids is None else self._completion_ids[index],
                {key: column[index] for key, column in self._extra.items()})
        return sample

    def __iter__(self) -> Iterator[Sample]:
        return (self[index] for index in range(len(self)))

    def texts(self) -> list[str]:
        """Every completion's text (coerced by :func:`as_text`)."""
        if self._texts is None:
            self._texts = [as_text(completion) for completion in self._completions]
        return self._texts

    def ids(self) -> tuple[Ragged, np.ndarray] | None:
        """Every completion's ids with :func:`as_ids_batch`, or ``None`` without an ids
        column."""
        if self._completion_ids is None:
            return None
        if self._ids is None:
            self._ids = as_ids_batch(self._completion_ids)
        return self._ids


def completion_texts(samples: Sequence[Sample]) -> list[str]:
    """The completion text of every sample; read from a :class:`SampleBatch`'s column without
    building its samples."""
    if isinstance(samples, SampleBatch):
        return samples.texts()
    return [sample.completion for sample in samples]


def completion_id_batch(samples: Sequence[Sample]) -> tuple[Ragged, np.ndarray]:
    """The completion ids of every sample as one flat batch, and which samples have usable ids
    (see :func:`as_ids_batch`); read from a :class:`SampleBatch`'s column without building its
    samples."""
    if isinstance(samples, SampleBatch) and samples.ids() is not None:
        return samples.ids()
    return as_ids_batch([_COMPLETION_IDS.given(sample) for sample in samples])


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
