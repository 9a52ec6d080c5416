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


class FmaPeak:
    """The peak kernel, built and ready to launch on ``work_items`` concurrent work-items.

    Benchmarks launch it between the methods they time, so that the peak and the kernels
    measured against it see the same machine load.

    Attributes:
        flops: floating-point operations of one launch (one multiply-add = 2 FLOP).
    """

    def __init__(
        self,
        device: OpenCLDevice,
        work_items: int,
        vector_width: int = 8,
        iterations: int = 1_000_000,
    ) -> None:
        if work_items < 1:
            raise ValueError(f"work_items must be a positive integer, got {work_items!r}")
        cl = self._cl = device.cl
        self._queue = device.queue
        self._kernel = device.build(fma_peak_source(vector_width)).fma_peak
        # Kept as an attribute: a kernel argument does not keep its buffer alive.
        self._out = cl.Buffer(device.context, cl.mem_flags.WRITE_ONLY, 4 * work_items)
        args = (self._out, np.int32(iterations), np.float32(0.9999), np.float32(1e-4))
        self._kernel.set_args(*args)
        self._range = ((work_items,), (1,))
        self.flops = 2 * vector_width * ACCUMULATORS * iterations * work_items
        self.launch()  # the first launch compiles for this work-group size

    def launch(self) -> float:
        """Run the kernel once; return the wall time in seconds."""
        start = time.perf_counter()
        self._cl.enqueue_nd_range_kernel(self._queue, self._kernel, *self._range).wait()
        return time.perf_counter() - start


def measure_fma_peak(
    device: OpenCLDevice,
    work_items: int,
    vector_width: int = 8,
    iterations: int = 1_000_000,
    repeats: int = 5,
) -> float:
    """Best GFLOP/s (one multiply-add = 2 FLOP) of ``work_items`` concurrent work-items."""
    peak = FmaPeak(device, work_items, vector_width, iterations)
    return max(peak.flops / peak.launch() / 1e9 for _ in range(repeats))
