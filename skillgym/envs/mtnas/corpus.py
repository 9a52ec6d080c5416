"""Encoding: one vocabulary shared by several tasks, their padded splits, the :class:`Corpus`.

A :class:`Corpus` holds several :class:`Task` values that share one :class:`Vocabulary`, built
from the training splits only; each task's three splits are encoded as right-padded index arrays
(:class:`Split`) with the targets torch's cross-entropy expects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skillgym.envs.mtnas.tasks import CLASSIFICATION, RawExample, RawTask

PAD, UNK = "<pad>", "<unk>"
IGNORE_INDEX = -100  # the target of a padding position; torch's cross-entropy skips it


class Vocabulary:
    """Word to index, built from training text only; index 0 is padding and 1 is unknown.

    Args:
        texts: the token lists to count.
        min_count: words seen fewer times map to ``<unk>``.
        max_size: the most frequent words kept (including ``<pad>`` and ``<unk>``).
    """

    def __init__(self, texts: Sequence[Sequence[str]], min_count: int = 1, max_size: int = 30000):
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size < 3:
            raise ValueError(f"max_size must be >= 3, got {max_size}")
        counts = Counter(word for text in texts for word in text)
        ranked = sorted(
            (word for word, count in counts.items() if count >= min_count),
            key=lambda word: (-counts[word], word),
        )
        self.words: list[str] = [PAD, UNK] + ranked[: max_size - 2]
        self.index = {word: i for i, word in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """The indices of ``tokens`` (``<unk>`` for unknown words)."""
        return np.array([self.index.get(token, 1) for token in tokens], dtype=np.int64)


@dataclass(frozen=True)
class Split:
    """An encoded split: right-padded ``tokens`` (N, T), ``lengths`` (N,), and ``targets``.

    ``targets`` is (N,) for classification and (N, T) for tagging, with ``IGNORE_INDEX`` at
    padding positions.
    """

    tokens: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows ``indices``, trimmed to their longest sequence."""
        width = int(self.lengths[indices].max())
        targets = self.targets[indices]
        if targets.ndim == 2:
            targets = targets[:, :width]
        return self.tokens[indices, :width], self.lengths[indices], targets


@dataclass(frozen=True)
class Task:
    """An encoded task: its name, kind, label names and the three splits."""

    name: str
    kind: str
    labels: tuple[str, ...]
    train: Split
    validation: Split
    test: Split

    @property
    def num_labels(self) -> int:
        """The number of classes (classification) or tags (tagging)."""
        return len(self.labels)


def _encode(
    examples: list[RawExample], kind: str, vocabulary: Vocabulary, labels: dict[str, int],
    max_length: int | None,
) -> Split:
    if kind == CLASSIFICATION and max_length is not None:
        # Long reviews are cut to their first max_length tokens: a declared input length of the
        # classifier, not dropped examples (every example stays, with its label).
        examples = [(tokens[:max_length], label) for tokens, label in examples]
    width = max(len(tokens) for tokens, _ in examples)
    count = len(examples)
    tokens_array = np.zeros((count, width), dtype=np.int64)
    lengths = np.zeros(count, dtype=np.int64)
    if kind == CLASSIFICATION:
        targets = np.zeros(count, dtype=np.int64)
    else:
        targets = np.full((count, width), IGNORE_INDEX, dtype=np.int64)
    for row, (tokens, target) in enumerate(examples):
        lengths[row] = len(tokens)
        tokens_array[row, : len(tokens)] = vocabulary.encode(tokens)
        if kind == CLASSIFICATION:
            targets[row] = labels[target]
        else:
            targets[row, : len(tokens)] = [labels[tag] for tag in target]
    return Split(tokens_array, lengths, targets)


class Corpus:
    """Several tasks encoded with one shared vocabulary built from their training splits.

    Args:
        raw_tasks: the tasks (names must be unique).
        min_count: vocabulary words seen fewer times in training text become ``<unk>``.
        max_size: the vocabulary size cap.
        max_length: classification inputs are cut to this many tokens (``None``: no cut);
            tagging sentences are never cut, since every token carries a target.
        max_train: if set, each task's training split keeps this many examples (a seeded
            choice, for bounded benchmark runs); validation and test are always complete.
        seed: the seed of the ``max_train`` choice.
    """

    def __init__(
        self,
        raw_tasks: Sequence[RawTask],
        min_count: int = 1,
        max_size: int = 30000,
        max_length: int | None = 100,
        max_train: int | None = None,
        seed: int = 0,
    ):
        if not raw_tasks:
            raise ValueError("raw_tasks must contain at least one task")
        names = [task.name for task in raw_tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be >= 1 or None, got {max_length}")
        if max_train is not None and max_train < 1:
            raise ValueError(f"max_train must be >= 1 or None, got {max_train}")
        rng = np.random.default_rng(seed)
        trains = []
        for task in raw_tasks:
            train = task.train
            if max_train is not None and len(train) > max_train:
                train = [train[i] for i in np.sort(rng.choice(len(train), max_train, False))]
            trains.append(train)
        self.vocabulary = Vocabulary(
            [tokens for train in trains for tokens, _ in train], min_count, max_size
        )
        self.tasks: tuple[Task, ...] = tuple(
            self._encode_task(task, train, max_length)
            for task, train in zip(raw_tasks, trains, strict=True)
        )

    def _encode_task(self, task: RawTask, train: list[RawExample], max_length: int | None) -> Task:
        splits = (train, task.validation, task.test)
        if task.kind == CLASSIFICATION:
            names = {label for split in splits for _, label in split}
        else:
            names = {tag for split in splits for _, tags in split for tag in tags}
        # Label names are an output vocabulary, not data: test labels may name classes the
        # training split happens to lack, and they still need an index to be scored.
        labels = tuple(sorted(names))
        index = {label: i for i, label in enumerate(labels)}
        encoded = [
            _encode(split, task.kind, self.vocabulary, index, max_length) for split in splits
        ]
        return Task(task.name, task.kind, labels, *encoded)

    @property
    def names(self) -> tuple[str, ...]:
        """The task names, in order."""
        return tuple(task.name for task in self.tasks)

    def subset(self, names: Sequence[str]) -> tuple[Task, ...]:
        """The tasks named ``names``, in that order.

        Raises:
            ValueError: a name is not a task of this corpus.
        """
        by_name = {task.name: task for task in self.tasks}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; the corpus has {list(self.names)}")
        return tuple(by_name[name] for name in names)

    def split_sizes(self, names: Sequence[str]) -> list[tuple[str, int, int]]:
        """``(name, training examples, validation examples)`` of the tasks named ``names``:
        what tells two corpora's splits apart without their text (in the evaluators' cache
        fingerprints and a table's settings)."""
        return [(task.name, len(task.train), len(task.validation)) for task in self.subset(names)]
