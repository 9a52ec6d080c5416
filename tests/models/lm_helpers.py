"""Small float64 models for the language-model tests: exact enough to compare paths with
``allclose`` at 1e-10, small enough that every test takes milliseconds."""

from __future__ import annotations

import math

import torch

from skillgym.models import CausalTransformer, TransformerConfig

TINY = TransformerConfig(n_layers=2, d_model=32, n_heads=4, context_length=64)


def constant_model(probabilities: dict[int, float]) -> CausalTransformer:
    """A float64 model whose next-token distribution is ``probabilities`` (token id -> p)
    whatever the context: the final norm's output is the first unit vector, so the logits are
    the embedding's first column. Every other token gets probability exp(-1000) = 0."""
    model = CausalTransformer(TINY).double()
    with torch.no_grad():
        model.norm.weight.zero_()
        model.norm.bias.zero_()
        model.norm.bias[0] = 1.0
        model.embed.weight[:, 0] = -1000.0
        for token, p in probabilities.items():
            model.embed.weight[token, 0] = math.log(p)
    return model
