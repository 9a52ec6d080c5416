"""The oracle on every curriculum level of every skill, against Python integer arithmetic, and
the Markov property of every skill's oracle trace."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.skills import MASKS, SKILL_INDEX, SKILL_NAMES, SKILLS
from skillgym.envs.aec.solve import lay_out, oracle_machine, run
from skillgym.envs.aec.tasks import TASKS
from skillgym.envs.aec.tokens import BLANK, EQUALS, GREATER, LESS, NEG, UNITS, read_number

LEVELS = [(name, level) for name, task in TASKS.items() for level in range(1, len(task.levels) + 1)]
# Instances per level: fewer where one instance costs thousands of steps.
HEAVY = {
    ("MUL", 7): 8,
    ("MUL", 8): 3,
    ("DIV", 5): 8,
    ("DIV", 6): 4,
    ("ADD", 8): 10,
    ("SUB", 8): 10,
    ("EVAL", 6): 40,
}


def digit(token: int) -> int:
    return 0 if token == BLANK else int(token)


def python_result_holds(name: str, grid: np.ndarray, ptrs: np.ndarray, instance) -> bool:
    """The skill's result on the pad, checked with Python integers, independently of the task."""
    roles = TASKS[name].skill.roles

    def row(role):
        return grid[roles.index(role)]

    if name in ("ADD", "SUB", "MULD", "MUL"):
        a, b = instance.a, instance.b
        return read_number(row("OUT")) == {"ADD": a + b, "SUB": a - b}.get(name, a * b)
    if name == "DIV":
        return (read_number(row("QUOT")), read_number(row("REM"))) == divmod(instance.a, instance.b)
    if name == "COMPARE":
        return (
            row("CMP")[UNITS]
            == {1: GREATER, 0: EQUALS, -1: LESS}[
                (instance.a > instance.b) - (instance.a < instance.b)
            ]
        )
    if name == "EVAL":
        answer = eval(instance.text.replace("/", "//"))  # the reference: Python itself
        text = "".join(
            "-" if t == NEG else str(t) for t in row("EXPR").tolist() if t in range(10) or t == NEG
        )
        return int(text) == answer and EQUALS in row("EXPR").tolist()
    if name in ("ADD1", "SUB1", "MUL1"):
        a, b = digit(instance.a), digit(instance.b)
        c = digit(instance.cells["CARRY"])
        total = {"ADD1": a + b + c, "SUB1": a - b - c, "MUL1": a * b + c}[name]
        carry = total // 10 if name == "MUL1" else 0
        return row("OUT")[UNITS] == total % 10 and digit(row("CARRY")[UNITS]) == carry
    if name in ("CARRY", "BORROW"):
        return row("CARRY")[UNITS + 1] == 1 and ptrs[0] == UNITS
    if name in ("LSHIFT", "RSHIFT"):
        step = 1 if name == "LSHIFT" else -1
        moved = [p + step for p in instance.ptrs]
        bound = [slot for slot in range(4) if ptrs[slot] != instance.ptrs[slot]]
        return (
            bound == list(range(len(bound))) and ptrs[: len(bound)].tolist() == moved[: len(bound)]
        )
    if name == "CMP1":
        a, b = digit(instance.a), digit(instance.b)
        expected = GREATER if a > b else LESS if a < b else instance.cells["CMP"]
        return row("CMP")[UNITS] == expected
    raise AssertionError(f"no Python check for {name}")


@pytest.mark.parametrize(("name", "level"), LEVELS)
def test_oracle_solves_every_level(name, level):
    task = TASKS[name]
    machine = oracle_machine(task)
    for counter in range(HEAVY.get((name, level), 60)):
        instance = task.sample(np.uint64(2024), counter, level)
        lay_out(machine, task, instance)
        top = machine.top
        run(machine, oracle, max_steps=64 * task.width**2)
        assert python_result_holds(name, machine.grid, top.ptrs, instance), (name, level, instance)
        assert task.succeeded(machine.grid, top.ptrs, instance)


def test_oracle_left_the_scratch_rows_clean():
    """Carries and borrows are consumed, so the next skill on the same rows starts clean."""
    for name in ("ADD", "SUB", "MUL"):
        task = TASKS[name]
        machine = oracle_machine(task)
        for counter in range(20):
            lay_out(machine, task, task.sample(np.uint64(5), counter, 4))
            run(machine, oracle, max_steps=10_000)
            assert np.all(machine.grid[task.row("CARRY")] == BLANK)


@pytest.mark.parametrize(("name", "level"), LEVELS)
def test_skill_observations_determine_the_oracle_action(name, level):
    """Over many traces, no observation of any skill (at any depth) meets two oracle actions."""
    task = TASKS[name]
    seen: dict[tuple, int] = {}
    conflicts = defaultdict(set)

    def recording(obs, mask):
        action = oracle(obs, mask)
        assert mask[action], f"the oracle took a masked action in {SKILL_NAMES[obs['skill']]}"
        key = (
            int(obs["skill"]),
            int(obs["args"]),
            tuple(obs["tokens"].tolist()),
            int(obs["prev_action"]),
        )
        if seen.setdefault(key, action) != action:
            conflicts[key].add(action)
        return action

    machine = oracle_machine(task, policy=recording)
    for counter in range(HEAVY.get((name, level), 60) // 2 + 1):
        lay_out(machine, task, task.sample(np.uint64(99), counter, level))
        run(machine, recording, max_steps=64 * task.width**2)
    assert not conflicts
    assert seen, "no observation was recorded"


def test_every_skill_is_reachable_and_every_mask_allows_return():
    reached = {name for skill in SKILLS for name, _ in skill.children} | {"EVAL"}
    assert reached == set(SKILL_NAMES)
    assert MASKS[:, -1].all()
    assert MASKS[SKILL_INDEX["ADD"]].sum() == 4  # CARRY, ADD1, LSHIFT and RETURN
