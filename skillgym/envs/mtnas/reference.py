"""Stand-alone reference scores: every assignment trained from scratch over several seeds.

Test accuracy, selected at the epoch of best validation accuracy, is reported here and nowhere
else: this is the only place test data is read.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from skillgym.envs.mtnas.batching import steps_per_epoch
from skillgym.envs.mtnas.cache import RewardCache, fingerprint
from skillgym.envs.mtnas.corpus import Corpus
from skillgym.envs.mtnas.evaluator import Evaluation, Evaluator
from skillgym.envs.mtnas.modules import MultitaskNetwork, SearchSpace
from skillgym.envs.mtnas.trainer import TrainConfig, Trainer
from skillgym.executors import Executor, LocalExecutor
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
        progress: called with ``(seed_index, epoch)`` after every epoch, for progress bars (of
            runs in this process: a remote executor's workers report nothing until done).
        epoch_steps: gradient steps per epoch (default: the largest task's split once). Give
            single-task baselines the multitask space's count, so that every architecture
            compared trains for the same number of steps on every task.
        executor: runs the (assignment, seed) trainings (:mod:`skillgym.executors`; default: one
            after another in this process). Each depends on its assignment and seed alone, so
            the scores do not depend on where they ran.
    """

    def __init__(
        self, corpus: Corpus, space: SearchSpace, epochs: int = 3, seeds: Sequence[int] = (0, 1, 2),
        config: TrainConfig | None = None, cache_path: str | Path | None = None,
        progress=None, epoch_steps: int | None = None, executor: Executor | None = None,
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
        self.executor = executor or LocalExecutor()
        self.epoch_steps = epoch_steps or steps_per_epoch(self.tasks, self.config.batch_size)
        fingerprinted = [space, self.config, self.epochs, self.seeds,
                         corpus.split_sizes(space.tasks)]
        if epoch_steps is not None:
            # Only an explicit count joins the key, so caches written before it existed stay valid.
            fingerprinted.append(self.epoch_steps)
        self._fingerprint = fingerprint(*fingerprinted)

    def evaluate(
        self, assignments: Sequence[np.ndarray], rng: np.random.Generator | None = None
    ) -> list[Evaluation]:
        """Train and score every assignment not in the cache, each over every seed."""
        checked = [self.space.validate(a) for a in assignments]
        keys = [self.key(a) for a in checked]
        found = {index: self.cache.get(key) for index, key in enumerate(keys)}
        todo = [index for index, evaluation in found.items() if evaluation is None]
        pairs = [(checked[index], seed) for index in todo for seed in range(len(self.seeds))]
        runs: dict[int, list] = {index: [None] * len(self.seeds) for index in todo}
        for number, run in self.seed_runs(pairs):
            index, seed = todo[number // len(self.seeds)], number % len(self.seeds)
            runs[index][seed] = run
            if all(done is not None for done in runs[index]):
                found[index] = self.combine(checked[index], runs[index])
                self.cache.put(keys[index], found[index])
        return [found[index] for index in range(len(checked))]

    def key(self, assignment: np.ndarray) -> str:
        """The cache key of ``assignment``'s score under these settings."""
        return f"{self._fingerprint}|{self.space.format(assignment)}"

    def seed_runs(
        self, pairs: Sequence[tuple[np.ndarray, int]]
    ) -> Iterator[tuple[int, tuple[list[float], list[float]]]]:
        """Train each ``(assignment, seed index)`` pair on the executor; yield ``(pair index,``
        :meth:`run_seed`'s result``)`` as each finishes."""
        # Remote workers get a copy without what only this process can use.
        portable = self if not self.executor.remote else copy.copy(self)
        if portable is not self:
            portable.progress, portable.cache, portable.executor = None, RewardCache(), None
        yield from self.executor.map(functools.partial(_train_seed, portable), pairs)

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


def _train_seed(reference: ReferenceEvaluator,
                pair: tuple[np.ndarray, int]) -> tuple[list[float], list[float]]:
    """One of :meth:`ReferenceEvaluator.seed_runs`' trainings, on the evaluator's threads."""
    assignment, index = pair
    with torch_threads(reference.config.num_threads):
        return reference.run_seed(assignment, reference.seeds[index], index)
