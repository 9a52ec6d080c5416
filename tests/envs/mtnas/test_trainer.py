"""Training a child network and scoring its accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skillgym.envs.mtnas.corpus import IGNORE_INDEX
from skillgym.envs.mtnas.trainer import TrainConfig, Trainer


def test_accuracy_matches_one_example_at_a_time(corpus, space, small):
    """Batched, bucketed, padded scoring equals a per-example count in Python integers."""
    trainer = Trainer(space, corpus.tasks, len(corpus.vocabulary), small, seed=0)
    for _ in range(3):
        trainer.step(np.zeros((4, 2), dtype=np.int64))
    trainer.network.eval()
    for index, task in enumerate(corpus.tasks):
        split, options = task.validation, [0, 1]
        correct = total = 0
        with torch.no_grad():
            for row in range(len(split)):
                tokens, lengths, targets = split.batch(np.array([row]))
                predicted = trainer.network(
                    index, options, torch.from_numpy(tokens), torch.from_numpy(lengths)
                ).argmax(-1).numpy()
                scored = targets != IGNORE_INDEX
                correct += int((predicted == targets)[scored].sum())
                total += int(scored.sum())
        batched = trainer.accuracy(index, split, np.arange(len(split)), options)
        assert batched == pytest.approx(correct / total, abs=1e-12)


def test_bad_train_config_is_rejected():
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        TrainConfig(learning_rate=0)
