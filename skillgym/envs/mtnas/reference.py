"""Stand-alone reference scores: every assignment trained from scratch over several seeds.

Test accuracy, selected at the epoch of best validation accuracy, is reported here and nowhere
else: this is the only place test data is read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from skillgym.envs.mtnas.batching import steps_per_epoch
from skillgym.envs.mtnas.cache import RewardCache, fingerprint
from skillgym.envs.mtnas.corpus import Corpus
from skillgym.envs.mtnas.evaluator import Evaluation, Evaluator
from skillgym.envs.mtnas.modules import MultitaskNetwork, SearchSpace
from skillgym.envs.mtnas.trainer import TrainConfig, Trainer
from skillgym.threads import torch_threads


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
        self._fingerprint = fingerprint(*fingerprinted)

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
        trainer = Trainer(
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
        return self.combine(assignment, runs)

    def combine(self, assignment: np.ndarray, runs: Sequence) -> Evaluation:
        """The evaluation of ``assignment`` from its :meth:`run_seed` results, one per seed:
        mean and standard deviation over seeds of each task's accuracies."""
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
