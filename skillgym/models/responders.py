"""Responders: models that answer prompts in a requested Keye response mode.

One interface serves every model: ``responder.respond(prompts, modes)`` takes the prompts
without a switch and, per prompt, the mode to answer in (``"think"``, ``"no_think"``,
``"auto_think"``, or ``"none"`` for no switch, which Keye-VL-1.5 reads as auto-think), and
returns one :class:`Response` per prompt, with its token count. The responder appends Keye's
switch (:func:`~skillgym.rewards.parsing.with_switch`) and renders its own chat template.

- :class:`BuiltinResponder`: the built-in byte-level model, batched, seeded.
- :class:`~skillgym.models.hf_responder.HFResponder`: any Hugging Face causal LM on disk
  (the optional ``llm`` extra).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from skillgym.models.generation import generate
from skillgym.models.sampling import SamplingParams
from skillgym.models.tokenizer import encode_prompt
from skillgym.models.transformer import CausalTransformer
from skillgym.rewards.parsing import with_switch

#: The reply budget of the Keye tasks: the longest reply of the cold-start mixture (an auto-think
#: analysis before a level-6 trace, 467 tokens with its EOS) fits, and so does its prompt in the
#: built-in model's 512-token context. A smaller budget cuts well-formed replies short.
KEYE_REPLY_TOKENS = 480


@dataclass(frozen=True)
class Response:
    """One answer.

    Attributes:
        text: the reply.
        num_tokens: the tokens the model generated for it (its cost).
    """

    text: str
    num_tokens: int


class Responder(Protocol):
    """Anything that answers prompts in requested modes."""

    #: Identifies the model and its sampling settings (e.g. in response caches).
    name: str

    def respond(self, prompts: Sequence[str], modes: Sequence[str], *,
                seed: int = 0) -> list[Response]:
        """One response per prompt, answering ``prompts[i]`` in ``modes[i]``; the same
        ``seed`` gives the same responses."""


def weights_digest(model: torch.nn.Module) -> str:
    """A short digest of the model's weights: equal for equal weights, different otherwise."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def switched_prompts(prompts: Sequence[str], modes: Sequence[str]) -> list[str]:
    """Each prompt with its mode's switch; ValueError for a bad mode or mismatched lengths."""
    if isinstance(prompts, str) or isinstance(modes, str):
        raise ValueError("prompts and modes must be sequences of strings, not one string")
    if len(prompts) != len(modes):
        raise ValueError(f"got {len(prompts)} prompts but {len(modes)} modes")
    texts = []
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"prompts[{index}] must be a non-empty string, got {prompt!r}")
        texts.append(with_switch(prompt, modes[index]))
    return texts


class BuiltinResponder:
    """The built-in language model as a responder.

    Args:
        model: the model (its weights are not changed).
        params: sampling settings; the default decodes greedily, up to
            :data:`KEYE_REPLY_TOKENS` tokens.
        batch_size: prompts generated together (memory grows with it).
        name: the responder's name in reports; caches key on it together with a digest of the
            weights and the sampling settings, so that two models never share cached answers.
    """

    def __init__(self, model: CausalTransformer, params: SamplingParams | None = None,
                 batch_size: int = 256, name: str = "builtin") -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.model = model
        self.params = params or SamplingParams(max_new_tokens=KEYE_REPLY_TOKENS, temperature=0.0)
        self.batch_size = batch_size
        self.name = f"{name}-{weights_digest(model)}:{self.params}"

    def respond(self, prompts: Sequence[str], modes: Sequence[str], *,
                seed: int = 0) -> list[Response]:
        """Generate the responses, ``batch_size`` prompts at a time.

        Raises ValueError for a bad mode, an empty prompt or one too long for the model's
        context (the message names its index).
        """
        texts = switched_prompts(prompts, modes)
        ids = [encode_prompt([{"role": "user", "content": text}]) for text in texts]
        limit = self.model.config.context_length
        for index, row in enumerate(ids):
            if len(row) >= limit:
                raise ValueError(f"prompts[{index}] takes {len(row)} tokens; the model's context "
                                 f"holds {limit}, reply included")
        generator = torch.Generator().manual_seed(seed)
        was_training = self.model.training
        self.model.eval()
        responses = []
        try:
            for start in range(0, len(ids), self.batch_size):
                output = generate(self.model, ids[start:start + self.batch_size], self.params,
                                  generator=generator)
                responses += [Response(text, int(n))
                              for text, n in zip(output.texts, output.lengths.tolist(),
                                                 strict=True)]
        finally:
            self.model.train(was_training)
        return responses
