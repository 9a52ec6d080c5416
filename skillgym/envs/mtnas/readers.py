"""Data file readers: each format is parsed strictly into raw examples.

Three formats are read (a malformed line raises :class:`DataFormatError` naming the file and
line, nothing is skipped):

* ``label<TAB>text`` classification files (the FDU-MTL sentiment format);
* CoNLL column files (CoNLL-2000: ``word POS chunk``, blank line between sentences);
* CoNLL-U (Universal Dependencies: UPOS and XPOS columns).

The readers know formats, not datasets: which files make up a built-in dataset is
:mod:`skillgym.envs.mtnas.datasets`' business.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from skillgym.envs.mtnas.tasks import RawExample

FDU_MTL_LABELS = ("0", "1")
CONLLU_COLUMNS = {"upos": 3, "xpos": 4}


class DataFormatError(ValueError):
    """A data file that cannot be read as its format: names the file and, where known, the line."""


def _read_lines(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    # A few published files hold stray bytes that are not UTF-8 (e.g. a truncated character in
    # FDU-MTL dvd.task.train): they become U+FFFD inside their token, and the line is kept.
    # Lines end at "\n" only: str.splitlines would also break at NEL and other Unicode line
    # separators that occur inside some reviews.
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = [line.removesuffix("\r") for line in text.removesuffix("\n").split("\n")]
    if not any(line.strip() for line in lines):
        raise DataFormatError(f"{path}: the file is empty")
    return lines


def read_classification_file(
    path: str | Path, labels: Sequence[str] | None = FDU_MTL_LABELS
) -> list[RawExample]:
    """Read a ``label<TAB>text`` file into ``(tokens, label)`` pairs, one per line.

    Text is lower-cased and split on whitespace (the FDU-MTL files are already tokenised).

    Args:
        path: the file.
        labels: the allowed labels; a line with any other label raises. ``None`` accepts any.

    Raises:
        FileNotFoundError: the file does not exist.
        DataFormatError: the file is empty, or a line does not have exactly two tab-separated
            columns, has empty text, or has a label outside ``labels`` (file and line named).
    """
    examples: list[RawExample] = []
    for number, line in enumerate(_read_lines(path), start=1):
        columns = line.split("\t")
        if len(columns) != 2:
            raise DataFormatError(
                f"{path}:{number}: expected 2 tab-separated columns (label, text), "
                f"found {len(columns)}"
            )
        label, text = columns[0].strip(), columns[1].lower().split()
        if labels is not None and label not in labels:
            raise DataFormatError(
                f"{path}:{number}: unknown label {label!r}; allowed labels are {list(labels)}"
            )
        if not text:
            raise DataFormatError(f"{path}:{number}: the text column is empty")
        examples.append((text, label))
    return examples


def read_conll_file(path: str | Path, columns: int) -> list[list[list[str]]]:
    """Read a whitespace-separated column file into sentences of rows (blank line = boundary).

    Args:
        path: the file.
        columns: the number of columns every non-blank line must have (3 for CoNLL-2000).

    Raises:
        DataFormatError: the file is empty or a line has another column count (file and line).
    """
    sentences: list[list[list[str]]] = []
    current: list[list[str]] = []
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.split()
        if not fields:
            if current:
                sentences.append(current)
                current = []
            continue
        if len(fields) != columns:
            raise DataFormatError(
                f"{path}:{number}: expected {columns} columns, found {len(fields)}"
            )
        current.append(fields)
    if current:
        sentences.append(current)
    return sentences


def read_conllu_file(path: str | Path) -> list[list[list[str]]]:
    """Read a CoNLL-U file into sentences of 10-field token rows.

    Comment lines (``#``) are metadata; multi-word token ranges (ids like ``3-4``) and empty
    nodes (ids like ``5.1``) are not words of the surface sentence, so they are not rows here.

    Raises:
        DataFormatError: the file is empty or a token line does not have 10 tab-separated fields.
    """
    sentences: list[list[list[str]]] = []
    current: list[list[str]] = []
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            if current:
                sentences.append(current)
                current = []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise DataFormatError(
                f"{path}:{number}: expected 10 tab-separated CoNLL-U fields, found {len(fields)}"
            )
        if "-" in fields[0] or "." in fields[0]:
            continue
        current.append(fields)
    if current:
        sentences.append(current)
    return sentences


def tagging_examples(sentences: list[list[list[str]]], column: int) -> list[RawExample]:
    """One tagging example per sentence: lower-cased words (column 0) and the tags in ``column``."""
    return [([row[0].lower() for row in rows], [row[column] for row in rows]) for rows in sentences]
