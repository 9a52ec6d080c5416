"""Exact-match accuracy on a file of integer expressions, overall and by size.

A file of expressions is JSON Lines: one object per line with the expression and its answer,

.. code-block:: text

    {"expression": "3 * (4 + -5) // 2", "answer": -2}
    {"question": "Calculate -5 * 8 + 7.", "answer": "-33", "metadata": {"expression": "-5 * 8 + 7"}}

the second being what reasoning-gym's ``basic_arithmetic`` writes (the expression is read from
``metadata.expression`` when there is no top-level ``"expression"``). ``/`` is floor division,
as there. Blank lines are skipped; anything else that is not a well-formed problem stops
:func:`read_problems` with an :class:`ExpressionsError` naming the file and line, before any
problem is solved.

A solver is anything with ``answer(text) -> int | None`` (``None``: it produced no number).
Results are grouped by number of terms (the constants in the expression) and by digits (the
longest constant's digit count).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from skillgym.envs.aec import expression
from skillgym.progress import progress_bar

# An answer given as text: optional sign, ASCII digits (``int()`` alone would also take "1_000").
_INTEGER = re.compile(r"[+-]?[0-9]+")


class ExpressionsError(ValueError):
    """A file of expressions that cannot be read, naming the file and line (one line)."""


class Solver(Protocol):
    """What :func:`score` needs: an integer answer for an expression's text."""

    def answer(self, text: str) -> int | None:
        """The value of ``text``, or ``None`` when no number was produced."""


class OracleSolver:
    """The AEC skill hierarchy with every skill acting by its oracle policy (exact by design)."""

    def answer(self, text: str) -> int | None:
        """The number EVAL leaves on the scratchpad (:func:`skillgym.envs.aec.solve.compute`)."""
        from skillgym.envs.aec.solve import compute

        return compute(text)


@dataclass(frozen=True)
class Problem:
    """One line of a file of expressions.

    Attributes:
        line: the 1-based line number in the file.
        expression: the expression's text, as written.
        answer: the expected value.
        terms: the number of constants in the expression.
        digits: the digit count of its longest constant.
    """

    line: int
    expression: str
    answer: int
    terms: int
    digits: int


def constants(tokens: list[int]) -> list[int]:
    """The magnitudes of the constants of a parsed expression (``expression.parse``), in order."""
    # Number tokens are the digits 0-9; any other token (operator, bracket, NEG) ends a number.
    runs = groupby(tokens, key=lambda token: token < 10)
    return [int("".join(map(str, digits))) for is_digit, digits in runs if is_digit]


def _answer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise ValueError(f'"answer" must be an integer or a string of one, got {json.dumps(value)}')


def _expression(item: dict[str, Any]) -> str:
    text = item.get("expression")
    if text is None and isinstance(item.get("metadata"), dict):
        text = item["metadata"].get("expression")
    if text is None:
        raise ValueError('no "expression" (nor "metadata.expression", reasoning-gym\'s form)')
    if not isinstance(text, str):
        raise ValueError(f'"expression" must be a string, got {json.dumps(text)}')
    return text


def parse_problem(line: int, text: str) -> Problem:
    """The problem on one line of JSON; a ``ValueError`` (or ``ZeroDivisionError``) says why not.

    The expression is parsed and evaluated here, so that a malformed one or one that divides by
    zero is reported with its line before anything is solved; its value is not compared with the
    answer (scoring a file whose answers are wrong is the user's business).
    """
    try:
        item = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error})") from None
    if not isinstance(item, dict):
        raise ValueError(f"expected a JSON object, got {type(item).__name__}")
    if "answer" not in item:
        raise ValueError('no "answer"')
    answer = _answer(item["answer"])
    source = _expression(item)
    tokens = expression.parse(source)  # the parser's ValueError says what is malformed, where
    expression.evaluate(tokens)  # a zero divisor raises here, saying which
    numbers = constants(tokens)
    return Problem(line, source, answer, len(numbers), max(len(str(n)) for n in numbers))


def read_problems(path: Path) -> list[Problem]:
    """Every problem of a JSON Lines file, blank lines skipped.

    Raises :class:`ExpressionsError` for a missing or unreadable file, a bad line (``FILE:N:
    why``) or a file without a single problem.
    """
    try:
        # Not splitlines(): JSON strings may hold U+2028 and other breaks it would split on.
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise ExpressionsError(f"file of expressions '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ExpressionsError(f"cannot read '{path}': {error}") from None
    problems = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            problems.append(parse_problem(number, text))
        except (ValueError, ZeroDivisionError) as error:
            raise ExpressionsError(f"{path}:{number}: {error}") from None
    if not problems:
        raise ExpressionsError(f"'{path}' holds no expressions (only blank lines, or nothing)")
    return problems


@dataclass(frozen=True)
class Group:
    """Accuracy of the problems sharing one value of a size (terms or digits)."""

    size: int
    problems: int
    correct: int

    @property
    def accuracy(self) -> float:
        """The fraction answered exactly."""
        return self.correct / self.problems


@dataclass(frozen=True)
class Outcome:
    """One problem and what the solver answered (``None``: no number)."""

    problem: Problem
    predicted: int | None

    @property
    def correct(self) -> bool:
        """Whether the prediction is the expected answer exactly."""
        return self.predicted == self.problem.answer


@dataclass(frozen=True)
class Score:
    """The outcome of :func:`score`: every problem's prediction, overall and grouped."""

    outcomes: tuple[Outcome, ...]

    @property
    def correct(self) -> int:
        """How many problems were answered exactly."""
        return sum(outcome.correct for outcome in self.outcomes)

    @property
    def accuracy(self) -> float:
        """The exact-match accuracy over all problems."""
        return self.correct / len(self.outcomes)

    def by(self, size: Callable[[Problem], int]) -> list[Group]:
        """The outcomes grouped by ``size(problem)``, smallest size first."""
        groups: dict[int, list[bool]] = {}
        for outcome in self.outcomes:
            groups.setdefault(size(outcome.problem), []).append(outcome.correct)
        return [Group(key, len(hits), sum(hits)) for key, hits in sorted(groups.items())]

    def by_terms(self) -> list[Group]:
        """Grouped by the number of constants."""
        return self.by(lambda problem: problem.terms)

    def by_digits(self) -> list[Group]:
        """Grouped by the digit count of the longest constant."""
        return self.by(lambda problem: problem.digits)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary, every problem's prediction included."""

        def groups(found: list[Group], name: str) -> list[dict[str, Any]]:
            return [{name: group.size, "problems": group.problems, "correct": group.correct,
                     "accuracy": group.accuracy} for group in found]

        return {
            "problems": len(self.outcomes),
            "correct": self.correct,
            "accuracy": self.accuracy,
            "by_terms": groups(self.by_terms(), "terms"),
            "by_digits": groups(self.by_digits(), "digits"),
            "items": [{**asdict(outcome.problem), "predicted": outcome.predicted,
                       "correct": outcome.correct} for outcome in self.outcomes],
        }


def score(solver: Solver, problems: Sequence[Problem], console: Console | None = None,
          description: str = "solve") -> Score:
    """Ask ``solver`` every problem, with a progress bar showing the running accuracy."""
    outcomes: list[Outcome] = []
    with progress_bar(console) as progress:
        task = progress.add_task(description, total=len(problems), status="")
        for problem in problems:
            outcomes.append(Outcome(problem, solver.answer(problem.expression)))
            hits = sum(outcome.correct for outcome in outcomes)
            progress.update(task, advance=1, status=f"accuracy {hits / len(outcomes):.1%}")
    return Score(tuple(outcomes))


def tables(result: Score) -> Iterable[Table]:
    """Rich tables of ``result``: by number of terms, then by digits."""
    for column, groups in (("terms", result.by_terms()), ("digits", result.by_digits())):
        table = Table(title=f"exact match by {column}")
        for name in (column, "problems", "correct", "accuracy"):
            table.add_column(name, justify="right")
        for group in groups:
            table.add_row(str(group.size), str(group.problems), str(group.correct),
                          f"{group.accuracy:.1%}")
        table.add_section()
        table.add_row("all", str(len(result.outcomes)), str(result.correct),
                      f"{result.accuracy:.1%}", style="bold")
        yield table


def plot_by_digits(report: dict[str, Any], path: Path, title: str) -> Path:
    """Draw accuracy against digits from :meth:`Score.to_dict`'s ``by_digits`` into a PNG."""
    from skillgym.training.plots import write_accuracy_plot

    groups = report["by_digits"]
    return write_accuracy_plot(
        path,
        {"exact match": {group["digits"]: group["accuracy"] for group in groups}},
        xlabel="digits of the longest constant",
        title=title,
        counts={"exact match": {group["digits"]: group["problems"] for group in groups}},
    )
