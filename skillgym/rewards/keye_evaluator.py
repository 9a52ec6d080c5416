"""Keye-VL's published answer extraction, reproduced exactly, and the scanners it is built on.

Kwai grades Keye-VL's benchmark answers with the post-processing of its VLMEvalKit model
wrapper (``KeyeChat.post_process_func`` in Kwai-Keye/Keye,
``evaluation/KC-MMBench/vlmeval/vlm/keye_vlm/model.py``; the same code is in
open-compass/VLMEvalKit). :func:`keye_extract_answer` returns the same string as that function
for every input, quirks included, so that scores computed with it match Keye's published
numbers. :func:`skillgym.rewards.parsing.extract_answer` follows the same order but without the
quirks; it is the better choice for training rewards.

Both extractions share two matching rules of Keye's evaluator, implemented here in linear time:
the last ``re.findall(r"<answer>(.*?)</answer>", text, re.DOTALL)`` match
(:func:`last_answer_block`) and the brace counter that ends a ``\\boxed{`` (:func:`closing_brace`).
"""

from __future__ import annotations

import re
from typing import Any

from skillgym.rewards.base import as_text

_BRACE = re.compile(r"[{}]")
# Keye's evaluator tries "\boxed{" first and then "\x08oxed{": the same marker whose "\b" was read
# as a backspace escape (its second spelling is written in a non-raw Python string).
_KEYE_MARKERS = ("\\boxed{", "\x08oxed{")


def closing_brace(text: str) -> int | None:
    """The index of the first ``}`` in ``text`` that closes an already open brace, or ``None``.

    ``text`` is read as the inside of a ``{`` opened just before it: the count starts at one,
    each ``{`` adds one and each ``}`` takes one away.
    """
    depth = 1
    for match in _BRACE.finditer(text):
        depth += 1 if match.group() == "{" else -1
        if depth == 0:
            return match.start()
    return None


def last_answer_block(text: str) -> str | None:
    """The last match of ``<answer>(.*?)</answer>`` (``re.findall`` semantics), or ``None``.

    Found with ``str.find`` in one pass: ``re.findall`` itself takes quadratic time on a text
    with many ``<answer>`` tags and no ``</answer>``.
    """
    position, found = 0, None
    while True:
        opening = text.find("<answer>", position)
        if opening < 0:
            return found
        closing = text.find("</answer>", opening + 8)
        if closing < 0:
            return found
        found = text[opening + 8:closing]
        position = closing + 9


def _keye_box(text: str, marker: str) -> str | None:
    """What Keye's box matcher cuts out of ``text`` for ``marker``; ``None`` when its caller
    would see the text unchanged (it compares lengths) and so move on."""
    _, found, rest = text.rpartition(marker)
    if not found:
        # Without the marker the matcher scans the whole text as if a box were open before it.
        rest = text
    if not rest:
        return None  # nothing after the marker: the matcher returns its input as it was
    end = closing_brace(rest)
    if end is not None:
        return rest[:end]
    return rest if found else None


def _keye_boxed_or_text(text: str) -> str:
    """The first marker's cut, else the second's, else ``text`` itself."""
    for marker in _KEYE_MARKERS:
        cut = _keye_box(text, marker)
        if cut is not None:
            return cut
    return text


def keye_extract_answer(response: Any) -> str:
    """The answer string Keye-VL's own evaluator grades, character for character.

    Steps, as in Keye's code: keep what follows the last ``</analysis>`` (not stripped); then,
    if there is a ``</think>``, what follows the last one, stripped. Without an ``<answer>`` tag,
    return the box cut of the text (below) or the text itself. With one, take the last
    ``<answer>…</answer>`` match and return its box cut or the match itself (not stripped); when
    no pair closes, return the text as it is, tags included.

    The box cut reproduces three quirks of Keye's brace matcher, which matter only on malformed
    text but change benchmark scores when they happen:

    - ``\\boxed{`` is tried before its backspace spelling ``\\x08oxed{``, whatever their
      positions; the content runs to the brace that balances it, or to the end of the text;
    - a text with neither marker is still scanned as if a box were open before it: a stray
      ``}`` cuts the answer there (``"} 5"`` gives ``""``, ``"4 }"`` gives ``"4 "``);
    - a marker with nothing after it (a text ending in ``\\boxed{``) counts as no box, so the
      search falls through to the other marker and then to the brace scan of the whole text.

    Args:
        response: the model output; anything :func:`~skillgym.rewards.base.as_text` accepts
            (a string is used as is).

    Returns:
        The extracted answer, whitespace kept as Keye's evaluator keeps it.
    """
    text = as_text(response)
    if "</analysis>" in text:
        text = text.rpartition("</analysis>")[2]
    if "</think>" in text:
        text = text.rpartition("</think>")[2].strip()
    if "<answer>" not in text:
        return _keye_boxed_or_text(text)
    block = last_answer_block(text)
    return text if block is None else _keye_boxed_or_text(block)
