"""Training a multitask child network through an assignment, and scoring its accuracy.

:class:`Trainer` holds one :class:`~skillgym.envs.mtnas.modules.MultitaskNetwork`, its optimiser
and per-task streams of training batches; both the weight-sharing supernet and stand-alone
training are built on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from skillgym.envs.mtnas.batching import bucket_batches
from skillgym.envs.mtnas.corpus import IGNORE_INDEX, Split, Task
from skillgym.envs.mtnas.modules import MultitaskNetwork, SearchSpace
from skillgym.envs.mtnas.tasks import CLASSIFICATION


@dataclass(frozen=True)
class TrainConfig:
    """Network size and optimisation settings shared by every torch-backed evaluator.

    Args:
        dim: embedding and hidden width.
        dropout: dropout rate.
        batch_size: examples per task per gradient step.
        learning_rate: Adam's step size.
        max_grad_norm: gradient-norm clip.
        eval_batch_size: examples per forward pass when scoring.
        num_threads: ``torch.set_num_threads`` while an evaluator computes (small models run
            fastest on one thread; the machine's cores are shared).
    """

    dim: int = 48
    dropout: float = 0.1
    batch_size: int = 32
    learning_rate: float = 1e-2
    max_grad_norm: float = 5.0
    eval_batch_size: int = 256
    num_threads: int = 1

    def __post_init__(self) -> None:
        for name in ("batch_size", "eval_batch_size", "num_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def _tensors(split: Split, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    tokens, lengths, targets = split.batch(indices)
    return torch.from_numpy(tokens), torch.from_numpy(lengths), torch.from_numpy(targets)


def _batches_forever(split: Split, batch_size: int, rng: np.random.Generator) -> Iterator:
    while True:
        yield from bucket_batches(split.lengths, batch_size, rng)


class Trainer:
    """One network over some tasks with its optimiser and per-task training-batch streams."""

    def __init__(
        self, space: SearchSpace, tasks: Sequence[Task], vocabulary_size: int,
        config: TrainConfig, seed: int,
    ):
        self.tasks = tuple(tasks)
        self.config = config
        # The trainer owns its torch random state (initial weights, dropout masks), so that two
        # evaluators interleaved in one process stay reproducible one by one.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.network = MultitaskNetwork(
                space, tasks, vocabulary_size, config.dim, config.dropout
            )
            self.torch_state = torch.get_rng_state()
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.learning_rate)
        self.seed = seed
        self.streams = self._new_streams()
        # Steps drawn from the streams: a checkpoint replays the draws (cheap index arithmetic)
        # instead of storing generators, which cannot be saved.
        self.stream_steps = 0
        self.loss = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)

    def _new_streams(self) -> list[Iterator]:
        rng = np.random.default_rng(self.seed)
        return [_batches_forever(task.train, self.config.batch_size, rng) for task in self.tasks]

    def state_dict(self) -> dict:
        """Everything later steps depend on: weights, optimiser, random state, stream position."""
        return {"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict(),
                "torch_state": self.torch_state, "stream_steps": self.stream_steps}

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where the trainer that wrote ``state`` (same data and seed) was."""
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.torch_state = state["torch_state"]
        self._replay_streams(state["stream_steps"])

    def _replay_streams(self, steps: int) -> None:
        self.streams = self._new_streams()
        for _ in range(steps):
            for stream in self.streams:
                next(stream)
        self.stream_steps = steps

    def __getstate__(self) -> dict:
        # Pickled (a copy sent to another process) without the generators, which cannot be.
        return {**self.__dict__, "streams": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._replay_streams(state["stream_steps"])

    def step(self, assignment: np.ndarray, rng: np.random.Generator | None = None) -> float:
        """One gradient step on a batch of every task through ``assignment``; returns the loss.

        The batches come from the trainer's own streams, or, given ``rng``, are drawn with it.
        """
        return self.step_paths([assignment], rng)

    def step_paths(self, assignments: Sequence[np.ndarray],
                   rng: np.random.Generator | None = None) -> float:
        """One gradient step on the same batch of every task through each of ``assignments``,
        their losses averaged (FairNAS's step when they cover every option of every slot once);
        returns the loss. Batches as in :meth:`step`."""
        self.network.train()
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros(())
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.torch_state)
            for index, task in enumerate(self.tasks):
                if rng is None:
                    indices = next(self.streams[index])
                else:
                    size = min(self.config.batch_size, len(task.train))
                    indices = rng.choice(len(task.train), size, replace=False)
                tokens, lengths, targets = _tensors(task.train, indices)
                if task.kind != CLASSIFICATION:
                    targets = targets.reshape(-1)
                for assignment in assignments:
                    logits = self.network(index, assignment[index], tokens, lengths)
                    if task.kind != CLASSIFICATION:
                        logits = logits.reshape(-1, logits.shape[-1])
                    total = total + self.loss(logits, targets) / len(assignments)
            self.torch_state = torch.get_rng_state()
        if rng is None:
            self.stream_steps += 1
        total.backward()
        nn.utils.clip_grad_norm_(self.network.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        return float(total.detach())

    @torch.no_grad()
    def accuracy(self, index: int, split: Split, indices: np.ndarray, options) -> float:
        """Accuracy of task ``index`` on ``split[indices]`` (per token for tagging)."""
        self.network.eval()
        correct = total = 0
        lengths = split.lengths[indices]
        for batch in bucket_batches(lengths, self.config.eval_batch_size, None):
            tokens, lengths_t, targets = _tensors(split, indices[batch])
            predictions = self.network(index, options, tokens, lengths_t).argmax(-1)
            scored = targets != IGNORE_INDEX
            correct += int((predictions == targets)[scored].sum())
            total += int(scored.sum())
        return correct / total
