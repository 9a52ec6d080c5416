"""OpenCL device choice, program building and the on-disk program cache.

The device comes from an argument or the ``SKILLGYM_OPENCL`` environment variable:

* unset or ``"auto"``: PoCL's CPU device if present, otherwise the first device found;
  with no OpenCL platform at all, ``None`` (callers use their numpy path) and one warning.
  PoCL offers two CPU devices here: ``pthread`` (worker threads, one per core) and ``basic``
  (runs each kernel on the thread that waits for it). When PoCL may use only one thread
  (``POCL_MAX_PTHREAD_COUNT=1``, or a one-core machine) ``auto`` takes ``basic``: the same
  code without the hand-off to a worker thread, which costs tens of microseconds a launch,
  more on a busy machine;
* ``"off"``: ``None``, silently (the numpy path by request);
* ``"<platform>"`` or ``"<platform>:<device>"``: the first device whose platform name (and
  device name) contain these case-insensitive substrings; an error if none does.

Built programs are cached under ``SKILLGYM_KERNEL_CACHE`` (default
``~/.cache/skillgym/kernels``), PoCL's own per-work-group-size cache in its ``pocl``
sub-folder unless ``POCL_CACHE_DIR`` is already set.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_DEVICE = "SKILLGYM_OPENCL"
ENV_CACHE = "SKILLGYM_KERNEL_CACHE"
OFF_VALUES = ("off", "none", "0", "numpy")


class KernelBuildError(RuntimeError):
    """An OpenCL program failed to build; the message names the device and holds the build log."""


def cache_dir() -> Path:
    """The folder for built programs, created on first use."""
    folder = Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "skillgym" / "kernels")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _import_pyopencl() -> Any:
    # PoCL reads these once, when its platform is first loaded. It lists its basic device only
    # when asked to; a user's own POCL_DEVICES is left as it is.
    os.environ.setdefault("POCL_CACHE_DIR", str(cache_dir() / "pocl"))
    os.environ.setdefault("POCL_DEVICES", "pthread basic")
    import pyopencl

    return pyopencl


@dataclass(frozen=True, eq=False)
class OpenCLDevice:
    """One OpenCL device with its context and in-order queue.

    Attributes:
        name: ``"<platform> / <device>"``, for messages.
        compute_units: number of parallel compute units (threads on a CPU device).
        fine_grained_svm: whether host arrays can be shared with kernels without copies.
        host_memory: whether the device computes in host memory (a CPU device), so that a
            buffer made over a host array lets kernels read the array itself.
        driver: the driver's and the device's version strings (a new driver may compile the
            same source into faster or slower code: tuned layouts are kept per driver).
    """

    cl: Any
    device: Any
    context: Any
    queue: Any
    name: str
    compute_units: int
    fine_grained_svm: bool
    host_memory: bool = False
    driver: str = ""

    def build(self, source: str, options: tuple[str, ...] = ()) -> Any:
        """Build ``source``, or load it from the disk cache.

        Raises:
            KernelBuildError: the build failed; the message names the device and has the log.
        """
        program = self.cl.Program(self.context, source)
        try:
            return program.build(options=list(options), cache_dir=str(cache_dir()))
        except (self.cl.RuntimeError, self.cl.LogicError) as error:
            raise KernelBuildError(
                f"building an OpenCL program for device {self.name!r} failed:\n{error}"
            ) from error


def vector_build_options(vector_width: int) -> tuple[str, ...]:
    """Build options for a program computing on ``vector_width``-lane vectors.

    Without AVX-512, clang warns once per function that a float16 argument "changes the ABI":
    harmless in these kernels (PoCL inlines every function into the kernel), and a dozen lines
    on stderr for every float16 program, so float16 programs build with warnings off.
    """
    return ("-w",) if vector_width >= 16 else ()


def _describe(cl: Any) -> list[tuple[Any, Any]]:
    try:
        platforms = cl.get_platforms()
    except cl.LogicError:  # the ICD loader reports "no platforms" as an error
        return []
    return [(p, d) for p in platforms for d in p.get_devices()]


def pocl_threads() -> int:
    """The number of threads PoCL's CPU device may use (``POCL_MAX_PTHREAD_COUNT``, else the
    machine's cores)."""
    limit = os.environ.get("POCL_MAX_PTHREAD_COUNT", "").strip()
    return int(limit) if limit.isdigit() and int(limit) > 0 else os.cpu_count() or 1


def prefer_pocl_cpu(devices: list[tuple[Any, Any]], threads: int) -> list[tuple[Any, Any]]:
    """PoCL's CPU ``(platform, device)`` pairs, the preferred first: its single-threaded
    ``basic`` device when ``threads`` is 1, otherwise any other (multithreaded) one."""
    def rank(pair: tuple[Any, Any]) -> bool:
        single = pair[1].name.lower().startswith("basic")
        return single != (threads == 1)  # False sorts first

    return sorted(devices, key=rank)


@functools.cache
def _open(choice: str) -> OpenCLDevice | None:
    cl = _import_pyopencl()
    found = _describe(cl)
    if choice == "auto":
        if not found:
            warnings.warn(
                "no OpenCL platform found; skillgym kernels run on their numpy path "
                f"(set {ENV_DEVICE}=off to silence this)",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        pocl_cpu = [
            (p, d)
            for p, d in found
            if "portable computing language" in p.name.lower() and d.type & cl.device_type.CPU
        ]
        platform, device = (prefer_pocl_cpu(pocl_cpu, pocl_threads()) or found)[0]
    else:
        platform_part, _, device_part = choice.partition(":")
        matches = [
            (p, d)
            for p, d in found
            if platform_part.lower() in p.name.lower() and device_part.lower() in d.name.lower()
        ]
        if not matches:
            available = [f"{p.name}:{d.name}" for p, d in found] or ["(no OpenCL platform)"]
            raise ValueError(
                f"{ENV_DEVICE} / device={choice!r} matches no OpenCL device; "
                f"use 'auto', 'off' or one of {available}"
            )
        platform, device = matches[0]
    context = cl.Context([device])
    svm = getattr(device, "svm_capabilities", 0)
    return OpenCLDevice(
        cl=cl,
        device=device,
        context=context,
        queue=cl.CommandQueue(context),
        name=f"{platform.name} / {device.name}",
        compute_units=int(device.max_compute_units),
        fine_grained_svm=bool(svm & cl.device_svm_capabilities.FINE_GRAIN_BUFFER),
        host_memory=bool(device.type & cl.device_type.CPU),
        driver=f"{device.driver_version}; {device.version}",
    )


def select_device(choice: str | OpenCLDevice | None = None) -> OpenCLDevice | None:
    """The OpenCL device to run kernels on, or ``None`` for the numpy path.

    Args:
        choice: ``"auto"``, ``"off"``, ``"<platform>"`` or ``"<platform>:<device>"``, or an
            :class:`OpenCLDevice` (returned as is); ``None`` reads ``SKILLGYM_OPENCL``
            (default ``"auto"``).
    """
    if isinstance(choice, OpenCLDevice):
        return choice
    choice = (os.environ.get(ENV_DEVICE, "auto") if choice is None else choice).strip() or "auto"
    if choice.lower() in OFF_VALUES:
        return None
    return _open(choice.lower() if choice.lower() == "auto" else choice)
