"""Loaders, encoding and batching of the multitask data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skillgym.envs.mtnas.batching import bucket_batches, fixed_subset
from skillgym.envs.mtnas.corpus import IGNORE_INDEX, Corpus, Vocabulary
from skillgym.envs.mtnas.datasets import load_conll2000, load_fdu_mtl, load_tasks, load_ud_ewt
from skillgym.envs.mtnas.readers import (
    DataFormatError,
    read_classification_file,
    read_conll_file,
    read_conllu_file,
)
from skillgym.envs.mtnas.synthetic import synthetic_corpus, synthetic_tasks
from skillgym.envs.mtnas.tasks import RawTask, carve_validation

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data folder {DATA} is absent")


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- classification


def test_classification_file_is_read_line_by_line(tmp_path):
    path = write(tmp_path, "a.task.train", "1\tGreat Book !\n0\tdull\n")
    assert read_classification_file(path) == [(["great", "book", "!"], "1"), (["dull"], "0")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1\tgood\n0\tbad\textra\n", r"a\.txt:2: expected 2 tab-separated columns .* found 3"),
        ("1\tgood\nno tab here\n", r"a\.txt:2: expected 2 .* found 1"),
        ("1\tgood\n7\tbad\n", r"a\.txt:2: unknown label '7'; allowed labels are \['0', '1'\]"),
        ("1\t   \n", r"a\.txt:1: the text column is empty"),
        ("", r"a\.txt: the file is empty"),
        ("\n\n", r"a\.txt: the file is empty"),
        ("1\tgood\n\n0\tbad\n", r"a\.txt:2: expected 2"),
    ],
)
def test_malformed_classification_file_names_file_and_line(tmp_path, content, message):
    path = write(tmp_path, "a.txt", content)
    with pytest.raises(DataFormatError, match=message):
        read_classification_file(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_classification_file(tmp_path / "nope.txt")


def test_stray_bytes_and_unicode_separators_keep_every_line(tmp_path):
    # A truncated UTF-8 character and a NEL (U+0085) inside the text: still two examples.
    path = write(tmp_path, "a.txt", b"1\tclich\xef\xbf ok\n0\tone\xc2\x85two\n")
    examples = read_classification_file(path)
    assert [label for _, label in examples] == ["1", "0"]
    assert examples[0][0] == ["clich\ufffd", "ok"]
    assert examples[1][0] == ["one", "two"]  # NEL is whitespace inside the text


# ----------------------------------------------------------------------------- CoNLL


def test_conll_file_sentences(tmp_path):
    path = write(tmp_path, "c.txt", "The DT B-NP\ncat NN I-NP\n\nRuns VBZ B-VP\n")
    assert read_conll_file(path, 3) == [
        [["The", "DT", "B-NP"], ["cat", "NN", "I-NP"]],
        [["Runs", "VBZ", "B-VP"]],
    ]


def test_conll_wrong_column_count(tmp_path):
    path = write(tmp_path, "c.txt", "The DT B-NP\ncat NN\n")
    with pytest.raises(DataFormatError, match=r"c\.txt:2: expected 3 columns, found 2"):
        read_conll_file(path, 3)


def test_conllu_skips_comments_ranges_and_empty_nodes(tmp_path):
    row = "{}\t{}\t_\t{}\t{}\t_\t0\troot\t_\t_"
    text = "\n".join(
        [
            "# sent_id = 1",
            row.format("1-2", "don't", "_", "_"),
            row.format(1, "do", "AUX", "VBP"),
            row.format(2, "n't", "PART", "RB"),
            row.format("2.1", "x", "X", "X"),
            "",
            row.format(1, "Go", "VERB", "VB"),
            "",
        ]
    )
    sentences = read_conllu_file(write(tmp_path, "u.conllu", text))
    assert [[r[1] for r in s] for s in sentences] == [["do", "n't"], ["Go"]]
    assert [[r[3] for r in s] for s in sentences] == [["AUX", "PART"], ["VERB"]]


def test_conllu_wrong_field_count(tmp_path):
    path = write(tmp_path, "u.conllu", "1\tGo\tgo\tVERB\n")
    with pytest.raises(DataFormatError, match=r"u\.conllu:1: expected 10 .* found 4"):
        read_conllu_file(path)


# ----------------------------------------------------------------------------- splits, encoding


def test_carve_validation_is_a_seeded_partition():
    examples = [([str(i)], "0") for i in range(50)]
    train, validation = carve_validation(examples, 0.2, seed=3)
    again = carve_validation(examples, 0.2, seed=3)
    assert (train, validation) == again
    assert len(validation) == 10 and len(train) == 40
    assert sorted(t[0][0] for t in train + validation) == sorted(str(i) for i in range(50))
    assert carve_validation(examples, 0.2, seed=4) != again


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 0.001])
def test_carve_validation_rejects_fractions_that_empty_a_split(fraction):
    with pytest.raises(ValueError, match="validation_fraction"):
        carve_validation([(["a"], "0")] * 10, fraction, seed=0)


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
    with pytest.raises(ValueError, match="kind must be one of"):
        RawTask("t", "regression", [(["a"], "0")], [(["a"], "0")], [(["a"], "0")])
    with pytest.raises(ValueError, match="the test split is empty"):
        RawTask("t", "classification", [(["a"], "0")], [(["a"], "0")], [])


def test_bucket_batches_cover_every_index_once():
    lengths = np.random.default_rng(0).integers(1, 40, size=203)
    batches = list(bucket_batches(lengths, 16, np.random.default_rng(1)))
    assert sorted(np.concatenate(batches).tolist()) == list(range(203))
    assert all(len(b) <= 16 for b in batches)
    ordered = list(bucket_batches(lengths, 16, None))
    assert np.all(np.diff(lengths[np.concatenate(ordered)]) >= 0)


def test_fixed_subset_is_seeded_and_bounded():
    assert fixed_subset(10, None, 0).tolist() == list(range(10))
    assert fixed_subset(10, 20, 0).tolist() == list(range(10))
    chosen = fixed_subset(100, 7, 5)
    assert len(set(chosen.tolist())) == 7 and chosen.tolist() == fixed_subset(100, 7, 5).tolist()


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


def test_load_tasks_names():
    assert [t.name for t in load_tasks(["syn_topic", "syn_pos"])] == ["syn_topic", "syn_pos"]
    with pytest.raises(ValueError, match="unknown task name"):
        load_tasks(["books2"], "/nowhere")
    with pytest.raises(ValueError, match="root .* is required"):
        load_tasks(["books"])


# ----------------------------------------------------------------------------- real data slices


@needs_data
def test_fdu_mtl_splits():
    (books,) = load_fdu_mtl(DATA / "fdu_mtl", ["books"])
    assert (len(books.train), len(books.validation), len(books.test)) == (1440, 160, 400)
    assert {label for _, label in books.test} == {"0", "1"}


@needs_data
def test_conll2000_validation_is_carved_from_train():
    pos, chunk = load_conll2000(DATA / "conll2000")
    assert len(pos.train) + len(pos.validation) == 8936
    assert len(pos.test) == 2012
    # Validation comes from train.txt (dev.txt overlaps it and is not read).
    train_file = {
        " ".join(row[0].lower() for row in rows)
        for rows in read_conll_file(DATA / "conll2000" / "train.txt", 3)
    }
    assert all(" ".join(tokens) in train_file for tokens, _ in pos.validation)
    assert [tokens for tokens, _ in pos.train[:5]] == [tokens for tokens, _ in chunk.train[:5]]
    assert len({tag for split in (pos.train, pos.test) for _, tags in split for tag in tags}) == 44


@needs_data
def test_ud_ewt_resplit():
    (upos,) = load_ud_ewt(DATA / "ud_ewt")
    assert len(upos.train) + len(upos.validation) + len(upos.test) == 2001 + 2077
    assert {tag for _, tags in upos.train for tag in tags} <= {
        "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
        "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
    }
