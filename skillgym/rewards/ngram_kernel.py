"""Distinct n-gram counts on an OpenCL device (``skillgym/kernels/ngram_count.cl``).

The same counts as :func:`skillgym.rewards.ngrams.unique_ngram_counts`, for the two batches a
trainer hands the global repetition penalty most often: token ids that fit in 32 bits, and ASCII
text counted in whitespace words (open-r1's ``text.lower().split()``). Each work-item counts its
rows one by one, in a few rounds of writes and reads on a hash table that stays in the core's
cache, and the text kernel splits and lowercases the bytes itself, so that no per-word Python
object or array pass is made: on one core it scores a batch about twice (ids) to three times
(text) as fast as the array code, whose rounds pass over the whole batch
(``benchmarks/rewards.py``). Calls from several threads (e.g. TRL's asynchronous reward functions)
take turns: the scratch buffers are shared.

The device is :func:`skillgym.kernels.device.select_device`'s (``SKILLGYM_OPENCL``; ``off`` keeps
every batch on the array code). :func:`ngram_kernel` is ``None`` without a device, and callers
fall back to the array code; they also do for small batches (:data:`KERNEL_MIN_UNITS`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, NamedTuple

import numpy as np

from skillgym.kernels.device import OpenCLDevice, select_device
from skillgym.rewards.ragged import Ragged

#: Below this many units in a batch the array code is used: small batches take a fraction of a
#: millisecond either way, and a process that only ever scores a few replies should not pay the
#: device's start-up (loading OpenCL and building the program the first time).
KERNEL_MIN_UNITS = 4096


class _Kernels(NamedTuple):
    """The kernels of one program (fetched once: each fetch makes a new kernel object)."""

    ids: Any
    words: Any


def _one_at_a_time(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` run under the instance's lock: its calls share scratch buffers and a queue."""
    @functools.wraps(method)
    def locked(self: NgramKernel, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class NgramKernel:
    """The n-gram counting kernels built for one device, with scratch buffers kept between
    calls (grown when a batch needs more). A program is built per n (the n-gram loops unroll),
    on first use, and cached on disk.

    Args:
        device: the OpenCL device to build for and run on.
    """

    def __init__(self, device: OpenCLDevice) -> None:
        self.device = device
        self._source = resources.files("skillgym.kernels").joinpath("ngram_count.cl").read_text()
        self._programs: dict[int, Any] = {}
        self._scratch: dict[str, Any] = {}
        self._lock = threading.Lock()  # one call at a time uses the scratch buffers

    @_one_at_a_time
    def id_counts(self, batch: Ragged, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(unique, total)`` n-grams of each row of ``batch``, whose ids must lie in
        ``[0, 2**32)``."""
        ids = _as_uint32(batch.values)
        offsets = np.ascontiguousarray(batch.offsets, dtype=np.int64)
        ngrams = max(int(batch.lengths.max(initial=0)) - n + 1, 1)
        items, per_item = self._items(len(batch))
        table = _table_size(ngrams)
        return self._run(self._program(n).ids, len(batch), items, [
            self._input(ids), self._input(offsets), np.int32(len(batch)), np.int32(per_item),
            np.int64(ngrams), np.int64(table),
            *(self._buffer(name, items * ngrams * 4) for name in ("slots", "pending", "spare")),
            self._buffer("table", items * table * 4)])

    @_one_at_a_time
    def word_counts(self, texts: Sequence[str], n: int,
                    lowercase: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(unique, total)`` n-grams of the whitespace words of each text, which must all be
        ASCII (``str.isascii``): the words of ``text.lower().split()``, or of ``text.split()``
        without ``lowercase``."""
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = _aligned_text(texts, int(offsets[-1]))
        longest = int(lengths.max(initial=0))
        words = max((longest + 1) // 2, 1)  # a separator between any two words
        table = _table_size(words)
        items, per_item = self._items(len(texts))
        # A separator bit per byte of the most any item's rows span, in whole aligned words
        # (with two to spare: the kernel's first word may start before the item's text, and
        # it reads a word past its last).
        edges = offsets[np.minimum(np.arange(items + 1) * per_item, len(texts))]
        stride = 8 * (int(np.diff(edges).max(initial=0)) // 64 + 3)
        return self._run(self._program(n).words, len(texts), items, [
            self._input(data), self._input(offsets), np.int32(len(texts)),
            np.int32(bool(lowercase)), np.int32(per_item), np.int64(stride),
            np.int64(words), np.int64(table),
            self._buffer("separators", items * stride),
            self._buffer("heads", items * words * 8), self._buffer("tails", items * words * 8),
            *(self._buffer(name, items * words * 4)
              for name in ("folds", "starts", "lengths", "slots", "pending", "spare")),
            self._buffer("table", items * table * 4)])

    def _program(self, n: int) -> _Kernels:
        if n not in self._programs:
            program = self.device.build(self._source, (f"-DNGRAM={int(n)}",))
            self._programs[n] = _Kernels(program.id_ngram_counts, program.word_ngram_counts)
        return self._programs[n]

    def _items(self, rows: int) -> tuple[int, int]:
        """Work-items for ``rows`` rows and rows per item: two per compute unit, so that a
        multithreaded device keeps its threads busy while the scratch stays small."""
        items = max(min(rows, 2 * self.device.compute_units), 1)
        per_item = max(-(-rows // items), 1)
        return max(-(-rows // per_item), 1), per_item

    def _input(self, array: np.ndarray) -> Any:
        """A read-only buffer over ``array`` (the host array itself on a CPU device)."""
        cl = self.device.cl
        flags = cl.mem_flags.READ_ONLY | (
            cl.mem_flags.USE_HOST_PTR if self.device.host_memory else cl.mem_flags.COPY_HOST_PTR)
        return cl.Buffer(self.device.context, flags, hostbuf=array if array.size else
                         np.zeros(1, dtype=array.dtype))

    def _buffer(self, name: str, nbytes: int) -> Any:
        """Scratch ``name`` of at least ``nbytes``, kept for the next call."""
        buffer = self._scratch.get(name)
        if buffer is None or buffer.size < nbytes:
            # Grown by half again, so that slowly growing batches do not reallocate each call.
            size = max(nbytes, int(buffer.size * 1.5) if buffer is not None else 0, 8)
            buffer = self.device.cl.Buffer(self.device.context,
                                           self.device.cl.mem_flags.READ_WRITE, size)
            self._scratch[name] = buffer
        return buffer

    def _run(self, kernel: Any, rows: int, items: int,
             args: list) -> tuple[np.ndarray, np.ndarray]:
        """Launch ``kernel`` over ``items`` work-items with ``args`` and the two outputs; the
        counts as ``int64``."""
        cl, queue, context = self.device.cl, self.device.queue, self.device.context
        unique, total = (np.empty(max(rows, 1), dtype=np.int32) for _ in range(2))
        outputs = [cl.Buffer(context, cl.mem_flags.WRITE_ONLY, array.nbytes)
                   for array in (unique, total)]
        kernel.set_args(*args, *outputs)
        cl.enqueue_nd_range_kernel(queue, kernel, (items,), (1,))
        for array, buffer in zip((unique, total), outputs, strict=True):
            cl.enqueue_copy(queue, array, buffer)
        queue.finish()
        return unique[:rows].astype(np.int64), total[:rows].astype(np.int64)


def fits_32_bits(values: np.ndarray) -> bool:
    """Whether integer ids all lie in ``[0, 2**32)``, as :meth:`NgramKernel.id_counts` needs."""
    if values.dtype.kind == "u" and values.dtype.itemsize <= 4:
        return True
    return not values.size or bool(values.min() >= 0 and values.max() <= 0xFFFFFFFF)


def _as_uint32(values: np.ndarray) -> np.ndarray:
    """Ids in ``[0, 2**32)`` as a contiguous ``uint32`` array (a view when they are already)."""
    if values.dtype.itemsize == 4 and values.dtype.kind == "u":
        return np.ascontiguousarray(values)
    if not fits_32_bits(values):
        raise ValueError("id_counts needs ids in [0, 2**32)")
    return values.astype(np.uint32)


def _aligned_text(texts: Sequence[str], size: int) -> np.ndarray:
    """The ASCII texts' ``size`` bytes back to back, in aligned eight-byte words, with at least
    eight zero bytes after them: the kernel reads the eight bytes from any byte of the text."""
    padding = 8 + (-size) % 8
    data = np.frombuffer("".join([*texts, "\0" * padding]).encode("ascii"), dtype=np.uint64)
    # The bytes object's data is aligned wherever CPython allocates it; a copy if not.
    return data if data.ctypes.data % 8 == 0 else data.copy()


def _table_size(count: int) -> int:
    """The kernel's table for ``count`` n-grams: the smallest power of two >= ``4 * count``
    (at least 4), as ``table_shift`` in the kernel addresses it."""
    return 1 << max(int(4 * count - 1).bit_length(), 2)


@functools.cache
def _kernel_for(device: OpenCLDevice) -> NgramKernel:
    return NgramKernel(device)


def ngram_kernel() -> NgramKernel | None:
    """The counting kernels on the selected device (built once per device), or ``None`` when
    there is no OpenCL device or ``SKILLGYM_OPENCL=off``."""
    device = select_device()
    return None if device is None else _kernel_for(device)
