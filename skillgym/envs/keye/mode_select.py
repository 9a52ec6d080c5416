"""Keye-ModeSelect: choose the response mode a language model answers a prompt in.

One prompt an episode: the agent sees the prompt and chooses whether the model thinks; the model
answers in that mode; the reward weighs the answer's accuracy and format against its cost in
tokens. An agent that learns this learns *when to think* (Keye-VL's auto-think, AdaptThink's
question), with the model fixed.

:class:`ModeSelectEnv` is the single environment and :class:`ModeSelectVectorEnv` its natively
batched twin, which generates the missing responses of the whole batch in one call. Both run on
:class:`_Episodes`, which draws problems with :mod:`~skillgym.envs.counter_rng` (so sub-env
``i`` of the twin plays exactly what a single env seeded like it plays) and scores responses.
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
    Problem,
    checked_levels_and_modes,
    sample_problems,
)
from skillgym.models.responders import Responder, Response
from skillgym.models.response_cache import ResponseCache
from skillgym.rewards.base import Sample
from skillgym.rewards.composition import WeightedSum
from skillgym.rewards.parsing import parse_response, with_switch

#: The modes an action can choose; ``"auto_think"`` lets the model decide.
MODE_CHOICES = ("no_think", "think", "auto_think")
#: The byte that pads a prompt's token ids (the byte tokenizer's ids are 0-255).
PAD_ID = 256
#: Characters counted into the prompt's features, in order.
FEATURE_CHARS = "0123456789+-*/("
_LEVEL_STREAM, _PROBLEM_STREAM, _SEED_STREAM = 0, 1, 2

DEFAULT_REWARDS: dict[str, float] = {"accuracy": 1.0, "keye_format": 0.1, "loop": 0.5}


def _builtin_responder() -> Responder:
    from skillgym.models.pretrained import load_builtin
    from skillgym.models.responders import BuiltinResponder

    return BuiltinResponder(load_builtin())


def resolve_responder(responder: Responder | str | None) -> Responder:
    """``None`` or ``"builtin"``: the shipped model answering greedily; a path: that model
    checkpoint; anything with ``name`` and ``respond``: itself."""
    if responder is None or responder == "builtin":
        return _builtin_responder()
    if isinstance(responder, str):
        from skillgym.models import load_checkpoint
        from skillgym.models.responders import BuiltinResponder

        return BuiltinResponder(load_checkpoint(responder), name=responder)
    if not (hasattr(responder, "respond") and hasattr(responder, "name")):
        raise ValueError(f"responder must be None, 'builtin', a checkpoint path or an object "
                         f"with name and respond(), got {responder!r}")
    return responder


class _Episodes:
    """The problems, observations and rewards of ``B`` sub-environments.

    Args: as :class:`ModeSelectEnv`'s, for ``batch`` sub-environments.
    """

    def __init__(self, batch: int, responder: Responder | str | None, levels: Sequence[int],
                 modes: Sequence[str], split: str, pool_size: int, pool_seed: int,
                 rewards: Mapping[str, Any], token_cost: float, max_prompt_bytes: int,
                 response_seeds: int, cache: ResponseCache | None) -> None:
        levels, modes = checked_levels_and_modes(levels, modes, MODE_CHOICES)
        for name, value in (("pool_size", pool_size), ("max_prompt_bytes", max_prompt_bytes),
                            ("response_seeds", response_seeds)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if isinstance(token_cost, bool) or not isinstance(token_cost, (int, float)) or not (
                math.isfinite(token_cost) and token_cost >= 0):
            raise ValueError(f"token_cost must be a finite number >= 0, got {token_cost!r}")
        self.batch = batch
        self.levels = levels
        self.modes = modes
        self.token_cost = float(token_cost)
        self.max_prompt_bytes = max_prompt_bytes
        self.response_seeds = response_seeds
        self.reward = WeightedSum(dict(rewards))
        self.pool: list[list[Problem]] = [sample_problems(level, pool_size, pool_seed, split)
                                          for level in levels]
        # (levels, pool_size, max_prompt_bytes): one gather observes the whole batch.
        self.prompt_ids = np.stack([encode_prompts([p.prompt for p in problems],
                                                   max_prompt_bytes) for problems in self.pool])
        self.cache = cache if cache is not None else ResponseCache()
        self._responder_spec = responder
        self._responder: Responder | None = None
        self.keys = np.zeros(batch, dtype=np.uint64)
        self.keyed = np.zeros(batch, dtype=bool)
        self.counters = np.zeros(batch, dtype=np.int64)
        self.level_index = np.zeros(batch, dtype=np.int64)
        self.problem_index = np.zeros(batch, dtype=np.int64)
        self.seeds = np.zeros(batch, dtype=np.int64)

    @property
    def responder(self) -> Responder:
        """The responder, created on first use (loading a model costs time a check does not)."""
        if self._responder is None:
            self._responder = resolve_responder(self._responder_spec)
        return self._responder

    def rekey(self, rows: np.ndarray, keys: np.ndarray) -> None:
        """New random keys for ``rows``: their episodes start over from counter 0."""
        self.keys[rows] = keys
        self.keyed[rows] = True
        self.counters[rows] = 0

    def begin(self, rows: np.ndarray) -> None:
        """Draw the next problem of each row (a pure function of its key and counter)."""
        keys, counters = self.keys[rows], self.counters[rows]
        self.level_index[rows] = integers(keys, counters, _LEVEL_STREAM, 1, 0,
                                          len(self.levels))[:, 0]
        self.problem_index[rows] = integers(keys, counters, _PROBLEM_STREAM, 1, 0,
                                            len(self.pool[0]))[:, 0]
        self.seeds[rows] = integers(keys, counters, _SEED_STREAM, 1, 0,
                                    self.response_seeds)[:, 0]
        self.counters[rows] += 1

    def problems(self) -> list[Problem]:
        """Each row's current problem."""
        return [self.pool[level][index] for level, index in
                zip(self.level_index.tolist(), self.problem_index.tolist(), strict=True)]

    def observe(self) -> dict[str, np.ndarray]:
        """``{"prompt": (B, max_prompt_bytes) byte ids, "features": (B, F) float32}``."""
        prompt = self.prompt_ids[self.level_index, self.problem_index]
        return {"prompt": prompt, "features": prompt_features(prompt)}

    def respond(self, actions: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Each row's response in its chosen mode: rewards and their components."""
        problems = self.problems()
        modes = [self.modes[action] for action in actions.tolist()]
        responses: list[Response] = self.cache.fetch(
            self.responder, [p.prompt for p in problems], modes, self.seeds.tolist())
        samples = [Sample.build(response.text, prompt=with_switch(problem.prompt, mode),
                                ground_truth=problem.answer)
                   for problem, mode, response in zip(problems, modes, responses, strict=True)]
        columns = self.reward.score_columns(samples)
        tokens = np.array([response.num_tokens for response in responses], dtype=np.int64)
        # A component without signal (None) adds nothing, as in WeightedSum; it reads NaN in info.
        total = np.array([0.0 if score is None else score
                          for score in self.reward.combine(columns)]) - self.token_cost * tokens
        components = {label: np.array(column, dtype=np.float64)
                      for label, column in columns.items()}
        info = {**components, "tokens": tokens, "level": np.array(
            [self.levels[i] for i in self.level_index.tolist()], dtype=np.int64),
            "thinks": np.array([parse_response(r.text, lenient=True).thinks
                                for r in responses], dtype=bool)}
        return total, info


def encode_prompts(prompts: Sequence[str], max_prompt_bytes: int) -> np.ndarray:
    """``(N, max_prompt_bytes)`` int64: each prompt's UTF-8 bytes, padded with :data:`PAD_ID`.

    Raises ValueError naming a prompt that does not fit.
    """
    ids = np.full((len(prompts), max_prompt_bytes), PAD_ID, dtype=np.int64)
    for row, prompt in enumerate(prompts):
        data = prompt.encode("utf-8")
        if len(data) > max_prompt_bytes:
            raise ValueError(f"a prompt of {len(data)} bytes does not fit max_prompt_bytes="
                             f"{max_prompt_bytes}: {prompt!r}")
        ids[row, :len(data)] = np.frombuffer(data, dtype=np.uint8)
    return ids


def prompt_observation(prompts: Sequence[str], max_prompt_bytes: int) -> dict[str, np.ndarray]:
    """The batched observation of the given prompts (what a router trained on the env sees)."""
    ids = encode_prompts(prompts, max_prompt_bytes)
    return {"prompt": ids, "features": prompt_features(ids)}


def prompt_features(prompt: np.ndarray) -> np.ndarray:
    """``(B, 1 + len(FEATURE_CHARS))`` float32: the prompt's length and the count of each of
    :data:`FEATURE_CHARS`, each divided by 32 (a size the policy's inputs handle well)."""
    real = prompt != PAD_ID
    counts = [real.sum(axis=1)] + [(prompt == ord(char)).sum(axis=1) for char in FEATURE_CHARS]
    return (np.stack(counts, axis=1) / 32.0).astype(np.float32)


def _spaces(episodes: _Episodes) -> tuple[spaces.Dict, spaces.Discrete]:
    width = episodes.max_prompt_bytes
    observation = spaces.Dict({
        "prompt": spaces.MultiDiscrete(np.full(width, PAD_ID + 1, dtype=np.int64)),
        "features": spaces.Box(0.0, width / 32.0, (1 + len(FEATURE_CHARS),), np.float32),
    })
    return observation, spaces.Discrete(len(episodes.modes))


class ModeSelectEnv(gym.Env):
    """Choose the mode in which a language model answers an arithmetic prompt.

    ## Description

    Each episode is one problem of the Keye tasks (:mod:`skillgym.envs.keye.tasks`), drawn from
    a fixed pool per level. The agent chooses a mode; the responder (by default the built-in
    model that ships with skillgym) answers the prompt with that mode's switch; the episode ends.
    Thinking costs tokens and, on hard problems, buys accuracy.

    ## Action Space

    ``Discrete(len(modes))``: the index of a mode in ``modes`` (default ``("no_think",
    "think")``; ``"auto_think"`` lets the model decide).

    ## Observation Space

    ``Dict``: ``"prompt"``, the prompt's UTF-8 bytes padded with 256 to ``max_prompt_bytes``
    (``MultiDiscrete([257] * max_prompt_bytes)``); ``"features"``, its length and the counts of
    digits, operators and brackets, each divided by 32 (``Box``, float32).

    ## Rewards

    ``sum(weight * reward)`` over the registered reward plugins named in ``rewards`` (by default
    ``accuracy`` 1.0, ``keye_format`` 0.1 and ``loop`` 0.5), minus ``token_cost`` per generated
    token. ``info`` holds each component, ``tokens``, the problem's ``level`` and whether the
    response ``thinks``.

    ## Starting State

    A problem drawn uniformly over ``levels``, then uniformly from that level's pool.

    ## Episode End

    Terminates after the one step; never truncates.

    ## Arguments

    - ``responder``: ``None``/``"builtin"``, a model checkpoint path, or a
      :class:`~skillgym.models.responders.Responder`.
    - ``levels``: the levels drawn (default all six); ``split``: ``"train"`` or the held-out
      ``"test"``; ``pool_size``, ``pool_seed``: the problems of each level.
    - ``modes``, ``rewards`` (``{name: weight}`` or ``{name: {"weight": w, **config}}``),
      ``token_cost``.
    - ``max_prompt_bytes``: the prompt observation's width.
    - ``response_seeds``: distinct sampling seeds per prompt (1 for a greedy responder).
    - ``cache``: a :class:`~skillgym.models.response_cache.ResponseCache` to share (e.g. kept in
      a file); by default a new in-memory one.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, responder: Responder | str | None = None,
                 levels: Sequence[int] = LEVEL_NUMBERS, modes: Sequence[str] = ("no_think",
                                                                               "think"),
                 split: str = "train", pool_size: int = 200, pool_seed: int = 0,
                 rewards: Mapping[str, Any] | None = None, token_cost: float = 5e-4,
                 max_prompt_bytes: int = 48, response_seeds: int = 1,
                 cache: ResponseCache | None = None, render_mode: str | None = None) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or one of "
                             f"{self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self._episodes = _Episodes(1, responder, levels, modes, split, pool_size, pool_seed,
                                   DEFAULT_REWARDS if rewards is None else rewards, token_cost,
                                   max_prompt_bytes, response_seeds, cache)
        self.observation_space, self.action_space = _spaces(self._episodes)
        self._running = False
        self._last: str | None = None

    @property
    def modes(self) -> list[str]:
        """The mode each action chooses."""
        return self._episodes.modes

    @property
    def problem(self) -> Problem:
        """The current episode's problem."""
        return self._episodes.problems()[0]

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """Draw the next problem; ``seed`` fixes this and every following episode's problem."""
        super().reset(seed=seed)
        if options:
            raise ValueError(f"options are not used by this environment, got {options!r}")
        rows = np.zeros(1, dtype=np.int64)
        if seed is not None or not self._episodes.keyed[0]:
            self._episodes.rekey(rows, np.array([draw_key(self.np_random)], dtype=np.uint64))
        self._episodes.begin(rows)
        self._running = True
        self._last = None
        observation = self._episodes.observe()
        return {key: value[0] for key, value in observation.items()}, {}

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """Answer the prompt in the chosen mode; the episode ends."""
        if not self._running:
            raise RuntimeError("step() needs an episode in progress: call reset() first")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in {self.action_space}, got {action!r}")
        rewards, info = self._episodes.respond(np.array([int(action)]))
        self._running = False
        self._last = f"{self.problem.prompt} /{self.modes[int(action)]}"
        observation = self._episodes.observe()
        return ({key: value[0] for key, value in observation.items()}, float(rewards[0]), True,
                False, {key: value[0].item() for key, value in info.items()})

    def render(self) -> str | None:
        """The current prompt (and, after a step, the mode chosen) as text."""
        if self.render_mode == "ansi":
            return self._last or self.problem.prompt
        return None


class ModeSelectVectorEnv(VectorEnv):
    """The natively batched twin of :class:`ModeSelectEnv`.

    Sub-environment ``i`` plays exactly what a single env does inside a
    ``SyncVectorEnv(..., autoreset_mode=AutoresetMode.SAME_STEP)``: ``reset(seed=s)`` gives it
    seed ``s + i``, and since every episode ends after one step, every step returns the next
    episode's observation, with the ended one's in ``info["final_obs"]`` and its components in
    ``info["final_info"]``. The missing responses of the whole batch are generated in one
    responder call per mode.

    Args:
        num_envs: the number of sub-environments; the others as :class:`ModeSelectEnv`.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, responder: Responder | str | None = None,
                 levels: Sequence[int] = LEVEL_NUMBERS, modes: Sequence[str] = ("no_think",
                                                                               "think"),
                 split: str = "train", pool_size: int = 200, pool_seed: int = 0,
                 rewards: Mapping[str, Any] | None = None, token_cost: float = 5e-4,
                 max_prompt_bytes: int = 48, response_seeds: int = 1,
                 cache: ResponseCache | None = None) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        self.num_envs = num_envs
        self._episodes = _Episodes(num_envs, responder, levels, modes, split, pool_size,
                                   pool_seed, DEFAULT_REWARDS if rewards is None else rewards,
                                   token_cost, max_prompt_bytes, response_seeds, cache)
        self.single_observation_space, self.single_action_space = _spaces(self._episodes)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._running = False

    @property
    def modes(self) -> list[str]:
        """The mode each action chooses."""
        return self._episodes.modes

    @property
    def cache(self) -> ResponseCache:
        """The response cache the sub-environments share."""
        return self._episodes.cache

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """Draw a problem for every sub-environment (or those in ``options["reset_mask"]``)."""
        reset_keyed(self, self._episodes, seed, options, self._running)
        self._running = True
        return self._episodes.observe(), {}

    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                                 np.ndarray, dict[str, Any]]:
        """Answer every prompt in its chosen mode; every episode ends and the next begins."""
        if not self._running:
            raise RuntimeError("step() needs a reset() first")
        actions = checked_actions(actions, self.num_envs, len(self.modes))
        rewards, components = self._episodes.respond(actions)
        everyone = np.arange(self.num_envs)
        done = np.ones(self.num_envs, dtype=bool)
        info = same_step_info(self._episodes.observe(), done,
                              column_info(everyone, self.num_envs, components))
        self._episodes.begin(everyone)
        return (self._episodes.observe(), rewards, done, np.zeros(self.num_envs, dtype=bool),
                info)
