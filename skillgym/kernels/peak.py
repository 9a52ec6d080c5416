"""Measure a device's peak multiply-add throughput with a register-only OpenCL kernel.

Used by ``benchmarks/policy_forward.py`` to report kernels as a fraction of what the machine
can do. The peak is the best over vector widths and numbers of independent chains
(:func:`fma_peaks`): the width that reaches it is the device's own, and a kernel compared with
a narrower width's peak would look better than it is (on a CPU with AVX-512, float16 reaches
about twice float8's rate). On a shared machine the best of several repeats is the least
disturbed estimate.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import NamedTuple

import numpy as np

from skillgym.kernels.device import OpenCLDevice, vector_build_options

ACCUMULATORS = 12
# The widths and chain counts fma_peaks tries: enough chains to hide the FMA latency on two
# pipes, few enough to stay in the registers, at each width (float16 on AVX2 takes two
# registers a chain, so its best is 6 chains; on AVX-512 it is 8 to 12).
PEAK_WIDTHS = (4, 8, 16)
PEAK_ACCUMULATORS = (6, 8, 12)


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
        accumulators: int = ACCUMULATORS,
    ) -> None:
        if work_items < 1:
            raise ValueError(f"work_items must be a positive integer, got {work_items!r}")
        if accumulators < 1:
            raise ValueError(f"accumulators must be a positive integer, got {accumulators!r}")
        cl = self._cl = device.cl
        self._queue = device.queue
        source = fma_peak_source(vector_width, accumulators)
        self._kernel = device.build(source, vector_build_options(vector_width)).fma_peak
        # Kept as an attribute: a kernel argument does not keep its buffer alive.
        self._out = cl.Buffer(device.context, cl.mem_flags.WRITE_ONLY, 4 * work_items)
        args = (self._out, np.int32(iterations), np.float32(0.9999), np.float32(1e-4))
        self._kernel.set_args(*args)
        self._range = ((work_items,), (1,))
        self.vector_width = vector_width
        self.accumulators = accumulators
        self.flops = 2 * vector_width * accumulators * iterations * work_items
        self.launch()  # the first launch compiles for this work-group size

    def launch(self) -> float:
        """Run the kernel once; return the wall time in seconds."""
        start = time.perf_counter()
        self._cl.enqueue_nd_range_kernel(self._queue, self._kernel, *self._range).wait()
        return time.perf_counter() - start

    def gflops(self, repeats: int) -> float:
        """Best GFLOP/s over ``repeats`` launches."""
        return self.flops / min(self.launch() for _ in range(repeats)) / 1e9


class WidthPeak(NamedTuple):
    """The best rate at one vector width, and the number of chains that reached it."""

    vector_width: int
    gflops: float
    accumulators: int


def fma_peaks(
    device: OpenCLDevice,
    work_items: int,
    widths: tuple[int, ...] = PEAK_WIDTHS,
    accumulators: tuple[int, ...] = PEAK_ACCUMULATORS,
    iterations: int = 200_000,
    repeats: int = 5,
) -> dict[int, WidthPeak]:
    """The peak at each vector width: the best over the numbers of chains. The largest of
    them is the device's peak, and its width the device's native one."""
    peaks = {}
    for width in widths:
        rates = [
            (FmaPeak(device, work_items, width, iterations, chains).gflops(repeats), chains)
            for chains in accumulators
        ]
        gflops, chains = max(rates)
        peaks[width] = WidthPeak(width, gflops, chains)
    return peaks


def device_peak(peaks: dict[int, WidthPeak]) -> WidthPeak:
    """The device's peak among :func:`fma_peaks`' results: the best width's."""
    return max(peaks.values(), key=lambda peak: peak.gflops)
