"""``solve``: answers against Python, the shape of the NPI-style trace, and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillgym.envs.aec import solve
from skillgym.envs.aec.generator import Uniforms, generate
from skillgym.envs.aec.tasks import EVAL_LEVELS


def python(text: str) -> int:
    return eval(re.sub(r"/+", "//", text.replace("×", "*").replace("÷", "/").replace("−", "-")))


@pytest.mark.parametrize(
    "text",
    [
        "3*(4+-5)//2",
        "-7 // 2",
        "7 // -2",
        "-7 // -2",
        "10 / -5",
        "0 // -3",
        "-(2 - 9) * -3",
        "99999 * 99999 - 1",
        "1 - 2 - 3",
        "2 × 3 ÷ 4",
        "−5 + 5",
        "-( 12 + -( 4 * 3 ) )",
        "8",
    ],
)
def test_solve_matches_python(text):
    assert solve(text).answer == python(text)


def test_trace_is_a_well_nested_npi_trace():
    solution = solve("3*(4+-5)//2")
    trace = solution.trace
    assert (trace[0].depth, trace[0].skill, trace[0].action) == (0, "EVAL", "FIND")
    assert (trace[-1].skill, trace[-1].action, trace[-1].terminate) == ("EVAL", "RETURN", True)
    stack = []
    for step in trace:
        assert step.depth == len(stack)
        if step.action.startswith("CALL("):
            stack.append(step.action[5 : step.action.index(",")])
        if step.terminate and step.depth:
            assert stack.pop() == step.skill
    top = [step.action for step in trace if step.depth == 0]
    assert top.count("STORE") == 3  # one per operator
    assert [s.args for s in trace if s.skill == "SUB"][0] == ("Y", "X", "CARRY", "Z")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(range(len(EVAL_LEVELS))))
def test_solve_matches_python_on_generated_expressions(counter, level):
    text, value = generate(EVAL_LEVELS[level], Uniforms(np.uint64(3), counter, 100))
    assert solve(text).answer == value == python(text)


def test_solve_refuses_bad_input():
    with pytest.raises(ValueError, match="malformed expression '3 \\+ \\* 4'"):
        solve("3 + * 4")
    with pytest.raises(ZeroDivisionError, match=r"expression '7 // \(3 - 3\)': division by zero"):
        solve("7 // (3 - 3)")
