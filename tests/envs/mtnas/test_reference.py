"""Stand-alone reference training: test accuracy over seeds, the epoch length."""

from __future__ import annotations

import numpy as np
import pytest

from skillgym.envs.mtnas.batching import steps_per_epoch
from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.envs.mtnas.trainer import Trainer


def test_reference_evaluator_reports_test_over_seeds(corpus, space, small):
    evaluator = ReferenceEvaluator(corpus, space, epochs=1, seeds=(0, 1), config=small)
    assignment = np.array([[0, 2], [0, 2], [1, 2], [1, 3]])
    evaluation = evaluator.evaluate([assignment])[0]
    assert set(evaluation.test) == set(evaluation.test_std) == set(space.tasks)
    per_seed = [evaluator.run_seed(assignment, seed) for seed in (0, 1)]
    test = np.array([run[1] for run in per_seed])
    np.testing.assert_allclose(list(evaluation.test.values()), test.mean(0))
    np.testing.assert_allclose(list(evaluation.test_std.values()), test.std(0))
    assert evaluator.evaluate([assignment])[0].cache_hit


def test_reference_epoch_steps_sets_the_training_length(corpus, space, small):
    """``epoch_steps`` replaces the default epoch: validation after exactly that many steps."""
    assignment = np.array([[0, 2], [0, 2], [1, 2], [1, 3]])
    evaluator = ReferenceEvaluator(corpus, space, epochs=1, seeds=(0,), config=small,
                                   epoch_steps=3)
    tasks = corpus.subset(space.tasks)
    trainer = Trainer(space, tasks, len(corpus.vocabulary), small, seed=0)
    for _ in range(3):
        trainer.step(assignment)
    expected = [
        trainer.accuracy(i, task.validation, np.arange(len(task.validation)), assignment[i])
        for i, task in enumerate(tasks)
    ]
    assert evaluator.run_seed(assignment, 0)[0] == expected
    default = ReferenceEvaluator(corpus, space, epochs=1, seeds=(0,), config=small)
    assert default.epoch_steps == steps_per_epoch(tasks, small.batch_size) != 3
    assert default.run_seed(assignment, 0)[0] != expected


def test_bad_reference_configuration_is_rejected(corpus, space):
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        ReferenceEvaluator(corpus, space, epochs=0)
    with pytest.raises(ValueError, match="epoch_steps must be >= 1 or None, got 0"):
        ReferenceEvaluator(corpus, space, epoch_steps=0)
