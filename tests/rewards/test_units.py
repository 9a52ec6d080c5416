"""Text units of a batch against Python's own string methods, character by character."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import skillgym.rewards.units as units
from skillgym.rewards.units import (
    TEXT_UNITS,
    UNIT_SCRIPTS,
    WHITESPACE,
    segment,
    unit_char_spans,
    unit_ids,
)

HAS_JIEBA = importlib.util.find_spec("jieba") is not None
needs_jieba = pytest.mark.skipif(not HAS_JIEBA, reason="jieba is not installed (pip install "
                                 "'skillgym[zh]'); unit='jieba' is optional")


def in_scripts(character: str) -> bool:
    return any(low <= ord(character) <= high for low, high in UNIT_SCRIPTS)


def auto_reference(text: str, lowercase: bool = True) -> list[str]:
    """The auto units, one character at a time: whitespace words, each script character alone."""
    found = []
    for word in (text.lower() if lowercase else text).split():
        piece = ""
        for character in word:
            if in_scripts(character):
                found += [piece, character] if piece else [character]
                piece = ""
            else:
                piece += character
        if piece:
            found.append(piece)
    return found


def reference(text: str, unit: str, lowercase: bool = True) -> list[str]:
    if unit == "words":
        return (text.lower() if lowercase else text).split()
    if unit == "auto":
        return auto_reference(text, lowercase)
    if unit == "chars":
        return list(text)
    import jieba

    return list(jieba.cut(text))


def first_seen(items: list) -> list[int]:
    """Items renumbered in order of first appearance: equal items, equal numbers."""
    numbers: dict = {}
    return [numbers.setdefault(item, len(numbers)) for item in items]


def assert_units(texts: list[str], unit: str, lowercase: bool = True) -> None:
    """The batch's ids equal the reference units exactly: same count per text, and two units of
    the batch have equal ids iff they are equal strings."""
    ragged = unit_ids(texts, unit, lowercase)
    expected = [reference(text, unit, lowercase) for text in texts]
    assert ragged.lengths.tolist() == [len(found) for found in expected]
    assert first_seen(ragged.values.tolist()) == first_seen(sum(expected, []))
    assert ragged.values.dtype == np.int64


# Pieces that stress every path: the 29 whitespace code points, control bytes that are not
# whitespace, zero-width space (not whitespace), words of 7, 8 and 9 bytes around the packed
# key's size (with a last byte of 0 or 1, which an 8-byte key cannot take), the characters whose
# lowercase depends on context or changes size (capital sigma, dotted I, Kelvin and Ohm
# signs), CJK, kana, hangul, fullwidth letters, a supplementary ideograph, a lone surrogate.
PIECES = [chr(point) for point in WHITESPACE] + [
    "a", "B", "ab", "\x00", "\x01", "\x08", "\x0e", "\x1b", "\x7f", "\u200b", "abcdefg",
    "ABCDEFGH", "abcdefg\x00", "abcdefg\x01", "abcdefgh9", "x" * 17, "é", "É", "İ", "Σ",
    "ΑΣ", "\u212a", "\u2126", "ǅ", "Ａ", "𐐀", "×", "…", "中", "文", "か", "カ", "ｶ", "한",
    "𠀀", "\ud800", "。", "，", "3.14", "日本語", "한국어",
]
texts_strategy = st.lists(st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
                          max_size=6)


@settings(max_examples=300, deadline=None)
@given(texts=texts_strategy, lowercase=st.booleans())
def test_words_are_str_split_of_str_lower(texts, lowercase):
    assert_units(texts, "words", lowercase)


@settings(max_examples=300, deadline=None)
@given(texts=texts_strategy, lowercase=st.booleans())
def test_auto_units_are_words_with_script_characters_apart(texts, lowercase):
    assert_units(texts, "auto", lowercase)


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(st.text(max_size=60), max_size=5))
def test_words_on_arbitrary_unicode_text(texts):
    assert_units(texts, "words")
    assert_units(texts, "auto")
    assert_units(texts, "chars")


@settings(max_examples=150, deadline=None)
@given(text=st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
       unit=st.sampled_from(["words", "auto", "chars"]))
def test_char_spans_cut_the_original_text_into_its_units(text, unit):
    found = unit_char_spans(text, unit)
    assert found.shape == (len(reference(text, unit, lowercase=False)), 2)
    assert [text[start:end] for start, end in found.tolist()] == reference(text, unit,
                                                                           lowercase=False)


def test_whitespace_is_exactly_what_str_split_splits_on():
    spaces = [point for point in range(sys.maxunicode + 1) if chr(point).isspace()]
    assert list(WHITESPACE) == spaces
    for point in spaces:
        assert f"a{chr(point)}b".split() == ["a", "b"]


def test_no_code_point_above_the_lowercase_table_has_a_lowercase():
    # The table covers code points below 0x20000; lowercasing the rest must change nothing.
    rest = "".join(map(chr, range(0x20000, sys.maxunicode + 1)))
    assert rest.lower() == rest


def test_script_characters_are_one_unit_each():
    text = "Let x等于3。ひらがなカタカナ한국어ｶﾀ 漢字𠀀「引用」！ done…… ok"
    assert reference(text, "auto") == ["let", "x", "等", "于", "3", "。", "ひ", "ら", "が",
                                       "な", "カ", "タ", "カ", "ナ", "한", "국", "어", "ｶ", "ﾀ",
                                       "漢", "字", "𠀀", "「", "引", "用", "」", "！", "done……",
                                       "ok"]
    assert_units([text], "auto")
    # The ideographic space is whitespace, not a unit.
    assert reference("中\u3000文", "auto") == ["中", "文"]
    assert_units(["中\u3000文"], "auto")


def test_equal_words_of_every_length_get_equal_ids_and_different_words_different_ids():
    rng = np.random.default_rng(0)
    alphabet = np.array(list("ab\x00\x01é中"))
    words = ["".join(rng.choice(alphabet, rng.integers(1, 20))) for _ in range(300)]
    texts = [" ".join(rng.choice(words, 50)) for _ in range(20)]
    assert_units(texts, "words", lowercase=False)


def test_long_units_whose_hashes_collide_are_still_told_apart(monkeypatch):
    # With zero multipliers every long unit hashes to the same slot in every round: units are
    # told apart only by comparing their bytes, one distinct unit resolved per round.
    zero = np.uint64(0)
    monkeypatch.setattr(units, "_MULTIPLIERS", (zero,))
    monkeypatch.setattr(units, "_MIX", zero)
    monkeypatch.setattr(units, "_CHUNK_MIX", zero)
    texts = ["abcdefghij abcdefghij abcdefghik short abcdefgh\x01 abcdefghij " * 3,
             "abcdefghik x " + "y" * 30 + " " + "y" * 30 + " " + "y" * 31 + " " + "z" * 15
             + "\x01 " + "z" * 16]
    assert_units(texts, "words")
    # A long unit's id is the position of an occurrence of the same bytes (top byte 2).
    words = " ".join(texts).split()
    ids = unit_ids(texts, "words").values
    for word, unit_id in zip(words, ids.tolist(), strict=True):
        if len(word) > 8 or word == "abcdefgh\x01":
            assert unit_id >> 56 == 2 and words[unit_id & ((1 << 56) - 1)] == word


def test_empty_texts_and_batches():
    assert unit_ids([], "words").offsets.tolist() == [0]
    ragged = unit_ids(["", "  \n\u3000 ", "a", ""], "auto")
    assert ragged.offsets.tolist() == [0, 0, 0, 1, 1]
    assert unit_char_spans("", "auto").shape == (0, 2)
    assert unit_char_spans("   ", "words").shape == (0, 2)


def test_chars_are_code_points_lone_surrogates_included():
    ragged = unit_ids(["a\ud800中", "", "😀"], "chars")
    assert ragged.values.tolist() == [0x61, 0xD800, 0x4E2D, 0x1F600]
    assert ragged.offsets.tolist() == [0, 3, 3, 4]


def test_sizes_are_the_bytes_of_each_lowercased_unit():
    texts = ["Ünïcode 中文 word", "x" * 300]
    found = segment(texts, "auto")
    expected = [len(unit.encode()) for text in texts for unit in auto_reference(text)]
    assert found.sizes.tolist() == expected


def test_unknown_unit_names_the_argument():
    with pytest.raises(ValueError, match="unit must be one of"):
        unit_ids(["x"], "bytes")
    with pytest.raises(ValueError, match="unit must be one of"):
        unit_char_spans("x", "tokens")


@needs_jieba
def test_jieba_units_are_jieba_cut_pieces():
    texts = ["我们先计算总和，然后再检查一下。", "这个这个这个这个这个", "Hello  world 你好 A1",
             "", "   "]
    assert_units(texts, "jieba")
    for text in texts:
        spans = unit_char_spans(text, "jieba")
        assert [text[start:end] for start, end in spans.tolist()] == reference(text, "jieba")


def test_jieba_without_the_package_is_a_clear_configuration_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "jieba", None)  # makes `import jieba` fail
    with pytest.raises(ValueError, match="jieba"):
        unit_ids(["x"], "jieba")
    assert "jieba" in TEXT_UNITS
