"""Natively batched twins of ``AEC-Add-v0``, ``AEC-Sub-v0`` and ``AEC-Mul-v0``.

The single :class:`~skillgym.envs.aec.env.AECEnv` runs a scratchpad machine one sub-environment
at a time, with a child policy per skill. Here the whole batch is one numpy state, and a CALL
runs its child with the oracle as child policy:

- level-1 children (ADD1, SUB1, MUL1, CARRY, BORROW, LSHIFT) apply the oracle's few steps in
  closed form, edge cases (pointers at the pad's border) included;
- level-2 children (ADD and MULD, called by MUL) run the oracle step by step, for all the
  sub-environments that called them at once, under the same ``child_step_limit``.

Learned child policies are for the single env: a policy network cannot be batched into this
closed form. Everything else (arguments, spaces, rewards, truncation, curriculum, infos) is the
single env's; ``tests/envs/aec/test_vector.py`` checks the batch against ``SyncVectorEnv`` of
single envs, step for step.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from skillgym.envs.aec.ahead import DrawnAhead
from skillgym.envs.aec.env import PROMOTE_RATE, PROMOTE_WINDOW, observation_space
from skillgym.envs.aec.settings import SETTING_NAMES, AECSettings
from skillgym.envs.aec.skills import (
    ACTION_A,
    ACTION_B,
    ACTION_RETURN,
    BINDINGS,
    MASKS,
    NO_ACTION,
    NUM_ACTIONS,
    NUM_SLOTS,
    SKILL_INDEX,
    SKILL_NAMES,
    SLOT_MAPS,
    UNBOUND,
    call_action,
    skill_named,
)
from skillgym.envs.aec.tasks import binding_rows, draw_bindings
from skillgym.envs.aec.tokens import BLANK, UNITS
from skillgym.envs.batching import (
    checked_autoreset_mode,
    info_rows,
    new_keys,
    reset_rows,
    same_step_info,
    sync_seeds,
)

#: The skills with a batched twin.
BATCHED_SKILLS = ("ADD", "SUB", "MUL")

_COLUMN = ("IN1", "IN2", "CARRY", "OUT")


def _digit(tokens: np.ndarray) -> np.ndarray:
    """Column arithmetic's value of a token: a digit is itself, anything else 0."""
    return np.where(tokens < 10, tokens, 0)


def column_arithmetic(da: np.ndarray, db: np.ndarray, subtract: bool) -> tuple[np.ndarray, ...]:
    """Schoolbook ``a ± b`` over a batch of little-endian digit rows of equal width.

    Returns ``(digits, carries)``, each ``(B, width + 1)``: the result's digits (mod 10 of a
    negative result for ``subtract`` with ``a < b``) and the carry (borrow) out of each column.
    """
    batch, width = da.shape
    digits = np.empty((batch, width + 1), dtype=np.int64)
    carries = np.empty((batch, width + 1), dtype=np.int64)
    sums = da - db if subtract else da + db
    carry = np.zeros(batch, dtype=bool)
    # Carries run along the columns: a loop over columns, never over the batch. The column
    # past the operands holds only the last carry.
    for column in range(width + 1):
        total = sums[:, column] if column < width else 0
        if subtract:
            total = total - carry
            carry = total < 0
        else:
            total = total + carry
            carry = total >= 10
        digits[:, column] = total
        carries[:, column] = carry
    digits %= 10
    return digits, carries


def product_digits(da: np.ndarray, db: np.ndarray) -> np.ndarray:
    """Little-endian digits of ``a * b`` over a batch, ``(B, width_a + width_b)``."""
    batch, width_a = da.shape
    width = width_a + db.shape[1]
    sums = np.zeros((batch, width + 1), dtype=np.int64)
    for j in range(db.shape[1]):
        sums[:, j : j + width_a] += da * db[:, j : j + 1]
    carry = np.zeros(batch, dtype=np.int64)
    for column in range(width):
        total = sums[:, column] + carry
        sums[:, column], carry = total % 10, total // 10
    return sums[:, :width]


class AECVectorEnv(VectorEnv):
    """``AECEnv`` of ADD, SUB or MUL, natively batched, with the oracle as every child policy.

    Sub-environment ``i`` behaves exactly as a single ``AECEnv`` with the same arguments inside a
    :class:`gymnasium.vector.SyncVectorEnv` with the same ``autoreset_mode``: ``reset(seed=s)``
    gives it seed ``s + i``, and a sub-environment that ended is reset by the next ``step``
    (``AutoresetMode.NEXT_STEP``, the default; its action is ignored, its reward is 0, its info
    carries the new ``level``) or within the step that ended it (``AutoresetMode.SAME_STEP``;
    the ended episode's observation and info come in ``final_obs`` and ``final_info``, the new
    one's ``level`` at the top). Observations,
    rewards, terminations, truncations and infos (``illegal_action``, ``is_success``, ``level``,
    ``child_timeouts``, each with its ``_key`` mask) are the same. ``reset`` takes
    ``options={"level": L}`` and ``options={"reset_mask": mask}`` as ``SyncVectorEnv`` does.

    Steps and auto-resets are numpy over the batch, and the problems of the episodes to come are
    drawn many at a time (:class:`~skillgym.envs.aec.ahead.DrawnAhead`); an explicit
    ``reset(seed=...)`` builds one generator per sub-environment, so that each draws the key the
    single env would. With
    ``illegal_action="raise"`` a step with any illegal action raises before any sub-environment
    moves (``SyncVectorEnv`` would already have stepped the ones before it).

    Args:
        num_envs: the number of sub-environments (``>= 1``).
        autoreset_mode: ``NEXT_STEP`` or ``SAME_STEP`` (an ``AutoresetMode`` or its value).
        settings: the fields of :class:`~skillgym.envs.aec.settings.AECSettings`, as for
            :class:`~skillgym.envs.aec.env.AECEnv`, with ``skill`` ``"ADD"``, ``"SUB"`` or
            ``"MUL"`` (or their titles) and ``actions`` ``"skill"``.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 **settings: Any) -> None:
        self.autoreset_mode = checked_autoreset_mode(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        unsupported = sorted(set(settings) - SETTING_NAMES)
        if unsupported:
            raise ValueError(
                f"AECVectorEnv: unsupported arguments {unsupported}; the batched env runs "
                "the oracle as every child policy (learned child policies are for the single "
                "AECEnv) and does not render"
            )
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or (
            num_envs < 1
        ):
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.settings = AECSettings(**settings)
        if self.settings.skill not in BATCHED_SKILLS:
            raise ValueError(
                f"skill: batched twins exist for {list(BATCHED_SKILLS)}, "
                f"got {self.settings.skill!r}"
            )
        if self.settings.actions != "skill":
            raise ValueError(
                f"actions: the batched twin plays the skill's own action set ('skill'), got "
                f"{self.settings.actions!r}; the flat baseline is the single AECEnv's"
            )
        self.num_envs = int(num_envs)
        self.skill = skill_named(self.settings.skill)
        self.task = self.settings.task
        self.max_level = self.settings.max_level
        self.curriculum = self.settings.curriculum
        self.reward_mode = self.settings.reward_mode
        self.bindings = self.settings.bindings
        self.max_steps_factor = self.settings.max_steps_factor
        self.illegal_action = self.settings.illegal_action
        self.illegal_penalty = self.settings.illegal_penalty
        self.grid_obs = self.settings.grid_obs
        self.child_step_limit = self.settings.child_steps
        self.single_observation_space = observation_space(
            len(self.skill.roles), self.task.width, self.grid_obs
        )
        self.single_action_space = spaces.Discrete(NUM_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._skill_index = SKILL_INDEX[self.skill.name]
        self._mask = MASKS[self._skill_index]
        # The legal CALLs, each run for all the sub-envs that chose it.
        self._call_actions = [int(a) for a in np.flatnonzero(self._mask) if a != ACTION_RETURN]

        n, rows, width = self.num_envs, len(self.skill.roles), self.task.width
        self._blank_row = rows
        self._width = width
        # The top frame's row per slot under each binding (the unbound slots read the blank row)
        bindings = max(1, len(BINDINGS[self.skill.name]))
        self._binding_rows = np.full((bindings, NUM_SLOTS + 1), rows, dtype=np.int64)
        for args in range(bindings):
            self._binding_rows[args, :rows] = binding_rows(self.skill.name, args)
        self._out_slot = self.skill.roles.index("OUT")
        self._watched = self.reward_mode == "digit"
        # int8 cells (21 tokens): resets clear and observations gather 8x less memory. Rows are
        # padded to whole 8-byte words of blanks that no pointer reaches, so that a row compares
        # with its target as a few uint64 words.
        self._stride = -(-width // 8) * 8
        self._grid = np.full((n, rows + 1, self._stride), BLANK, dtype=np.int8)
        self._ptrs = np.zeros((n, NUM_SLOTS + 1), dtype=np.int64)
        self._start_ptrs = np.zeros(NUM_SLOTS + 1, dtype=np.int64)
        self._start_ptrs[:rows] = UNITS
        self._args = np.zeros(n, dtype=np.int64)
        # one row per role until ``bindings="all"`` draws a binding for the episode
        self._rows = np.full((n, NUM_SLOTS + 1), rows, dtype=np.int64)
        self._rows[:, :rows] = np.arange(rows)
        # Where each top-frame slot's row starts in the flattened grid: the observation is one
        # gather at these plus the pointers (unbound slots read the blank row's first cell).
        self._env_start = np.arange(n, dtype=np.int64)[:, None] * ((rows + 1) * self._stride)
        self._row_start = self._env_start + self._rows * self._stride
        self._prev = np.full(n, NO_ACTION, dtype=np.int64)
        self._target = np.full((n, self._stride), BLANK, dtype=np.int8)  # ADD/SUB: the OUT row
        # digit mode: the OUT cells already paid for (once each, as in the single env)
        self._credited = np.zeros((n, self._stride), dtype=bool)
        self._expected = np.zeros((n, width), dtype=np.int64)  # MUL: the product's digits
        self._steps = np.zeros(n, dtype=np.int64)
        self._limit = np.zeros(n, dtype=np.int64)
        self._level = np.full(n, self.settings.level, dtype=np.int64)
        # The last PROMOTE_WINDOW outcomes, a ring written at ``_recorded % PROMOTE_WINDOW``,
        # and their sum. Once the level's window has filled again every slot is of this level.
        self._outcomes = np.zeros((n, PROMOTE_WINDOW), dtype=np.int64)
        self._wins = np.zeros(n, dtype=np.int64)
        self._recorded = np.zeros(n, dtype=np.int64)  # outcomes since the level's last clear
        self._keys = np.zeros(n, dtype=np.uint64)
        self._counters = np.zeros(n, dtype=np.int64)
        self._keyed = np.zeros(n, dtype=bool)
        self._autoreset = np.zeros(n, dtype=bool)
        self._ahead = DrawnAhead(self._draw, n)
        self._running = False
        # Per-step scratch, filled by the effects of writes and child calls.
        self._write_reward = np.zeros(n, dtype=np.float64)
        self._wrong_write = np.zeros(n, dtype=bool)
        self._timeouts: dict[int, list[str]] = {}

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every sub-environment (or those in ``options["reset_mask"]``)."""
        options = dict(options or {})
        rows = reset_rows(options.pop("reset_mask", None), self.num_envs, self._running)
        level = options.pop("level", None)
        if options:
            raise ValueError(
                f"reset options: known keys are 'level' and 'reset_mask', got {sorted(options)}"
            )
        if level is not None:
            self.settings.check_level(level)
        seeds = sync_seeds(seed, self.num_envs)
        super().reset(seed=seed if isinstance(seed, int) else None)
        rekeyed, keys = new_keys(rows, seeds, self._keyed, self.np_random)
        self._keys[rekeyed] = keys
        self._counters[rekeyed] = 0
        self._keyed[rekeyed] = True
        self._begin(rows, level)
        self._autoreset[rows] = False
        self._running = True
        mask = np.zeros(self.num_envs, dtype=bool)
        mask[rows] = True
        infos = {"level": np.where(mask, self._level, 0), "_level": mask}
        return self._observe(), infos

    def step(
        self, actions: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-environment; those that ended on the previous step are reset instead."""
        if not self._running:
            raise RuntimeError("step() needs a reset() first")
        actions = self._check_actions(actions)
        restarting = self._autoreset.copy()
        active = ~restarting
        legal = self._mask[actions] & active
        if self.illegal_action == "raise" and not np.array_equal(legal, active):
            bad = np.flatnonzero(active & ~legal)
            raise ValueError(
                f"actions {actions[bad].tolist()} of sub-envs {bad.tolist()} are not allowed for "
                f"skill {self.skill.name}; allowed: {np.flatnonzero(self._mask).tolist()}"
            )
        if restarting.any():
            self._begin(np.flatnonzero(restarting), None)
        illegal = active & ~legal
        rewards = np.where(illegal, -self.illegal_penalty, 0.0)
        if self._watched:
            self._write_reward[:] = 0.0
            self._wrong_write[:] = False
        self._timeouts = {}

        returned = legal & (actions == ACTION_RETURN)
        calls = legal & ~returned
        for action in self._call_actions:
            idx = np.flatnonzero(calls & (actions == action))
            if len(idx):
                ptrs = self._ptrs[idx]
                moved = self._call(idx, self._rows[idx], ptrs, self._skill_index, action)
                if moved is not ptrs:
                    self._ptrs[idx] = moved
        np.copyto(self._prev, actions, where=calls)
        self._steps += active

        success = np.zeros(self.num_envs, dtype=bool)
        returned_idx = np.flatnonzero(returned)
        if len(returned_idx):
            success[returned_idx] = self._succeeded(returned_idx)
        # Each reward's terms in the single env's order, so that sums agree to the bit.
        if self._watched:
            rewards += self._write_reward
            terminated = self._wrong_write | returned
        else:
            terminated = returned
        if self.reward_mode == "sparse":
            rewards += success  # success is False wherever returned is
        else:
            rewards -= 0.5 * (returned & ~success)
        truncated = active & ~terminated & (self._steps >= self._limit)
        if self.reward_mode == "digit":
            rewards -= truncated
        ended = terminated | truncated
        self._record(np.flatnonzero(ended), success[ended])
        infos = self._infos(active, illegal, ended, success, restarting)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._autoreset = ended
        elif ended.any():
            final = same_step_info(self._observe(), ended, info_rows(infos, ended))
            self._begin(np.flatnonzero(ended), None)
            # the ended rows' info is their reset's, as the single env's reset() gives it
            infos = info_rows(infos, ~ended)
            infos["level"], infos["_level"] = np.where(ended, self._level, 0), ended.copy()
            infos.update(final)
        return self._observe(), rewards, terminated, truncated, infos

    def action_masks(self) -> np.ndarray:
        """``(num_envs, n)`` boolean masks of the allowed actions (sb3-contrib's convention)."""
        return np.broadcast_to(self._mask, (self.num_envs, len(self._mask))).copy()

    @property
    def level(self) -> np.ndarray:
        """``(num_envs,)`` each sub-environment's curriculum level."""
        return self._level.copy()

    # ------------------------------------------------------------------ episodes

    def _begin(self, rows: np.ndarray, level: int | None) -> None:
        """Promote (or set the level of) ``rows``, then draw and lay out their next problems."""
        if level is not None:
            self._level[rows] = level
            self._recorded[rows] = 0
        elif self.curriculum:
            full = self._recorded[rows] >= PROMOTE_WINDOW
            promote = rows[
                full & (self._wins[rows] >= PROMOTE_RATE * PROMOTE_WINDOW)
                & (self._level[rows] < self.max_level)
            ]
            if len(promote):
                self._level[promote] += 1
                self._recorded[promote] = 0
        problems = self._ahead.take(rows, self._keys, self._counters, self._level)
        self._grid[rows, 2:] = BLANK
        self._grid[rows, :2] = problems["operands"]
        if self.skill.name == "MUL":
            self._expected[rows] = problems["expected"]
        else:
            self._target[rows] = problems["target"]
        self._limit[rows] = problems["limit"]
        if self._watched:
            self._credited[rows] = False
        self._ptrs[rows] = self._start_ptrs
        self._prev[rows] = NO_ACTION
        self._steps[rows] = 0
        if self.bindings == "all":
            self._args[rows] = problems["args"]
            self._rows[rows] = self._binding_rows[self._args[rows]]
            self._row_start[rows] = self._env_start[rows] + self._rows[rows] * self._stride
        self._counters[rows] += 1

    def _draw(self, keys: np.ndarray, counters: np.ndarray, level: int) -> dict[str, np.ndarray]:
        """The problems of a batch of episodes at ``level``, as :meth:`_begin` lays them out:
        the operand rows, the OUT row's target (MUL: the product's digits), the time limit and,
        with ``bindings="all"``, the binding."""
        da, la, db, lb = self.task.sample_batch(keys, counters, level)
        columns = np.arange(da.shape[1])[None, :]
        operands = np.full((len(keys), 2, self._stride), BLANK, dtype=np.int8)
        operands[:, 0, UNITS : UNITS + da.shape[1]] = np.where(columns < la[:, None], da, BLANK)
        operands[:, 1, UNITS : UNITS + db.shape[1]] = np.where(columns < lb[:, None], db, BLANK)
        problems = {"operands": operands}
        if self.skill.name == "MUL":
            product = product_digits(da, db)
            problems["expected"] = np.zeros((len(keys), self._width), dtype=np.int64)
            problems["expected"][:, UNITS : UNITS + product.shape[1]] = product
            steps = 3 * lb + 1
        else:
            subtract = self.skill.name == "SUB"
            digits, carries = column_arithmetic(da, db, subtract)
            if subtract:
                length = la
            else:
                # len(str(a + b)): up to the highest non-zero digit, at least one digit (the
                # units column counts as non-zero)
                nonzero = digits != 0
                nonzero[:, 0] = True
                length = digits.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
            inside = np.arange(digits.shape[1])[None, :] < length[:, None]
            problems["target"] = np.full((len(keys), self._stride), BLANK, dtype=np.int8)
            problems["target"][:, UNITS : UNITS + digits.shape[1]] = np.where(inside, digits,
                                                                              BLANK)
            steps = 2 * length + 1 + (carries * inside).sum(axis=1)
        # As the single env's ``math.ceil(max_steps_factor * steps)``, in the same float64.
        problems["limit"] = np.ceil(self.max_steps_factor * steps).astype(np.int64)
        if self.bindings == "all":
            problems["args"] = draw_bindings(self.skill.name, keys, counters)
        return problems

    def _record(self, rows: np.ndarray, success: np.ndarray) -> None:
        """Append each ended episode's outcome to its row's window of the last 100."""
        if not len(rows):
            return
        slot = self._recorded[rows] % PROMOTE_WINDOW
        self._wins[rows] += success - self._outcomes[rows, slot]
        self._outcomes[rows, slot] = success
        self._recorded[rows] += 1

    def _succeeded(self, idx: np.ndarray) -> np.ndarray:
        """Whether the OUT row of each of ``idx`` holds the correct result."""
        out_rows = self._rows[idx, self._out_slot]
        if self.skill.name != "MUL":
            words = self._grid.view(np.uint64)[idx, out_rows]
            return (words == self._target.view(np.uint64)[idx]).all(axis=1)
        out = self._grid[idx, out_rows, : self._width].astype(np.int64)
        # ``read_number``: one run of digits from the units column, then only blanks; leading
        # zeros allowed. Its value is the product's iff the digits agree up to the run's length
        # and the product has no digit beyond it.
        tokens = out[:, UNITS:]
        is_digit = tokens < 10
        length = np.where(is_digit.all(axis=1), tokens.shape[1], np.argmin(is_digit, axis=1))
        columns = np.arange(tokens.shape[1])[None, :]
        run = columns < length[:, None]
        expected = self._expected[idx, UNITS:]
        well_formed = (length > 0) & np.all(run | (tokens == BLANK), axis=1)
        same = np.all(np.where(run, tokens == expected, expected == 0), axis=1)
        return well_formed & same

    # ------------------------------------------------------------------ the machine

    def _tokens(self, idx: np.ndarray, rows: np.ndarray, ptrs: np.ndarray, count: int):
        """``(len(idx), count)`` int8 tokens under the first ``count`` pointers of the frames
        ``(rows, ptrs)`` of sub-envs ``idx``, in one gather."""
        return self._grid[idx[:, None], rows[:, :count], ptrs[:, :count]]

    def _write(self, idx: np.ndarray, row: np.ndarray, column: np.ndarray, token) -> None:
        """Write tokens (the machine ignores writes on the blank row); score watched writes.

        As in the single env, a sub-env's writes of one step score +1 if right in a cell not
        yet paid for (0 in one that was), -0.5 if wrong, and none after its first wrong one.
        """
        bound = row != self._blank_row
        if not bound.all():
            idx, row, column = idx[bound], row[bound], column[bound]
            token = token[bound] if np.ndim(token) else token
        self._grid[idx, row, column] = token
        if not self._watched:
            return
        scored = (row == self._rows[idx, self._out_slot]) & ~self._wrong_write[idx]
        idx, column = idx[scored], column[scored]
        token = token[scored] if np.ndim(token) else token
        correct = token == self._target[idx, column]
        fresh = ~self._credited[idx, column]
        self._write_reward[idx] += np.where(correct, fresh.astype(np.float64), -0.5)
        self._credited[idx, column] |= correct
        self._wrong_write[idx] |= ~correct

    def _call(
        self, idx: np.ndarray, rows: np.ndarray, ptrs: np.ndarray, caller: int, action: int
    ) -> np.ndarray:
        """Run the child of CALL ``action`` for the frames ``(rows, ptrs)`` of sub-envs ``idx``.

        Returns the caller's pointers afterwards (a level-1 child hands its moves back): a new
        array if the child moved any, else ``ptrs`` itself.
        """
        child, args = ACTION_A[action], ACTION_B[action]
        slots = SLOT_MAPS[caller, action]
        child_rows = rows[:, slots]
        child_ptrs = ptrs[:, slots]
        name = SKILL_NAMES[child]
        if name in ("CARRY", "BORROW"):
            child_ptrs = self._carry(idx, child_rows, child_ptrs)
        elif name == "LSHIFT":
            arity = len(BINDINGS[name][args])
            child_ptrs = child_ptrs.copy()
            child_ptrs[:, :arity] = np.minimum(child_ptrs[:, :arity] + 1, self._width - 1)
        else:  # the children that leave the pointers where they were
            if name in ("ADD1", "SUB1"):
                self._column_unit(idx, child_rows, child_ptrs, subtract=name == "SUB1")
            elif name == "MUL1":
                self._mul1(idx, child_rows, child_ptrs)
            else:
                self._subroutine(idx, child_rows, child_ptrs.copy(), child)
            return ptrs
        # A macro's moves are the caller's: copy each bound slot's pointer back.
        ptrs = ptrs.copy()
        bound = slots != UNBOUND
        ptrs[:, slots[bound]] = child_ptrs[:, bound]
        return ptrs

    def _column_unit(self, idx, rows, ptrs, subtract: bool) -> None:
        """ADD1 / SUB1 by the oracle: write the column's digit on OUT, then consume the carry."""
        a, b, c = _digit(self._tokens(idx, rows, ptrs, 3)).T  # int8: -18 <= total <= 27
        total = a - b - c if subtract else a + b + c
        self._write(idx, rows[:, 3], ptrs[:, 3], total % 10)
        # Read after the write: with bindings OUT and CARRY may share a cell.
        pending = self._grid[idx, rows[:, 2], ptrs[:, 2]] != BLANK
        if pending.any():
            self._write(idx[pending], rows[pending, 2], ptrs[pending, 2], BLANK)

    def _carry(self, idx, rows, ptrs) -> np.ndarray:
        """CARRY / BORROW by the oracle: step up, write 1, step back (moves stop at the edges)."""
        ptrs = ptrs.copy()
        up = np.minimum(ptrs[:, 0] + 1, self._width - 1)
        self._write(idx, rows[:, 0], up, 1)
        ptrs[:, 0] = np.maximum(up - 1, 0)
        return ptrs

    def _mul1(self, idx, rows, ptrs) -> None:
        """MUL1 by the oracle: low digit on OUT, then the high digit (or a blank) as the carry."""
        a, b, c = _digit(self._tokens(idx, rows, ptrs, 3)).T  # int8: a * b + c <= 90
        self._write(idx, rows[:, 3], ptrs[:, 3], (a * b + c) % 10)
        tokens = self._tokens(idx, rows, ptrs, 3)  # again: OUT may share a cell with them
        a, b, c = _digit(tokens).T
        high = (a * b + c) // 10
        new = np.where(high > 0, high, BLANK)
        change = new != tokens[:, 2]
        self._write(idx[change], rows[change, 2], ptrs[change, 2], new[change])

    def _subroutine(self, idx, rows, ptrs, skill: int) -> None:
        """Run a level-2 child (ADD, SUB or MULD) by its oracle rule, one of its steps per pass.

        Every pass advances all still-running sub-envs by one step of the child; a child that
        takes ``child_step_limit`` steps without returning is stopped, as in the single env.
        """
        name = SKILL_NAMES[skill]
        rule = self._muld_rule if name == "MULD" else partial(self._column_rule, name == "SUB")
        prev = np.full(len(idx), NO_ACTION, dtype=np.int64)
        running = np.arange(len(idx))
        for _ in range(self.child_step_limit):
            if not len(running):
                return
            action = rule(idx[running], rows[running], ptrs[running], prev[running])
            calls = action != ACTION_RETURN
            running, action = running[calls], action[calls]
            for value in np.unique(action):
                sel = running[action == value]
                ptrs[sel] = self._call(idx[sel], rows[sel], ptrs[sel], skill, int(value))
            prev[running] = action
        for row in idx[running].tolist():
            self._timeouts.setdefault(row, []).append(name)

    def _column_rule(self, subtract: bool, idx, rows, ptrs, prev):
        """The ADD / SUB oracle: per column, CARRY (BORROW) on overflow, ADD1 (SUB1), LSHIFT."""
        fix = call_action("BORROW" if subtract else "CARRY", ("CARRY",))
        unit = call_action("SUB1" if subtract else "ADD1", _COLUMN)
        shift = call_action("LSHIFT", _COLUMN)
        tokens = self._tokens(idx, rows, ptrs, 3)
        a, b, c = _digit(tokens).T  # int8: -18 <= a - b - c, a + b + c <= 27
        blank = (tokens == BLANK).all(axis=1)
        overflow = (a - b - c < 0) if subtract else (a + b + c >= 10)
        fresh = np.where(blank, ACTION_RETURN, np.where(overflow, fix, unit))
        return np.where(prev == unit, shift, np.where(prev == fix, unit, fresh))

    def _muld_rule(self, idx, rows, ptrs, prev):
        """The MULD oracle: MUL1 then LSHIFT(IN1, OUT) until IN1 and the carry are blank."""
        unit = call_action("MUL1", _COLUMN)
        shift = call_action("LSHIFT", ("IN1", "OUT"))
        tokens = self._tokens(idx, rows, ptrs, 3)
        done = (tokens[:, 0] == BLANK) & (tokens[:, 2] == BLANK)
        return np.where(prev == unit, shift, np.where(done, ACTION_RETURN, unit))

    # ------------------------------------------------------------------ observations, infos

    def _top_tokens(self) -> np.ndarray:
        """``(num_envs, NUM_SLOTS)`` the token under each top-frame pointer (blank if unbound)."""
        # Whole rows added, then sliced: numpy adds contiguous arrays 4x faster than slices.
        cells = self._grid.ravel().take(self._row_start + self._ptrs)
        return cells[:, :NUM_SLOTS].astype(np.int64)

    def _observe(self) -> dict[str, np.ndarray]:
        n = self.num_envs
        obs = {
            "tokens": self._top_tokens(),
            "skill": np.full(n, self._skill_index, dtype=np.int64),
            "args": self._args.copy(),
            "depth": np.zeros(n, dtype=np.int64),
            "prev_action": self._prev.copy(),
        }
        if self.grid_obs:
            obs["grid"] = self._grid[:, : self._blank_row, : self._width].astype(np.int64)
        return obs

    def _infos(self, active, illegal, ended, success, restarting) -> dict[str, Any]:
        """The infos ``SyncVectorEnv`` assembles from the single envs' dicts."""
        infos: dict[str, Any] = {}
        if active.any():
            infos["illegal_action"], infos["_illegal_action"] = illegal & active, active.copy()
        if self._timeouts:
            names = np.full(self.num_envs, None, dtype=object)
            for row, children in self._timeouts.items():
                names[row] = children
            infos["child_timeouts"] = names
            infos["_child_timeouts"] = np.zeros(self.num_envs, dtype=bool)
            infos["_child_timeouts"][list(self._timeouts)] = True
        if ended.any():
            infos["is_success"], infos["_is_success"] = success & ended, ended.copy()
        with_level = ended | restarting
        if with_level.any():
            infos["level"] = np.where(with_level, self._level, 0)
            infos["_level"] = with_level
        return infos

    # ------------------------------------------------------------------ argument checks

    def _check_actions(self, actions: Any) -> np.ndarray:
        array = np.asarray(actions)
        if array.shape != (self.num_envs,) or array.dtype.kind not in "iu":
            raise ValueError(
                f"actions must be integers of shape ({self.num_envs},), got {actions!r}"
            )
        array = array.astype(np.int64, copy=False)
        # Viewed as unsigned, a negative action is huge: one comparison checks both bounds.
        if array.view(np.uint64).max() >= NUM_ACTIONS:
            raise ValueError(f"actions must be in 0..{NUM_ACTIONS - 1}, got {actions!r}")
        return array
