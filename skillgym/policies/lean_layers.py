"""Layers that make a small network's updates cheap on the CPU, with SB3's numbers.

A policy over categorical observations multiplies a one-hot input, mostly zeros, by its first
layers: at AEC's 581 inputs with 16 ones, that dense product was half of a PPO update's time
although 97 % of its terms are zero. :func:`sparse_linear` computes the same layer from a
:class:`SparseInputs` batch (each row's nonzero inputs and their values): the forward pass and
the weights' gradient each touch only those. :func:`tanh` is ``torch.tanh`` through the
sigmoid, which torch's CPU kernels compute about twice as fast on tensors of 65,536 elements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch as th

# Below this batch the dense layers are about as fast: the sparse one's fixed costs (the
# weights' transposed copy, the batch grouped by input) match the dense product's work (forward
# and backward, `benchmarks/lean_layers.py`, AMD EPYC Zen 4 (family 25 model 17), one thread:
# one 64-wide MLP at 64 rows 237 µs sparse against 196 dense, at 128 rows 246 against 303, at
# 1,024 rows 545 against 2,192).
SPARSE_MIN_BATCH = 128
# tanh through the sigmoid pays from this many elements on, forward and backward together
# (same benchmark and machine: even at 16,384, 1.7x faster at 65,536; below, torch's own is
# faster, the autograd function's cost showing).
SIGMOID_TANH_MIN_SIZE = 32768


class SparseInputs:
    """A batch of network inputs with ``nnz`` nonzero entries per row.

    Args:
        columns: ``[B, nnz]`` each row's input indices, distinct within a row.
        values: ``[B, nnz]`` float32 values at those inputs (``None``: all ones).
        width: the number of inputs (the network's ``obs_dim``).
    """

    def __init__(self, columns: np.ndarray, values: np.ndarray | None, width: int) -> None:
        columns = np.asarray(columns)
        if columns.ndim != 2 or (columns.size and not 0 <= columns.min() <= columns.max() < width):
            raise ValueError(f"columns must be [B, nnz] input indices in [0, {width}), got shape "
                             f"{columns.shape}" + (f" and values in [{columns.min()}, "
                                                   f"{columns.max()}]" if columns.size else ""))
        if values is not None and np.shape(values) != columns.shape:
            raise ValueError(f"values must have the columns' shape {columns.shape}, got "
                             f"{np.shape(values)}")
        self._hold(th.from_numpy(np.ascontiguousarray(columns, np.int64)),
                   None if values is None else th.from_numpy(
                       np.ascontiguousarray(values, np.float32)), width)

    def _hold(self, columns: th.Tensor, values: th.Tensor | None, width: int) -> None:
        self.width = width
        self.columns = columns
        self.values = values
        self._by_input: ByInput | None = None

    def __len__(self) -> int:
        return len(self.columns)

    def __getitem__(self, rows: th.Tensor | np.ndarray | slice) -> SparseInputs:
        """The inputs of ``rows`` (indices, a boolean mask or a slice; a new batch whose rows
        were checked with this one's)."""
        if not isinstance(rows, slice):
            rows = th.as_tensor(rows)
            # index_select: a third of the time of indexing with an index array
            rows = rows.nonzero().squeeze(1) if rows.dtype == th.bool else rows.long()
        picked = SparseInputs.__new__(SparseInputs)
        picked._hold(_pick(self.columns, rows),
                     None if self.values is None else _pick(self.values, rows), self.width)
        return picked

    def dense(self) -> th.Tensor:
        """The dense ``[B, width]`` float32 inputs."""
        out = th.zeros((len(self), self.width))
        return out.scatter_(1, self.columns, 1.0 if self.values is None else self.values)

    def by_input(self) -> ByInput:
        """The batch grouped by input (the transpose's rows), built on first use: the weights'
        gradient sums, for each input, the output gradients of the rows that have it."""
        if self._by_input is None:
            flat = self.columns.numpy().ravel()
            # numpy sorts 16-bit keys by radix: a tenth of a 32-bit key's stable sort.
            keys = flat.astype(np.uint16) if self.width <= 1 << 16 else flat
            order = np.argsort(keys, kind="stable")
            offsets = np.zeros(self.width + 1, np.int64)
            np.cumsum(np.bincount(flat, minlength=self.width), out=offsets[1:])
            self._by_input = ByInput(
                th.from_numpy(order // self.columns.shape[1]), th.from_numpy(offsets),
                None if self.values is None else self.values.reshape(-1)[th.from_numpy(order)])
        return self._by_input


def _pick(tensor: th.Tensor, rows: th.Tensor | slice) -> th.Tensor:
    return tensor[rows].contiguous() if isinstance(rows, slice) else tensor.index_select(0, rows)


class ByInput(NamedTuple):
    """A :class:`SparseInputs` batch grouped by input: input ``i``'s rows are
    ``rows[offsets[i]:offsets[i + 1]]``, with ``values`` there (``None``: all ones)."""

    rows: th.Tensor
    offsets: th.Tensor
    values: th.Tensor | None


class _SparseLinear(th.autograd.Function):
    """Takes the layers' own weights and biases, so that their gradients reach them with no
    graph nodes between (the stacking is done here, untracked)."""

    @staticmethod
    def forward(ctx, inputs: SparseInputs, n_weights: int,  # type: ignore[override]
                *params: th.Tensor) -> th.Tensor:
        weights, biases = params[:n_weights], params[n_weights:]
        ctx.inputs, ctx.widths = inputs, [len(weight) for weight in weights]
        weights_t = (weights[0].t().contiguous() if n_weights == 1
                     else th.cat([weight.t() for weight in weights], dim=1))
        # torch's embedding bag sums the rows of the codes (scaled by their values), faster
        # than its sparse matrix product, which fills and copies its output besides.
        out = th.nn.functional.embedding_bag(inputs.columns, weights_t, mode="sum",
                                             per_sample_weights=inputs.values)
        if biases:
            out.add_(biases[0] if n_weights == 1 else th.cat(biases))
        return out

    @staticmethod
    def backward(ctx, grad: th.Tensor) -> tuple[th.Tensor | None, ...]:
        n_weights = len(ctx.widths)
        wanted = ctx.needs_input_grad[2:]
        grads: list[th.Tensor | None] = [None] * len(wanted)
        if any(wanted[:n_weights]):
            # The transpose's product with the gradient, as an embedding bag again: one bag of
            # the gradient's rows per input (1,024 rows, grouping included: 216 µs against 370
            # for torch's CSR product; benchmarks/lean_layers.py, AMD EPYC Zen 4, one thread).
            by_input = ctx.inputs.by_input()
            grad_weights_t = th.nn.functional.embedding_bag(
                by_input.rows, grad.contiguous(), by_input.offsets, mode="sum",
                per_sample_weights=by_input.values, include_last_offset=True)
            grads[:n_weights] = [part.t() for part in grad_weights_t.split(ctx.widths, dim=1)]
        if any(wanted[n_weights:]):
            grads[n_weights:] = grad.sum(0).split(ctx.widths)
        return None, None, *grads


def sparse_linear(inputs: SparseInputs, weights: th.Tensor | Sequence[th.Tensor],
                  biases: th.Tensor | Sequence[th.Tensor] | None = None) -> th.Tensor:
    """``torch.nn.functional.linear`` of the dense form of ``inputs``, and its gradients with
    respect to the weights and biases (the inputs get none: they are observations).

    ``weights`` is one ``[out, width]`` weight as ``nn.Linear`` holds it, or several (the first
    layers of MLPs that read the same inputs), whose outputs come side by side from one
    product; ``biases`` likewise (or ``None``). The product reads the weights transposed, so
    one weight that is the transpose of a contiguous tensor costs no copy."""
    weights = [weights] if isinstance(weights, th.Tensor) else list(weights)
    for weight in weights:
        if weight.dim() != 2 or weight.shape[1] != inputs.width:
            raise ValueError(f"each weight must be [out, {inputs.width}] (the inputs' width), "
                             f"got {tuple(weight.shape)}")
    biases = [] if biases is None else [biases] if isinstance(biases, th.Tensor) else list(biases)
    if biases and [bias.shape for bias in biases] != [weight.shape[:1] for weight in weights]:
        raise ValueError(f"biases must be one [out] per weight, got "
                         f"{[tuple(bias.shape) for bias in biases]} for weights "
                         f"{[tuple(weight.shape) for weight in weights]}")
    return _SparseLinear.apply(inputs, len(weights), *weights, *biases)


class _SigmoidTanh(th.autograd.Function):
    @staticmethod
    def forward(ctx, x: th.Tensor) -> th.Tensor:  # type: ignore[override]
        y = th.sigmoid(x * 2.0).mul_(2.0).sub_(1.0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: th.Tensor) -> th.Tensor:
        (y,) = ctx.saved_tensors
        return th.ops.aten.tanh_backward(grad, y)


def tanh(x: th.Tensor) -> th.Tensor:
    """``torch.tanh(x)`` as ``2 sigmoid(2x) - 1``, within 2e-7 of it (absolute), and its
    gradient ``1 - tanh(x)^2``; for float32 CPU tensors of ``SIGMOID_TANH_MIN_SIZE`` elements
    or more, where it is faster (torch's own below)."""
    if x.device.type != "cpu" or x.dtype != th.float32 or x.numel() < SIGMOID_TANH_MIN_SIZE:
        return th.tanh(x)
    return _SigmoidTanh.apply(x)
