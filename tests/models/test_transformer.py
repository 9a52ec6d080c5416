"""The transformer's forward against a loop-by-loop reference, its padding and cache
invariances, its config checks and the log-probabilities built on it."""

from __future__ import annotations

import math

import pytest
import torch

from skillgym.models import (
    PAD,
    VOCAB_SIZE,
    CausalTransformer,
    TransformerConfig,
    pad_batch,
    token_log_probs,
)


def reference_logits(model: CausalTransformer, ids: list[int]) -> torch.Tensor:
    """The oracle: one unpadded sequence through the model's weights, token by token, with the
    rotation as an explicit matrix per position and attention as a loop over heads."""
    c = model.config
    half = c.head_dim // 2

    def norm(x, layer):
        centered = x - x.mean(-1, keepdim=True)
        var = (centered ** 2).mean(-1, keepdim=True)
        return centered / torch.sqrt(var + layer.eps) * layer.weight + layer.bias

    def rotation(position):
        matrix = torch.zeros(c.head_dim, c.head_dim, dtype=torch.float64)
        for i in range(half):
            angle = position * c.rope_base ** (-2 * i / c.head_dim)
            matrix[i, i] = matrix[i + half, i + half] = math.cos(angle)
            matrix[i, i + half], matrix[i + half, i] = -math.sin(angle), math.sin(angle)
        return matrix

    rotations = [rotation(p) for p in range(len(ids))]
    x = model.embed.weight[ids]
    for block in model.blocks:
        q, k, v = (norm(x, block.norm1) @ block.attention.qkv.weight.T).split(c.d_model, -1)
        heads = []
        for h in range(c.n_heads):
            cols = slice(h * c.head_dim, (h + 1) * c.head_dim)
            qh = torch.stack([rotations[t] @ q[t, cols] for t in range(len(ids))])
            kh = torch.stack([rotations[t] @ k[t, cols] for t in range(len(ids))])
            scores = qh @ kh.T / math.sqrt(c.head_dim)
            scores = scores.masked_fill(torch.ones_like(scores).triu(1).bool(), -math.inf)
            heads.append(scores.softmax(-1) @ v[:, cols])
        x = x + torch.cat(heads, -1) @ block.attention.out.weight.T
        first, _, second = block.mlp
        hidden = norm(x, block.norm2) @ first.weight.T + first.bias
        hidden = 0.5 * hidden * (1 + torch.erf(hidden / math.sqrt(2)))
        x = x + hidden @ second.weight.T + second.bias
    return norm(x, model.norm) @ model.embed.weight.T


SEQUENCES = [[257, 260, 50, 43, 51, 63, 258, 261], [257, 72, 105], list(range(40, 70))]


def test_default_config_has_the_documented_size():
    c = TransformerConfig()
    per_block = 2 * 2 * c.d_model + 4 * c.d_model ** 2 + 2 * 4 * c.d_model ** 2 + 5 * c.d_model
    expected = VOCAB_SIZE * c.d_model + c.n_layers * per_block + 2 * c.d_model
    assert CausalTransformer().num_parameters() == expected == 824_832


def test_forward_matches_the_reference(tiny_model):
    with torch.no_grad():
        for ids in SEQUENCES:
            logits = tiny_model(torch.tensor([ids]))[0]
            torch.testing.assert_close(logits, reference_logits(tiny_model, ids),
                                       rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_does_not_change_a_rows_logits(tiny_model, side):
    ids, mask = pad_batch(SEQUENCES, side=side)
    with torch.no_grad():
        batched = tiny_model(ids, mask)
        for row, sequence in enumerate(SEQUENCES):
            alone = tiny_model(torch.tensor([sequence]))[0]
            torch.testing.assert_close(batched[row][mask[row]], alone, rtol=1e-10, atol=1e-10)
    assert torch.isfinite(batched).all()  # padding queries too


def test_cached_steps_equal_the_full_forward(tiny_model):
    """Prefill a left-padded batch, then feed a continuation one token per call: each call's
    logits equal the full forward's at the same column, and the last column alone."""
    prompts, mask = pad_batch([s[:5] if len(s) > 5 else s for s in SEQUENCES], side="left")
    continuation = torch.tensor([[65, 66, 67, 68], [90, 91, 92, 93], [33, 34, 35, 36]])
    ids = torch.cat([prompts, continuation], 1)
    full_mask = torch.cat([mask, torch.ones_like(continuation, dtype=torch.bool)], 1)
    width = prompts.shape[1]
    with torch.no_grad():
        full = tiny_model(ids, full_mask)
        cache = tiny_model.new_cache(len(SEQUENCES), ids.shape[1])
        prefill = tiny_model(prompts, mask, cache=cache)
        torch.testing.assert_close(prefill, full[:, :width], rtol=1e-10, atol=1e-10)
        for step in range(continuation.shape[1]):
            column = width + step
            logits = tiny_model(ids[:, column:column + 1], full_mask[:, column:column + 1],
                                cache=cache)
            torch.testing.assert_close(logits[:, 0], full[:, column], rtol=1e-10, atol=1e-10)
        last = tiny_model(ids, full_mask, last_only=True)
    torch.testing.assert_close(last[:, 0], full[:, -1], rtol=1e-10, atol=1e-10)
    assert cache.length == ids.shape[1]
    assert cache.seen.tolist() == full_mask.sum(1).tolist()


def test_forward_rejects_more_tokens_than_fit(tiny_model):
    with pytest.raises(ValueError, match="context_length"):
        tiny_model(torch.zeros((1, 65), dtype=torch.long))
    cache = tiny_model.new_cache(1, 4)
    with pytest.raises(ValueError, match="cache capacity"):
        tiny_model(torch.zeros((1, 5), dtype=torch.long), cache=cache)


@pytest.mark.parametrize("kwargs, name", [
    ({"n_layers": 0}, "n_layers"),
    ({"d_model": 2.5}, "d_model"),
    ({"n_heads": True}, "n_heads"),
    ({"context_length": -1}, "context_length"),
    ({"mlp_ratio": 0}, "mlp_ratio"),
    ({"d_model": 30, "n_heads": 4}, "n_heads"),
    ({"d_model": 12, "n_heads": 4}, "n_heads"),  # odd head width: no rotary pairs
    ({"vocab_size": 100}, "vocab_size"),
    ({"rope_base": 1.0}, "rope_base"),
    ({"rope_base": math.inf}, "rope_base"),
])
def test_bad_config_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TransformerConfig(**kwargs)


def test_token_log_probs_are_the_next_tokens_under_the_reference(tiny_model):
    ids, mask = pad_batch(SEQUENCES, side="right")
    with torch.no_grad():
        scored = token_log_probs(tiny_model, ids, mask, temperature=0.5)
    for row, sequence in enumerate(SEQUENCES):
        expected = (reference_logits(tiny_model, sequence)[:-1] / 0.5).log_softmax(-1)
        expected = expected.gather(1, torch.tensor(sequence[1:])[:, None]).squeeze(1)
        torch.testing.assert_close(scored[row, :len(sequence) - 1], expected,
                                   rtol=1e-10, atol=1e-10)
    assert (ids[:, 1:][~mask[:, 1:]] == PAD).all()
    with pytest.raises(ValueError, match="temperature"):
        token_log_probs(tiny_model, ids, mask, temperature=0)


def test_training_on_token_log_probs_learns_a_sequence(tiny_model):
    """Gradients flow through the forward: Adam on one sequence's negative log-likelihood
    drives it from about log(262) per token towards 0."""
    ids = torch.tensor([SEQUENCES[0]])
    optimizer = torch.optim.Adam(tiny_model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = -token_log_probs(tiny_model, ids).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 2.0 and losses[-1] < 0.05
