"""Run the fused actor-critic kernel: build once, keep buffers, dispatch by batch size.

:class:`ActorCriticKernel` owns one network's packed weights and the device buffers of its
inputs and outputs. Each call is one kernel launch (or, below ``min_kernel_batch`` samples or
without an OpenCL device, the numpy path of :mod:`skillgym.kernels.numpy_path`, which has the
same semantics).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import resources
from typing import Any, NamedTuple

import numpy as np

from skillgym.kernels.device import OpenCLDevice, select_device
from skillgym.kernels.numpy_path import actor_critic_numpy
from skillgym.kernels.spec import (
    InputLayout,
    NetworkSpec,
    layer_offsets,
    pack_weights,
    pad_to,
    value_head_is_column,
)

# Below this many samples the numpy path beats a launch (PoCL wakes its threads for every
# call, 15-70 us). Measured on the 2-core test machine with sampling (docs/kernels.md): numpy
# won only at B = 1 (60 us against 67 us); from B = 2 the kernel was faster (59 against 83 us).
KERNEL_MIN_BATCH = 2

# float8: PoCL 3.0's LLVM 14 names this Zen 4 CPU znver3 and compiles for AVX2, where float16
# costs two registers per value (64-64 policy, B = 4,096, one thread: 1.99 ms either way), and
# a target attribute cannot bring AVX-512 to the code that runs (docs/kernels.md).
DEFAULT_VECTOR_WIDTH = 8

# The register block: TILE samples x BLOCK output vectors of accumulators. Measured with
# float8 on the 64-64 policy at B = 4,096 (CPU ms, one thread): 4 x 2 1.91, 2 x 4 2.15,
# 3 x 2 2.31, 4 x 3 2.35, 6 x 2 2.51 (larger blocks spill AVX2's 16 registers).
DEFAULT_TILE = 4
DEFAULT_BLOCK = 2
BLOCKS = (1, 2, 3, 4)

# The SIMT baseline's fixed work-group size: PoCL vectorises across the work-items of a group.
SIMT_GROUP = 16

VARIANTS = ("simd", "simt")

# The parameters of kernel ``actor_critic``, in the order actor_critic.cl declares them;
# simt_actor_critic.cl declares the same first thirteen and neither ``next_tile`` nor ``codes``.
KERNEL_ARGS = (
    "obs", "params", "masks", "uniforms", "actions", "log_prob", "values", "log_probs",
    "batch", "use_masks", "sample", "write_log_probs", "with_values", "next_tile", "codes",
)
_ARG_INDEX = {name: index for index, name in enumerate(KERNEL_ARGS)}


class ActorCriticOutput(NamedTuple):
    """One forward pass: ``actions [B, n_heads]`` int32, ``log_prob [B]`` of those actions,
    ``values [B]`` (unless left out) and, when requested, the normalized
    ``log_probs [B, n_logits]``."""

    actions: np.ndarray
    log_prob: np.ndarray
    values: np.ndarray | None
    log_probs: np.ndarray | None


class CodedObs(NamedTuple):
    """A batch of observations in an :class:`~skillgym.kernels.spec.InputLayout`:
    ``codes [B, n_codes]`` integer indices of the inputs that are 1, ``dense [B, n_dense]``
    float values of the layout's dense inputs."""

    codes: np.ndarray
    dense: np.ndarray


class _Shared:
    """A host array a kernel reads or writes: fine-grained SVM (no copies) when the device
    has it, otherwise a device buffer with explicit copies."""

    def __init__(self, device: OpenCLDevice, shape: tuple[int, ...], dtype: Any) -> None:
        cl = device.cl
        self._device = device
        if device.fine_grained_svm:
            self.host = cl.fsvm_empty(device.context, shape, dtype)
            self.arg = cl.SVM(self.host)
        else:
            self.host = np.empty(shape, dtype)
            self.arg = cl.Buffer(device.context, cl.mem_flags.READ_WRITE, max(self.host.nbytes, 4))

    def upload(self, rows: int) -> None:
        """Make the first ``rows`` rows written on the host visible to the device."""
        if not self._device.fine_grained_svm:
            self._device.cl.enqueue_copy(self._device.queue, self.arg, self.host[:rows])

    def download(self, rows: int) -> np.ndarray:
        """A copy of the first ``rows`` rows, after the device has written them."""
        if not self._device.fine_grained_svm:
            self._device.cl.enqueue_copy(self._device.queue, self.host[:rows], self.arg)
        return self.host[:rows].copy()


def _network_macro(
    spec: NetworkSpec,
    widths: list[int],
    offsets: list[int],
    coded: bool = False,
    value_dot: bool = False,
    head_skip: bool = False,
) -> str:
    """The body of the ``NETWORK`` macro: one ``dense`` call per layer, ping-ponging between
    the private arrays ``a`` and ``b``; the heads write into ``logits`` and ``value``, the
    value trunk only where ``with_values`` is non-zero. The
    layers reading the observation run over ``index``, its inputs that are not all zero, or,
    for a ``coded`` input, are ``embed`` calls (a gather of weight rows). With ``value_dot``
    the value head, packed as a column (``value_head_is_column``), is a ``dot_head`` call. With
    ``head_skip`` the action head (unless it is an ``embed``) is a ``head_layer`` call, which
    under masks computes only the vectors of logits listed in ``live`` (``n_live`` of them)."""
    layers = list(zip(spec.layers(), widths, offsets, strict=True))
    n_pi = len(spec.pi_layers) + 1
    trunks = ((layers[:n_pi], ("logits", "N_LOGITS_PAD")), (layers[n_pi:], ("value", "VW")))
    calls = []
    for trunk, head in trunks:
        if head[0] == "value":
            calls.append("if (with_values) {")
        source = ("x", "OBS_DIM")
        for j, (layer, width, offset) in enumerate(trunk):
            target = head if j == len(trunk) - 1 else ("ab"[j % 2], "MAX_WIDTH")
            act = f"ACT_{(layer.activation or 'none').upper()}"
            index = "index, n_index" if j == 0 else "0, 0"
            if coded and j == 0:
                call = f"embed(code, x, {target[0]}, {target[1]}, {width}, p + {offset}, {act});"
            elif head_skip and target[0] == "logits":
                call = (
                    f"head_layer({source[0]}, {layer.n_in}, {source[1]}, logits, N_LOGITS_PAD, "
                    f"{width}, p + {offset}, {index}, live, n_live);"
                )
            elif value_dot and target[0] == "value":
                n_in = widths[-2]  # the padded width of the last hidden layer, which feeds it
                call = f"dot_head({source[0]}, {n_in}, {source[1]}, value, p + {offset});"
            else:
                call = (
                    f"dense({source[0]}, {layer.n_in}, {source[1]}, {target[0]}, {target[1]}, "
                    f"{width}, p + {offset}, {act}, {index});"
                )
            calls.append(call)
            source = target
    calls.append("}")
    return " ".join(calls)


def kernel_source(
    spec: NetworkSpec,
    vector_width: int,
    tile: int,
    variant: str,
    block: int = DEFAULT_BLOCK,
    layout: InputLayout | None = None,
) -> str:
    """The OpenCL source for one network: generated ``#define`` lines, ``common.cl``, then the
    variant's kernel (``"simd"``: ``actor_critic.cl``; ``"simt"``: ``simt_actor_critic.cl``).
    With a ``layout`` (``"simd"`` only), the kernel reads coded observations."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if layout is not None and variant != "simd":
        raise ValueError(f"an input layout needs variant 'simd', got {variant!r}")
    widths = [pad_to(layer.n_out, vector_width) for layer in spec.layers()]
    hidden = [w for w, la in zip(widths, spec.layers(), strict=True) if la.activation is not None]
    suffix = "" if vector_width == 1 else str(vector_width)
    vec, veci = f"float{suffix}", f"int{suffix}"
    defines = {
        "VW": vector_width,
        "VEC": vec,
        "VECI": veci,
        "AS_VEC": f"as_{vec}",
        "AS_VECI": f"as_{veci}",
        "LANES": f"(({veci})({', '.join(map(str, range(vector_width)))}))",
        "TILE": tile,
        "BLOCK": block,
        "OBS_DIM": spec.obs_dim,
        "N_LOGITS": spec.n_logits,
        "N_LOGITS_PAD": pad_to(spec.n_logits, vector_width),
        "N_HEADS": spec.n_heads,
        "N_HEADS_PAD": pad_to(spec.n_heads, vector_width),
        "HEAD_STARTS": ", ".join(map(str, spec.head_starts)),
        "MAX_WIDTH": max(hidden, default=vector_width),
        "FOR_TILE(M, a)": " ".join(f"M({s}, a)" for s in range(tile)),
        "NETWORK(x, index, n_index, a, b, logits, value, p, live, n_live, with_values)": (
            _network_macro(
                spec,
                widths,
                layer_offsets(spec, vector_width),
                coded=layout is not None,
                value_dot=variant == "simd" and value_head_is_column(spec),
                head_skip=variant == "simd",
            )
        ),
    }
    if layout is not None:
        defines.update(
            N_CODES=layout.n_codes,
            N_DENSE=layout.n_dense,
            DENSE_INPUTS=", ".join(map(str, layout.dense_inputs)) or "0",
        )
    files = resources.files("skillgym.kernels")
    kernel = "actor_critic.cl" if variant == "simd" else "simt_actor_critic.cl"
    return "".join(
        [f"#define {name} {value}\n" for name, value in defines.items()]
        + [files.joinpath(name).read_text() for name in ("common.cl", kernel)]
    )


class ActorCriticKernel:
    """One actor-critic network, run by the fused kernel (or by numpy, with the same semantics).

    Args:
        spec: the network's shape.
        weights: ``(weight, bias)`` pairs in ``spec.layers()`` order (``torch.nn.Linear``
            layout); :meth:`set_weights` replaces them later.
        device: ``"auto"``, ``"off"``, ``"<platform>[:<device>]"``, an ``OpenCLDevice`` (see
            :func:`skillgym.kernels.device.select_device`), or ``None`` to read
            ``SKILLGYM_OPENCL``.
        min_kernel_batch: batches smaller than this run on the numpy path.
        variant: ``"simd"`` (the explicit-SIMD kernel) or ``"simt"`` (the one-work-item-per-sample
            baseline, for comparisons).
        vector_width: lanes per vector of the ``"simd"`` kernel: 1, 2, 4, 8 or 16.
        tile: samples per register block of the ``"simd"`` kernel.
        block: output vectors per register block of the ``"simd"`` kernel: 1 to 4.
        work_items: concurrent work-items of the ``"simd"`` kernel; default: the device's
            compute units.
        layout: observations come as :class:`CodedObs` in this layout (``"simd"`` only)
            instead of ``[B, obs_dim]`` floats; :meth:`coded_inputs` gives arrays to fill.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        weights: Sequence[tuple[np.ndarray, np.ndarray]],
        device: str | OpenCLDevice | None = None,
        min_kernel_batch: int = KERNEL_MIN_BATCH,
        variant: str = "simd",
        vector_width: int = DEFAULT_VECTOR_WIDTH,
        tile: int = DEFAULT_TILE,
        block: int = DEFAULT_BLOCK,
        work_items: int | None = None,
        layout: InputLayout | None = None,
    ) -> None:
        if layout is not None and layout.obs_dim != spec.obs_dim:
            raise ValueError(
                f"layout.obs_dim must equal spec.obs_dim ({spec.obs_dim}), got {layout.obs_dim}"
            )
        if layout is not None and variant != "simd":
            raise ValueError(f"an input layout needs variant 'simd', got {variant!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if vector_width not in (1, 2, 4, 8, 16):
            raise ValueError(f"vector_width must be one of 1, 2, 4, 8, 16, got {vector_width!r}")
        if tile < 1:
            raise ValueError(f"tile must be a positive integer, got {tile!r}")
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
        if min_kernel_batch < 0:
            raise ValueError(f"min_kernel_batch must be >= 0, got {min_kernel_batch!r}")
        self.spec = spec
        self.layout = layout
        self._host_inputs: CodedObs | None = None
        self.min_kernel_batch = int(min_kernel_batch)
        self.variant = variant
        self.device = select_device(device)
        self._capacity = 0
        self._obs_in_place: Any = None  # a buffer over the last call's observations, if any
        self._range: tuple[tuple[int], tuple[int]] | None = None
        self._scalars: dict[str, int] | None = None
        if self.device is None:
            self.vector_width, self.tile = 1, 1
        else:
            simd = variant == "simd"
            self.vector_width = int(vector_width) if simd else 1
            self.tile = int(tile) if simd else 1
            self._work_items = int(work_items or self.device.compute_units)
            if self._work_items < 1:
                raise ValueError(f"work_items must be a positive integer, got {work_items!r}")
            source = kernel_source(spec, self.vector_width, self.tile, variant, block, layout)
            # pyopencl returns a new kernel object per attribute access: keep one.
            self._kernel = self.device.build(source).actor_critic
            if simd:
                self._next_tile = _Shared(self.device, (1,), np.int32)
                self._bind(next_tile=self._next_tile.arg)
            self._params: _Shared | None = None
        self.set_weights(weights)

    @property
    def uses_opencl(self) -> bool:
        """Whether batches of ``min_kernel_batch`` or more run on an OpenCL device."""
        return self.device is not None

    def set_weights(self, weights: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Replace the network's weights (e.g. after an optimiser step)."""
        self.spec.check_weights(weights)
        self._weights = [
            (np.ascontiguousarray(w, np.float32), np.ascontiguousarray(b, np.float32))
            for w, b in weights
        ]
        if self.device is not None:
            packed = pack_weights(self.spec, weights, self.vector_width)
            if self._params is None or self._params.host.shape != packed.shape:
                self._params = _Shared(self.device, packed.shape, np.float32)
                self._bind(params=self._params.arg)
            self._params.host[...] = packed
            self._params.upload(len(packed))

    def __call__(
        self,
        obs: np.ndarray | CodedObs,
        masks: np.ndarray | None = None,
        uniforms: np.ndarray | np.random.Generator | None = None,
        return_log_probs: bool = False,
        return_values: bool = True,
    ) -> ActorCriticOutput:
        """One forward pass.

        Args:
            obs: ``[B, obs_dim]`` observations (converted to float32); with a layout, a
                :class:`CodedObs` (best the arrays :meth:`coded_inputs` returned, filled in
                place: then nothing is copied).
            masks: ``[B, n_logits]`` booleans, ``True`` where an action is allowed; ``None``
                allows every action.
            uniforms: ``[B, n_heads]`` uniforms in ``[0, 1)``: sample each component by
                inverting its CDF at its uniform; or a numpy ``Generator`` that draws them
                (straight into the
                device's buffer: no copy); ``None`` takes the most likely action.
            return_log_probs: also return every action's normalized log-probability.
            return_values: compute and return the values; ``False`` skips the value MLP
                (``values`` is then ``None``): choosing actions needs only the policy MLP.
        """
        obs = self._check_obs(obs)
        batch = len(obs[0]) if self.layout is not None else len(obs)
        shapes = {"masks": (batch, self.spec.n_logits), "uniforms": (batch, self.spec.n_heads)}
        for name, array in (("masks", masks), ("uniforms", uniforms)):
            if array is None or isinstance(array, np.random.Generator):
                continue
            if np.shape(array) != shapes[name]:
                raise ValueError(
                    f"{name} must have shape {shapes[name]}, got {np.shape(array)}"
                )
        if self.device is None or batch < max(self.min_kernel_batch, 1):
            if isinstance(uniforms, np.random.Generator):
                uniforms = uniforms.random(shapes["uniforms"], dtype=np.float32)
            return ActorCriticOutput(*actor_critic_numpy(
                self.spec, self._weights, obs, masks, uniforms, self.layout, return_values,
                return_log_probs,
            ))
        return self._forward_opencl(obs, masks, uniforms, return_log_probs, return_values)

    def coded_inputs(self, batch: int) -> CodedObs:
        """Arrays for ``batch`` coded observations, to fill in place and pass to a call: on
        the OpenCL path they are the kernel's own input buffers, so nothing is copied. Valid
        until the next call with a larger batch."""
        if self.layout is None:
            raise RuntimeError("coded_inputs() needs a kernel built with a layout")
        if self.device is not None:
            self._reserve(batch)
            return CodedObs(self._codes.host[:batch], self._obs.host[:batch, : self.layout.n_dense])
        if self._host_inputs is None or len(self._host_inputs.codes) < batch:
            capacity = 1 << max(batch - 1, 0).bit_length()
            self._host_inputs = CodedObs(
                np.empty((capacity, self.layout.n_codes), np.int32),
                np.empty((capacity, self.layout.n_dense), np.float32),
            )
        return CodedObs(self._host_inputs.codes[:batch], self._host_inputs.dense[:batch])

    def _check_obs(self, obs: np.ndarray | CodedObs) -> np.ndarray | CodedObs:
        """``obs`` as float32 (or a :class:`CodedObs` of int32 and float32), shapes checked."""
        if self.layout is None:
            obs = np.asarray(obs, dtype=np.float32)
            if obs.ndim != 2 or obs.shape[1] != self.spec.obs_dim:
                raise ValueError(
                    f"obs must have shape [batch, {self.spec.obs_dim}], got {obs.shape}"
                )
            return obs
        if not isinstance(obs, CodedObs):
            raise TypeError(
                f"obs must be a CodedObs for a kernel with a layout, got {type(obs).__name__}"
            )
        codes = np.asarray(obs.codes, dtype=np.int32)
        dense = np.asarray(obs.dense, dtype=np.float32)
        batch = len(codes)
        layout = self.layout
        if codes.shape != (batch, layout.n_codes) or dense.shape != (batch, layout.n_dense):
            raise ValueError(
                f"obs.codes and obs.dense must have shapes [batch, {layout.n_codes}] and "
                f"[batch, {layout.n_dense}], got {codes.shape} and {dense.shape}"
            )
        # An out-of-range code would read outside the weights. Viewed as unsigned, a negative
        # code is huge: one reduction checks both bounds.
        if codes.size and codes.view(np.uint32).max() >= layout.obs_dim:
            raise ValueError(
                f"obs.codes must lie in [0, {layout.obs_dim}), got values in "
                f"[{codes.min()}, {codes.max()}]"
            )
        return CodedObs(codes, dense)

    def relaunch(self) -> float:
        """Run the kernel again on the inputs of the last OpenCL call, without staging them or
        reading the outputs; return the wall time in seconds. For timing the kernel alone."""
        if self._range is None:
            raise RuntimeError("relaunch() needs an earlier call that ran on the OpenCL device")
        start = time.perf_counter()
        self._launch()
        return time.perf_counter() - start

    def _bind(self, **args: Any) -> None:
        """Set kernel arguments by their names in the OpenCL source (:data:`KERNEL_ARGS`)."""
        for name, value in args.items():
            self._kernel.set_arg(_ARG_INDEX[name], value)

    def _launch(self) -> None:
        """Launch the kernel over ``self._range`` on the bound arguments and wait for it to
        finish. The ``"simd"`` kernel's work-items take tiles from a shared counter, which
        each launch starts at zero."""
        if self.variant == "simd":
            self._next_tile.host[0] = 0
            self._next_tile.upload(1)
        self.device.cl.enqueue_nd_range_kernel(self.device.queue, self._kernel, *self._range).wait()

    def _reserve(self, batch: int) -> None:
        """Grow the device arrays to hold ``batch`` samples (to the next power of two)."""
        if batch <= self._capacity:
            return
        capacity = 1 << (batch - 1).bit_length()
        spec, device = self.spec, self.device
        obs_width = spec.obs_dim if self.layout is None else max(self.layout.n_dense, 1)
        self._obs = _Shared(device, (capacity, obs_width), np.float32)
        self._masks = _Shared(device, (capacity, spec.n_logits), np.uint8)
        self._uniforms = _Shared(device, (capacity, spec.n_heads), np.float32)
        self._actions = _Shared(device, (capacity, spec.n_heads), np.int32)
        self._log_prob = _Shared(device, (capacity,), np.float32)
        self._values = _Shared(device, (capacity,), np.float32)
        self._log_probs = _Shared(device, (capacity, spec.n_logits), np.float32)
        self._bind(
            obs=self._obs.arg,
            masks=self._masks.arg,
            uniforms=self._uniforms.arg,
            actions=self._actions.arg,
            log_prob=self._log_prob.arg,
            values=self._values.arg,
            log_probs=self._log_probs.arg,
        )
        if self.layout is not None:
            self._codes = _Shared(device, (capacity, max(self.layout.n_codes, 1)), np.int32)
            self._bind(codes=self._codes.arg)
        self._capacity = capacity

    def _bind_obs(self, obs: np.ndarray) -> None:
        """Point the kernel at ``[B, obs_dim]`` float32 observations. On a device that computes
        in host memory, a C-contiguous array is read where it lies, through a buffer made over
        it (at B = 4,096 the copy into the staging buffer was about 3 % of the call); otherwise
        the rows are copied into the staging buffer."""
        if self.device.host_memory and obs.flags.c_contiguous:
            cl = self.device.cl
            flags = cl.mem_flags.READ_ONLY | cl.mem_flags.USE_HOST_PTR
            # Kept until the next call: relaunch() reads it again.
            self._obs_in_place = cl.Buffer(self.device.context, flags, hostbuf=obs)
            self._bind(obs=self._obs_in_place)
            return
        self._obs_in_place = None
        self._bind(obs=self._obs.arg)
        self._stage(self._obs, len(obs), obs)

    @staticmethod
    def _stage(shared: _Shared, batch: int, rows: np.ndarray, width: int | None = None) -> None:
        """Put ``rows`` into ``shared`` (unless they already are its buffer) and upload them."""
        target = shared.host[:batch] if width is None else shared.host[:batch, :width]
        same = rows.ctypes.data == target.ctypes.data and rows.strides == target.strides
        if not (same and rows.shape == target.shape):
            target[...] = rows
        shared.upload(batch)

    def _forward_opencl(
        self,
        obs: np.ndarray | CodedObs,
        masks: np.ndarray | None,
        uniforms: np.ndarray | np.random.Generator | None,
        return_log_probs: bool,
        return_values: bool,
    ) -> ActorCriticOutput:
        """The forward pass on the device: stage the inputs, bind the scalars, launch, read the
        outputs (arguments as in :meth:`__call__`, already checked)."""
        if self.layout is None:
            batch = len(obs)
            self._reserve(batch)
            self._bind_obs(obs)
        else:
            batch = len(obs.codes)
            self._reserve(batch)
            self._stage(self._codes, batch, obs.codes, self.layout.n_codes)
            self._stage(self._obs, batch, obs.dense, self.layout.n_dense)
        if isinstance(uniforms, np.random.Generator):
            uniforms.random(out=self._uniforms.host[:batch], dtype=np.float32)
            self._uniforms.upload(batch)
        elif uniforms is not None:
            self._uniforms.host[:batch] = uniforms
            self._uniforms.upload(batch)
        if masks is not None:
            self._masks.host[:batch] = masks
            self._masks.upload(batch)
        scalars = {
            "batch": batch,
            "use_masks": masks is not None,
            "sample": uniforms is not None,
            "write_log_probs": return_log_probs,
            "with_values": return_values,
        }
        if scalars != self._scalars:  # setting an argument costs more than a comparison
            self._bind(**{name: np.int32(value) for name, value in scalars.items()})
            self._scalars = scalars
        if self.variant == "simd":
            tiles = -(-batch // self.tile)
            global_size, local_size = min(self._work_items, tiles), 1
        else:
            global_size, local_size = pad_to(batch, SIMT_GROUP), SIMT_GROUP
        self._range = ((global_size,), (local_size,))
        self._launch()
        return ActorCriticOutput(
            self._actions.download(batch),
            self._log_prob.download(batch),
            self._values.download(batch) if return_values else None,
            self._log_probs.download(batch) if return_log_probs else None,
        )
