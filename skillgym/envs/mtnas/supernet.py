"""ENAS-style weight sharing: every assignment is scored as a path through one shared supernet.

The module pool is one supernet, warmed up on random assignments; ``prepare`` runs a few
gradient steps on the assignments about to be scored and bumps the supernet *version*;
``evaluate`` is a validation forward pass on fixed, seeded subsets, cached by
``(assignment, version)`` in memory and optionally on disk. Given a remote executor
(:mod:`skillgym.executors`), the uncached assignments of an ``evaluate`` call are scored side by
side on its workers, each piece by a copy of the supernet as it stands.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from skillgym.envs.mtnas.batching import fixed_subset
from skillgym.envs.mtnas.cache import RewardCache, fingerprint
from skillgym.envs.mtnas.corpus import Corpus
from skillgym.envs.mtnas.evaluator import Evaluation, Evaluator
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.synthetic import SYNTHETIC_TASKS, synthetic_corpus
from skillgym.envs.mtnas.trainer import TrainConfig, Trainer
from skillgym.executors import Executor, LocalExecutor
from skillgym.threads import torch_threads

WARMUP_SAMPLING = ("uniform", "fair")


@dataclass(frozen=True)
class SupernetConfig:
    """Weight-sharing settings.

    Args:
        train: network and optimiser settings.
        warmup_steps: gradient steps before the first score.
        warmup_sampling: the paths of a warm-up step: ``"uniform"``, one uniformly random
            assignment; ``"fair"``, :meth:`SearchSpace.fair_sample`'s assignments, in which every
            option of every slot occurs once, their losses averaged over one batch (FairNAS; a
            step costs :attr:`SearchSpace.num_options` paths).
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
    warmup_sampling: str = "uniform"
    steps_per_prepare: int = 1
    validation_limit: int | None = 64
    finetune_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("warmup_steps", "steps_per_prepare", "finetune_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.warmup_sampling not in WARMUP_SAMPLING:
            raise ValueError(f"warmup_sampling must be one of {list(WARMUP_SAMPLING)}, got "
                             f"{self.warmup_sampling!r}")
        if self.validation_limit is not None and self.validation_limit < 1:
            raise ValueError(f"validation_limit must be >= 1 or None, got {self.validation_limit}")


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
        executor: where the scores of an ``evaluate`` call run (default: here, one after
            another); a remote one scores them in :meth:`Executor.parallelism` pieces, each on a
            copy of the supernet, with the same results (warm-up and ``prepare`` stay here).
    """

    def __init__(
        self, corpus: Corpus, space: SearchSpace, config: SupernetConfig | None = None,
        seed: int = 0, cache_path: str | Path | None = None, executor: Executor | None = None,
    ):
        self.space = space
        self.executor = executor or LocalExecutor()
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
        self._fingerprint = fingerprint(space, self.config, self.seed,
                                        corpus.split_sizes(space.tasks))
        self._trainer: Trainer | None = None

    @property
    def trainer(self) -> Trainer:
        """The supernet and its optimiser, built and warmed up on first use."""
        if self._trainer is None:
            with torch_threads(self.config.train.num_threads):
                trainer = Trainer(
                    self.space, self.tasks, self.vocabulary_size, self.config.train, self.seed
                )
                rng = np.random.default_rng(self.seed)
                fair = self.config.warmup_sampling == "fair"
                for _ in range(self.config.warmup_steps):
                    trainer.step_paths(self.space.fair_sample(rng) if fair
                                       else [self.space.sample(rng)])
            self._trainer = trainer
        return self._trainer

    def state_dict(self) -> dict:
        """The shared weights' training state and version (the cache is saved as it is written)."""
        trainer = None if self._trainer is None else self._trainer.state_dict()
        return {"version": self.version, "trainer": trainer}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state`` of an evaluator over the same corpus, space, config and seed."""
        self.version = state["version"]
        self._trainer = None
        if state["trainer"] is not None:
            # Built without the warm-up: the saved state already holds it.
            trainer = Trainer(
                self.space, self.tasks, self.vocabulary_size, self.config.train, self.seed
            )
            trainer.load_state_dict(state["trainer"])
            self._trainer = trainer

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
        fresh = self._score_remotely(checked) if self.executor.remote else {}
        results = []
        for assignment in checked:
            key = self.key(assignment)
            if key in fresh:
                # As scored here: the first of a key's occurrences is no cache hit, the rest are.
                results.append(fresh.pop(key))
            else:
                results.append(self.cache.get_or_compute(key, lambda a=assignment: self._score(a)))
        return results

    def _score_remotely(self, assignments: Sequence[np.ndarray]) -> dict[str, Evaluation]:
        """Score the uncached ``assignments`` on the executor; cache and return them by key."""
        missing: dict[str, np.ndarray] = {}
        for assignment in assignments:
            key = self.key(assignment)
            if key not in missing and self.cache.get(key) is None:
                missing[key] = assignment
        if len(missing) < 2:
            return {}
        self.trainer  # noqa: B018  (warmed up here, before it is copied to the workers)
        portable = copy.copy(self)
        portable.cache, portable.executor = RewardCache(), LocalExecutor()
        keys = list(missing)
        pieces = min(len(keys), self.executor.parallelism())
        chunks = [keys[i::pieces] for i in range(pieces)]
        fresh: dict[str, Evaluation] = {}
        for index, evaluations in self.executor.map(
            functools.partial(_score_all, portable), [[missing[k] for k in c] for c in chunks]
        ):
            for key, evaluation in zip(chunks[index], evaluations, strict=True):
                fresh[key] = evaluation
        for key in keys:  # in a fixed order, so that the cache file does not depend on timing
            self.cache.put(key, fresh[key])
        return fresh

    def _score(self, assignment: np.ndarray) -> Evaluation:
        trainer = self.trainer
        with torch_threads(self.config.train.num_threads):
            if self.config.finetune_steps:
                saved = (
                    copy.deepcopy(trainer.network.state_dict()),
                    copy.deepcopy(trainer.optimizer.state_dict()),
                    trainer.torch_state,
                )
                seed = int(fingerprint(self.seed, self.space.format(assignment)), 16)
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


def _score_all(evaluator: SupernetEvaluator, assignments: list[np.ndarray]) -> list[Evaluation]:
    """A remote piece of :meth:`SupernetEvaluator.evaluate`: its own copy scores each."""
    return [evaluator._score(assignment) for assignment in assignments]


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
