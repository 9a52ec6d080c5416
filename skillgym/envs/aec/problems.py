"""The AEC tasks' problems as text: one source of test tables for every kind of solver.

A hierarchy of skills plays the AEC environments; a sequence model reads ``"123+45"`` and writes
``"168"``. To compare them on the same data, :func:`problems` draws exactly the instances that an
environment draws: problem ``i`` of ``problems(skill, level, n, seed)`` is the instance of the
``i``-th episode of ``AECEnv(skill, level=level, curriculum=False)`` after ``reset(seed=seed)``.
:func:`division_problems` enumerates floor division's cases instead (signs, remainder, how the
operands are written, bracket depth), where a random expression rarely lands on some of them.
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


# The floor-division table: what a division's operands are, and how they are written.
REMAINDERS: tuple[str, ...] = (
    "exact",  # |a| = q |b|, q >= 2
    "exact, |a| = |b|",
    "remainder, |a| > |b|",
    "remainder, |a| < |b|",  # the magnitudes' quotient is 0
    "zero dividend",
)
FORMS: tuple[str, ...] = ("number", "bracket", "negated bracket", "nested negation")
# Each nesting level puts the expression so far inside one more pair of brackets.
_CONTEXTS = ("{c} + ( {x} )", "( {x} ) - {c}", "-( {x} )", "{c} * ( {x} )", "( {x} ) / {c}")
# Depth 0: the division alone or in a sum without brackets (where it binds first).
_FLAT = ("{x}", "{c} + {x}", "{x} - {c}")
_S_DIVISIONS = 200  # the counter_rng stream of the division table


@dataclass(frozen=True)
class DivisionCase:
    """One cell of the floor-division table.

    Attributes:
        dividend_negative, divisor_negative: the operands' signs (a zero dividend flagged
            negative is written ``-0`` as a number; its value has no sign).
        remainder: one of :data:`REMAINDERS`.
        dividend_form, divisor_form: one of :data:`FORMS`: ``-7``, ``( -10 + 3 )``,
            ``-( 10 + -3 )`` or ``-( -( -10 + 3 ) )`` for the value -7.
        depth: the pairs of brackets around the division (0: none).
    """

    dividend_negative: bool
    divisor_negative: bool
    remainder: str
    dividend_form: str
    divisor_form: str
    depth: int

    @property
    def signs(self) -> str:
        """The operands' signs, e.g. ``"-/+"``."""
        return f"{'-' if self.dividend_negative else '+'}/{'-' if self.divisor_negative else '+'}"


@dataclass(frozen=True)
class DivisionProblem:
    """An EVAL problem holding one division of a given :class:`DivisionCase`.

    Attributes:
        case: the cell it was drawn for.
        dividend, divisor: the division's operands.
        problem: the expression, its value and its EVAL instance.
    """

    case: DivisionCase
    dividend: int
    divisor: int
    problem: Problem


def division_cases(max_depth: int = 3) -> list[DivisionCase]:
    """Every cell: dividend sign x divisor sign x remainder x both forms x depth 0..max_depth."""
    if max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, got {max_depth}")
    return [DivisionCase(a_negative, b_negative, remainder, a_form, b_form, depth)
            for a_negative in (False, True) for b_negative in (False, True)
            for remainder in REMAINDERS for a_form in FORMS for b_form in FORMS
            for depth in range(max_depth + 1)]


def division_problems(per_case: int = 8, max_depth: int = 3,
                      seed: int = 0) -> list[DivisionProblem]:
    """``per_case`` EVAL problems for every cell of :func:`division_cases`, cell after cell.

    Magnitudes and the terms of brackets and contexts are drawn from ``seed``: exact quotients
    of 2-99 by divisors of 1-99, remainders below divisors of 2-99, divisors up to 999 above a
    smaller dividend. The defaults give 10,240 problems.
    """
    if per_case < 0:
        raise ValueError(f"per_case must be >= 0, got {per_case}")
    key = draw_key(seeding.np_random(seed)[0])
    found = []
    for index, case in enumerate(division_cases(max_depth)):
        for draw in range(per_case):
            draws = Uniforms(key, index * per_case + draw, _S_DIVISIONS)
            found.append(_division_problem(case, draws))
    return found


def _division_problem(case: DivisionCase, draws: Uniforms) -> DivisionProblem:
    a, b = _magnitudes(case.remainder, draws)
    a, b = -a if case.dividend_negative else a, -b if case.divisor_negative else b
    if a == 0 and case.dividend_negative and case.dividend_form == "number":
        dividend = "-0"  # the parser folds the minus away, as Python does
    else:
        dividend = _written(a, case.dividend_form, draws)
    text = f"{dividend} / {_written(b, case.divisor_form, draws)}"
    for depth in range(case.depth + 1):
        contexts = _CONTEXTS if depth else _FLAT
        context = contexts[draws.below(len(contexts))]
        text = context.format(x=text, c=_nonzero(draws))
    instance = TASKS["EVAL"].instance(text)
    return DivisionProblem(case, a, b, Problem("EVAL", 0, text, int(instance.expected), instance))


def _magnitudes(remainder: str, draws: Uniforms) -> tuple[int, int]:
    """``(|a|, |b|)`` of a division of the given :data:`REMAINDERS` kind."""
    if remainder == "exact":
        b = draws.between(1, 99)
        return b * draws.between(2, 99), b
    if remainder == "exact, |a| = |b|":
        b = draws.between(1, 999)
        return b, b
    if remainder == "remainder, |a| > |b|":
        b = draws.between(2, 99)
        return b * draws.between(1, 99) + draws.between(1, b - 1), b
    if remainder == "remainder, |a| < |b|":
        b = draws.between(2, 999)
        return draws.between(1, b - 1), b
    if remainder == "zero dividend":
        return 0, draws.between(1, 999)
    raise ValueError(f"remainder must be one of {list(REMAINDERS)}, got {remainder!r}")


def _nonzero(draws: Uniforms) -> int:
    """A constant of 1-99 with a random sign."""
    value = draws.between(1, 99)
    return -value if draws.chance() else value


def _written(value: int, form: str, draws: Uniforms) -> str:
    """``value`` written in one of :data:`FORMS`."""
    if form == "number":
        return str(value)
    if form == "negated bracket":
        return f"-{_written(-value, 'bracket', draws)}"
    if form == "nested negation":
        return f"-( -{_written(value, 'bracket', draws)} )"
    if form != "bracket":
        raise ValueError(f"form must be one of {list(FORMS)}, got {form!r}")
    term = _nonzero(draws)
    if draws.chance():
        return f"( {value - term} + {term} )"
    return f"( {value + term} - {term} )"
