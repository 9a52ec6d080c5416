"""NetworkSpec validation and the padded weight layout."""

from __future__ import annotations

import numpy as np
import pytest

from skillgym.kernels import InputLayout, NetworkSpec
from skillgym.kernels.spec import layer_offsets, pack_weights, value_head_is_column


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"obs_dim": 0}, "obs_dim must be a positive integer"),
        ({"pi_layers": (4, 0)}, "pi_layers must hold positive widths"),
        ({"vf_layers": (-1,)}, "vf_layers must hold positive widths"),
        ({"action_dims": ()}, "action_dims must be a non-empty tuple"),
        ({"action_dims": (3, 0)}, "action_dims must be a non-empty tuple"),
        ({"activation": "gelu"}, r"activation must be one of \('tanh', 'relu'\)"),
    ],
)
def test_invalid_specs_are_rejected(kwargs, message):
    base = {"obs_dim": 4, "pi_layers": (8,), "vf_layers": (8,), "action_dims": (2,)}
    with pytest.raises(ValueError, match=message):
        NetworkSpec(**{**base, **kwargs})


def test_layers_heads_and_flops():
    spec = NetworkSpec(5, (7, 3), (6,), (2, 4))
    assert [(la.n_in, la.n_out, la.activation) for la in spec.layers()] == [
        (5, 7, "tanh"), (7, 3, "tanh"), (3, 6, None), (5, 6, "tanh"), (6, 1, None),
    ]
    assert spec.head_starts == (0, 2, 6)
    assert spec.flops_per_sample() == 2 * (35 + 21 + 18 + 30 + 6)


def test_pack_weights_transposes_and_zero_pads():
    spec = NetworkSpec(3, (5,), (), (2,))
    rng = np.random.default_rng(0)
    weights = [
        (rng.normal(size=(la.n_out, la.n_in)), rng.normal(size=la.n_out)) for la in spec.layers()
    ]
    packed = pack_weights(spec, weights, vector_width=4)
    offsets = layer_offsets(spec, 4)
    assert offsets == [0, 4 * 8, 4 * 8 + 6 * 4]
    assert all(offset % 4 == 0 for offset in offsets)
    assert len(packed) == offsets[-1] + 4 * 4
    first = packed[: offsets[1]].reshape(4, 8)  # [n_in + 1][pad(5, 4)]
    np.testing.assert_array_equal(first[:3, :5], weights[0][0].T.astype(np.float32))
    np.testing.assert_array_equal(first[3, :5], weights[0][1].astype(np.float32))
    assert not first[:, 5:].any()
    value_head = packed[offsets[2] :].reshape(4, 4)
    np.testing.assert_array_equal(value_head[:3, 0], weights[2][0][0].astype(np.float32))
    assert not value_head[:, 1:].any()


def test_value_head_after_a_hidden_layer_is_packed_as_a_column():
    spec = NetworkSpec(3, (), (5,), (2,))
    rng = np.random.default_rng(1)
    weights = [
        (rng.normal(size=(la.n_out, la.n_in)), rng.normal(size=la.n_out)) for la in spec.layers()
    ]
    assert value_head_is_column(spec)
    packed = pack_weights(spec, weights, vector_width=4)
    offsets = layer_offsets(spec, 4)
    assert offsets == [0, 4 * 4, 4 * 4 + 4 * 8]
    column = packed[offsets[2] :]
    assert len(column) == 8 + 4  # [pad(5, 4)] weights, then the bias in a vector of its own
    np.testing.assert_array_equal(column[:5], weights[2][0][0].astype(np.float32))
    assert column[8] == np.float32(weights[2][1][0])
    assert not column[5:8].any() and not column[9:].any()
    # With one lane per vector (the SIMT kernel) the column is the ordinary [n_in][1] layout.
    one_lane = pack_weights(spec, weights, vector_width=1)
    expected = np.concatenate([weights[2][0].T.ravel(), weights[2][1]]).astype(np.float32)
    np.testing.assert_array_equal(one_lane[layer_offsets(spec, 1)[2] :], expected)


def test_value_head_reading_the_observation_is_not_a_column():
    assert not value_head_is_column(NetworkSpec(3, (4,), (), (2,)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"obs_dim": 0}, "obs_dim must be a positive integer"),
        ({"n_codes": -1}, "n_codes must be >= 0"),
        ({"dense_inputs": (1, 1)}, r"dense_inputs must be distinct indices in \[0, 6\)"),
        ({"dense_inputs": (6,)}, r"dense_inputs must be distinct indices in \[0, 6\)"),
        ({"n_codes": 0, "dense_inputs": ()}, "needs at least one code or dense input"),
    ],
)
def test_invalid_input_layouts_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InputLayout(**{"obs_dim": 6, "n_codes": 2, "dense_inputs": (0,), **kwargs})


def test_input_layout_expands_to_the_one_hot_input():
    layout = InputLayout(6, 2, (5, 0))
    x = layout.expand(np.array([[1, 3], [2, 2]]), np.array([[0.5, -1.0], [2.0, 3.0]]))
    np.testing.assert_array_equal(
        x, [[-1.0, 1.0, 0.0, 1.0, 0.0, 0.5], [3.0, 0.0, 2.0, 0.0, 0.0, 2.0]]
    )
