"""The shared vocabulary and the encoding of tasks into a corpus."""

from __future__ import annotations

import pytest

from skillgym.envs.mtnas.corpus import IGNORE_INDEX, Corpus, Vocabulary
from skillgym.envs.mtnas.synthetic import synthetic_tasks
from skillgym.envs.mtnas.tasks import RawTask


def test_vocabulary_counts_training_text():
    vocabulary = Vocabulary([["b", "a", "b"], ["c", "b", "a"]], min_count=2)
    assert vocabulary.words == ["<pad>", "<unk>", "b", "a"]
    assert vocabulary.encode(["a", "zzz", "b"]).tolist() == [3, 1, 2]


def test_corpus_encodes_exactly():
    train = [(["x", "y"], ["A", "B"]), (["y"], ["B"])]
    tagging = RawTask("tag", "tagging", train, [(["y", "x", "q"], ["B", "A", "C"])], train)
    sentiment = RawTask(
        "cls", "classification", [(["x", "y", "y"], "1")], [(["y", "y", "y"], "0")],
        [(["x"], "1")],
    )
    corpus = Corpus([tagging, sentiment], max_length=2)
    assert corpus.vocabulary.words == ["<pad>", "<unk>", "y", "x"]
    tag, cls = corpus.tasks
    assert tag.labels == ("A", "B", "C")  # C occurs only outside training, it still has a class
    assert tag.train.tokens.tolist() == [[3, 2], [2, 0]]
    assert tag.train.targets.tolist() == [[0, 1], [1, IGNORE_INDEX]]
    assert tag.validation.tokens.tolist() == [[2, 3, 1]]
    # max_length cuts classification inputs only, and keeps every example.
    assert cls.train.tokens.tolist() == [[3, 2]]
    assert cls.validation.lengths.tolist() == [2]
    assert cls.train.targets.tolist() == [1] and cls.validation.targets.tolist() == [0]


def test_corpus_max_train_keeps_validation_and_test_whole():
    tasks = synthetic_tasks((30, 7, 5), seed=1)
    corpus = Corpus(tasks, max_train=12)
    assert [len(t.train) for t in corpus.tasks] == [12] * 4
    assert [len(t.validation) for t in corpus.tasks] == [7] * 4
    assert [len(t.test) for t in corpus.tasks] == [5] * 4


def test_corpus_rejects_bad_arguments():
    tasks = synthetic_tasks((5, 2, 2))
    with pytest.raises(ValueError, match="task names must be unique"):
        Corpus([tasks[0], tasks[0]])
    with pytest.raises(ValueError, match="max_length"):
        Corpus(tasks, max_length=0)
    with pytest.raises(ValueError, match="unknown task"):
        Corpus(tasks).subset(["nope"])
