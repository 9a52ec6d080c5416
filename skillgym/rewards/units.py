"""Text as units for the repetition rewards: a whole batch of completions turned into unit ids.

A repetition reward compares units, and which units it compares decides what counts as a
repetition. Four kinds of text unit are offered (token ids, the fifth, come from the trainer):

- ``"words"``: open-r1's ``text.lower().split()``, exactly: Python's whitespace (the 29 code
  points ``str.split()`` splits on, Unicode spaces included) and ``str.lower()``.
- ``"auto"``: words for spaced scripts, and one unit per CJK ideograph, kana, hangul syllable
  or CJK punctuation mark (:data:`UNIT_SCRIPTS`), which are written without spaces:
  ``"x等于3。"`` is ``x``, ``等``, ``于``, ``3``, ``。``. A CJK character and an English word count
  as one unit each: each is about one token of a byte-pair tokenizer (a Chinese character about
  1 token, an English word about 1.3), so spans in units measure a similar amount of text in
  every script.
- ``"chars"``: code points (lone surrogates included).
- ``"jieba"``: the pieces of ``jieba.cut(text)``, as open-r1's ``language="zh"`` counts them (no
  lowercasing; runs of spaces are pieces too). Needs the optional ``jieba`` package.

:func:`unit_ids` tokenizes a batch into a :class:`~skillgym.rewards.ragged.Ragged` of ids: two
units of one call have equal ids if and only if they are equal. Words and auto units are found
without a Python loop over words or completions. The texts are lowercased and encoded to UTF-8
by Python (both fast), joined by newlines; numpy then finds the separators in the bytes, the
unit boundaries between them, and gives every unit an exact id:

- a unit of at most 7 bytes is packed into a ``uint64`` with a stop bit after its last byte (an
  8-byte unit whose last byte is above 1 is packed as it is): equal keys mean equal bytes;
- a longer unit is hashed from its 8-byte chunks, and every unit that shares a hash with the
  unit that represents it is compared with it chunk by chunk; those whose bytes differ (a hash
  collision) get their ids from a dictionary of their bytes instead;
- keys meet in a hash table (:func:`_representatives`): each unit takes as its id the position of
  one occurrence of its key, so ids are small (below the number of units) and dense enough for
  the n-gram code to pack several into one integer.

:func:`unit_char_spans` gives each unit's ``[start, end)`` in characters of the original text,
for :meth:`~skillgym.rewards.base.Reward.explain`.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from skillgym.rewards.ragged import Ragged

#: The text units (``"tokens"`` are the trainer's ids, not derived from text).
TEXT_UNITS: tuple[str, ...] = ("auto", "words", "chars", "jieba")

#: Code point ranges (inclusive) that are one unit each with ``unit="auto"``, whole Unicode
#: blocks: kana, CJK ideographs (unified, extension A, compatibility, the supplementary planes'
#: extensions), hangul syllables, and the CJK and fullwidth punctuation that separates CJK text
#: as spaces and words do elsewhere (so ``"。。。。"`` is four units, not one word).
UNIT_SCRIPTS: tuple[tuple[int, int], ...] = (
    (0x3001, 0x30FF),    # CJK symbols and punctuation, hiragana, katakana
    (0x31F0, 0x31FF),    # katakana phonetic extensions
    (0x3400, 0x4DBF),    # CJK unified ideographs extension A
    (0x4E00, 0x9FFF),    # CJK unified ideographs
    (0xAC00, 0xD7AF),    # hangul syllables
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0xFF01, 0xFF9F),    # fullwidth forms, halfwidth CJK punctuation and katakana
    (0xFFE0, 0xFFEE),    # fullwidth and halfwidth signs
    (0x20000, 0x3FFFF),  # CJK extensions B-H, compatibility supplement
)

#: The code points Python's ``str.split()`` and ``str.isspace()`` treat as whitespace.
WHITESPACE: tuple[int, ...] = (
    0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
    *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
)

_OTHER, _SPACE, _SCRIPT = 0, 1, 2
_CLASSES = np.zeros(0x110000, dtype=np.uint8)  # the class of every code point
for _low, _high in UNIT_SCRIPTS:
    _CLASSES[_low:_high + 1] = _SCRIPT
_CLASSES[list(WHITESPACE)] = _SPACE
_ASCII_SPACE = _CLASSES[:128] == _SPACE

_LEAD_MARKS = np.array([0, 0, 0xC0, 0xE0, 0xF0])  # the first byte's marker, by UTF-8 size
_PAD = 8  # zero bytes after the text, so that reading 8 bytes at any unit start stays inside
_UTF8 = operator.methodcaller("encode", "utf-8", "surrogatepass")
# Odd 64-bit multipliers (golden ratio, MurmurHash3, xxHash64, SplitMix64) of the
# multiply-shift hashes: round r of _representatives uses the r-th.
_MULTIPLIERS = tuple(np.uint64(m) for m in (
    0x9E3779B97F4A7C15, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0xBF58476D1CE4E5B9))
_MIX, _CHUNK_MIX = _MULTIPLIERS[0], _MULTIPLIERS[3]


def check_unit(unit: str, allowed: Sequence[str] = TEXT_UNITS) -> None:
    """Raise ``ValueError`` naming ``unit`` unless it is allowed; ``"jieba"`` also needs the
    ``jieba`` package (``pip install skillgym[zh]``)."""
    if unit not in allowed:
        raise ValueError(f"unit must be one of {list(allowed)}, got {unit!r}")
    if unit == "jieba":
        try:
            import jieba  # noqa: F401
        except ImportError as error:
            raise ValueError("unit='jieba' needs the jieba package: pip install "
                             "'skillgym[zh]' (or pip install jieba)") from error


def unit_ids(texts: Sequence[str], unit: str, lowercase: bool = True) -> Ragged:
    """The texts as sequences of unit ids: equal units of the batch have equal ids.

    Args:
        texts: the completions.
        unit: ``"auto"``, ``"words"``, ``"chars"`` or ``"jieba"``.
        lowercase: lowercase before comparing (``"words"`` and ``"auto"``).
    """
    return segment(texts, unit, lowercase).ids


@dataclass(frozen=True)
class Segmented:
    """The units of a batch of texts.

    Attributes:
        ids: the unit ids of each text.
        sizes: the size of each unit (aligned with ``ids.values``): bytes of its UTF-8 encoding
            (of the lowercased text) for words and auto units, characters otherwise. A unit of
            ``n`` characters has at least ``n`` bytes.
    """

    ids: Ragged
    sizes: np.ndarray


def segment(texts: Sequence[str], unit: str, lowercase: bool = True) -> Segmented:
    """The units of each text, with their ids and sizes (see :func:`unit_ids`)."""
    check_unit(unit)
    texts = list(texts)
    if unit == "chars":
        return _char_units(texts)
    if unit == "jieba":
        return _jieba_units(texts)
    encoded = list(map(_UTF8, texts))
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    # "\n" before, between and after the texts, so that every unit lies between separators;
    # then zero bytes, so that 8 bytes can be read at any unit start.
    raw = np.frombuffer(b"\n".join(chain((b"",), encoded, (b"", bytes(_PAD - 1)))),
                        dtype=np.uint8)
    found = _find_units(raw, unit == "auto", lowercase)
    if found is None:  # a case mapping that str.lower() applies in context, or that resizes
        special = _special_rows(texts)
        texts = [text.lower() if row in special else text for row, text in enumerate(texts)]
        return segment(texts, unit, lowercase)
    starts, ends, values = found
    ids = _exact_ids(values, starts, ends)
    text_starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=text_starts[1:])
    offsets = np.searchsorted(starts, text_starts + 1)
    return Segmented(Ragged(ids, offsets.astype(np.int64)), ends - starts)


def unit_char_spans(text: str, unit: str) -> np.ndarray:
    """The ``[start, end)`` of each unit of ``text`` in its characters, an ``(n, 2)`` array.

    Units are found in the original text (lowercasing never moves a unit boundary).
    """
    check_unit(unit)
    if unit == "chars":
        positions = np.arange(len(text), dtype=np.int64)
        return np.stack([positions, positions + 1], axis=1)
    if unit == "jieba":
        ends = np.cumsum([len(piece) for piece in _jieba_pieces(text)], dtype=np.int64)
        return np.stack([ends - np.diff(ends, prepend=0), ends], axis=1).reshape(-1, 2)
    encoded = _UTF8(text)
    raw = np.frombuffer(b"\n" + encoded + b"\n" + bytes(_PAD), dtype=np.uint8)
    starts, ends, _ = _find_units(raw, unit == "auto", lowercase=False)
    # The character index of every byte boundary: the characters that start before it.
    chars_before = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum((raw[1:len(encoded) + 1] & 0xC0) != 0x80, out=chars_before[1:])
    return np.stack([chars_before[starts - 1], chars_before[ends - 1]], axis=1)


def _char_units(texts: list[str]) -> Segmented:
    """Code points as ids."""
    joined = "".join(texts).encode("utf-32-le", "surrogatepass")
    values = np.frombuffer(joined, dtype="<u4").astype(np.int64)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), out=offsets[1:])
    return Segmented(Ragged(values, offsets), np.ones(len(values), dtype=np.int64))


def _jieba_pieces(text: str) -> list[str]:
    import jieba

    return list(jieba.cut(text))


def _jieba_units(texts: list[str]) -> Segmented:
    """jieba's pieces, numbered in order of first appearance in the batch."""
    vocabulary: dict[str, int] = {}
    rows, sizes = [], []
    for text in texts:
        pieces = _jieba_pieces(text)
        rows.append([vocabulary.setdefault(piece, len(vocabulary)) for piece in pieces])
        sizes.extend(map(len, pieces))
    return Segmented(Ragged.from_rows(rows), np.array(sizes, dtype=np.int64))


def _find_units(raw: np.ndarray, auto: bool,
                lowercase: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The byte ``[start, end)`` of every unit of ``raw``, in order, and the bytes to key them
    by (``raw`` lowercased, with whitespace normalized), or ``None`` if lowercasing needs
    Python's ``str.lower()`` (see :func:`_lowered_in_place`).

    ``raw`` is UTF-8 that starts and ends with a separator, followed by ``_PAD`` bytes that
    are not part of it.
    """
    text = raw[:-_PAD]
    if text.max() < 0x80:
        cuts = np.flatnonzero(text <= 0x20)  # whitespace, or (rarely) other control bytes
        if text.min() < 0x09 or (text - np.uint8(0x0E)).min() < 0x1C - 0x0E:
            cuts = cuts[_ASCII_SPACE[text[cuts]]]
        # Between consecutive separators s < t lies the unit [s + 1, t), if it is not empty.
        gaps = np.flatnonzero(np.diff(cuts) > 1)
        return cuts[gaps] + 1, cuts[gaps + 1], _lower_ascii(raw) if lowercase else raw
    return _find_units_unicode(raw, auto, lowercase)


def _lower_ascii(raw: np.ndarray) -> np.ndarray:
    """A copy of ``raw`` with the ASCII capitals lowercased (other bytes unchanged)."""
    lowered = raw - np.uint8(ord("A"))
    np.less(lowered, np.uint8(26), out=lowered.view(bool))
    lowered *= np.uint8(0x20)
    lowered |= raw
    return lowered


def _find_units_unicode(raw: np.ndarray, auto: bool,
                        lowercase: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_find_units` for text with multi-byte characters.

    Cuts are placed on a doubled axis: byte ``i`` is at ``2i + 1`` and the point just before
    it at ``2i``. A whitespace byte is a cut at its own coordinate; a unit-script character at
    ``p`` of ``k`` bytes is a cut before it (``2p``) and one after it (``2p + 2k``). The unit
    between consecutive cuts ``x < y`` is ``[(x + 1) // 2, y // 2)``, when not empty.
    """
    text = raw[:-_PAD]
    # Candidates: whitespace or control bytes (<= 0x20) and the lead bytes of multi-byte
    # characters (>= 0xC2); continuation bytes and printable ASCII never start a cut.
    candidates = np.flatnonzero((text - np.uint8(0x21)) >= np.uint8(0xC2 - 0x21))
    first = text[candidates]
    lead = np.flatnonzero(first >= 0xC2)
    at = candidates[lead]
    points, sizes = _decode(raw, at)
    kind = _CLASSES[points]
    values = _lower_ascii(raw) if lowercase else raw
    space = kind == _SPACE
    if space.any():
        # Whitespace beyond ASCII becomes ASCII spaces: the units are then cut alike.
        values = values.copy() if values is raw else values
        for offset in range(3):
            inside = space & (sizes > offset)
            values[at[inside] + offset] = ord(" ")
    if lowercase and not _lowered_in_place(values, at, points, sizes):
        return None
    if space.any():
        return _find_units_unicode(values, auto, lowercase=False)
    ascii_space = _ASCII_SPACE[np.minimum(first, 0x7F)]
    if not auto:
        cuts = candidates[ascii_space]
        gaps = np.flatnonzero(np.diff(cuts) > 1)
        return cuts[gaps] + 1, cuts[gaps + 1], values
    script = np.flatnonzero(kind == _SCRIPT)
    double = 2 * candidates
    before = double + 1
    after = double + 1
    before[lead[script]] -= 1
    after[lead[script]] += 2 * sizes[script] - 1
    keep = ascii_space
    keep[lead[script]] = True
    cuts = np.stack([before[keep], after[keep]], axis=1).reshape(-1)
    starts, ends = (cuts[:-1] + 1) >> 1, cuts[1:] >> 1
    nonempty = np.flatnonzero(ends > starts)
    return starts[nonempty], ends[nonempty], values


def _decode(raw: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The code points and byte sizes of the UTF-8 characters that start at ``at``."""
    first = raw[at].astype(np.int32)
    following = [raw[at + offset].astype(np.int32) & 0x3F for offset in (1, 2, 3)]
    sizes = 2 + (first >= 0xE0) + (first >= 0xF0)
    points = ((first & 0x0F) << 12) | (following[0] << 6) | following[1]  # 3 bytes, the most
    two = np.flatnonzero(sizes == 2)
    points[two] = ((first[two] & 0x1F) << 6) | following[0][two]
    four = np.flatnonzero(sizes == 4)
    points[four] = ((first[four] & 0x07) << 18) | (following[0][four] << 12) \
        | (following[1][four] << 6) | following[2][four]
    return points, sizes.astype(np.int64)


@functools.cache
def _lower_table() -> np.ndarray:
    """``str.lower()`` of every code point below ``0x20000`` (no cased letter lies above) where
    it is one code point of the same UTF-8 size, and ``-1`` where it is not (a longer or
    shorter result, or capital sigma, whose lowercase depends on the next letters)."""
    points = [point for point in range(0x80, 0x20000) if not 0xD800 <= point <= 0xDFFF]
    characters = list(map(chr, points))
    table = np.arange(0x20000, dtype=np.int32)
    for point, character, lower in zip(points, characters, map(str.lower, characters),
                                       strict=True):
        if lower != character:
            same_size = len(lower) == 1 and len(lower.encode()) == len(character.encode())
            table[point] = ord(lower) if same_size and point != 0x3A3 else -1
    return table


@functools.cache
def _special_characters() -> re.Pattern[str]:
    """The characters that only ``str.lower()`` lowercases right (see :func:`_lower_table`)."""
    return re.compile("[" + "".join(map(chr, np.flatnonzero(_lower_table() < 0))) + "]")


def _special_rows(texts: list[str]) -> set[int]:
    """The texts that contain a character of :func:`_special_characters`."""
    search = _special_characters().search
    return {row for row, text in enumerate(texts) if not text.isascii() and search(text)}


def _lowered_in_place(values: np.ndarray, at: np.ndarray, points: np.ndarray,
                      sizes: np.ndarray) -> bool:
    """Lowercase the multi-byte characters at ``at`` in ``values`` (ASCII already is); ``False``
    if one of them needs ``str.lower()`` itself."""
    table = _lower_table()
    inside = np.flatnonzero(points < len(table))
    lowered = table[points[inside]]
    if (lowered < 0).any():
        return False
    changed = np.flatnonzero(lowered != points[inside])
    where, point, size = at[inside[changed]], lowered[changed], sizes[inside[changed]]
    for offset in range(4):  # byte `offset` of each changed character, re-encoded
        has = np.flatnonzero(size > offset)
        bits = point[has] >> (6 * (size[has] - 1 - offset))
        values[where[has] + offset] = (bits & 0x3F) | 0x80 if offset else \
            bits | _LEAD_MARKS[size[has]]
    return True


def _exact_ids(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """An id for every unit ``data[starts[i]:ends[i]]``: equal ids iff equal bytes; ids are
    below ``len(starts)`` except for units whose hash collided (numbered after)."""
    lengths = ends - starts
    ids = np.empty(len(starts), dtype=np.int64)
    # A unit of <= 7 bytes keeps its bytes below a stop bit; an 8-byte unit whose last byte is
    # >= 2 cannot meet those (their top byte is 0 or 1), so it keeps its 8 bytes as they are.
    keys = _masked_windows(data, starts, lengths)
    keys |= np.uint64(1) << (np.minimum(lengths, 8).astype(np.uint64) << np.uint64(3))
    short = (lengths < 8) | ((lengths == 8) & (keys >= np.uint64(2 << 56)))
    exact = np.flatnonzero(short)
    ids[exact] = exact[_representatives(keys[exact])]
    rest = np.flatnonzero(~short)
    if len(rest):
        representative, differs = _long_representatives(data, starts[rest], lengths[rest])
        ids[rest] = rest[representative]
        # Units whose bytes differ from their representative's shared its 64-bit hash.
        vocabulary: dict[bytes, int] = {}
        for unit in rest[differs]:
            start = int(starts[unit])
            ids[unit] = vocabulary.setdefault(data[start:start + int(lengths[unit])].tobytes(),
                                              len(starts) + len(vocabulary))
    return ids


def _masked_windows(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The ``min(length, 8)`` bytes at each start, little-endian in a ``uint64``."""
    windows = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))[starts]
    shift = np.uint64(64) - (np.minimum(lengths, 8).astype(np.uint64) << np.uint64(3))
    windows <<= shift
    windows >>= shift
    return windows


def _long_representatives(data: bytes, starts: np.ndarray,
                          lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For units longer than a key: the index of the unit that represents each (one per
    hash), and whether its bytes differ from that representative's."""
    chunks = (lengths + 7) >> 3
    first_chunk = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(chunks, out=first_chunk[1:])
    owner = np.repeat(np.arange(len(starts)), chunks)
    index = np.arange(first_chunk[-1]) - first_chunk[owner]
    offset = 8 * index
    values = _masked_windows(data, starts[owner] + offset, lengths[owner] - offset)
    mixed = (values ^ (index.astype(np.uint64) * _CHUNK_MIX)) * _MIX
    mixed ^= mixed >> np.uint64(29)
    hashes = np.add.reduceat(mixed, first_chunk[:-1]) ^ lengths.astype(np.uint64) * _CHUNK_MIX
    representative = _representatives(hashes)
    differs = lengths != lengths[representative]
    mine = np.flatnonzero(~differs[owner])
    theirs = first_chunk[representative[owner[mine]]] + index[mine]
    differs[owner[mine[values[mine] != values[theirs]]]] = True
    return representative, differs


def _representatives(keys: np.ndarray) -> np.ndarray:
    """For each ``uint64`` key, the index of one occurrence of it (the same for all).

    Rounds of a hash table, as in :func:`skillgym.rewards.ngrams.distinct_counts`: every
    unresolved key writes its index to its slot and reads back the index that remained; if
    that index holds the same key, the key is resolved (all its occurrences met at that slot).
    Keys that lost their slot to another key try again with the next multiplier.
    """
    count = len(keys)
    bits = max((2 * count - 1).bit_length(), 1)  # at least two slots per key
    table = np.empty(1 << bits, dtype=np.intp)
    representative = np.arange(count)
    pending, pending_keys = representative, keys
    hash_round = 0
    while len(pending):
        multiplier = _MULTIPLIERS[hash_round % len(_MULTIPLIERS)]
        slots = pending_keys * multiplier
        slots >>= np.uint64(64 - bits)
        slots = slots.view(np.intp)
        table[slots] = pending
        winners = table.take(slots)
        if hash_round:
            representative[pending] = winners
        else:
            representative = winners
        lost = np.flatnonzero(keys.take(winners) != pending_keys)
        pending, pending_keys = pending[lost], pending_keys[lost]
        hash_round += 1
    return representative
