"""The FMA-peak kernel does the multiply-adds it is credited with."""

from __future__ import annotations

import numpy as np
import pytest

from skillgym.kernels.peak import ACCUMULATORS, FmaPeak, fma_peak_source, measure_fma_peak


def test_every_chain_is_computed(opencl_device):
    cl = opencl_device.cl
    kernel = opencl_device.build(fma_peak_source(vector_width=4)).fma_peak
    out = cl.Buffer(opencl_device.context, cl.mem_flags.WRITE_ONLY, 4 * 3)
    a, b, iterations = 0.5, 0.25, 3
    kernel(opencl_device.queue, (3,), (1,), out, np.int32(iterations), np.float32(a),
           np.float32(b)).wait()
    result = np.empty(3, np.float32)
    cl.enqueue_copy(opencl_device.queue, result, out)
    for gid in range(3):
        chains = np.arange(ACCUMULATORS, dtype=np.float64) + gid  # seed + chain index
        for _ in range(iterations):
            chains = chains * a + b
        assert result[gid] == pytest.approx(chains.sum(), rel=1e-6)


def test_measure_fma_peak_reports_a_rate(opencl_device):
    assert measure_fma_peak(opencl_device, work_items=1, iterations=1000, repeats=1) > 0
    with pytest.raises(ValueError, match="work_items must be a positive integer"):
        measure_fma_peak(opencl_device, work_items=0)


def test_fma_peak_counts_the_flops_of_one_launch(opencl_device):
    peak = FmaPeak(opencl_device, work_items=2, vector_width=4, iterations=10)
    assert peak.flops == 2 * 4 * ACCUMULATORS * 10 * 2
    assert peak.launch() > 0
    with pytest.raises(ValueError, match="work_items must be a positive integer"):
        FmaPeak(opencl_device, work_items=0)
