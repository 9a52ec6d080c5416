"""Device choice, the project-controlled program cache and build errors."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from skillgym.kernels import ActorCriticKernel, KernelBuildError, NetworkSpec, device, select_device


def test_off_means_the_numpy_path(monkeypatch):
    monkeypatch.setenv(device.ENV_DEVICE, "off")
    assert select_device() is None
    spec = NetworkSpec(3, (4,), (4,), (2,))
    weights = [(np.zeros((la.n_out, la.n_in)), np.zeros(la.n_out)) for la in spec.layers()]
    kernel = ActorCriticKernel(spec, weights)
    assert not kernel.uses_opencl
    assert kernel(np.zeros((100, 3))).actions.shape == (100, 1)


def test_auto_prefers_pocl_cpu(opencl_device):
    if "Portable Computing Language" not in opencl_device.name:
        pytest.skip("PoCL is not installed here")
    assert opencl_device is select_device("auto")
    assert opencl_device.compute_units >= 1


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="matches no OpenCL device; use 'auto', 'off' or one of"):
        select_device("no-such-platform:no-such-device")


def test_no_platform_warns_once_and_falls_back(monkeypatch):
    monkeypatch.setattr(device, "_describe", lambda cl: [])
    device._open.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="no OpenCL platform found"):
            assert select_device("auto") is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert select_device("auto") is None  # cached: no second warning
    finally:
        device._open.cache_clear()


def test_programs_are_cached_in_the_configured_folder(opencl_device, tmp_path):
    # A fresh process: PoCL reads its cache location once, when the platform loads.
    script = (
        "from skillgym.kernels import select_device\n"
        "device = select_device('auto')\n"
        "program = device.build('__kernel void twice(__global float *x) { x[0] *= 2.0f; }')\n"
        "queue, cl = device.queue, device.cl\n"
        "buffer = cl.Buffer(device.context, cl.mem_flags.READ_WRITE, 4)\n"
        "program.twice(queue, (1,), (1,), buffer).wait()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "POCL_CACHE_DIR"}
    env[device.ENV_CACHE] = str(tmp_path)
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    assert [path for path in tmp_path.rglob("*") if path.is_file()], "nothing was cached"


def test_build_failure_names_the_device_and_shows_the_log(opencl_device):
    with pytest.raises(KernelBuildError) as info:
        opencl_device.build("__kernel void broken(__global float *x) { x[0] = undeclared; }")
    message = str(info.value)
    assert opencl_device.name in message
    assert "undeclared" in message


class _Named:
    def __init__(self, name: str):
        self.name = name


def test_one_thread_prefers_pocl_basic_device():
    pairs = [(None, _Named("pthread-cpu")), (None, _Named("basic-cpu"))]
    assert device.prefer_pocl_cpu(pairs, threads=1)[0][1].name == "basic-cpu"
    assert device.prefer_pocl_cpu(pairs, threads=2)[0][1].name == "pthread-cpu"
    assert device.prefer_pocl_cpu(pairs[:1], threads=1)[0][1].name == "pthread-cpu"


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("3", 3), ("", os.cpu_count()),
                                                 ("0", os.cpu_count()), ("x", os.cpu_count())])
def test_pocl_threads_reads_the_pthread_limit(monkeypatch, value, expected):
    monkeypatch.setenv("POCL_MAX_PTHREAD_COUNT", value)
    assert device.pocl_threads() == expected


def test_basic_and_pthread_devices_compute_the_same(opencl_device):
    try:
        single, threaded = select_device("portable:basic"), select_device("portable:pthread")
    except ValueError:
        pytest.skip("PoCL's basic and pthread devices are not both listed here")
    spec = NetworkSpec(5, (16, 16), (16,), (3, 4))
    rng = np.random.default_rng(0)
    weights = [(rng.standard_normal((la.n_out, la.n_in)), rng.standard_normal(la.n_out))
               for la in spec.layers()]
    obs = rng.standard_normal((257, 5))
    outputs = [
        ActorCriticKernel(spec, weights, device=d, min_kernel_batch=0)(obs)
        for d in (single, threaded)
    ]
    for name in ("actions", "log_prob", "values"):
        np.testing.assert_array_equal(getattr(outputs[0], name), getattr(outputs[1], name))
