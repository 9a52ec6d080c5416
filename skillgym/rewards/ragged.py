"""A batch of variable-length integer sequences stored as one flat array and row offsets.

Tokenizers that work on a whole batch at once (over the batch's encoded bytes, or over the
concatenated token ids a trainer hands over) produce their units in one flat array; keeping it
flat, instead of splitting it into one array per sequence, lets the n-gram code work on the batch
without a Python loop over its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Ragged:
    """Sequences ``values[offsets[r]:offsets[r + 1]]`` for ``r`` in ``range(len(self))``.

    Attributes:
        values: the units of every sequence, back to back (1-D ``int64``).
        offsets: ``R + 1`` non-decreasing row boundaries, starting at 0 and ending at
            ``len(values)`` (1-D ``int64``).
    """

    values: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        offsets = self.offsets
        if self.values.ndim != 1 or offsets.ndim != 1 or len(offsets) == 0:
            raise ValueError("Ragged needs 1-D values and at least one offset, got shapes "
                             f"{self.values.shape} and {offsets.shape}")
        if offsets[0] != 0 or offsets[-1] != len(self.values) or (np.diff(offsets) < 0).any():
            raise ValueError("Ragged offsets must rise from 0 to len(values)")

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[int] | np.ndarray]) -> Ragged:
        """The batch of the given rows (copied into one flat ``int64`` array)."""
        arrays = [np.asarray(row, dtype=np.int64).reshape(-1) for row in rows]
        lengths = np.fromiter((len(array) for array in arrays), np.int64, len(arrays))
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
        return cls(values.astype(np.int64, copy=False), offsets)

    @property
    def lengths(self) -> np.ndarray:
        """The length of each sequence."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> np.ndarray:
        """Sequence ``row`` (a view of ``values``)."""
        if not -len(self) <= row < len(self):
            raise IndexError(f"row {row} out of range for {len(self)} sequences")
        row %= len(self)
        return self.values[self.offsets[row]:self.offsets[row + 1]]

    def rows(self) -> list[np.ndarray]:
        """Every sequence as its own array (views of ``values``)."""
        return np.split(self.values, self.offsets[1:-1]) if len(self) else []
