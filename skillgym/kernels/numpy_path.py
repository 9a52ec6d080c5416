"""The actor-critic forward pass in numpy, with the kernel's semantics.

Used below the batch size where a kernel launch pays off, and wherever no OpenCL platform
exists. Same inputs, same outputs, same masking and Gumbel-max rule as ``actor_critic.cl``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skillgym.kernels.spec import NetworkSpec

# MaskablePPO's logit for illegal actions, so log-probabilities agree with sb3-contrib.
MASKED_LOGIT = np.float32(-1e8)


def _mlp(
    x: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]], activation: str
) -> np.ndarray:
    for i, (w, b) in enumerate(layers):
        x = x @ w.T + b
        if i < len(layers) - 1:
            x = np.tanh(x) if activation == "tanh" else np.maximum(x, 0, out=x)
    return x


def actor_critic_numpy(
    spec: NetworkSpec,
    weights: Sequence[tuple[np.ndarray, np.ndarray]],
    obs: np.ndarray,
    masks: np.ndarray | None,
    uniforms: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One forward pass over a batch, in float32.

    Args:
        spec: the network's shape.
        weights: float32 ``(weight, bias)`` pairs in ``spec.layers()`` order.
        obs: ``[B, obs_dim]`` float32.
        masks: ``[B, n_logits]`` booleans (``True`` = allowed), or ``None``.
        uniforms: ``[B, n_logits]`` uniforms in ``[0, 1)`` to sample by Gumbel-max, or
            ``None`` for the most likely action.

    Returns:
        ``actions [B, n_heads]`` int32, ``log_prob [B]`` of the chosen actions (summed over
        components), ``values [B]`` and the normalized ``log_probs [B, n_logits]``.
    """
    n_pi = len(spec.pi_layers) + 1
    logits = _mlp(obs, weights[:n_pi], spec.activation)
    values = _mlp(obs, weights[n_pi:], spec.activation)[:, 0]
    if masks is not None:
        logits = np.where(masks, logits, MASKED_LOGIT)
    starts = spec.head_starts
    log_probs = np.empty_like(logits)
    batch = np.arange(len(obs))
    actions = np.empty((len(obs), spec.n_heads), dtype=np.int32)
    log_prob = np.zeros(len(obs), dtype=np.float32)
    for h in range(spec.n_heads):
        part = logits[:, starts[h] : starts[h + 1]]
        shifted = part - part.max(axis=1, keepdims=True)
        weight = np.exp(shifted)
        lp = shifted - np.log(weight.sum(axis=1, keepdims=True))
        log_probs[:, starts[h] : starts[h + 1]] = lp
        score = lp
        if uniforms is not None:
            # Gumbel-max as an exponential race, as in the kernel: argmax p_i / (-log u_i).
            with np.errstate(divide="ignore"):
                score = weight / -np.log(uniforms[:, starts[h] : starts[h + 1]])
        actions[:, h] = score.argmax(axis=1)
        log_prob += lp[batch, actions[:, h]]
    return actions, log_prob, values.astype(np.float32, copy=False), log_probs
