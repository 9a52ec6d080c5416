"""Run the fused actor-critic kernel: build once, keep buffers, dispatch by batch size.

:class:`ActorCriticKernel` owns one network's packed weights and the device buffers of its
inputs and outputs. Each call is one kernel launch (or, below ``min_kernel_batch`` samples or
without an OpenCL device, the numpy path of :mod:`skillgym.kernels.numpy_path`, which has the
same semantics).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from typing import Any, NamedTuple

import numpy as np
from rich.console import Console

from skillgym.kernels.device import (
    KernelBuildError,
    OpenCLDevice,
    select_device,
    vector_build_options,
)
from skillgym.kernels.numpy_path import actor_critic_numpy
from skillgym.kernels.spec import (
    InputLayout,
    NetworkSpec,
    layer_offsets,
    pack_weights,
    pad_to,
    value_head_is_column,
)
from skillgym.kernels.tuning import (
    DEFAULT_TILING,
    MAX_TRIALS,
    Tiling,
    TuningCache,
    TuningResult,
    search,
    tuning_enabled,
)

# Below this many samples the numpy path beats a launch (PoCL wakes its threads for every
# call, 15-70 us). Measured on the 2-core test machine with sampling (docs/kernels.md): numpy
# won only at B = 1 (60 us against 67 us); from B = 2 the kernel was faster (59 against 83 us).
KERNEL_MIN_BATCH = 2

# Tuning times layouts on the first call of at least this many samples: below it a launch is
# mostly its fixed cost, whatever the layout.
TUNE_MIN_BATCH = 256
# Each layout is timed over at least this many launches and this many seconds (the fastest
# launch counts): a few milliseconds a layout, next to half a second of building it.
TUNING_LAUNCHES = 5
TUNING_SECONDS = 0.02
# Seconds between two progress lines while tuning.
TUNING_LINE_SECONDS = 2.0
# The ``tiling`` choices by name (see ActorCriticKernel).
TILING_CHOICES = ("auto", "default")

# The SIMT baseline's fixed work-group size: PoCL vectorises across the work-items of a group.
SIMT_GROUP = 16
# The SIMT kernel is scalar and per sample: its weights are packed one lane wide.
SIMT_TILING = Tiling(vector_width=1, tile=1, block=1)

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
    tiling: Tiling,
    variant: str,
    layout: InputLayout | None = None,
) -> str:
    """The OpenCL source for one network: generated ``#define`` lines, ``common.cl``, then the
    variant's kernel (``"simd"``: ``actor_critic.cl``, in ``tiling``'s vector width and register
    block; ``"simt"``: ``simt_actor_critic.cl``, which ignores ``tiling``). With a ``layout``
    (``"simd"`` only), the kernel reads coded observations."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if layout is not None and variant != "simd":
        raise ValueError(f"an input layout needs variant 'simd', got {variant!r}")
    if variant == "simt":
        tiling = SIMT_TILING
    vector_width, tile, block = tiling.vector_width, tiling.tile, tiling.block
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


class _Program:
    """The kernel built for one vector width and register block, with the buffers that belong
    to that build: the weights packed at its vector width and the ``"simd"`` kernel's counter
    of tiles."""

    def __init__(
        self, device: OpenCLDevice, source: str, simd: bool, options: tuple[str, ...] = ()
    ) -> None:
        # pyopencl returns a new kernel object per attribute access: keep one.
        self.kernel = device.build(source, options).actor_critic
        self.params: _Shared | None = None
        self.next_tile = _Shared(device, (1,), np.int32) if simd else None
        if self.next_tile is not None:
            self.kernel.set_arg(_ARG_INDEX["next_tile"], self.next_tile.arg)


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
        tiling: the ``"simd"`` kernel's layout: a :class:`~skillgym.kernels.tuning.Tiling`;
            ``"auto"`` to tune it on the first call of at least :data:`TUNE_MIN_BATCH` samples
            (the fastest layout on this device for this network and workload, cached on disk:
            :mod:`skillgym.kernels.tuning`); ``"default"`` for
            :data:`~skillgym.kernels.tuning.DEFAULT_TILING`; ``None`` for ``"auto"`` unless
            ``SKILLGYM_KERNEL_TUNING=off``. Results agree whatever the layout (up to float32
            rounding in the log-probabilities' sums).
        layout: observations come as :class:`CodedObs` in this layout (``"simd"`` only)
            instead of ``[B, obs_dim]`` floats; :meth:`coded_inputs` gives arrays to fill.
        tuning_cache: where tuned layouts are kept; default ``tuning.json`` in the kernel cache.

    Attributes:
        tiling: the layout in use (``None`` on the numpy path).
        tuning: what tuning did (:class:`~skillgym.kernels.tuning.TuningResult`), once it ran.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        weights: Sequence[tuple[np.ndarray, np.ndarray]],
        device: str | OpenCLDevice | None = None,
        min_kernel_batch: int = KERNEL_MIN_BATCH,
        variant: str = "simd",
        tiling: Tiling | str | None = None,
        layout: InputLayout | None = None,
        tuning_cache: TuningCache | None = None,
    ) -> None:
        if layout is not None and layout.obs_dim != spec.obs_dim:
            raise ValueError(
                f"layout.obs_dim must equal spec.obs_dim ({spec.obs_dim}), got {layout.obs_dim}"
            )
        if layout is not None and variant != "simd":
            raise ValueError(f"an input layout needs variant 'simd', got {variant!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if not (tiling is None or isinstance(tiling, Tiling) or tiling in TILING_CHOICES):
            raise ValueError(
                f"tiling must be a Tiling, one of {TILING_CHOICES} or None, got {tiling!r}"
            )
        if min_kernel_batch < 0:
            raise ValueError(f"min_kernel_batch must be >= 0, got {min_kernel_batch!r}")
        self.spec = spec
        self.layout = layout
        self._host_inputs: CodedObs | None = None
        self.min_kernel_batch = int(min_kernel_batch)
        self.variant = variant
        self.device = select_device(device)
        self._tuning_cache = tuning_cache
        self.tuning: TuningResult | None = None
        self._capacity = 0
        self._obs_in_place: Any = None  # a buffer over the last call's observations, if any
        self._batch: int | None = None  # the last OpenCL call's batch size
        self._scalars: dict[str, int] | None = None
        # Every argument bound so far, by name, to bind again when the program changes.
        self._args: dict[str, Any] = {}
        self._programs: dict[Tiling, _Program] = {}
        self.tiling: Tiling | None = None
        self._weights: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._tune_pending = False
        if self.device is not None:
            if variant == "simt":
                tiling = SIMT_TILING
            elif tiling is None:
                tiling = "auto" if tuning_enabled() else "default"
            self._tune_pending = tiling == "auto"
            self._switch(DEFAULT_TILING if isinstance(tiling, str) else tiling)
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
            self._pack(self._program)

    def _pack(self, program: _Program) -> None:
        """Write the weights into ``program``'s parameter buffer, at its vector width."""
        packed = pack_weights(self.spec, self._weights, self.tiling.vector_width)
        if program.params is None or program.params.host.shape != packed.shape:
            program.params = _Shared(self.device, packed.shape, np.float32)
            program.kernel.set_arg(_ARG_INDEX["params"], program.params.arg)
        program.params.host[...] = packed
        program.params.upload(len(packed))

    def _switch(self, tiling: Tiling) -> None:
        """Run on ``tiling`` from now on: build its program (or reuse an earlier build of the
        same code), bind every argument bound so far, and pack the weights into it."""
        code = replace(tiling, work_items=None)  # work-items change the launch, not the code
        fresh = code not in self._programs
        if fresh:
            source = kernel_source(self.spec, code, self.variant, self.layout)
            options = vector_build_options(code.vector_width)
            self._programs[code] = _Program(self.device, source, self.variant == "simd", options)
        self._program, self.tiling = self._programs[code], tiling
        for name, value in self._args.items():
            self._program.kernel.set_arg(_ARG_INDEX[name], value)
        if self._weights is not None:
            self._pack(self._program)

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
        if self._batch is None:
            raise RuntimeError("relaunch() needs an earlier call that ran on the OpenCL device")
        start = time.perf_counter()
        self._launch()
        return time.perf_counter() - start

    def _bind(self, **args: Any) -> None:
        """Set kernel arguments by their names in the OpenCL source (:data:`KERNEL_ARGS`)."""
        self._args.update(args)
        for name, value in args.items():
            self._program.kernel.set_arg(_ARG_INDEX[name], value)

    def _launch(self) -> None:
        """Launch the kernel on the bound arguments for the last call's batch and wait for it
        to finish. The ``"simd"`` kernel's work-items take tiles from a shared counter, which
        each launch starts at zero."""
        counter = self._program.next_tile
        if counter is not None:
            counter.host[0] = 0
            counter.upload(1)
        if self.variant == "simd":
            tiles = -(-self._batch // self.tiling.tile)
            work_items = self.tiling.work_items or self.device.compute_units
            sizes = ((min(work_items, tiles),), (1,))
        else:
            sizes = ((pad_to(self._batch, SIMT_GROUP),), (SIMT_GROUP,))
        cl, queue = self.device.cl, self.device.queue
        cl.enqueue_nd_range_kernel(queue, self._program.kernel, *sizes).wait()

    def tuning_key(self, batch: int, masks: bool, sample: bool) -> str:
        """The tuning cache's key for this kernel on its device: the device and its driver, a
        digest of the generated source (the kernel files, the network's shape and the input
        layout), the batch size rounded up to a power of two, and whether the calls mask and
        sample."""
        source = kernel_source(self.spec, DEFAULT_TILING, self.variant, self.layout)
        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        bucket = 1 << max(batch - 1, 0).bit_length()
        return (
            f"{self.device.name} | {self.device.driver} | source {digest} | batch {bucket} | "
            f"masks {int(masks)} | sample {int(sample)}"
        )

    def _tune(self, masks: bool, sample: bool) -> None:
        """Choose the layout for the last call's inputs, from the cache or by timing
        candidates on them (:func:`~skillgym.kernels.tuning.search`), and switch to it."""
        from skillgym.progress import LineProgress

        self._tune_pending = False
        key = self.tuning_key(self._batch, masks, sample)
        cache = self._tuning_cache or TuningCache()
        cached = cache.get(key)
        if cached is not None:
            self.tuning = TuningResult(cached, {}, cached=True)
            self._switch(cached)
            return
        progress = LineProgress(Console(stderr=True), interval=TUNING_LINE_SECONDS)
        task = progress.add_task(
            f"tuning the policy kernel ({self.device.name}, batch {self._batch})",
            total=MAX_TRIALS, status="",
        )
        fastest: dict[Tiling, float] = {}

        def measure(tiling: Tiling) -> float:
            try:
                self._switch(tiling)
            except KernelBuildError:
                # A layout this device cannot build (a driver without float16 vectors, say)
                # is never chosen; the search goes on with the others.
                seconds = float("inf")
            else:
                seconds = self._time_launches()
            if tiling not in fastest:
                progress.advance(task)  # the count is of layouts; the finals time some again
            fastest[tiling] = min(seconds, fastest.get(tiling, seconds))
            best = min(fastest, key=fastest.__getitem__)
            status = f"fastest so far {best.label}, {fastest[best] * 1e6:,.0f} µs"
            progress.update(task, status=status)
            return seconds

        chosen, times = search(
            measure, self.device.compute_units, start=self.tiling, max_trials=MAX_TRIALS
        )
        progress.update(task, total=len(times), status=f"chose {chosen.label}")
        progress.stop()
        spec = self.spec
        network = (f"obs {spec.obs_dim}, pi {list(spec.pi_layers)}, vf {list(spec.vf_layers)}, "
                   f"actions {list(spec.action_dims)}, {spec.activation}")
        if self.layout is not None:
            network += f", {self.layout.n_codes} codes + {self.layout.n_dense} dense inputs"
        cache.put(key, chosen, times, self.device.name, network=network, batch=self._batch,
                  masks=masks, sample=sample)
        self.tuning = TuningResult(chosen, times, cached=False)
        # Builds of the layouts not chosen are not needed again.
        code = replace(chosen, work_items=None)
        self._programs = {code: self._programs[code]}
        self._switch(chosen)

    def _time_launches(self) -> float:
        """The fastest of several launches on the bound inputs, in seconds: at least
        :data:`TUNING_LAUNCHES` launches and :data:`TUNING_SECONDS` of them, after one that is
        not timed (the first launch of a build compiles it for the work-group size)."""
        self._launch()
        times: list[float] = []
        deadline = time.perf_counter() + TUNING_SECONDS
        while len(times) < TUNING_LAUNCHES or time.perf_counter() < deadline:
            times.append(self.relaunch())
        return min(times)

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
        self._batch = batch
        if self._tune_pending and batch >= TUNE_MIN_BATCH:
            self._tune(masks is not None, uniforms is not None)
        self._launch()
        return ActorCriticOutput(
            self._actions.download(batch),
            self._log_prob.download(batch),
            self._values.download(batch) if return_values else None,
            self._log_probs.download(batch) if return_log_probs else None,
        )
