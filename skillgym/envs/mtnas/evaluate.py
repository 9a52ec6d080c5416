"""Rewards for assignments: the weight-sharing supernet, the stand-alone reference, a cache.

:class:`Evaluator` is the interface every backend implements: ``prepare`` a batch of
assignments (a weight-sharing backend trains its shared weights on them), then ``evaluate``
them. A distributed backend can implement the same two calls over many workers.

* :class:`SupernetEvaluator` follows ENAS: the module pool is one supernet, warmed up on random
  assignments; ``prepare`` runs a few gradient steps on the assignments about to be scored and
  bumps the supernet *version*; ``evaluate`` is a validation forward pass on fixed, seeded
  subsets, cached by ``(assignment, version)`` in memory and optionally on disk.
* :class:`ReferenceEvaluator` trains every assignment from scratch for ``epochs`` epochs over
  several seeds, selects the epoch by validation accuracy, and reports test accuracy
  (mean and standard deviation). It is the only place test data is read.
"""

from __future__ import annotations

import abc
import copy
import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from skillgym.envs.mtnas.batching import bucket_batches, fixed_subset, steps_per_epoch
from skillgym.envs.mtnas.corpus import IGNORE_INDEX, Corpus, Split, Task
from skillgym.envs.mtnas.modules import MultitaskNetwork, SearchSpace
from skillgym.envs.mtnas.synthetic import SYNTHETIC_TASKS, synthetic_corpus
from skillgym.envs.mtnas.tasks import CLASSIFICATION
from skillgym.threads import torch_threads


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


class RewardCache:
    """Evaluations keyed by text, in memory and, given ``path``, appended to a JSON-lines file.

    Args:
        path: the file; existing records are loaded, new ones appended as they are stored.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self._records: dict[str, dict] = {}
        if self.path is not None and self.path.exists():
            for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    entry = json.loads(line)
                    self._records[entry["key"]] = entry["evaluation"]
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise ValueError(f"{self.path}:{number}: not a reward-cache record") from error

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> Evaluation | None:
        """The stored evaluation of ``key`` (marked as a cache hit), or ``None``."""
        record = self._records.get(key)
        return None if record is None else Evaluation.from_json(record, cache_hit=True)

    def put(self, key: str, evaluation: Evaluation) -> None:
        """Store ``evaluation`` under ``key`` (and append it to the file, if any)."""
        record = evaluation.to_json()
        self._records[key] = record
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"key": key, "evaluation": record}) + "\n")

    def get_or_compute(self, key: str, compute: Callable[[], Evaluation]) -> Evaluation:
        """The stored evaluation of ``key``, or ``compute()`` stored under it."""
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found


# ----------------------------------------------------------------------------- torch helpers


def _tensors(split: Split, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    tokens, lengths, targets = split.batch(indices)
    return torch.from_numpy(tokens), torch.from_numpy(lengths), torch.from_numpy(targets)


def _batches_forever(split: Split, batch_size: int, rng: np.random.Generator) -> Iterator:
    while True:
        yield from bucket_batches(split.lengths, batch_size, rng)


class _Trainer:
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
        rng = np.random.default_rng(seed)
        self.streams = [
            _batches_forever(task.train, config.batch_size, rng) for task in self.tasks
        ]
        self.loss = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)

    def step(self, assignment: np.ndarray, rng: np.random.Generator | None = None) -> float:
        """One gradient step on a batch of every task through ``assignment``; returns the loss.

        The batches come from the trainer's own streams, or, given ``rng``, are drawn with it.
        """
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
                logits = self.network(index, assignment[index], tokens, lengths)
                if task.kind != CLASSIFICATION:
                    logits, targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
                total = total + self.loss(logits, targets)
            self.torch_state = torch.get_rng_state()
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


# ----------------------------------------------------------------------------- supernet


@dataclass(frozen=True)
class SupernetConfig:
    """Weight-sharing settings.

    Args:
        train: network and optimiser settings.
        warmup_steps: gradient steps on uniformly random assignments before the first score.
        steps_per_prepare: gradient steps per assignment handed to ``prepare``.
        validation_limit: validation examples per task in the fixed scoring subset
            (``None``: the whole validation split).
        finetune_steps: gradient steps on an assignment just before scoring it, undone after
            (weights, optimiser and random state restored), so the score is of a path briefly
            adapted on its own, as in one-shot NAS with fine-tuning; the batches are drawn from a
            random stream seeded by the assignment, so a score does not depend on the order of
            scoring.
    """

    train: TrainConfig = field(default_factory=TrainConfig)
    warmup_steps: int = 100
    steps_per_prepare: int = 1
    validation_limit: int | None = 64
    finetune_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("warmup_steps", "steps_per_prepare", "finetune_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.validation_limit is not None and self.validation_limit < 1:
            raise ValueError(f"validation_limit must be >= 1 or None, got {self.validation_limit}")


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class SupernetEvaluator(Evaluator):
    """ENAS-style weight sharing: every assignment is a path through one shared supernet.

    The network is built and warmed up lazily, on the first ``prepare`` or ``evaluate``, so that
    constructing an environment is cheap.

    Args:
        corpus: the data; the space's tasks are looked up in it by name.
        space: the search space.
        config: weight-sharing settings.
        seed: seeds the weights, the batch order, the warm-up assignments and the subsets.
        cache_path: a JSON-lines file that persists the reward cache across runs.
    """

    def __init__(
        self, corpus: Corpus, space: SearchSpace, config: SupernetConfig | None = None,
        seed: int = 0, cache_path: str | Path | None = None,
    ):
        self.space = space
        self.config = config or SupernetConfig()
        self.seed = int(seed)
        self.tasks = corpus.subset(space.tasks)
        self.vocabulary_size = len(corpus.vocabulary)
        self.version = 0
        self.cache = RewardCache(cache_path)
        self.subsets = [
            fixed_subset(len(task.validation), self.config.validation_limit, self.seed + i)
            for i, task in enumerate(self.tasks)
        ]
        self._fingerprint = _fingerprint(
            space, self.config, self.seed,
            [(task.name, len(task.train), len(task.validation)) for task in self.tasks],
        )
        self._trainer: _Trainer | None = None

    @property
    def trainer(self) -> _Trainer:
        """The supernet and its optimiser, built and warmed up on first use."""
        if self._trainer is None:
            with torch_threads(self.config.train.num_threads):
                trainer = _Trainer(
                    self.space, self.tasks, self.vocabulary_size, self.config.train, self.seed
                )
                rng = np.random.default_rng(self.seed)
                for _ in range(self.config.warmup_steps):
                    trainer.step(self.space.sample(rng))
            self._trainer = trainer
        return self._trainer

    def key(self, assignment: np.ndarray) -> str:
        """The cache key of ``assignment`` at the current supernet version."""
        return f"{self._fingerprint}|v{self.version}|{self.space.format(assignment)}"

    def prepare(self, assignments: Sequence[np.ndarray]) -> None:
        """``steps_per_prepare`` gradient steps on each assignment; bumps the version once."""
        if self.config.steps_per_prepare == 0 or not assignments:
            return
        checked = [self.space.validate(a) for a in assignments]
        trainer = self.trainer
        with torch_threads(self.config.train.num_threads):
            for assignment in checked:
                for _ in range(self.config.steps_per_prepare):
                    trainer.step(assignment)
        self.version += 1

    def evaluate(
        self, assignments: Sequence[np.ndarray], rng: np.random.Generator | None = None
    ) -> list[Evaluation]:
        """Validation accuracy on the fixed subsets with the current shared weights (cached)."""
        checked = [self.space.validate(a) for a in assignments]
        return [
            self.cache.get_or_compute(self.key(a), lambda a=a: self._score(a)) for a in checked
        ]

    def _score(self, assignment: np.ndarray) -> Evaluation:
        trainer = self.trainer
        with torch_threads(self.config.train.num_threads):
            if self.config.finetune_steps:
                saved = (
                    copy.deepcopy(trainer.network.state_dict()),
                    copy.deepcopy(trainer.optimizer.state_dict()),
                    trainer.torch_state,
                )
                seed = int(_fingerprint(self.seed, self.space.format(assignment)), 16)
                rng = np.random.default_rng(seed)
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed % 2**63)
                    trainer.torch_state = torch.get_rng_state()
                for _ in range(self.config.finetune_steps):
                    trainer.step(assignment, rng)
            validation = {
                task.name: trainer.accuracy(i, task.validation, self.subsets[i], assignment[i])
                for i, task in enumerate(self.tasks)
            }
            if self.config.finetune_steps:
                trainer.network.load_state_dict(saved[0])
                trainer.optimizer.load_state_dict(saved[1])
                trainer.torch_state = saved[2]
        shared = trainer.network.shared_parameter_count(assignment)
        return Evaluation(validation, shared_parameters=shared)


# ----------------------------------------------------------------------------- reference


class ReferenceEvaluator(Evaluator):
    """Stand-alone training: each assignment from scratch, ``epochs`` epochs, every seed.

    Each seed trains a fresh network on all tasks jointly (one batch of every task per step; an
    epoch is ``epoch_steps`` steps, by default enough for the largest task to see its training
    split once), keeps the epoch with the best mean validation accuracy, and reads test accuracy
    at that epoch. Validation and test scores are averaged over seeds; their standard deviations
    are reported too.

    Args:
        corpus: the data.
        space: the search space (its tasks are looked up in ``corpus``).
        epochs: training epochs per seed.
        seeds: the seeds (at least one; use three or more for a reported number).
        config: network and optimiser settings.
        cache_path: a JSON-lines file persisting results across runs.
        progress: called with ``(seed_index, epoch)`` after every epoch, for progress bars.
        epoch_steps: gradient steps per epoch (default: the largest task's split once). Give
            single-task baselines the multitask space's count, so that every architecture
            compared trains for the same number of steps on every task.
    """

    def __init__(
        self, corpus: Corpus, space: SearchSpace, epochs: int = 3, seeds: Sequence[int] = (0, 1, 2),
        config: TrainConfig | None = None, cache_path: str | Path | None = None,
        progress=None, epoch_steps: int | None = None,
    ):
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        if epoch_steps is not None and epoch_steps < 1:
            raise ValueError(f"epoch_steps must be >= 1 or None, got {epoch_steps}")
        if not seeds:
            raise ValueError("seeds must list at least one seed")
        self.space = space
        self.corpus = corpus
        self.tasks = corpus.subset(space.tasks)
        self.epochs = epochs
        self.seeds = tuple(int(seed) for seed in seeds)
        self.config = config or TrainConfig()
        self.cache = RewardCache(cache_path)
        self.progress = progress
        self.epoch_steps = epoch_steps or steps_per_epoch(self.tasks, self.config.batch_size)
        sizes = [(task.name, len(task.train), len(task.validation)) for task in self.tasks]
        fingerprinted = [space, self.config, self.epochs, self.seeds, sizes]
        if epoch_steps is not None:
            # Only an explicit count joins the key, so caches written before it existed stay valid.
            fingerprinted.append(self.epoch_steps)
        self._fingerprint = _fingerprint(*fingerprinted)

    def evaluate(
        self, assignments: Sequence[np.ndarray], rng: np.random.Generator | None = None
    ) -> list[Evaluation]:
        """Train and score every assignment (cached by assignment)."""
        checked = [self.space.validate(a) for a in assignments]
        return [
            self.cache.get_or_compute(f"{self._fingerprint}|{self.space.format(a)}",
                                      lambda a=a: self._train_and_score(a))
            for a in checked
        ]

    def run_seed(self, assignment: np.ndarray, seed: int, seed_index: int = 0):
        """One seed: ``(validation, test)`` per-task accuracies at the best validation epoch."""
        trainer = _Trainer(
            self.space, self.tasks, len(self.corpus.vocabulary), self.config, seed
        )
        everything = [np.arange(len(task.validation)) for task in self.tasks]
        best = (-math.inf, None, None)
        for epoch in range(self.epochs):
            for _ in range(self.epoch_steps):
                trainer.step(assignment)
            validation = [
                trainer.accuracy(i, task.validation, everything[i], assignment[i])
                for i, task in enumerate(self.tasks)
            ]
            if np.mean(validation) > best[0]:
                test = [
                    trainer.accuracy(i, task.test, np.arange(len(task.test)), assignment[i])
                    for i, task in enumerate(self.tasks)
                ]
                best = (float(np.mean(validation)), validation, test)
            if self.progress is not None:
                self.progress(seed_index, epoch)
        return best[1], best[2]

    def _train_and_score(self, assignment: np.ndarray) -> Evaluation:
        with torch_threads(self.config.num_threads):
            runs = [self.run_seed(assignment, seed, i) for i, seed in enumerate(self.seeds)]
        # A throw-away network only to count parameters: its initialisation must not consume the
        # caller's torch random stream.
        with torch.random.fork_rng(devices=[]):
            shared = MultitaskNetwork(
                self.space, self.tasks, len(self.corpus.vocabulary), self.config.dim
            ).shared_parameter_count(assignment)
        validation = np.array([run[0] for run in runs])
        test = np.array([run[1] for run in runs])
        names = self.space.tasks
        return Evaluation(
            validation=dict(zip(names, validation.mean(0).tolist(), strict=True)),
            validation_std=dict(zip(names, validation.std(0).tolist(), strict=True)),
            test=dict(zip(names, test.mean(0).tolist(), strict=True)),
            test_std=dict(zip(names, test.std(0).tolist(), strict=True)),
            shared_parameters=shared,
        )


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


def synthetic_supernet(seed: int = 0, num_layers: int = 2) -> SupernetEvaluator:
    """A small supernet over the synthetic corpus: the default of the environments.

    It needs no data on disk and builds in about a second, so that every registered id
    constructs anywhere; pass an evaluator over real data for real experiments. Its shared
    weights are frozen after the warm-up (``steps_per_prepare=0``), so a reward depends on the
    assignment alone, as Gymnasium's determinism check expects; searches that co-train the
    supernet (ENAS) build a :class:`SupernetEvaluator` with ``steps_per_prepare > 0``.
    """
    space = SearchSpace(SYNTHETIC_TASKS, num_layers=num_layers)
    config = SupernetConfig(
        TrainConfig(dim=32, batch_size=16), warmup_steps=30, steps_per_prepare=0
    )
    return SupernetEvaluator(synthetic_corpus(seed=seed), space, config, seed=seed)
