"""An independent float64 torch implementation of the actor-critic forward pass, and weights."""

from __future__ import annotations

import numpy as np
import torch

from skillgym.kernels import NetworkSpec


def random_weights(spec: NetworkSpec, rng: np.random.Generator) -> list[tuple[np.ndarray, ...]]:
    """Weights drawn like ``torch.nn.Linear``'s default: uniform in +-1/sqrt(fan_in)."""
    weights = []
    for layer in spec.layers():
        bound = 1.0 / np.sqrt(layer.n_in)
        w = rng.uniform(-bound, bound, size=(layer.n_out, layer.n_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, size=layer.n_out).astype(np.float32)
        weights.append((w, b))
    return weights


def oracle(spec: NetworkSpec, weights, obs: np.ndarray, masks: np.ndarray | None = None):
    """Normalized log-probabilities ``[B, n_logits]`` and values ``[B]`` in float64."""
    act = torch.tanh if spec.activation == "tanh" else torch.relu
    x = torch.as_tensor(obs, dtype=torch.float64)
    params = [(torch.as_tensor(w, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64))
              for w, b in weights]
    n_pi = len(spec.pi_layers) + 1

    def mlp(layers):
        h = x
        for i, (w, b) in enumerate(layers):
            h = torch.nn.functional.linear(h, w, b)
            if i < len(layers) - 1:
                h = act(h)
        return h

    logits = mlp(params[:n_pi])
    values = mlp(params[n_pi:])[:, 0]
    if masks is not None:
        masked = torch.tensor(-1e8, dtype=torch.float64)  # MaskablePPO's value
        logits = torch.where(torch.as_tensor(masks), logits, masked)
    starts = spec.head_starts
    log_probs = torch.cat(
        [torch.log_softmax(logits[:, starts[h]:starts[h + 1]], dim=1) for h in range(spec.n_heads)],
        dim=1,
    )
    return log_probs.numpy(), values.numpy()
