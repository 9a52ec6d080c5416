"""Floor division on every sign and remainder case: the oracle's EVAL against Python's ``//``,
the division table the benchmark tests learned skills on, and EVAL's training levels."""

from __future__ import annotations

from collections import Counter

import pytest

from skillgym.envs.aec.problems import (
    FORMS,
    REMAINDERS,
    division_cases,
    division_problems,
)
from skillgym.envs.aec.solve import solve
from skillgym.envs.aec.tasks import EVAL_LEVELS, TASKS


def python(text: str) -> int:
    """The independent oracle: Python's integer ``//`` for the expression's ``/``."""
    return eval(text.replace("/", "//"))


def test_every_sign_and_remainder_of_one_division_matches_python():
    # every dividend -12..12 over every divisor +-1..+-5: exact and inexact, quotient 0, -1 and
    # larger, zero dividends, equal magnitudes
    for a in range(-12, 13):
        for b in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5):
            assert solve(f"{a} / {b}").answer == a // b, f"{a} // {b}"
    for a, b in ((-1234, 7), (1234, -7), (-1234, -7), (999, -1000), (-999, 1000), (-98, 7)):
        assert solve(f"{a} / {b}").answer == a // b, f"{a} // {b}"


def test_divisions_of_every_cell_inside_expressions_match_python():
    # one problem per sign x remainder x form cell, each at depth 0 and 1
    for item in division_problems(per_case=1, max_depth=1, seed=3):
        assert solve(item.problem.text).answer == python(item.problem.text), item.case


def test_the_division_table_covers_every_cell_with_the_stated_operands():
    table = division_problems()
    assert len(table) == len(division_cases()) * 8 == 10_240
    assert Counter(item.case for item in table) == dict.fromkeys(division_cases(), 8)
    for item in table:
        case, a, b, text = item.case, item.dividend, item.divisor, item.problem.text
        assert item.problem.answer == python(text), text
        assert (b < 0) == case.divisor_negative and b != 0
        assert (a < 0) == case.dividend_negative or a == 0
        kind = {True: "exact", False: "remainder"}[a % b == 0]
        if a == 0:
            assert case.remainder == "zero dividend"
        elif abs(a) == abs(b):
            assert case.remainder == "exact, |a| = |b|"
        else:
            sizes = "|a| > |b|" if abs(a) > abs(b) else "|a| < |b|"
            assert case.remainder == ("exact" if kind == "exact" else f"remainder, {sizes}")
        assert text.count("(") == text.count(")") >= case.depth
    # opposite signs with a remainder: the quotient rounds down, away from truncation
    rounded = [i for i in table if i.dividend % i.divisor and (i.dividend < 0) != (i.divisor < 0)]
    assert len(rounded) == 2 * 2 * 16 * 4 * 8
    assert all(i.dividend // i.divisor == -(abs(i.dividend) // abs(i.divisor)) - 1 for i in rounded)
    assert {i.case.dividend_form for i in table} == {i.case.divisor_form for i in table} == set(
        FORMS)
    assert {i.case.remainder for i in table} == set(REMAINDERS)


def test_the_division_table_is_a_function_of_its_seed():
    first = [item.problem.text for item in division_problems(per_case=1, max_depth=0, seed=5)]
    again = [item.problem.text for item in division_problems(per_case=1, max_depth=0, seed=5)]
    other = [item.problem.text for item in division_problems(per_case=1, max_depth=0, seed=6)]
    assert first == again != other
    with pytest.raises(ValueError, match="per_case must be >= 0"):
        division_problems(per_case=-1)
    with pytest.raises(ValueError, match="max_depth must be >= 0"):
        division_cases(max_depth=-1)


def _branches(level: int, count: int) -> Counter:
    """How often EVAL's oracle takes each floor-division branch over ``count`` episodes."""
    seen: Counter = Counter()
    for counter in range(count):
        actions = [s.action for s in solve(TASKS["EVAL"].sample(1, counter, level).text).trace
                   if s.depth == 0]
        for before, after in zip(actions, actions[1:], strict=False):
            if before == "CALL(COMPARE, X ZERO CMP)":
                seen["rounded down" if after == "CALL(ADD, Z ONE CARRY Z)" else "exact"] += 1
    return seen


@pytest.mark.parametrize("level", [4, 5])
def test_eval_training_levels_round_negative_inexact_quotients_down(level):
    # Opposite signs with a remainder take COMPARE(X, ZERO) then ADD(Z, ONE); exact divisions
    # of opposite signs only COMPARE. A training level must show both.
    assert 0 < EVAL_LEVELS[level - 1].inexact_share < 1
    seen = _branches(level, 100)
    assert seen["rounded down"] > 0 and seen["exact"] > 0
