"""The synthetic corpus."""

from __future__ import annotations

import numpy as np

from skillgym.envs.mtnas.synthetic import synthetic_corpus, synthetic_tasks


def test_synthetic_corpus_is_seeded_and_structured():
    first, second = synthetic_corpus(seed=2), synthetic_corpus(seed=2)
    for a, b in zip(first.tasks, second.tasks, strict=True):
        assert np.array_equal(a.train.tokens, b.train.tokens)
        assert np.array_equal(a.test.targets, b.test.targets)
    pos_task = synthetic_tasks(seed=0)[0]
    tag_of = {w: t for words, tags in pos_task.train for w, t in zip(words, tags, strict=True)}
    assert tag_of["the"] == "DT" and tag_of["not"] == "RB"
    other = synthetic_corpus(seed=3).tasks[0].train.tokens
    assert not np.array_equal(first.tasks[0].train.tokens, other)
