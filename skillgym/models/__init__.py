"""Language models that are not policies: the built-in small byte-level language model.

- :mod:`~skillgym.models.tokenizer`: UTF-8 bytes plus special tokens, and the chat template;
- :mod:`~skillgym.models.transformer`: the causal transformer and its KV cache;
- :mod:`~skillgym.models.sampling` and :mod:`~skillgym.models.generation`: batched generation;
- :mod:`~skillgym.models.scoring`: log-probabilities of given tokens (training, RL ratios);
- :mod:`~skillgym.models.checkpoint`: saving and loading;
- :mod:`~skillgym.models.hf_responder`: a Hugging Face causal LM on disk as a responder (the
  optional ``llm`` extra; imported from its own module, so the core install never needs
  ``transformers``).

See docs/models.md.
"""

from skillgym.models.checkpoint import load_checkpoint, save_checkpoint
from skillgym.models.generation import FINISH_REASONS, Generation, GenerationOutput, generate
from skillgym.models.sampling import SamplingParams, filter_logits, sample_next
from skillgym.models.scoring import token_log_probs
from skillgym.models.tokenizer import (
    ASSISTANT,
    BOS,
    EOS,
    PAD,
    SYSTEM,
    USER,
    VOCAB_SIZE,
    decode,
    encode,
    encode_chat,
    encode_prompt,
    pad_batch,
)
from skillgym.models.transformer import CausalTransformer, KVCache, TransformerConfig

__all__ = [
    "ASSISTANT",
    "BOS",
    "EOS",
    "FINISH_REASONS",
    "PAD",
    "SYSTEM",
    "USER",
    "VOCAB_SIZE",
    "CausalTransformer",
    "Generation",
    "GenerationOutput",
    "KVCache",
    "SamplingParams",
    "TransformerConfig",
    "decode",
    "encode",
    "encode_chat",
    "encode_prompt",
    "filter_logits",
    "generate",
    "load_checkpoint",
    "pad_batch",
    "sample_next",
    "save_checkpoint",
    "token_log_probs",
]
