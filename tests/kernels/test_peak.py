"""The FMA-peak kernel does the multiply-adds it is credited with."""

from __future__ import annotations

import numpy as np
import pytest

from skillgym.kernels.device import vector_build_options
from skillgym.kernels.peak import (
    ACCUMULATORS,
    FmaPeak,
    device_peak,
    fma_peak_source,
    fma_peaks,
)


@pytest.mark.parametrize(("vector_width", "accumulators"), [(4, ACCUMULATORS), (16, 6)])
def test_every_chain_is_computed(opencl_device, vector_width, accumulators):
    cl = opencl_device.cl
    source = fma_peak_source(vector_width, accumulators)
    kernel = opencl_device.build(source, vector_build_options(vector_width)).fma_peak
    out = cl.Buffer(opencl_device.context, cl.mem_flags.WRITE_ONLY, 4 * 3)
    a, b, iterations = 0.5, 0.25, 3
    kernel(opencl_device.queue, (3,), (1,), out, np.int32(iterations), np.float32(a),
           np.float32(b)).wait()
    result = np.empty(3, np.float32)
    cl.enqueue_copy(opencl_device.queue, result, out)
    for gid in range(3):
        chains = np.arange(accumulators, dtype=np.float64) + gid  # seed + chain index
        for _ in range(iterations):
            chains = chains * a + b
        assert result[gid] == pytest.approx(chains.sum(), rel=1e-6)


def test_fma_peak_counts_the_flops_of_one_launch(opencl_device):
    peak = FmaPeak(opencl_device, work_items=2, vector_width=4, iterations=10)
    assert peak.flops == 2 * 4 * ACCUMULATORS * 10 * 2
    assert peak.launch() > 0
    with pytest.raises(ValueError, match="work_items must be a positive integer"):
        FmaPeak(opencl_device, work_items=0)


def test_fma_peaks_report_each_width_at_its_best_chain_count(opencl_device):
    peaks = fma_peaks(opencl_device, work_items=1, widths=(4, 16), accumulators=(6, 8),
                      iterations=1000, repeats=1)
    assert device_peak(peaks).gflops == max(peak.gflops for peak in peaks.values())
    assert list(peaks) == [4, 16]
    for width, peak in peaks.items():
        assert peak.vector_width == width and peak.accumulators in (6, 8) and peak.gflops > 0
    counted = FmaPeak(opencl_device, work_items=3, vector_width=16, iterations=10, accumulators=6)
    assert counted.flops == 2 * 16 * 6 * 10 * 3
    with pytest.raises(ValueError, match="accumulators must be a positive integer"):
        FmaPeak(opencl_device, work_items=1, accumulators=0)
