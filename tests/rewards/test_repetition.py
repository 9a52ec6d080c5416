"""Repetition rewards against the published formulas, computed independently in the tests."""

from __future__ import annotations

import importlib.util
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillgym.rewards import DenseRepetitionPenalty, LoopPenalty, NgramRepetitionPenalty, Sample
from skillgym.rewards.ngrams import find_loops, unique_ngram_counts
from skillgym.rewards.repetition import global_penalties


def openr1_reference(text: str, ngram_size: int, max_penalty: float) -> float:
    """open-r1's get_repetition_penalty_reward (language="en"), from its published formula."""
    if text == "":
        return 0.0
    words = text.lower().split()
    if len(words) < ngram_size:
        return 0.0
    ngrams = list(zip(*[words[i:] for i in range(ngram_size)], strict=False))
    return (1 - len(set(ngrams)) / len(ngrams)) * max_penalty


def openr1_zh_reference(text: str, ngram_size: int, max_penalty: float) -> float:
    """open-r1's get_repetition_penalty_reward(language="zh"): n-grams of jieba.cut's pieces,
    not lowercased."""
    import jieba

    if text == "":
        return 0.0
    pieces = list(jieba.cut(text))
    if len(pieces) < ngram_size:
        return 0.0
    ngrams = list(zip(*[pieces[i:] for i in range(ngram_size)], strict=False))
    return (1 - len(set(ngrams)) / len(ngrams)) * max_penalty


needs_jieba = pytest.mark.skipif(importlib.util.find_spec("jieba") is None,
                                 reason="jieba is not installed (pip install 'skillgym[zh]'); "
                                        "unit='jieba' is optional")


def trl_reference(ids: list[int], ngram_size: int, max_penalty: float) -> float:
    """TRL's get_repetition_penalty_reward, from its published formula."""
    if len(ids) < ngram_size:
        return 0.0
    ngrams = list(zip(*[ids[i:] for i in range(ngram_size)], strict=False))
    scaling = 1 - len(set(ngrams)) / len(ngrams)
    return scaling * max_penalty if scaling else 0.0


def dense_reference(ids: list[int], ngram_size: int, penalty: float,
                    only_start: bool) -> list[float]:
    """The dense penalty of "Demystifying Long CoT", from its published description."""
    seen, repeated = set(), []
    for start in range(len(ids) - ngram_size + 1):
        ngram = tuple(ids[start:start + ngram_size])
        if ngram in seen:
            repeated.append(start)
        seen.add(ngram)
    values, last_end = [0.0] * len(ids), -1
    for start in repeated:
        if not only_start or start > last_end:
            for index in range(start, start + ngram_size):
                values[index] = penalty
        last_end = start + ngram_size
    return values


# open-r1's and TRL's own test vectors: (text or ids, ngram_size, max_penalty, expected).
OPENR1_VECTORS = [
    ("this is a test sentence", 2, -1.0, 0.0),
    ("this this this this this", 2, -1.0, -0.75),
    ("this is a this is a test", 2, -1.0, -1 / 3),
    ("this is a test", 3, -0.5, 0.0),
    ("test test test test", 3, -0.5, -0.25),
    ("", 2, -1.0, 0.0),
    ("this is a this is a test", 3, -2.0, -0.4),
    ("word", 3, -1.0, 0.0),
    ("two words", 3, -1.0, 0.0),
    ("three different words", 3, -1.0, 0.0),
    ("word word word word", 3, -1.0, -0.5),
    ("one two one two", 3, -1.0, 0.0),
    ("A B C A B", 3, -0.5, 0.0),
    ("A B C A B C", 3, -1.0, -0.25),
    ("A B C A B C E F G A B C A B C", 3, -1.0, -0.38461538461538464),
    ("A B C D E F G H I J K L", 3, -1.0, 0.0),
    ("that that that that that", 2, -1.0, -0.75),
]
TRL_VECTORS = [
    ([1, 2, 3, 4], 2, -1.0, 0.0),
    ([5, 5, 5, 5, 5], 2, -1.0, -0.75),
    ([1, 2, 1, 2, 1, 2], 2, -1.0, -0.6),
    ([1, 2], 3, -1.0, 0.0),
    ([1, 2, 3], 3, -1.0, 0.0),
    ([], 3, -1.0, 0.0),
    ([5, 5, 5, 5, 5], 2, -0.5, -0.375),
    ([1, 2, 3, 1, 2, 3], 2, -1.0, -0.4),
    ([1, 2, 3, 1, 2, 3], 3, -1.0, -0.25),
    ([9], 2, -1.0, 0.0),
]


@pytest.mark.parametrize(("text", "ngram_size", "max_penalty", "expected"), OPENR1_VECTORS)
def test_openr1_published_vectors(text, ngram_size, max_penalty, expected):
    reward = NgramRepetitionPenalty(ngram_size, max_penalty, unit="words")
    assert reward(text) == pytest.approx(expected, abs=1e-12)
    assert reward(text) == openr1_reference(text, ngram_size, max_penalty)


@pytest.mark.parametrize(("ids", "ngram_size", "max_penalty", "expected"), TRL_VECTORS)
def test_trl_published_vectors(ids, ngram_size, max_penalty, expected):
    reward = NgramRepetitionPenalty(ngram_size, max_penalty, unit="tokens")
    assert reward("", completion_ids=ids) == pytest.approx(expected, abs=1e-12)
    assert reward("", completion_ids=ids) == trl_reference(ids, ngram_size, max_penalty)


def test_case_is_ignored_for_words_as_in_openr1():
    reward = NgramRepetitionPenalty(2, -1.0, unit="words")
    assert reward("This is A Test") == reward("this IS a test")


@needs_jieba
def test_openr1_chinese_vector_and_random_chinese_texts_with_jieba():
    # open-r1's own test of language="zh".
    assert NgramRepetitionPenalty(2, -1.0, unit="jieba")("这个这个这个这个这个") == -0.75
    rng = random.Random(5)
    pieces = ["我们", "先", "计算", "总和", "，", "然后", "再", "检查", "一下", "。", "这个",
              "答案", "是", "42", " ", "Let me", "check", "哈哈", "\n"]
    samples, expected = [], []
    for _ in range(300):
        text = "".join(rng.choice(pieces[:rng.randint(2, len(pieces))])
                       for _ in range(rng.randint(0, 40)))
        ngram_size, max_penalty = rng.randint(1, 4), -rng.choice([1.0, 0.5, 2.0])
        reward = NgramRepetitionPenalty(ngram_size, max_penalty, unit="jieba")
        assert reward(text) == openr1_zh_reference(text, ngram_size, max_penalty)
        if (ngram_size, max_penalty) == (2, -1.0):
            samples.append(Sample.build(text))
            expected.append(openr1_zh_reference(text, 2, -1.0))
    assert NgramRepetitionPenalty(2, -1.0, unit="jieba").score_batch(samples) == expected


def test_auto_equals_openr1_words_on_text_without_cjk():
    rng = random.Random(9)
    words = ["the", "The", "cat", "SAT", "on", "x", "=", "1", "ÉTÉ", "naïve", "Σ", "—", "…"]
    spaces = [" ", "\n", "\t", "\u00a0", "\u2003", "  "]
    for _ in range(300):
        text = "".join(rng.choice(words) + rng.choice(spaces) for _ in range(rng.randint(0, 50)))
        ngram_size = rng.randint(1, 4)
        assert NgramRepetitionPenalty(ngram_size)(text) == openr1_reference(text, ngram_size,
                                                                            -1.0)


def test_auto_counts_cjk_characters_one_by_one():
    # Chinese without spaces is one "word" for open-r1's split, hence no repetition at all;
    # counted in characters, the repeated clause is found.
    text = "我们检查一下。我们检查一下。我们检查一下。"
    assert NgramRepetitionPenalty(3, -1.0, unit="words")(text) == 0.0
    auto = NgramRepetitionPenalty(3, -1.0)
    characters = list(text)
    ngrams = list(zip(characters, characters[1:], characters[2:], strict=False))
    assert auto(text) == (1 - len(set(ngrams)) / len(ngrams)) * -1.0
    result = auto.explain(Sample.build("The 答案 is 答案 is"))
    assert result.details["spans"] == [(4, 7)]  # the, 答, 案, is, [答, 案, is]
    start, end = result.details["char_spans"][0]
    assert "The 答案 is 答案 is"[start:end] == "答案 is"


def test_identical_values_on_1000_random_inputs():
    rng = random.Random(1234)
    spaces = [" ", "  ", "\t", "\n", "\u3000", "\xa0", " \r\n "]
    words = ["the", "The", "cat", "CAT", "sat", "on", "mat", "a", "dog", "ran", "x", "1", "=",
             "答案", "是"]
    texts, id_lists, configs = [], [], []
    for _ in range(1000):
        ngram_size = rng.randint(1, 5)
        max_penalty = -rng.choice([1.0, 0.5, 2.0, rng.random() * 3])
        length = rng.randint(0, 60)
        vocabulary = rng.randint(1, len(words))
        chosen = [rng.choice(words[:vocabulary]) for _ in range(length)]
        texts.append(rng.choice(["", " "]) + "".join(word + rng.choice(spaces)
                                                     for word in chosen))
        id_lists.append([rng.randint(0, vocabulary) for _ in range(length)])
        configs.append((ngram_size, max_penalty))
    for text, ids, (ngram_size, max_penalty) in zip(texts, id_lists, configs, strict=True):
        words_reward = NgramRepetitionPenalty(ngram_size, max_penalty, unit="words")
        tokens_reward = NgramRepetitionPenalty(ngram_size, max_penalty, unit="tokens")
        assert words_reward(text) == openr1_reference(text, ngram_size, max_penalty)
        assert tokens_reward(None, completion_ids=ids) == trl_reference(ids, ngram_size,
                                                                         max_penalty)


def test_batch_scoring_equals_one_by_one_on_ragged_batches():
    rng = np.random.default_rng(7)
    batch = [rng.integers(0, rng.integers(1, 8), rng.integers(0, 300)).tolist()
             for _ in range(200)] + [list(range(5000)) * 2]
    reward = NgramRepetitionPenalty(3, -1.0, unit="tokens")
    samples = [Sample.build("", completion_ids=ids) for ids in batch]
    expected = [trl_reference(ids, 3, -1.0) for ids in batch]
    assert reward.score_batch(samples) == expected
    assert global_penalties(np.array([batch[0][:3]] * 4), 3, -1.0).tolist() == [0.0] * 4


def test_keys_stay_exact_for_huge_ids_and_long_ngrams():
    rng = np.random.default_rng(3)
    batch = [rng.integers(-(2**62), 2**62, 40) for _ in range(20)]
    batch += [np.array([2**62, -(2**62)] * 20)]
    for ngram_size in (1, 2, 7, 12):
        unique, total = unique_ngram_counts(batch, ngram_size)
        for sequence, found, count in zip(batch, unique, total, strict=True):
            ngrams = list(zip(*[sequence.tolist()[i:] for i in range(ngram_size)],
                              strict=False))
            assert (found, count) == (len(set(ngrams)), len(ngrams))


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(0, 4), max_size=80), ngram_size=st.integers(1, 6),
       only_start=st.booleans())
def test_dense_penalty_matches_reference(ids, ngram_size, only_start):
    reward = DenseRepetitionPenalty(ngram_size, -0.5, only_start=only_start, reduction="sum")
    sample = Sample.build("", completion_ids=ids)
    expected = dense_reference(ids, ngram_size, -0.5, only_start)
    assert reward.unit_penalties(sample).tolist() == expected
    assert reward.score(sample) == pytest.approx(sum(expected))


def test_dense_penalty_mean_and_spans():
    reward = DenseRepetitionPenalty(2, -1.0, unit="words")
    result = reward.explain(Sample.build("a b c a b d"))
    # the second "a b" (words 3-4) repeats the first
    assert result.score == pytest.approx(-2 / 6)
    assert result.details["spans"] == [(3, 5)]
    assert result.details["char_spans"] == [(6, 9)]


@pytest.mark.parametrize("unit", ["words", "auto"])
def test_where_the_global_penalty_found_repetition(unit):
    text = "Alpha beta gamma. alpha BETA gamma. delta"
    result = NgramRepetitionPenalty(3, -1.0, unit=unit).explain(Sample.build(text))
    assert result.details["unique_ngrams"] == 4
    assert result.details["total_ngrams"] == 5
    assert result.details["spans"] == [(3, 6)]
    start, end = result.details["char_spans"][0]
    assert text[start:end] == "alpha BETA gamma."


def loop_oracle(sequence: list[int], max_period: int, min_repeats: int,
                min_span: int) -> tuple[int, int, int] | None:
    """Brute force: the smallest qualifying period, its longest (earliest) periodic stretch."""
    for period in range(1, max_period + 1):
        best = None
        for start in range(len(sequence)):
            end = start + period
            while end < len(sequence) and sequence[end] == sequence[end - period]:
                end += 1
            span = end - start
            if span >= max(min_repeats * period, min_span) and (best is None or span > best[1]
                                                                 - best[0]):
                best = (start, end, period)
        if best is not None:
            return best
    return None


@settings(max_examples=80, deadline=None)
@given(sequence=st.lists(st.integers(0, 3), max_size=60), max_period=st.integers(1, 8),
       min_repeats=st.integers(2, 5), min_span=st.integers(1, 12))
def test_loop_finder_matches_brute_force(sequence, max_period, min_repeats, min_span):
    loop = find_loops([np.array(sequence, dtype=np.int64)], max_period, min_repeats,
                      min_span)[0]
    expected = loop_oracle(sequence, max_period, min_repeats, min_span)
    if expected is None:
        assert loop is None
    else:
        assert (loop.start, loop.end, loop.period) == expected
        assert loop.repeats == (loop.end - loop.start) // loop.period


def test_loop_penalty_in_words_chars_and_tokens():
    looping = "We compute the sum. " + "Let me check again. " * 6 + "Done."
    words = LoopPenalty(unit="words").explain(Sample.build(looping))
    assert words.score == -1.0
    assert words.details["loop"].period == 4
    start, end = words.details["char_spans"][0]
    assert looping[start:end].startswith("Let me check again.")
    chinese = "我们先计算总和。" + "让我再检查一下。" * 5 + "完成。"
    chars = LoopPenalty(unit="chars").explain(Sample.build(chinese))
    assert chars.score == -1.0 and chars.details["loop"].period == 8
    tokens = LoopPenalty(unit="tokens")
    assert tokens("", completion_ids=list(range(10)) + [7, 8] * 10) == -1.0
    assert tokens("", completion_ids=list(range(40))) == 0.0


def test_loop_penalty_spares_natural_repetition_and_flags_long_words():
    reward = LoopPenalty()
    assert reward("2 × 2 × 2 × 2 = 16, and 1/3 = 0.3333333. Yes, yes, that is right.") == 0.0
    assert reward("x" * 201) == -1.0
    assert reward("x" * 200) == 0.0
    assert reward.explain(Sample.build("ok " + "İ" * 201)).details["long_word"] == (3, 204)
    assert LoopPenalty(max_word_chars=None)("x" * 5000) == 0.0


def test_default_loop_detector_on_chinese():
    # A clean Chinese paragraph has no spaces: one long "word" for unit="words", which its
    # long-word rule flagged.
    clean = ("首先把题目重新理解一遍：小明有十二个苹果，给了小红五个。所以小明还剩下七个苹果。"
             "等一下，我需要再检查一下这个减法是否正确。十二减五确实等于七，没有问题。"
             "接下来考虑小红又买了三个苹果的情况，这时她一共有八个。题目问的会不会是差而不是和呢？"
             "再读一遍题目，问的是小红最后有多少个苹果，所以需要的数是八，而不是七。"
             "也可以列一个表格，每个人占一行：小明七个，小红八个，合起来是十五个，和总数一致。"
             "还要检查一点：答案必须是整数个苹果，八确实是正整数，没有出现分数。因此答案是八。")
    assert len(clean) > 200 and LoopPenalty(unit="words")(clean) == -1.0
    assert LoopPenalty()(clean) == 0.0
    # Loops that 24 characters of min_span missed with unit="chars": one character 19 times,
    # two characters 11 times; natural repetition stays unflagged.
    for loop in ("啊" * 19, "对吧" * 11):
        text = "我们先计算总和。" + loop + "然后得到答案。"
        assert LoopPenalty(unit="chars")(text) == 0.0
        result = LoopPenalty().explain(Sample.build(text))
        assert result.score == -1.0
        start, end = result.details["char_spans"][0]
        assert text[start:end] == loop
    assert LoopPenalty()("哈哈哈，原来这么简单。嗯嗯，对对对，就是七。") == 0.0


@needs_jieba
def test_explain_reports_character_spans_in_jieba_units():
    text = "我们检查一下。我们检查一下。我们检查一下。好的"
    result = NgramRepetitionPenalty(2, -1.0, unit="jieba").explain(Sample.build(text))
    assert result.details["spans"]
    for (start, end), (char_start, char_end) in zip(result.details["spans"],
                                                    result.details["char_spans"], strict=True):
        import jieba

        pieces = list(jieba.cut(text))
        assert text[char_start:char_end] == "".join(pieces[start:end])


def test_loop_batch_scores_equal_one_by_one_in_every_text_unit():
    texts = ["We compute. " + "Let me check again. " * 6, "我们先计算。" + "再检查一下。" * 5,
             "", "x" * 300, "clean text with no loop at all", "日本語" * 10, None]
    samples = [Sample.build(text) for text in texts]
    for unit in ("auto", "words", "chars"):
        reward = LoopPenalty(unit=unit)
        assert reward.score_batch(samples) == [reward.score(sample) for sample in samples]


@pytest.mark.parametrize(("factory", "argument"), [
    (lambda: NgramRepetitionPenalty(ngram_size=0), "ngram_size"),
    (lambda: NgramRepetitionPenalty(max_penalty=0.5), "max_penalty"),
    (lambda: NgramRepetitionPenalty(unit="bytes"), "unit"),
    (lambda: LoopPenalty(unit="char"), "unit"),
    (lambda: DenseRepetitionPenalty(penalty=0.0), "penalty"),
    (lambda: DenseRepetitionPenalty(reduction="max"), "reduction"),
    (lambda: LoopPenalty(max_period=0), "max_period"),
    (lambda: LoopPenalty(min_repeats=1), "min_repeats"),
    (lambda: LoopPenalty(penalty=1.0), "penalty"),
])
def test_bad_configuration_names_the_argument(factory, argument):
    with pytest.raises(ValueError, match=argument):
        factory()


def test_tokens_unit_without_ids_is_a_wiring_error():
    with pytest.raises(ValueError, match="completion_ids"):
        NgramRepetitionPenalty(unit="tokens")("some text")
