"""Layers that make a small network's updates cheap on the CPU, with SB3's numbers.

A policy over categorical observations multiplies a one-hot input, mostly zeros, by its first
layers: at AEC's 581 inputs with 16 ones, that dense product was half of a PPO update's time
although 97 % of its terms are zero. :func:`sparse_linear` computes the same layer from a
:class:`SparseInputs` batch (each row's nonzero inputs and their values): the forward pass and
the weights' gradient each touch only those. :func:`tanh` is ``torch.tanh`` through the
sigmoid, which torch's CPU kernels compute about twice as fast on tensors of 65,536 elements.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch as th

# Below this batch the dense layers are about as fast: the sparse one's fixed costs (the
# weights' transposed copy, the gradient's index) match the dense product's work (forward and
# backward, `benchmarks/lean_layers.py`, AMD EPYC Zen 4 (family 25 model 17), one thread: one
# 64-wide MLP at 64 rows 235 µs sparse against 200 dense, at 128 rows 237 against 301, at
# 1,024 rows 366 against 1,825).
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
        self._transposed: th.Tensor | None = None

    def __len__(self) -> int:
        return len(self.columns)

    def __getitem__(self, rows: th.Tensor | np.ndarray | slice) -> SparseInputs:
        """The inputs of ``rows`` (a new batch; its rows were checked with this one's)."""
        picked = SparseInputs.__new__(SparseInputs)
        picked._hold(self.columns[rows].contiguous(),
                     None if self.values is None else self.values[rows].contiguous(), self.width)
        return picked

    def dense(self) -> th.Tensor:
        """The dense ``[B, width]`` float32 inputs."""
        out = th.zeros((len(self), self.width))
        return out.scatter_(1, self.columns, 1.0 if self.values is None else self.values)

    def transposed(self) -> th.Tensor:
        """The transpose ``[width, B]`` as a compressed sparse row matrix (the weights'
        gradient is its product with the output's gradient), built on first use."""
        if self._transposed is None:
            batch, nnz = self.columns.shape
            flat = self.columns.numpy().ravel()
            # numpy sorts 16-bit keys by radix: a tenth of a 32-bit key's stable sort.
            keys = flat.astype(np.uint16) if self.width <= 1 << 16 else flat
            order = np.argsort(keys, kind="stable")
            rows = np.zeros(self.width + 1, np.int64)
            np.cumsum(np.bincount(flat, minlength=self.width), out=rows[1:])
            values = (np.ones(len(flat), np.float32) if self.values is None
                      else self.values.numpy().ravel()[order])
            with warnings.catch_warnings():
                # torch calls CSR support "beta" on every first use; the product with a dense
                # matrix is all this needs, and is tested against the dense layer's gradient.
                warnings.simplefilter("ignore", UserWarning)
                self._transposed = th.sparse_csr_tensor(
                    th.from_numpy(rows), th.from_numpy(order // nnz), th.from_numpy(values),
                    size=(self.width, batch), check_invariants=False)
        return self._transposed


class _SparseLinear(th.autograd.Function):
    @staticmethod
    def forward(ctx, weight_t: th.Tensor, bias: th.Tensor | None,  # type: ignore[override]
                inputs: SparseInputs) -> th.Tensor:
        ctx.inputs = inputs
        ctx.has_bias = bias is not None
        # torch's embedding bag sums the rows of the codes (scaled by their values), faster
        # than its sparse matrix product, which fills and copies its output besides.
        out = th.nn.functional.embedding_bag(inputs.columns, weight_t, mode="sum",
                                             per_sample_weights=inputs.values)
        return out if bias is None else out.add_(bias)

    @staticmethod
    def backward(ctx, grad: th.Tensor) -> tuple[th.Tensor | None, th.Tensor | None, None]:
        grad_weight_t = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_weight_t = th.sparse.mm(ctx.inputs.transposed(), grad.contiguous())
        if ctx.has_bias and ctx.needs_input_grad[1]:
            grad_bias = grad.sum(0)
        return grad_weight_t, grad_bias, None


def sparse_linear(inputs: SparseInputs, weight: th.Tensor, bias: th.Tensor | None) -> th.Tensor:
    """``torch.nn.functional.linear`` of the dense form of ``inputs``, and its gradients with
    respect to ``weight`` and ``bias`` (the inputs get none: they are observations).

    ``weight`` is ``[out, width]`` as ``nn.Linear`` holds it; the product reads it transposed,
    so a ``weight`` that is the transpose of a contiguous tensor costs no copy."""
    if weight.shape[1] != inputs.width:
        raise ValueError(f"weight must have {inputs.width} columns (the inputs' width), "
                         f"got {tuple(weight.shape)}")
    return _SparseLinear.apply(weight.t().contiguous(), bias, inputs)


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
