"""Random integer expressions in the style of reasoning-gym's ``basic_arithmetic``.

An expression is a random binary tree over ``terms`` constants of ``digits`` digits each, written
with the brackets its structure needs, optional extra brackets, and ``-(`` negation. A division's
divisor is a constant that divides its dividend exactly (by default), so that ``//`` is exact,
as reasoning-gym intends. Every random draw comes from :mod:`skillgym.envs.counter_rng`, so an
expression is a pure function of ``(key, counter)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skillgym.envs.counter_rng import random_bits

_BLOCK = 64  # uniforms drawn per counter_rng call


@dataclass(frozen=True)
class ExpressionConfig:
    """How expressions are drawn; the defaults are reasoning-gym's default configuration.

    Args:
        min_terms, max_terms: the number of constants, drawn uniformly per expression.
        min_digits, max_digits: the digits per constant, drawn once per expression.
        operators: a string of operators among ``+-*/``.
        parentheses: allow brackets and ``-(`` negation; without, a flat chain of terms.
        negation: allow negative constants and ``-(`` negation.
        exact_division: make every ``/`` divide exactly.
        inexact_share: with ``exact_division``, the probability that a division's divisor is
            drawn as without it (any non-zero constant), so that it leaves a remainder as a rule.
            0 draws nothing extra, so the expressions of a configuration without it do not change.
    """

    min_terms: int = 2
    max_terms: int = 6
    min_digits: int = 1
    max_digits: int = 4
    operators: str = "+-*/"
    parentheses: bool = True
    negation: bool = True
    exact_division: bool = True
    inexact_share: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_terms <= self.max_terms:
            raise ValueError(
                f"need 1 <= min_terms <= max_terms, got {self.min_terms}, {self.max_terms}"
            )
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError(
                f"need 1 <= min_digits <= max_digits, got {self.min_digits}, {self.max_digits}"
            )
        if not self.operators or set(self.operators) - set("+-*/"):
            raise ValueError(
                f"operators must be a non-empty string over '+-*/', got {self.operators!r}"
            )
        if not 0.0 <= self.inexact_share <= 1.0:
            raise ValueError(f"inexact_share must be in [0, 1], got {self.inexact_share}")


class Uniforms:
    """A stream of uniform draws that is a pure function of ``(key, counter, stream)``."""

    def __init__(self, key: np.uint64, counter: int, stream: int) -> None:
        self._key = np.array([key], dtype=np.uint64)
        self._counter = np.array([counter], dtype=np.uint64)
        self._stream = stream
        self._buffer: list[float] = []
        self._blocks = 0

    def below(self, n: int) -> int:
        """A uniform integer in ``[0, n)``."""
        return int(self.uniform() * n)

    def uniform(self) -> float:
        """A uniform float in ``[0, 1)``."""
        if not self._buffer:
            bits = random_bits(self._key, self._counter, self._stream + 1000 * self._blocks, _BLOCK)
            self._buffer = ((bits[0] >> np.uint64(11)).astype(np.float64) * 2.0**-53).tolist()
            self._buffer.reverse()
            self._blocks += 1
        return self._buffer.pop()

    def between(self, low: int, high: int) -> int:
        """A uniform integer in ``[low, high]``."""
        return low + self.below(high - low + 1)

    def chance(self) -> bool:
        """A fair coin."""
        return self.below(2) == 1


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _divisors(value: int, limit: int) -> list[int]:
    """The divisors of ``value`` (> 0) up to ``limit``."""
    candidates = np.arange(1, min(value, limit) + 1, dtype=np.int64)
    if value < 2**62:
        return candidates[value % candidates == 0].tolist()
    return [d for d in candidates.tolist() if value % d == 0]


def generate(config: ExpressionConfig, draws: Uniforms) -> tuple[str, int]:
    """One expression (reasoning-gym's spacing: one space between parts) and its value."""
    terms = draws.between(config.min_terms, config.max_terms)
    digits = draws.between(config.min_digits, config.max_digits)
    largest = 10**digits - 1

    def constant() -> int:
        value = draws.between(0, largest)
        return -value if config.negation and draws.chance() else value

    def exact() -> bool:
        """Whether the next division is drawn exact (one extra draw only for a mixed share)."""
        if not config.exact_division:
            return False
        return not config.inexact_share or draws.uniform() >= config.inexact_share

    def divisor(dividend: int) -> int:
        """A divisor of ``dividend`` (any non-zero constant if it is 0 or division is inexact)."""
        choices = _divisors(abs(dividend), largest) if exact() and dividend else []
        chosen = choices[draws.below(len(choices))] if choices else draws.between(1, largest)
        return -chosen if config.negation and draws.chance() else chosen

    def tree(n: int):
        """A node: ``("c", value)``, ``(op, left, right)``, ``("()", node)``, ``("-()", node)``."""
        if n == 1:
            return ("c", constant())
        left_terms = draws.between(1, n - 1)
        op = config.operators[draws.below(len(config.operators))]
        left = tree(left_terms)
        if op == "/":
            node = ("/", left, ("c", divisor(value(left))))
            rest = n - left_terms - 1
            if rest:
                others = config.operators.replace("/", "") or "+"
                node = (others[draws.below(len(others))], node, tree(rest))
        else:
            node = (op, left, tree(n - left_terms))
        if config.parentheses and draws.chance():
            node = ("-()" if config.negation and draws.chance() else "()", node)
        return node

    def flat(n: int):
        """Without brackets: a left-to-right chain, each ``/`` dividing its product term."""
        node = term = ("c", constant())
        for _ in range(n - 1):
            op = config.operators[draws.below(len(config.operators))]
            if op in "*/":
                right = ("c", divisor(value(term)) if op == "/" else constant())
                term = (op, term, right)
                node = term if node is term[1] else (node[0], node[1], term)
            else:
                term = ("c", constant())
                node = (op, node, term)
        return node

    def value(node) -> int:
        kind = node[0]
        if kind == "c":
            return node[1]
        if kind == "()":
            return value(node[1])
        if kind == "-()":
            return -value(node[1])
        left, right = value(node[1]), value(node[2])
        if kind == "+":
            return left + right
        if kind == "-":
            return left - right
        if kind == "*":
            return left * right
        return left // right

    def precedence(node) -> int:
        return _PRECEDENCE.get(node[0], 3)

    def parts(node) -> list[str]:
        kind = node[0]
        if kind == "c":
            return [str(node[1])]
        if kind in ("()", "-()"):
            return [kind[:-1]] + parts(node[1]) + [")"]
        left, right = parts(node[1]), parts(node[2])
        if precedence(node[1]) < precedence(node):
            left = ["("] + left + [")"]
        if precedence(node[2]) <= precedence(node):
            right = ["("] + right + [")"]
        return left + [kind] + right

    root = tree(terms) if config.parentheses else flat(terms)
    return " ".join(parts(root)), value(root)
