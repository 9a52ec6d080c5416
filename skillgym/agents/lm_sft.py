"""Supervised fine-tuning of the built-in language model on conversations.

Read top to bottom: the conversations are encoded once (:func:`encode_conversations`, which sets
aside and counts what cannot be trained on instead of failing); every step draws a batch of
conversations of similar length (:class:`LengthBatches`), scores the next-token loss on the
assistant's tokens only (:func:`sft_loss`), and takes one AdamW step under a warmup-then-cosine
learning rate (:func:`learning_rate`). :class:`SFTTrainer` holds the whole state — weights,
optimizer moments and the position in the batch stream, which is a pure function of the seed —
so a run resumed from :meth:`SFTTrainer.state_dict` ends bit-identical to one never stopped.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from skillgym.models import PAD, CausalTransformer, encode_chat

# Batches of one epoch are formed inside chunks of this many batches' worth of conversations,
# sorted by length: little padding, while the order still changes from epoch to epoch.
_CHUNK_BATCHES = 32


@dataclass(frozen=True)
class SFTSettings:
    """How the model is fine-tuned.

    Attributes:
        steps: optimizer steps in all.
        batch_size: conversations per step (when ``batch_tokens`` is 0).
        batch_tokens: when > 0, a step takes as many conversations of similar length as fit in
            this many (padded) tokens instead of ``batch_size``: a batch of three-token
            non-thinking answers then carries as much text as one of long thinking traces,
            where a fixed count would spend most steps on almost nothing to learn.
        learning_rate: the peak learning rate, reached after ``warmup_steps``.
        final_learning_rate: the rate the cosine decay ends at, as a fraction of the peak.
        warmup_steps: steps of linear warmup from 0.
        weight_decay: AdamW's decoupled weight decay (not applied to norms and biases).
        grad_clip: the largest gradient norm (larger ones are scaled down to it).
        seed: orders the batches.
    """

    steps: int = 3000
    batch_size: int = 64
    batch_tokens: int = 0
    learning_rate: float = 3e-3
    final_learning_rate: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("warmup_steps", "seed", "batch_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        for name, low, high in (("learning_rate", 0, math.inf), ("final_learning_rate", 0, 1),
                                ("weight_decay", 0, math.inf), ("grad_clip", 0, math.inf)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    low <= value <= high) or (name in ("learning_rate", "grad_clip")
                                              and value == 0):
                raise ValueError(f"{name} must be a finite number in [{low}, {high}]"
                                 f"{' and > 0' if name in ('learning_rate', 'grad_clip') else ''}"
                                 f", got {value!r}")


def learning_rate(step: int, settings: SFTSettings) -> float:
    """The learning rate of optimizer step ``step`` (0-based): linear warmup to the peak, then
    a cosine decay to ``final_learning_rate`` times the peak at the last step."""
    peak = settings.learning_rate
    if step < settings.warmup_steps:
        return peak * (step + 1) / settings.warmup_steps
    span = max(settings.steps - settings.warmup_steps - 1, 1)
    progress = min((step - settings.warmup_steps) / span, 1.0)
    floor = settings.final_learning_rate
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass(frozen=True)
class EncodedConversations:
    """Conversations as token ids, with the tokens the loss scores.

    Attributes:
        ids: one int64 tensor of token ids per conversation.
        targets: one bool tensor per conversation: the assistant wrote this token.
        skipped: why conversations were set aside, and how many for each reason.
    """

    ids: list[torch.Tensor]
    targets: list[torch.Tensor]
    skipped: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """The number of tokens of each conversation."""
        return np.fromiter((len(ids) for ids in self.ids), np.int64, len(self.ids))


def encode_conversations(samples: Iterable[Mapping[str, Any]],
                         context_length: int) -> EncodedConversations:
    """Encode each sample's ``messages`` with the chat template.

    A sample that cannot be trained on is set aside and counted, never fatal: one without a
    valid ``messages`` list (``"malformed"``), one longer than ``context_length`` tokens
    (``"too long"``, which would otherwise be cut and teach a reply without its end) and one
    without an assistant token (``"no assistant reply"``).
    """
    ids, targets, skipped = [], [], Counter()
    for sample in samples:
        try:
            tokens, mask = encode_chat(sample["messages"])
        except (KeyError, TypeError, ValueError):
            skipped["malformed"] += 1
            continue
        if len(tokens) > context_length:
            skipped["too long"] += 1
        elif not any(mask):
            skipped["no assistant reply"] += 1
        else:
            ids.append(torch.tensor(tokens, dtype=torch.long))
            targets.append(torch.tensor(mask, dtype=torch.bool))
    return EncodedConversations(ids, targets, dict(skipped))


class LengthBatches:
    """An endless stream of batches of conversation indices, of similar lengths.

    Epoch ``e`` is a pure function of ``(seed, e)``: a permutation of every conversation, cut
    into chunks that are sorted by length and cut into batches, whose order is then shuffled.
    The stream's position is ``(epoch, batch)``, which is all that resuming needs.

    Args:
        lengths: the length of each conversation.
        batch_size: conversations per batch (the last batch of a chunk may be smaller).
        seed: the stream's seed.
        batch_tokens: when > 0, a batch is instead the most conversations whose padded size
            (count times the longest) fits this many tokens, at least one.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int,
                 batch_tokens: int = 0) -> None:
        if len(lengths) == 0:
            raise ValueError("there are no conversations to train on")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.seed = seed
        self.epoch, self.batch = 0, 0
        self._batches = self._epoch_batches(0)

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        chunk = self.batch_size * _CHUNK_BATCHES
        batches = []
        for start in range(0, len(order), chunk):
            part = order[start:start + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches += self._cut(part)
        return [batches[i] for i in rng.permutation(len(batches))]

    def _cut(self, part: np.ndarray) -> list[np.ndarray]:
        """A chunk sorted by length, cut into batches."""
        if not self.batch_tokens:
            return [part[i:i + self.batch_size] for i in range(0, len(part), self.batch_size)]
        batches, begin = [], 0
        for end in range(1, len(part) + 1):
            # Sorted ascending, so the batch's longest conversation is its last.
            if end - begin > 1 and (end - begin) * self.lengths[part[end - 1]] > self.batch_tokens:
                batches.append(part[begin:end - 1])
                begin = end - 1
        batches.append(part[begin:])
        return batches

    def __next__(self) -> np.ndarray:
        if self.batch == len(self._batches):
            self.epoch, self.batch = self.epoch + 1, 0
            self._batches = self._epoch_batches(self.epoch)
        self.batch += 1
        return self._batches[self.batch - 1]

    def __iter__(self) -> LengthBatches:
        return self

    def state_dict(self) -> dict[str, int]:
        """The stream's position."""
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Continue from a position :meth:`state_dict` returned."""
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self._batches = self._epoch_batches(self.epoch)


def collate(data: EncodedConversations,
            rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(ids, real, targets)`` of the chosen conversations, right-padded to the longest."""
    width = max(len(data.ids[row]) for row in rows)
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    real = torch.zeros((len(rows), width), dtype=torch.bool)
    targets = torch.zeros((len(rows), width), dtype=torch.bool)
    for index, row in enumerate(rows):
        length = len(data.ids[row])
        ids[index, :length] = data.ids[row]
        real[index, :length] = True
        targets[index, :length] = data.targets[row]
    return ids, real, targets


def sft_loss(model: CausalTransformer, ids: torch.Tensor, real: torch.Tensor,
             targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The mean next-token cross-entropy over the target tokens, and how many there are.

    Token ``t + 1`` is predicted from the tokens up to ``t``; only tokens marked in ``targets``
    count (the assistant's reply and its closing EOS), so the prompt is context, not a target.
    """
    logits = model(ids[:, :-1], real[:, :-1])
    scored = targets[:, 1:]
    count = int(scored.sum())
    loss = F.cross_entropy(logits[scored], ids[:, 1:][scored], reduction="sum")
    return loss / max(count, 1), count


def _parameter_groups(model: CausalTransformer, weight_decay: float) -> list[dict[str, Any]]:
    """Matrices decay; norms' gains and biases do not (they set scales, not features)."""
    decayed = [p for p in model.parameters() if p.dim() >= 2]
    kept = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decayed, "weight_decay": weight_decay},
            {"params": kept, "weight_decay": 0.0}]


class SFTTrainer:
    """Fine-tunes ``model`` on ``data``, one optimizer step per :meth:`step`.

    Args:
        model: the language model, trained in place.
        data: the encoded conversations.
        settings: the schedule and optimizer settings.
    """

    def __init__(self, model: CausalTransformer, data: EncodedConversations,
                 settings: SFTSettings) -> None:
        self.model = model
        self.data = data
        self.settings = settings
        self.optimizer = torch.optim.AdamW(
            _parameter_groups(model, settings.weight_decay), lr=settings.learning_rate,
            betas=(0.9, 0.98))
        self.batches = LengthBatches(data.lengths, settings.batch_size, settings.seed,
                                     settings.batch_tokens)
        self.steps_done = 0

    def step(self) -> dict[str, float]:
        """One optimizer step; returns its loss, learning rate, gradient norm and token count.

        Raises ``FloatingPointError`` when the loss is not finite, before the weights change,
        so that the last checkpoint stays a usable model.
        """
        if self.steps_done >= self.settings.steps:
            raise RuntimeError(f"all {self.settings.steps} steps are done")
        rate = learning_rate(self.steps_done, self.settings)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        self.model.train()
        ids, real, targets = collate(self.data, next(self.batches))
        loss, count = sft_loss(self.model, ids, real, targets)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss.item()} at step {self.steps_done}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        self.steps_done += 1
        return {"loss": loss.item(), "learning_rate": rate, "grad_norm": float(norm),
                "target_tokens": count}

    @property
    def done(self) -> bool:
        """Whether every step has been taken."""
        return self.steps_done >= self.settings.steps

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimizer, batch stream, step."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "batches": self.batches.state_dict(), "steps_done": self.steps_done,
                "settings": asdict(self.settings)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`; the settings must be the ones it was saved with."""
        if dict(state["settings"]) != asdict(self.settings):
            raise ValueError(f"the saved state was trained with {dict(state['settings'])}, not "
                             f"{asdict(self.settings)}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.batches.load_state_dict(state["batches"])
        self.steps_done = int(state["steps_done"])
