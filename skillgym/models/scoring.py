"""Log-probabilities of given tokens: what supervised losses and policy-gradient ratios need."""

from __future__ import annotations

import torch

from skillgym.models.transformer import CausalTransformer


def token_log_probs(model: CausalTransformer, ids: torch.Tensor,
                    attention_mask: torch.Tensor | None = None, *,
                    temperature: float = 1.0) -> torch.Tensor:
    """``(batch, tokens - 1)``: the log-probability of each token ``ids[:, t + 1]`` given the
    row's tokens up to ``t``, under the model's logits divided by ``temperature``.

    Runs with gradients when they are enabled (training) and without under ``torch.no_grad``
    (scoring, a frozen reference model). Values at padding targets are meaningless: mask them.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    logits = model(ids[:, :-1], None if attention_mask is None else attention_mask[:, :-1])
    log_probs = (logits / temperature).log_softmax(-1)
    return log_probs.gather(-1, ids[:, 1:, None]).squeeze(-1)
