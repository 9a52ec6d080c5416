"""The AEC skill hierarchy and the one action set that every skill shares.

A skill works on *roles*: named rows of the scratchpad, each with its own pointer. A skill that
calls a child binds each of the child's roles to one of its own (a *binding*, e.g. MUL calls ADD
with ``(OUT, PART, CARRY, OUT)`` to accumulate a partial product in place). Every binding of a
child used anywhere in the hierarchy gets an index, the child's *args*, which is part of the CALL
action and of the child's observation.

Level-1 skills are *macros*: they move their caller's pointers (LSHIFT exists to do exactly that).
Skills of level 2 and up are *subroutines*: they start from their caller's pointers and the caller's
pointers are unchanged when they return.

The global action set is ``Discrete(NUM_ACTIONS)``, laid out as:

- ``MOVE(slot, dir)`` for every role slot and direction (+1: towards more significant digits),
- ``WRITE(slot, token)`` for every role slot and token,
- ``FIND``, ``LOAD``, ``STORE``: EVAL's expression operations,
- ``CALL(child, args)`` for every skill and every binding of it,
- ``RETURN``.

A slot is a position in the active skill's role list, so ``WRITE(3, 7)`` writes 7 on ADD's OUT.

``MASKS`` holds each skill's own action set: its primitives, its CALLs and RETURN.
``PRIMITIVE_MASKS`` holds the flat baseline's: the primitives of the skill and of every skill
below it, renamed to the skill's roles through the bindings, the reverse of every pointer move
made inside a subroutine (whose return would have undone it), and RETURN, without any CALL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skillgym.envs.aec.tokens import BLANK, EQUALS, GREATER, LESS, NEG, NUM_TOKENS, TOKEN_TEXT

MOVE, WRITE, FIND, LOAD, STORE, CALL, RETURN = range(7)
KIND_NAMES = ("MOVE", "WRITE", "FIND", "LOAD", "STORE", "CALL", "RETURN")
DIGITS = tuple(range(10))


@dataclass(frozen=True)
class Skill:
    """One skill of the hierarchy.

    Args:
        name: upper-case name, e.g. ``"ADD"``.
        title: the name in env ids, e.g. ``"Add"`` for ``skillgym/AEC-Add-v0``.
        level: 1 for basic skills (macros), 2 and up for subroutines.
        roles: the rows the skill works on, in slot order.
        children: ``(child name, binding)`` pairs, a binding naming one of this skill's roles
            for each of the child's roles.
        moves: the ``(role, dir)`` MOVE primitives the skill may use.
        writes: the ``(role, token)`` WRITE primitives the skill may use.
        expression_ops: whether the skill may use FIND, LOAD and STORE.
        summary: one line for env listings.
    """

    name: str
    title: str
    level: int
    roles: tuple[str, ...]
    children: tuple[tuple[str, tuple[str, ...]], ...] = ()
    moves: tuple[tuple[str, int], ...] = ()
    writes: tuple[tuple[str, int], ...] = ()
    expression_ops: bool = False
    summary: str = ""


_COLUMN = ("IN1", "IN2", "CARRY", "OUT")
_SHIFT_ROLES = ("P0", "P1", "P2", "P3")

SKILLS: tuple[Skill, ...] = (
    Skill(
        "ADD1",
        "Add1",
        1,
        _COLUMN,
        writes=tuple(("OUT", d) for d in DIGITS) + (("CARRY", BLANK),),
        summary="one column of addition: write (a + b + carry) mod 10, consume the carry",
    ),
    Skill(
        "SUB1",
        "Sub1",
        1,
        _COLUMN,
        writes=tuple(("OUT", d) for d in DIGITS) + (("CARRY", BLANK),),
        summary="one column of subtraction: write (a - b - borrow) mod 10, consume the borrow",
    ),
    Skill(
        "CARRY",
        "Carry",
        1,
        ("CARRY",),
        moves=(("CARRY", 1), ("CARRY", -1)),
        writes=(("CARRY", 1),),
        summary="write a carry of 1 in the next column of the carry row",
    ),
    Skill(
        "BORROW",
        "Borrow",
        1,
        ("CARRY",),
        moves=(("CARRY", 1), ("CARRY", -1)),
        writes=(("CARRY", 1),),
        summary="write a borrow of 1 in the next column of the borrow row",
    ),
    Skill(
        "LSHIFT",
        "Lshift",
        1,
        _SHIFT_ROLES,
        moves=tuple((role, 1) for role in _SHIFT_ROLES),
        summary="move every bound pointer one column towards the more significant digits",
    ),
    Skill(
        "RSHIFT",
        "Rshift",
        1,
        _SHIFT_ROLES,
        moves=tuple((role, -1) for role in _SHIFT_ROLES),
        summary="move every bound pointer one column towards the less significant digits",
    ),
    Skill(
        "MUL1",
        "Mul1",
        1,
        _COLUMN,
        writes=tuple(("OUT", d) for d in DIGITS)
        + tuple(("CARRY", d) for d in range(1, 9))
        + (("CARRY", BLANK),),
        summary="digit x digit + carry: write the low digit, keep the high one in the carry cell",
    ),
    Skill(
        "CMP1",
        "Cmp1",
        1,
        ("IN1", "IN2", "CMP"),
        writes=(("CMP", LESS), ("CMP", GREATER)),
        summary="compare two digits; a difference overrides the verdict cell",
    ),
    Skill(
        "ADD",
        "Add",
        2,
        _COLUMN,
        children=(("CARRY", ("CARRY",)), ("ADD1", _COLUMN), ("LSHIFT", _COLUMN)),
        summary="n-digit addition, column by column (ADD1, CARRY, LSHIFT)",
    ),
    Skill(
        "SUB",
        "Sub",
        2,
        _COLUMN,
        children=(("BORROW", ("CARRY",)), ("SUB1", _COLUMN), ("LSHIFT", _COLUMN)),
        summary="n-digit subtraction a - b with a >= b (SUB1, BORROW, LSHIFT)",
    ),
    Skill(
        "MULD",
        "Muld",
        2,
        _COLUMN,
        children=(("MUL1", _COLUMN), ("LSHIFT", ("IN1", "OUT"))),
        summary="n-digit x 1-digit multiplication (MUL1, LSHIFT)",
    ),
    Skill(
        "COMPARE",
        "Compare",
        2,
        ("IN1", "IN2", "CMP"),
        children=(("CMP1", ("IN1", "IN2", "CMP")), ("LSHIFT", ("IN1", "IN2"))),
        writes=(("CMP", EQUALS),),
        summary="compare two numbers into a verdict cell: <, = or > (CMP1, LSHIFT)",
    ),
    Skill(
        "MUL",
        "Mul",
        3,
        ("IN1", "IN2", "CARRY", "PART", "OUT"),
        children=(
            ("MULD", ("IN1", "IN2", "CARRY", "PART")),
            ("ADD", ("OUT", "PART", "CARRY", "OUT")),
            ("LSHIFT", ("IN2", "CARRY", "PART", "OUT")),
        ),
        summary="long multiplication: MULD per multiplier digit, ADD into the product, LSHIFT",
    ),
    Skill(
        "DIV",
        "Div",
        3,
        ("REM", "DIVISOR", "BORROW", "QUOT", "CMP"),
        children=(
            ("COMPARE", ("REM", "DIVISOR", "CMP")),
            ("SUB", ("REM", "DIVISOR", "BORROW", "REM")),
            ("LSHIFT", ("REM", "BORROW", "QUOT")),
            ("RSHIFT", ("REM", "BORROW", "QUOT")),
        ),
        writes=tuple(("QUOT", d) for d in DIGITS),
        summary="long division: quotient digit by digit with COMPARE and repeated SUB",
    ),
    Skill(
        "EVAL",
        "Eval",
        4,
        ("EXPR", "X", "Y", "CARRY", "PART", "Z", "CMP", "SX", "SY", "SZ", "ONE", "ZERO"),
        children=(
            ("ADD", ("X", "Y", "CARRY", "Z")),
            ("ADD", ("Z", "ONE", "CARRY", "Z")),
            ("SUB", ("X", "Y", "CARRY", "Z")),
            ("SUB", ("Y", "X", "CARRY", "Z")),
            ("MUL", ("X", "Y", "CARRY", "PART", "Z")),
            ("DIV", ("X", "Y", "CARRY", "Z", "CMP")),
            ("COMPARE", ("X", "Y", "CMP")),
            ("COMPARE", ("X", "ZERO", "CMP")),
        ),
        writes=(("SZ", NEG),),
        expression_ops=True,
        summary="evaluate an integer expression: FIND, LOAD, ADD/SUB/MUL/DIV with signs, STORE",
    ),
)

SKILL_NAMES: tuple[str, ...] = tuple(skill.name for skill in SKILLS)
SKILL_INDEX: dict[str, int] = {name: i for i, name in enumerate(SKILL_NAMES)}
NUM_SKILLS = len(SKILLS)
NUM_SLOTS = max(len(skill.roles) for skill in SKILLS)
UNBOUND = NUM_SLOTS  # index of the always-blank slot that unbound roles point to


def skill_named(name: str) -> Skill:
    """The skill called ``name`` (upper case), or a ``ValueError`` listing the known ones."""
    if name not in SKILL_INDEX:
        raise ValueError(f"skill must be one of {list(SKILL_NAMES)}, got {name!r}")
    return SKILLS[SKILL_INDEX[name]]


def _bindings() -> dict[str, list[tuple[str, ...]]]:
    found: dict[str, list[tuple[str, ...]]] = {name: [] for name in SKILL_NAMES}
    for skill in SKILLS:
        for child, binding in skill.children:
            if binding not in found[child]:
                found[child].append(binding)
    return found


# BINDINGS[child][args] is the tuple of caller roles bound to the child's roles.
BINDINGS: dict[str, list[tuple[str, ...]]] = _bindings()
MAX_ARGS = max(1, max(len(b) for b in BINDINGS.values()))


def _build_actions() -> list[tuple[int, int, int]]:
    actions = [(MOVE, slot, d) for slot in range(NUM_SLOTS) for d in (1, -1)]
    actions += [(WRITE, slot, tok) for slot in range(NUM_SLOTS) for tok in range(NUM_TOKENS)]
    actions += [(FIND, 0, 0), (LOAD, 0, 0), (STORE, 0, 0)]
    actions += [
        (CALL, SKILL_INDEX[name], args)
        for name in SKILL_NAMES
        for args in range(len(BINDINGS[name]))
    ]
    actions.append((RETURN, 0, 0))
    return actions


ACTIONS: list[tuple[int, int, int]] = _build_actions()
NUM_ACTIONS = len(ACTIONS)
NO_ACTION = NUM_ACTIONS  # ``prev_action`` before a skill's first step
ACTION_KIND = [kind for kind, _, _ in ACTIONS]
ACTION_A = [a for _, a, _ in ACTIONS]
ACTION_B = [b for _, _, b in ACTIONS]
_ACTION_ID = {action: i for i, action in enumerate(ACTIONS)}
ACTION_RETURN = _ACTION_ID[(RETURN, 0, 0)]
ACTION_FIND = _ACTION_ID[(FIND, 0, 0)]
ACTION_LOAD = _ACTION_ID[(LOAD, 0, 0)]
ACTION_STORE = _ACTION_ID[(STORE, 0, 0)]


def move_action(skill: Skill, role: str, direction: int) -> int:
    """The id of ``MOVE(role, direction)`` for ``skill``."""
    return _ACTION_ID[(MOVE, skill.roles.index(role), direction)]


def write_action(skill: Skill, role: str, token: int) -> int:
    """The id of ``WRITE(role, token)`` for ``skill``."""
    return _ACTION_ID[(WRITE, skill.roles.index(role), token)]


def call_action(child: str, binding: tuple[str, ...]) -> int:
    """The id of ``CALL(child)`` with the given binding of the caller's roles."""
    return _ACTION_ID[(CALL, SKILL_INDEX[child], BINDINGS[child].index(binding))]


# A primitive as ``(kind, role, b)`` in one skill's role names; FIND, LOAD and STORE have no role.
Primitive = tuple[int, str | None, int]


def _own_primitives(skill: Skill) -> set[Primitive]:
    primitives = {(MOVE, role, direction) for role, direction in skill.moves}
    primitives |= {(WRITE, role, token) for role, token in skill.writes}
    if skill.expression_ops:
        primitives |= {(FIND, None, 0), (LOAD, None, 0), (STORE, None, 0)}
    return primitives


def _descendant_primitives(skill: Skill) -> set[Primitive]:
    """The primitives ``skill`` and every skill below it may execute, in ``skill``'s roles, and
    the moves that undo a subroutine's pointer moves.

    A child's primitive on a role bound to one of ``skill``'s roles is renamed to that role; a
    primitive on a role the binding leaves unbound is dropped, since it cannot reach ``skill``'s
    pad (LSHIFT's ``MOVE(P2, +1)`` under MULD's ``LSHIFT(IN1 OUT)``). A subroutine child (level
    2 and up) works on copies of its caller's pointers, so its return puts them back; without
    CALL the pointers are the caller's own, so every move of a subroutine child comes with its
    reverse (MUL gets ``MOVE(IN1, -1)`` to start MULD over for the next multiplier digit).
    """
    primitives = _own_primitives(skill)
    for name, binding in skill.children:
        child = skill_named(name)
        caller_role = dict(zip(child.roles[: len(binding)], binding, strict=True))
        renamed = {
            (kind, role if role is None else caller_role[role], b)
            for kind, role, b in _descendant_primitives(child)
            if role is None or role in caller_role
        }
        if child.level > 1:
            renamed |= {(MOVE, role, -b) for kind, role, b in renamed if kind == MOVE}
        primitives |= renamed
    return primitives


def _primitive_ids(skill: Skill, primitives: set[Primitive]) -> list[int]:
    return [
        _ACTION_ID[(kind, 0 if role is None else skill.roles.index(role), b)]
        for kind, role, b in primitives
    ]


def _masks() -> np.ndarray:
    masks = np.zeros((NUM_SKILLS, NUM_ACTIONS), dtype=bool)
    for i, skill in enumerate(SKILLS):
        masks[i, _primitive_ids(skill, _own_primitives(skill))] = True
        for child, binding in skill.children:
            masks[i, call_action(child, binding)] = True
        masks[i, ACTION_RETURN] = True
    return masks


def _primitive_masks() -> np.ndarray:
    masks = np.zeros((NUM_SKILLS, NUM_ACTIONS), dtype=bool)
    for i, skill in enumerate(SKILLS):
        masks[i, _primitive_ids(skill, _descendant_primitives(skill))] = True
        masks[i, ACTION_RETURN] = True
    return masks


# MASKS[skill] is the boolean action mask of a skill: its own primitives, children and RETURN.
MASKS: np.ndarray = _masks()
# PRIMITIVE_MASKS[skill]: the primitives of the skill and all its descendants in the skill's
# roles, with reverses of subroutine moves, and RETURN; no CALL (the flat baseline's action set).
PRIMITIVE_MASKS: np.ndarray = _primitive_masks()
# The action sets an env's own skill may act with, by name (``AECEnv(actions=...)``).
ACTION_SETS: dict[str, np.ndarray] = {"skill": MASKS, "primitive": PRIMITIVE_MASKS}


def _slot_maps() -> dict[tuple[int, int], np.ndarray]:
    maps = {}
    for i, skill in enumerate(SKILLS):
        for child, binding in skill.children:
            slots = np.full(NUM_SLOTS + 1, UNBOUND, dtype=np.int64)
            slots[: len(binding)] = [skill.roles.index(role) for role in binding]
            maps[i, call_action(child, binding)] = slots
    return maps


# SLOT_MAPS[caller, call action][child slot] is the caller's slot bound to it (UNBOUND if none).
SLOT_MAPS: dict[tuple[int, int], np.ndarray] = _slot_maps()


def _max_depth(name: str) -> int:
    children = {child for child, _ in skill_named(name).children}
    return 1 + max((_max_depth(child) for child in children), default=0)


MAX_DEPTH = max(_max_depth(name) for name in SKILL_NAMES) - 1


def action_name(action: int, skill: Skill | None = None) -> str:
    """A readable name, e.g. ``WRITE(OUT, 7)`` or ``CALL(ADD, OUT PART CARRY OUT)``."""
    if action == NO_ACTION:
        return "START"
    kind, a, b = ACTIONS[action]
    role = skill.roles[a] if skill is not None and a < len(skill.roles) else f"slot{a}"
    if kind == MOVE:
        return f"MOVE({role}, {'+1' if b > 0 else '-1'})"
    if kind == WRITE:
        return f"WRITE({role}, {TOKEN_TEXT[b]})"
    if kind == CALL:
        return f"CALL({SKILL_NAMES[a]}, {' '.join(BINDINGS[SKILL_NAMES[a]][b])})"
    return KIND_NAMES[kind]
