"""Parsing, the reference evaluator and the expression generator, against Python's own ``eval``."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillgym.envs.aec.expression import (
    evaluate,
    lone_number,
    next_operator,
    operands,
    parse,
    to_text,
)
from skillgym.envs.aec.generator import ExpressionConfig, Uniforms, generate
from skillgym.envs.aec.tasks import EVAL_LEVELS
from skillgym.envs.aec.tokens import BLANK, UNITS, read_number, write_number


def python(text: str) -> int:
    """Python's value of an expression written with reasoning-gym's ``/`` (floor division)."""
    text = text.replace("×", "*").replace("÷", "/").replace("−", "-").rstrip("= ")
    return eval(re.sub(r"/+", "//", text))


@pytest.mark.parametrize(
    "text",
    [
        "3*(4+-5)//2",
        "-( 3 + 4 ) / 2",  # reasoning-gym's negated bracket
        "-(-716 - -862) + 93",
        "5 - -3",
        "-7 // 2",
        "7 // -2",
        "(1 - 2) * -(3 + -4) / 1",
        "12 × 3 ÷ 4 − 1 =",
        "  42  ",
        "((7))",
        "- -5",
        "0 * -9",
        "100000000000000000000 * 99999999999999999999 // 7",
    ],
)
def test_parse_and_evaluate_agree_with_python(text):
    tokens = parse(text)
    assert evaluate(tokens)[0] == python(text)
    assert python(to_text(tokens)) == python(text)
    assert parse(to_text(tokens)) == tokens


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("3 +", "ends without a last operand"),
        ("* 3", r"operator '\*' at position 0 has no left operand"),
        ("3 4", "missing operator before the number at position 2"),
        ("2 (3)", r"missing operator before '\(' at position 2"),
        ("(3", r"1 bracket\(s\) not closed"),
        ("3)", r"'\)' at position 1 closes no bracket"),
        ("()", r"missing operand before '\)' at position 1"),
        ("2 ** 3", "powers are not supported"),
        ("3 & 4", "unexpected character '&' at position 2"),
        ("1.5 + 2", r"unexpected character '\.' at position 1"),
        ("1 = 2", "unexpected character '=' at position 2"),
    ],
)
def test_malformed_expressions_say_what_and_where(text, message):
    with pytest.raises(ValueError, match=message):
        parse(text)


def test_parse_refuses_non_strings():
    with pytest.raises(TypeError, match="expression must be a str, got int"):
        parse(12)


@pytest.mark.parametrize(
    ("text", "shown"), [("1 / 0", "1 // 0"), ("4 // (2 - 2) + 1", "4 // (2 - 2)")]
)
def test_division_by_zero_names_the_division(text, shown):
    with pytest.raises(ZeroDivisionError, match=re.escape(shown)):
        evaluate(parse(text))


def test_next_operator_takes_the_innermost_bracket_then_precedence():
    tokens = parse("1 + 2 * (3 - 4 * 5) - 6")
    op = next_operator(tokens)
    assert to_text(tokens[op - 1 : op + 2]) == "4 * 5"
    tokens = parse("1 - 2 + 3 * 4 // 5")
    start, left, right, _ = operands(tokens, next_operator(tokens))
    assert (left, right) == (3, 4)
    assert next_operator(parse("-17")) is None and lone_number(parse("-17")) == -17


def _rational(text: str) -> Fraction:
    """The expression's value in exact rationals: its value when every division is exact."""
    return eval(re.sub(r"(\d+)", r"Fraction(\1)", text), {"Fraction": Fraction})


@pytest.mark.parametrize("level", range(1, len(EVAL_LEVELS) + 1))
def test_generated_expressions_evaluate_like_python_and_divide_as_configured(level):
    config = EVAL_LEVELS[level - 1]
    inexact = 0
    for counter in range(300):
        text, value = generate(config, Uniforms(np.uint64(17), counter, 100))
        assert python(text) == value == evaluate(parse(text))[0]
        if not config.inexact_share:
            assert _rational(text) == value, text
        inexact += _rational(text) != value
        terms = len(re.findall(r"\d+", text))
        assert config.min_terms <= terms <= config.max_terms
        assert ("(" in text) <= config.parentheses
        assert set(re.findall(r"[+*/]|(?<=\s)-(?=\s)", text)) <= set(config.operators)
    # a level that mixes in inexact divisions shows them
    assert (inexact > 0) == (config.inexact_share > 0)


def test_a_share_of_inexact_divisions_leaves_other_configurations_unchanged():
    exact = ExpressionConfig(2, 3, 1, 2, "/", parentheses=False)
    mixed = ExpressionConfig(2, 3, 1, 2, "/", parentheses=False, inexact_share=0.5)
    drawn = {share: [generate(config, Uniforms(np.uint64(9), c, 100)) for c in range(200)]
             for share, config in ((0.0, exact), (0.5, mixed))}
    # without a share nothing extra is drawn: the expressions drawn before the share existed
    assert drawn[0.0][:3] == [("82 / 1 / -1", -82), ("-1 / 1 / -1", 1), ("-6 / 6 / 1", -1)]
    remainders = sum(_rational(text) != value for text, value in drawn[0.5])
    assert sum(_rational(text) != value for text, value in drawn[0.0]) == 0
    assert 40 < remainders < 160


def test_generator_is_a_pure_function_of_key_and_counter():
    draw = [generate(ExpressionConfig(), Uniforms(np.uint64(5), c, 100)) for c in (0, 1, 0)]
    assert draw[0] == draw[2] != draw[1]


@pytest.mark.parametrize(
    "kwargs",
    [{"min_terms": 0}, {"min_terms": 3, "max_terms": 2}, {"min_digits": 0}, {"operators": "+^"},
     {"inexact_share": 1.5}, {"inexact_share": -0.1}],
)
def test_expression_config_refuses_bad_ranges(kwargs):
    with pytest.raises(ValueError, match="min_|operators must be|inexact_share must be in"):
        ExpressionConfig(**kwargs)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**60), st.integers(0, 5))
def test_numbers_round_trip_through_a_row(value, padding):
    length = len(str(value)) + padding
    row = np.full((1, length + 3), BLANK, dtype=np.int64)
    write_number(row, 0, value, length)
    assert read_number(row[0]) == value
    assert row[0, 0] == BLANK and row[0, UNITS + length] == BLANK


def test_read_number_refuses_broken_rows():
    assert read_number(np.array([BLANK, BLANK, BLANK])) is None
    assert read_number(np.array([BLANK, 1, BLANK, 2])) is None
    assert read_number(np.array([BLANK, 1, 11])) is None
