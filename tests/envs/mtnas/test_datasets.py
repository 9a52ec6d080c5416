"""Tasks by name and the built-in datasets' splits (the real-data tests need ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillgym.envs.mtnas.datasets import load_conll2000, load_fdu_mtl, load_tasks, load_ud_ewt
from skillgym.envs.mtnas.readers import read_conll_file

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
    assert {tag for _, tags in upos.train for tag in tags} <= {
        "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
        "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
    }
