"""Data file readers: each format is parsed strictly into raw examples.

Three formats are read (a malformed line raises :class:`DataFormatError` naming the file and
line, nothing is skipped):

* ``classification``: one example a line, a label, a delimiter, then the text (the FDU-MTL
  sentiment files are ``label<TAB>text``; many public sets are ``LABEL TEXT``);
* ``conll``: whitespace-separated columns, word first, a blank line between sentences
  (CoNLL-2000: ``word POS chunk``);
* ``conllu``: CoNLL-U (Universal Dependencies: UPOS and XPOS columns).

:func:`detect_format` tells them apart from a file's content. Bytes that are not UTF-8 become
U+FFFD inside their token and the line is kept; a :class:`DataWarning` names the file and the
lines. The readers know formats, not datasets: which files make up a task is
:mod:`skillgym.envs.mtnas.datasets`' business.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from skillgym.envs.mtnas.tasks import RawExample

FORMATS = ("classification", "conll", "conllu")
CONLLU_COLUMNS = {"upos": 3, "xpos": 4}
CONLLU_WORD = 1  # FORM; field 0 is the token id
#: Delimiter names a user may give instead of the character itself.
DELIMITERS = {"tab": "\t", "space": " ", "whitespace": " "}
# Lines of a file that format detection looks at.
_SAMPLE_LINES = 200


class DataFormatError(ValueError):
    """A data file that cannot be read as its format: names the file and, where known, the line."""


class DataWarning(UserWarning):
    """Data read with a repair (bytes that are not UTF-8 replaced); names the file and lines."""


def _decode(path: Path, data: bytes, report: bool) -> str:
    """``data`` as text; bytes that are not UTF-8 become U+FFFD, reported by a warning naming
    the lines unless ``report`` is false."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if not report:
            return data.decode("utf-8", errors="replace")
    # A few published files hold stray bytes (e.g. a truncated character in FDU-MTL
    # dvd.task.train): the rest of the line is good data, so the line is kept and reported.
    bad = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(number)
    more = f" (and lines {', '.join(map(str, bad[1:6]))}{', ...' if len(bad) > 6 else ''})"
    warnings.warn(
        f"{path}:{bad[0]}: bytes that are not UTF-8 were replaced by U+FFFD"
        + (more if len(bad) > 1 else ""),
        DataWarning,
        stacklevel=4,
    )
    return data.decode("utf-8", errors="replace")


def _read_lines(path: str | Path, report: bool = True) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    text = _decode(path, path.read_bytes(), report)
    # Lines end at "\n" only: str.splitlines would also break at NEL and other Unicode line
    # separators that occur inside some reviews.
    lines = [line.removesuffix("\r") for line in text.removesuffix("\n").split("\n")]
    if not any(line.strip() for line in lines):
        raise DataFormatError(f"{path}: the file is empty")
    return lines


def delimiter_character(delimiter: str) -> str:
    """The character a delimiter name stands for (``tab``, ``space``), or the text itself.

    Raises:
        ValueError: the delimiter is empty.
    """
    if not delimiter:
        raise ValueError("delimiter must be 'tab', 'space' or a non-empty string, got ''")
    return DELIMITERS.get(delimiter, delimiter)


def _split_label(line: str, delimiter: str) -> list[str]:
    if delimiter == "\t":
        return line.split("\t")
    if delimiter.isspace():
        return line.split(None, 1)
    return line.split(delimiter, 1)


def read_classification_file(
    path: str | Path, labels: Sequence[str] | None = None, delimiter: str = "\t"
) -> list[RawExample]:
    """Read a ``label<DELIMITER>text`` file into ``(tokens, label)`` pairs, one per line.

    Text is lower-cased and split on whitespace (the FDU-MTL files are already tokenised).

    Args:
        path: the file.
        labels: the allowed labels; a line with any other label raises. ``None`` (the default)
            accepts any label.
        delimiter: what separates the label from the text: a tab (the default; a line must then
            have exactly two tab-separated columns), a space or ``"space"`` (the first run of
            whitespace: ``LABEL TEXT`` lines), or any other string (its first occurrence).

    Raises:
        FileNotFoundError: the file does not exist.
        DataFormatError: the file is empty, or a line does not split into a label and a text,
            has an empty label or text, or a label outside ``labels`` (file and line named).
    """
    delimiter = delimiter_character(delimiter)
    shown = {"\t": "tab", " ": "whitespace"}.get(delimiter, repr(delimiter))
    examples: list[RawExample] = []
    for number, line in enumerate(_read_lines(path), start=1):
        columns = _split_label(line, delimiter)
        if len(columns) != 2:
            raise DataFormatError(
                f"{path}:{number}: expected 2 {shown}-separated columns (label, text), "
                f"found {len(columns)}"
            )
        label, text = columns[0].strip(), columns[1].lower().split()
        if not label:
            raise DataFormatError(f"{path}:{number}: the label column is empty")
        if labels is not None and label not in labels:
            raise DataFormatError(
                f"{path}:{number}: unknown label {label!r}; allowed labels are {list(labels)}"
            )
        if not text:
            raise DataFormatError(f"{path}:{number}: the text column is empty")
        examples.append((text, label))
    return examples


def read_conll_file(path: str | Path, columns: int | None = None) -> list[list[list[str]]]:
    """Read a whitespace-separated column file into sentences of rows (blank line = boundary).

    Args:
        path: the file.
        columns: the number of columns every non-blank line must have (3 for CoNLL-2000);
            ``None``: as many as the first line has, at least 2 (a word and a tag).

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
        if columns is None:
            if len(fields) < 2:
                raise DataFormatError(
                    f"{path}:{number}: expected a word and at least one tag column, found "
                    f"{len(fields)} column"
                )
            columns = len(fields)
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


def tagging_examples(
    sentences: list[list[list[str]]], column: int, word: int = 0
) -> list[RawExample]:
    """One tagging example per sentence: the lower-cased words (column ``word``; CoNLL-U's
    FORM is :data:`CONLLU_WORD`) and the tags in ``column``."""
    return [([row[word].lower() for row in rows], [row[column] for row in rows])
            for rows in sentences]


def _is_conllu_row(line: str) -> bool:
    fields = line.split("\t")
    return len(fields) == 10 and fields[0].replace("-", "").replace(".", "").isdigit()


def detect_format(path: str | Path) -> str:
    """The format of a data file, one of :data:`FORMATS`, from its name and first lines.

    ``*.conllu``, or lines of 10 tab-separated fields led by a token id, is ``conllu``; blank
    lines between groups of lines that all have the same number (two or more) of columns is
    ``conll``; lines without blank lines between them is ``classification``.

    Raises:
        DataFormatError: the file fits none of them (the message says how to state the format).
    """
    path = Path(path)
    if path.suffix == ".conllu":
        return "conllu"
    lines = _read_lines(path, report=False)  # the reader reports stray bytes, once
    last = max(number for number, line in enumerate(lines) if line.strip())
    # A blank line before the last non-blank one separates sentences.
    separated = any(not line.strip() for line in lines[:last])
    sample = [line for line in lines if line.strip() and not line.startswith("#")]
    sample = sample[:_SAMPLE_LINES]
    if sample and all(_is_conllu_row(line) for line in sample):
        return "conllu"
    widths = {len(line.split()) for line in sample}
    if separated and len(widths) == 1 and widths.pop() >= 2:
        return "conll"
    if not separated:
        return "classification"
    raise DataFormatError(
        f"{path}: cannot tell its format (blank lines separate groups of lines with different "
        f"column counts); state it as format=classification, conll or conllu"
    )
