"""The shape of an actor-critic network, and how its weights are laid out for the kernels.

A :class:`NetworkSpec` is all the kernels need to know about a policy: the input width, the
hidden widths of the policy and value MLPs, the activation, and the action components (one
categorical per entry of ``action_dims``: ``Discrete(n)`` is ``(n,)``, ``MultiDiscrete(nvec)``
is ``tuple(nvec)``). Weights are passed around as a list of ``(weight, bias)`` pairs in
``torch.nn.Linear`` layout (``weight`` is ``[out, in]``), in :meth:`NetworkSpec.layers` order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("tanh", "relu")


@dataclass(frozen=True)
class Layer:
    """One dense layer: ``n_in`` inputs, ``n_out`` outputs, its activation (``None`` for linear)."""

    n_in: int
    n_out: int
    activation: str | None


@dataclass(frozen=True)
class NetworkSpec:
    """An actor-critic MLP with categorical action components.

    Args:
        obs_dim: width of the (preprocessed, flattened) observation.
        pi_layers: hidden widths of the policy MLP, input side first; may be empty.
        vf_layers: hidden widths of the value MLP; may be empty.
        action_dims: number of choices of each action component.
        activation: ``"tanh"`` or ``"relu"``, applied after every hidden layer.
    """

    obs_dim: int
    pi_layers: tuple[int, ...]
    vf_layers: tuple[int, ...]
    action_dims: tuple[int, ...]
    activation: str = "tanh"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pi_layers", tuple(int(w) for w in self.pi_layers))
        object.__setattr__(self, "vf_layers", tuple(int(w) for w in self.vf_layers))
        object.__setattr__(self, "action_dims", tuple(int(n) for n in self.action_dims))
        if int(self.obs_dim) < 1:
            raise ValueError(f"obs_dim must be a positive integer, got {self.obs_dim!r}")
        for name in ("pi_layers", "vf_layers"):
            if any(w < 1 for w in getattr(self, name)):
                raise ValueError(f"{name} must hold positive widths, got {getattr(self, name)!r}")
        if not self.action_dims or any(n < 1 for n in self.action_dims):
            raise ValueError(
                f"action_dims must be a non-empty tuple of positive sizes, got {self.action_dims!r}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {ACTIVATIONS}, got {self.activation!r}"
            )

    @property
    def n_logits(self) -> int:
        """Total number of logits over all action components."""
        return sum(self.action_dims)

    @property
    def n_heads(self) -> int:
        """Number of action components."""
        return len(self.action_dims)

    @property
    def head_starts(self) -> tuple[int, ...]:
        """Offset of each component's first logit, followed by ``n_logits``."""
        return tuple(int(s) for s in np.concatenate([[0], np.cumsum(self.action_dims)]))

    def layers(self) -> list[Layer]:
        """Every dense layer: policy MLP, action head, value MLP, value head, in that order."""
        return self._trunk(self.pi_layers, self.n_logits) + self._trunk(self.vf_layers, 1)

    def _trunk(self, widths: tuple[int, ...], n_head: int) -> list[Layer]:
        sizes = (self.obs_dim, *widths)
        hidden = [Layer(a, b, self.activation) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        return hidden + [Layer(sizes[-1], n_head, None)]

    def check_weights(self, weights: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Raise ``ValueError`` unless ``weights`` holds a ``(weight, bias)`` of the right shapes
        for every layer."""
        layers = self.layers()
        if len(weights) != len(layers):
            raise ValueError(
                f"weights must hold {len(layers)} (weight, bias) pairs, got {len(weights)}"
            )
        for i, ((w, b), layer) in enumerate(zip(weights, layers, strict=True)):
            if np.shape(w) != (layer.n_out, layer.n_in) or np.shape(b) != (layer.n_out,):
                raise ValueError(
                    f"weights[{i}] must have shapes ({layer.n_out}, {layer.n_in}) and "
                    f"({layer.n_out},), got {np.shape(w)} and {np.shape(b)}"
                )

    def flops_per_sample(self) -> int:
        """Multiply-adds of all dense layers, counted as two floating-point operations each."""
        return sum(2 * layer.n_in * layer.n_out for layer in self.layers())


def pad_to(n: int, multiple: int) -> int:
    """``n`` rounded up to a multiple of ``multiple``."""
    return -(-n // multiple) * multiple


def value_head_is_column(spec: NetworkSpec) -> bool:
    """Whether the value head is packed as one weight column (see :func:`pack_weights`): when a
    hidden layer feeds it, so that its input rows are whole, zero-padded vectors."""
    return bool(spec.vf_layers)


def pack_weights(
    spec: NetworkSpec, weights: Sequence[tuple[np.ndarray, np.ndarray]], vector_width: int
) -> np.ndarray:
    """Lay the weights out for the explicit-SIMD kernel.

    Each layer becomes its transposed weight ``[n_in][pad(n_out)]`` followed by its bias
    ``[pad(n_out)]``, zero-padded so that every output row is a whole number of vectors; the
    padded neurons compute ``act(0) = 0`` and feed zero weights downstream. The value head,
    when :func:`value_head_is_column`, is instead its weight column ``[pad(n_in)]`` followed
    by its bias in a vector of its own: the kernel takes it as a dot product per sample,
    rather than a layer with one useful lane per output vector. (With one lane per vector,
    as the SIMT kernel has, the two layouts coincide.) Every block is a whole number of
    vectors long, so every vector load is aligned.
    """
    spec.check_weights(weights)
    blocks = []
    layers = spec.layers()
    for i, ((w, b), layer) in enumerate(zip(weights, layers, strict=True)):
        if i == len(layers) - 1 and value_head_is_column(spec):
            block = np.zeros(pad_to(layer.n_in, vector_width) + vector_width, dtype=np.float32)
            block[: layer.n_in] = np.asarray(w, dtype=np.float32)[0]
            block[pad_to(layer.n_in, vector_width)] = np.float32(b[0])
            blocks.append(block)
            continue
        block = np.zeros((layer.n_in + 1, pad_to(layer.n_out, vector_width)), dtype=np.float32)
        block[: layer.n_in, : layer.n_out] = np.asarray(w, dtype=np.float32).T
        block[layer.n_in, : layer.n_out] = np.asarray(b, dtype=np.float32)
        blocks.append(block.ravel())
    return np.concatenate(blocks)


def layer_offsets(spec: NetworkSpec, vector_width: int) -> list[int]:
    """Where each layer starts (in floats) in the array :func:`pack_weights` returns."""
    sizes = [(layer.n_in + 1) * pad_to(layer.n_out, vector_width) for layer in spec.layers()]
    return [int(x) for x in np.concatenate([[0], np.cumsum(sizes)[:-1]])]


@dataclass(frozen=True)
class InputLayout:
    """How an observation of categorical codes and dense values makes the network's input.

    One-hot encoded categorical observations (SB3's preprocessing of ``Discrete`` and
    ``MultiDiscrete``) are mostly zeros, and the first layer's product with a one-hot vector
    is a sum of weight rows. With a layout, each sample is given as ``n_codes`` integer codes
    (each the index of an input that is 1) and ``len(dense_inputs)`` floats (the values of
    those inputs); every other input is 0. The first layers then gather and add the codes'
    weight rows instead of multiplying the whole one-hot vector.

    Args:
        obs_dim: width of the network input the codes and dense values stand for.
        n_codes: codes per sample.
        dense_inputs: the input index of each dense value, distinct, in ``[0, obs_dim)``.
    """

    obs_dim: int
    n_codes: int
    dense_inputs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "dense_inputs", tuple(int(k) for k in self.dense_inputs))
        if int(self.obs_dim) < 1:
            raise ValueError(f"obs_dim must be a positive integer, got {self.obs_dim!r}")
        if int(self.n_codes) < 0:
            raise ValueError(f"n_codes must be >= 0, got {self.n_codes!r}")
        inputs = self.dense_inputs
        if len(set(inputs)) != len(inputs) or any(not 0 <= k < self.obs_dim for k in inputs):
            raise ValueError(
                f"dense_inputs must be distinct indices in [0, {self.obs_dim}), got {inputs!r}"
            )
        if self.n_codes + len(inputs) == 0:
            raise ValueError("an InputLayout needs at least one code or dense input")

    @property
    def n_dense(self) -> int:
        """Dense values per sample."""
        return len(self.dense_inputs)

    def expand(self, codes: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """The ``[B, obs_dim]`` float32 input that ``codes`` and ``dense`` stand for."""
        x = np.zeros((len(codes), self.obs_dim), dtype=np.float32)
        np.add.at(x, (np.arange(len(codes))[:, None], codes), 1.0)
        x[:, list(self.dense_inputs)] = dense
        return x
