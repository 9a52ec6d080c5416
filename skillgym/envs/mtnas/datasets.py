"""Tasks from files: a user's own (:func:`load_task_files`), the built-in datasets, and by name.

:func:`load_task_files` makes one task of a classification, CoNLL or CoNLL-U file (the format
detected or stated, any label set). The built-in datasets (FDU-MTL, CoNLL-2000, UD English-EWT)
are loaders that know where each keeps which split. :func:`load_tasks` resolves a list that
mixes built-in names and task specs (``NAME=TRAIN,TEST,...``, see :class:`TaskFiles`), the
form the command line's ``--task`` and the configuration's ``data.tasks`` take. The file
formats themselves are read by :mod:`skillgym.envs.mtnas.readers`; every split a dataset does
not supply is carved by :func:`~skillgym.envs.mtnas.tasks.make_task`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from skillgym.envs.mtnas.readers import (
    CONLLU_COLUMNS,
    CONLLU_WORD,
    FORMATS,
    detect_format,
    read_classification_file,
    read_conll_file,
    read_conllu_file,
    tagging_examples,
)
from skillgym.envs.mtnas.synthetic import SYNTHETIC_TASKS, synthetic_tasks
from skillgym.envs.mtnas.tasks import CLASSIFICATION, TAGGING, RawExample, RawTask, make_task

CONLL2000_COLUMNS = {"pos": 1, "chunk": 2}
FDU_MTL_DOMAINS = (
    "MR", "apparel", "baby", "books", "camera_photo", "dvd", "electronics",
    "health_personal_care", "imdb", "kitchen_housewares", "magazines", "music", "software",
    "sports_outdoors", "toys_games", "video",
)
#: The real-data benchmark: four FDU-MTL sentiment domains and the two CoNLL-2000 tagging tasks,
#: so that one search covers text classification and sequence labeling together.
BENCHMARK_TASKS = (
    "books", "dvd", "electronics", "kitchen_housewares", "conll2000_pos", "conll2000_chunk",
)
BUILTIN_TASKS = (
    *FDU_MTL_DOMAINS, *(f"conll2000_{t}" for t in CONLL2000_COLUMNS),
    *(f"ud_{t}" for t in CONLLU_COLUMNS), *SYNTHETIC_TASKS,
)
_NAME = re.compile(r"^[\w.-]+$")


def _tag_column(format: str, column: str | int | None) -> int:
    """The 0-based index of the tag column; ``column`` counts from 1 (CoNLL: the word is column
    1; CoNLL-U: the field number, ID is 1 and FORM 2)."""
    if format == "conllu":
        if column is None:
            return CONLLU_COLUMNS["upos"]
        if str(column) in CONLLU_COLUMNS:
            return CONLLU_COLUMNS[str(column)]
    if column is None:
        return -1  # CoNLL: the last column
    try:
        number = int(column)
    except ValueError:
        number = 0
    if number < 2:
        names = " or 'upos', 'xpos'" if format == "conllu" else ""
        raise ValueError(f"column must be a column number from 2 (column 1 is the word, or "
                         f"CoNLL-U's token id){names}, got {column!r}")
    return number - 1


def _read_examples(path: str | Path, format: str, delimiter: str,
                   column: str | int | None) -> list[RawExample]:
    if format == "classification":
        return read_classification_file(path, delimiter=delimiter)
    sentences = read_conll_file(path) if format == "conll" else read_conllu_file(path)
    index = _tag_column(format, column)
    width = len(sentences[0][0])
    if index >= width:
        raise ValueError(f"{path}: column {index + 1} was asked for, but its rows have {width} "
                         "columns")
    return tagging_examples(sentences, index, CONLLU_WORD if format == "conllu" else 0)


def load_task_files(
    name: str,
    train: str | Path,
    test: str | Path | None = None,
    validation: str | Path | None = None,
    *,
    format: str = "auto",
    delimiter: str = "tab",
    column: str | int | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> RawTask:
    """One task from a user's files: a classification, CoNLL or CoNLL-U file for each split.

    Classification files hold one example a line, ``LABEL<DELIMITER>TEXT``; tagging files one
    token a line with a blank line between sentences (the word first, the tag in ``column``).
    Labels are whatever the files hold (any number of classes; the encoded task lists them
    sorted). Without ``validation``, a seeded ``validation_fraction`` of ``train`` is carved off
    as validation; without ``test``, the test split is carved from ``train`` first, in the same
    way (:func:`~skillgym.envs.mtnas.tasks.make_task`).

    Args:
        name: the task's name.
        train: the training file.
        test: the test file (default: carved from ``train``).
        validation: the validation file (default: carved from ``train``).
        format: ``"auto"`` (detected from ``train``: :func:`~skillgym.envs.mtnas.readers.
            detect_format`), ``"classification"``, ``"conll"`` or ``"conllu"``; every file of
            the task has this format.
        delimiter: classification files: what separates label and text, ``"tab"`` (default),
            ``"space"`` (the first run of whitespace) or any string.
        column: tagging files: the tag column, counted from 1 (CoNLL: the word is column 1;
            CoNLL-U: the field number, so UPOS is 4) or, for CoNLL-U, ``"upos"`` or ``"xpos"``
            (default: the last column for CoNLL; ``"upos"`` for CoNLL-U).
        validation_fraction: the share of ``train`` carved off for each missing split.
        seed: the seed of the carving.

    Raises:
        FileNotFoundError: a file does not exist.
        DataFormatError: a file is empty or has a malformed line (the file and line named), or
            its format cannot be detected.
        ValueError: an unknown format, a bad column, or splits that carving would leave empty.
    """
    if format not in ("auto", *FORMATS):
        raise ValueError(f"task {name!r}: unknown format {format!r}; formats: auto, "
                         f"{', '.join(FORMATS)}")
    if format == "auto":
        format = detect_format(train)
    kind = CLASSIFICATION if format == "classification" else TAGGING
    splits = [None if path is None else _read_examples(path, format, delimiter, column)
              for path in (train, test, validation)]
    return make_task(name, kind, splits[0], splits[1], splits[2], validation_fraction, seed)


@dataclass(frozen=True)
class TaskFiles:
    """A user's task as files: the parsed form of a ``NAME=TRAIN[,TEST[,VALIDATION]][,KEY=VALUE]``
    spec, e.g. ``trec=train.txt,test.txt,delimiter=space`` or ``ewt=train.conllu,format=conllu``.

    Paths come first, in the order train, test, validation; they may also be given by key
    (``validation=dev.txt``). The other keys are :func:`load_task_files`' ``format``,
    ``delimiter`` and ``column``. A path cannot contain a comma.
    """

    name: str
    train: str
    test: str | None = None
    validation: str | None = None
    format: str = "auto"
    delimiter: str | None = None
    column: str | None = None

    @classmethod
    def parse(cls, spec: str) -> TaskFiles:
        """The task a spec describes; a malformed spec is a ``ValueError`` that quotes it."""
        name, sep, rest = spec.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            raise ValueError(f"task spec {spec!r} is not NAME=TRAIN[,TEST[,VALIDATION]][,KEY=VALUE]"
                             " (NAME of letters, digits, '_', '.', '-')")
        keys = [field.name for field in fields(cls)][1:]
        values: dict[str, str] = {}
        positional = iter(("train", "test", "validation"))
        for part in (part.strip() for part in rest.split(",")):
            key, is_pair, value = part.partition("=")
            if is_pair and key.strip() in keys:
                key, value = key.strip(), value.strip()
            elif is_pair:
                raise ValueError(f"task spec {spec!r}: unknown key {key.strip()!r}; keys: "
                                 f"{', '.join(keys)}")
            else:
                key, value = next(positional, None), part
                if key is None:
                    raise ValueError(f"task spec {spec!r}: at most three paths (train, test, "
                                     "validation)")
            if not value:
                raise ValueError(f"task spec {spec!r}: {key} is empty")
            if key in values:
                raise ValueError(f"task spec {spec!r}: {key} is given twice")
            values[key] = value
        if "train" not in values:
            raise ValueError(f"task spec {spec!r} names no training file")
        task = cls(name, **values)
        if task.format not in ("auto", *FORMATS):
            raise ValueError(f"task spec {spec!r}: unknown format {task.format!r}; formats: auto, "
                             f"{', '.join(FORMATS)}")
        return task

    def load(self, validation_fraction: float = 0.1, seed: int = 0,
             delimiter: str = "tab") -> RawTask:
        """The task (:func:`load_task_files`); ``delimiter`` applies unless the spec sets one."""
        return load_task_files(
            self.name, self.train, self.test, self.validation, format=self.format,
            delimiter=self.delimiter or delimiter, column=self.column,
            validation_fraction=validation_fraction, seed=seed,
        )


def task_name(entry: str) -> str:
    """The name of a :func:`load_tasks` entry: a built-in name, or a spec's ``NAME``."""
    return entry.partition("=")[0].strip() if "=" in entry else entry


def load_fdu_mtl(
    root: str | Path,
    domains: Sequence[str],
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> list[RawTask]:
    """FDU-MTL sentiment domains: ``<root>/<domain>.task.train`` and ``.task.test``.

    Validation is carved from the training file; the test file is the test split.
    """
    if not domains:
        raise ValueError("domains must name at least one FDU-MTL domain")
    return [
        load_task_files(
            domain, Path(root) / f"{domain}.task.train", Path(root) / f"{domain}.task.test",
            format="classification", validation_fraction=validation_fraction, seed=seed,
        )
        for domain in domains
    ]


def load_conll2000(
    root: str | Path,
    tasks: Sequence[str] = ("pos", "chunk"),
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> list[RawTask]:
    """CoNLL-2000 as tagging tasks (``pos``, ``chunk``) over the same sentences.

    The distributed ``dev.txt`` overlaps ``train.txt``, so validation is carved from
    ``train.txt`` instead and ``dev.txt`` is not read; ``test.txt`` is the test split.
    """
    unknown = sorted(set(tasks) - set(CONLL2000_COLUMNS))
    if unknown or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {list(CONLL2000_COLUMNS)}")
    train_sentences = read_conll_file(Path(root) / "train.txt", columns=3)
    test_sentences = read_conll_file(Path(root) / "test.txt", columns=3)
    return [
        make_task(
            f"conll2000_{task}", TAGGING,
            tagging_examples(train_sentences, CONLL2000_COLUMNS[task]),
            tagging_examples(test_sentences, CONLL2000_COLUMNS[task]),
            validation_fraction=validation_fraction, seed=seed,
        )
        for task in tasks
    ]


def load_ud_ewt(
    root: str | Path,
    tasks: Sequence[str] = ("upos",),
    validation_fraction: float = 0.1,
    test_fraction: float = 0.5,
    seed: int = 0,
) -> list[RawTask]:
    """UD English-EWT tagging (``upos``, ``xpos``) from the dev and test CoNLL-U files.

    Only dev and test are available, so their union is re-split with a seeded permutation:
    ``test_fraction`` of it is test, and validation is carved from the rest.
    """
    unknown = sorted(set(tasks) - set(CONLLU_COLUMNS))
    if unknown or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {list(CONLLU_COLUMNS)}")
    sentences = read_conllu_file(Path(root) / "en_ewt-ud-dev.conllu") + read_conllu_file(
        Path(root) / "en_ewt-ud-test.conllu"
    )
    return [
        make_task(f"ud_{task}", TAGGING,
                  tagging_examples(sentences, CONLLU_COLUMNS[task], CONLLU_WORD),
                  validation_fraction=validation_fraction, seed=seed, test_fraction=test_fraction)
        for task in tasks
    ]


def load_tasks(
    names: Sequence[str], root: str | Path | None = None, validation_fraction: float = 0.1,
    seed: int = 0, delimiter: str = "tab",
) -> list[RawTask]:
    """Tasks by name or spec, in the given order.

    Each entry is a built-in name or a :class:`TaskFiles` spec (``NAME=TRAIN,TEST,...``, a
    user's own files). Built-in names: an FDU-MTL domain (``books``; read from
    ``<root>/fdu_mtl``), ``conll2000_pos`` / ``conll2000_chunk`` (``<root>/conll2000``),
    ``ud_upos`` / ``ud_xpos`` (``<root>/ud_ewt``), or a synthetic task (``syn_pos``,
    ``syn_chunk``, ``syn_topic``, ``syn_polarity``; no files).

    Args:
        names: the entries.
        root: the data folder of the built-in datasets (not needed for specs or synthetic tasks).
        validation_fraction: the share of each training split carved off as validation.
        seed: the seed of the carving (and of the synthetic corpus).
        delimiter: the classification delimiter of specs that do not set one.

    Raises:
        ValueError: an unknown or repeated name, a malformed spec, or a file-backed built-in
            name without ``root``.
    """
    task_names = [task_name(entry) for entry in names]
    if not names or len(set(task_names)) != len(task_names):
        raise ValueError(f"task names must be non-empty and unique, got {task_names}")
    specs = {task_name(entry): TaskFiles.parse(entry) for entry in names if "=" in entry}
    builtin = [name for name in task_names if name not in specs]
    unknown = [name for name in builtin if name not in BUILTIN_TASKS]
    if unknown:
        raise ValueError(f"unknown task name(s) {unknown}; allowed names are "
                         f"{list(BUILTIN_TASKS)}, or NAME=TRAIN,TEST for a task of your own files")
    conll = [n.removeprefix("conll2000_") for n in builtin if n.startswith("conll2000_")]
    ud = [n.removeprefix("ud_") for n in builtin if n.startswith("ud_")]
    fdu = [n for n in builtin if n in FDU_MTL_DOMAINS]
    synthetic = [n for n in builtin if n in SYNTHETIC_TASKS]
    if (conll or ud or fdu) and root is None:
        raise ValueError("root (the data folder) is required for FDU-MTL, CoNLL-2000 and UD tasks")
    found: list[RawTask] = [
        spec.load(validation_fraction, seed, delimiter) for spec in specs.values()
    ]
    if fdu:
        found += load_fdu_mtl(Path(root) / "fdu_mtl", fdu, validation_fraction, seed)
    if conll:
        found += load_conll2000(Path(root) / "conll2000", conll, validation_fraction, seed)
    if ud:
        found += load_ud_ewt(Path(root) / "ud_ewt", ud, validation_fraction, seed=seed)
    if synthetic:
        found += [task for task in synthetic_tasks(seed=seed) if task.name in synthetic]
    by_name = {task.name: task for task in found}
    return [by_name[name] for name in task_names]
