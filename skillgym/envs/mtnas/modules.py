"""The search space, the shared module pool and the multitask network assembled from it.

An *assignment* is an integer array of shape ``(num_tasks, num_layers)``: entry ``[t, l]`` is the
module task ``t`` uses at layer ``l``. Options ``0 .. len(pool) - 1`` are the pool's module
*instances* of that layer (tasks choosing the same instance share its weights); option
``len(pool)`` is the task's private module of that layer. All tasks share the embedding; each
task has its own head (a max-pooled linear classifier, or a per-token linear tagger).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from skillgym.envs.mtnas.corpus import Task
from skillgym.envs.mtnas.tasks import CLASSIFICATION

MODULE_KINDS = ("bilstm", "cnn3", "cnn5", "identity")
DEFAULT_POOL = ("bilstm", "bilstm", "cnn3", "cnn3", "cnn5", "identity")


@dataclass(frozen=True)
class SearchSpace:
    """Which tasks choose modules, over how many layers, from which pool.

    Args:
        tasks: the task names, one row of the assignment each.
        num_layers: the number of stacked layers, one column each.
        pool: the module kind of every shared instance of a layer (kinds from ``MODULE_KINDS``);
            a kind listed twice gives two instances with separate weights.
        private_kind: the kind of each task's private module (the last option of every slot).
    """

    tasks: tuple[str, ...]
    num_layers: int = 2
    pool: tuple[str, ...] = DEFAULT_POOL
    private_kind: str = "bilstm"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "pool", tuple(self.pool))
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks must be non-empty and unique, got {list(self.tasks)}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        if not self.pool:
            raise ValueError("pool must list at least one module kind")
        for kind in (*self.pool, self.private_kind):
            if kind not in MODULE_KINDS:
                raise ValueError(
                    f"module kind {kind!r} in pool/private_kind is unknown; "
                    f"allowed kinds are {list(MODULE_KINDS)}"
                )

    @property
    def num_options(self) -> int:
        """Choices per slot: every pool instance plus the private module."""
        return len(self.pool) + 1

    @property
    def shape(self) -> tuple[int, int]:
        """The assignment shape, ``(num_tasks, num_layers)``."""
        return (len(self.tasks), self.num_layers)

    @property
    def private(self) -> int:
        """The option index of the private module."""
        return len(self.pool)

    def option_name(self, option: int) -> str:
        """A readable name of an option, e.g. ``"bilstm#1"`` or ``"private:bilstm"``."""
        if option == self.private:
            return f"private:{self.private_kind}"
        return f"{self.pool[option]}#{option}"

    def validate(self, assignment) -> np.ndarray:
        """``assignment`` as an int64 array of :attr:`shape`, checked slot by slot.

        Raises:
            ValueError: the shape differs from :attr:`shape`, or a slot holds a non-integer or an
                option outside ``0 .. num_options - 1`` (the slot's task and layer are named).
        """
        array = np.asarray(assignment)
        if array.shape != self.shape:
            raise ValueError(
                f"assignment must have shape (tasks, layers) = {self.shape}, got {array.shape}"
            )
        if not np.issubdtype(array.dtype, np.integer):
            rounded = np.asarray(array, dtype=np.float64)
            bad = np.argwhere(rounded != np.round(rounded))
            if len(bad):
                task, layer = bad[0]
                raise ValueError(
                    f"assignment slot (task={self.tasks[task]!r}, layer={layer}) holds "
                    f"{rounded[task, layer]:g}; options must be integers"
                )
        array = array.astype(np.int64)
        bad = np.argwhere((array < 0) | (array >= self.num_options))
        if len(bad):
            task, layer = bad[0]
            raise ValueError(
                f"assignment slot (task={self.tasks[task]!r}, layer={layer}) holds option "
                f"{array[task, layer]}; allowed options are 0..{self.num_options - 1}"
            )
        return array

    def hard_sharing(self, option: int = 0) -> np.ndarray:
        """Every task uses the same pool instance ``option`` at every layer."""
        return self.validate(np.full(self.shape, option))

    def all_private(self) -> np.ndarray:
        """Every task uses its private module at every layer (sharing only the embedding)."""
        return np.full(self.shape, self.private, dtype=np.int64)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random assignment."""
        return rng.integers(0, self.num_options, size=self.shape, dtype=np.int64)

    def fair_sample(self, rng: np.random.Generator) -> list[np.ndarray]:
        """:attr:`num_options` random assignments in which every option of every slot occurs
        exactly once (FairNAS's strict fairness: a step through all of them trains every module
        of the pool equally)."""
        slots = self.shape[0] * self.shape[1]
        orders = np.stack([rng.permutation(self.num_options) for _ in range(slots)])
        return [orders[:, k].reshape(self.shape).astype(np.int64)
                for k in range(self.num_options)]

    def format(self, assignment) -> str:
        """A compact text form, rows separated by ``/``: ``"0,0/6,2"`` (parsed by :meth:`parse`)."""
        array = self.validate(assignment)
        return "/".join(",".join(str(int(v)) for v in row) for row in array)

    def parse(self, text: str) -> np.ndarray:
        """Parse :meth:`format` output back into a validated assignment.

        Raises:
            ValueError: the text is not rows of comma-separated integers of the right shape.
        """
        try:
            rows = [[int(v) for v in row.split(",")] for row in text.strip().split("/")]
        except ValueError:
            raise ValueError(
                f"assignment {text!r} must be rows of comma-separated integers joined by '/', "
                f"e.g. {'/'.join(['0' + ',0' * (self.num_layers - 1)] * len(self.tasks))!r}"
            ) from None
        if len({len(row) for row in rows}) != 1:
            raise ValueError(f"assignment {text!r}: every row must have the same length")
        return self.validate(rows)


class _BiLSTM(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.lstm = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        return output


class _Convolution(nn.Module):
    def __init__(self, dim: int, width: int):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, width, padding=width // 2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)


def make_module(kind: str, dim: int) -> nn.Module | None:
    """A fresh ``kind`` module mapping ``(B, T, dim)`` to ``(B, T, dim)``; ``None`` = identity."""
    if kind == "bilstm":
        return _BiLSTM(dim)
    if kind in ("cnn3", "cnn5"):
        return _Convolution(dim, int(kind[-1]))
    if kind == "identity":
        return None
    raise ValueError(f"module kind {kind!r} is unknown; allowed kinds are {list(MODULE_KINDS)}")


class MultitaskNetwork(nn.Module):
    """The supernet: a shared embedding, the module pool of every layer, private modules, heads.

    A task's forward pass runs its assigned module at every layer as a residual block
    (``x + dropout(module(x))``, padding re-zeroed), so that identity and deep stacks stay
    trainable under any assignment.

    Args:
        space: the search space.
        tasks: the encoded tasks, in ``space.tasks`` order (their kinds and label counts).
        vocabulary_size: the embedding rows.
        dim: the embedding and hidden width (even, for the two LSTM directions).
        dropout: the dropout rate on embeddings and block outputs.
    """

    def __init__(
        self, space: SearchSpace, tasks: Sequence[Task], vocabulary_size: int, dim: int = 48,
        dropout: float = 0.1,
    ):
        super().__init__()
        if tuple(task.name for task in tasks) != space.tasks:
            raise ValueError(
                f"tasks {[task.name for task in tasks]} must match the space's {list(space.tasks)}"
            )
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even number >= 2, got {dim}")
        self.space = space
        self.kinds = tuple(task.kind for task in tasks)
        self.embedding = nn.Embedding(vocabulary_size, dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.pool = nn.ModuleList(
            nn.ModuleList(_as_module(make_module(kind, dim)) for kind in space.pool)
            for _ in range(space.num_layers)
        )
        self.private = nn.ModuleList(
            nn.ModuleList(
                _as_module(make_module(space.private_kind, dim)) for _ in range(space.num_layers)
            )
            for _ in tasks
        )
        self.heads = nn.ModuleList(nn.Linear(dim, task.num_labels) for task in tasks)

    def module_for(self, task: int, layer: int, option: int) -> nn.Module:
        """The module instance slot ``(task, layer)`` uses under ``option``."""
        if option == self.space.private:
            return self.private[task][layer]
        return self.pool[layer][option]

    def forward(
        self, task: int, options: Sequence[int], tokens: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Logits of task ``task`` through ``options`` (one per layer).

        Returns ``(B, labels)`` for classification and ``(B, T, labels)`` for tagging.
        """
        mask = (tokens != 0).unsqueeze(-1)
        x = self.dropout(self.embedding(tokens))
        for layer, option in enumerate(options):
            module = self.module_for(task, layer, int(option))
            if isinstance(module, nn.Identity):
                continue
            x = (x + self.dropout(module(x, lengths))) * mask
        if self.kinds[task] == CLASSIFICATION:
            pooled = x.masked_fill(~mask, float("-inf")).max(dim=1).values
            return self.heads[task](pooled)
        return self.heads[task](x)

    def shared_parameter_count(self, assignment: np.ndarray) -> int:
        """Parameters used by two or more tasks under ``assignment`` (the embedding included)."""
        users: dict[int, set[int]] = {}
        modules: dict[int, nn.Module] = {}
        for task, row in enumerate(assignment):
            for layer, option in enumerate(row):
                module = self.module_for(task, layer, int(option))
                users.setdefault(id(module), set()).add(task)
                modules[id(module)] = module
        count = self.embedding.weight.numel() if len(self.space.tasks) > 1 else 0
        for key, tasks in users.items():
            if len(tasks) > 1:
                count += sum(p.numel() for p in modules[key].parameters())
        return count


def _as_module(module: nn.Module | None) -> nn.Module:
    return nn.Identity() if module is None else module
