"""Traces: every line parsed back and checked with Python integers, golden examples, agreement
with the oracle's own calls, and bad input."""

from __future__ import annotations

import re

import pytest

from skillgym.envs.aec import solve
from skillgym.envs.keye.tasks import LEVEL_NUMBERS, sample_problems
from skillgym.envs.keye.traces import operation_lines, render_trace

EXPRESSION = re.compile(r"[\d+\-*/()]+")
COMPARE = re.compile(r"(\d+)([<>=])(\d+)")
ONE_COLUMN = re.compile(r"(\d)([+\-*])(\d)=(\d+)")
COLUMNS = re.compile(r"(\d+)([+\-*])(\d+): (.+) =(\d+)")
DIVISION = re.compile(r"(\d+)/(\d+): (.+) =(\d+)")


def python_value(text: str) -> int:
    """An expression line's value by Python (``/`` is floor division); only arithmetic passes."""
    assert EXPRESSION.fullmatch(text), text
    return eval(text.replace("/", "//"))


def digits(value: int) -> list[int]:
    return [int(d) for d in reversed(str(value))]


def check_columns(a: int, op: str, b: int, columns: list[str], result: int) -> None:
    """Each column uses the operands' digits from the units up and the carry (borrow) of the one
    before; the result is the operation's value and is what the columns leave."""
    assert result == {"+": a + b, "-": a - b, "*": a * b}[op]
    da, db = digits(a), digits(b)
    assert len(columns) >= len(da) and (op == "-" or len(columns) >= len(db))
    if op == "*":
        assert b < 10
    carry, values = 0, []
    for i, column in enumerate(columns):
        ai = da[i] if i < len(da) else 0
        bi = db[i] if i < len(db) else 0
        if op == "+":
            x, y, plus, total = re.fullmatch(r"(\d)\+(\d)(\+1)?=(\d+)", column).groups()
            assert (int(x), int(y), bool(plus)) == (ai, bi, bool(carry))
            value = ai + bi + carry
            assert int(total) == value
            carry = int(value >= 10)
        elif op == "-":
            minuend, y, minus, difference = re.fullmatch(r"(\d+)-(\d)(-1)?=(\d)", column).groups()
            borrow = int(ai - bi - carry < 0)
            assert (int(minuend), int(y), bool(minus)) == (ai + 10 * borrow, bi, bool(carry))
            value = int(minuend) - bi - carry
            assert int(difference) == value
            carry = borrow
        else:
            x, y, high = re.fullmatch(r"(\d)\*(\d)(?:\+(\d))?=(\d+)", column).groups()[:3]
            total = int(column.rpartition("=")[2])
            assert (int(x), int(y), int(high or 0)) == (ai, b, carry)
            value = ai * b + carry
            assert total == value
            carry = value // 10
        values.append(value)
    assert carry == 0 or op != "-"
    leave = str(values[-1]) + "".join(str(v % 10) for v in reversed(values[:-1]))
    assert int(leave) == result


def expected_division(dividend: int, divisor: int) -> list[str]:
    """Long division by repeated subtraction, digit by digit from the top (reference)."""
    items, remainder = [], 0
    for digit in str(dividend):
        window = remainder * 10 + int(digit)
        count = 0
        while window >= divisor:
            items.append(f"{window}-{divisor}={window - divisor}")
            window -= divisor
            count += 1
            items.append(f"q{count}")
        items.append(f"{window}<{divisor}")
        if count == 0:
            items.append("q0")
        remainder = window
    return items


def check_line(line: str) -> None:
    """One operation line, checked with Python integers."""
    if match := COMPARE.fullmatch(line):
        a, verdict, b = match.groups()
        assert verdict == ("<" if int(a) < int(b) else ">" if int(a) > int(b) else "=")
    elif match := ONE_COLUMN.fullmatch(line):
        a, op, b, value = match.groups()
        check_columns(int(a), op, int(b), [line], int(value))
    elif match := COLUMNS.fullmatch(line):
        a, op, b, columns, result = match.groups()
        check_columns(int(a), op, int(b), columns.split(" "), int(result))
    elif match := DIVISION.fullmatch(line):
        a, b, items, quotient = match.groups()
        assert int(quotient) == int(a) // int(b)
        assert items.split(" ") == expected_division(int(a), int(b))
    else:
        raise AssertionError(f"unreadable line {line!r}")


def check_trace(text: str) -> None:
    """Expression lines keep the value and lose one operator each; the lines between them are
    correct; the last line is the answer."""
    trace = render_trace(text)
    answer = python_value(text.replace(" ", ""))
    assert trace.answer == answer and type(trace.answer) is int
    assert trace.lines[-1] == str(answer)
    expressions = [i for i, line in enumerate(trace.lines) if EXPRESSION.fullmatch(line)]
    assert expressions[0] == 0 and expressions[-1] == len(trace.lines) - 1
    operators = [len(re.findall(r"(?<=[\d)])[+\-*/]", trace.lines[i])) for i in expressions]
    assert operators == list(range(operators[0], -1, -1))
    for i in expressions:
        assert python_value(trace.lines[i]) == answer
    for line in trace.lines:
        if not EXPRESSION.fullmatch(line):
            check_line(line)


GOLDEN = {
    "(12*34-6)/3": (
        "(12*34-6)/3",
        "12*4: 2*4=8 1*4=4 =48",
        "12*3: 2*3=6 1*3=3 =36",
        "48+360: 8+0=8 4+6=10 0+3+1=4 =408",
        "(408-6)/3",
        "408>6",
        "408-6: 8-6=2 0-0=0 4-0=4 =402",
        "402/3",
        "402/3: 4-3=1 q1 1<3 10-3=7 q1 7-3=4 q2 4-3=1 q3 1<3 "
        "12-3=9 q1 9-3=6 q2 6-3=3 q3 3-3=0 q4 0<3 =134",
        "134",
    ),
    "7-12*3": ("7-12*3", "12*3: 2*3=6 1*3=3 =36", "7-36", "7<36", "36-7: 16-7=9 3-0-1=2 =29",
               "-29"),
    "47*83": ("47*83", "47*3: 7*3=21 4*3+2=14 =141", "47*8: 7*8=56 4*8+5=37 =376",
              "141+3760: 1+0=1 4+6=10 1+7+1=9 0+3=3 =3901", "3901"),
    "-5-7": ("-5-7", "5+7=12", "-12"),
    "-7/2": ("-7/2", "7/2: 7-2=5 q1 5-2=3 q2 3-2=1 q3 1<2 =3", "1>0", "3+1=4", "-4"),
    "12/3": ("12/3", "12/3: 1<3 q0 12-3=9 q1 9-3=6 q2 6-3=3 q3 3-3=0 q4 0<3 =4", "4"),
    "4821": ("4821",),
}


@pytest.mark.parametrize("text", sorted(GOLDEN))
def test_golden_traces(text):
    assert render_trace(text).lines == GOLDEN[text]
    check_trace(text)


@pytest.mark.parametrize(
    "text", ["0*45", "10*20", "3*400", "99*99*9", "401-398", "52-17", "0/7", "(3-12)/3", "7/-2",
             "-3*-4", "5-5", "99+1", "-(2-9)*-3", "1-2-3", "84/12"]
)
def test_edge_cases_are_correct_line_by_line(text):
    check_trace(text)


@pytest.mark.parametrize("level", LEVEL_NUMBERS)
def test_every_level_line_by_line(level):
    for problem in sample_problems(level, 150, seed=11):
        check_trace(problem.text)


def test_the_lines_are_the_oracles_calls():
    """Per problem, as many STOREs, COMPAREs of X and Y, MULD calls and DIV subtractions as the
    oracle's own trace (solve) makes."""
    for problem in sample_problems(6, 60, seed=5):
        trace = render_trace(problem.text).lines
        actions = [step.action for step in solve(problem.text).trace]
        expressions = sum(bool(EXPRESSION.fullmatch(line)) for line in trace)
        assert actions.count("STORE") == expressions - 1
        # "r>0" right after a division is EVAL's remainder check, not a COMPARE of X and Y
        compares = sum(bool(COMPARE.fullmatch(line)) and not DIVISION.fullmatch(before)
                       for before, line in zip(("",) + trace[:-1], trace, strict=True))
        assert actions.count("CALL(COMPARE, X Y CMP)") == compares
        mulds = sum(bool(re.fullmatch(r"\d+\*\d(:.*|=\d+)", line)) for line in trace)
        assert actions.count("CALL(MULD, IN1 IN2 CARRY PART)") == mulds
        subtractions = sum(len(re.findall(r"\d+-\d+=\d+", line)) for line in trace if "/" in line
                           and "q" in line)
        assert actions.count("CALL(SUB, REM DIVISOR BORROW REM)") == subtractions


def test_operations_are_cached():
    operation_lines.cache_clear()
    operation_lines(47, "*", 83)
    operation_lines(47, "*", 83)
    assert operation_lines.cache_info().hits == 1


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="malformed expression"):
        render_trace("3+")
    with pytest.raises(ZeroDivisionError, match="divisor is 0"):
        render_trace("(4-4)+1/0")
    with pytest.raises(ValueError, match="op must be one of"):
        operation_lines(1, "%", 2)
