"""One Gymnasium environment per AEC skill, on the scratchpad machine."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from skillgym.envs.aec.child_policy import policy_table
from skillgym.envs.aec.machine import ILLEGAL, RETURNED, Machine
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.settings import AECSettings
from skillgym.envs.aec.skills import (
    ACTION_SETS,
    MAX_ARGS,
    MAX_DEPTH,
    NUM_ACTIONS,
    NUM_SKILLS,
    NUM_SLOTS,
    SKILL_INDEX,
    action_name,
    skill_named,
)
from skillgym.envs.aec.solve import lay_out, oracle_machine, run
from skillgym.envs.aec.tasks import Instance
from skillgym.envs.aec.tokens import BLANK, NUM_TOKENS, TOKEN_TEXT
from skillgym.envs.counter_rng import draw_key
from skillgym.envs.rendering import text_to_rgb

PROMOTE_WINDOW, PROMOTE_RATE = 100, 0.95


def observation_space(rows: int, width: int, grid_obs: bool) -> spaces.Dict:
    """The observation space shared by every skill (plus the grid, if asked for)."""
    fields = {
        "tokens": spaces.MultiDiscrete([NUM_TOKENS] * NUM_SLOTS),
        "skill": spaces.Discrete(NUM_SKILLS),
        "args": spaces.Discrete(MAX_ARGS),
        "depth": spaces.Discrete(MAX_DEPTH + 1),
        "prev_action": spaces.Discrete(NUM_ACTIONS + 1),
    }
    if grid_obs:
        fields["grid"] = spaces.Box(0, NUM_TOKENS - 1, (rows, width), dtype=np.int64)
    return spaces.Dict(fields)


class AECEnv(gym.Env):
    """
    ## Description

    Arithmetic expression calculation as hierarchical control. A scratchpad holds numbers as rows
    of tokens (digits least significant first, from column 1; column 0 is a blank margin), and each
    skill owns a few *roles*, rows with a pointer each. The agent plays one skill: it moves its
    pointers, writes tokens, or calls a child skill (which runs to completion inside one step,
    through a child policy: the oracle unless ``child_policies`` says otherwise), and returns when
    done. Skills: ADD1, SUB1, CARRY, BORROW, LSHIFT, RSHIFT, MUL1, CMP1 (level 1), ADD, SUB, MULD,
    COMPARE (level 2), MUL, DIV (level 3), EVAL (level 4). See ``docs/aec.md``.

    ## Action Space

    ``Discrete(NUM_ACTIONS)``, one set for all skills: ``MOVE(slot, ±1)``, ``WRITE(slot, token)``,
    ``FIND``/``LOAD``/``STORE`` (EVAL's expression operations), ``CALL(child, args)`` and
    ``RETURN``. With ``actions="skill"`` (default), ``action_masks()`` allows only the skill's own
    primitives, children and RETURN. With ``actions="primitive"`` (the flat baseline) it allows
    no CALL: the primitives of the skill and of every skill below it, renamed to the skill's
    roles through the bindings (ADD: ``MOVE(IN1/IN2/CARRY/OUT, +1)``, ``MOVE(CARRY, -1)``,
    ``WRITE(CARRY, 1)``, ``WRITE(CARRY, _)``, ``WRITE(OUT, 0-9)``), the reverse of every pointer
    move made inside a subroutine child, whose return would have undone it (MUL:
    ``MOVE(IN1, -1)``), and RETURN (``skills.PRIMITIVE_MASKS``). An action outside
    the mask is a no-op costing ``illegal_penalty`` (``info["illegal_action"]`` is True), or
    raises ``ValueError`` with ``illegal_action="raise"``.

    ## Observation Space

    A ``Dict``: ``tokens`` (the token under each role's pointer, blank for unused slots),
    ``skill``, ``args`` (the binding the skill was called with), ``depth`` (0 for the env's own
    skill; children see their depth), ``prev_action`` (the skill's previous action, or
    ``NUM_ACTIONS`` before its first) and, with ``grid_obs=True``, ``grid``: the whole pad.

    ## Rewards

    ``sparse``: +1 when the skill returns with the correct result, else 0. ``digit`` (the Gym
    algorithmic schedule, for skills that write each result cell once: ADD1, SUB1, MUL1, CARRY,
    BORROW, CMP1, ADD, SUB, MULD): +1 the first time each result cell is written with its correct
    token (a rewrite earns nothing), -0.5 and the episode ends
    on a wrong write or a return with a wrong result, -1 on time-out. Both subtract
    ``illegal_penalty`` per illegal action.

    ## Starting State

    A problem drawn at the current curriculum level from the env's seed and episode counter
    (``skillgym.envs.counter_rng``), laid out on a blank pad, pointers on the units column.

    ## Episode End

    Termination: the skill returns (or, in ``digit`` mode, writes a wrong token). Truncation:
    after ``ceil(max_steps_factor × the oracle's step count)`` steps. The oracle's step count is,
    with ``actions="skill"``, the steps of the skill's oracle (a CALL is one); with
    ``actions="primitive"``, its *primitive step count*: the MOVE, WRITE, FIND, LOAD and STORE
    actions the oracle hierarchy executes at every depth, plus 1 for the skill's RETURN (CALLs
    and the children's RETURNs are not counted).

    ## Arguments

    All but ``child_policies`` and ``render_mode`` are the fields of
    :class:`~skillgym.envs.aec.settings.AECSettings`, which checks them (as the batched twin's).

    - ``skill``: the skill's name (``"ADD"``) or title (``"Add"``).
    - ``level``: the starting curriculum level, 1-based, at most ``max_level``.
    - ``max_level``: the highest level, which the curriculum never promotes past and
      ``reset(options={"level": L})`` may not exceed (default: the skill's last level). Train
      with ``max_level=5`` on ADD (up to 10 digits), test with ``level=8`` (100 digits).
    - ``curriculum``: promote to the next level (up to ``max_level``) after ≥ 95 % success
      over the last 100 episodes at this level.
    - ``reward_mode``: ``"sparse"`` or ``"digit"``.
    - ``max_steps_factor``: truncation limit as a multiple of the oracle's steps.
    - ``actions``: ``"skill"`` (default: the skill's own primitives, CALLs of its children and
      RETURN) or ``"primitive"`` (the flat baseline: every primitive of the skill and its
      descendants in the skill's roles, as under Action Space, and RETURN; no CALL, so
      ``child_policies`` and ``child_step_limit`` may not be given).
    - ``illegal_action``: ``"noop"`` (default) or ``"raise"``; ``illegal_penalty``: its cost.
    - ``grid_obs``: add the whole pad to observations.
    - ``bindings``: ``"default"`` starts every episode with ``args = 0`` and one row per role;
      ``"all"`` draws each episode's binding uniformly from those the skill's callers use (EVAL
      and DIV call ADD, SUB and COMPARE with several) and lays the pad out as that binding does:
      roles bound to one caller role share a row (``ADD(OUT PART CARRY OUT)`` adds in place).
    - ``child_policies``: ``{"ADD1": policy, ...}``, each ``(obs, action_mask) -> int``.
    - ``child_step_limit``: steps a called child may take (default ``64 × pad width``).
    - ``render_mode``: None, ``"ansi"`` (``render()`` returns the pad as text) or
      ``"rgb_array"`` (that text as a picture).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        skill: str = AECSettings.skill,
        *,
        child_policies: Mapping[str, Callable] | None = None,
        render_mode: str | None = None,
        **settings: Any,
    ) -> None:
        self.settings = AECSettings(skill, **settings)
        actions = self.settings.actions
        if actions == "primitive" and child_policies:
            raise ValueError(
                "child_policies have no effect with actions='primitive': the skill calls no "
                "children"
            )
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.skill = skill_named(self.settings.skill)
        self.task = self.settings.task
        self.level = self.settings.level
        self.max_level = self.settings.max_level
        self.curriculum = self.settings.curriculum
        self.reward_mode = self.settings.reward_mode
        self.bindings = self.settings.bindings
        self.max_steps_factor = self.settings.max_steps_factor
        self.actions = actions
        self.illegal_action = self.settings.illegal_action
        self.illegal_penalty = self.settings.illegal_penalty
        self.render_mode = render_mode
        self._skill_index = SKILL_INDEX[self.skill.name]
        self._mask = ACTION_SETS[actions][self._skill_index]
        rows, width = len(self.skill.roles), self.task.width
        policies = policy_table(child_policies)
        self.machine = Machine(
            rows,
            width,
            policies,
            self.settings.child_steps,
            grid_obs=self.settings.grid_obs,
            top_masks=ACTION_SETS[actions],
        )
        # the oracle's step counts are measured on a scratch pad with oracle children
        self._scratch = oracle_machine(self.task)
        self.observation_space = observation_space(rows, width, self.settings.grid_obs)
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self._key: np.uint64 | None = None
        self._counter = 0
        self._outcomes: deque[bool] = deque(maxlen=PROMOTE_WINDOW)
        self.instance: Instance | None = None
        self._top = None  # the env's skill frame, observable after it has returned
        self._targets: dict[int, np.ndarray] = {}
        self._credited: set[tuple[int, int]] = set()  # digit mode: result cells already paid for
        self._steps = 0
        self._limit = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Draw the next problem; ``options={"level": L}`` sets the curriculum level."""
        super().reset(seed=seed)
        if seed is not None or self._key is None:
            self._key = draw_key(self.np_random)
            self._counter = 0
        unknown = sorted(set(options or {}) - {"level"})
        if unknown:
            raise ValueError(f"reset options: the only key is 'level', got {unknown}")
        if options and "level" in options:
            self.settings.check_level(options["level"])
            self.level = int(options["level"])
            self._outcomes.clear()
        elif (
            self.curriculum
            and len(self._outcomes) == PROMOTE_WINDOW
            and sum(self._outcomes) >= PROMOTE_RATE * PROMOTE_WINDOW
            and self.level < self.max_level
        ):
            self.level += 1
            self._outcomes.clear()
        self.instance = self.task.sample(self._key, self._counter, self.level)
        if self.bindings == "all":
            self.task.bind(self.instance, self._key, self._counter)
        self._counter += 1
        lay_out(self.machine, self.task, self.instance)
        self._top = self.machine.top
        if self.reward_mode == "digit":
            targets = self.task.targets(self.instance)
            self._targets = {
                self.task.row(r, self.instance): targets[r] for r in self.task.digit_rows
            }
            self.machine.watched = frozenset(self._targets)
            self._credited = set()
        self._limit = math.ceil(self.max_steps_factor * self._oracle_steps())
        self._steps = 0
        return self.machine.observe(self._top), {"level": self.level}

    def _oracle_steps(self) -> int:
        """The oracle's step count on this episode's instance, in the env's action set."""
        if self.actions == "skill":
            steps = self.task.oracle_steps(self.instance)
            if steps is not None:
                return steps
        lay_out(self._scratch, self.task, self.instance)
        steps = run(self._scratch, oracle, max_steps=64 * self.task.width**2)
        # a flat agent does the hierarchy's primitives itself, then returns once
        return steps if self.actions == "skill" else self._scratch.primitives + 1

    def step(self, action):
        """Apply one action of the env's skill (a CALL runs the child to completion)."""
        action = int(action)
        if not 0 <= action < NUM_ACTIONS:
            raise ValueError(f"action must be in [0, {NUM_ACTIONS}), got {action}")
        if not self.machine.frames:
            raise RuntimeError("step() after the episode ended: call reset() first")
        if self.illegal_action == "raise" and not self._mask[action]:
            allowed = [f"{i}={action_name(i, self.skill)}" for i in np.flatnonzero(self._mask)]
            raise ValueError(
                f"action {action} is not allowed for skill {self.skill.name}; allowed: {allowed}"
            )
        machine = self.machine
        status = machine.step(action)
        self._steps += 1
        reward = 0.0
        terminated = False
        info = {"illegal_action": status == ILLEGAL}
        if status == ILLEGAL:
            reward -= self.illegal_penalty
        if machine.writes:
            for row, column, token in machine.writes:
                if token == self._targets[row][column]:
                    # Once per cell: were a rewrite paid again, calling ADD1 until time-out would
                    # out-earn finishing the sum.
                    reward += float((row, column) not in self._credited)
                    self._credited.add((row, column))
                else:
                    reward -= 0.5
                    terminated = True
                    break
            machine.writes.clear()
        if machine.child_timeouts:
            info["child_timeouts"] = list(machine.child_timeouts)
            machine.child_timeouts.clear()
        success = False
        if status == RETURNED:
            terminated = True
            success = self.task.succeeded(machine.grid, self._top.ptrs, self.instance)
            if self.reward_mode == "sparse":
                reward += float(success)
            elif not success:
                reward -= 0.5
        truncated = not terminated and self._steps >= self._limit
        if truncated and self.reward_mode == "digit":
            reward -= 1.0
        if terminated or truncated:
            self._outcomes.append(success)
            info["is_success"] = success
            info["level"] = self.level
        return machine.observe(self._top), reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the actions this skill may take (sb3-contrib's convention)."""
        return self._mask.copy()

    def render(self) -> str | np.ndarray | None:
        """The pad as text (``"ansi"``) or as a picture of that text (``"rgb_array"``)."""
        if self.render_mode is None:
            return None
        text = self._text()
        return text if self.render_mode == "ansi" else text_to_rgb(text)

    def _text(self) -> str:
        """Each role's row, most significant digit on the left, with its pointer below.

        Only the columns in use are shown: from the margin up to the last written cell or the
        furthest pointer, whichever is further (the pad itself is as wide as the skill's largest
        level).
        """
        grid, top = self.machine.grid, self._top
        roles = len(self.skill.roles)
        rows = top.rows[:roles]
        written = np.flatnonzero((grid[rows] != BLANK).any(axis=0))
        columns = 1 + max(int(written[-1]) if written.size else 0, int(top.ptrs[:roles].max()))
        lines = []
        for slot, role in enumerate(self.skill.roles):
            row, ptr = grid[rows[slot], :columns], int(top.ptrs[slot])
            if role == "EXPR":  # the expression reads left to right
                cells, marker = "".join(TOKEN_TEXT[t] for t in row), " " * ptr + "^"
            else:
                cells = "".join(TOKEN_TEXT[t] for t in row[::-1])
                marker = " " * (columns - 1 - ptr) + "^"
            lines.append(f"{role:>7} {cells}\n{'':>7} {marker}")
        return "\n".join(lines)
