"""The fused kernel's layout, chosen per device by timing, and the cache of those choices.

A layout (:class:`Tiling`) is the kernel's vector width, register block (``tile`` samples x
``block`` output vectors of accumulators) and number of concurrent work-items. The fastest one
depends on the CPU: float8 in blocks of 4 x 2 was fastest on a Zen 4 that PoCL compiles for as
AVX2, float16 on a Sapphire Rapids Xeon with AVX-512, and float16 in blocks of 4 x 1 on a Zen 3
(docs/kernels.md). So on first use on a device, :class:`~skillgym.kernels.ActorCriticKernel`
times candidate layouts on its own network and inputs (:func:`search`) and keeps the fastest;
the choice is cached on disk (:class:`TuningCache`, ``tuning.json`` beside the program cache),
keyed by device, driver, kernel sources, network shape and workload, so that later starts reuse
it without timing anything.

``SKILLGYM_KERNEL_TUNING=off`` skips tuning (every kernel keeps :data:`DEFAULT_TILING`);
``skillgym kernels show`` lists the cached choices and ``skillgym kernels clear`` forgets them.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from skillgym.kernels.device import cache_dir

ENV_TUNING = "SKILLGYM_KERNEL_TUNING"
TUNING_MODES = ("auto", "off")
TUNING_FILE = "tuning.json"

VECTOR_WIDTHS = (1, 2, 4, 8, 16)
BLOCKS = (1, 2, 3, 4)
# The widths and tiles the search visits. Wider than 16 lanes no OpenCL vector goes; tiles
# beyond 8 samples spill any register file before they pay.
SEARCH_WIDTHS = (4, 8, 16)
SEARCH_TILES = (1, 2, 3, 4, 6, 8)
# A candidate replaces the layout it is compared with only when it is this much faster: on a
# shared machine two timings of one layout differ by a few per cent, and a layout chosen on
# noise would be as likely to be slower.
MIN_GAIN = 0.03
# At most this many layouts are timed (each costs a build, about half a second with PoCL).
MAX_TRIALS = 16
# The fastest layouts found are timed again, with the starting one, taking turns this many
# rounds: one timing can fall on a moment when another process holds a core.
FINALISTS = 3
VERIFY_ROUNDS = 2


@dataclass(frozen=True)
class Tiling:
    """One layout of the explicit-SIMD kernel.

    Attributes:
        vector_width: lanes per vector: 1, 2, 4, 8 or 16.
        tile: samples per register block.
        block: output vectors per register block: 1 to 4.
        work_items: concurrent work-items; ``None``: the device's compute units.
    """

    vector_width: int = 8
    tile: int = 4
    block: int = 2
    work_items: int | None = None

    def __post_init__(self) -> None:
        if self.vector_width not in VECTOR_WIDTHS:
            raise ValueError(
                f"vector_width must be one of {VECTOR_WIDTHS}, got {self.vector_width!r}"
            )
        if not isinstance(self.tile, int) or self.tile < 1:
            raise ValueError(f"tile must be a positive integer, got {self.tile!r}")
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {self.block!r}")
        if self.work_items is not None and (
            not isinstance(self.work_items, int) or self.work_items < 1
        ):
            raise ValueError(
                f"work_items must be a positive integer or None, got {self.work_items!r}"
            )

    @property
    def label(self) -> str:
        """A short name, e.g. ``float8 4x2`` or ``float16 4x1, 4 work-items``."""
        items = "" if self.work_items is None else f", {self.work_items} work-items"
        return f"float{self.vector_width} {self.tile}x{self.block}{items}"

    def as_dict(self) -> dict[str, Any]:
        """The fields, for JSON."""
        return asdict(self)


#: The layout used without tuning: fastest on the Zen 4 where the kernel was first measured.
DEFAULT_TILING = Tiling()


class TuningResult(NamedTuple):
    """What tuning a kernel did: the layout chosen, the seconds of a launch on each layout
    timed (empty when the choice came from the cache) and whether it came from the cache."""

    tiling: Tiling
    seconds: dict[Tiling, float]
    cached: bool


def tuning_enabled() -> bool:
    """Whether kernels tune on first use (``SKILLGYM_KERNEL_TUNING``, default ``auto``)."""
    mode = os.environ.get(ENV_TUNING, "auto").strip().lower() or "auto"
    if mode not in TUNING_MODES:
        raise ValueError(f"{ENV_TUNING} must be one of {TUNING_MODES}, got {mode!r}")
    return mode == "auto"


def _same_lanes(tiling: Tiling, width: int) -> Tiling:
    """``tiling`` at another vector width, its block rescaled to keep the accumulator lanes
    (as far as the block range allows)."""
    lanes = tiling.block * tiling.vector_width
    return replace(tiling, vector_width=width, block=min(max(lanes // width, 1), max(BLOCKS)))


def neighbours(tiling: Tiling) -> list[Tiling]:
    """The layouts one step from ``tiling``: the next tile up and down, one block more and
    less, and the next vector width up and down at the same accumulator lanes."""
    found = []
    tiles = sorted(set(SEARCH_TILES) | {tiling.tile})
    position = tiles.index(tiling.tile)
    for step in (-1, 1):
        if 0 <= position + step < len(tiles):
            found.append(replace(tiling, tile=tiles[position + step]))
        if tiling.block + step in BLOCKS:
            found.append(replace(tiling, block=tiling.block + step))
        if tiling.vector_width in SEARCH_WIDTHS:
            index = SEARCH_WIDTHS.index(tiling.vector_width) + step
            if 0 <= index < len(SEARCH_WIDTHS):
                found.append(_same_lanes(tiling, SEARCH_WIDTHS[index]))
    return list(dict.fromkeys(t for t in found if t != tiling))


def search(
    measure: Callable[[Tiling], float],
    compute_units: int,
    start: Tiling = DEFAULT_TILING,
    max_trials: int = MAX_TRIALS,
) -> tuple[Tiling, dict[Tiling, float]]:
    """The fastest layout ``measure`` finds, and the best time measured on each layout.

    First every search width at ``start``'s accumulator lanes, then a descent over
    :func:`neighbours` (tile, block, width) from the best so far, then twice the work-items;
    a candidate replaces the best only when it is :data:`MIN_GAIN` faster. At most
    ``max_trials`` layouts are measured. Then the :data:`FINALISTS` fastest and ``start`` are
    measured again, taking turns for :data:`VERIFY_ROUNDS` rounds (a layout timed while
    another process held a core gets another chance), and the fastest of them is chosen if it
    beats ``start`` by :data:`MIN_GAIN`.

    Args:
        measure: seconds of one call on a layout (smaller is better).
        compute_units: the device's compute units (the default number of work-items).
        start: the layout to beat.
        max_trials: the number of layouts measured at most.
    """
    times: dict[Tiling, float] = {}

    def try_all(candidates: list[Tiling], best: Tiling) -> Tiling:
        for candidate in candidates:
            if candidate not in times and len(times) < max_trials:
                times[candidate] = measure(candidate)
        timed = [c for c in candidates if c in times]
        fastest = min(timed, key=times.__getitem__, default=best)
        return fastest if times[fastest] < times[best] * (1 - MIN_GAIN) else best

    times[start] = measure(start)
    best = try_all([_same_lanes(start, w) for w in SEARCH_WIDTHS], start)
    while len(times) < max_trials:
        moved = try_all(neighbours(best), best)
        if moved == best:
            break
        best = moved
    if compute_units > 1:
        try_all([replace(best, work_items=2 * compute_units)], best)
    finalists = list(dict.fromkeys([*sorted(times, key=times.__getitem__)[:FINALISTS], start]))
    for _ in range(VERIFY_ROUNDS):
        for candidate in finalists:
            times[candidate] = min(times[candidate], measure(candidate))
    fastest = min(finalists, key=times.__getitem__)
    return (fastest if times[fastest] < times[start] * (1 - MIN_GAIN) else start), times


class TuningCache:
    """Layouts chosen by tuning, in one JSON file (by default ``tuning.json`` in the kernel
    cache folder, ``SKILLGYM_KERNEL_CACHE``).

    Each entry maps a key (device, driver, kernel sources, network shape and workload; see
    :meth:`ActorCriticKernel.tuning_key <skillgym.kernels.ActorCriticKernel.tuning_key>`) to
    the chosen layout, every layout's measured seconds and when it was tuned.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / TUNING_FILE

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}  # a damaged cache only costs a new tuning
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> Tiling | None:
        """The layout cached for ``key``, or ``None``."""
        entry = self._read().get(key)
        try:
            return Tiling(**entry["tiling"])
        except (TypeError, KeyError, ValueError):
            return None

    def put(
        self, key: str, tiling: Tiling, times: dict[Tiling, float], device: str, **details: Any
    ) -> None:
        """Store the layout chosen for ``key`` with every layout's ``times`` (seconds) and any
        ``details`` of the workload (JSON values, shown by ``skillgym kernels show``)."""
        data = self._read()
        data[key] = {
            **details,
            "device": device,
            "tiling": tiling.as_dict(),
            "label": tiling.label,
            # Pairs, fastest first (a JSON object's keys are written sorted); layouts the
            # device failed to build (infinite time) are left out, as JSON has no infinity.
            "seconds": [[t.label, s] for t, s in sorted(times.items(), key=lambda i: i[1])
                        if math.isfinite(s)],
            "tuned_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole and renamed, so that a reader in another process never sees half a file.
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(partial, self.path)

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every cached entry, by key."""
        return self._read()

    def clear(self) -> int:
        """Forget every cached layout; return how many there were."""
        count = len(self._read())
        self.path.unlink(missing_ok=True)
        return count
