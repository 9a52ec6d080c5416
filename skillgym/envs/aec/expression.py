"""Integer expressions as token lists: parsing, a reference evaluator, and EVAL's row operations.

An expression is kept as the tokens of its EXPR row, in reading order: numbers as their digits
(most significant first) with a leading ``NEG`` when negative, the binary operators ``+ - * /``,
brackets, and a ``NEG`` before a bracket that is negated. ``/`` is Python's floor division ``//``.

The parser accepts what reasoning-gym's ``basic_arithmetic`` writes (``-(``, ``3 - -5``, any
spacing, ``/`` meaning floor division) plus ``//``, ``×``, ``÷`` and the minus sign ``−``.
"""

from __future__ import annotations

from skillgym.envs.aec.tokens import (
    BINARY_OPERATORS,
    BLANK,
    DIVIDE,
    EQUALS,
    LPAREN,
    MINUS,
    NEG,
    PLUS,
    RPAREN,
    TIMES,
)

_OPERATOR_CHARS = {
    "+": PLUS,
    "-": MINUS,
    "−": MINUS,
    "*": TIMES,
    "×": TIMES,
    "/": DIVIDE,
    "÷": DIVIDE,
}
_TEXT = {PLUS: " + ", MINUS: " - ", TIMES: " * ", DIVIDE: " // ", LPAREN: "(", RPAREN: ")"}


def parse(text: str) -> list[int]:
    """The normalised token list of ``text``; a ``ValueError`` says what is malformed and where.

    Unary minus folds into the number it precedes (``--5`` is ``5``) or becomes a ``NEG`` before a
    bracket; a bracket around a single number is removed. A trailing ``=`` is allowed.
    """
    if not isinstance(text, str):
        raise TypeError(f"expression must be a str, got {type(text).__name__}")

    def fail(problem: str) -> ValueError:
        return ValueError(f"malformed expression {text!r}: {problem}")

    tokens: list[int] = []
    negations = 0  # unary minuses waiting for their operand
    expect_operand = True
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "0123456789":
            if not expect_operand:
                raise fail(f"missing operator before the number at position {i}")
            j = i
            while j < len(text) and text[j] in "0123456789":
                j += 1
            tokens += number_tokens(-int(text[i:j]) if negations % 2 else int(text[i:j]))
            negations, expect_operand, i = 0, False, j
        elif ch in _OPERATOR_CHARS:
            op = _OPERATOR_CHARS[ch]
            if op == MINUS and expect_operand:
                negations += 1
                i += 1
                continue
            if expect_operand:
                raise fail(f"operator {ch!r} at position {i} has no left operand")
            if text.startswith("**", i):
                raise fail(f"'**' at position {i}: powers are not supported")
            tokens.append(op)
            expect_operand = True
            i += 2 if text.startswith("//", i) else 1
        elif ch == "(":
            if not expect_operand:
                raise fail(f"missing operator before '(' at position {i}")
            if negations % 2:
                tokens.append(NEG)
            tokens.append(LPAREN)
            negations, depth, i = 0, depth + 1, i + 1
        elif ch == ")":
            if expect_operand:
                raise fail(f"missing operand before ')' at position {i}")
            if depth == 0:
                raise fail(f"')' at position {i} closes no bracket")
            tokens.append(RPAREN)
            depth, i = depth - 1, i + 1
        elif ch == "=" and not text[i + 1 :].strip():
            break
        else:
            raise fail(f"unexpected character {ch!r} at position {i}")
    if not tokens and expect_operand:
        raise fail("it is empty")
    if expect_operand:
        raise fail("it ends without a last operand")
    if depth:
        raise fail(f"{depth} bracket(s) not closed")
    return simplify(tokens)


def number_tokens(value: int) -> list[int]:
    """The tokens of a number: ``NEG`` if negative, then its digits, most significant first."""
    return ([NEG] if value < 0 else []) + [int(ch) for ch in str(abs(value))]


def to_text(tokens: list[int]) -> str:
    """Python-readable text of a token list (``/`` written as ``//``)."""
    parts = []
    for token in tokens:
        if token == EQUALS:
            break
        parts.append(str(token) if token < 10 else "-" if token == NEG else _TEXT[token])
    return "".join(parts)


def _number_end(tokens: list[int], start: int) -> int:
    """The index after the number starting at ``start`` (after its optional ``NEG``)."""
    end = start + 1 if tokens[start] == NEG else start
    while end < len(tokens) and tokens[end] < 10:
        end += 1
    return end


def _number_value(tokens: list[int], start: int, end: int) -> int:
    magnitude = int("".join(str(t) for t in tokens[start:end] if t < 10))
    return -magnitude if tokens[start] == NEG else magnitude


def _is_number_at(tokens: list[int], start: int) -> bool:
    if start >= len(tokens):
        return False
    if tokens[start] == NEG:
        return start + 1 < len(tokens) and tokens[start + 1] < 10
    return tokens[start] < 10


def lone_number(tokens: list[int]) -> int | None:
    """The value of a token list that is exactly one number, else ``None``."""
    if not _is_number_at(tokens, 0) or _number_end(tokens, 0) != len(tokens):
        return None
    return _number_value(tokens, 0, len(tokens))


def simplify(tokens: list[int]) -> list[int]:
    """Remove every bracket around a lone number, applying a ``NEG`` in front of it."""
    tokens = list(tokens)
    i = 0
    while i < len(tokens):
        if tokens[i] == LPAREN and _is_number_at(tokens, i + 1):
            end = _number_end(tokens, i + 1)
            if end < len(tokens) and tokens[end] == RPAREN:
                value = _number_value(tokens, i + 1, end)
                start = i
                if i > 0 and tokens[i - 1] == NEG:
                    value, start = -value, i - 1
                tokens[start : end + 1] = number_tokens(value)
                i = 0
                continue
        i += 1
    return tokens


def evaluate(tokens: list[int]) -> tuple[int, int]:
    """The value of a token list and the largest magnitude met on the way (operands included).

    Raises ``ZeroDivisionError`` naming the division whose divisor is 0.
    """
    position = 0
    largest = 0

    def note(value: int) -> int:
        nonlocal largest
        largest = max(largest, abs(value))
        return value

    def factor() -> int:
        nonlocal position
        if tokens[position] == NEG and tokens[position + 1] == LPAREN:
            position += 1
            return note(-factor())
        if tokens[position] == LPAREN:
            position += 1
            value = expr()
            position += 1  # the closing bracket
            return value
        end = _number_end(tokens, position)
        value = _number_value(tokens, position, end)
        position = end
        return note(value)

    def term() -> int:
        nonlocal position
        start = position
        value = factor()
        while position < len(tokens) and tokens[position] in (TIMES, DIVIDE):
            op = tokens[position]
            position += 1
            divisor_start = position
            right = factor()
            if op == TIMES:
                value = note(value * right)
            elif right == 0:
                raise ZeroDivisionError(
                    f"division by zero: {to_text(tokens[start : divisor_start - 1])} // "
                    f"{to_text(tokens[divisor_start:position])}, and the divisor is 0"
                )
            else:
                value = note(value // right)
        return value

    def expr() -> int:
        nonlocal position
        value = term()
        while position < len(tokens) and tokens[position] in (PLUS, MINUS):
            op = tokens[position]
            position += 1
            right = term()
            value = note(value + right if op == PLUS else value - right)
        return value

    return expr(), largest


def next_operator(tokens: list[int]) -> int | None:
    """The index of the operator EVAL applies next, or ``None`` when one number remains.

    Inside the innermost bracket (the one closed first), or the whole expression without
    brackets: the leftmost ``*`` or ``/``, else the leftmost ``+`` or ``-``.
    """
    end = tokens.index(RPAREN) if RPAREN in tokens else len(tokens)
    start = 0
    if end < len(tokens):
        start = max(i for i in range(end) if tokens[i] == LPAREN) + 1
    operators = [i for i in range(start, end) if tokens[i] in BINARY_OPERATORS]
    for i in operators:
        if tokens[i] in (TIMES, DIVIDE):
            return i
    return operators[0] if operators else None


def operands(tokens: list[int], op: int) -> tuple[int, int, int, int] | None:
    """``(start, left, right, end)`` of the two numbers around the operator at ``op``.

    ``None`` if ``op`` is not a binary operator with a number on each side.
    """
    if not 0 < op < len(tokens) - 1 or tokens[op] not in BINARY_OPERATORS:
        return None
    start = op
    while start > 0 and tokens[start - 1] < 10:
        start -= 1
    if start == op:
        return None
    if start > 0 and tokens[start - 1] == NEG:
        start -= 1
    if not _is_number_at(tokens, op + 1):
        return None
    end = _number_end(tokens, op + 1)
    return start, _number_value(tokens, start, op), _number_value(tokens, op + 1, end), end


def replace(tokens: list[int], start: int, end: int, value: int) -> list[int]:
    """``tokens`` with ``tokens[start:end]`` replaced by ``value``, then simplified."""
    return simplify(tokens[:start] + number_tokens(value) + tokens[end:])


def row_tokens(row) -> list[int]:
    """The expression on an EXPR row: the tokens before its ``=`` marker."""
    tokens = [int(t) for t in row]
    return tokens[: tokens.index(EQUALS)] if EQUALS in tokens else [t for t in tokens if t != BLANK]
