"""Problems: exact answers against Python integers, what each level draws, seeded determinism,
the held-out split, prompts with Keye's switches, and bad arguments."""

from __future__ import annotations

import re

import pytest

from skillgym.envs.keye.tasks import (
    LEVEL_NUMBERS,
    LEVELS,
    SWITCHES,
    iter_problems,
    make_problem,
    sample_problems,
    split_of,
)
from skillgym.rewards.parsing import requested_mode


def python_value(text: str) -> int:
    assert re.fullmatch(r"[\d+\-*/()]+", text), text
    return eval(text.replace("/", "//"))


@pytest.mark.parametrize("level", LEVEL_NUMBERS)
def test_answers_are_exact(level):
    for problem in sample_problems(level, 300, seed=1):
        assert type(problem.answer) is int
        assert problem.answer == python_value(problem.text)
        assert problem.prompt == f"Calculate {problem.text}."
        assert problem.digits == max(len(n) for n in re.findall(r"\d+", problem.text))
        assert problem.id.startswith(f"L{level}-") and problem.level == level


def numbers_and_operators(text: str) -> tuple[list[int], list[str]]:
    return [int(n) for n in re.findall(r"\d+", text)], re.findall(r"(?<=[\d)])[+\-*/]", text)


def test_what_each_level_draws():
    def problems(level):
        return [numbers_and_operators(p.text) + (p.text,) for p in sample_problems(level, 300, 2)]

    for numbers, operators, _ in problems(1):
        assert len(numbers) == 1 and not operators and numbers[0] < 10_000
    for numbers, operators, _ in problems(2):
        assert operators == ["+"] and all(n < 10 for n in numbers)
    for numbers, operators, _ in problems(3):
        assert len(operators) == 1 and operators[0] in "+-" and all(n < 100 for n in numbers)
    for numbers, operators, _ in problems(4):
        assert len(operators) == 1 and operators[0] in "*/" and all(n < 100 for n in numbers)
    for numbers, operators, text in problems(5):
        assert len(numbers) == 3 and len(operators) == 2 and "/" not in operators
        assert "(" not in text
    seen = set()
    for numbers, operators, text in problems(6):
        assert len(numbers) in (3, 4) and all(n < 100 for n in numbers)
        seen.update(operators)
        seen.update(set(text) & {"("})
    assert seen == {"+", "-", "*", "/", "("}


def test_long_level6_traces_are_not_drawn():
    cap = LEVELS[5].max_trace_bytes
    lengths = [len(p.trace.text) for p in sample_problems(6, 400, seed=3)]
    assert max(lengths) <= cap


def test_same_seed_same_problems_other_seed_others():
    for level in LEVEL_NUMBERS:
        first = sample_problems(level, 40, seed=7)
        assert first == sample_problems(level, 40, seed=7)
        assert first != sample_problems(level, 40, seed=8)
        assert all(p.split == "train" for p in first)


def test_the_held_out_split_is_disjoint_from_training():
    for level in LEVEL_NUMBERS:
        train = {p.text for p in sample_problems(level, 800, seed=0)}
        test = {p.text for p in sample_problems(level, 80, seed=0, split="test")}
        assert test and not train & test
        # another seed draws other problems, never one of the other split
        assert not {p.text for p in sample_problems(level, 200, seed=9)} & test
    # level 2 has 100 problems: the held-out ones are exactly those the hash sends there
    everything = {f"{a}+{b}" for a in range(10) for b in range(10)}
    held_out = {text for text in everything if split_of(text) == "test"}
    drawn = {p.text for p in sample_problems(2, 60, seed=4, split="test")}
    assert drawn == held_out and 0 < len(held_out) < 30


def test_split_is_a_function_of_the_text_alone():
    problem = make_problem(3, "52 -  17")
    assert problem.text == "52-17" and problem.answer == 35
    assert make_problem(6, "52-17").split == problem.split == split_of("52-17")
    assert make_problem(6, "52-17").id != problem.id  # the id names the level
    # a larger held-out fraction only adds problems to the held-out split
    texts = [f"{a}*{b}" for a in range(30) for b in range(30)]
    small = {t for t in texts if split_of(t, 0.1) == "test"}
    large = {t for t in texts if split_of(t, 0.3) == "test"}
    assert small < large and all(split_of(t, 0.0) == "train" for t in texts)
    assert abs(len(large) / len(texts) - 0.3) < 0.05


def test_prompts_carry_keyes_switches():
    problem = sample_problems(5, 1, seed=0)[0]
    for switch, spelled in SWITCHES.items():
        prompt = problem.with_switch(switch)
        assert prompt == (f"{problem.prompt} {spelled}" if spelled else problem.prompt)
        # no switch is read as auto-think, as Keye-VL-1.5 does
        assert requested_mode(prompt) == ("auto_think" if switch == "none" else switch)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="level must be one of"):
        sample_problems(7, 1, seed=0)
    with pytest.raises(ValueError, match="level must be one of"):
        make_problem(True, "1+1")
    with pytest.raises(ValueError, match="split must be one of"):
        sample_problems(1, 1, seed=0, split="dev")
    with pytest.raises(ValueError, match="test_fraction"):
        next(iter_problems(1, seed=0, test_fraction=1.0))
    with pytest.raises(ValueError, match="seed"):
        sample_problems(1, 1, seed=-1)
    with pytest.raises(ValueError, match="count"):
        sample_problems(1, -1, seed=0)
    with pytest.raises(ValueError, match="switch must be one of"):
        make_problem(2, "1+1").with_switch("/think")
    with pytest.raises(ValueError, match="malformed expression"):
        make_problem(2, "1+")
