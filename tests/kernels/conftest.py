"""Fixtures of the kernel tests: each test runs on the OpenCL device and on the numpy path."""

from __future__ import annotations

import pytest

from skillgym.kernels import select_device


@pytest.fixture(params=["auto", "off"], ids=["opencl", "numpy"])
def device_choice(request) -> str:
    """``"auto"`` (skipped without an OpenCL platform) or ``"off"`` (the numpy path)."""
    if request.param == "auto" and select_device("auto") is None:
        pytest.skip("no OpenCL platform on this machine")
    return request.param


@pytest.fixture
def opencl_device():
    """The default OpenCL device; the test is skipped where there is none."""
    device = select_device("auto")
    if device is None:
        pytest.skip("no OpenCL platform on this machine")
    return device
