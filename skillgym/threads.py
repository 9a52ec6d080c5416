"""CPU thread pools, chosen on purpose.

torch, the BLAS library under numpy (OpenBLAS) and PoCL's OpenCL CPU device each start a pool of
their own, by default one thread per core. On a small shared machine they then fight over the
cores: with two threads and one core busy elsewhere, a small torch call waits for the busy core
and runs tens of times slower than on one thread. Training and benchmarks therefore set all three
(:func:`set_threads`) and record the counts in their configuration.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch

#: The variable PoCL reads, once, when its platform is first loaded.
POCL_THREADS_VARIABLE = "POCL_MAX_PTHREAD_COUNT"


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``, restoring the previous count after.

    Small networks run fastest on one thread; on a shared machine a second thread mostly waits
    for a core another process holds.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class Threads:
    """Thread counts of the three pools.

    Attributes:
        torch: ``torch.set_num_threads`` (the policy's and the learner's torch work).
        blas: the BLAS library's threads (numpy's matrix products), set through threadpoolctl.
        opencl: threads of PoCL's CPU device (the kernel policies' forward pass). PoCL reads this
            when the process first opens an OpenCL platform; set it before any kernel runs.
    """

    torch: int = 1
    blas: int = 1
    opencl: int = 1

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"threads.{name} must be an int >= 1, got {value!r}")


def set_threads(threads: Threads) -> None:
    """Size torch's, the BLAS library's and PoCL's thread pools for the rest of the process.

    PoCL's count only takes effect if no OpenCL platform has been loaded yet; when pyopencl is
    already in use with another count, a warning says so rather than silently running with it.
    """
    torch.set_num_threads(threads.torch)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads.blas, user_api="blas")
    wanted = str(threads.opencl)
    if os.environ.get(POCL_THREADS_VARIABLE) == wanted:
        return
    if "pyopencl" in sys.modules:
        warnings.warn(f"threads.opencl={wanted} may not apply: OpenCL is already in use in this "
                      f"process, and PoCL reads {POCL_THREADS_VARIABLE} once, when it starts",
                      stacklevel=2)
    os.environ[POCL_THREADS_VARIABLE] = wanted
