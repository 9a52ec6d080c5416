"""Multitask text data: file loaders, a synthetic corpus, vocabulary, encoding and batching.

A :class:`Corpus` holds several :class:`Task` values that share one :class:`Vocabulary`. Every
task has fixed ``train`` / ``validation`` / ``test`` splits: validation is carved from the
training file with a seeded permutation, and test comes from a separate file. Only validation
accuracy ever becomes a reward; test accuracy is read by the stand-alone evaluator alone.

Three file formats are read, each strictly (a malformed line raises :class:`DataFormatError`
naming the file and line, nothing is skipped):

* ``label<TAB>text`` classification files (the FDU-MTL sentiment format);
* CoNLL column files (CoNLL-2000: ``word POS chunk``, blank line between sentences);
* CoNLL-U (Universal Dependencies: UPOS and XPOS columns).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASSIFICATION = "classification"
TAGGING = "tagging"
KINDS = (CLASSIFICATION, TAGGING)

PAD, UNK = "<pad>", "<unk>"
IGNORE_INDEX = -100  # the target of a padding position; torch's cross-entropy skips it

FDU_MTL_LABELS = ("0", "1")
CONLL2000_COLUMNS = {"pos": 1, "chunk": 2}
CONLLU_COLUMNS = {"upos": 3, "xpos": 4}

# A raw example: the tokens and either one label (classification) or one label per token.
RawExample = tuple[list[str], "str | list[str]"]


class DataFormatError(ValueError):
    """A data file that cannot be read as its format: names the file and, where known, the line."""


# ----------------------------------------------------------------------------- file readers


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


def _tagging_examples(sentences: list[list[list[str]]], column: int) -> list[RawExample]:
    return [([row[0].lower() for row in rows], [row[column] for row in rows]) for rows in sentences]


# ----------------------------------------------------------------------------- tasks and corpus


@dataclass(frozen=True)
class RawTask:
    """A task before encoding: name, kind and raw ``train`` / ``validation`` / ``test`` lists."""

    name: str
    kind: str
    train: list[RawExample]
    validation: list[RawExample]
    test: list[RawExample]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")
        for split in ("train", "validation", "test"):
            if not getattr(self, split):
                raise ValueError(f"task {self.name!r}: the {split} split is empty")


def carve_validation(
    examples: list[RawExample], fraction: float, seed: int
) -> tuple[list[RawExample], list[RawExample]]:
    """Split ``examples`` into (train, validation) with a seeded permutation.

    Raises:
        ValueError: ``fraction`` is not in (0, 1), or it leaves either side empty.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(len(examples))
    size = int(round(fraction * len(examples)))
    if size == 0 or size == len(examples):
        raise ValueError(
            f"validation_fraction={fraction} of {len(examples)} examples leaves a split empty"
        )
    validation = [examples[i] for i in order[:size]]
    train = [examples[i] for i in order[size:]]
    return train, validation


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
            _tagging_examples(train_sentences, column), validation_fraction, seed
        )
        found.append(
            RawTask(
                f"conll2000_{task}", TAGGING, train, validation,
                _tagging_examples(test_sentences, column),
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
        examples = _tagging_examples(sentences, CONLLU_COLUMNS[task])
        rest, test = carve_validation(examples, test_fraction, seed)
        train, validation = carve_validation(rest, validation_fraction, seed + 1)
        found.append(RawTask(f"ud_{task}", TAGGING, train, validation, test))
    return found


# ----------------------------------------------------------------------------- synthetic corpus

_DETERMINERS = ["the", "a", "this", "every"]
_NOUNS = {
    "sports": ["team", "coach", "match", "ball", "league", "player"],
    "music": ["band", "song", "album", "singer", "guitar", "concert"],
    "food": ["soup", "bread", "chef", "pasta", "cake", "kitchen"],
}
_ADJECTIVES = {
    "1": ["great", "lovely", "brilliant", "fine", "clean"],
    "0": ["awful", "dull", "broken", "poor", "noisy"],
}
_VERBS = ["likes", "plays", "finds", "makes", "sees", "keeps"]
_PREPOSITIONS = ["in", "near", "with", "after"]
# Words that are nouns after a determiner and verbs after a noun phrase, so that a tagger needs
# context and cannot only memorise the word.
_AMBIGUOUS = ["play", "run", "cook", "record"]


def _noun_phrase(rng: np.random.Generator, topic: str, polarity: str | None) -> list[tuple]:
    words = [(_DETERMINERS[rng.integers(len(_DETERMINERS))], "DT", "B-NP")]
    if polarity is not None:
        adjectives = _ADJECTIVES[polarity]
        words.append((adjectives[rng.integers(len(adjectives))], "JJ", "I-NP"))
    nouns = _NOUNS[topic] + _AMBIGUOUS
    words.append((nouns[rng.integers(len(nouns))], "NN", "I-NP"))
    return words


def _synthetic_sentence(rng: np.random.Generator) -> tuple[list[tuple], str, str]:
    """One sentence: ``(word, POS, chunk)`` triples, a topic label and a polarity label.

    The topic is the topic of the subject noun phrase; the polarity is that of the object's
    adjective, flipped by ``not`` in the verb phrase: both labels depend on the phrase
    structure the tagging tasks describe.
    """
    topic = list(_NOUNS)[rng.integers(len(_NOUNS))]
    polarity = str(rng.integers(2))
    negated = bool(rng.random() < 0.3)
    surface_polarity = str(1 - int(polarity)) if negated else polarity
    words = _noun_phrase(rng, topic, None)
    if negated:
        words += [("does", "VBZ", "B-VP"), ("not", "RB", "I-VP")]
        verbs = [verb[:-1] for verb in _VERBS] + _AMBIGUOUS
        words.append((verbs[rng.integers(len(verbs))], "VB", "I-VP"))
    else:
        verbs = _VERBS + [word + "s" for word in _AMBIGUOUS]
        words.append((verbs[rng.integers(len(verbs))], "VBZ", "B-VP"))
    other_topic = list(_NOUNS)[rng.integers(len(_NOUNS))]
    words += _noun_phrase(rng, other_topic, surface_polarity)
    if rng.random() < 0.5:
        words.append((_PREPOSITIONS[rng.integers(len(_PREPOSITIONS))], "IN", "B-PP"))
        words += _noun_phrase(rng, other_topic, None)
    return words, topic, polarity


def synthetic_tasks(
    sentences_per_split: tuple[int, int, int] = (160, 40, 40), seed: int = 0
) -> list[RawTask]:
    """A small synthetic multitask corpus from a phrase grammar, so that no data file is needed.

    Four tasks share the same generated sentences: ``syn_pos`` and ``syn_chunk`` (tagging) and
    ``syn_topic`` and ``syn_polarity`` (classification; labels depend on the phrase structure).

    Args:
        sentences_per_split: the number of (train, validation, test) sentences.
        seed: the generator seed; the same seed gives the same corpus.
    """
    if len(sentences_per_split) != 3 or min(sentences_per_split) < 1:
        raise ValueError(
            "sentences_per_split must be three positive counts (train, validation, test), "
            f"got {sentences_per_split!r}"
        )
    rng = np.random.default_rng(seed)
    splits = [[_synthetic_sentence(rng) for _ in range(count)] for count in sentences_per_split]

    def task(name: str, kind: str, pick) -> RawTask:
        encoded = [[pick(sentence) for sentence in split] for split in splits]
        return RawTask(name, kind, *encoded)

    def words(sentence):
        return [word for word, _, _ in sentence[0]]

    return [
        task("syn_pos", TAGGING, lambda s: (words(s), [pos for _, pos, _ in s[0]])),
        task("syn_chunk", TAGGING, lambda s: (words(s), [chunk for _, _, chunk in s[0]])),
        task("syn_topic", CLASSIFICATION, lambda s: (words(s), s[1])),
        task("syn_polarity", CLASSIFICATION, lambda s: (words(s), s[2])),
    ]


# ----------------------------------------------------------------------------- encoding


class Vocabulary:
    """Word to index, built from training text only; index 0 is padding and 1 is unknown.

    Args:
        texts: the token lists to count.
        min_count: words seen fewer times map to ``<unk>``.
        max_size: the most frequent words kept (including ``<pad>`` and ``<unk>``).
    """

    def __init__(self, texts: Sequence[Sequence[str]], min_count: int = 1, max_size: int = 30000):
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size < 3:
            raise ValueError(f"max_size must be >= 3, got {max_size}")
        counts = Counter(word for text in texts for word in text)
        ranked = sorted(
            (word for word, count in counts.items() if count >= min_count),
            key=lambda word: (-counts[word], word),
        )
        self.words: list[str] = [PAD, UNK] + ranked[: max_size - 2]
        self.index = {word: i for i, word in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """The indices of ``tokens`` (``<unk>`` for unknown words)."""
        return np.array([self.index.get(token, 1) for token in tokens], dtype=np.int64)


@dataclass(frozen=True)
class Split:
    """An encoded split: right-padded ``tokens`` (N, T), ``lengths`` (N,), and ``targets``.

    ``targets`` is (N,) for classification and (N, T) for tagging, with ``IGNORE_INDEX`` at
    padding positions.
    """

    tokens: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows ``indices``, trimmed to their longest sequence."""
        width = int(self.lengths[indices].max())
        targets = self.targets[indices]
        if targets.ndim == 2:
            targets = targets[:, :width]
        return self.tokens[indices, :width], self.lengths[indices], targets


@dataclass(frozen=True)
class Task:
    """An encoded task: its name, kind, label names and the three splits."""

    name: str
    kind: str
    labels: tuple[str, ...]
    train: Split
    validation: Split
    test: Split

    @property
    def num_labels(self) -> int:
        """The number of classes (classification) or tags (tagging)."""
        return len(self.labels)


def _encode(
    examples: list[RawExample], kind: str, vocabulary: Vocabulary, labels: dict[str, int],
    max_length: int | None,
) -> Split:
    if kind == CLASSIFICATION and max_length is not None:
        # Long reviews are cut to their first max_length tokens: a declared input length of the
        # classifier, not dropped examples (every example stays, with its label).
        examples = [(tokens[:max_length], label) for tokens, label in examples]
    width = max(len(tokens) for tokens, _ in examples)
    count = len(examples)
    tokens_array = np.zeros((count, width), dtype=np.int64)
    lengths = np.zeros(count, dtype=np.int64)
    if kind == CLASSIFICATION:
        targets = np.zeros(count, dtype=np.int64)
    else:
        targets = np.full((count, width), IGNORE_INDEX, dtype=np.int64)
    for row, (tokens, target) in enumerate(examples):
        lengths[row] = len(tokens)
        tokens_array[row, : len(tokens)] = vocabulary.encode(tokens)
        if kind == CLASSIFICATION:
            targets[row] = labels[target]
        else:
            targets[row, : len(tokens)] = [labels[tag] for tag in target]
    return Split(tokens_array, lengths, targets)


class Corpus:
    """Several tasks encoded with one shared vocabulary built from their training splits.

    Args:
        raw_tasks: the tasks (names must be unique).
        min_count: vocabulary words seen fewer times in training text become ``<unk>``.
        max_size: the vocabulary size cap.
        max_length: classification inputs are cut to this many tokens (``None``: no cut);
            tagging sentences are never cut, since every token carries a target.
        max_train: if set, each task's training split keeps this many examples (a seeded
            choice, for bounded benchmark runs); validation and test are always complete.
        seed: the seed of the ``max_train`` choice.
    """

    def __init__(
        self,
        raw_tasks: Sequence[RawTask],
        min_count: int = 1,
        max_size: int = 30000,
        max_length: int | None = 100,
        max_train: int | None = None,
        seed: int = 0,
    ):
        if not raw_tasks:
            raise ValueError("raw_tasks must contain at least one task")
        names = [task.name for task in raw_tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be >= 1 or None, got {max_length}")
        if max_train is not None and max_train < 1:
            raise ValueError(f"max_train must be >= 1 or None, got {max_train}")
        rng = np.random.default_rng(seed)
        trains = []
        for task in raw_tasks:
            train = task.train
            if max_train is not None and len(train) > max_train:
                train = [train[i] for i in np.sort(rng.choice(len(train), max_train, False))]
            trains.append(train)
        self.vocabulary = Vocabulary(
            [tokens for train in trains for tokens, _ in train], min_count, max_size
        )
        self.tasks: tuple[Task, ...] = tuple(
            self._encode_task(task, train, max_length)
            for task, train in zip(raw_tasks, trains, strict=True)
        )

    def _encode_task(self, task: RawTask, train: list[RawExample], max_length: int | None) -> Task:
        splits = (train, task.validation, task.test)
        if task.kind == CLASSIFICATION:
            names = {label for split in splits for _, label in split}
        else:
            names = {tag for split in splits for _, tags in split for tag in tags}
        # Label names are an output vocabulary, not data: test labels may name classes the
        # training split happens to lack, and they still need an index to be scored.
        labels = tuple(sorted(names))
        index = {label: i for i, label in enumerate(labels)}
        encoded = [
            _encode(split, task.kind, self.vocabulary, index, max_length) for split in splits
        ]
        return Task(task.name, task.kind, labels, *encoded)

    @property
    def names(self) -> tuple[str, ...]:
        """The task names, in order."""
        return tuple(task.name for task in self.tasks)

    def subset(self, names: Sequence[str]) -> tuple[Task, ...]:
        """The tasks named ``names``, in that order.

        Raises:
            ValueError: a name is not a task of this corpus.
        """
        by_name = {task.name: task for task in self.tasks}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; the corpus has {list(self.names)}")
        return tuple(by_name[name] for name in names)


def synthetic_corpus(
    sentences_per_split: tuple[int, int, int] = (160, 40, 40), seed: int = 0
) -> Corpus:
    """The encoded synthetic corpus (see :func:`synthetic_tasks`)."""
    return Corpus(synthetic_tasks(sentences_per_split, seed), max_length=None)


def bucket_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None
) -> Iterator[np.ndarray]:
    """Index batches that cover every example once, grouping similar lengths to cut padding.

    With ``rng``, examples are shuffled, sorted by length within pools of 50 batches, and the
    batches are yielded in random order; without it, batches follow length order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    count = len(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        for start in range(0, count, batch_size):
            yield order[start : start + batch_size]
        return
    order = rng.permutation(count)
    pool = batch_size * 50
    batches = []
    for start in range(0, count, pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    for position in rng.permutation(len(batches)):
        yield batches[position]


def fixed_subset(size: int, limit: int | None, seed: int) -> np.ndarray:
    """A seeded, sorted choice of ``min(limit, size)`` indices out of ``size`` (all if no limit)."""
    if limit is None or limit >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng(seed).choice(size, limit, replace=False))


def steps_per_epoch(tasks: Sequence[Task], batch_size: int) -> int:
    """Training steps (one batch of every task each) for the largest task to see all its data."""
    return max(math.ceil(len(task.train) / batch_size) for task in tasks)


SYNTHETIC_TASKS = ("syn_pos", "syn_chunk", "syn_topic", "syn_polarity")
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
