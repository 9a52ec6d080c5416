"""Explicit-SIMD OpenCL kernels (``*.cl``) and the small runtime that builds and runs them.

The fused actor-critic kernel computes a categorical policy's MLPs, heads, masked log-softmax,
action choice and log-probability in one launch; :class:`ActorCriticKernel` runs it (or its
numpy twin, below a batch-size crossover or without an OpenCL platform). See ``docs/kernels.md``.
"""

from skillgym.kernels.actor_critic import (
    KERNEL_MIN_BATCH,
    ActorCriticKernel,
    ActorCriticOutput,
    CodedObs,
    kernel_source,
)
from skillgym.kernels.device import KernelBuildError, OpenCLDevice, select_device
from skillgym.kernels.spec import InputLayout, NetworkSpec
from skillgym.kernels.tuning import DEFAULT_TILING, Tiling, TuningCache, TuningResult

__all__ = [
    "DEFAULT_TILING",
    "KERNEL_MIN_BATCH",
    "ActorCriticKernel",
    "ActorCriticOutput",
    "CodedObs",
    "InputLayout",
    "KernelBuildError",
    "NetworkSpec",
    "OpenCLDevice",
    "kernel_source",
    "Tiling",
    "TuningCache",
    "TuningResult",
    "select_device",
]
