"""GRPO for the built-in language model on the Keye tasks, prompts of every mode in one batch.

Read top to bottom: every step draws ``prompts_per_step`` problems, each asked with one of the
switches in ``modes`` (Keye's mix-mode RL: ``/think``, ``/no_think`` and ``/auto_think`` prompts
in one batch), as a pure function of the seed and the step (:class:`PromptDraw`); the policy
writes ``group_size`` replies to each with its KV cache (:func:`~skillgym.models.generate`,
recording every token's sampling log-probability); the reward plugins score them
(:meth:`GRPOTrainer.score`, which turns a plugin that raises into the documented fallback score
instead of a dead run); group-relative advantages and the clipped objective with a KL penalty
(:mod:`skillgym.agents.grpo_objective`) give ``iterations`` AdamW updates.

Plain GRPO is known to collapse to one mode (AdaptThink's motivation). With
``forced_decision``, AdaptThink's importance sampling: half of each auto-think group is made to
choose ``/think`` at the decision in its analysis and half ``/no_think``, and the ratio at that
token is against the forced distribution's 1/2, so both choices keep being tried and compared.
AutoThink's batch balancing is the ``autothink`` reward plugin, set in ``rewards``.

Groups whose replies all score the same carry no signal (their advantages are 0): they are
skipped, left out of the loss and counted in the metrics, rather than resampled, so that a
step's cost stays fixed. :class:`GRPOTrainer` holds the whole state (weights, optimizer moments,
the sampling generator and the step), so a run resumed from :meth:`GRPOTrainer.state_dict` ends
bit-identical to one never stopped.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from skillgym.agents.grpo_objective import (
    ADVANTAGE_SCALES,
    AGGREGATIONS,
    RATIO_LEVELS,
    group_advantages,
    grpo_loss,
    sequence_log_probs,
)
from skillgym.envs.keye.tasks import (
    LEVEL_NUMBERS,
    SWITCH_MODES,
    Problem,
    checked_levels_and_modes,
    sample_problems,
)
from skillgym.envs.keye.text_gen import DEFAULT_REWARDS
from skillgym.models import (
    PAD,
    CausalTransformer,
    SamplingParams,
    decode,
    encode_prompt,
    generate,
)
from skillgym.rewards.base import Sample
from skillgym.rewards.composition import WeightedSum
from skillgym.rewards.parsing import parse_response, with_switch
from skillgym.rewards.repetition import LoopPenalty

#: Where an auto-think reply decides its mode: Keye's canonical sentence "Therefore, /think mode
#: is more appropriate." (or /no_think) continues with the decision's first byte.
DECISION_MARKER = "Therefore, /"
DECISION_TOKENS: dict[str, int] = {"think": ord("t"), "no_think": ord("n")}


@dataclass(frozen=True)
class GRPOSettings:
    """What a GRPO run does each step.

    Attributes:
        prompts_per_step: prompts drawn per step; ``group_size`` replies each.
        group_size: replies per prompt (>= 2).
        max_new_tokens: the longest reply.
        temperature: sampling temperature (> 0); the ratio's policy log-probabilities use it too.
        learning_rate, weight_decay, grad_clip: AdamW and the gradient-norm clip.
        iterations: updates per batch of replies (mu; the first is on-policy).
        beta: the KL penalty's weight (0: no reference model is kept).
        clip_low, clip_high: the ratio's clip range ``[1 - clip_low, 1 + clip_high]``.
        ratio_level: ``"token"`` (GRPO) or ``"sequence"`` (GSPO).
        aggregation: ``"sequence"`` or ``"token"`` (see :mod:`~skillgym.agents.grpo_objective`).
        advantage_scale: ``"group"`` or ``"none"``.
        fallback_score: the reward a sample gets from a plugin that raised on it.
        forced_decision: AdaptThink's importance sampling at the mode decision: in each group
            of an auto-think prompt, half the replies are made to choose ``/think`` and half
            ``/no_think`` at :data:`DECISION_MARKER`, and the ratio there is against that
            1/2 (needs an even ``group_size``).
        seed: the prompts drawn and the replies sampled.
    """

    prompts_per_step: int = 8
    group_size: int = 8
    max_new_tokens: int = 256
    temperature: float = 1.0
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    iterations: int = 1
    beta: float = 0.04
    clip_low: float = 0.2
    clip_high: float = 0.2
    ratio_level: str = "token"
    aggregation: str = "sequence"
    advantage_scale: str = "group"
    fallback_score: float = 0.0
    forced_decision: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low in (("prompts_per_step", 1), ("group_size", 2), ("max_new_tokens", 1),
                          ("iterations", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        for name in ("temperature", "learning_rate", "grad_clip"):
            value = getattr(self, name)
            if not _finite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("weight_decay", "beta", "clip_low", "clip_high"):
            value = getattr(self, name)
            if not _finite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not _finite(self.fallback_score):
            raise ValueError(f"fallback_score must be a finite number, got "
                             f"{self.fallback_score!r}")
        if not isinstance(self.forced_decision, bool):
            raise ValueError(f"forced_decision must be a bool, got {self.forced_decision!r}")
        if self.forced_decision and self.group_size % 2:
            raise ValueError(f"forced_decision needs an even group_size, got {self.group_size}")
        for name, choices in (("ratio_level", RATIO_LEVELS), ("aggregation", AGGREGATIONS),
                              ("advantage_scale", ADVANTAGE_SCALES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {list(choices)}, got "
                                 f"{getattr(self, name)!r}")


def _finite(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


@dataclass(frozen=True)
class PromptDraw:
    """The prompts of every step: a pure function of the seed and the step.

    Attributes:
        levels: the levels drawn from (uniformly).
        modes: the switches drawn from (uniformly).
        pool_size, pool_seed, split: each level's problems (:func:`sample_problems`).
    """

    levels: Sequence[int] = LEVEL_NUMBERS
    modes: Sequence[str] = ("think", "no_think", "auto_think")
    pool_size: int = 500
    pool_seed: int = 0
    split: str = "train"
    pools: list[list[Problem]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        levels, modes = checked_levels_and_modes(self.levels, self.modes, SWITCH_MODES)
        object.__setattr__(self, "levels", tuple(levels))
        object.__setattr__(self, "modes", tuple(modes))
        object.__setattr__(self, "pools", [sample_problems(level, self.pool_size,
                                                           self.pool_seed, self.split)
                                           for level in levels])

    def draw(self, seed: int, step: int, count: int) -> list[tuple[Problem, str]]:
        """``count`` (problem, switch) pairs for ``step`` of a run seeded ``seed``."""
        rng = np.random.default_rng([seed, step])
        levels = rng.integers(0, len(self.levels), count)
        problems = rng.integers(0, self.pool_size, count)
        modes = rng.integers(0, len(self.modes), count)
        return [(self.pools[level][index], self.modes[mode]) for level, index, mode in
                zip(levels.tolist(), problems.tolist(), modes.tolist(), strict=True)]


@dataclass(frozen=True)
class Rollout:
    """One step's replies, ``prompts_per_step * group_size`` rows, groups back to back.

    Attributes:
        ids: ``(rows, tokens)`` prompt then reply, right-padded with PAD.
        real: the mask of real tokens of ``ids``.
        completion: ``(rows, tokens - 1)``, true where position ``t`` scores a reply token.
        behaviour_logp: ``(rows, tokens - 1)``, each reply token's sampling log-probability.
        rewards: ``(rows,)`` float64 weighted rewards.
        components: each reward component per row (NaN where a plugin had no signal).
        levels, modes: per row, its problem's level and its switch.
        thinks: per row, whether the reply thinks.
        loops: per row, whether the reply loops (the default loop detector).
        reward_errors: samples that a plugin raised on (scored ``fallback_score`` there).
    """

    ids: torch.Tensor
    real: torch.Tensor
    completion: torch.Tensor
    behaviour_logp: torch.Tensor
    rewards: torch.Tensor
    components: dict[str, np.ndarray]
    levels: np.ndarray
    modes: list[str]
    thinks: np.ndarray
    loops: np.ndarray
    reward_errors: int


class GRPOTrainer:
    """GRPO on the built-in model (see the module docstring).

    Args:
        model: the policy, trained in place.
        settings: :class:`GRPOSettings`.
        prompts: :class:`PromptDraw`.
        rewards: ``{name: weight}`` or ``{name: {"weight": w, **config}}`` of reward plugins.
        reference: the frozen reference model of the KL penalty (default: a copy of ``model``
            as it is now); unused when ``settings.beta`` is 0.
    """

    def __init__(self, model: CausalTransformer, settings: GRPOSettings | None = None,
                 prompts: PromptDraw | None = None, rewards: Mapping[str, Any] | None = None,
                 reference: CausalTransformer | None = None) -> None:
        self.model = model
        self.settings = settings or GRPOSettings()
        self.prompts = prompts or PromptDraw()
        self.reward = WeightedSum(dict(DEFAULT_REWARDS if rewards is None else rewards))
        self.reference = None
        if self.settings.beta > 0:
            self.reference = reference if reference is not None else copy.deepcopy(model)
            self.reference.eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=self.settings.learning_rate,
                                           weight_decay=self.settings.weight_decay)
        self.generator = torch.Generator().manual_seed(self.settings.seed)
        self.step = 0
        self._loop = LoopPenalty()

    def rollout(self) -> Rollout:
        """Draw this step's prompts, write ``group_size`` replies to each and score them."""
        settings = self.settings
        drawn = self.prompts.draw(settings.seed, self.step, settings.prompts_per_step)
        switched = [with_switch(problem.prompt, mode) for problem, mode in drawn]
        prompt_ids = [encode_prompt([{"role": "user", "content": text}]) for text in switched]
        rows = [ids for ids in prompt_ids for _ in range(settings.group_size)]
        forced = self._forced_choices([mode for _, mode in drawn])
        replies, reply_logp = self._write(rows, forced)
        lengths = [len(reply) for reply in replies]
        width = max(len(p) + n for p, n in zip(rows, lengths, strict=True))
        ids = torch.full((len(rows), width), PAD, dtype=torch.long)
        real = torch.zeros((len(rows), width), dtype=torch.bool)
        completion = torch.zeros((len(rows), width - 1), dtype=torch.bool)
        behaviour = torch.zeros((len(rows), width - 1), dtype=torch.float32)
        for row, (prompt, n) in enumerate(zip(rows, lengths, strict=True)):
            start = len(prompt)
            ids[row, :start] = torch.tensor(prompt)
            ids[row, start:start + n] = torch.tensor(replies[row], dtype=torch.long)
            real[row, :start + n] = True
            # Position t scores token t + 1: the reply's tokens are scored at start - 1 on.
            completion[row, start - 1:start - 1 + n] = True
            behaviour[row, start - 1:start - 1 + n] = torch.tensor(reply_logp[row])
        texts = [decode(reply) for reply in replies]
        problems = [problem for problem, _ in drawn for _ in range(settings.group_size)]
        prompts = [text for text in switched for _ in range(settings.group_size)]
        samples = [Sample.build(texts[row], prompt=prompts[row],
                                ground_truth=problems[row].answer, completion_ids=replies[row])
                   for row in range(len(rows))]
        columns, errors = self.score(samples)
        combined = self.reward.combine(columns)
        return Rollout(
            ids=ids, real=real, completion=completion, behaviour_logp=behaviour,
            rewards=torch.tensor([0.0 if value is None else value for value in combined],
                                 dtype=torch.float64),
            components={label: np.array([np.nan if v is None else v for v in column])
                        for label, column in columns.items()},
            levels=np.array([problem.level for problem in problems]),
            modes=[mode for _, mode in drawn for _ in range(settings.group_size)],
            thinks=np.array([parse_response(text, lenient=True).thinks for text in texts]),
            loops=np.array(self._loop.score_batch(samples)) < 0,
            reward_errors=errors)

    def _forced_choices(self, modes: Sequence[str]) -> list[int | None]:
        """Per row, the token forced at the mode decision, or ``None``: with
        ``forced_decision``, the first half of each auto-think group (a ``/auto_think`` prompt
        or one without a switch) is made to choose ``/think``, the second half ``/no_think``."""
        size = self.settings.group_size
        choices: list[int | None] = []
        for mode in modes:
            if self.settings.forced_decision and mode in ("auto_think", "none"):
                choices += [DECISION_TOKENS["think"]] * (size // 2)
                choices += [DECISION_TOKENS["no_think"]] * (size - size // 2)
            else:
                choices += [None] * size
        return choices

    def _write(self, rows: Sequence[list[int]],
               forced: Sequence[int | None]) -> tuple[list[list[int]], list[list[float]]]:
        """Each row's reply and its tokens' sampling log-probabilities. A row with a forced
        choice is written up to :data:`DECISION_MARKER`, given the forced token (sampled with
        probability 1/2 as far as the ratio is concerned: half the group gets each choice),
        and continued from there within the same token budget."""
        settings = self.settings
        params = SamplingParams(max_new_tokens=settings.max_new_tokens,
                                temperature=settings.temperature, log_probs=True)
        replies: list[list[int]] = [[] for _ in rows]
        logp: list[list[float]] = [[] for _ in rows]
        going: list[int] = []  # rows given their forced choice, with budget left
        was_training = self.model.training
        self.model.eval()
        try:
            free = [row for row, choice in enumerate(forced) if choice is None]
            held = [row for row, choice in enumerate(forced) if choice is not None]
            for batch, batch_params in ((free, params),
                                        (held, replace(params, stop=(DECISION_MARKER,)))):
                if not batch:
                    continue
                output = generate(self.model, [rows[row] for row in batch], batch_params,
                                  generator=self.generator)
                for index, row in enumerate(batch):
                    n = int(output.lengths[index])
                    replies[row] = output.tokens[index, :n].tolist()
                    logp[row] = output.log_probs[index, :n].tolist()
                    if forced[row] is not None and output.finish_reasons[index] == "stop" and (
                            n < settings.max_new_tokens):
                        replies[row].append(forced[row])
                        logp[row].append(math.log(0.5))
                        if n + 1 < settings.max_new_tokens:
                            going.append(row)
            if going:
                output = generate(self.model, [rows[row] + replies[row] for row in going],
                                  replace(params, max_new_tokens=settings.max_new_tokens - min(
                                      len(replies[row]) for row in going)),
                                  generator=self.generator)
                for index, row in enumerate(going):
                    n = min(int(output.lengths[index]),
                            settings.max_new_tokens - len(replies[row]))
                    replies[row] += output.tokens[index, :n].tolist()
                    logp[row] += output.log_probs[index, :n].tolist()
        finally:
            self.model.train(was_training)
        return replies, logp

    def score(self, samples: Sequence[Sample]) -> tuple[dict[str, list[float | None]], int]:
        """Each component's scores, and how many samples a plugin raised on: a plugin that
        raises on a batch is retried sample by sample, and a sample it still raises on gets
        ``fallback_score`` for that component, so one bad reply never stops the run."""
        columns: dict[str, list[float | None]] = {}
        errors = 0
        for label, (reward, _) in self.reward.components.items():
            try:
                columns[label] = reward.score_batch(samples)
                continue
            except Exception:  # noqa: BLE001 - any plugin error becomes the fallback score
                pass
            column: list[float | None] = []
            for sample in samples:
                try:
                    column.append(reward.score(sample))
                except Exception:  # noqa: BLE001
                    column.append(self.settings.fallback_score)
                    errors += 1
            columns[label] = column
        return columns, errors

    def update(self, rollout: Rollout) -> dict[str, float]:
        """``iterations`` AdamW steps on the rollout's informative groups; the metrics.

        Raises:
            FloatingPointError: the loss is not finite (the weights are left as they were
                before that update).
        """
        settings = self.settings
        advantages, informative = group_advantages(rollout.rewards, settings.group_size,
                                                   settings.advantage_scale)
        metrics: dict[str, float] = {
            "skipped_groups": float((~informative).sum()) / settings.group_size}
        if not informative.any():
            return {**metrics, "loss": 0.0, "kl": 0.0, "clipped": 0.0, "grad_norm": 0.0}
        keep = informative.nonzero().squeeze(1)
        ids, real, completion = rollout.ids[keep], rollout.real[keep], rollout.completion[keep]

        def log_probs(model: CausalTransformer) -> torch.Tensor:
            return sequence_log_probs(model, ids, real, settings.temperature) * completion

        reference_logp = None
        if self.reference is not None:
            with torch.no_grad():
                reference_logp = log_probs(self.reference)
        self.model.train()
        for _ in range(settings.iterations):
            parts = grpo_loss(log_probs(self.model), rollout.behaviour_logp[keep],
                              advantages[keep].float(), completion,
                              ref_logp=reference_logp, beta=settings.beta,
                              clip_low=settings.clip_low, clip_high=settings.clip_high,
                              ratio_level=settings.ratio_level, aggregation=settings.aggregation)
            if not torch.isfinite(parts.loss):
                raise FloatingPointError(
                    f"GRPO loss is {parts.loss.item()} at step {self.step}: the update was not "
                    "applied; lower the learning rate or resume from the last checkpoint")
            self.optimizer.zero_grad(set_to_none=True)
            parts.loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), settings.grad_clip)
            self.optimizer.step()
        return {**metrics, "loss": parts.loss.item(), "kl": parts.kl.item(),
                "clipped": parts.clipped.item(), "grad_norm": float(norm)}

    def train_step(self) -> dict[str, float]:
        """One rollout and its updates; the metrics: reward and its components, think-rate
        (overall and by level, for the levels drawn), loop rate, reply length, and the
        update's."""
        rollout = self.rollout()
        metrics = self.update(rollout)
        self.step += 1
        lengths = rollout.completion.sum(dim=1).double()
        metrics.update({"reward": rollout.rewards.mean().item(),
                        "think_rate": float(rollout.thinks.mean()),
                        "loop_rate": float(rollout.loops.mean()),
                        "tokens": lengths.mean().item(),
                        "reward_errors": float(rollout.reward_errors)})
        for level in np.unique(rollout.levels).tolist():
            metrics[f"think_rate/L{level}"] = float(rollout.thinks[rollout.levels == level].mean())
        for label, column in rollout.components.items():
            metrics[f"reward/{label}"] = float(np.nanmean(column)) if not np.isnan(
                column).all() else math.nan
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "step": self.step,
                "reference": None if self.reference is None else self.reference.state_dict(),
                "settings": asdict(self.settings)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output (of a run with the same settings)."""
        if dict(state["settings"]) != asdict(self.settings):
            raise ValueError("the checkpoint was written with other GRPO settings: "
                             f"{state['settings']} != {asdict(self.settings)}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])
        if self.reference is not None and state["reference"] is not None:
            self.reference.load_state_dict(state["reference"])
