"""Heavy, independent pieces of work as Ray tasks: the ``ray`` extra (``pip install
'skillgym[ray]'``).

Nothing imports Ray until a :class:`RayExecutor` is made (``--ray`` on the command line). On a
cluster of several machines every node needs skillgym installed, as the workers import it to
run the tasks, and data files must be readable at the same paths (or be small enough to ship:
the corpus travels in Ray's object store).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from skillgym.executors import Item, Result

#: ``address`` values that start a cluster on this machine instead of joining one.
LOCAL = (None, "", "local")


def import_ray() -> Any:
    """The ``ray`` module, or an ImportError that says which extra to install."""
    try:
        import ray
    except ImportError:
        raise ImportError("running on Ray needs the ray extra: pip install 'skillgym[ray]'") \
            from None
    return ray


def _call(fn: Callable[[Item], Result], item: Item) -> Result:
    return fn(item)


class RayExecutor:
    """Runs each item as a Ray task that asks for ``cpus`` CPUs (and ``memory_mb`` of memory),
    on a cluster started on this machine or on an existing one.

    A task whose worker process or node dies is resubmitted, up to ``max_retries`` times, to
    another worker; an exception raised by the work itself is not retried (it would fail
    again) and reaches the caller. If the caller stops early (an error, Ctrl-C), the tasks still
    pending are cancelled.

    Args:
        address: ``None``, ``""`` or ``"local"`` start a cluster on this machine sized to its
            cores (and stop it at :meth:`close`); anything else is an existing cluster's address
            as ``ray.init`` takes it (``"auto"``, ``"HOST:6379"``, ``"ray://HOST:10001"``).
            When Ray is already initialised in this process, that cluster is used.
        cpus: CPUs per task (set each task's torch threads to match).
        memory_mb: memory per task, for Ray's scheduler (0: no request).
        max_retries: resubmissions of a task whose worker or node was lost.
        local_cpus: the CPUs of a cluster started on this machine (``None``: all its cores).
    """

    remote = True

    def __init__(self, address: str | None = None, cpus: float = 1, memory_mb: int = 0,
                 max_retries: int = 3, local_cpus: int | None = None) -> None:
        if cpus <= 0 or memory_mb < 0 or max_retries < 0:
            raise ValueError(f"need cpus > 0, memory_mb >= 0 and max_retries >= 0, got {cpus}, "
                             f"{memory_mb} and {max_retries}")
        if local_cpus is not None and (local_cpus < 1 or address not in LOCAL):
            raise ValueError(f"local_cpus sizes a cluster started here: it needs a local address "
                             f"and a positive count, got {local_cpus} for {address!r}")
        ray = import_ray()
        self._started = not ray.is_initialized()
        if self._started:
            if address in LOCAL:
                # A cluster private to this process needs no authentication token, which Ray
                # would otherwise write under the home folder.
                os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            ray.init(address=None if address in LOCAL else address, num_cpus=local_cpus,
                     include_dashboard=False, logging_level="WARNING")
        self._cpus = cpus
        self._options: dict[str, Any] = {"num_cpus": cpus, "max_retries": max_retries,
                                         "retry_exceptions": False}
        if memory_mb:
            self._options["memory"] = memory_mb * 2**20

    def describe(self) -> str:
        """The cluster in a few words, e.g. ``"Ray, 3 nodes, 6 CPUs"``."""
        ray = import_ray()
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        return f"Ray, {nodes} node(s), {ray.cluster_resources().get('CPU', 0):g} CPUs"

    def parallelism(self) -> int:
        """How many tasks the cluster's CPUs run at once (its CPUs over each task's)."""
        return max(1, int(import_ray().cluster_resources().get("CPU", 0) // self._cpus))

    def map(self, fn: Callable[[Item], Result],
            items: Sequence[Item]) -> Iterator[tuple[int, Result]]:
        """Submit every item at once; yield ``(index, result)`` as each task finishes."""
        ray = import_ray()
        task = ray.remote(_call).options(**self._options)
        shared = ray.put(fn)  # once in the object store, not once per task
        pending = {task.remote(shared, item): index for index, item in enumerate(items)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    index = pending.pop(ref)
                    yield index, ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        """Stop the cluster this executor started (an existing one is left running)."""
        if self._started:
            import_ray().shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
