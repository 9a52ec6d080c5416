"""Parse responses in Keye-VL's five response modes into a structured result.

Keye-VL answers in one of these forms:

- **thinking** (``/think``): ``<think>…</think><answer>…</answer>``, the value often in
  ``\\boxed{}``;
- **non-thinking** (``/no_think``): a plain answer;
- **auto-think** (``/auto_think``, and Keye-VL-1.5's default when the prompt has no switch):
  ``<analysis>…</analysis>``, the analysis ending by choosing ``/think`` or ``/no_think``
  (Keye writes "Therefore, /no_think mode is more appropriate."), followed by the form it chose;
- **think with image** (``/agentic_think``): a ``<think>`` in which code is written, run by a
  sandbox, and its result inserted as ``<sandbox_output>…</sandbox_output>`` before the thinking
  goes on, then ``<answer>…</answer>`` (Keye-VL's and Thyme's real outputs keep code and output
  inside ``<think>``; ``<sandbox_output>`` between ``<think>`` blocks is accepted as well);
- **video**: any of the above (the form does not depend on the input modality).

The final answer is extracted in the order of Keye's own evaluator (split on ``</analysis>``,
then on ``</think>``, take the last ``<answer>…</answer>``, then its last ``\\boxed{}``);
``style="keye"`` reproduces that evaluator exactly, quirks included
(:mod:`~skillgym.rewards.keye_evaluator`). Every scan here is a linear pass with ``str.find`` or
a single-token regex, so a million-character response with thousands of unclosed tags parses in
linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from skillgym.rewards.base import as_text, check_choice
from skillgym.rewards.keye_evaluator import closing_brace, keye_extract_answer, last_answer_block

THINK = "think"
NO_THINK = "no_think"
AUTO_THINK = "auto_think"
AGENTIC_THINK = "agentic_think"

#: The modes a prompt can request, in the spelling of their switches (``/think`` ...).
MODES: tuple[str, ...] = (THINK, NO_THINK, AUTO_THINK, AGENTIC_THINK)

_TAGS = ("analysis", "think", "sandbox_output", "answer")
_TAG = re.compile(r"<(/?)(analysis|think|sandbox_output|answer)>")
_SWITCH = re.compile(r"(?<![\w/])/(agentic_think|auto_think|no_think|think)\b")
_CHOICE = re.compile(r"(?<![\w/])/(no_think|think)\b")
_CODE = re.compile(r"```|<code>")
# What follows the choice in Keye's own closing sentence "Therefore, /think mode is more
# appropriate.": strict parsing accepts it as the end of the analysis.
_CHOICE_SENTENCE_END = "mode is more appropriate"
_ANALYSIS_END_PUNCTUATION = " \t\r\n.。"

#: The answer extractions :func:`extract_answer` offers: skillgym's and Keye's evaluator's own.
EXTRACTION_STYLES: tuple[str, ...] = ("skillgym", "keye")
# Keye's evaluator also looks for "\x08oxed{": a "\boxed{" whose backslash-b was read as a
# backspace escape somewhere between the model and the grader.
_BOXED = ("\\boxed{", "\x08oxed{")


@dataclass(frozen=True)
class ParsedResponse:
    """A response taken apart.

    Attributes:
        mode: the form the response has: ``"think"``, ``"no_think"``, ``"auto_think"`` or
            ``"agentic_think"``.
        chosen_mode: for auto-think, the mode the analysis chose (``"think"`` / ``"no_think"``),
            ``None`` when it chose none (and for the other modes).
        answer_form: the form of the part after any analysis: ``"think"``, ``"no_think"`` or
            ``"agentic_think"``.
        analysis: the ``<analysis>`` content, or ``None``.
        thinking: the ``<think>`` content (blocks joined by a blank line; code and
            ``<sandbox_output>`` tags written inside it are kept), or ``None``.
        sandbox_outputs: the ``<sandbox_output>`` contents, in order, whether inside
            ``<think>`` or between blocks.
        answer: the final answer, extracted in Keye's evaluator order (``style="skillgym"``).
        format_errors: what breaks the strict format of ``mode``; empty when it is well formed.
    """

    mode: str
    chosen_mode: str | None
    answer_form: str
    analysis: str | None
    thinking: str | None
    sandbox_outputs: tuple[str, ...]
    answer: str
    format_errors: tuple[str, ...]

    @property
    def well_formed(self) -> bool:
        """Whether the response follows its own mode's format exactly."""
        return not self.format_errors

    @property
    def thinks(self) -> bool:
        """Whether the answer was reached through explicit thinking: a thinking or agentic
        answer with a non-empty ``<think>`` (AdaptThink spells "no thinking" as an empty one)."""
        return self.answer_form in (THINK, AGENTIC_THINK) and bool(
            (self.thinking or "").strip() or self.sandbox_outputs)


#: What :func:`with_switch` accepts: a mode, or ``"none"`` for a prompt without a switch.
SWITCH_CHOICES: tuple[str, ...] = (*MODES, "none")


def with_switch(prompt: str, mode: str) -> str:
    """``prompt`` with Keye's switch for ``mode`` appended (``"Calculate 2+3. /think"``);
    ``mode="none"`` leaves it without one, which Keye-VL-1.5 reads as auto-think.

    Raises:
        ValueError: ``mode`` is not one of :data:`SWITCH_CHOICES`.
    """
    check_choice("mode", mode, SWITCH_CHOICES)
    return prompt if mode == "none" else f"{prompt} /{mode}"


def requested_mode(prompt: Any, default: str | None = AUTO_THINK) -> str | None:
    """The mode a prompt switches to: its last ``/think``, ``/no_think``, ``/auto_think`` or
    ``/agentic_think``.

    Args:
        prompt: the prompt; anything :func:`~skillgym.rewards.base.as_text` accepts.
        default: the mode of a prompt without a switch (including an empty or missing one).
            Keye-VL-1.5 thinks automatically when the prompt has no suffix, hence
            ``"auto_think"``; ``None`` reports "no switch".

    Raises:
        ValueError: ``default`` is not one of :data:`MODES` or ``None``.
    """
    check_choice("default", default, (None, *MODES))
    switches = _SWITCH.findall(as_text(prompt))
    return switches[-1] if switches else default


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{…}`` in ``text`` (braces balanced), or ``None``.

    An unclosed box yields the rest of the text, as in Keye's evaluator; the later of the two
    spellings (``\\boxed{`` and its backspace form ``\\x08oxed{``) counts.
    """
    start = -1
    for marker in _BOXED:
        position = text.rfind(marker)
        if position >= 0 and position + len(marker) > start:
            start = position + len(marker)
    if start < 0:
        return None
    end = closing_brace(text[start:])
    return text[start:] if end is None else text[start:start + end]


def extract_answer(response: Any, style: str = "skillgym") -> str:
    """The final answer of a response, in Keye's evaluator order.

    Args:
        response: the model output; anything :func:`~skillgym.rewards.base.as_text` accepts.
        style: ``"skillgym"``: keep what follows the last ``</analysis>``, then what follows the
            last ``</think>``; take the last ``<answer>…</answer>`` block if there is one (else
            the whole remainder); return its last ``\\boxed{}`` content if it has one, else the
            block, stripped. ``"keye"``: Keye's own evaluator, character for character, quirks
            included (:func:`~skillgym.rewards.keye_evaluator.keye_extract_answer`), for
            reproducing Keye's benchmark numbers. They differ only in whitespace (Keye strips
            only after ``</think>``) and on malformed text: an unclosed ``<answer>`` (skillgym
            reads the remainder, Keye returns the text with its tags), a text ending in
            ``\\boxed{`` (skillgym: an empty answer, Keye: the whole text), a stray ``}``
            outside any box (Keye cuts the answer there), and which spelling of the box counts
            when both appear (skillgym: the later one, Keye: ``\\boxed{`` first).

    Raises:
        ValueError: ``style`` is not one of :data:`EXTRACTION_STYLES`.
    """
    check_choice("style", style, EXTRACTION_STYLES)
    if style == "keye":
        return keye_extract_answer(response)
    text = as_text(response)
    text = text.rpartition("</analysis>")[2] if "</analysis>" in text else text
    text = text.rpartition("</think>")[2] if "</think>" in text else text
    block = last_answer_block(text)
    block = text if block is None else block
    boxed = last_boxed(block)
    return (block if boxed is None else boxed).strip()


@dataclass(frozen=True)
class _Block:
    tag: str
    start: int  # index of the opening tag
    end: int  # index just past the closing tag
    content_start: int
    content_end: int

    def content(self, text: str) -> str:
        return text[self.content_start:self.content_end]


def _blocks(text: str, errors: list[str]) -> tuple[list[_Block], list[_Block]]:
    """The top-level tagged blocks of ``text`` and the ``<sandbox_output>`` blocks inside a
    ``<think>``, recording every other nesting and every balance error."""
    blocks: list[_Block] = []
    inside_think: list[_Block] = []
    open_tag: tuple[str, int, int] | None = None  # (tag, tag start, content start)
    open_output: tuple[int, int] | None = None  # a <sandbox_output> open inside open_tag
    for match in _TAG.finditer(text):
        closing, tag = match.group(1) == "/", match.group(2)
        if open_output is not None:
            if closing and tag == "sandbox_output":
                inside_think.append(_Block(tag, open_output[0], match.end(), open_output[1],
                                           match.start()))
                open_output = None
            elif closing:
                errors.append(f"</{tag}> inside <sandbox_output>")
            else:
                errors.append(f"<{tag}> nested inside <sandbox_output>")
        elif open_tag is None:
            if closing:
                errors.append(f"</{tag}> without <{tag}>")
            else:
                open_tag = (tag, match.start(), match.end())
        elif closing and tag == open_tag[0]:
            blocks.append(_Block(tag, open_tag[1], match.end(), open_tag[2], match.start()))
            open_tag = None
        elif not closing and tag == "sandbox_output" and open_tag[0] == THINK:
            # The sandbox writes its output into the thinking that asked for it.
            open_output = (match.start(), match.end())
        elif closing:
            errors.append(f"</{tag}> inside <{open_tag[0]}>")
        else:
            errors.append(f"<{tag}> nested inside <{open_tag[0]}>")
    if open_output is not None:
        errors.append("<sandbox_output> is never closed")
    if open_tag is not None:
        errors.append(f"<{open_tag[0]}> is never closed")
    return blocks, inside_think


def _check_between(text: str, blocks: list[_Block], errors: list[str]) -> None:
    """Strict forms allow only whitespace outside their blocks."""
    cursor = 0
    for block in blocks:
        if text[cursor:block.start].strip():
            errors.append(f"text before <{block.tag}>")
        cursor = block.end
    if blocks and text[cursor:].strip():
        errors.append(f"text after </{blocks[-1].tag}>")


def _code_before(text: str, thinking: list[_Block], position: int) -> bool:
    """Whether fenced code (```` ``` ```` or ``<code>``) is written in a ``<think>`` before
    ``position``."""
    return any(_CODE.search(text, block.content_start, min(block.content_end, position))
               for block in thinking if block.content_start < position)


def _answer_form(text: str, lenient: bool) -> tuple[str, tuple[str, ...], str | None, list[str]]:
    """Mode, sandbox outputs, thinking and format errors of an answer part (no analysis)."""
    errors: list[str] = []
    blocks, inside_think = _blocks(text, errors)
    tags = [block.tag for block in blocks]
    thinking_blocks = [block for block in blocks if block.tag == THINK]
    outputs = sorted(inside_think + [block for block in blocks if block.tag == "sandbox_output"],
                     key=lambda block: block.start)
    sandbox = tuple(block.content(text) for block in outputs)
    thinking = ("\n\n".join(block.content(text) for block in thinking_blocks)
                if thinking_blocks else None)
    if "analysis" in tags:
        errors.append("<analysis> outside auto-think")
    if sandbox:
        mode = AGENTIC_THINK
        # Code is not always fenced (the reports' transcripts show none): leniency lets it pass.
        if not lenient and not _code_before(text, thinking_blocks, outputs[0].start):
            errors.append("<sandbox_output> without code in a <think> before it")
    elif thinking is not None or "</think>" in text or "<think>" in text:
        mode = THINK
        if not thinking_blocks and lenient and "</think>" in text:
            # Chat templates often put "<think>" in the prompt: the completion starts mid-thought.
            thinking = text.partition("</think>")[0]
            errors = [error for error in errors if error != "</think> without <think>"]
        if len(thinking_blocks) > 1:
            errors.append("more than one <think> block")
    else:
        mode = NO_THINK
        if not text.strip():
            errors.append("empty answer")
        return mode, sandbox, thinking, errors
    answers = [block for block in blocks if block.tag == "answer"]
    if not answers:
        if not lenient:
            errors.append("missing <answer>")
    else:
        if len(answers) > 1:
            errors.append("more than one <answer> block")
        if blocks[-1].tag != "answer":
            errors.append("<answer> is not the last block")
    if not lenient:
        _check_between(text, blocks, errors)
    return mode, sandbox, thinking, errors


def parse_response(response: Any, *, lenient: bool = False) -> ParsedResponse:
    """Take a response apart into mode, analysis, thinking, sandbox outputs and answer.

    Args:
        response: the model output; anything :func:`~skillgym.rewards.base.as_text` accepts.
        lenient: accept the common near-misses that graders usually let pass: text around the
            blocks, a missing ``<think>`` (when the chat template opened it), an answer outside
            ``<answer>`` tags, an analysis whose choice is not its last word, a sandbox output
            after code that is not fenced. ``False`` (strict) reports each of these as a format
            error. Both accept Keye's own closing sentence of an analysis ("Therefore, /think
            mode is more appropriate.") as ending with the choice.

    Returns:
        A :class:`ParsedResponse`; the answer is always extracted (in Keye's evaluator order,
        ``extract_answer(response)``), whether or not the format is right.
    """
    text = as_text(response)
    answer = extract_answer(text)
    if "<analysis>" not in text and "</analysis>" not in text:
        mode, sandbox, thinking, errors = _answer_form(text, lenient)
        return ParsedResponse(mode, None, mode, None, thinking, sandbox, answer, tuple(errors))

    errors: list[str] = []
    head, closed, rest = text.partition("</analysis>")
    opening = head.find("<analysis>")
    if opening < 0:
        errors.append("</analysis> without <analysis>")
        analysis = head
    else:
        if head[:opening].strip() and not lenient:
            errors.append("text before <analysis>")
        analysis = head[opening + len("<analysis>"):]
    if not closed:
        errors.append("<analysis> is never closed")
    if "<analysis>" in analysis or "</analysis>" in rest:
        errors.append("more than one <analysis> block")
    choices = list(_CHOICE.finditer(analysis))
    chosen = choices[-1].group(1) if choices else None
    if chosen is None:
        errors.append("analysis chooses neither /think nor /no_think")
    elif not lenient and analysis[choices[-1].end():].strip(_ANALYSIS_END_PUNCTUATION) not in (
            "", _CHOICE_SENTENCE_END):
        errors.append("analysis does not end with its choice")
    form, sandbox, thinking, form_errors = _answer_form(rest, lenient)
    errors.extend(form_errors)
    if chosen is not None and form != chosen:
        errors.append(f"analysis chose /{chosen} but the answer is in {form} form")
    return ParsedResponse(AUTO_THINK, chosen, form, analysis, thinking, sandbox, answer,
                          tuple(errors))
