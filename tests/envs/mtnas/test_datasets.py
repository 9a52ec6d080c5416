"""Tasks from a user's files, by name, and the built-in datasets' splits (the real-data tests
need ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillgym.envs.mtnas.corpus import Corpus
from skillgym.envs.mtnas.datasets import (
    TaskFiles,
    load_conll2000,
    load_fdu_mtl,
    load_task_files,
    load_tasks,
    load_ud_ewt,
    task_name,
)
from skillgym.envs.mtnas.readers import DataFormatError, DataWarning, read_conll_file

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data folder {DATA} is absent")


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
    # The words are the FORM column, not the token ids (1, 2, 3, ...).
    assert sum(tokens[:2] == ["1", "2"] for tokens, _ in upos.train) < 10
    assert {tag for _, tags in upos.train for tag in tags} <= {
        "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
        "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
    }


# ----------------------------------------------------------------------------- a user's own files

def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_six_space_delimited_classes_with_a_stray_byte(tmp_path, six_class_questions):
    train = write(tmp_path, "train.label", six_class_questions * 5)
    test = write(tmp_path, "test.label", (six_class_questions * 5)[:200])
    with pytest.warns(DataWarning, match=r"train\.label:4: bytes that are not UTF-8 were replaced "
                                         r"by U\+FFFD \(and lines 10, 16, 22, 28\)"):
        task = load_task_files("questions", train, test, delimiter="space")
    assert task.kind == "classification"
    labels = {label for split in (task.train, task.validation) for _, label in split}
    assert labels == {"DESC:manner", "ENTY:cremat", "ABBR:exp", "HUM:ind", "LOC:city", "NUM:date"}
    assert len(task.train) + len(task.validation) == 30 and len(task.validation) == 3
    owner = next(tokens for tokens, label in task.train + task.validation if label == "HUM:ind")
    assert "caf\ufffd" in owner
    # Encoded, the six classes are the task's labels, sorted.
    (encoded,) = Corpus([task]).tasks
    assert encoded.labels == tuple(sorted(labels))


def test_a_tab_delimited_reading_of_a_space_delimited_file_names_file_and_line(
        tmp_path, six_class_questions):
    train = write(tmp_path, "train.label", six_class_questions.replace(b"\xf0", b"e"))
    with pytest.raises(DataFormatError, match=r"train\.label:1: expected 2 tab-separated columns"):
        load_task_files("questions", train, train)


CONLLU = (
    "# sent_id = a\n1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n"
    "2\thome\thome\tADV\tRB\t_\t1\t_\t_\t_\n\n"
    "# sent_id = b\n1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n1\tdo\tdo\tAUX\tVBP\t_\t0\troot\t_\t_\n"
    "2\tn't\tnot\tPART\tRB\t_\t1\t_\t_\t_\n\n"
)


def test_a_conllu_file_is_detected_and_tagged_by_upos_or_xpos(tmp_path):
    train = write(tmp_path, "train.txt", CONLLU * 10)
    test = write(tmp_path, "test.txt", CONLLU)
    task = load_task_files("ewt", train, test)
    assert task.kind == "tagging"
    assert task.test == [(["go", "home"], ["VERB", "ADV"]), (["do", "n't"], ["AUX", "PART"])]
    xpos = load_task_files("ewt", train, test, column="xpos")
    assert xpos.test[0] == (["go", "home"], ["VB", "RB"])
    assert load_task_files("ewt", train, test, format="conllu", column=5).test == xpos.test


def test_a_conll_file_takes_the_last_column_unless_told(tmp_path):
    text = "The DT B-NP\ncat NN I-NP\n\nRuns VBZ B-VP\n\n"
    train, test = write(tmp_path, "train.txt", text * 10), write(tmp_path, "test.txt", text)
    assert load_task_files("chunk", train, test).test[0] == (["the", "cat"], ["B-NP", "I-NP"])
    assert load_task_files("pos", train, test, column=2).test[0] == (["the", "cat"], ["DT", "NN"])
    with pytest.raises(ValueError, match=r"column 4 was asked for, but its rows have 3 columns"):
        load_task_files("pos", train, test, column=4)
    with pytest.raises(ValueError, match=r"column must be a column number from 2"):
        load_task_files("pos", train, test, column="upos")


def test_a_malformed_line_names_file_and_line(tmp_path):
    train = write(tmp_path, "train.txt", "The DT B-NP\ncat NN I-NP\n\nRuns VBZ\n")
    with pytest.raises(DataFormatError, match=r"train\.txt:4: expected 3 columns, found 2"):
        load_task_files("chunk", train, train, format="conll")
    conllu = write(tmp_path, "bad.conllu", CONLLU + "3\tgo\tgo\tVERB\n")
    with pytest.raises(DataFormatError, match=r"bad\.conllu:10: expected 10 tab-separated"):
        load_task_files("ewt", conllu, conllu)


def test_an_unknown_format_is_a_clear_error(tmp_path):
    train = write(tmp_path, "train.txt", "1\tgood\n")
    with pytest.raises(ValueError, match=r"task 'mine': unknown format 'csv'; formats: auto, "
                                         r"classification, conll, conllu"):
        load_task_files("mine", train, train, format="csv")
    with pytest.raises(ValueError, match=r"unknown format 'csv'"):
        TaskFiles.parse(f"mine={train},format=csv")


def test_a_validation_file_is_used_as_it_is_else_validation_is_carved_seeded(tmp_path):
    lines = "".join(f"{i % 4}\tword{i} text\n" for i in range(50))
    train = write(tmp_path, "train.txt", lines)
    test = write(tmp_path, "test.txt", "0\tx\n1\ty\n")
    dev = write(tmp_path, "dev.txt", "2\tz\n3\tw\n")
    given = load_task_files("t", train, test, dev)
    assert len(given.train) == 50 and given.validation == [(["z"], "2"), (["w"], "3")]
    carved = load_task_files("t", train, test, validation_fraction=0.2, seed=3)
    assert len(carved.train) == 40 and len(carved.validation) == 10
    assert carved == load_task_files("t", train, test, validation_fraction=0.2, seed=3)
    assert carved.validation != load_task_files("t", train, test, validation_fraction=0.2,
                                                seed=4).validation
    assert sorted(carved.train + carved.validation) == sorted(given.train)
    # Without a test file, test is carved first and validation from the rest.
    alone = load_task_files("t", train, validation_fraction=0.2, seed=3)
    assert (len(alone.train), len(alone.validation), len(alone.test)) == (32, 8, 10)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("q=train.txt,test.txt", TaskFiles("q", "train.txt", "test.txt")),
        ("q=a/train.txt, a/test.txt ,a/dev.txt,delimiter=space,format=classification",
         TaskFiles("q", "a/train.txt", "a/test.txt", "a/dev.txt", "classification", "space")),
        ("ewt=t.conllu,validation=d.conllu,column=xpos",
         TaskFiles("ewt", "t.conllu", validation="d.conllu", column="xpos")),
    ],
)
def test_task_specs(spec, expected):
    assert TaskFiles.parse(spec) == expected
    assert task_name(spec) == expected.name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("q", "is not NAME=TRAIN"),
        ("a b=x", "is not NAME=TRAIN"),
        ("q=a,b,c,d", "at most three paths"),
        ("q=a,colour=red", "unknown key 'colour'; keys: train, test, validation, format"),
        ("q=test=a", "names no training file"),
        ("q=a,,b", "test is empty"),
        ("q=a,train=b", "train is given twice"),
    ],
)
def test_malformed_task_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        TaskFiles.parse(spec)


def test_load_tasks_mixes_builtin_names_and_specs_in_order(tmp_path, six_class_questions):
    train = write(tmp_path, "train.txt", (six_class_questions * 5).replace(b"\xf0", b"e"))
    spec = f"questions={train},{train}"
    found = load_tasks(["syn_topic", spec, "syn_pos"], delimiter="space")
    assert [task.name for task in found] == ["syn_topic", "questions", "syn_pos"]
    with pytest.raises(ValueError, match="must be non-empty and unique"):
        load_tasks([spec, f"questions={train}"])
    with pytest.raises(ValueError, match=r"train\.txt:1: expected 2 tab-separated"):
        load_tasks([spec])
