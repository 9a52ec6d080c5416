"""The file readers: classification, CoNLL column and CoNLL-U files, read strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillgym.envs.mtnas.readers import (
    DataFormatError,
    DataWarning,
    detect_format,
    read_classification_file,
    read_conll_file,
    read_conllu_file,
)


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


def test_any_label_is_read_unless_labels_are_given(tmp_path):
    path = write(tmp_path, "a.txt", "1\tgood\nNUM:date\twhen\n")
    assert [label for _, label in read_classification_file(path)] == ["1", "NUM:date"]
    message = r"a\.txt:2: unknown label 'NUM:date'; allowed labels are \['0', '1'\]"
    with pytest.raises(DataFormatError, match=message):
        read_classification_file(path, labels=("0", "1"))


@pytest.mark.parametrize("delimiter", [" ", "space", "whitespace"])
def test_whitespace_delimiter_splits_at_the_first_run_of_whitespace(tmp_path, delimiter):
    path = write(tmp_path, "a.txt", "DESC:manner How did  serfdom develop ?\nLOC\tWhere is it\n")
    assert read_classification_file(path, delimiter=delimiter) == [
        (["how", "did", "serfdom", "develop", "?"], "DESC:manner"),
        (["where", "is", "it"], "LOC"),
    ]


def test_other_delimiters_split_at_their_first_occurrence(tmp_path):
    path = write(tmp_path, "a.csv", "pos,good, really\nneg,bad\n")
    assert read_classification_file(path, delimiter=",") == [
        (["good,", "really"], "pos"), (["bad"], "neg")]
    with pytest.raises(DataFormatError, match=r"a\.csv:1: expected 2 ','-separated columns"):
        read_classification_file(write(tmp_path, "a.csv", "no comma\n"), delimiter=",")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("LOC where\nlonely\n", r"a\.txt:2: expected 2 whitespace-separated columns .* found 1"),
        ("LOC where\n   \n", r"a\.txt:2: expected 2 whitespace-separated"),
    ],
)
def test_malformed_space_delimited_line_names_file_and_line(tmp_path, content, message):
    with pytest.raises(DataFormatError, match=message):
        read_classification_file(write(tmp_path, "a.txt", content), delimiter="space")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_classification_file(tmp_path / "nope.txt")


def test_stray_bytes_and_unicode_separators_keep_every_line(tmp_path):
    # A truncated UTF-8 character and a NEL (U+0085) inside the text: still two examples.
    path = write(tmp_path, "a.txt", b"1\tclich\xef\xbf ok\n0\tone\xc2\x85two\n")
    with pytest.warns(DataWarning, match=r"a\.txt:1: bytes that are not UTF-8 were replaced"):
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


def test_conll_column_count_is_taken_from_the_first_line(tmp_path):
    path = write(tmp_path, "c.txt", "EU B-ORG\nrejects O\n\nPeter B-PER\n")
    assert read_conll_file(path) == [[["EU", "B-ORG"], ["rejects", "O"]], [["Peter", "B-PER"]]]
    with pytest.raises(DataFormatError, match=r"c\.txt:2: expected 2 columns, found 3"):
        read_conll_file(write(tmp_path, "c.txt", "EU B-ORG\nrejects VBZ O\n"))
    with pytest.raises(DataFormatError, match=r"c\.txt:1: expected a word and at least one tag"):
        read_conll_file(write(tmp_path, "c.txt", "EU\n"))


# ----------------------------------------------------------------------------- format detection

CONLLU = "# text = Go home\n1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n" \
         "2\thome\thome\tADV\tRB\t_\t1\tadvmod\t_\t_\n\n"


@pytest.mark.parametrize(
    ("name", "content", "found"),
    [
        ("a.txt", "1\tgood book\n0\tbad\n", "classification"),
        ("a.txt", "DESC:manner How did serfdom develop ?\nLOC:city Where ?\n\n", "classification"),
        ("c.txt", "The DT B-NP\ncat NN I-NP\n\nRuns VBZ B-VP\n", "conll"),
        ("u.txt", CONLLU + CONLLU, "conllu"),
        ("u.conllu", "anything\n", "conllu"),
    ],
)
def test_detect_format(tmp_path, name, content, found):
    assert detect_format(write(tmp_path, name, content)) == found


def test_undetectable_format_asks_to_state_it(tmp_path):
    path = write(tmp_path, "x.txt", "a b\nc d e\n\nf g\n")
    with pytest.raises(DataFormatError, match=r"x\.txt: cannot tell its format.*state it as "
                                              r"format=classification, conll or conllu"):
        detect_format(path)
