"""Environment throughput: steps per second of single and natively batched environments.

A single env is stepped with random actions by Gymnasium's
``gymnasium.utils.performance.benchmark_step``. An id with a ``vector_entry_point`` is also
stepped as its natively batched twin (``gym.make_vec(..., vectorization_mode=
"vector_entry_point")``) and, when asked, as ``SyncVectorEnv`` of single envs, side by side in
alternating rounds, each for a bounded time. Envs with ``action_masks()`` (sb3-contrib's
MaskablePPO convention) get random *legal* actions, drawn from the mask of the moment:
``benchmark_step`` times that draw with the step, as it does any action sampling; the vector
measurements time ``step()`` alone, for every contender.

``skillgym bench`` and ``benchmarks/env_throughput.py`` both measure with this module.
"""

from __future__ import annotations

import difflib
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.performance import benchmark_step
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from skillgym.envs.registration import NAMESPACE

# What ``skillgym bench`` measures without ``--ids``: one env of each kind, small to large.
DEFAULT_IDS: tuple[str, ...] = (
    "skillgym/AEC-Add-v0",     # a skill env with children, masked, natively batched
    "skillgym/AEC-Eval-v0",    # the top of the skill hierarchy: long episodes, many calls
    "skillgym/Copy-v1",        # an algorithmic port, natively batched
    "skillgym/MTNAS-Tabular-v0",  # an architecture search env
)
# The vectorization modes measured, as gym.make_vec names them, and their keys in the results.
MODES: dict[str, str] = {"batched": "vector_entry_point", "sync": "sync"}


class BenchError(ValueError):
    """An unknown environment id or a bad measurement setting (one line)."""


def resolve_ids(names: Sequence[str]) -> list[str]:
    """The registered ids ``names`` mean; ``skillgym/`` may be left out of skillgym's own ids.

    Raises :class:`BenchError` for a name that is not registered, with the closest ids.
    """
    import skillgym  # noqa: F401  (registers the skillgym/ ids)

    ids = []
    for name in names:
        for candidate in (name, f"{NAMESPACE}/{name}"):
            if candidate in gym.registry:
                ids.append(candidate)
                break
        else:
            close = difflib.get_close_matches(name, list(gym.registry), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise BenchError(f"unknown environment id '{name}'{hint} (run 'skillgym list')")
    return ids


def has_vector_entry_point(env_id: str) -> bool:
    """Whether ``env_id`` has a natively batched twin."""
    return gym.spec(env_id).vector_entry_point is not None


class MaskedDiscrete(gym.spaces.Discrete):
    """The env's ``Discrete`` action space, sampling only what ``action_masks()`` allows."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(int(env.action_space.n))
        self._env = env

    def sample(self, mask: Any = None, probability: Any = None) -> np.int64:
        """A uniform legal action (the arguments are ignored: the env's mask decides)."""
        legal = np.flatnonzero(self._env.unwrapped.action_masks())
        return legal[self.np_random.integers(len(legal))]


class LegalActions(gym.Wrapper):
    """Makes ``action_space.sample()`` draw uniformly from the env's current ``action_masks()``.

    ``benchmark_step`` samples ``env.action_space`` blindly; for envs that expose masks, random
    legal actions are the meaningful workload.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._legal = MaskedDiscrete(env)

    @property
    def action_space(self) -> gym.Space:
        """A ``Discrete`` space whose ``sample()`` follows the current mask."""
        return self._legal


def has_masks(env_id: str) -> bool:
    """Whether the single env exposes ``action_masks()`` (sb3-contrib's MaskablePPO convention)."""
    env = gym.make(env_id)
    try:
        return callable(getattr(env.unwrapped, "action_masks", None))
    finally:
        env.close()


def single_steps_per_second(env_id: str, masked: bool, seconds: float, seed: int) -> float:
    """``benchmark_step`` on ``gym.make(env_id)`` (with its default wrappers), random actions."""
    env = gym.make(env_id)
    try:
        if masked:
            env = LegalActions(env)
        env.action_space.seed(seed)
        return float(benchmark_step(env, target_duration=seconds, seed=seed))
    finally:
        env.close()


def legal_actions(envs: gym.vector.VectorEnv, rng: np.random.Generator) -> np.ndarray:
    """One uniform legal action per sub-env, from the batched ``action_masks()`` or each env's."""
    if isinstance(envs, gym.vector.SyncVectorEnv):
        masks = np.stack(envs.call("action_masks"))
    else:
        masks = np.asarray(envs.action_masks())
    masks = masks.astype(bool)
    # Without a loop: the first index whose running count of legal actions passes a uniform pick.
    picks = np.floor(rng.random(len(masks)) * masks.sum(axis=1)).astype(np.int64)
    return (np.cumsum(masks, axis=1) > picks[:, None]).argmax(axis=1)


def timed_steps(
    envs: gym.vector.VectorEnv, masked: bool, seconds: float, rng: np.random.Generator
) -> tuple[int, float]:
    """``(batch steps, seconds inside step())`` of stepping for at least ``seconds`` (and 3 steps).

    Drawing random actions (legal ones, from the current masks, for masked envs) is left out of
    the timed part for every contender: a ratio compares the environments, not the sampler.
    """
    steps, stepping = 0, 0.0
    start = time.perf_counter()
    while steps < 3 or time.perf_counter() - start < seconds:
        actions = legal_actions(envs, rng) if masked else envs.action_space.sample()
        tic = time.perf_counter()
        envs.step(actions)
        stepping += time.perf_counter() - tic
        steps += 1
    return steps, stepping


def measure_vector(
    env_id: str,
    masked: bool,
    count: int,
    seconds: float,
    rounds: int,
    seed: int,
    modes: Sequence[str] = ("batched", "sync"),
) -> dict[str, Any]:
    """Each of ``modes`` (keys of :data:`MODES`) at ``count`` sub-envs, in alternating rounds.

    Alternating spreads a load spike on the shared CPU over every contender instead of one.
    Returns ``{id, num_envs, <mode>_steps_per_s, <mode>_batch_steps ...}`` (steps/s counts
    sub-environment steps, i.e. batch steps × ``count``), plus ``ratio`` (batched / sync) when
    both are measured.
    """
    contenders = {}
    try:
        for mode in modes:
            contenders[mode] = gym.make_vec(env_id, num_envs=count,
                                            vectorization_mode=MODES[mode])
        totals = {mode: [0, 0.0] for mode in contenders}
        rngs = {mode: np.random.default_rng(seed) for mode in contenders}
        for envs in contenders.values():
            envs.action_space.seed(seed)
            envs.reset(seed=seed)
        for _ in range(rounds):
            for mode, envs in contenders.items():
                steps, stepping = timed_steps(envs, masked, seconds / rounds, rngs[mode])
                totals[mode][0] += steps
                totals[mode][1] += stepping
    finally:
        for envs in contenders.values():
            envs.close()
    row: dict[str, Any] = {"id": env_id, "num_envs": count}
    for mode, (steps, stepping) in totals.items():
        row[f"{mode}_steps_per_s"] = steps * count / stepping
        row[f"{mode}_batch_steps"] = steps
    if {"batched", "sync"} <= totals.keys():
        row["ratio"] = row["batched_steps_per_s"] / row["sync_steps_per_s"]
    return row


def measure(
    ids: Sequence[str],
    counts: Sequence[int],
    single_seconds: float,
    vector_seconds: float,
    rounds: int,
    seed: int,
    modes: Sequence[str] = ("batched", "sync"),
    console: Console | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every id alone, then every natively batched id at every count; with a progress bar.

    Returns the single rows ``{id, steps_per_s, masked}`` and the vector rows of
    :func:`measure_vector`. Raises :class:`BenchError` for a setting that measures nothing.
    """
    if single_seconds <= 0 or vector_seconds <= 0:
        raise BenchError(f"measuring times must be positive, got {single_seconds} and "
                         f"{vector_seconds} seconds")
    if rounds < 1 or any(count < 1 for count in counts):
        raise BenchError(f"rounds and numbers of envs must be at least 1, got rounds={rounds}, "
                         f"counts={list(counts)}")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise BenchError(f"unknown vectorization modes {unknown}; known: {list(MODES)}")
    vectorised = [env_id for env_id in ids if has_vector_entry_point(env_id)]
    single: list[dict[str, Any]] = []
    batched: list[dict[str, Any]] = []
    masked: dict[str, bool] = {}
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("single envs", total=len(ids))
        for env_id in ids:
            progress.update(task, description=f"single {env_id}")
            masked[env_id] = has_masks(env_id)
            rate = single_steps_per_second(env_id, masked[env_id], single_seconds, seed)
            single.append({"id": env_id, "steps_per_s": rate, "masked": masked[env_id]})
            progress.advance(task)
        label = " vs ".join(modes)
        task = progress.add_task(label, total=len(vectorised) * len(counts))
        for env_id in vectorised:
            for count in counts:
                progress.update(task, description=f"{label} {env_id} × {count}")
                batched.append(measure_vector(env_id, masked[env_id], count, vector_seconds,
                                              rounds, seed, modes))
                progress.advance(task)
    return single, batched


def cpu_name() -> str:
    """The CPU's model name from ``lscpu``, its family and model numbers and whether it has
    AVX-512 (a virtual machine may call a Zen 3 and a Zen 4 both "AMD EPYC"), with the logical
    CPU count; ``platform.processor()`` where ``lscpu`` is missing. What every speed figure is
    reported beside."""
    try:
        listing = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        listing = ""
    fields = dict(line.split(":", 1) for line in listing.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    if "Model name" not in fields:
        return platform.processor() or platform.machine()
    details = [fields["Model name"]]
    if "CPU family" in fields and "Model" in fields:
        details.append(f"family {fields['CPU family']} model {fields['Model']}")
    if "avx512f" in fields.get("Flags", "").split():
        details.append("AVX-512")
    return f"{', '.join(details)} ({os.cpu_count()} logical CPUs)"


def machine() -> dict[str, Any]:
    """The CPU, platform, Python, CPU count and library versions, to go beside measured rates."""
    return {"cpu": cpu_name(), "platform": platform.platform(),
            "python": platform.python_version(), "cpus": os.cpu_count(),
            "numpy": np.__version__, "gymnasium": gym.__version__}


def single_table(single: Sequence[dict[str, Any]]) -> Table:
    """The single-env rows as a table of steps/s."""
    table = Table(title="single envs: steps/s (benchmark_step, random actions)")
    table.add_column("id")
    table.add_column("steps/s", justify="right")
    for row in single:
        rate = row["steps_per_s"]
        table.add_row(row["id"], f"{rate:,.0f}" if rate >= 100 else f"{rate:.2g}")
    return table


def vector_table(batched: Sequence[dict[str, Any]]) -> Table:
    """The vector rows as a table: batched steps/s, and SyncVectorEnv and the ratio if measured."""
    compared = any("ratio" in row for row in batched)
    title = ("batched twin vs SyncVectorEnv: sub-env steps/s, same run" if compared
             else "batched twin: sub-env steps/s")
    columns = ("id", "num_envs", "batched", *(("SyncVectorEnv", "ratio") if compared else ()))
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column == "id" else "right")
    for row in batched:
        cells = [row["id"], str(row["num_envs"]), f"{row['batched_steps_per_s']:,.0f}"]
        if compared:
            cells += [f"{row['sync_steps_per_s']:,.0f}", f"{row['ratio']:,.1f}×"]
        table.add_row(*cells)
    return table
