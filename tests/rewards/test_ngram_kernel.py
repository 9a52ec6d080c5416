"""The OpenCL n-gram counting kernels, against Python sets, and the repetition penalty that
uses them against the same penalty on the array code."""

from __future__ import annotations

import numpy as np
import pytest

from skillgym.rewards import NgramRepetitionPenalty, Sample
from skillgym.rewards.base import as_ids_batch
from skillgym.rewards.ngram_kernel import KERNEL_MIN_UNITS, fits_32_bits, ngram_kernel
from skillgym.rewards.ragged import Ragged

KERNEL = ngram_kernel()
needs_kernel = pytest.mark.skipif(KERNEL is None, reason="no OpenCL device")

#: Python's str.split() separators among ASCII, and control bytes that are not separators.
SEPARATORS = [" ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f"]
NOT_SEPARATORS = ["\x00", "\x01", "\x08", "\x0e", "\x1b", "\x7f"]


def python_counts(rows: list, n: int) -> tuple[list[int], list[int]]:
    """The oracle: the sizes of a Python set and of a list of each row's n-gram tuples."""
    grams = [list(zip(*[row[i:] for i in range(n)], strict=False)) for row in rows]
    return [len(set(row)) for row in grams], [len(row) for row in grams]


def word_vocabulary(rng: np.random.Generator) -> list[str]:
    """Words of 1-40 bytes (across the kernel's 8- and 16-byte boundaries), in pairs that differ
    only in case, only in one middle byte, or only in length, some with control bytes."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,"))
    words = []
    for length in list(range(1, 41)) * 2:
        word = "".join(rng.choice(letters, length))
        middle = length // 2
        words += [word, word.upper(), word[:middle] + "#" + word[middle + 1:], word + "z"]
    words += [f"a{control}b" for control in NOT_SEPARATORS] + list(NOT_SEPARATORS)
    return words


def ascii_texts(rng: np.random.Generator, count: int) -> list[str]:
    """Texts of a few words to a few hundred, loops among them, with every separator, runs of
    separators at either end, and sizes around the 64-byte blocks."""
    vocabulary = word_vocabulary(rng)
    texts = []
    for _ in range(count):
        words = rng.choice(vocabulary, int(rng.integers(0, 300)))
        if rng.random() < 0.3 and len(words) > 10:  # a loop from a random point on
            start, period = int(rng.integers(0, len(words) // 2)), int(rng.integers(1, 6))
            words[start + period:] = np.resize(words[start:start + period],
                                               len(words) - start - period)
        gaps = rng.choice(SEPARATORS, len(words) + 1)
        gaps[rng.random(len(gaps)) < 0.05] = "  \t "
        text = "".join(gap + word for gap, word in zip(gaps, words, strict=False))
        texts.append(text + (gaps[-1] if rng.random() < 0.5 else ""))
    texts += ["", " ", "a", "A a", "\x1c\x1d", "x" * 63, "x" * 64, "x" * 65, "y " * 64]
    return texts


@needs_kernel
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_id_counts_equal_python_sets(n: int) -> None:
    rng = np.random.default_rng(n)
    rows = [rng.integers(0, int(rng.integers(1, 60)), int(rng.integers(0, 400))).tolist()
            for _ in range(300)]
    rows += [[], [7] * 5000, list(range(3000)), [0, 2**32 - 1] * 40, [2**32 - 1] * (n - 1)]
    unique, total = KERNEL.id_counts(as_ids_batch(rows)[0], n)
    assert (unique.tolist(), total.tolist()) == python_counts(rows, n)


@needs_kernel
def test_id_counts_of_a_long_row_and_signed_ids() -> None:
    rng = np.random.default_rng(0)
    row = rng.integers(0, 500, 100_000)
    batch = Ragged(row.astype(np.int64), np.array([0, 50_000, 100_000]))
    unique, total = KERNEL.id_counts(batch, 3)
    expected = python_counts([row[:50_000].tolist(), row[50_000:].tolist()], 3)
    assert (unique.tolist(), total.tolist()) == expected


def test_fits_32_bits() -> None:
    assert fits_32_bits(np.array([0, 2**32 - 1], dtype=np.int64))
    assert fits_32_bits(np.zeros(0, dtype=np.int64))
    assert not fits_32_bits(np.array([2**32], dtype=np.int64))
    assert not fits_32_bits(np.array([-1], dtype=np.int32))


@needs_kernel
def test_id_counts_refuse_ids_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        KERNEL.id_counts(Ragged(np.array([-1, 2, 3]), np.array([0, 3])), 2)


@needs_kernel
@pytest.mark.parametrize("n", [1, 3, 4])
@pytest.mark.parametrize("lowercase", [True, False])
def test_word_counts_equal_python_split(n: int, lowercase: bool) -> None:
    texts = ascii_texts(np.random.default_rng(n), 400)
    unique, total = KERNEL.word_counts(texts, n, lowercase)
    words = [(text.lower() if lowercase else text).split() for text in texts]
    assert (unique.tolist(), total.tolist()) == python_counts(words, n)


def _penalties(monkeypatch: pytest.MonkeyPatch, reward: NgramRepetitionPenalty,
               samples: list[Sample], device: str) -> list[float]:
    monkeypatch.setenv("SKILLGYM_OPENCL", device)
    return reward.score_batch(samples)


@needs_kernel
@pytest.mark.parametrize("unit", ["words", "auto"])
def test_penalty_on_the_kernel_equals_the_array_code_on_mixed_scripts(
        monkeypatch: pytest.MonkeyPatch, unit: str) -> None:
    rng = np.random.default_rng(5)
    texts = ascii_texts(rng, 200)
    # Rows the kernel leaves to the array code: non-ASCII separators, case and scripts.
    texts[::7] = [f"Straße\u00a0STRASSE 東京 東京 東京 Ünïcode {index} " * 5
                  for index in range(len(texts[::7]))]
    samples = [Sample(prompt="", completion=text) for text in texts]
    assert sum(map(len, texts)) >= KERNEL_MIN_UNITS
    reward = NgramRepetitionPenalty(ngram_size=3, unit=unit)
    on_kernel = _penalties(monkeypatch, reward, samples, "auto")
    assert on_kernel == _penalties(monkeypatch, reward, samples, "off")
    words = [text.lower().split() for text in texts[1::7]]
    unique, total = python_counts(words, 3)
    assert on_kernel[1::7] == [(1 - u / t) * -1.0 if t else 0.0
                               for u, t in zip(unique, total, strict=True)]


@needs_kernel
def test_penalty_on_token_ids_equals_the_array_code(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    samples = [Sample(prompt="", completion="",
                      completion_ids=rng.integers(0, 20, int(rng.integers(0, 200))).tolist())
               for _ in range(100)]
    reward = NgramRepetitionPenalty(ngram_size=2, unit="tokens")
    on_kernel = _penalties(monkeypatch, reward, samples, "auto")
    assert on_kernel == _penalties(monkeypatch, reward, samples, "off")


@needs_kernel
def test_calls_from_several_threads_take_turns():
    """TRL's asynchronous rewards call from a thread pool; the shared scratch must not mix."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(9)
    batches = [[rng.integers(0, 30, 300).tolist() for _ in range(40)] for _ in range(8)]
    expected = [python_counts(rows, 3) for rows in batches]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda rows: KERNEL.id_counts(as_ids_batch(rows)[0], 3),
                                batches * 3))
    for (unique, total), (want_unique, want_total) in zip(results, expected * 3, strict=True):
        assert unique.tolist() == want_unique and total.tolist() == want_total
