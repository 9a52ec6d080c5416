"""The actor-critic forward pass in numpy, with the kernel's semantics.

Used below the batch size where a kernel launch pays off, and wherever no OpenCL platform
exists. Same inputs, same outputs, same masking and sampling rule as ``actor_critic.cl``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skillgym.kernels.spec import InputLayout, NetworkSpec

# MaskablePPO's logit for illegal actions, so log-probabilities agree with sb3-contrib.
MASKED_LOGIT = np.float32(-1e8)


def _first_layer(
    obs: np.ndarray | tuple[np.ndarray, np.ndarray],
    w: np.ndarray,
    b: np.ndarray,
    layout: InputLayout | None,
) -> np.ndarray:
    """``x W^T + b`` for a float input, or for a coded one as a gather and sum of rows."""
    if layout is None:
        x = obs @ w.T
    else:
        codes, dense = obs
        rows = w.T
        x = rows[codes].sum(axis=1)
        x += dense @ rows[list(layout.dense_inputs)]
    x += b
    return x


def _mlp(
    obs: np.ndarray | tuple[np.ndarray, np.ndarray],
    layers: Sequence[tuple[np.ndarray, np.ndarray]],
    activation: str,
    layout: InputLayout | None,
) -> np.ndarray:
    # Biases and activations in place: a new array per layer is the product's only.
    x = _first_layer(obs, *layers[0], layout)
    for w, b in layers[1:]:
        if activation == "tanh":
            np.tanh(x, out=x)
        else:
            np.maximum(x, 0, out=x)
        x = x @ w.T
        x += b
    return x


def _inverse_cdf(weight: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Per row, the first index whose cumulative weight exceeds ``uniform`` times the total;
    where rounding leaves none, the last index with a positive weight (as the kernel does)."""
    cum = np.cumsum(weight, axis=1)
    above = cum > (uniform * cum[:, -1])[:, None]
    last_positive = weight.shape[1] - 1 - (weight[:, ::-1] > 0).argmax(axis=1)
    return np.where(above.any(axis=1), above.argmax(axis=1), last_positive)


def actor_critic_numpy(
    spec: NetworkSpec,
    weights: Sequence[tuple[np.ndarray, np.ndarray]],
    obs: np.ndarray | tuple[np.ndarray, np.ndarray],
    masks: np.ndarray | None,
    uniforms: np.ndarray | None,
    layout: InputLayout | None = None,
    with_values: bool = True,
    with_log_probs: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One forward pass over a batch, in float32.

    Args:
        spec: the network's shape.
        weights: float32 ``(weight, bias)`` pairs in ``spec.layers()`` order.
        obs: ``[B, obs_dim]`` float32, or with a ``layout`` the pair ``(codes [B, n_codes]
            int32, dense [B, n_dense] float32)``.
        masks: ``[B, n_logits]`` booleans (``True`` = allowed), or ``None``.
        uniforms: ``[B, n_heads]`` uniforms in ``[0, 1)``, one per component to sample it
            by inverting its CDF, or ``None`` for the most likely action.
        layout: how a coded ``obs`` makes the network's input (see
            :class:`~skillgym.kernels.spec.InputLayout`).
        with_values: run the value MLP; ``False`` returns ``None`` for the values.
        with_log_probs: normalize every log-probability; ``False`` returns ``None`` for them
            (the kernel too normalizes only the chosen ones unless asked).

    Returns:
        ``actions [B, n_heads]`` int32, ``log_prob [B]`` of the chosen actions (summed over
        components), ``values [B]`` (or ``None``) and the normalized
        ``log_probs [B, n_logits]`` (or ``None``).
    """
    n_pi = len(spec.pi_layers) + 1
    logits = _mlp(obs, weights[:n_pi], spec.activation, layout)
    values = _mlp(obs, weights[n_pi:], spec.activation, layout)[:, 0] if with_values else None
    if masks is not None:
        logits = np.where(masks, logits, MASKED_LOGIT)
    starts = spec.head_starts
    log_probs = np.empty_like(logits) if with_log_probs else None
    batch = np.arange(len(logits))
    actions = np.empty((len(logits), spec.n_heads), dtype=np.int32)
    log_prob = np.zeros(len(logits), dtype=np.float32)
    for h in range(spec.n_heads):
        part = logits[:, starts[h] : starts[h + 1]]
        shifted = part - part.max(axis=1, keepdims=True)
        weight = np.exp(shifted)
        if uniforms is not None:
            # As in the kernel: no weight at all below -87 (masked logits are -1e8), so that
            # sampling never lands there. (In the total they are below float32's rounding.)
            weight[shifted < -87] = 0
        log_total = np.log(weight.sum(axis=1))
        if uniforms is None:
            actions[:, h] = shifted.argmax(axis=1)
        else:
            actions[:, h] = _inverse_cdf(weight, uniforms[:, h])
        log_prob += shifted[batch, actions[:, h]] - log_total
        if log_probs is not None:
            log_probs[:, starts[h] : starts[h + 1]] = shifted - log_total[:, None]
    if values is not None:
        values = values.astype(np.float32, copy=False)
    return actions, log_prob, values, log_probs
