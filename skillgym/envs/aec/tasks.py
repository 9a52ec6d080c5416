"""What an episode of each skill is: its curriculum levels, how an instance is drawn and laid out
on the scratchpad, and when the skill has succeeded.

Every draw goes through :mod:`skillgym.envs.counter_rng` with the env's key and episode counter, and
the number tasks draw over a batch axis, so that a batched twin can reuse them unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from skillgym.envs.aec import expression
from skillgym.envs.aec.generator import ExpressionConfig, Uniforms, generate
from skillgym.envs.aec.skills import BINDINGS, Skill, skill_named
from skillgym.envs.aec.tokens import (
    BLANK,
    EQUALS,
    GREATER,
    LESS,
    UNITS,
    digit_value,
    read_number,
    write_number,
)
from skillgym.envs.counter_rng import integers

# counter_rng streams: one per kind of draw, so that the draws of one episode are independent
S_NUMBERS, S_CELLS, S_BINDING = range(3)
S_EXPRESSION = 100


@dataclass
class Instance:
    """One episode's problem.

    Attributes:
        level: the curriculum level it was drawn at (1-based).
        args: the top skill's args (its binding index; 0 unless the skill has several).
        a, b: the operands (numbers, or the tokens of a single column).
        expected: the skill's correct result, as the task defines it.
        text: the expression, for EVAL.
        cells: extra tokens of the initial pad (single-column tasks).
        ptrs: initial pointer columns per role slot.
        rows: the pad row of each role slot; empty for one row per role, in order.
    """

    level: int
    args: int = 0
    a: int = 0
    b: int = 0
    expected: object = None
    text: str = ""
    cells: dict = field(default_factory=dict)
    ptrs: list = field(default_factory=list)
    rows: list = field(default_factory=list)


def number_digits(lengths: np.ndarray, digits: np.ndarray, tops: np.ndarray, zero: bool = True):
    """Little-endian digits of numbers with the given lengths, from uniform draws.

    ``digits`` is ``(B, max_len)`` uniform in 0-9, ``tops`` ``(B,)`` uniform in 1-9. Digits beyond a
    number's length become 0; the most significant digit of a number longer than one digit is its
    ``tops`` draw, so never 0, and a 1-digit number is 0 with probability 1/10 unless ``zero`` is
    False.
    """
    digits = digits.copy()
    digits[np.arange(digits.shape[1])[None, :] >= lengths[:, None]] = 0
    long = lengths > (1 if zero else 0)
    digits[long, lengths[long] - 1] = tops[long]
    return digits


def to_int(digits: np.ndarray, length: int) -> int:
    """The integer of the first ``length`` little-endian digits."""
    return int("".join(str(d) for d in digits[:length][::-1].tolist()))


class Task(ABC):
    """The episodes of one skill. Subclasses set the attributes and implement the methods.

    Attributes:
        skill: the skill whose episodes these are.
        levels: one human-readable description per curriculum level.
        width: the pad's width, enough for every level.
        digit_rows: the roles the ``digit`` reward scores writes on; empty if the skill
            rewrites its result cells, where per-write scoring is undefined.
    """

    skill: Skill
    levels: tuple[str, ...]
    width: int
    digit_rows: tuple[str, ...] = ()

    @abstractmethod
    def sample(self, key: np.uint64, counter: int, level: int) -> Instance:
        """The instance of episode ``counter`` at ``level``."""

    @abstractmethod
    def setup(self, grid: np.ndarray, instance: Instance) -> None:
        """Lay the instance out on a blank pad whose rows are the skill's roles, in order."""

    @abstractmethod
    def succeeded(self, grid: np.ndarray, ptrs: np.ndarray, instance: Instance) -> bool:
        """Whether the pad and the top frame's pointers hold the correct result."""

    def targets(self, instance: Instance) -> dict[str, np.ndarray]:
        """For the ``digit`` reward: the correct final row of each role in ``digit_rows``."""
        raise TypeError(f"{self.skill.name} has no digit reward")

    def oracle_steps(self, instance: Instance) -> int | None:
        """The oracle's step count in closed form, or ``None`` to have it simulated."""
        return None

    def row(self, role: str, instance: Instance | None = None) -> int:
        """The pad row of one of the skill's roles (in ``instance``'s layout, if given)."""
        return self.rows(instance)[self.skill.roles.index(role)]

    def rows(self, instance: Instance | None = None) -> list[int]:
        """The pad row of each role slot: ``instance.rows``, or one row per role by default."""
        if instance is not None and instance.rows:
            return instance.rows
        return list(range(len(self.skill.roles)))

    def bind(self, instance: Instance, key: np.uint64, counter: int) -> None:
        """Give ``instance`` a binding drawn uniformly from those the skill's callers use, and
        lay its roles out as that binding does (see :func:`binding_rows`)."""
        args = int(draw_bindings(self.skill.name, *_one(key, counter))[0])
        instance.args = args
        instance.rows = binding_rows(self.skill.name, args)


def binding_rows(name: str, args: int) -> list[int]:
    """The pad row of each of skill ``name``'s roles when called with binding ``args``.

    Roles bound to the same caller role share a row (MUL's ``ADD(OUT PART CARRY OUT)`` adds in
    place: ADD's IN1 and OUT are one row); distinct caller roles get rows in order of first use.
    A skill no caller calls keeps one row per role.
    """
    bindings = BINDINGS[name]
    if not bindings:
        return list(range(len(skill_named(name).roles)))
    binding = bindings[args]
    distinct = list(dict.fromkeys(binding))
    return [distinct.index(role) for role in binding]


def draw_bindings(name: str, keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """``(B,)`` one binding index per episode, uniform over the bindings of skill ``name``'s
    callers (0 for a skill no caller calls)."""
    count = max(1, len(BINDINGS[name]))
    return integers(keys, counters, S_BINDING, 1, 0, count)[:, 0]


def _one(key, counter) -> tuple[np.ndarray, np.ndarray]:
    """A batch of one: the key and counter arrays ``counter_rng`` takes."""
    return np.array([key], dtype=np.uint64), np.array([counter], dtype=np.uint64)


class ColumnTask(Task):
    """ADD1, SUB1 and MUL1: one column of digits (or blanks) and a carry; pointers on the units."""

    width = 4
    levels = ("one column",)

    def __init__(self, name: str) -> None:
        self.skill = skill_named(name)
        self.digit_rows = ("OUT", "CARRY") if name == "MUL1" else ("OUT",)

    def sample(self, key, counter, level) -> Instance:
        keys, counters = _one(key, counter)
        # MUL1's multiplier digit is never blank and its carry is 0-8; ADD1/SUB1 carry 0 or 1
        high = [11, 10, 9] if self.skill.name == "MUL1" else [11, 11, 2]
        a, b, c = integers(keys, counters, S_CELLS, 3, 0, high)[0].tolist()
        return Instance(level, a=a, b=b, cells={"CARRY": c or BLANK}, ptrs=[UNITS] * 4)

    def setup(self, grid, instance) -> None:
        grid[self.row("IN1"), UNITS] = instance.a
        grid[self.row("IN2"), UNITS] = instance.b
        grid[self.row("CARRY"), UNITS] = instance.cells["CARRY"]

    def _result(self, instance) -> tuple[int, int]:
        a, b, c = (
            digit_value(instance.a),
            digit_value(instance.b),
            digit_value(instance.cells["CARRY"]),
        )
        if self.skill.name == "ADD1":
            return (a + b + c) % 10, BLANK
        if self.skill.name == "SUB1":
            return (a - b - c) % 10, BLANK
        total = a * b + c
        return total % 10, total // 10 or BLANK

    def targets(self, instance) -> dict[str, np.ndarray]:
        out, carry = self._result(instance)
        rows = {role: np.full(self.width, BLANK, dtype=np.int64) for role in ("OUT", "CARRY")}
        rows["OUT"][UNITS] = out
        rows["CARRY"][UNITS] = carry
        return rows

    def succeeded(self, grid, ptrs, instance) -> bool:
        return all(np.array_equal(grid[self.row(r)], t) for r, t in self.targets(instance).items())


class CarryTask(Task):
    """CARRY and BORROW: write 1 in the carry row's next column and come back."""

    width = 4
    levels = ("one column",)
    digit_rows = ("CARRY",)

    def __init__(self, name: str) -> None:
        self.skill = skill_named(name)

    def sample(self, key, counter, level) -> Instance:
        return Instance(level, ptrs=[UNITS])

    def setup(self, grid, instance) -> None:
        """Nothing to lay out: the carry row starts blank."""

    def targets(self, instance) -> dict[str, np.ndarray]:
        row = np.full(self.width, BLANK, dtype=np.int64)
        row[UNITS + 1] = 1
        return {"CARRY": row}

    def succeeded(self, grid, ptrs, instance) -> bool:
        return bool(np.array_equal(grid[0], self.targets(instance)["CARRY"]) and ptrs[0] == UNITS)


class ShiftTask(Task):
    """LSHIFT and RSHIFT: random digit rows, random pointers, one of the skill's bindings."""

    width = 8
    levels = ("one shift",)

    def __init__(self, name: str) -> None:
        self.skill = skill_named(name)
        self.direction = 1 if name == "LSHIFT" else -1

    def sample(self, key, counter, level) -> Instance:
        keys, counters = _one(key, counter)
        # one draw: the binding, four pointer columns, then the digits of the four rows
        low = np.array([0] + [1] * 4 + [0] * (4 * self.width))
        high = np.array(
            [len(BINDINGS[self.skill.name])] + [self.width - 1] * 4 + [10] * (4 * self.width)
        )
        draws = integers(keys, counters, S_CELLS, low.size, low, high)[0]
        digits = draws[5:].reshape(4, self.width)
        return Instance(
            level, args=int(draws[0]), cells={"digits": digits}, ptrs=draws[1:5].tolist()
        )

    def bind(self, instance, key, counter) -> None:
        """Nothing to do: every episode already draws one of the skill's bindings."""

    def setup(self, grid, instance) -> None:
        grid[:4] = instance.cells["digits"]

    def succeeded(self, grid, ptrs, instance) -> bool:
        arity = len(BINDINGS[self.skill.name][instance.args])
        moved = np.asarray(instance.ptrs[:arity]) + self.direction
        return bool(np.array_equal(ptrs[:arity], moved))


class Cmp1Task(Task):
    """CMP1: two digits (or blanks) and a verdict cell that a difference overrides."""

    width = 4
    levels = ("one column",)
    digit_rows = ("CMP",)

    def __init__(self) -> None:
        self.skill = skill_named("CMP1")

    def sample(self, key, counter, level) -> Instance:
        keys, counters = _one(key, counter)
        a, b, verdict = integers(keys, counters, S_CELLS, 3, 0, [11, 11, 3])[0].tolist()
        return Instance(
            level, a=a, b=b, cells={"CMP": (LESS, EQUALS, GREATER)[verdict]}, ptrs=[UNITS] * 3
        )

    def setup(self, grid, instance) -> None:
        grid[0, UNITS], grid[1, UNITS], grid[2, UNITS] = (
            instance.a,
            instance.b,
            instance.cells["CMP"],
        )

    def targets(self, instance) -> dict[str, np.ndarray]:
        a, b = digit_value(instance.a), digit_value(instance.b)
        row = np.full(self.width, BLANK, dtype=np.int64)
        row[UNITS] = GREATER if a > b else LESS if a < b else instance.cells["CMP"]
        return {"CMP": row}

    def succeeded(self, grid, ptrs, instance) -> bool:
        return bool(np.array_equal(grid[2], self.targets(instance)["CMP"]))


class NumberTask(Task):
    """ADD, SUB, MULD, COMPARE, MUL and DIV: two numbers on the first two rows.

    Level ``L`` gives the first operand exactly ``len_a[L]`` digits and the second a length
    uniform in ``[1, len_b[L]]`` (exactly ``len_b[L]`` for MUL). ADD swaps its operands with
    probability 1/2, SUB orders them so that ``a >= b``, COMPARE copies ``a`` into ``b`` with
    probability 1/4, and DIV's divisor is never 0.
    """

    def __init__(self, name: str, len_a: tuple[int, ...], len_b: tuple[int, ...]) -> None:
        self.skill = skill_named(name)
        self.len_a, self.len_b = len_a, len_b
        symbol = {"ADD": "+", "SUB": "-", "MULD": "x", "MUL": "x", "COMPARE": "vs", "DIV": "//"}
        self.levels = tuple(
            f"{a} {symbol[name]} {b if name == 'MUL' else f'1-{b}'} digits"
            for a, b in zip(len_a, len_b, strict=True)
        )
        self.width = max(len_a) + max(len_b) + 3 if name == "MUL" else max(len_a) + 3
        self.digit_rows = ("OUT",) if name in ("ADD", "SUB", "MULD") else ()
        self._bounds: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # per level, for the draw

    def sample_batch(self, keys, counters, level: int) -> tuple[np.ndarray, ...]:
        """``(a digits, a lengths, b digits, b lengths)`` over a batch of keys and counters.

        One ``counter_rng`` call per batch: column 0 draws b's length, 1 a flag (ADD's swap,
        COMPARE's copy), 2-3 the top digits, then a's digits and b's digits.
        """
        name = self.skill.name
        keys = np.asarray(keys, dtype=np.uint64)
        len_a, high_b = self.len_a[level - 1], self.len_b[level - 1]
        low_b = high_b if name == "MUL" else 1
        width = max(len_a, high_b)
        if level not in self._bounds:
            self._bounds[level] = (
                np.array([low_b, 0, 1, 1] + [0] * (2 * width)),
                np.array([high_b + 1, 4 if name == "COMPARE" else 2, 10, 10] + [10] * (2 * width)),
            )
        low, high = self._bounds[level]
        draws = integers(keys, counters, S_NUMBERS, low.size, low, high)
        la = np.full(keys.shape, len_a, dtype=np.int64)
        lb, flag = draws[:, 0], draws[:, 1]
        da = number_digits(la, draws[:, 4 : 4 + width], draws[:, 2])
        db = number_digits(lb, draws[:, 4 + width :], draws[:, 3], zero=name != "DIV")
        if name == "COMPARE":
            same = flag == 0
            db[same], lb[same] = da[same], la[same]
        elif name == "ADD":
            swap = flag == 1
        elif name == "SUB":  # order the operands so that a >= b
            diff = da - db
            top = width - 1 - np.argmax(diff[:, ::-1] != 0, axis=1)
            swap = (la == lb) & (diff[np.arange(len(keys)), top] < 0)
        if name in ("ADD", "SUB"):
            da[swap], db[swap] = db[swap], da[swap].copy()
            la[swap], lb[swap] = lb[swap], la[swap].copy()
        return da, la, db, lb

    def sample(self, key, counter, level) -> Instance:
        da, la, db, lb = self.sample_batch(*_one(key, counter), level)
        a, b = to_int(da[0], int(la[0])), to_int(db[0], int(lb[0]))
        name = self.skill.name
        if name == "ADD":
            expected = a + b
        elif name == "SUB":
            expected = a - b
        elif name in ("MULD", "MUL"):
            expected = a * b
        elif name == "COMPARE":
            expected = GREATER if a > b else LESS if a < b else EQUALS
        else:
            expected = divmod(a, b)
        cells = {"la": int(la[0]), "lb": int(lb[0]), "da": da[0], "db": db[0]}
        return Instance(
            level, a=a, b=b, expected=expected, cells=cells, ptrs=[UNITS] * len(self.skill.roles)
        )

    def setup(self, grid, instance) -> None:
        la, lb = instance.cells["la"], instance.cells["lb"]
        grid[0, UNITS : UNITS + la] = instance.cells["da"][:la]
        grid[1, UNITS : UNITS + lb] = instance.cells["db"][:lb]
        if self.skill.name == "COMPARE":
            grid[2, UNITS] = LESS  # stale verdict: COMPARE must reset it

    def targets(self, instance) -> dict[str, np.ndarray]:
        row = np.full(self.width, BLANK, dtype=np.int64)
        length = len(str(instance.expected)) if self.skill.name == "ADD" else instance.cells["la"]
        write_number(row[None, :], 0, instance.expected, max(length, len(str(instance.expected))))
        return {"OUT": row}

    def succeeded(self, grid, ptrs, instance) -> bool:
        name = self.skill.name
        if name in ("ADD", "SUB", "MULD"):
            out = grid[self.row("OUT", instance)]
            return bool(np.array_equal(out, self.targets(instance)["OUT"]))
        if name == "COMPARE":
            return bool(grid[2, UNITS] == instance.expected)
        if name == "MUL":
            return read_number(grid[self.row("OUT")]) == instance.expected
        quotient, remainder = instance.expected
        return (
            read_number(grid[self.row("QUOT")]) == quotient
            and read_number(grid[self.row("REM")]) == remainder
        )

    def oracle_steps(self, instance) -> int | None:
        """ADD: 2 per column + 1 per carry + RETURN; SUB likewise; MUL: 3 per multiplier digit."""
        name = self.skill.name
        da, db = instance.cells["da"], instance.cells["db"]
        if name == "ADD":
            return column_steps(da, db, len(str(instance.expected)), subtract=False)
        if name == "SUB":
            return column_steps(da, db, instance.cells["la"], subtract=True)
        if name == "MUL":
            return 3 * instance.cells["lb"] + 1
        return None


def column_steps(da: np.ndarray, db: np.ndarray, columns: int, subtract: bool) -> int:
    """The oracle's steps for ADD (or SUB) over ``columns`` columns: 2 per column, 1 per carry
    (borrow), 1 for RETURN. ``da``/``db`` are little-endian digits; a batched twin can replay the
    same carries over a batch axis."""
    steps, carry = 2 * columns + 1, 0
    for col in range(columns):
        a = int(da[col]) if col < len(da) else 0
        b = int(db[col]) if col < len(db) else 0
        carry = int(a - b - carry < 0) if subtract else int(a + b + carry >= 10)
        steps += carry
    return steps


# The share of inexact divisions at the levels below reasoning-gym's. Exact divisions alone never
# show floor division rounding a negative quotient down (EVAL's COMPARE(X, ZERO) then ADD(Z, ONE)
# steps), and a policy learned on them truncates; half keeps the exact case as frequent.
INEXACT_SHARE = 0.5

EVAL_LEVELS: tuple[ExpressionConfig, ...] = (
    ExpressionConfig(2, 2, 1, 1, "+", parentheses=False, negation=False),
    ExpressionConfig(2, 2, 1, 2, "+-", parentheses=False, negation=True),
    ExpressionConfig(2, 3, 1, 2, "+-*", parentheses=False, negation=True),
    ExpressionConfig(2, 3, 1, 2, "+-*/", parentheses=False, negation=True,
                     inexact_share=INEXACT_SHARE),
    ExpressionConfig(2, 4, 1, 3, "+-*/", parentheses=True, negation=True,
                     inexact_share=INEXACT_SHARE),
    ExpressionConfig(),  # reasoning-gym's default configuration: exact division only
)


def eval_width(tokens: list[int], largest: int) -> int:
    """Columns EVAL needs: the expression and ``=``, or the longest number plus the room that
    MUL's carries and DIV's climb past the top digit take."""
    return max(len(tokens) + 1, len(str(largest)) + 4) + 1


class EvalTask(Task):
    """EVAL: an expression on the EXPR row; the sub-pad rows start blank, ONE holds 1."""

    levels = tuple(
        f"{c.min_terms}-{c.max_terms} terms of {c.min_digits}-{c.max_digits} digits, "
        f"{c.operators}{', brackets' if c.parentheses else ''}"
        f"{f', {c.inexact_share:.0%} of divisions inexact' if c.inexact_share else ''}"
        for c in EVAL_LEVELS
    )
    width = 64

    def __init__(self) -> None:
        self.skill = skill_named("EVAL")

    def sample(self, key, counter, level) -> Instance:
        text, value = generate(EVAL_LEVELS[level - 1], Uniforms(key, counter, S_EXPRESSION))
        return self.instance(text, level)

    def instance(self, text: str, level: int = 1, width: int | None = None) -> Instance:
        """The instance of a given expression; raises if it does not fit ``width`` columns."""
        tokens = expression.parse(text)
        value, largest = expression.evaluate(tokens)
        need = eval_width(tokens, largest)
        if need > (width or self.width):
            raise ValueError(
                f"expression {text!r} needs {need} columns, the pad has {width or self.width}"
            )
        ptrs = [0] + [UNITS] * (len(self.skill.roles) - 1)
        return Instance(level, expected=value, text=text, cells={"tokens": tokens}, ptrs=ptrs)

    def setup(self, grid, instance) -> None:
        tokens = instance.cells["tokens"]
        grid[0, : len(tokens) + 1] = tokens + [EQUALS]
        grid[self.row("ONE"), UNITS] = 1

    def succeeded(self, grid, ptrs, instance) -> bool:
        answer = expression.number_tokens(instance.expected) + [EQUALS]
        row = grid[0]
        return bool(
            np.array_equal(row[: len(answer)], answer) and np.all(row[len(answer) :] == BLANK)
        )


def _tasks() -> dict[str, Task]:
    tasks: list[Task] = [
        ColumnTask("ADD1"),
        ColumnTask("SUB1"),
        ColumnTask("MUL1"),
        CarryTask("CARRY"),
        CarryTask("BORROW"),
        ShiftTask("LSHIFT"),
        ShiftTask("RSHIFT"),
        Cmp1Task(),
    ]
    sizes = (1, 2, 3, 5, 10, 20, 50, 100)
    tasks += [NumberTask("ADD", sizes, sizes), NumberTask("SUB", sizes, sizes)]
    tasks.append(NumberTask("MULD", (1, 2, 3, 5, 10, 20), (1,) * 6))
    tasks.append(NumberTask("COMPARE", (1, 2, 3, 5, 10, 20), (1, 2, 3, 5, 10, 20)))
    tasks.append(NumberTask("MUL", (1, 2, 2, 3, 3, 5, 10, 20), (1, 1, 2, 2, 3, 5, 10, 20)))
    tasks.append(NumberTask("DIV", (1, 2, 3, 4, 6, 10), (1, 1, 1, 2, 3, 5)))
    tasks.append(EvalTask())
    return {task.skill.name: task for task in tasks}


TASKS: dict[str, Task] = _tasks()
