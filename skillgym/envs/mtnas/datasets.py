"""The built-in datasets (FDU-MTL, CoNLL-2000, UD English-EWT) and tasks by name.

Each loader knows where its dataset keeps which split and how validation is carved from it;
the file formats themselves are read by :mod:`skillgym.envs.mtnas.readers`. :func:`load_tasks`
resolves task names over the built-in datasets and the synthetic corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from skillgym.envs.mtnas.readers import (
    CONLLU_COLUMNS,
    read_classification_file,
    read_conll_file,
    read_conllu_file,
    tagging_examples,
)
from skillgym.envs.mtnas.synthetic import SYNTHETIC_TASKS, synthetic_tasks
from skillgym.envs.mtnas.tasks import CLASSIFICATION, TAGGING, RawTask, carve_validation

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
    tasks = []
    for domain in domains:
        base = Path(root) / domain
        train = read_classification_file(f"{base}.task.train")
        test = read_classification_file(f"{base}.task.test")
        train, validation = carve_validation(train, validation_fraction, seed)
        tasks.append(RawTask(domain, CLASSIFICATION, train, validation, test))
    return tasks


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
    found = []
    for task in tasks:
        column = CONLL2000_COLUMNS[task]
        train, validation = carve_validation(
            tagging_examples(train_sentences, column), validation_fraction, seed
        )
        found.append(
            RawTask(
                f"conll2000_{task}", TAGGING, train, validation,
                tagging_examples(test_sentences, column),
            )
        )
    return found


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
    found = []
    for task in tasks:
        examples = tagging_examples(sentences, CONLLU_COLUMNS[task])
        rest, test = carve_validation(examples, test_fraction, seed)
        train, validation = carve_validation(rest, validation_fraction, seed + 1)
        found.append(RawTask(f"ud_{task}", TAGGING, train, validation, test))
    return found


def load_tasks(
    names: Sequence[str], root: str | Path | None = None, validation_fraction: float = 0.1,
    seed: int = 0,
) -> list[RawTask]:
    """Tasks by name, in the given order, from the data folder ``root``.

    Names: an FDU-MTL domain (``books``; read from ``<root>/fdu_mtl``), ``conll2000_pos`` /
    ``conll2000_chunk`` (``<root>/conll2000``), ``ud_upos`` / ``ud_xpos`` (``<root>/ud_ewt``),
    or a synthetic task (``syn_pos``, ``syn_chunk``, ``syn_topic``, ``syn_polarity``; no files).

    Raises:
        ValueError: an unknown or repeated name, or a file-backed name without ``root``.
    """
    if not names or len(set(names)) != len(names):
        raise ValueError(f"names must be non-empty and unique, got {list(names)}")
    conll = [n.removeprefix("conll2000_") for n in names if n.startswith("conll2000_")]
    ud = [n.removeprefix("ud_") for n in names if n.startswith("ud_")]
    fdu = [n for n in names if n in FDU_MTL_DOMAINS]
    synthetic = [n for n in names if n in SYNTHETIC_TASKS]
    known = len(conll) + len(ud) + len(fdu) + len(synthetic)
    if known != len(names):
        allowed = [
            *FDU_MTL_DOMAINS, *(f"conll2000_{t}" for t in CONLL2000_COLUMNS),
            *(f"ud_{t}" for t in CONLLU_COLUMNS), *SYNTHETIC_TASKS,
        ]
        unknown = [n for n in names if n not in allowed]
        raise ValueError(f"unknown task name(s) {unknown}; allowed names are {allowed}")
    if (conll or ud or fdu) and root is None:
        raise ValueError("root (the data folder) is required for FDU-MTL, CoNLL-2000 and UD tasks")
    found: list[RawTask] = []
    if fdu:
        found += load_fdu_mtl(Path(root) / "fdu_mtl", fdu, validation_fraction, seed)
    if conll:
        found += load_conll2000(Path(root) / "conll2000", conll, validation_fraction, seed)
    if ud:
        found += load_ud_ewt(Path(root) / "ud_ewt", ud, validation_fraction, seed=seed)
    if synthetic:
        found += [task for task in synthetic_tasks(seed=seed) if task.name in synthetic]
    by_name = {task.name: task for task in found}
    return [by_name[name] for name in names]
