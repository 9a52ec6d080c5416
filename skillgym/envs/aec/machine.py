"""The scratchpad machine: a grid of tokens, pointers, and a stack of skill frames.

The machine executes the global actions of :mod:`skillgym.envs.aec.skills` for the skill on top of
its stack. A CALL pushes the child's frame and runs the child, through its policy, until it
returns or exceeds the step limit; the whole call is one step of the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from skillgym.envs.aec import expression
from skillgym.envs.aec.oracle import RULES, oracle
from skillgym.envs.aec.skills import (
    ACTION_A,
    ACTION_B,
    ACTION_KIND,
    CALL,
    FIND,
    LOAD,
    MASKS,
    MOVE,
    NO_ACTION,
    NUM_SLOTS,
    RETURN,
    SKILLS,
    SLOT_MAPS,
    STORE,
    UNBOUND,
    WRITE,
    skill_named,
)
from skillgym.envs.aec.tokens import BLANK, EQUALS, NEG, UNITS, read_number, write_number

Policy = Callable[[dict, np.ndarray], int]

# Status codes of Machine.step
DONE, RETURNED, ILLEGAL = 0, 1, 2

_MACRO = [skill.level == 1 for skill in SKILLS]
# Per (caller, CALL action): the child's bound slots and the caller's slots they are bound to,
# through which a macro hands its pointer moves back.
_HANDBACK = {
    key: (np.flatnonzero(slots != UNBOUND), slots[slots != UNBOUND])
    for key, slots in SLOT_MAPS.items()
}

# EVAL's role slots, for its expression operations
_E, _X, _Y, _CARRY, _PART, _Z, _CMP, _SX, _SY, _SZ = (
    skill_named("EVAL").roles.index(role)
    for role in ("EXPR", "X", "Y", "CARRY", "PART", "Z", "CMP", "SX", "SY", "SZ")
)


class Frame:
    """One active skill: its rows and pointers per role slot, its args, action mask and previous
    action.

    ``rows``, ``ptrs`` and ``cells`` (the flat grid index ``row * width + ptr`` of each pointer)
    have ``NUM_SLOTS + 1`` entries; the last is the unbound slot, which reads the machine's
    always-blank row at column 0. ``mask`` is the set of actions the frame may take.
    """

    __slots__ = ("skill", "args", "rows", "ptrs", "cells", "mask", "visible", "prev")

    def __init__(
        self,
        skill: int,
        args: int,
        rows: np.ndarray,
        ptrs: np.ndarray,
        cells: np.ndarray,
        mask: np.ndarray,
    ) -> None:
        self.skill = skill
        self.args = args
        self.rows = rows
        self.ptrs = ptrs
        self.cells = cells
        self.mask = mask
        self.visible = cells[:NUM_SLOTS]
        self.prev = NO_ACTION

    # ``visible`` is a view of ``cells``; a pickled copy would no longer see pointer moves.
    def __getstate__(self) -> tuple:
        return self.skill, self.args, self.rows, self.ptrs, self.cells, self.mask, self.prev

    def __setstate__(self, state: tuple) -> None:
        self.skill, self.args, self.rows, self.ptrs, self.cells, self.mask, self.prev = state
        self.visible = self.cells[:NUM_SLOTS]


class Machine:
    """A scratchpad of ``num_rows`` rows and ``width`` columns, plus an always-blank row.

    Args:
        num_rows: rows of the pad (the top skill's roles bind to rows ``0 .. num_rows - 1``).
        width: columns; pointers stay in ``[0, width - 1]`` (a MOVE past an edge does nothing).
        policies: the policy of each skill index that may be called; see :meth:`call`.
        child_step_limit: the most steps a called child may take before its CALL is ended.
        grid_obs: include a copy of the grid in observations.
        top_masks: the action masks, one row per skill, of the skill that :meth:`start` runs:
            ``MASKS`` (default) or ``PRIMITIVE_MASKS`` (the flat baseline). A called child always
            acts with its row of ``MASKS``.

    ``primitives`` counts the primitive actions (MOVE, WRITE, FIND, LOAD, STORE) executed at
    any depth since :meth:`start`; CALLs and RETURNs are not primitives.
    """

    def __init__(
        self,
        num_rows: int,
        width: int,
        policies: Mapping[int, Policy],
        child_step_limit: int,
        grid_obs: bool = False,
        top_masks: np.ndarray = MASKS,
    ) -> None:
        self.grid = np.full((num_rows + 1, width), BLANK, dtype=np.int64)
        self.flat = self.grid.reshape(-1)  # a view: writes through either name are shared
        self.blank_row = num_rows
        self.width = width
        self.policies = policies
        self.child_step_limit = child_step_limit
        self.grid_obs = grid_obs
        self.top_masks = top_masks
        self.frames: list[Frame] = []
        self.primitives = 0
        self.watched: frozenset[int] = frozenset()
        self.writes: list[tuple[int, int, int]] = []  # (row, column, token) on watched rows
        self.child_timeouts: list[str] = []

    # ``flat`` is a view of ``grid``; pickling (checkpoints, deepcopy) would make it a separate
    # copy that no longer sees the grid's writes, so it is rebuilt from the restored grid.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["flat"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.flat = self.grid.reshape(-1)

    def start(self, skill: int, args: int, rows, ptrs) -> None:
        """Clear the stack and make ``skill`` the top frame with the given rows and pointers,
        acting with its row of ``top_masks``."""
        frame_rows = np.full(NUM_SLOTS + 1, self.blank_row, dtype=np.int64)
        frame_ptrs = np.zeros(NUM_SLOTS + 1, dtype=np.int64)
        frame_rows[: len(rows)] = rows
        frame_ptrs[: len(ptrs)] = ptrs
        cells = frame_rows * self.width + frame_ptrs
        self.frames = [Frame(skill, args, frame_rows, frame_ptrs, cells, self.top_masks[skill])]
        self.primitives = 0
        self.writes.clear()
        self.child_timeouts.clear()

    @property
    def top(self) -> Frame:
        """The active frame."""
        return self.frames[-1]

    def observe(self, frame: Frame | None = None) -> dict:
        """The observation of ``frame`` (default: the active one); fields as in the env's docs.

        A frame given explicitly is the bottom one (depth 0), which stays observable after it
        has returned.
        """
        depth = 0 if frame is not None else len(self.frames) - 1
        frame = frame if frame is not None else self.frames[-1]
        obs = {
            "tokens": self.flat[frame.visible],
            "skill": frame.skill,
            "args": frame.args,
            "depth": depth,
            "prev_action": frame.prev,
        }
        if self.grid_obs:
            obs["grid"] = self.grid[: self.blank_row].copy()
        return obs

    def step(self, action: int) -> int:
        """Apply ``action`` for the active skill; returns ``DONE``, ``RETURNED`` or ``ILLEGAL``.

        ``RETURNED`` means the active frame was popped. An illegal action changes nothing, not
        even the frame's previous action.
        """
        frame = self.frames[-1]
        if not frame.mask[action]:
            return ILLEGAL
        kind = ACTION_KIND[action]
        if kind == MOVE:
            slot = ACTION_A[action]
            step = ACTION_B[action]
            moved = frame.ptrs[slot] + step
            if 0 <= moved < self.width:
                frame.ptrs[slot] = moved
                frame.cells[slot] += step
        elif kind == WRITE:
            slot = ACTION_A[action]
            row = frame.rows[slot]
            if row != self.blank_row:
                self.flat[frame.cells[slot]] = ACTION_B[action]
                if row in self.watched:
                    self.writes.append((int(row), int(frame.ptrs[slot]), ACTION_B[action]))
        elif kind == CALL:
            self.call(frame, action)
        elif kind == RETURN:
            self.frames.pop()
            return RETURNED
        elif kind == FIND:
            self._find(frame)
        elif kind == LOAD:
            self._load(frame)
        elif kind == STORE:
            self._store(frame)
        if kind != CALL:
            self.primitives += 1
        frame.prev = action
        return DONE

    def call(self, frame: Frame, action: int) -> None:
        """Run the child named by the CALL ``action`` to completion, as one step of ``frame``.

        A level-1 child (a macro) hands its pointer moves back to the caller; a higher child
        works on copies. A child that takes ``child_step_limit`` steps without returning is
        stopped, and its name is appended to ``child_timeouts``.
        """
        child = ACTION_A[action]
        key = frame.skill, action
        slots = SLOT_MAPS[key]
        mask = MASKS[child]
        child_frame = Frame(
            child, ACTION_B[action], frame.rows[slots], frame.ptrs[slots], frame.cells[slots], mask
        )
        depth = len(self.frames)
        self.frames.append(child_frame)
        policy = self.policies[child]
        # The oracle reads only (tokens, prev_action, args), so it is given just those, without
        # building the observation dict: the hot path of every episode with oracle children.
        rule = RULES[child] if policy is oracle else None
        for _ in range(self.child_step_limit):
            if rule is not None:
                tokens = self.flat[child_frame.visible].tolist()
                action = rule(tokens, child_frame.prev, child_frame.args)
            else:
                action = int(policy(self.observe(), mask))
            if self.step(action) == RETURNED:
                break
        else:
            self.child_timeouts.append(SKILLS[child].name)
            del self.frames[depth:]
        if _MACRO[child]:
            bound, caller_slots = _HANDBACK[key]
            frame.ptrs[caller_slots] = child_frame.ptrs[bound]
            frame.cells[caller_slots] = child_frame.cells[bound]

    # EVAL's expression operations. Each is a no-op when the expression does not allow it.

    def _expression(self, frame: Frame) -> list[int]:
        return expression.row_tokens(self.grid[frame.rows[_E]])

    def _find(self, frame: Frame) -> None:
        tokens = self._expression(frame)
        op = expression.next_operator(tokens)
        self._point(frame, _E, len(tokens) if op is None else op)

    def _load(self, frame: Frame) -> None:
        found = expression.operands(self._expression(frame), int(frame.ptrs[_E]))
        if found is None:
            return
        _, left, right, _ = found
        for slot in (_X, _Y, _CARRY, _PART, _Z, _CMP, _SX, _SY, _SZ):
            self.grid[frame.rows[slot]] = BLANK
        for value, row, sign_row in ((left, _X, _SX), (right, _Y, _SY)):
            write_number(self.grid, frame.rows[row], abs(value))
            if value < 0:
                self.grid[frame.rows[sign_row], UNITS] = NEG

    def _store(self, frame: Frame) -> None:
        tokens = self._expression(frame)
        found = expression.operands(tokens, int(frame.ptrs[_E]))
        magnitude = read_number(self.grid[frame.rows[_Z]])
        if found is None or magnitude is None:
            return
        negative = self.grid[frame.rows[_SZ], UNITS] == NEG
        start, _, _, end = found
        tokens = expression.replace(tokens, start, end, -magnitude if negative else magnitude)
        if len(tokens) + 1 > self.width:
            # Only a wrong result (e.g. a product of the wrong operands) can outgrow the row.
            return
        row = frame.rows[_E]
        self.grid[row] = BLANK
        self.grid[row, : len(tokens) + 1] = tokens + [EQUALS]
        self._point(frame, _E, 0)

    def _point(self, frame: Frame, slot: int, column: int) -> None:
        frame.ptrs[slot] = column
        frame.cells[slot] = frame.rows[slot] * self.width + column
