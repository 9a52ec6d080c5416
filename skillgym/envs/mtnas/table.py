"""Tabular rewards (NAS-Bench-201 style): every assignment of a small space scored in advance.

A table file is JSON::

    {"format": "skillgym.mtnas.table/1",
     "space": {"tasks": [...], "num_layers": 2, "pool": [...], "private_kind": "..."},
     "backend": "supernet" | "reference", "seeds": [0, 1],
     "settings": {"data": {...}, "network": {...}, ...},
     "entries": [{"assignment": "0,1/2,0", "validation": [[per-task accuracy] per seed],
                  "shared_parameters": 1234}, ...]}

It holds validation accuracy only, so a tabular reward can never see test data. ``settings``
(optional) records what the scores depend on besides seed and assignment: the data options
(the validation split) and the training settings, so that a table can be rebuilt or another
reward compared with it on the same split.
``skillgym mtnas build-table`` writes it; :class:`MTNASTabularEnv` reads it. The tables in
:data:`SHIPPED_DIR` come with the package and are named by :func:`shipped_tables`.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from skillgym.envs.mtnas.assemble import MTNASAssembleEnv
from skillgym.envs.mtnas.evaluator import Evaluation, Evaluator
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator
from skillgym.envs.mtnas.trainer import TrainConfig
from skillgym.executors import Executor, LocalExecutor

TABLE_FORMAT = "skillgym.mtnas.table/1"
MODES = ("mean", "stochastic")
#: The tables that come with the package, one JSON file each (its name without ``.json``).
SHIPPED_DIR = Path(__file__).with_name("tables")


def all_assignments(space: SearchSpace, limit: int = 5000) -> list[np.ndarray]:
    """Every assignment of ``space``, in lexicographic order.

    Raises:
        ValueError: the space has more than ``limit`` assignments.
    """
    slots = space.shape[0] * space.shape[1]
    size = space.num_options**slots
    if size > limit:
        raise ValueError(
            f"the space has {space.num_options}^{slots} = {size} assignments, more than the "
            f"limit {limit}; use fewer tasks, layers or pool modules"
        )
    return [
        np.array(values, dtype=np.int64).reshape(space.shape)
        for values in itertools.product(range(space.num_options), repeat=slots)
    ]


class _ScoreCells:
    """A work item's job: score some assignments of one seed (picklable, so that remote
    workers can run it). The evaluator of the last seed is kept, so that a local run scoring
    one cell per item builds and warms up each seed's evaluator once."""

    def __init__(self, space: SearchSpace, evaluator_for_seed: Callable[[int], Evaluator]):
        self.space = space
        self.evaluator_for_seed = evaluator_for_seed
        self._last: tuple[int, Evaluator] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_last": None}

    def __call__(self, cells: tuple[int, tuple[str, ...]]) -> list[Evaluation]:
        seed, texts = cells
        if self._last is None or self._last[0] != seed:
            self._last = (seed, self.evaluator_for_seed(seed))
        evaluator = self._last[1]
        return [evaluator.evaluate([self.space.parse(text)])[0] for text in texts]


def build_table(
    space: SearchSpace,
    evaluator_for_seed: Callable[[int], Evaluator],
    seeds: Sequence[int],
    backend: str,
    on_score: Callable[[int, str, Evaluation], None] | None = None,
    *,
    executor: Executor | None = None,
    cells_per_item: int | None = 1,
    scored: Mapping[tuple[int, str], Evaluation] | None = None,
    settings: Mapping | None = None,
) -> dict:
    """Score every assignment of ``space`` with one evaluator per seed; returns the table dict.

    The cells (seed, assignment) are scored as work items of ``cells_per_item`` cells of one
    seed each, by ``executor``, and put together in a fixed order: the table is the same
    whatever runs them and in whatever order they finish, as long as each score depends only on
    its seed and assignment.

    Args:
        space: the (small) search space.
        evaluator_for_seed: builds the evaluator of one seed (picklable, for a remote
            executor).
        seeds: the seeds; the table keeps one score row per seed.
        backend: a name recorded in the table (``"supernet"`` or ``"reference"``).
        on_score: called with ``(seed, assignment text, evaluation)`` as each score arrives.
        executor: runs the work items (default: :class:`~skillgym.executors.LocalExecutor`).
        cells_per_item: cells per work item; ``None``: a seed's whole row, which on remote
            workers builds each seed's evaluator (a supernet's warm-up) once.
        scored: cells scored before (a resumed build): not scored again.
        settings: recorded as the table's ``settings`` (JSON-able): what else its scores
            depend on.
    """
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    texts = [space.format(assignment) for assignment in all_assignments(space)]
    scores = dict(scored or {})
    items = []
    for seed in seeds:
        missing = tuple(text for text in texts if (seed, text) not in scores)
        size = cells_per_item or len(missing) or 1
        items += [(int(seed), missing[i : i + size]) for i in range(0, len(missing), size)]
    job = _ScoreCells(space, evaluator_for_seed)
    for index, found in (executor or LocalExecutor()).map(job, items):
        seed, chunk = items[index]
        for text, evaluation in zip(chunk, found, strict=True):
            scores[(seed, text)] = evaluation
            if on_score is not None:
                on_score(seed, text, evaluation)
    entries = []
    for text in texts:
        per_seed = [scores[(int(seed), text)] for seed in seeds]
        entries.append(
            {
                "assignment": text,
                "validation": [[e.validation[t] for t in space.tasks] for e in per_seed],
                "shared_parameters": per_seed[0].shared_parameters,
            }
        )
    table = {
        "format": TABLE_FORMAT,
        "space": {
            "tasks": list(space.tasks),
            "num_layers": space.num_layers,
            "pool": list(space.pool),
            "private_kind": space.private_kind,
        },
        "backend": backend,
        "seeds": [int(seed) for seed in seeds],
        "entries": entries,
    }
    if settings is not None:
        table["settings"] = dict(settings)
    return table


def save_table(table: dict, path: str | Path) -> None:
    """Write ``table`` as JSON."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(table), encoding="utf-8")


def shipped_tables() -> list[str]:
    """The names of the tables that come with the package (for :func:`load_table`)."""
    return sorted(path.stem for path in SHIPPED_DIR.glob("*.json"))


def load_table(path: str | Path) -> dict:
    """Read and check a table file, or a shipped table by name (:func:`shipped_tables`).

    Raises:
        FileNotFoundError: no such file, nor a shipped table of that name.
        ValueError: it is not a table of this format, or an entry is malformed (entry named).
    """
    path = Path(path)
    if not path.is_file() and str(path) in shipped_tables():
        path = SHIPPED_DIR / f"{path}.json"
    if not path.is_file():
        raise FileNotFoundError(f"table file {str(path)!r} does not exist, nor is it one of the "
                                f"shipped tables {shipped_tables()}")
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    if not isinstance(table, dict) or table.get("format") != TABLE_FORMAT:
        raise ValueError(f"{path}: not a {TABLE_FORMAT!r} table (the 'format' field differs)")
    space = table_space(table)
    seeds = len(table["seeds"])
    for number, entry in enumerate(table["entries"]):
        try:
            space.parse(entry["assignment"])
            scores = np.asarray(entry["validation"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: entry {number} is malformed: {error}") from None
        if scores.shape != (seeds, len(space.tasks)):
            raise ValueError(
                f"{path}: entry {number} has validation scores of shape {scores.shape}, "
                f"expected (seeds, tasks) = {(seeds, len(space.tasks))}"
            )
    if len(table["entries"]) != space.num_options ** (space.shape[0] * space.shape[1]):
        raise ValueError(f"{path}: the table does not cover every assignment of its space")
    return table


def table_space(table: dict) -> SearchSpace:
    """The search space a table covers."""
    spec = table["space"]
    return SearchSpace(
        tuple(spec["tasks"]), spec["num_layers"], tuple(spec["pool"]), spec["private_kind"]
    )


class TableEvaluator(Evaluator):
    """Scores looked up in a table: ``mean`` over seeds, or one seed drawn per lookup.

    Args:
        table: a table dict (:func:`load_table`).
        mode: ``"mean"`` (deterministic) or ``"stochastic"`` (a seed's row drawn with the
            ``rng`` passed to :meth:`evaluate`, as a real training run's noise would be).
        seed: in ``stochastic`` mode, seeds a generator of the evaluator's own, used when
            :meth:`evaluate` is given no ``rng`` (as a search calls it).
    """

    def __init__(self, table: dict, mode: str = "mean", seed: int | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        self.space = table_space(table)
        self.mode = mode
        self._rng = None if seed is None else np.random.default_rng(seed)
        # Keyed by the raw bytes of the int64 assignment: a lookup costs one hash, which keeps
        # the tabular environment above ten thousand steps a second.
        self._scores: dict[bytes, np.ndarray] = {}
        self._shared: dict[bytes, int] = {}
        for entry in table["entries"]:
            key = self.space.parse(entry["assignment"]).tobytes()
            self._scores[key] = np.asarray(entry["validation"], dtype=np.float64)
            self._shared[key] = int(entry["shared_parameters"])

    def evaluate(
        self, assignments: Sequence[np.ndarray], rng: np.random.Generator | None = None
    ) -> list[Evaluation]:
        """The table's scores (a random seed's row in ``stochastic`` mode, drawn with ``rng``,
        else with the evaluator's own generator)."""
        rng = rng or self._rng
        if self.mode == "stochastic" and rng is None:
            raise ValueError("the stochastic mode needs rng, a numpy Generator, or a seed")
        results = []
        for assignment in assignments:
            key = np.ascontiguousarray(assignment, dtype=np.int64).tobytes()
            scores = self._scores.get(key)
            if scores is None:
                self.space.validate(assignment)
                raise ValueError(f"assignment {assignment.tolist()} is not in the table")
            row = scores.mean(0) if self.mode == "mean" else scores[rng.integers(len(scores))]
            results.append(
                Evaluation(
                    dict(zip(self.space.tasks, row.tolist(), strict=True)),
                    cache_hit=True,
                    shared_parameters=self._shared[key],
                )
            )
        return results


@functools.lru_cache(maxsize=1)
def default_table() -> dict:
    """A small built-in table: 2 synthetic tasks × 2 layers × {cnn3, identity, private}.

    Scored by two weight-sharing supernets (seeds 0 and 1) on the synthetic corpus, so the
    tabular id works with no file; real tables come from ``skillgym mtnas build-table``.
    """
    from skillgym.envs.mtnas.synthetic import synthetic_corpus

    corpus = synthetic_corpus()
    space = SearchSpace(("syn_pos", "syn_topic"), 2, ("cnn3", "identity"), "cnn3")
    config = SupernetConfig(TrainConfig(dim=32, batch_size=16), warmup_steps=40)
    return build_table(
        space, lambda seed: SupernetEvaluator(corpus, space, config, seed), (0, 1), "supernet"
    )


class MTNASTabularEnv(MTNASAssembleEnv):
    """
    ## Description

    :class:`~skillgym.envs.mtnas.assemble.MTNASAssembleEnv` with rewards looked up in a table
    written by ``skillgym mtnas build-table``: every assignment of a small space scored in
    advance, so an episode costs microseconds (controllers can be compared over many seeds).

    ## Action Space, Observation Space, Starting State, Episode End

    As in ``MTNAS-Assemble-v0``.

    ## Rewards

    The last step's reward is the table's mean validation accuracy over tasks: the mean over
    the table's seeds (``mode="mean"``), or the row of one seed drawn with ``np_random``
    (``mode="stochastic"``). ``info["cache_hit"]`` is always true.

    ## Arguments

    * `table_path`: a table file, or the name of a shipped table (:func:`shipped_tables`, e.g.
      ``"books-conll2000_pos"``: stand-alone accuracies on real data); `None` uses
      :func:`default_table` (synthetic, built once per process).
    * `mode`: ``"mean"`` or ``"stochastic"``.
    """

    def __init__(self, table_path: str | Path | None = None, mode: str = "mean"):
        table = default_table() if table_path is None else load_table(table_path)
        super().__init__(evaluator=TableEvaluator(table, mode))
