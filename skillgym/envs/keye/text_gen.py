"""Keye-TextGen: write a response token by token, the language model's own RL problem.

One response an episode: the agent sees the conversation so far (the prompt, with one of Keye's
switches, and what it has written), chooses the next token, and is scored when it ends the
reply. A language model is a policy here: its next-token distribution is the action
distribution, and GRPO or PPO on this env is RL of the model itself.

:class:`TextGenEnv` is the single environment and :class:`TextGenVectorEnv` its natively batched
twin. Both run on :class:`_Replies`, which draws problems and switches with
:mod:`~skillgym.envs.counter_rng` (so sub-env ``i`` of the twin writes exactly what a single env
seeded like it does) and scores the replies with :mod:`skillgym.rewards`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from skillgym.envs.batching import checked_actions, column_info, reset_keyed, same_step_info
from skillgym.envs.counter_rng import draw_key, integers
from skillgym.envs.keye.tasks import (
    LEVEL_NUMBERS,
    SWITCH_MODES,
    Problem,
    checked_levels_and_modes,
    sample_problems,
)
from skillgym.models.responders import KEYE_REPLY_TOKENS
from skillgym.models.tokenizer import EOS, PAD, VOCAB_SIZE, decode, encode_prompt
from skillgym.rewards.base import Sample, check_int
from skillgym.rewards.composition import WeightedSum
from skillgym.rewards.parsing import parse_response, with_switch

#: The terminal reward by default: a reply's accuracy, its format and whether it loops.
DEFAULT_REWARDS: dict[str, float] = {"accuracy": 1.0, "keye_format": 0.2, "loop": 0.5}
_LEVEL_STREAM, _PROBLEM_STREAM, _MODE_STREAM = 0, 1, 2
_DENSE_N = 3  # the n of the per-token repetition penalty's n-grams


class _Replies:
    """The prompts, the tokens written and the rewards of ``B`` sub-environments.

    Args: as :class:`TextGenEnv`'s, for ``batch`` sub-environments.
    """

    def __init__(self, batch: int, levels: Sequence[int], modes: Sequence[str], split: str,
                 pool_size: int, pool_seed: int, rewards: Mapping[str, Any],
                 dense_repetition: float, window: int, max_new_tokens: int) -> None:
        levels, modes = checked_levels_and_modes(levels, modes, SWITCH_MODES)
        check_int("pool_size", pool_size, 1)
        check_int("window", window, 2)
        check_int("max_new_tokens", max_new_tokens, 1)
        if isinstance(dense_repetition, bool) or not isinstance(
                dense_repetition, (int, float)) or not math.isfinite(dense_repetition) or (
                dense_repetition < 0):
            raise ValueError(f"dense_repetition must be a finite number >= 0, got "
                             f"{dense_repetition!r}")
        self.batch, self.levels, self.modes = batch, levels, modes
        self.window, self.max_new_tokens = window, max_new_tokens
        self.dense_repetition = float(dense_repetition)
        self.reward = WeightedSum(dict(rewards))
        self.pool: list[list[Problem]] = [sample_problems(level, pool_size, pool_seed, split)
                                          for level in levels]
        # The prompt tokens of every (level, problem, mode), encoded once.
        self.prompts: list[list[list[list[int]]]] = [
            [[encode_prompt([{"role": "user", "content": with_switch(problem.prompt, mode)}])
              for mode in modes] for problem in problems] for problems in self.pool]
        longest = max(len(ids) for level in self.prompts for problem in level for ids in problem)
        if longest >= window:
            raise ValueError(f"a prompt takes {longest} tokens, more than the window of {window} "
                             "leaves room for a reply; raise window")
        self.context = np.full((batch, window), PAD, dtype=np.int64)
        self.prompt_lengths = np.zeros(batch, dtype=np.int64)
        self.lengths = np.zeros(batch, dtype=np.int64)  # real tokens in the context
        # The dense penalty, kept as the reply grows: each row's 3-grams so far, and which of
        # its context positions some repeated 3-gram covers.
        self.seen_ngrams: list[set[tuple[int, ...]]] = [set() for _ in range(batch)]
        self.covered = np.zeros((batch, window), dtype=bool)
        self.keys = np.zeros(batch, dtype=np.uint64)
        self.keyed = np.zeros(batch, dtype=bool)
        self.counters = np.zeros(batch, dtype=np.int64)
        self.level_index = np.zeros(batch, dtype=np.int64)
        self.problem_index = np.zeros(batch, dtype=np.int64)
        self.mode_index = np.zeros(batch, dtype=np.int64)

    def rekey(self, rows: np.ndarray, keys: np.ndarray) -> None:
        """New random keys for ``rows``: their episodes start over from counter 0."""
        self.keys[rows] = keys
        self.keyed[rows] = True
        self.counters[rows] = 0

    def begin(self, rows: np.ndarray) -> None:
        """Draw each row's next problem and switch (a pure function of its key and counter) and
        put its prompt in the context."""
        keys, counters = self.keys[rows], self.counters[rows]
        self.level_index[rows] = integers(keys, counters, _LEVEL_STREAM, 1, 0,
                                          len(self.levels))[:, 0]
        self.problem_index[rows] = integers(keys, counters, _PROBLEM_STREAM, 1, 0,
                                            len(self.pool[0]))[:, 0]
        self.mode_index[rows] = integers(keys, counters, _MODE_STREAM, 1, 0,
                                         len(self.modes))[:, 0]
        self.counters[rows] += 1
        for row in rows.tolist():
            ids = self.prompts[self.level_index[row]][self.problem_index[row]][
                self.mode_index[row]]
            self.context[row] = PAD
            self.context[row, :len(ids)] = ids
            self.prompt_lengths[row] = self.lengths[row] = len(ids)
        for row in rows.tolist():
            self.seen_ngrams[row].clear()
        self.covered[rows] = False

    def problem(self, row: int) -> Problem:
        """Row ``row``'s problem."""
        return self.pool[self.level_index[row]][self.problem_index[row]]

    def mode(self, row: int) -> str:
        """Row ``row``'s switch."""
        return self.modes[self.mode_index[row]]

    def reply(self, row: int) -> np.ndarray:
        """The tokens row ``row`` has written."""
        return self.context[row, self.prompt_lengths[row]:self.lengths[row]]

    def observe(self) -> dict[str, np.ndarray]:
        """``{"tokens": (B, window), "prompt_mask": (B, window)}``: the last ``window`` tokens
        of each context, right-aligned and padded with PAD on the left, and which of them are
        the prompt's."""
        width = self.window
        columns = np.arange(width)
        # Column c holds context position lengths - width + c.
        positions = self.lengths[:, None] - width + columns
        inside = positions >= 0
        tokens = np.where(inside, np.take_along_axis(self.context, np.maximum(positions, 0),
                                                     axis=1), PAD)
        prompt = inside & (positions < self.prompt_lengths[:, None])
        return {"tokens": tokens, "prompt_mask": prompt.astype(np.int8)}

    def write(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Append each row's token: ``(per-token rewards, terminated, truncated)``.

        A reply ends (terminates) when it writes EOS; it is truncated at ``max_new_tokens``
        or when the window is full.
        """
        rows = np.arange(self.batch)
        self.context[rows, self.lengths] = tokens
        self.lengths += 1
        written = self.lengths - self.prompt_lengths
        terminated = tokens == EOS
        truncated = ~terminated & ((written >= self.max_new_tokens)
                                   | (self.lengths >= self.window))
        dense = np.zeros(self.batch, dtype=np.float64)
        if self.dense_repetition:
            # A reply's 3-gram that occurred earlier in it penalizes its three tokens (once
            # each): the change is the tokens the new 3-gram newly covers, so an episode's
            # per-token rewards add up to the dense penalty of its whole reply.
            for row in np.flatnonzero(written >= _DENSE_N).tolist():
                end = int(self.lengths[row])
                ngram = tuple(self.context[row, end - _DENSE_N:end].tolist())
                if ngram in self.seen_ngrams[row]:
                    fresh = ~self.covered[row, end - _DENSE_N:end]
                    dense[row] = -self.dense_repetition * int(fresh.sum())
                    self.covered[row, end - _DENSE_N:end] = True
                else:
                    self.seen_ngrams[row].add(ngram)
        return dense, terminated, truncated

    def score(self, rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The terminal rewards of the replies of ``rows`` and their components."""
        samples = []
        for row in rows.tolist():
            problem, reply = self.problem(row), self.reply(row)
            samples.append(Sample.build(decode(reply), prompt=with_switch(problem.prompt,
                                                                          self.mode(row)),
                                        ground_truth=problem.answer,
                                        completion_ids=reply.tolist()))
        columns = self.reward.score_columns(samples)
        # A component without signal (None) adds nothing, as in WeightedSum; it reads NaN.
        total = np.array([0.0 if score is None else score
                          for score in self.reward.combine(columns)], dtype=np.float64)
        info = {label: np.array(column, dtype=np.float64) for label, column in columns.items()}
        info["tokens"] = (self.lengths - self.prompt_lengths)[rows]
        info["level"] = np.array([self.levels[i] for i in self.level_index[rows].tolist()],
                                 dtype=np.int64)
        info["thinks"] = np.array([parse_response(sample.completion, lenient=True).thinks
                                   for sample in samples], dtype=bool)
        return total, info


def _spaces(replies: _Replies) -> tuple[spaces.Dict, spaces.Discrete]:
    width = replies.window
    observation = spaces.Dict({
        "tokens": spaces.MultiDiscrete(np.full(width, VOCAB_SIZE, dtype=np.int64)),
        "prompt_mask": spaces.MultiBinary(width),
    })
    return observation, spaces.Discrete(VOCAB_SIZE)


class TextGenEnv(gym.Env):
    """Write the reply to a Keye prompt one token at a time.

    ## Description

    Each episode is one problem of the Keye tasks (:mod:`skillgym.envs.keye.tasks`), drawn from
    a fixed pool per level, asked with one of Keye's switches (``/think``, ``/no_think``,
    ``/auto_think`` or none) in the built-in model's chat template. The agent writes the
    assistant's reply, byte by byte, in the built-in model's vocabulary; the reply ends with EOS.

    ## Action Space

    ``Discrete(262)``: the next token (bytes 0-255 and the tokenizer's six special tokens; see
    :mod:`skillgym.models.tokenizer`).

    ## Observation Space

    ``Dict``: ``"tokens"``, the last ``window`` tokens of the conversation (prompt and reply so
    far), right-aligned and padded with PAD (256) on the left (``MultiDiscrete([262] *
    window)``); ``"prompt_mask"``, 1 where a token is the prompt's (``MultiBinary(window)``).

    ## Rewards

    When the reply ends: ``sum(weight * reward)`` over the registered reward plugins named in
    ``rewards`` (by default ``accuracy`` 1.0, ``keye_format`` 0.2 and ``loop`` 0.5), scoring
    the reply against the problem's answer and the prompt's switch. With ``dense_repetition >
    0``, every step also pays that weight times the change in the reply's dense repetition
    penalty (3-grams of tokens, -1 per repeated token), so that an episode's per-token rewards
    add up to the penalty of its whole reply. ``info`` at the end holds each component,
    ``tokens``, the problem's ``level`` and whether the reply ``thinks``.

    ## Starting State

    A problem drawn uniformly over ``levels``, then uniformly from that level's pool, and a
    switch drawn uniformly from ``modes``.

    ## Episode End

    Terminates when the agent writes EOS (258); truncates after ``max_new_tokens`` tokens or
    when the conversation fills ``window`` tokens (both scored as they stand).

    ## Arguments

    - ``levels``: the levels drawn (default all six); ``split``: ``"train"`` or the held-out
      ``"test"``; ``pool_size``, ``pool_seed``: the problems of each level.
    - ``modes``: the switches drawn (default ``think``, ``no_think``, ``auto_think``: Keye's
      mix-mode RL batches).
    - ``rewards``: ``{name: weight}`` or ``{name: {"weight": w, **config}}``;
      ``dense_repetition``: the per-token repetition weight (0 for none).
    - ``window``: the observation's width (the built-in model's context is 512);
      ``max_new_tokens``: the longest reply (480 by default, which the longest reply of the
      cold-start mixture fits).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, levels: Sequence[int] = LEVEL_NUMBERS,
                 modes: Sequence[str] = ("think", "no_think", "auto_think"),
                 split: str = "train", pool_size: int = 200, pool_seed: int = 0,
                 rewards: Mapping[str, Any] | None = None, dense_repetition: float = 0.0,
                 window: int = 512, max_new_tokens: int = KEYE_REPLY_TOKENS,
                 render_mode: str | None = None) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or one of "
                             f"{self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self._replies = _Replies(1, levels, modes, split, pool_size, pool_seed,
                                 DEFAULT_REWARDS if rewards is None else rewards,
                                 dense_repetition, window, max_new_tokens)
        self.observation_space, self.action_space = _spaces(self._replies)
        self._running = False

    @property
    def problem(self) -> Problem:
        """The current episode's problem."""
        return self._replies.problem(0)

    @property
    def prompt(self) -> str:
        """The current episode's prompt, with its switch."""
        return with_switch(self.problem.prompt, self._replies.mode(0))

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """Draw the next problem and switch; ``seed`` fixes this and every following one."""
        super().reset(seed=seed)
        if options:
            raise ValueError(f"options are not used by this environment, got {options!r}")
        rows = np.zeros(1, dtype=np.int64)
        if seed is not None or not self._replies.keyed[0]:
            self._replies.rekey(rows, np.array([draw_key(self.np_random)], dtype=np.uint64))
        self._replies.begin(rows)
        self._running = True
        return _row(self._replies.observe(), 0), {}

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """Write one token; the reply is scored when it ends."""
        if not self._running:
            raise RuntimeError("step() needs an episode in progress: call reset() first")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in {self.action_space}, got {action!r}")
        dense, terminated, truncated = self._replies.write(np.array([int(action)]))
        reward, info = float(dense[0]), {}
        if terminated[0] or truncated[0]:
            total, components = self._replies.score(np.zeros(1, dtype=np.int64))
            reward += float(total[0])
            info = {key: value[0].item() for key, value in components.items()}
            self._running = False
        return (_row(self._replies.observe(), 0), reward, bool(terminated[0]),
                bool(truncated[0]), info)

    def render(self) -> str | None:
        """The prompt and the reply so far, as text."""
        if self.render_mode == "ansi":
            return f"{self.prompt}\n{decode(self._replies.reply(0))}"
        return None


def _row(observation: dict[str, np.ndarray], row: int) -> dict[str, np.ndarray]:
    return {key: value[row] for key, value in observation.items()}


class TextGenVectorEnv(VectorEnv):
    """The natively batched twin of :class:`TextGenEnv`.

    Sub-environment ``i`` plays exactly what a single env does inside a
    ``SyncVectorEnv(..., autoreset_mode=AutoresetMode.SAME_STEP)``: ``reset(seed=s)`` gives it
    seed ``s + i``; a step that ends a reply returns the next episode's first observation, with
    the ended one's in ``info["final_obs"]`` and its components in ``info["final_info"]``. Each
    step writes every sub-environment's token with array operations; only the replies that
    end are decoded and scored.

    Args:
        num_envs: the number of sub-environments; the others as :class:`TextGenEnv`.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, levels: Sequence[int] = LEVEL_NUMBERS,
                 modes: Sequence[str] = ("think", "no_think", "auto_think"),
                 split: str = "train", pool_size: int = 200, pool_seed: int = 0,
                 rewards: Mapping[str, Any] | None = None, dense_repetition: float = 0.0,
                 window: int = 512, max_new_tokens: int = KEYE_REPLY_TOKENS) -> None:
        check_int("num_envs", num_envs, 1)
        self.num_envs = num_envs
        self._replies = _Replies(num_envs, levels, modes, split, pool_size, pool_seed,
                                 DEFAULT_REWARDS if rewards is None else rewards,
                                 dense_repetition, window, max_new_tokens)
        self.single_observation_space, self.single_action_space = _spaces(self._replies)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._running = False

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """Draw a problem for every sub-environment (or those in ``options["reset_mask"]``)."""
        reset_keyed(self, self._replies, seed, options, self._running)
        self._running = True
        return self._replies.observe(), {}

    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                                 np.ndarray, dict[str, Any]]:
        """Write every sub-environment's token; the replies that end are scored and restart."""
        if not self._running:
            raise RuntimeError("step() needs a reset() first")
        actions = checked_actions(actions, self.num_envs, VOCAB_SIZE)
        rewards, terminated, truncated = self._replies.write(actions.astype(np.int64))
        ended = terminated | truncated
        info: dict[str, Any] = {}
        if ended.any():
            rows = np.flatnonzero(ended)
            total, components = self._replies.score(rows)
            rewards[rows] += total
            info = same_step_info(self._replies.observe(), ended,
                                  column_info(rows, self.num_envs, components))
            self._replies.begin(rows)
        return self._replies.observe(), rewards, terminated, truncated, info
