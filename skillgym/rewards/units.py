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
without a Python loop over words or completions: the texts are encoded to UTF-8 by Python and
joined by newlines, and numpy, in blocks of 256 KB that stay in the core's cache, finds the
separators in the bytes and the unit boundaries between them, lowercases the bytes in place
(ASCII letters arithmetically, other letters through a table of code points; the few characters
whose lowercase depends on their context or changes their size send their texts through
``str.lower()``), and gives every unit an exact id:

- a unit of at most 7 bytes is its own id, its bytes packed into 64 bits below a stop bit; an
  8-byte unit is its 8 bytes (unless its last byte is below 3: those ids are taken);
- a unit of up to 16 bytes is two such keys; an open-addressing table kept across the blocks
  maps the pair to the position of its first occurrence, which is the id (with a tag in the
  top byte); pairs are compared whole, the hash only picks the slot;
- a longer unit is hashed from its 8-byte chunks, and its occurrences meet in rounds of a hash
  table (:func:`_representatives`) in which units are compared chunk by chunk: a hash collision
  costs a round, never exactness.

The ids are 64-bit integers of any value: the n-gram code compares them, it does not pack them.

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
_LONG_TAG = 2 << 56  # the top byte of the ids of units that are not their own key
_LONG_TAG_LIMIT = np.uint64(3 << 56)  # an 8-byte key below this would meet those ids
_AMBIGUOUS = np.uint64(2 << 56)  # a second key of 8 bytes below this would meet shorter ones
_BLOCK = 1 << 18  # bytes scanned at once: a block's temporaries stay in the core's cache
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
    # Where each text starts: after the "\n" before it, and the end, after the last one.
    rows = np.ones(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)) + 1,
              out=rows[1:])
    rows[1:] += 1
    # "\n" before, between and after the texts, so that every unit lies between separators;
    # then zero bytes, so that 8 bytes can be read at any unit start. A bytearray, so that the
    # scan lowercases it in place.
    data = bytearray(b"\n").join(chain((b"",), encoded, (b"", bytes(_PAD - 1))))
    scanned = _scan(data, unit == "auto", lowercase, rows, ascii_only=all(map(str.isascii, texts)))
    if scanned is None:  # a case mapping that str.lower() applies in context, or that resizes
        special = _special_rows(texts)
        texts = [text.lower() if row in special else text for row, text in enumerate(texts)]
        return segment(texts, unit, lowercase)
    offsets, _, sizes, ids = scanned
    return Segmented(Ragged(ids, offsets), sizes)


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
    data = bytearray(b"\n" + encoded + b"\n" + bytes(_PAD))
    _, starts, sizes, _ = _scan(data, unit == "auto", False, np.array([1, len(encoded) + 2]),
                                keyed=False)
    # The character index of every byte boundary: the characters that start before it.
    chars_before = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum((np.frombuffer(encoded, dtype=np.uint8) & 0xC0) != 0x80, out=chars_before[1:])
    return np.stack([chars_before[starts - 1], chars_before[starts + sizes - 1]], axis=1)


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


def _scan(data: bytearray, auto: bool, lowercase: bool, rows: np.ndarray, keyed: bool = True,
          ascii_only: bool = False) -> tuple[np.ndarray, ...] | None:
    """``(offsets, starts, sizes, ids)`` of the units of ``data``: ``offsets[r]``, the number of
    units that start before byte ``rows[r]`` (ascending); the byte offset (only unless
    ``keyed``), byte size and id of every unit (ids only if ``keyed``). ``None`` if
    lowercasing needs Python's ``str.lower()`` (see :func:`_lowered_in_place`).

    ``data`` is UTF-8 that starts and ends with ``"\n"``, followed by ``_PAD`` bytes that are
    not part of it; it is lowercased in place, and Unicode whitespace becomes ASCII spaces.
    ``ascii_only`` says that it is known to be ASCII. It is scanned in blocks of about
    ``_BLOCK`` bytes that end at a newline, so that a block's temporaries stay in the core's
    cache and are reused by the next block: only the results are as large as the batch.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    end = len(raw) - _PAD - 1  # the final separator
    capacity = end // 2 + 1  # units are separated, so at most one in two bytes starts one
    sizes = np.empty(capacity, dtype=np.int64)
    ids = np.empty(capacity, dtype=np.int64) if keyed else None
    offsets = np.empty(len(rows), dtype=np.int64)
    found_starts, pairs, longer = [], _PairTable(), []
    count, low = 0, 0
    while True:
        high = low + _BLOCK
        if high < end:
            newline = data.rfind(b"\n", low + 1, high + 1)
            high = newline if newline > 0 else data.find(b"\n", high)
        else:
            high = end
        found = _block_units(raw, low, high + 1, auto, lowercase, ascii_only)
        if found is None:
            return None
        starts, ends = found
        block = slice(count, count + len(starts))
        np.subtract(ends, starts, out=sizes[block])
        inside = slice(*np.searchsorted(rows, [low + 1, high + 1]))  # texts starting here
        offsets[inside] = count + np.searchsorted(starts, rows[inside])
        if keyed:
            ids[block] = _keys(raw, starts, sizes[block]).view(np.int64)
            longer.append(_long_ids(raw, starts, sizes[block], ids[block], count, pairs))
        else:
            found_starts.append(starts)
        count = block.stop
        if high == end:
            break
        low = high
    offsets[inside.stop:] = count
    if not keyed:
        return offsets, np.concatenate(found_starts), sizes[:count], None
    positions, starts, lengths = (np.concatenate(column) for column in zip(*longer, strict=True))
    if len(positions):
        hashed, equal = _chunk_comparison(raw, starts, lengths)
        ids[positions] = positions[_representatives(len(positions), hashed, equal)] | _LONG_TAG
    return offsets, None, sizes[:count], ids[:count]


def _block_units(raw: np.ndarray, low: int, high: int, auto: bool, lowercase: bool,
                 ascii_only: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``[start, end)`` byte offsets of the units of ``raw[low:high]`` (which starts and
    ends with a separator), in order, after lowercasing the block in place; ``None`` if
    lowercasing needs ``str.lower()``. ``ascii_only`` says that the block is ASCII."""
    block = raw[low:high]
    if not ascii_only and block.max() >= 0x80:
        return _block_units_unicode(raw, low, high, auto, lowercase)
    cuts = np.flatnonzero(block <= 0x20)  # whitespace, or (rarely) other control bytes
    below = block[cuts]
    if below.min() < 0x09 or (below - np.uint8(0x0E)).min() < 0x1C - 0x0E:
        cuts = cuts[_ASCII_SPACE[below]]
    if lowercase:
        _lower_ascii(block)
    cuts += low
    return _between(cuts)


def _between(cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The units between consecutive separators ``s < t``: ``[s + 1, t)`` where not empty."""
    steps = np.diff(cuts)
    if not len(steps) or steps.min() > 1:  # no two separators in a row, as in most prose
        return cuts[:-1] + 1, cuts[1:]
    gaps = np.flatnonzero(steps > 1)
    return cuts[gaps] + 1, cuts[gaps + 1]


def _lower_ascii(block: np.ndarray) -> None:
    """Lowercase the ASCII capitals of ``block`` in place (other bytes unchanged)."""
    capital = block - np.uint8(ord("A"))
    np.less(capital, np.uint8(26), out=capital.view(bool))
    capital *= np.uint8(0x20)
    block |= capital


def _block_units_unicode(raw: np.ndarray, low: int, high: int, auto: bool,
                         lowercase: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_block_units` for a block with multi-byte characters.

    Cuts are placed on a doubled axis: byte ``i`` is at ``2i + 1`` and the point just before
    it at ``2i``. A whitespace byte is a cut at its own coordinate; a unit-script character at
    ``p`` of ``k`` bytes is a cut before it (``2p``) and one after it (``2p + 2k``). The unit
    between consecutive cuts ``x < y`` is ``[(x + 1) // 2, y // 2)``, when not empty.
    """
    block = raw[low:high]
    # Candidates: whitespace or control bytes (<= 0x20) and the lead bytes of multi-byte
    # characters (>= 0xC2); continuation bytes and printable ASCII never start a cut.
    candidates = np.flatnonzero((block - np.uint8(0x21)) >= np.uint8(0xC2 - 0x21))
    first = block[candidates]
    lead = np.flatnonzero(first >= 0xC2)
    at = candidates[lead]
    points, sizes = _decode(raw, at + low)
    kind = _CLASSES[points]
    if lowercase:
        _lower_ascii(block)
        if not _lowered_in_place(block, at, points, sizes):
            return None
    space = kind == _SPACE
    if space.any():
        # Whitespace beyond ASCII becomes ASCII spaces: the units are then cut alike.
        for offset in range(3):
            block[at[space & (sizes > offset)] + offset] = ord(" ")
        return _block_units(raw, low, high, auto, lowercase=False)
    ascii_space = _ASCII_SPACE[np.minimum(first, 0x7F)]
    candidates += low
    if not auto:
        return _between(candidates[ascii_space])
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
    return starts[nonempty], ends[nonempty]


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


def _keys(raw: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The ``uint64`` key of every unit, the id of a unit of at most 8 bytes: a unit of at most
    7 bytes is its bytes (little-endian) below a stop bit, so the top byte is 0 or 1; an 8-byte
    unit is its 8 bytes."""
    width = np.minimum(sizes, 8).view(np.uint64)
    width <<= np.uint64(3)  # the key's bits that the unit fills
    return _masked_windows(raw, starts, width, stop_bit=True)


def _long_ids(raw: np.ndarray, starts: np.ndarray, sizes: np.ndarray, ids: np.ndarray,
              offset: int, pairs: _PairTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give the units of a block (the first is unit ``offset`` of the batch) that are not their
    own key their ids in ``ids``: those of 8 bytes whose last byte is below 3 (their keys would
    meet these ids) and up to 16 bytes, through ``pairs``; return the positions, starts and
    sizes of the longer ones, identified at the end of the scan.

    Each gets ``_LONG_TAG`` (top byte 2) plus the position of an occurrence of its bytes, the
    same for all occurrences. A unit of at most 16 bytes is two keys: its first 8 bytes, and the
    rest below a stop bit (a 16-byte unit whose last byte is below 2, whose second key would be
    ambiguous, is left to the longer ones).
    """
    wide = np.flatnonzero(sizes >= 8)
    units = wide[(sizes[wide] > 8) | (ids[wide].view(np.uint64) < _LONG_TAG_LIMIT)]
    short = units[sizes[units] <= 16]
    width = (sizes[short] - 8).view(np.uint64)
    width <<= np.uint64(3)
    second = _masked_windows(raw, starts[short] + 8, width, stop_bit=True)
    clear = (width < 64) | (second >= _AMBIGUOUS)
    paired = short[clear]
    ids[paired] = pairs.first_positions(paired + offset, ids[paired].view(np.uint64),
                                        second[clear]) | _LONG_TAG
    longer = np.concatenate([units[sizes[units] > 16], short[~clear]])
    return longer + offset, starts[longer], sizes[longer]


class _PairTable:
    """The position of the first occurrence of every unit given as two keys, kept across the
    blocks of a scan in one open-addressing table (slots hold the first occurrence's position
    plus one, 0 when empty, and its two keys), grown to stay at most half full."""

    def __init__(self) -> None:
        self.used = 0
        self.owner = np.zeros(1 << 10, dtype=np.int64)
        self.first = np.zeros(1 << 10, dtype=np.uint64)
        self.second = np.zeros(1 << 10, dtype=np.uint64)

    def first_positions(self, positions: np.ndarray, first: np.ndarray,
                        second: np.ndarray) -> np.ndarray:
        """The position of the first occurrence of each unit's keys, the units that occur for
        the first time (at ``positions``) taking a slot."""
        if 2 * (self.used + len(positions)) > len(self.owner):
            self._grow(4 * (self.used + len(positions)))
        size = len(self.owner)
        slots = first * _MIX
        slots ^= second * _CHUNK_MIX
        slots ^= slots >> np.uint64(29)
        slots *= _MIX
        slots >>= np.uint64(65 - size.bit_length())
        slots = slots.view(np.intp)
        found = np.empty(len(positions), dtype=np.int64)
        pending: slice | np.ndarray = slice(None)  # every unit, in the first round
        while True:
            at = slots[pending]
            owner = self.owner.take(at)
            empty = np.flatnonzero(owner == 0)
            if len(empty):  # every unit claims its empty slot; one per slot remains
                claimed, claimers = at[empty], positions[pending][empty] + 1
                self.owner[claimed] = claimers
                owner[empty] = self.owner.take(claimed)
                won = empty[owner[empty] == claimers]
                self.first[at[won]] = first[pending][won]
                self.second[at[won]] = second[pending][won]
                self.used += len(won)
            same = ((self.first.take(at) == first[pending])
                    & (self.second.take(at) == second[pending]))
            found[pending] = owner - 1
            lost = np.flatnonzero(~same)
            if not len(lost):
                return found
            pending = np.arange(len(positions))[pending][lost]
            slots[pending] = (slots[pending] + 1) & (size - 1)  # the next slot (linear probing)

    def _grow(self, at_least: int) -> None:
        """Move the entries to a table of a power of two ``>= at_least`` slots."""
        held = np.flatnonzero(self.owner)
        owner, first, second = self.owner[held] - 1, self.first[held], self.second[held]
        size = 1 << max(at_least - 1, 1).bit_length()
        self.owner = np.zeros(size, dtype=np.int64)
        self.first = np.zeros(size, dtype=np.uint64)
        self.second = np.zeros(size, dtype=np.uint64)
        self.used = 0
        self.first_positions(owner, first, second)


def _masked_windows(data: np.ndarray, starts: np.ndarray, width: np.ndarray,
                    stop_bit: bool = False) -> np.ndarray:
    """The ``width`` low bits (a multiple of 8, at most 64) of the 8 bytes at each start,
    little-endian in a ``uint64``, with bit ``width`` set if ``stop_bit`` (none for 64)."""
    windows = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))[starts]
    stop = np.left_shift(np.uint64(1), width)  # numpy's shifts by 64 give 0
    if stop_bit:
        windows |= stop
        stop <<= np.uint64(1)  # keep the stop bit too
    stop -= np.uint64(1)  # the mask: all ones for 64 bits (0 - 1 wraps around)
    windows &= stop
    return windows


def _chunk_comparison(data: np.ndarray, starts: np.ndarray, sizes: np.ndarray):
    """``(hashed, equal)`` of :func:`_representatives` for units of any size, from their
    8-byte chunks: the hash mixes every chunk with its index, and units are equal when their
    sizes and all their chunks are."""
    chunks = (sizes + 7) >> 3
    first_chunk = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(chunks, out=first_chunk[1:])
    owner = np.repeat(np.arange(len(starts)), chunks)
    index = np.arange(first_chunk[-1]) - first_chunk[owner]
    offset = 8 * index
    width = np.minimum(sizes[owner] - offset, 8).view(np.uint64) << np.uint64(3)
    values = _masked_windows(data, starts[owner] + offset, width)
    mixed = (values ^ (index.view(np.uint64) * _CHUNK_MIX)) * _MIX
    mixed ^= mixed >> np.uint64(29)
    content = np.add.reduceat(mixed, first_chunk[:-1]) ^ sizes.view(np.uint64) * _CHUNK_MIX
    positions = np.arange(len(starts))

    def hashed(items: slice | np.ndarray, hash_round: int) -> np.ndarray:
        hashes = content[items] * _MULTIPLIERS[hash_round % len(_MULTIPLIERS)]
        hashes ^= hashes >> np.uint64(29)
        hashes *= _MULTIPLIERS[(hash_round + 1) % len(_MULTIPLIERS)]
        return hashes

    def equal(items: slice | np.ndarray, winners: np.ndarray) -> np.ndarray:
        units = positions[items]
        same = sizes[units] == sizes[winners]
        mine, theirs = units[same], winners[same]
        # Chunk k of each unit of the winner's size against chunk k of the winner.
        pair = np.repeat(np.arange(len(mine)), chunks[mine])
        k = np.arange(len(pair)) - np.repeat(np.cumsum(chunks[mine]) - chunks[mine], chunks[mine])
        differ = values[first_chunk[mine][pair] + k] != values[first_chunk[theirs][pair] + k]
        same[np.flatnonzero(same)[pair[differ]]] = False
        return same

    return hashed, equal


def _representatives(count: int, hashed, equal) -> np.ndarray:
    """For each of ``count`` items, the index of an item equal to it, the same for all the
    items equal to each other.

    Rounds of a hash table, as in :mod:`skillgym.rewards.ngrams`' distinct count: every
    unresolved item hashes to a slot (``hashed(items, round)``, 64-bit hashes whose top bits
    pick the slot, a new hash each round), writes its index there and reads back the index that
    remained. An item equal to that winner (``equal(items, winners)``, comparing whole
    contents) is resolved: equal items always meet at one slot. The others try again in the
    next round. A slot's winner is always resolved, so every round resolves at least one item
    and the rounds end; the hash only decides where items meet, never what is equal.
    """
    bits = max((2 * count - 1).bit_length(), 1)  # at least two slots per item
    table = np.empty(1 << bits, dtype=np.intp)
    indices = np.arange(count)
    representative = indices
    items: slice | np.ndarray = slice(None)
    hash_round = 0
    while True:
        slots = hashed(items, hash_round)
        slots >>= np.uint64(64 - bits)
        slots = slots.view(np.intp)
        table[slots] = indices[items]
        winners = table.take(slots)
        if hash_round:
            representative[items] = winners
        else:
            representative = winners
        lost = np.flatnonzero(~equal(items, winners))
        if not len(lost):
            return representative
        items = indices[items][lost]
        hash_round += 1
