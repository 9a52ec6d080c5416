"""Tasks before encoding: the two task kinds, :class:`RawTask` and validation carving.

Every task has fixed ``train`` / ``validation`` / ``test`` splits. Every loader builds its task
with :func:`make_task`: a split the data does not supply is carved from the training data with a
seeded permutation (:func:`carve_validation`). Only validation accuracy ever becomes a reward;
test accuracy is read by the stand-alone evaluator alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSIFICATION = "classification"
TAGGING = "tagging"
KINDS = (CLASSIFICATION, TAGGING)

# A raw example: the tokens and either one label (classification) or one label per token.
RawExample = tuple[list[str], "str | list[str]"]


@dataclass(frozen=True)
class RawTask:
    """A task before encoding: name, kind and raw ``train`` / ``validation`` / ``test`` lists."""

    name: str
    kind: str
    train: list[RawExample]
    validation: list[RawExample]
    test: list[RawExample]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")
        for split in ("train", "validation", "test"):
            if not getattr(self, split):
                raise ValueError(f"task {self.name!r}: the {split} split is empty")


def carve_validation(
    examples: list[RawExample], fraction: float, seed: int
) -> tuple[list[RawExample], list[RawExample]]:
    """Split ``examples`` into (train, validation) with a seeded permutation.

    Raises:
        ValueError: ``fraction`` is not in (0, 1), or it leaves either side empty.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(len(examples))
    size = int(round(fraction * len(examples)))
    if size == 0 or size == len(examples):
        raise ValueError(
            f"validation_fraction={fraction} of {len(examples)} examples leaves a split empty"
        )
    validation = [examples[i] for i in order[:size]]
    train = [examples[i] for i in order[size:]]
    return train, validation


def make_task(
    name: str,
    kind: str,
    train: list[RawExample],
    test: list[RawExample] | None = None,
    validation: list[RawExample] | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
    test_fraction: float | None = None,
) -> RawTask:
    """A task from the splits its data supplies; the missing ones are carved from ``train``.

    Without ``test``, ``test_fraction`` of ``train`` (default: ``validation_fraction``) becomes
    the test split, carved with ``seed``; then, without ``validation``, ``validation_fraction``
    of what is left becomes validation, carved with ``seed + 1`` (or with ``seed`` when the test
    split was supplied). The same arguments always give the same splits.

    Raises:
        ValueError: a fraction outside (0, 1), a split left empty, or an unknown ``kind``.
    """
    validation_seed = seed
    if test is None:
        fraction = validation_fraction if test_fraction is None else test_fraction
        train, test = carve_validation(train, fraction, seed)
        validation_seed = seed + 1
    if validation is None:
        train, validation = carve_validation(train, validation_fraction, validation_seed)
    return RawTask(name, kind, train, validation, test)
