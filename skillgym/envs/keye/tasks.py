"""Arithmetic problems on a graded difficulty scale, with Keye-VL's mode switches in the prompt.

Six levels, from problems a small model answers reliably without thinking to ones it cannot
answer without a worked trace. Every problem is an integer expression drawn by the AEC generator
(:mod:`skillgym.envs.aec.generator`, reasoning-gym's ``basic_arithmetic`` style, exact division),
so that one exact evaluator (:mod:`skillgym.envs.aec.expression`) gives every answer and the AEC
oracle gives every trace (:mod:`skillgym.envs.keye.traces`):

====  =====================================  ==========================================
level problems                               example
====  =====================================  ==========================================
1     one number of 1-4 digits (copying)     ``Calculate 4821.``
2     a sum of two one-digit numbers         ``Calculate 3+5.``
3     a sum or difference of two-digit ones  ``Calculate 52-17.``
4     one product or exact quotient, 1-2 d.  ``Calculate 47*83.``
5     three terms of 1-2 digits, ``+ - *``   ``Calculate 7-12*3.``
6     3-4 terms of 1-2 digits, ``+ - * /``   ``Calculate (12*34-6)/3.``
      and brackets
====  =====================================  ==========================================

A level-6 problem whose trace is longer than ``max_trace_bytes`` is not drawn, so that a whole
sample (prompt, switch, analysis, trace, answer) fits a 512-byte context.

Problems are split by a hash of their text into a training and a held-out split, so the same
problem can never be in both, whatever level or seed drew it; raising ``test_fraction`` only adds
problems to the held-out split.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from skillgym.envs.aec import expression
from skillgym.envs.aec.generator import ExpressionConfig, Uniforms, generate
from skillgym.envs.counter_rng import draw_key
from skillgym.envs.keye.traces import Trace, compact, render_trace
from skillgym.rewards.parsing import with_switch

#: Keye's switches by the mode they request; ``"none"`` (no switch) Keye-VL-1.5 reads as auto-think.
SWITCHES: dict[str, str] = {mode: with_switch("", mode).strip()
                            for mode in ("think", "no_think", "auto_think", "none")}
#: The switches a prompt may carry.
SWITCH_MODES = tuple(SWITCHES)
SPLITS = ("train", "test")
DEFAULT_TEST_FRACTION = 0.1
_STREAM = 300  # the counter_rng stream of expression draws (AEC's own EVAL uses 100)


@dataclass(frozen=True)
class Level:
    """One difficulty level.

    Attributes:
        number: 1 (easiest) to 6.
        kind: a few words naming the problems, used in auto-think analyses.
        config: how the AEC generator draws its expressions.
        max_trace_bytes: the longest trace a problem of this level may have (``None``: no limit).
    """

    number: int
    kind: str
    config: ExpressionConfig
    max_trace_bytes: int | None = None


LEVELS: tuple[Level, ...] = (
    Level(1, "A single number", ExpressionConfig(1, 1, 1, 4, "+", False, False)),
    Level(2, "A one-digit sum", ExpressionConfig(2, 2, 1, 1, "+", False, False)),
    Level(3, "A two-digit sum or difference", ExpressionConfig(2, 2, 2, 2, "+-", False, False)),
    Level(4, "One product or quotient", ExpressionConfig(2, 2, 1, 2, "*/", False, False)),
    Level(5, "Three terms with products", ExpressionConfig(3, 3, 1, 2, "+-*", False, False)),
    Level(
        6,
        "Several terms with brackets",
        ExpressionConfig(3, 4, 1, 2, "+-*/", True, False),
        max_trace_bytes=290,
    ),
)
LEVEL_NUMBERS = tuple(level.number for level in LEVELS)


def checked_levels_and_modes(levels: Sequence[int], modes: Sequence[str],
                             allowed: Sequence[str]) -> tuple[list[int], list[str]]:
    """``levels`` and ``modes`` as lists, or a ``ValueError``: the levels must be a non-empty
    list of level numbers, the modes a non-empty list of distinct entries of ``allowed``."""
    levels, modes = list(levels), list(modes)
    if not levels or any(level not in LEVEL_NUMBERS for level in levels):
        raise ValueError(f"levels must be a non-empty list of {list(LEVEL_NUMBERS)}, "
                         f"got {levels!r}")
    if not modes or any(mode not in allowed for mode in modes) or len(set(modes)) != len(modes):
        raise ValueError(f"modes must be distinct entries of {list(allowed)}, got {modes!r}")
    return levels, modes


def level_of(number: int) -> Level:
    """The level numbered ``number``, or a ``ValueError`` listing the levels."""
    if isinstance(number, bool) or number not in LEVEL_NUMBERS:
        raise ValueError(f"level must be one of {list(LEVEL_NUMBERS)}, got {number!r}")
    return LEVELS[number - 1]


@dataclass(frozen=True)
class Problem:
    """One problem.

    Attributes:
        id: ``L<level>-<hash of the text>``: the same problem always has the same id.
        level: its level number.
        text: the expression, compactly (``(12*34-6)/3``).
        prompt: the question without a switch (``Calculate (12*34-6)/3.``).
        answer: the exact value (Python int; ``/`` is floor division, exact in every level).
        digits: the most digits of any number in the expression.
        split: ``"train"`` or ``"test"``.
    """

    id: str
    level: int
    text: str
    prompt: str
    answer: int
    digits: int
    split: str

    def with_switch(self, switch: str) -> str:
        """The prompt with Keye's switch for ``switch`` (a key of :data:`SWITCHES`) appended."""
        if switch not in SWITCHES:
            raise ValueError(f"switch must be one of {list(SWITCHES)}, got {switch!r}")
        return with_switch(self.prompt, switch)

    @property
    def trace(self) -> Trace:
        """The step-by-step trace, from the AEC oracle (cached per text)."""
        return _trace(self.text)


@lru_cache(maxsize=1 << 16)
def _trace(text: str) -> Trace:
    return render_trace(text)


def _check_fraction(test_fraction: float) -> None:
    if isinstance(test_fraction, bool) or not (
        isinstance(test_fraction, (int, float)) and 0 <= test_fraction < 1
    ):
        raise ValueError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")


def split_of(text: str, test_fraction: float = DEFAULT_TEST_FRACTION) -> str:
    """The split of a problem: ``"test"`` when a hash of its text falls below ``test_fraction``."""
    _check_fraction(test_fraction)
    return _split(_digest(text), test_fraction)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _split(digest: str, test_fraction: float) -> str:
    return "test" if int(digest, 16) / 2**64 < test_fraction else "train"


def make_problem(level: int, text: str, test_fraction: float = DEFAULT_TEST_FRACTION) -> Problem:
    """The problem of an expression at ``level`` (any text :func:`expression.parse` reads)."""
    level_of(level)
    tokens = expression.parse(text)
    answer, _ = expression.evaluate(tokens)
    text = compact(tokens)
    digest = _digest(text)
    _check_fraction(test_fraction)
    return Problem(
        id=f"L{level}-{digest}",
        level=level,
        text=text,
        prompt=f"Calculate {text}.",
        answer=answer,
        digits=max(len(number) for number in re.findall(r"\d+", text)),
        split=_split(digest, test_fraction),
    )


def iter_problems(
    level: int, seed: int, split: str = "train", test_fraction: float = DEFAULT_TEST_FRACTION
) -> Iterator[Problem]:
    """The endless seeded stream of ``split``'s problems at ``level``.

    Draw ``i`` is a pure function of ``(seed, level, i)``; draws of the other split and level-6
    draws whose trace is too long are passed over.
    """
    chosen = level_of(level)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    _check_fraction(test_fraction)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    key = draw_key(np.random.default_rng([int(seed), level]))
    counter = 0
    while True:
        text, _ = generate(chosen.config, Uniforms(key, counter, _STREAM))
        counter += 1
        problem = make_problem(level, text, test_fraction)
        if problem.split != split:
            continue
        if chosen.max_trace_bytes is not None:
            if len(problem.trace.text) > chosen.max_trace_bytes:
                continue
        yield problem


def sample_problems(
    level: int,
    count: int,
    seed: int,
    split: str = "train",
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> list[Problem]:
    """The first ``count`` problems of :func:`iter_problems`."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    stream = iter_problems(level, seed, split, test_fraction)
    return [next(stream) for _ in range(count)]
