"""The two environment classes every algorithmic task shares: single and natively batched.

Both are thin shells around :class:`~skillgym.envs.algorithmic.core.Tapes`: they own seeding,
Gymnasium's API and (for the batch) auto-reset; the rules live in ``core`` once.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Discrete, MultiDiscrete
from gymnasium.utils import colorize
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from skillgym.envs.algorithmic.core import Tapes, Task, check_int, check_options
from skillgym.envs.batching import new_keys, reset_rows, sync_seeds
from skillgym.envs.counter_rng import draw_key
from skillgym.envs.rendering import TEXT_RENDER_MODES, text_to_rgb


def _spaces(task: Task) -> tuple[MultiDiscrete, Discrete]:
    """(action space, observation space) of one environment of ``task``."""
    action_space = MultiDiscrete([len(task.movements), 2, task.base])
    return action_space, Discrete(task.base + 1)


class AlgorithmicEnv(gym.Env[np.int64, np.ndarray]):
    """Base class of the single algorithmic environments; see each task for the documentation.

    Args:
        task: the task's rules and constants.
        render_mode: ``None``, ``"ansi"`` (``render()`` returns the text), ``"human"`` (printed
            after every reset and step) or ``"rgb_array"`` (the text as a picture).
    """

    metadata = {"render_modes": list(TEXT_RENDER_MODES), "render_fps": 4}

    def __init__(self, task: Task, render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.task = task
        self.render_mode = render_mode
        self.action_space, self.observation_space = _spaces(task)
        self._tapes = Tapes(task, 1)
        self._all = np.zeros(1, dtype=np.int64)
        self._active = np.ones(1, dtype=bool)
        self._running = False
        self._last_action: np.ndarray | None = None
        self._last_reward = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.int64, dict[str, Any]]:
        """Start a new episode; ``seed`` fixes this and every following episode's input.

        The curriculum (:attr:`min_length`) is the learner's progress and survives reseeding,
        as it did in the original.
        """
        check_options(options)
        super().reset(seed=seed)
        if seed is not None or not self._tapes.keyed[0]:
            self._tapes.rekey(self._all, np.array([draw_key(self.np_random)]))
        self._tapes.begin(self._all)
        self._running = True
        self._last_action = None
        self._last_reward = 0.0
        if self.render_mode == "human":
            self.render()
        return self._tapes.observe()[0], {}

    def step(self, action: np.ndarray) -> tuple[np.int64, float, bool, bool, dict[str, Any]]:
        """Move the read head, optionally write a symbol; see the task's docstring."""
        if not self._running:
            raise RuntimeError("step() needs an episode in progress: call reset() first")
        actions = self._tapes.check_actions(np.asarray(action)[None, ...])
        rewards, terminated = self._tapes.step(actions, self._active)
        self._running = not terminated[0]
        self._last_action = actions[0]
        self._last_reward = float(rewards[0])
        if self.render_mode == "human":
            self.render()
        return self._tapes.observe()[0], self._last_reward, bool(terminated[0]), False, {}

    @property
    def min_length(self) -> int:
        """The curriculum's current minimum input length (inputs are 0–2 symbols longer)."""
        return int(self._tapes.min_length[0])

    @property
    def input_data(self) -> np.ndarray:
        """The episode's input: ``(width,)`` for a tape, ``(width, rows)`` for a grid."""
        grid = self._tapes.grid[0, : self._tapes.widths[0]]
        return grid[:, 0].copy() if self.task.rows == 1 else grid.copy()

    @property
    def target(self) -> np.ndarray:
        """The symbols the agent must write, in order."""
        return self._tapes.targets[0, : self._tapes.target_lengths[0]].copy()

    @property
    def time_limit(self) -> int:
        """The last step this episode may use; the step after it ends it with reward -1."""
        return int(self._tapes.time_limits[0])

    @property
    def read_head(self) -> tuple[int, int]:
        """``(x, y)`` of the read head (``y`` stays 0 on a tape); may be off the input."""
        x, y = self._tapes.head[0]
        return int(x), int(y)

    @property
    def write_head(self) -> int:
        """How many target symbols have been written."""
        return int(self._tapes.write_head[0])

    def render(self) -> str | np.ndarray | None:
        """The input with the read head highlighted, the output so far, the target."""
        if self.render_mode is None:
            gym.logger.warn(f"render() needs a render_mode {TEXT_RENDER_MODES} at construction")
            return None
        if self.render_mode == "rgb_array":
            return text_to_rgb(self._render_text(color=False))
        text = self._render_text(color=True)
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def _symbol(self, value: int) -> str:
        """The printed form of one symbol; the blank is a space."""
        if value >= self.task.base:
            return " "
        return chr(ord("A") + value) if self.task.letters else str(value)

    def _cell(self, column: int, row: int, color: bool) -> str:
        """One input cell as printed, highlighted under the read head."""
        tapes, task = self._tapes, self.task
        inside = 0 <= column < tapes.widths[0] and 0 <= row < task.rows
        char = self._symbol(int(tapes.grid[0, column, row]) if inside else task.base)
        if color and (column, row) == self.read_head:
            return colorize(char, "green", highlight=True)
        return char

    def _output_text(self, color: bool) -> str:
        """The written symbols; the last write is coloured green if right, red if wrong."""
        written = [self._symbol(int(s)) for s in self.target[: self.write_head]]
        if color and self._last_action is not None and self._last_action[1] == 1:
            symbol = int(self._last_action[2])
            color = "green" if self._last_reward > 0 else "red"
            written[-1] = colorize(self._symbol(symbol), color, highlight=True)
        return "".join(written)

    def _render_text(self, color: bool) -> str:
        tapes, task = self._tapes, self.task
        width = int(tapes.widths[0])
        label = "Observation Grid    : " if task.rows > 1 else "Observation Tape    : "
        lines = [f"Total length of input instance: {width}, step: {int(tapes.time[0])}"]
        lines.append("=" * len(lines[0]))
        for row in range(task.rows):
            cells = "".join(self._cell(column, row, color) for column in range(-2, width + 2))
            lines.append((label if row == 0 else " " * len(label)) + cells)
        if not color:  # a picture has no colours: point at the read head instead
            x, y = self.read_head
            where = " " * (x + 2) + "^" if -2 <= x < width + 2 else f"column {x}"
            lines.append("Read head           : " + where + (f" row {y}" if task.rows > 1 else ""))
        lines.append("Output Tape         : " + self._output_text(color))
        lines.append("Targets             : " + "".join(self._symbol(int(s)) for s in self.target))
        if self._last_action is not None:
            move, write, symbol = (int(a) for a in self._last_action)
            lines.append(
                f"Action              : move {task.movements[move]}, "
                f"write {'yes' if write else 'no'}, symbol {self._symbol(symbol)}; "
                f"reward {self._last_reward:+.1f}, return {float(tapes.episode_return[0]):+.1f}"
            )
        return "\n".join(lines) + "\n"


class AlgorithmicVectorEnv(VectorEnv):
    """Base class of the natively batched algorithmic environments.

    Sub-environment ``i`` behaves exactly as the single environment of the same task would inside
    a :class:`gymnasium.vector.SyncVectorEnv`: ``reset(seed=s)`` gives it seed ``s + i``, and a
    sub-environment that ended is reset by the next ``step`` (``AutoresetMode.NEXT_STEP``, whose
    action for it is ignored and whose reward is 0). ``reset`` accepts ``options={"reset_mask":
    mask}`` to reset only some sub-environments, as ``SyncVectorEnv`` does.

    Steps and auto-resets are numpy over the batch. Only an explicit ``reset(seed=...)`` builds
    one generator per seeded sub-environment, because each key must be the one the single
    environment draws from ``np_random`` seeded with ``s + i``.

    Args:
        task: the task's rules and constants.
        num_envs: the number of sub-environments (``>= 1``).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, task: Task, num_envs: int = 1) -> None:
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.task = task
        self.single_action_space, self.single_observation_space = _spaces(task)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._tapes = Tapes(task, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._running = False

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-environment (or those in ``options["reset_mask"]``)."""
        options = dict(options or {})
        rows = reset_rows(options.pop("reset_mask", None), self.num_envs, self._running)
        check_options(options)
        seeds = sync_seeds(seed, self.num_envs)
        super().reset(seed=seed if isinstance(seed, int) else None)
        rekeyed, keys = new_keys(rows, seeds, self._tapes.keyed, self.np_random)
        self._tapes.rekey(rekeyed, keys)
        self._tapes.begin(rows)
        self._autoreset[rows] = False
        self._running = True
        return self._tapes.observe(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-environment; those that ended on the previous step are reset instead."""
        if not self._running:
            raise RuntimeError("step() needs a reset() first")
        actions = self._tapes.check_actions(actions, name="actions")
        restarting = self._autoreset
        if restarting.any():
            self._tapes.begin(np.flatnonzero(restarting))
        rewards, terminated = self._tapes.step(actions, ~restarting)
        self._autoreset = terminated
        truncated = np.zeros(self.num_envs, dtype=bool)
        return self._tapes.observe(), rewards, terminated, truncated, {}

    @property
    def min_length(self) -> np.ndarray:
        """``(num_envs,)`` each sub-environment's curriculum minimum input length."""
        return self._tapes.min_length.copy()
