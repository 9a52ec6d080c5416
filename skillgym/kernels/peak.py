"""Measure a device's peak multiply-add throughput with a register-only OpenCL kernel.

Used by ``benchmarks/policy_forward.py`` to report kernels as a fraction of what the machine
can do. On a shared machine the best of several repeats is the least disturbed estimate.
"""

from __future__ import annotations

import time
from importlib import resources

import numpy as np

from skillgym.kernels.device import OpenCLDevice

ACCUMULATORS = 12


def fma_peak_source(vector_width: int = 8, accumulators: int = ACCUMULATORS) -> str:
    """The peak kernel's source for ``vector_width``-lane vectors and ``accumulators`` chains."""
    chains = " ".join(f"M({i})" for i in range(accumulators))
    header = (
        f"#define VEC float{vector_width}\n"
        f"#define FOR_ACCUMULATORS(M) {chains}\n"
    )
    return header + resources.files("skillgym.kernels").joinpath("fma_peak.cl").read_text()


def measure_fma_peak(
    device: OpenCLDevice,
    work_items: int,
    vector_width: int = 8,
    iterations: int = 1_000_000,
    repeats: int = 5,
) -> float:
    """Best GFLOP/s (one multiply-add = 2 FLOP) of ``work_items`` concurrent work-items."""
    if work_items < 1:
        raise ValueError(f"work_items must be a positive integer, got {work_items!r}")
    kernel = device.build(fma_peak_source(vector_width)).fma_peak
    cl = device.cl
    out = cl.Buffer(device.context, cl.mem_flags.WRITE_ONLY, 4 * work_items)
    args = (out, np.int32(iterations), np.float32(0.9999), np.float32(1e-4))
    kernel(device.queue, (work_items,), (1,), *args).wait()  # compile for this size
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        kernel(device.queue, (work_items,), (1,), *args).wait()
        elapsed = time.perf_counter() - start
        flops = 2 * vector_width * ACCUMULATORS * iterations * work_items
        best = max(best, flops / elapsed / 1e9)
    return best
