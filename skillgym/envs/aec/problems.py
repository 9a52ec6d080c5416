"""The AEC tasks' problems as text: one source of test tables for every kind of solver.

A hierarchy of skills plays the AEC environments; a sequence model reads ``"123+45"`` and writes
``"168"``. To compare them on the same data, :func:`problems` draws exactly the instances that an
environment draws: problem ``i`` of ``problems(skill, level, n, seed)`` is the instance of the
``i``-th episode of ``AECEnv(skill, level=level, curriculum=False)`` after ``reset(seed=seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gymnasium.utils import seeding

from skillgym.envs.aec.generator import ExpressionConfig, Uniforms, generate
from skillgym.envs.aec.tasks import EVAL_LEVELS, S_EXPRESSION, TASKS, Instance
from skillgym.envs.counter_rng import draw_key

# The skills whose instances are whole-number problems, and how each is written as text.
OPERATORS: dict[str, str] = {"ADD": "+", "SUB": "-", "MUL": "*", "DIV": "/"}
TEXT_SKILLS: tuple[str, ...] = (*OPERATORS, "EVAL")


@dataclass(frozen=True)
class Problem:
    """One problem, as text and as the environment's instance.

    Attributes:
        skill: the AEC skill that solves it (``"ADD"``, ..., ``"EVAL"``).
        level: the curriculum level it was drawn at.
        text: the expression, e.g. ``"123+45"`` (``/`` is floor division).
        answer: its value, a Python integer (DIV's quotient; the DIV environment also checks
            the remainder).
        instance: the environment's instance, for solvers that play the environment.
    """

    skill: str
    level: int
    text: str
    answer: int
    instance: Instance


def problems(skill: str, level: int, count: int, seed: int = 0) -> list[Problem]:
    """``count`` problems of ``skill`` at ``level``, the same an environment seeded ``seed`` draws.

    ``skill`` is one of :data:`TEXT_SKILLS`; ``level`` is 1-based, at most the task's levels.
    """
    if skill not in TEXT_SKILLS:
        raise ValueError(f"skill must be one of {list(TEXT_SKILLS)}, got {skill!r}")
    task = TASKS[skill]
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= len(task.levels):
        raise ValueError(f"level for {skill} must be an integer in 1..{len(task.levels)}, "
                         f"got {level!r}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    # AECEnv.reset(seed=seed) draws its key exactly so, then counts episodes from 0.
    key = draw_key(seeding.np_random(seed)[0])
    return [_problem(skill, task.sample(key, counter, level)) for counter in range(count)]


def expression_problems(config: ExpressionConfig, count: int, seed: int = 0) -> list[Problem]:
    """``count`` EVAL problems drawn with any expression configuration (e.g. 8 terms).

    With ``config`` equal to an EVAL level's configuration these are that level's problems;
    ``level`` is reported as 0 for configurations of no level.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    task = TASKS["EVAL"]
    levels = [i + 1 for i, known in enumerate(EVAL_LEVELS) if known == config]
    level = levels[0] if levels else 0
    key = draw_key(seeding.np_random(seed)[0])
    found = []
    for counter in range(count):
        text, _ = generate(config, Uniforms(key, counter, S_EXPRESSION))
        found.append(_problem("EVAL", task.instance(text, max(level, 1))))
    return [Problem(p.skill, level, p.text, p.answer, p.instance) for p in found]


def _problem(skill: str, instance: Instance) -> Problem:
    if skill == "EVAL":
        return Problem(skill, instance.level, instance.text, int(instance.expected), instance)
    answer = instance.expected[0] if skill == "DIV" else instance.expected
    text = f"{instance.a}{OPERATORS[skill]}{instance.b}"
    return Problem(skill, instance.level, text, int(answer), instance)
