"""The oracle: for every skill, its next action as a function of the skill's observation alone.

Each rule reads only the tokens under the skill's pointers, its args and its previous action, so a
memoryless policy can represent every skill exactly and run it on numbers of any length. The
oracle is therefore an ordinary child policy, ``oracle(obs, action_mask) -> int``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from skillgym.envs.aec.skills import (
    ACTION_A,
    ACTION_FIND,
    ACTION_KIND,
    ACTION_LOAD,
    ACTION_RETURN,
    ACTION_STORE,
    BINDINGS,
    NO_ACTION,
    SKILL_INDEX,
    WRITE,
    call_action,
    move_action,
    skill_named,
    write_action,
)
from skillgym.envs.aec.tokens import (
    BLANK,
    DIVIDE,
    EQUALS,
    GREATER,
    LESS,
    MINUS,
    NEG,
    PLUS,
    TIMES,
    digit_value,
)

Rule = Callable[[list, int, int], int]
_COLUMN = ("IN1", "IN2", "CARRY", "OUT")


def _column_unit(digit: Callable[[int, int, int], int]) -> Rule:
    """ADD1 / SUB1: write ``digit(a, b, c) mod 10`` on OUT, then consume the carry, then return."""
    skill = skill_named("ADD1")  # ADD1 and SUB1 share their roles, so their action ids agree
    writes = [write_action(skill, "OUT", d) for d in range(10)]
    clear = write_action(skill, "CARRY", BLANK)

    def rule(tokens: list, prev: int, args: int) -> int:
        a, b, c = tokens[0], tokens[1], tokens[2]
        if prev == NO_ACTION:
            return writes[digit(digit_value(a), digit_value(b), digit_value(c)) % 10]
        if prev != clear and c != BLANK:
            return clear
        return ACTION_RETURN

    return rule


def _carry() -> Rule:
    """CARRY / BORROW: step to the next column, write 1, step back, return."""
    skill = skill_named("CARRY")  # BORROW has the same roles and primitives
    up, down = move_action(skill, "CARRY", 1), move_action(skill, "CARRY", -1)
    write = write_action(skill, "CARRY", 1)
    following = {NO_ACTION: up, up: write, write: down}

    def rule(tokens: list, prev: int, args: int) -> int:
        return following.get(prev, ACTION_RETURN)

    return rule


def _shift(direction: int) -> Rule:
    """LSHIFT / RSHIFT: move each bound role once, in slot order, then return."""
    skill = skill_named("LSHIFT")
    moves = [move_action(skill, role, direction) for role in skill.roles]

    def rule(tokens: list, prev: int, args: int) -> int:
        arity = len(BINDINGS["LSHIFT" if direction > 0 else "RSHIFT"][args])
        done = 0 if prev == NO_ACTION else ACTION_A[prev] + 1
        return moves[done] if done < arity else ACTION_RETURN

    return rule


def _mul1() -> Rule:
    """MUL1: write (a * b + c) mod 10 on OUT, then the high digit in the carry cell if new."""
    skill = skill_named("MUL1")
    out = [write_action(skill, "OUT", d) for d in range(10)]
    out_slot = skill.roles.index("OUT")
    carry = [write_action(skill, "CARRY", BLANK)] + [
        write_action(skill, "CARRY", d) for d in range(1, 9)
    ]

    def rule(tokens: list, prev: int, args: int) -> int:
        a, b, c = tokens[0], tokens[1], tokens[2]
        total = digit_value(a) * digit_value(b) + digit_value(c)
        if prev == NO_ACTION:
            return out[total % 10]
        if ACTION_KIND[prev] == WRITE and ACTION_A[prev] == out_slot:
            high = total // 10
            return carry[high] if (high or BLANK) != c else ACTION_RETURN
        return ACTION_RETURN

    return rule


def _cmp1() -> Rule:
    """CMP1: a digit difference overrides the verdict cell; equal digits leave it."""
    skill = skill_named("CMP1")
    less, greater = write_action(skill, "CMP", LESS), write_action(skill, "CMP", GREATER)

    def rule(tokens: list, prev: int, args: int) -> int:
        if prev != NO_ACTION:
            return ACTION_RETURN
        a, b = digit_value(tokens[0]), digit_value(tokens[1])
        return greater if a > b else less if a < b else ACTION_RETURN

    return rule


def _column_loop(fix: str, unit: str, overflows: Callable[[int, int, int], bool]) -> Rule:
    """ADD / SUB: per column, CARRY (BORROW) if the column overflows, then ADD1 (SUB1), LSHIFT."""
    call_fix = call_action(fix, ("CARRY",))
    call_unit = call_action(unit, _COLUMN)
    shift = call_action("LSHIFT", _COLUMN)

    def rule(tokens: list, prev: int, args: int) -> int:
        if prev == call_unit:
            return shift
        if prev == call_fix:
            return call_unit
        a, b, c = tokens[0], tokens[1], tokens[2]
        if a == BLANK and b == BLANK and c == BLANK:
            return ACTION_RETURN
        if overflows(digit_value(a), digit_value(b), digit_value(c)):
            return call_fix
        return call_unit

    return rule


def _muld() -> Rule:
    """MULD: MUL1 and LSHIFT(IN1 OUT) until the multiplicand and the carry cell are blank."""
    call_unit = call_action("MUL1", _COLUMN)
    shift = call_action("LSHIFT", ("IN1", "OUT"))

    def rule(tokens: list, prev: int, args: int) -> int:
        if prev == call_unit:
            return shift
        if tokens[0] == BLANK and tokens[2] == BLANK:
            return ACTION_RETURN
        return call_unit

    return rule


def _compare() -> Rule:
    """COMPARE: reset the verdict to =, then CMP1 and LSHIFT from the units up to both ends."""
    reset = write_action(skill_named("COMPARE"), "CMP", EQUALS)
    call_unit = call_action("CMP1", ("IN1", "IN2", "CMP"))
    shift = call_action("LSHIFT", ("IN1", "IN2"))

    def rule(tokens: list, prev: int, args: int) -> int:
        if prev == NO_ACTION:
            return reset
        if prev == call_unit:
            return shift
        if tokens[0] == BLANK and tokens[1] == BLANK:
            return ACTION_RETURN
        return call_unit

    return rule


def _mul() -> Rule:
    """MUL: per multiplier digit, MULD into PART, ADD PART into OUT in place, LSHIFT."""
    partial = call_action("MULD", ("IN1", "IN2", "CARRY", "PART"))
    accumulate = call_action("ADD", ("OUT", "PART", "CARRY", "OUT"))
    shift = call_action("LSHIFT", ("IN2", "CARRY", "PART", "OUT"))

    def rule(tokens: list, prev: int, args: int) -> int:
        if prev == partial:
            return accumulate
        if prev == accumulate:
            return shift
        return ACTION_RETURN if tokens[1] == BLANK else partial

    return rule


def _div() -> Rule:
    """DIV: climb to the dividend's top digit, then per column COMPARE, SUB and count, RSHIFT."""
    skill = skill_named("DIV")
    compare = call_action("COMPARE", ("REM", "DIVISOR", "CMP"))
    subtract = call_action("SUB", ("REM", "DIVISOR", "BORROW", "REM"))
    up = call_action("LSHIFT", ("REM", "BORROW", "QUOT"))
    down = call_action("RSHIFT", ("REM", "BORROW", "QUOT"))
    quotient = [write_action(skill, "QUOT", d) for d in range(10)]

    def rule(tokens: list, prev: int, args: int) -> int:
        rem, quot, verdict = tokens[0], tokens[3], tokens[4]
        if prev == NO_ACTION or prev == up:  # climb to the dividend's most significant digit
            return up if rem != BLANK else down
        if prev == down:
            return ACTION_RETURN if rem == BLANK else compare
        if prev == compare:
            if verdict != LESS:
                return subtract
            return quotient[0] if quot == BLANK else down
        if prev == subtract:
            digit = digit_value(quot) + 1
            # A tenth subtraction only happens with a zero divisor, which DIV's callers never
            # pass; a caller that does gets DIV's return rather than an endless count.
            return quotient[digit] if digit < 10 else ACTION_RETURN
        return down if prev == quotient[0] else compare

    return rule


def _eval() -> Rule:
    """EVAL: FIND, LOAD, the arithmetic child chosen by operator and signs, the sign, STORE."""
    skill = skill_named("EVAL")
    add = call_action("ADD", ("X", "Y", "CARRY", "Z"))
    add_one = call_action("ADD", ("Z", "ONE", "CARRY", "Z"))
    sub = call_action("SUB", ("X", "Y", "CARRY", "Z"))
    sub_swapped = call_action("SUB", ("Y", "X", "CARRY", "Z"))
    mul = call_action("MUL", ("X", "Y", "CARRY", "PART", "Z"))
    div = call_action("DIV", ("X", "Y", "CARRY", "Z", "CMP"))
    compare = call_action("COMPARE", ("X", "Y", "CMP"))
    remainder = call_action("COMPARE", ("X", "ZERO", "CMP"))
    negate = write_action(skill, "SZ", NEG)

    def rule(tokens: list, prev: int, args: int) -> int:
        op, verdict = tokens[0], tokens[6]
        x_negative, y_negative = tokens[7] == NEG, tokens[8] == NEG
        # the sign the right operand contributes to a sum: y, or -y after a binary minus
        y_term_negative = y_negative != (op == MINUS)
        if prev == NO_ACTION or prev == ACTION_STORE:
            return ACTION_FIND
        if prev == ACTION_FIND:
            return ACTION_LOAD if op in (PLUS, MINUS, TIMES, DIVIDE) else ACTION_RETURN
        if prev == ACTION_LOAD:
            if op == TIMES:
                return mul
            if op == DIVIDE:
                return div
            return add if x_negative == y_term_negative else compare
        if prev == compare:
            return sub_swapped if verdict == LESS else sub
        if prev in (add, sub):
            negative = x_negative
        elif prev == sub_swapped:
            negative = y_term_negative
        elif prev == mul:
            negative = x_negative != y_negative
        elif prev == div:
            # floor division of magnitudes; with opposite signs, -(q + 1) when the division
            # leaves a remainder, which COMPARE(X, ZERO) detects on the reduced dividend
            return remainder if x_negative != y_negative else ACTION_STORE
        elif prev == remainder:
            return add_one if verdict == GREATER else negate
        elif prev == add_one:
            return negate
        else:  # prev == negate
            return ACTION_STORE
        return negate if negative else ACTION_STORE

    return rule


RULES: dict[int, Rule] = {
    SKILL_INDEX["ADD1"]: _column_unit(lambda a, b, c: a + b + c),
    SKILL_INDEX["SUB1"]: _column_unit(lambda a, b, c: a - b - c),
    SKILL_INDEX["CARRY"]: _carry(),
    SKILL_INDEX["LSHIFT"]: _shift(1),
    SKILL_INDEX["RSHIFT"]: _shift(-1),
    SKILL_INDEX["MUL1"]: _mul1(),
    SKILL_INDEX["CMP1"]: _cmp1(),
    SKILL_INDEX["ADD"]: _column_loop("CARRY", "ADD1", lambda a, b, c: a + b + c >= 10),
    SKILL_INDEX["SUB"]: _column_loop("BORROW", "SUB1", lambda a, b, c: a - b - c < 0),
    SKILL_INDEX["MULD"]: _muld(),
    SKILL_INDEX["COMPARE"]: _compare(),
    SKILL_INDEX["MUL"]: _mul(),
    SKILL_INDEX["DIV"]: _div(),
    SKILL_INDEX["EVAL"]: _eval(),
}
RULES[SKILL_INDEX["BORROW"]] = RULES[SKILL_INDEX["CARRY"]]  # same roles, same actions


def oracle(obs: dict, action_mask: np.ndarray | None = None) -> int:
    """The oracle's action for an observation of any skill (``action_mask`` is not needed)."""
    return RULES[int(obs["skill"])](
        obs["tokens"].tolist(), int(obs["prev_action"]), int(obs["args"])
    )
