"""The lean layers against their dense and exact forms, computed in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from skillgym.policies.lean_layers import SIGMOID_TANH_MIN_SIZE, SparseInputs, sparse_linear, tanh

WIDTH = 40


def sparse_batch(batch: int, with_values: bool, seed: int = 0):
    """Rows with 5 distinct inputs each (some repeated across rows, an input no row has), and
    their dense float64 form."""
    rng = np.random.default_rng(seed)
    columns = np.stack([rng.choice(WIDTH - 1, size=5, replace=False) for _ in range(batch)])
    values = rng.normal(size=columns.shape).astype(np.float32) if with_values else None
    dense = np.zeros((batch, WIDTH))
    np.put_along_axis(dense, columns, 1.0 if values is None else values, axis=1)
    return SparseInputs(columns, values, WIDTH), th.from_numpy(dense)


@pytest.mark.parametrize("with_values", [False, True], ids=["ones", "values"])
@pytest.mark.parametrize("with_bias", [False, True], ids=["no-bias", "bias"])
def test_sparse_linear_and_its_gradients_are_the_dense_layers(with_values, with_bias):
    inputs, dense = sparse_batch(70, with_values)
    gen = th.Generator().manual_seed(1)
    weight = th.randn(12, WIDTH, generator=gen, requires_grad=True)
    bias = th.randn(12, generator=gen, requires_grad=True) if with_bias else None
    upstream = th.randn(70, 12, generator=gen, dtype=th.float64)

    out = sparse_linear(inputs, weight, bias)
    out.backward(upstream.float())

    weight64 = weight.detach().double().requires_grad_()
    bias64 = bias.detach().double().requires_grad_() if with_bias else None
    expected = th.nn.functional.linear(dense, weight64, bias64)
    expected.backward(upstream)
    th.testing.assert_close(out.double(), expected.detach(), atol=1e-5, rtol=1e-5)
    th.testing.assert_close(weight.grad.double(), weight64.grad, atol=1e-4, rtol=1e-5)
    # the input no row has gets no gradient at all
    assert th.all(weight.grad[:, WIDTH - 1] == 0)
    if with_bias:
        th.testing.assert_close(bias.grad.double(), bias64.grad, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("with_values", [False, True], ids=["ones", "values"])
def test_several_layers_come_side_by_side_with_their_own_gradients(with_values):
    inputs, dense = sparse_batch(70, with_values)
    gen = th.Generator().manual_seed(2)
    layers = [th.nn.Linear(WIDTH, width) for width in (12, 5)]
    for layer in layers:
        for param in layer.parameters():
            param.data = th.randn(param.shape, generator=gen)
    upstream = th.randn(70, 17, generator=gen, dtype=th.float64)

    out = sparse_linear(inputs, [layer.weight for layer in layers],
                        [layer.bias for layer in layers])
    out.backward(upstream.float())

    exact = [layer.double() for layer in (th.nn.Linear(WIDTH, 12), th.nn.Linear(WIDTH, 5))]
    for mine, theirs in zip(layers, exact, strict=True):
        theirs.load_state_dict(mine.state_dict())
    expected = th.cat([layer(dense) for layer in exact], dim=1)
    expected.backward(upstream)
    th.testing.assert_close(out.double(), expected.detach(), atol=1e-5, rtol=1e-5)
    for mine, theirs in zip(layers, exact, strict=True):
        th.testing.assert_close(mine.weight.grad.double(), theirs.weight.grad, atol=1e-4,
                                rtol=1e-5)
        th.testing.assert_close(mine.bias.grad.double(), theirs.bias.grad, atol=1e-4, rtol=1e-5)
        # the gradients come in the parameters' own layout, for Adam's fused step
        assert mine.weight.grad.stride() == mine.weight.stride()
    with pytest.raises(ValueError, match=r"biases must be one \[out\] per weight"):
        sparse_linear(inputs, [layer.weight for layer in layers], [layers[0].bias])


def test_rows_of_sparse_inputs_by_index_mask_or_slice():
    inputs, dense = sparse_batch(9, with_values=True)
    index = np.array([7, 0, 3, 3])
    mask = np.arange(9) % 4 == 1
    for rows, expected in ((index, dense[index]), (th.as_tensor(index), dense[index]),
                           (mask, dense[mask]), (th.as_tensor(mask), dense[mask]),
                           (slice(2, 6), dense[2:6])):
        assert th.equal(inputs[rows].dense().double(), expected)


def test_sparse_linear_reads_a_transposed_weight_and_rejects_a_wrong_width():
    inputs, dense = sparse_batch(8, with_values=True)
    stacked = th.randn(WIDTH, 6)  # [width, out], contiguous: its transpose is the weight
    th.testing.assert_close(sparse_linear(inputs, stacked.t(), None).double(),
                            dense @ stacked.double(), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"each weight must be \[out, 40\]"):
        sparse_linear(inputs, th.zeros(6, WIDTH + 1), None)


def test_tanh_is_torchs_within_float32_rounding_with_its_gradient():
    x = th.cat([th.linspace(-20, 20, SIGMOID_TANH_MIN_SIZE), th.linspace(-1e-3, 1e-3, 1001),
                th.tensor([0.0, -0.0, 1e-30, -1e-30])]).requires_grad_()
    y = tanh(x)
    y.backward(th.ones_like(y))
    exact = th.tanh(x.detach().double())
    assert (y.detach().double() - exact).abs().max() <= 2e-7
    th.testing.assert_close(x.grad.double(), 1 - y.detach().double() ** 2, atol=1e-7, rtol=0)
    assert th.all(y.abs() <= 1)


def test_tanh_of_float64_or_a_small_tensor_is_torchs_own():
    x = th.linspace(-3, 3, SIGMOID_TANH_MIN_SIZE, dtype=th.float64)
    assert th.equal(tanh(x), th.tanh(x))
    small = th.linspace(-3, 3, SIGMOID_TANH_MIN_SIZE - 1)
    assert th.equal(tanh(small), th.tanh(small))


@pytest.mark.parametrize("columns, values, message", [
    (np.array([[0, WIDTH]]), None, r"input indices in \[0, 40\).*values in \[0, 40\]"),
    (np.array([[-1, 3]]), None, r"values in \[-1, 3\]"),
    (np.array([0, 3]), None, r"got shape \(2,\)"),
    (np.array([[0, 3]]), np.ones((1, 3), np.float32), r"values must have the columns' shape"),
])
def test_bad_sparse_inputs_are_named(columns, values, message):
    with pytest.raises(ValueError, match=message):
        SparseInputs(columns, values, WIDTH)
