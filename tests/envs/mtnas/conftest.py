"""Fixtures shared by the reward-backend tests: a synthetic corpus, a space, small settings."""

from __future__ import annotations

import pytest

from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.synthetic import synthetic_corpus
from skillgym.envs.mtnas.trainer import TrainConfig


@pytest.fixture(scope="module")
def corpus():
    return synthetic_corpus((40, 30, 10))


@pytest.fixture(scope="module")
def space():
    tasks = ("syn_pos", "syn_chunk", "syn_topic", "syn_polarity")
    return SearchSpace(tasks, num_layers=2, pool=("bilstm", "cnn3", "identity"))


@pytest.fixture(scope="module")
def small():
    return TrainConfig(dim=16, batch_size=8)
