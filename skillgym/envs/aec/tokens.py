"""The scratchpad's token vocabulary and the conversions between numbers and token rows.

Numbers are stored little-endian on a row: column 0 is a margin that is always blank, the units
digit sits in column 1, tens in column 2, and so on, so a row grows to the right with the number
and every pointer that walks "left" (towards more significant digits) increases its column.
"""

from __future__ import annotations

import numpy as np

BLANK = 10
PLUS, MINUS, TIMES, DIVIDE = 11, 12, 13, 14
LPAREN, RPAREN = 15, 16
EQUALS = 17  # ends an expression; also COMPARE's "equal" verdict
NEG = 18  # unary minus: the sign of a number, or the negation of a bracket
LESS, GREATER = 19, 20
NUM_TOKENS = 21

TOKEN_TEXT = tuple("0123456789") + ("_", "+", "-", "*", "/", "(", ")", "=", "~", "<", ">")
BINARY_OPERATORS = frozenset({PLUS, MINUS, TIMES, DIVIDE})

# The first number column; column 0 stays blank so that a pointer can step off a number's
# least significant end and see a blank there, exactly as it does past the most significant end.
UNITS = 1


def digit_value(token: int) -> int:
    """The value of a token in column arithmetic: a digit is itself, anything else counts as 0."""
    return token if token < 10 else 0


def digits_of(value: int) -> list[int]:
    """Little-endian decimal digits of a non-negative integer (``0`` gives ``[0]``)."""
    if value < 0:
        raise ValueError(f"digits_of: value must be non-negative, got {value}")
    return [int(ch) for ch in reversed(str(value))]


def write_number(grid: np.ndarray, row: int, value: int, length: int | None = None) -> None:
    """Write ``value`` little-endian from the units column, zero-padded to ``length`` digits."""
    digits = digits_of(value)
    if length is not None:
        digits += [0] * (length - len(digits))
    grid[row, UNITS : UNITS + len(digits)] = digits


def read_number(row: np.ndarray) -> int | None:
    """The number a row holds, or ``None`` unless it is one run of digits from the units column.

    Leading zeros are allowed (subtraction leaves them); a blank inside the run, a non-digit token
    or anything written after the run makes the row unreadable.
    """
    tokens = row[UNITS:]
    blanks = np.flatnonzero(tokens >= 10)
    length = int(blanks[0]) if blanks.size else tokens.size
    if length == 0 or np.any(tokens[length:] != BLANK):
        return None
    return int("".join(str(int(t)) for t in tokens[length - 1 :: -1]))


def render(tokens) -> str:
    """Tokens as text, in the order given (use ``[::-1]`` on a number row to read it)."""
    return "".join(TOKEN_TEXT[int(t)] for t in tokens)
