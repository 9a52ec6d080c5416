"""The built-in language model as a policy of Keye-TextGen's batched twin, with a KV cache.

Every step of :class:`~skillgym.envs.keye.text_gen.TextGenVectorEnv` asks each sub-environment
for one token. A language model answering from the observation alone would recompute the whole
window for every token; :class:`CachedLMPolicy` keeps every layer's keys and values across
steps instead, so a step costs one new column per row. The env resets rows at different steps
(same-step autoreset): a row whose episode begins is forgotten in the cache (its columns masked
out, its position back to 0) and its new prompt is fed alone, while the others feed the token
they chose. The cache's columns are shared by the batch, so restarts use up columns; when the
next step would not fit, the cache is rebuilt from every row's conversation, which costs one
prefill.

The policy reads only the observation's tokens (the conversation, right-aligned, PAD on the
left) and which rows begin an episode, so it works with any env of that observation whose
window holds the whole conversation (Keye-TextGen ends a reply when its window is full). It
keeps only each conversation's length: the conversation itself is the observation's last
``length`` tokens (a PAD the model wrote inside a reply stays a token of it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from skillgym.models import (
    PAD,
    CausalTransformer,
    KVCache,
    SamplingParams,
    sample_next,
)


class CachedLMPolicy:
    """Next tokens for ``num_envs`` conversations from ``model``, its KV cache kept between
    calls.

    Args:
        model: the language model (not changed; evaluated under ``torch.inference_mode``).
        num_envs: the batch of the env it acts in.
        params: sampling settings (temperature, top-k, top-p; ``max_new_tokens`` and ``stop``
            are the env's business and ignored here); default: temperature 1.
        generator: the random source of sampling; the same seed gives the same actions.
        capacity: cache columns before a rebuild; default twice the model's context.
    """

    def __init__(self, model: CausalTransformer, num_envs: int,
                 params: SamplingParams | None = None, generator: torch.Generator | None = None,
                 capacity: int | None = None) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        context = model.config.context_length
        capacity = 2 * context if capacity is None else capacity
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < context:
            raise ValueError(f"capacity must be an int >= the model's context ({context}), got "
                             f"{capacity!r}")
        self.model = model
        self.num_envs = num_envs
        self.params = params or SamplingParams()
        self.generator = generator
        self.capacity = capacity
        #: How many times the cache was built from the conversations (first call included).
        self.rebuilds = 0
        #: ``(num_envs, vocab)``: the logits the last actions were sampled from (temperature
        #: 1, unfiltered), e.g. for their log-probabilities.
        self.last_logits: torch.Tensor | None = None
        self._cache: KVCache | None = None
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._chosen: np.ndarray | None = None

    def reset(self) -> None:
        """Forget every conversation: the next call reads all of them from the observation."""
        self._cache, self._chosen = None, None

    def act(self, observation: Mapping[str, np.ndarray],
            starting: np.ndarray | None = None) -> np.ndarray:
        """Each row's next token, ``(num_envs,)`` int64.

        Args:
            observation: the env's observation (its ``"tokens"``, ``(num_envs, window)``).
            starting: true for the rows whose episode begins with this observation: after
                ``reset()``, every row (the default); after a step, ``terminated |
                truncated``, since the env returns the next episode's first observation.
        """
        self.last_logits = self._logits(observation, starting)
        tokens, _, _ = sample_next(self.last_logits, self.params, self.generator)
        self._chosen = tokens.numpy().astype(np.int64)
        return self._chosen.copy()

    def _logits(self, observation: Mapping[str, np.ndarray],
                starting: np.ndarray | None) -> torch.Tensor:
        """Each row's next-token logits, the cache advanced past the observation."""
        tokens = np.asarray(observation["tokens"])
        if tokens.ndim != 2 or tokens.shape[0] != self.num_envs:
            raise ValueError(f"observation['tokens'] must be (num_envs={self.num_envs}, window), "
                             f"got shape {tokens.shape}")
        first = self._cache is None
        starting = (np.ones(self.num_envs, dtype=bool) if first or starting is None
                    else np.asarray(starting, dtype=bool))
        if starting.shape != (self.num_envs,):
            raise ValueError(f"starting must have shape ({self.num_envs},), got "
                             f"{starting.shape}")
        going = np.flatnonzero(~starting)
        if going.size:
            last = tokens[going, -1]
            if not np.array_equal(last, self._chosen[going]):
                row = int(going[np.flatnonzero(last != self._chosen[going])[0]])
                raise ValueError(f"row {row} did not write the token chosen for it "
                                 f"({int(self._chosen[row])}, observed {int(tokens[row, -1])}): "
                                 "pass starting=terminated | truncated after each step")
        # A prompt holds no PAD: its length is its count of other tokens.
        self._lengths[starting] = (tokens[starting] != PAD).sum(axis=1)
        self._lengths[going] += 1
        if int(self._lengths.max()) > tokens.shape[1]:
            raise ValueError(f"a conversation is longer than the observation's window "
                             f"({tokens.shape[1]} tokens): the policy needs all of it")
        ids = torch.from_numpy(tokens).long()
        with torch.inference_mode():
            prompts = int(self._lengths[starting].max(initial=0))
            needed = int(going.size > 0) + prompts
            if first or self._cache.length + needed > self.capacity:
                return self._rebuild(ids)
            return self._advance(ids, going, np.flatnonzero(starting))

    def _tail(self, ids: torch.Tensor, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The last columns of ``ids`` that hold the conversations of ``rows``, and the mask of
        those conversations' tokens (the other rows masked out entirely)."""
        lengths = torch.zeros(self.num_envs, dtype=torch.long)
        lengths[rows] = torch.from_numpy(self._lengths[rows])
        width = int(lengths.max())
        columns = torch.arange(width)
        return ids[:, ids.shape[1] - width:], columns >= (width - lengths)[:, None]

    def _rebuild(self, ids: torch.Tensor) -> torch.Tensor:
        """A new cache holding every row's conversation; the logits after it."""
        self.rebuilds += 1
        ids, mask = self._tail(ids, np.arange(self.num_envs))
        self._cache = self.model.new_cache(self.num_envs, self.capacity)
        return self.model(ids, mask, cache=self._cache, last_only=True)[:, -1].clone()

    def _advance(self, ids: torch.Tensor, going: np.ndarray,
                 starting: np.ndarray) -> torch.Tensor:
        """Feed the continuing rows their chosen token (the observation's last), then the
        starting rows their prompt (each with the other rows masked out); the logits after
        both."""
        cache = self._cache
        logits = torch.empty((self.num_envs, self.model.config.vocab_size),
                             dtype=self.model.embed.weight.dtype)
        if going.size:
            mask = torch.zeros((self.num_envs, 1), dtype=torch.bool)
            mask[going] = True
            out = self.model(ids[:, -1:], mask, cache=cache)[:, -1]
            logits[going] = out[going]
        if starting.size:
            rows = torch.from_numpy(starting)
            cache.valid[rows] = False
            cache.seen[rows] = 0
            prompts, mask = self._tail(ids, starting)
            out = self.model(prompts, mask, cache=cache, last_only=True)[:, -1]
            logits[rows] = out[rows]
        return logits
