"""Where independent pieces of heavy work run: in this process, or elsewhere.

An executor maps a function over work items and yields each result with its item's index as
the result arrives. :class:`LocalExecutor`, the default everywhere, runs the items here, one
after another, in order; :class:`skillgym.integrations.ray_executor.RayExecutor` (the ``ray``
extra) runs each as a Ray task on a local or remote cluster. Callers put results together by
index, so what they build does not depend on where, or in what order, the pieces ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Executor(Protocol):
    """Runs ``fn`` on every item; see the module docstring."""

    #: Whether the items run in other processes: ``fn`` and the items are then pickled, and
    #: state ``fn`` keeps between calls is not shared from one item to the next.
    remote: bool

    def map(self, fn: Callable[[Item], Result],
            items: Sequence[Item]) -> Iterator[tuple[int, Result]]:
        """Yield ``(index, fn(items[index]))`` for every item, in the order they finish."""
        ...

    def describe(self) -> str:
        """Where the items run, in a few words (for progress bars)."""
        ...

    def parallelism(self) -> int:
        """How many items run at once (at least 1): how many pieces to cut work into."""
        ...

    def close(self) -> None:
        """Release what the executor started."""
        ...


class LocalExecutor:
    """Runs every item in this process, in order."""

    remote = False

    def map(self, fn: Callable[[Item], Result],
            items: Sequence[Item]) -> Iterator[tuple[int, Result]]:
        """Yield ``(index, fn(item))`` for each item in turn."""
        for index, item in enumerate(items):
            yield index, fn(item)

    def describe(self) -> str:
        """``"this process"``."""
        return "this process"

    def parallelism(self) -> int:
        """One item at a time."""
        return 1

    def close(self) -> None:
        """Nothing to release."""
