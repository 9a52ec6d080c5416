"""The end-to-end baseline of AEC: a transformer that reads the expression and writes the answer.

The skill hierarchy solves ``"123+45"`` by calling learned skills on a scratchpad; this baseline
learns the same problems as plain sequence-to-sequence supervision, the way end-to-end neural
arithmetic is usually trained: a character-level encoder-decoder transformer (Vaswani et al.
2017) maps the expression string to the answer string, with teacher forcing and cross-entropy,
and answers by greedy decoding.

Why this model:
    A small encoder-decoder transformer is the standard end-to-end model of today's work on
    neural arithmetic, and trains fast on a CPU because teacher forcing processes a whole
    answer at once. The default is 3 + 3 pre-norm layers of width 128 with 4 heads and
    feed-forward width 512 (about 1.4 M parameters), trained with AdamW, linear warm-up and
    cosine decay for 1,400 steps of 128 problems, sized for about five minutes on one CPU
    thread. Positions are the fixed sinusoids of the original transformer, which are defined
    at every position, so the model runs on inputs of any length (learned position embeddings
    would stop at the longest training input, and no length generalisation could be measured).

Answer order:
    Answers are written as usual, most significant digit first (``"168"``), as the end-to-end
    baselines of the paper write them. ``reverse_answer=True`` writes the digits least
    significant first (``"861"``, a negative answer ``"-05"``), the known trick that lets a
    left-to-right decoder produce a sum's digits in the order carries flow; it is an option,
    not the baseline.

Data:
    Training problems are those of :func:`skillgym.envs.aec.problems.problems` (exactly the
    instances the AEC environments draw), mixed in equal shares from levels ``1..max_level``
    of one skill. They are drawn in chunks: chunk ``k`` holds ``chunk_size`` problems of each
    level drawn with seed ``TRAINING_SEED_BASE + k`` (``10**9 + k``), shuffled by the run's
    seed. Evaluate on seeds below ``TRAINING_SEED_BASE``, which training never uses. (At the
    lowest levels there are only a few distinct problems — 100 one-digit sums — so test and
    training problems coincide there whatever the seeds.)

Decoding:
    Greedy, at most ``len(text) + 2`` tokens: no integer expression over ``+ - * /`` and
    brackets has more digits than its text has characters, plus one for a sign and one for
    the end token. An output that is not a canonical integer (``-?(0|[1-9][0-9]*)``) is no
    answer (``None``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.console import Console
from torch import nn
from torch.nn import functional as F

from skillgym.envs.aec.problems import TEXT_SKILLS, Problem
from skillgym.envs.aec.problems import problems as draw_problems
from skillgym.envs.aec.tasks import TASKS
from skillgym.progress import progress_bar
from skillgym.threads import torch_threads

# Training problems come from seeds TRAINING_SEED_BASE, TRAINING_SEED_BASE + 1, ...; test seeds
# stay below it.
TRAINING_SEED_BASE = 10**9

# Expressions use digits, the four operators, brackets and spaces ("-" is also a sign);
# answers use digits and "-".
CHARACTERS = "0123456789+-*/() "
PAD, BOS, EOS = 0, 1, 2
_INDEX = {c: i + 3 for i, c in enumerate(CHARACTERS)}
_CHARACTER = {i: c for c, i in _INDEX.items()}
VOCABULARY_SIZE = len(CHARACTERS) + 3
_CANONICAL_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_FORMAT_VERSION = 1


@dataclass
class SequenceModelConfig:
    """The model, its training run and its data.

    Attributes:
        max_level: train on levels ``1..max_level`` of the skill.
        d_model: the transformer's width.
        heads: attention heads per layer (must divide ``d_model``).
        encoder_layers: encoder depth.
        decoder_layers: decoder depth.
        feedforward: the width of each layer's feed-forward block.
        dropout: dropout in every layer (the data are unlimited, so 0 by default).
        steps: optimiser steps.
        batch_size: problems per step.
        learning_rate: AdamW's peak step size.
        warmup_steps: linear warm-up from 0 to the peak, then cosine decay to 0.
        weight_decay: AdamW's decoupled weight decay.
        max_grad_norm: gradient-norm clipping.
        reverse_answer: write answers least significant digit first (see the module docstring).
        chunk_size: problems per level drawn at a time with one training seed.
        seed: seeds the initial weights and the order of the training problems.
        threads: ``torch.set_num_threads`` while training and answering.
    """

    max_level: int = 4
    d_model: int = 128
    heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 3
    feedforward: int = 512
    dropout: float = 0.0
    steps: int = 1400
    batch_size: int = 128
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    reverse_answer: bool = False
    chunk_size: int = 1024
    seed: int = 0
    threads: int = 1

    def __post_init__(self):
        for name in ("max_level", "d_model", "heads", "encoder_layers", "decoder_layers",
                     "feedforward", "steps", "batch_size", "chunk_size", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.d_model % self.heads:
            raise ValueError(f"heads must divide d_model, got heads={self.heads} and "
                             f"d_model={self.d_model}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("learning_rate", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) \
                or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


class _Transformer(nn.Module):
    """Character embeddings + sinusoidal positions, a pre-norm encoder-decoder, a token head."""

    def __init__(self, config: SequenceModelConfig):
        super().__init__()
        self.embedding = nn.Embedding(VOCABULARY_SIZE, config.d_model, padding_idx=PAD)
        # Pre-norm layers train stably without a carefully tuned warm-up (Xiong et al. 2020).
        layer = {"d_model": config.d_model, "nhead": config.heads,
                 "dim_feedforward": config.feedforward, "dropout": config.dropout,
                 "batch_first": True, "norm_first": True}
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**layer), config.encoder_layers,
            norm=nn.LayerNorm(config.d_model), enable_nested_tensor=False,
        )
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(**layer), config.decoder_layers,
            norm=nn.LayerNorm(config.d_model),
        )
        self.head = nn.Linear(config.d_model, VOCABULARY_SIZE)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        length, width = tokens.shape[1], self.embedding.embedding_dim
        position = torch.arange(length, dtype=torch.float32)[:, None]
        frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float32)
                              * (-math.log(10000.0) / width))
        sinusoid = torch.zeros(length, width)
        sinusoid[:, 0::2] = torch.sin(position * frequency)
        sinusoid[:, 1::2] = torch.cos(position * frequency)
        return self.embedding(tokens) + sinusoid

    def encode(self, source: torch.Tensor) -> torch.Tensor:
        """The encoder's memory of padded ``source`` tokens ``(B, S)``."""
        return self.encoder(self._embed(source), src_key_padding_mask=source == PAD)

    def decode(self, target: torch.Tensor, memory: torch.Tensor, source: torch.Tensor):
        """Next-token logits ``(B, T, V)`` after each of the ``target`` tokens ``(B, T)``."""
        causal = nn.Transformer.generate_square_subsequent_mask(target.shape[1])
        hidden = self.decoder(self._embed(target), memory, tgt_mask=causal, tgt_is_causal=True,
                              memory_key_padding_mask=source == PAD)
        return self.head(hidden)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits: ``target`` starts with BOS, the logits predict its successors."""
        return self.decode(target, self.encode(source), source)


def _ids(text: str) -> list[int]:
    unknown = sorted(set(text) - _INDEX.keys())
    if unknown:
        raise ValueError(f"text {text!r} has characters {unknown} outside the vocabulary "
                         f"{CHARACTERS!r}")
    return [_INDEX[c] for c in text]


def _tokens(texts: Sequence[str], framed: bool = False) -> torch.Tensor:
    """Padded token ids ``(B, L)``; ``framed`` puts BOS before and EOS after each text."""
    rows = [[BOS, *_ids(text), EOS] if framed else _ids(text) for text in texts]
    width = max(len(row) for row in rows)
    return torch.tensor([row + [PAD] * (width - len(row)) for row in rows], dtype=torch.long)


def _answer_text(answer: int, reverse: bool) -> str:
    digits = str(abs(answer))
    return ("-" if answer < 0 else "") + (digits[::-1] if reverse else digits)


def _read_answer(text: str, reverse: bool) -> int | None:
    if reverse:
        sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
        text = sign + digits[::-1]
    return int(text) if _CANONICAL_INTEGER.fullmatch(text) else None


class SequenceModel:
    """A trained sequence-to-sequence baseline for one AEC skill.

    Made by :func:`train_sequence_model` or :meth:`load`.

    Args:
        skill: the skill it was trained on (one of ``TEXT_SKILLS``).
        config: its configuration.
        network: its transformer (built fresh from ``config`` if ``None``).
    """

    def __init__(self, skill: str, config: SequenceModelConfig, network: nn.Module | None = None):
        self.skill = skill
        self.config = config
        self.network = network if network is not None else _Transformer(config)
        self.network.eval()

    def parameter_count(self) -> int:
        """The number of trainable parameters."""
        return sum(p.numel() for p in self.network.parameters())

    def answer(self, text: str) -> int | None:
        """The model's answer to one expression, or ``None`` if it writes no integer."""
        return self.answers([text])[0]

    def answers(self, texts: Sequence[str], batch_size: int = 256) -> list[int | None]:
        """Answers to many expressions, decoded greedily in batches of similar length."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        texts = list(texts)
        for text in texts:
            _ids(text)  # every text is checked before any work is done
        found: list[int | None] = [None] * len(texts)
        # Sorting by length keeps padding, and so wasted decoding steps, small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.no_grad(), torch_threads(self.config.threads):
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                outputs = self._greedy([texts[i] for i in batch])
                for i, output in zip(batch, outputs, strict=True):
                    found[i] = _read_answer(output, self.config.reverse_answer)
        return found

    def _greedy(self, texts: list[str]) -> list[str]:
        source = _tokens(texts)
        memory = self.network.encode(source)
        target = torch.full((len(texts), 1), BOS, dtype=torch.long)
        finished = torch.zeros(len(texts), dtype=torch.bool)
        for _ in range(max(len(t) for t in texts) + 2):
            logits = self.network.decode(target, memory, source)[:, -1]
            # PAD and BOS are never written; the answer ends with EOS.
            logits[:, [PAD, BOS]] = -math.inf
            step = logits.argmax(-1)
            step[finished] = PAD
            target = torch.cat([target, step[:, None]], dim=1)
            finished |= step == EOS
            if finished.all():
                break
        outputs = []
        for row in target[:, 1:].tolist():
            end = row.index(EOS) if EOS in row else len(row)
            outputs.append("".join(_CHARACTER[token] for token in row[:end]))
        return outputs

    def save(self, path: str | Path) -> None:
        """Write the skill, the configuration and the weights to one file."""
        torch.save({"format_version": _FORMAT_VERSION, "skill": self.skill,
                    "config": asdict(self.config), "state_dict": self.network.state_dict()},
                   Path(path))

    @classmethod
    def load(cls, path: str | Path) -> SequenceModel:
        """A model written by :meth:`save`; it answers exactly as the saved one did."""
        saved = torch.load(Path(path), map_location="cpu", weights_only=True)
        version = saved.get("format_version") if isinstance(saved, dict) else None
        if version != _FORMAT_VERSION:
            raise ValueError(f"{path} is not a sequence model file of format version "
                             f"{_FORMAT_VERSION} (found format version {version!r})")
        model = cls(saved["skill"], SequenceModelConfig(**saved["config"]))
        model.network.load_state_dict(saved["state_dict"])
        return model


def _training_batches(skill: str, config: SequenceModelConfig) -> Iterator[list[Problem]]:
    """The endless stream of training batches (see the module docstring for the seeds)."""
    order = torch.Generator().manual_seed(config.seed)
    pending: list[Problem] = []
    chunk = 0
    while True:
        drawn = [problem for level in range(1, config.max_level + 1)
                 for problem in draw_problems(skill, level, config.chunk_size,
                                              seed=TRAINING_SEED_BASE + chunk)]
        # A chunk's tail shorter than a batch is kept: it starts the next chunk's first batch.
        pending += [drawn[i] for i in torch.randperm(len(drawn), generator=order).tolist()]
        while len(pending) >= config.batch_size:
            yield pending[: config.batch_size]
            pending = pending[config.batch_size :]
        chunk += 1


def train_sequence_model(
    skill: str, config: SequenceModelConfig | None = None, progress: bool = True
) -> SequenceModel:
    """Train the baseline on levels ``1..config.max_level`` of ``skill``.

    Deterministic on one machine: the same ``skill`` and ``config`` give identical parameters.
    The caller's torch random state and thread count are left as they were.

    Args:
        skill: one of ``TEXT_SKILLS`` (``"ADD"``, ``"SUB"``, ``"MUL"``, ``"DIV"``, ``"EVAL"``).
        config: the model and its training run; the defaults if ``None``.
        progress: show a progress bar with the running loss.
    """
    config = config if config is not None else SequenceModelConfig()
    if skill not in TEXT_SKILLS:
        raise ValueError(f"skill must be one of {list(TEXT_SKILLS)}, got {skill!r}")
    levels = len(TASKS[skill].levels)
    if config.max_level > levels:
        raise ValueError(f"max_level for {skill} must be in 1..{levels}, got {config.max_level}")
    with torch.random.fork_rng(), torch_threads(config.threads):
        torch.manual_seed(config.seed)
        model = SequenceModel(skill, config)
        network = model.network
        network.train()
        optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate,
                                      weight_decay=config.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(config))
        bar = progress_bar(Console(stderr=True)) if progress else None
        running_loss = None
        with bar or nullcontext():
            task = bar.add_task(f"train {skill}", total=config.steps, status="") if bar else None
            batches = _training_batches(skill, config)
            for step in range(config.steps):
                batch = next(batches)
                source = _tokens([p.text for p in batch])
                target = _tokens([_answer_text(p.answer, config.reverse_answer) for p in batch],
                                 framed=True)
                logits = network(source, target[:, :-1])
                loss = F.cross_entropy(logits.reshape(-1, VOCABULARY_SIZE),
                                       target[:, 1:].reshape(-1), ignore_index=PAD)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(network.parameters(), config.max_grad_norm)
                optimizer.step()
                schedule.step()
                running_loss = loss.item() if running_loss is None \
                    else 0.98 * running_loss + 0.02 * loss.item()
                if bar:
                    bar.update(task, completed=step + 1, status=f"loss {running_loss:.4f}")
        network.eval()
    return model


def accuracy(model: SequenceModel, problems: Sequence[Problem]) -> float:
    """The share of ``problems`` whose answer the model writes exactly."""
    if not problems:
        raise ValueError("problems must not be empty")
    answers = model.answers([p.text for p in problems])
    return sum(a == p.answer for a, p in zip(answers, problems, strict=True)) / len(problems)


def _warmup_cosine(config: SequenceModelConfig):
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        done = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))

    return factor
