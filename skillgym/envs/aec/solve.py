"""Run the oracle: on any skill's instance, or on an expression given as text (``solve``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from skillgym.envs.aec import expression
from skillgym.envs.aec.child_policy import policy_table
from skillgym.envs.aec.machine import RETURNED, Machine, Policy
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.skills import (
    ACTION_RETURN,
    BINDINGS,
    MASKS,
    NUM_SKILLS,
    SKILL_INDEX,
    SKILL_NAMES,
    SKILLS,
    action_name,
)
from skillgym.envs.aec.tasks import TASKS, EvalTask, Instance, Task, eval_width
from skillgym.envs.aec.tokens import BLANK


def lay_out(machine: Machine, task: Task, instance: Instance) -> None:
    """Blank the pad, lay ``instance`` out and start the task's skill on it."""
    machine.grid.fill(BLANK)
    task.setup(machine.grid, instance)
    skill = task.skill
    machine.start(SKILL_INDEX[skill.name], instance.args, task.rows(instance), instance.ptrs)


def run(machine: Machine, policy: Policy, max_steps: int) -> int:
    """Step the started top skill with ``policy`` until it returns; its number of steps.

    Raises ``RuntimeError`` if it has not returned after ``max_steps`` steps.
    """
    mask = MASKS[machine.top.skill]
    for steps in range(1, max_steps + 1):
        if machine.step(int(policy(machine.observe(), mask))) == RETURNED:
            return steps
    raise RuntimeError(f"{SKILLS[machine.top.skill].name} did not return in {max_steps} steps")


def oracle_machine(task: Task, width: int | None = None, policy: Policy = oracle) -> Machine:
    """A machine for ``task``'s pad with ``policy`` for every child (the oracle by default)."""
    width = width or task.width
    policies = dict.fromkeys(range(NUM_SKILLS), policy)
    return Machine(len(task.skill.roles), width, policies, child_step_limit=64 * width * width)


@dataclass(frozen=True)
class TraceStep:
    """One step of an NPI-style trace.

    Attributes:
        depth: call depth (0 for EVAL).
        skill: the skill acting.
        args: the caller's roles bound to the skill's roles (empty at depth 0).
        action: the action, named with the skill's roles, e.g. ``WRITE(OUT, 7)``.
        terminate: whether the action is RETURN.
    """

    depth: int
    skill: str
    args: tuple[str, ...]
    action: str
    terminate: bool


@dataclass(frozen=True)
class Solution:
    """What :func:`solve` returns: the integer answer and the oracle's full trace."""

    expression: str
    answer: int
    trace: tuple[TraceStep, ...]


def solve(text: str) -> Solution:
    """Evaluate an integer expression on the scratchpad with the oracle; answer and trace.

    ``/`` (also ``//``, ``÷``) is Python's floor division, ``*`` may be written ``×`` and ``-``
    ``−``. A malformed expression raises ``ValueError``, a zero divisor ``ZeroDivisionError``,
    both saying where.

    >>> solve("3*(4+-5)//2").answer
    -2
    """
    trace: list[TraceStep] = []

    def recorded(obs: dict, mask: np.ndarray) -> int:
        action = oracle(obs, mask)
        skill = SKILLS[int(obs["skill"])]
        depth = int(obs["depth"])
        args = BINDINGS[skill.name][int(obs["args"])] if depth else ()
        trace.append(
            TraceStep(depth, skill.name, args, action_name(action, skill), action == ACTION_RETURN)
        )
        return action

    answer = compute(text, dict.fromkeys(SKILL_NAMES, recorded))
    if answer is None:
        raise RuntimeError(f"the oracle did not leave a number for {text!r}")
    return Solution(text, answer, tuple(trace))


def compute(text: str, policies: Mapping[str, Policy] | None = None) -> int | None:
    """The number EVAL leaves on the expression row when every skill acts by ``policies``.

    ``policies`` maps skill names (``"EVAL"``, ``"ADD"``, ...) to ``(obs, action_mask) -> int``
    policies, the oracle for those not given. The answer is ``None`` when the policies do not
    leave a lone number within the step limit (a learned skill that errs), never an exception:
    only a malformed expression (``ValueError``) or a zero divisor (``ZeroDivisionError``) raises.
    """
    task: EvalTask = TASKS["EVAL"]
    tokens = expression.parse(text)
    try:
        _, largest = expression.evaluate(tokens)
    except ZeroDivisionError as error:
        raise ZeroDivisionError(f"expression {text!r}: {error}") from None
    width = eval_width(tokens, largest)
    table = policy_table(policies, "policies")
    machine = Machine(len(task.skill.roles), width, table, child_step_limit=64 * width * width)
    lay_out(machine, task, task.instance(text, width=width))
    try:
        run(machine, table[SKILL_INDEX["EVAL"]], max_steps=64 * width * width)
    except RuntimeError:
        return None
    return expression.lone_number(expression.row_tokens(machine.grid[0]))
