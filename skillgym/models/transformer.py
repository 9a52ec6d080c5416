"""A small byte-level causal transformer: pre-norm blocks, rotary positions, a KV cache.

One forward serves training, scoring and generation: ``model(ids, attention_mask)`` returns
next-token logits for every position of a batch padded anywhere (left-padded prompts,
right-padded training rows, or both); positions count each row's real tokens, so padding never
changes a row's logits. Given a :class:`KVCache`, the same forward appends the new tokens'
keys and values to the cache and attends over everything cached so far: a prompt is one call
(the prefill), then each generated token one call of length 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from skillgym.models.tokenizer import VOCAB_SIZE


@dataclass(frozen=True)
class TransformerConfig:
    """The shape of a :class:`CausalTransformer`.

    The default (4 layers of width 128, 8 heads of 16, 512-byte context; 824,832 parameters) is
    the model the Keye environments train: see docs/models.md for how it was chosen.

    Attributes:
        n_layers: transformer blocks.
        d_model: width of the residual stream and the token embeddings.
        n_heads: attention heads; must divide ``d_model`` into an even head width (rotary
            positions rotate pairs of dimensions).
        context_length: most tokens (prompt and reply) a row may hold.
        mlp_ratio: hidden width of each block's MLP, in multiples of ``d_model``.
        vocab_size: token ids; at least the byte tokenizer's 262.
        rope_base: base of the rotary position frequencies.
    """

    n_layers: int = 4
    d_model: int = 128
    n_heads: int = 8
    context_length: int = 512
    mlp_ratio: int = 4
    vocab_size: int = VOCAB_SIZE
    rope_base: float = 10_000.0

    def __post_init__(self) -> None:
        for name in ("n_layers", "d_model", "n_heads", "context_length", "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(
                f"n_heads must divide d_model into an even head width, got d_model="
                f"{self.d_model}, n_heads={self.n_heads}")
        if not isinstance(self.vocab_size, int) or self.vocab_size < VOCAB_SIZE:
            raise ValueError(
                f"vocab_size must be an int >= {VOCAB_SIZE} (the byte tokenizer's ids), "
                f"got {self.vocab_size!r}")
        if not isinstance(self.rope_base, (int, float)) or not 1 < self.rope_base < math.inf:
            raise ValueError(f"rope_base must be a finite number > 1, got {self.rope_base!r}")

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.d_model // self.n_heads

    def to_dict(self) -> dict[str, int | float]:
        """The config as plain values (for checkpoints and run configs)."""
        return asdict(self)


class KVCache:
    """Keys and values of every layer for a batch, preallocated for ``capacity`` columns.

    Columns are shared by the batch (row ``b``'s token ``j`` of a left-padded batch sits in
    column ``j`` like every other row's); ``valid`` marks the columns holding a row's real
    tokens and ``seen`` counts them, which is the position of the row's next token.
    """

    def __init__(self, config: TransformerConfig, batch: int, capacity: int,
                 dtype: torch.dtype, device: torch.device) -> None:
        shape = (config.n_layers, batch, config.n_heads, capacity, config.head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.valid = torch.zeros((batch, capacity), dtype=torch.bool, device=device)
        self.seen = torch.zeros(batch, dtype=torch.long, device=device)
        self.length = 0

    @property
    def capacity(self) -> int:
        """Columns the cache can hold."""
        return self.valid.shape[1]

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the batch rows ``rows`` (int64 indices), in that order."""
        self.keys = self.keys.index_select(1, rows)
        self.values = self.values.index_select(1, rows)
        self.valid = self.valid.index_select(0, rows)
        self.seen = self.seen.index_select(0, rows)


class CausalTransformer(nn.Module):
    """Decoder-only transformer over byte tokens, with the output head tied to the embedding.

    Each block is ``x + attention(norm(x))`` then ``x + mlp(norm(x))``; attention applies
    rotary position embeddings to queries and keys. Parameters are float32 unless converted
    (``.double()`` gives the exact reference the tests compare against).
    """

    def __init__(self, config: TransformerConfig | None = None) -> None:
        super().__init__()
        self.config = config or TransformerConfig()
        c = self.config
        self.embed = nn.Embedding(c.vocab_size, c.d_model)
        self.blocks = nn.ModuleList(_Block(c) for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(c.d_model)
        # Kept in float64 outside the state dict: .float() / .double() leave it alone, so the
        # rotation angles are exact whatever the parameters' dtype.
        self._inv_freq = c.rope_base ** (
            -torch.arange(0, c.head_dim, 2, dtype=torch.float64) / c.head_dim)
        self._initialize()

    def _initialize(self) -> None:
        """GPT-2's initialization: N(0, 0.02), residual projections scaled by 1/sqrt(2 L) so
        that the residual stream's variance does not grow with depth."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
        for block in self.blocks:
            for projection in (block.attention.out, block.mlp[2]):
                nn.init.normal_(projection.weight, std=0.02 / math.sqrt(2 * self.config.n_layers))

    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return sum(p.numel() for p in self.parameters())

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        """An empty cache for ``batch`` rows and ``capacity`` columns, in the model's dtype."""
        weight = self.embed.weight
        return KVCache(self.config, batch, capacity, weight.dtype, weight.device)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                cache: KVCache | None = None, last_only: bool = False) -> torch.Tensor:
        """Next-token logits, ``(batch, tokens, vocab)`` (``tokens`` = 1 with ``last_only``).

        Args:
            ids: ``(batch, tokens)`` int64 token ids.
            attention_mask: bool (or 0/1) ``(batch, tokens)``, true on real tokens; ``None``
                when every token is real. Logits at padding positions are finite and
                meaningless.
            cache: append these tokens to ``cache`` and attend over all its columns (the
                prompt in one call, then one token per call).
            last_only: compute the head for the last column only (what generation needs).
        """
        if ids.dim() != 2:
            raise ValueError(f"ids must be (batch, tokens), got shape {tuple(ids.shape)}")
        batch, tokens = ids.shape
        start = 0 if cache is None else cache.length
        limit = self.config.context_length if cache is None else cache.capacity - start
        if tokens > limit:
            raise ValueError(f"ids has {tokens} tokens, more than the {limit} that fit "
                             f"({'context_length' if cache is None else 'cache capacity'})")
        real = (torch.ones_like(ids, dtype=torch.bool) if attention_mask is None
                else attention_mask.to(torch.bool))
        positions = real.cumsum(1) - 1
        if cache is not None:
            positions = positions + cache.seen[:, None]
            cache.valid[:, start:start + tokens] = real
            cache.seen += real.sum(1)
        cos, sin = self._rotation(positions.clamp(min=0))
        mask = self._attention_mask(real, cache, start)
        x = self.embed(ids)
        for layer, block in enumerate(self.blocks):
            kv = None if cache is None else (cache.keys[layer], cache.values[layer])
            x = block(x, cos, sin, mask, kv, start)
        if cache is not None:
            cache.length = start + tokens
        if last_only:
            x = x[:, -1:]
        return F.linear(self.norm(x), self.embed.weight)

    def _rotation(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cosines and sines of the rotary angles, ``(batch, 1, tokens, head_dim / 2)``."""
        inv_freq = self._inv_freq.to(positions.device)
        angles = positions.to(torch.float64)[:, None, :, None] * inv_freq
        dtype = self.embed.weight.dtype
        return angles.cos().to(dtype), angles.sin().to(dtype)

    @staticmethod
    def _attention_mask(real: torch.Tensor, cache: KVCache | None,
                        start: int) -> torch.Tensor | None:
        """Which keys each query sees, ``(batch, 1, queries, keys)``: real keys at or before
        the query's column. A query also sees its own column: a left-padding query's keys may
        all be padding, and before torch 2.5 attention over no key gave NaN, which then spread
        to real tokens through their zero weights on that column (0 x NaN).
        ``None`` (plain causal attention) when there is no padding and no cache."""
        if cache is None and bool(real.all()):
            return None
        tokens = real.shape[1]
        keys = real if cache is None else cache.valid[:, :start + tokens]
        query_columns = torch.arange(start, start + tokens, device=real.device)[:, None]
        key_columns = torch.arange(keys.shape[1], device=real.device)[None, :]
        causal = key_columns <= query_columns
        return (keys[:, None, None, :] & causal) | (key_columns == query_columns)


class _Attention(nn.Module):
    """Multi-head self-attention with rotary positions, reading and writing a layer's cache."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.n_heads, self.head_dim = config.n_heads, config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.out = nn.Linear(config.d_model, config.d_model, bias=False)

    def forward(self, x, cos, sin, mask, kv, start):
        batch, tokens, width = x.shape
        q, k, v = self.qkv(x).view(batch, tokens, 3, self.n_heads, self.head_dim).permute(
            2, 0, 3, 1, 4)
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        if kv is not None:
            keys, values = kv
            keys[:, :, start:start + tokens] = k
            values[:, :, start:start + tokens] = v
            k, v = keys[:, :, :start + tokens], values[:, :, :start + tokens]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        return self.out(y.transpose(1, 2).reshape(batch, tokens, width))


class _Block(nn.Module):
    """Pre-norm transformer block: attention then a GELU MLP, each added to the residual."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        hidden = config.mlp_ratio * config.d_model
        self.norm1 = nn.LayerNorm(config.d_model)
        self.attention = _Attention(config)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(nn.Linear(config.d_model, hidden), nn.GELU(),
                                 nn.Linear(hidden, config.d_model))

    def forward(self, x, cos, sin, mask, kv, start):
        x = x + self.attention(self.norm1(x), cos, sin, mask, kv, start)
        return x + self.mlp(self.norm2(x))


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding: rotate each pair (dimension i, dimension i + head_dim / 2) of ``x``
    (``batch, heads, tokens, head_dim``) by its position's angle (GPT-NeoX's layout)."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)
