"""Step-by-step traces of integer expressions, rendered from the AEC oracle's own calls.

A trace is a list of lines that a small byte-level model can follow: every line is computed from
a few characters written just above it or on the same line.

- An **expression line** holds the expression still to evaluate, compactly (``(408-6)/3``); the
  first is the problem, the last is the lone answer. Between two expression lines are the lines
  of the one operation the oracle's EVAL applies next (its FIND: innermost bracket, leftmost
  ``*`` or ``/``, else leftmost ``+`` or ``-``); the next expression line is EVAL's STORE.
- An **operation line** is one call of a number skill on magnitudes, written
  ``A op B: column column ... =R``, its columns from the units up, each one call of the skill's
  column unit:

  - ADD: ``a+b=s`` or ``a+b+1=s`` (the ``+1`` is the carry the column before wrote);
  - SUB: ``a-b=d`` or ``a-b-1=d`` (a borrowing column shows its minuend with the borrowed ten,
    ``12-7=5``, and the next column pays it back with ``-1``);
  - MULD (multi-digit times one digit): ``a*b=p`` or ``a*b+c=p`` (``c``: the carry digit);
  - DIV: per quotient digit from the top, the oracle's repeated subtraction ``w-B=r qk`` (``k``
    counts the subtractions, the quotient digit the oracle writes) and the COMPARE that ends it,
    ``r<B``; a column that cannot subtract writes ``r<B q0``.

  The result ``R`` is read off the columns: the last column's whole value, then the units digits
  of the others, leading zeros dropped. When both operands are single digits the operation is
  its one column (``7*8=56``). A multi-digit multiplier (MUL) is one MULD line per multiplier
  digit, then one ADD line per further digit adding the product so far and the shifted partial
  product (``141+3760: ...``; the oracle adds in place from the shifted column, so the columns
  below it are written ``d+0=d``). EVAL's COMPARE of two magnitudes before a subtraction is the
  line ``7<12``; the sign that EVAL gives the result appears in the next expression line. A floor
  division of opposite signs that leaves a remainder adds EVAL's ``r>0`` and ``q+1`` lines (the
  task levels divide exactly, so they never do).

The EVAL level (which operation, which operands, the rewritten expression) uses the functions of
:mod:`skillgym.envs.aec.expression` that EVAL's FIND, LOAD and STORE execute; each operation's
lines come from one run of the oracle on that operation alone, recording every call of its
level-2-and-up skills, and are cached, since the same small operations recur across problems.

>>> render_trace("(12*34-6)/3").lines[:3]
('(12*34-6)/3', '12*4: 2*4=8 1*4=4 =48', '12*3: 2*3=6 1*3=3 =36')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from skillgym.envs.aec import expression
from skillgym.envs.aec.machine import Machine
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.skills import (
    ACTION_RETURN,
    ACTIONS,
    BINDINGS,
    CALL,
    SKILL_INDEX,
    SKILL_NAMES,
    SKILLS,
    WRITE,
    skill_named,
)
from skillgym.envs.aec.solve import lay_out, run
from skillgym.envs.aec.tasks import TASKS, eval_width
from skillgym.envs.aec.tokens import (
    BLANK,
    DIVIDE,
    GREATER,
    LESS,
    MINUS,
    PLUS,
    TIMES,
    digit_value,
)

_OPERATOR_TEXT = {PLUS: "+", MINUS: "-", TIMES: "*", DIVIDE: "/"}
_VERDICT_TEXT = {LESS: "<", GREATER: ">"}
_QUOT_SLOT, _CMP_SLOT = (skill_named("DIV").roles.index(role) for role in ("QUOT", "CMP"))
_EVAL_CMP_SLOT = skill_named("EVAL").roles.index("CMP")


@dataclass(frozen=True)
class Trace:
    """A rendered trace: its lines (first the problem, last the answer) and the answer."""

    lines: tuple[str, ...]
    answer: int

    @property
    def text(self) -> str:
        """The lines joined by newlines: the thinking content of a response."""
        return "\n".join(self.lines)


def compact(tokens: list[int]) -> str:
    """An expression's tokens as compact text: no spaces, ``/`` for (floor) division."""
    return expression.to_text(tokens).replace(" // ", "/").replace(" ", "")


def render_trace(text: str) -> Trace:
    """The trace of an integer expression (anything :func:`expression.parse` reads).

    Raises ``ValueError`` for a malformed expression and ``ZeroDivisionError`` for a zero divisor,
    as :func:`skillgym.envs.aec.solve.solve` does.
    """
    tokens = expression.parse(text)
    expression.evaluate(tokens)  # a zero divisor raises here, naming the division
    lines = [compact(tokens)]
    while (op := expression.next_operator(tokens)) is not None:
        start, left, right, end = expression.operands(tokens, op)
        block, value = operation_lines(left, _OPERATOR_TEXT[tokens[op]], right)
        tokens = expression.replace(tokens, start, end, value)
        lines += block
        lines.append(compact(tokens))
    return Trace(tuple(lines), expression.lone_number(tokens))


# -- the oracle's calls on one operation ---------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One step of a recorded skill: the tokens under its pointers, its action, and the call
    tree of the child it called (``None`` unless it called a recorded skill)."""

    tokens: tuple[int, ...]
    action: int
    child: _Call | None


@dataclass(frozen=True)
class _Call:
    """One recorded run of a skill: its name and its steps up to its RETURN."""

    skill: str
    steps: tuple[_Step, ...]


_RECORDED = frozenset(i for i, skill in enumerate(SKILLS) if skill.level >= 2)


def _called(action: int) -> str | None:
    """The skill a CALL action calls, else ``None``."""
    kind, child, _ = ACTIONS[action]
    return SKILL_NAMES[child] if kind == CALL else None


def _record(text: str) -> _Call:
    """Run the oracle's EVAL on ``text`` and return the tree of its calls of skills of level 2 and
    up (level-1 skills run on the machine's fast oracle path, unrecorded: their effect is read
    from the tokens their caller sees next)."""
    task = TASKS["EVAL"]
    tokens = expression.parse(text)
    width = eval_width(tokens, expression.evaluate(tokens)[1])
    events: list[tuple[int, tuple[int, ...], int]] = []  # (skill, tokens, action), in order

    def recorder(obs: dict, mask) -> int:
        action = oracle(obs, mask)
        events.append((int(obs["skill"]), tuple(obs["tokens"].tolist()), action))
        return action

    policies = {i: recorder if i in _RECORDED else oracle for i in range(len(SKILLS))}
    machine = Machine(len(task.skill.roles), width, policies, child_step_limit=64 * width * width)
    lay_out(machine, task, task.instance(text, width=width))
    run(machine, recorder, max_steps=64 * width * width)
    call, _ = _tree(events, 0)
    return call


def _tree(events: list, start: int) -> tuple[_Call, int]:
    """The call that starts at ``events[start]`` and the index of the event after it: a call's
    steps run to its RETURN, each recorded child's steps nested right after its CALL."""
    skill = events[start][0]
    steps, i = [], start
    while i < len(events):
        _, tokens, action = events[i]
        i += 1
        child = None
        name = _called(action)
        if name is not None and SKILL_INDEX[name] in _RECORDED:
            child, i = _tree(events, i)
        steps.append(_Step(tokens, action, child))
        if action == ACTION_RETURN:
            break
    return _Call(SKILL_NAMES[skill], tuple(steps)), i


# -- columns -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """One call of a column unit: the digits it read, its text and its whole value (the result
    digit plus ten times any carry or borrowed ten)."""

    a: int
    text: str
    value: int


def _columns(call: _Call) -> list[_Column]:
    """The columns of an ADD, SUB or MULD call, from its unit calls (ADD1, SUB1, MUL1).

    The tokens a column unit reads are those its caller sees when calling it; what the unit wrote
    (the result digit on OUT and, for MUL1, the carry digit) is what the caller sees next. A carry
    or borrow is the CARRY or BORROW call just before the unit. A column with no digit left
    (only a carry in) is the leading digit of the column below it, so it is not written.
    """
    columns, fix = [], False
    for index, step in enumerate(call.steps):
        name = _called(step.action)
        if name in ("CARRY", "BORROW"):
            fix = True
            continue
        if name not in ("ADD1", "SUB1", "MUL1"):
            continue
        a, b, c = (digit_value(token) for token in step.tokens[:3])
        after = call.steps[index + 1].tokens
        digit = digit_value(after[3])
        if name == "ADD1":
            if step.tokens[0] == step.tokens[1] == BLANK:  # no digits left, only the carry
                break
            value = 10 * fix + digit
            columns.append(_Column(a, f"{a}+{b}{'+1' if c else ''}={value}", value))
        elif name == "SUB1":
            columns.append(_Column(a, f"{10 * fix + a}-{b}{'-1' if c else ''}={digit}", digit))
        else:
            if step.tokens[0] == BLANK:  # the multiplicand is done, only the carry digit is left
                break
            value = 10 * digit_value(after[2]) + digit
            columns.append(_Column(a, f"{a}*{b}{f'+{c}' if c else ''}={value}", value))
        fix = False
    return columns


def _column_result(columns: list[_Column]) -> int:
    """The number the columns leave: the last column's whole value, then the others' units."""
    digits = str(columns[-1].value) + "".join(str(c.value % 10) for c in reversed(columns[:-1]))
    return int(digits)


def _number_line(
    call: _Call, a: int, symbol: str, b: int, below: tuple[_Column, ...] = ()
) -> tuple[str, int]:
    """The line of an ADD, SUB or MULD call on ``a`` and ``b``, and its result. ``below``: the
    columns under the shifted start of an in-place addition. An operation on two single digits is
    its one column."""
    columns = [*below, *_columns(call)]
    result = _column_result(columns)
    if a < 10 and b < 10 and not below:
        return columns[0].text, result
    return f"{a}{symbol}{b}: {' '.join(c.text for c in columns)} ={result}", result


# -- operations ------------------------------------------------------------------------------------


def _mul_lines(call: _Call, x: int, y: int) -> tuple[list[str], int]:
    """MUL: one MULD line per multiplier digit, then the running product plus each further
    partial product shifted to its column."""
    lines: list[str] = []
    product = 0
    children = [step.child for step in call.steps if step.child is not None]
    for shift, (muld, accumulate) in enumerate(zip(children[::2], children[1::2], strict=True)):
        line, partial = _number_line(muld, x, "*", y // 10**shift % 10)
        lines.append(line)
        if shift == 0:
            product = partial  # the oracle adds the first partial product to a blank row
            continue
        low = [int(d) for d in reversed(str(product).zfill(shift)[-shift:])]
        below = tuple(_Column(d, f"{d}+0={d}", d) for d in low)
        line, product = _number_line(accumulate, product, "+", partial * 10**shift, below)
        lines.append(line)
    return lines, product


def _first_operand(call: _Call) -> int:
    """The first number a COMPARE call compared: its IN1 digits under each CMP1 call."""
    digits = [digit_value(s.tokens[0]) for s in call.steps if _called(s.action) == "CMP1"]
    return int("".join(map(str, reversed(digits))))


def _div_line(call: _Call, x: int, y: int) -> tuple[str, int]:
    """DIV: per quotient digit from the top, each subtraction with the quotient digit the oracle
    writes after it, and the COMPARE verdict ``<`` that ends the digit (then ``q0`` if the column
    could not subtract)."""
    items: list[str] = []
    quotient: list[int] = []
    for index, step in enumerate(call.steps):
        name = _called(step.action)
        kind, slot, token = ACTIONS[step.action]
        if name == "SUB":
            columns = _columns(step.child)
            window = int("".join(str(c.a) for c in reversed(columns)))
            items.append(f"{window}-{y}={_column_result(columns)}")
        elif name == "COMPARE" and call.steps[index + 1].tokens[_CMP_SLOT] == LESS:
            items.append(f"{_first_operand(step.child)}<{y}")
        elif kind == WRITE and slot == _QUOT_SLOT:
            if step.tokens[_QUOT_SLOT] == BLANK:  # the first write of a quotient column
                quotient.append(token)
            else:
                quotient[-1] = token
            items.append(f"q{token}")
    value = int("".join(map(str, quotient)))
    return f"{x}/{y}: {' '.join(items)} ={value}", value


@lru_cache(maxsize=1 << 16)
def operation_lines(left: int, op: str, right: int) -> tuple[tuple[str, ...], int]:
    """The lines of one operation ``left op right`` and its value, from the oracle's calls.

    ``op`` is one of ``+ - * /`` (``/`` is floor division).
    """
    if op not in ("+", "-", "*", "/"):
        raise ValueError(f"op must be one of '+', '-', '*', '/', got {op!r}")
    text = f"{left}{op}{right}"
    evaluation = _record(text)
    x, y = abs(left), abs(right)
    lines: list[str] = []
    value = 0
    negative = False
    for index, step in enumerate(evaluation.steps):
        if step.child is None:
            if ACTIONS[step.action][0] == WRITE:  # EVAL writes the result's sign
                negative = True
            continue
        binding = BINDINGS[step.child.skill][ACTIONS[step.action][2]]
        name = step.child.skill
        if name == "COMPARE":
            verdict = evaluation.steps[index + 1].tokens[_EVAL_CMP_SLOT]
            if binding[1] == "ZERO":  # floor division of opposite signs: any remainder?
                if verdict == GREATER:
                    lines.append(f"{_first_operand(step.child)}>0")
                continue
            lines.append(f"{x}{_VERDICT_TEXT.get(verdict, '=')}{y}")
        elif name in ("ADD", "SUB"):
            a, b = (y, x) if binding[0] == "Y" else (x, y)
            if binding[1] == "ONE":
                a, b = value, 1
            line, value = _number_line(step.child, a, "+" if name == "ADD" else "-", b)
            lines.append(line)
        elif name == "MUL":
            block, value = _mul_lines(step.child, x, y)
            lines += block
        else:
            line, value = _div_line(step.child, x, y)
            lines.append(line)
    return tuple(lines), -value if negative else value
