"""The GRPO objective and its variants, on padded tensors of per-token log-probabilities.

Every function takes ``(rows, tokens)`` tensors with a ``mask`` of the real completion tokens;
rows are groups of ``group_size`` completions of the same prompt, back to back.

- :func:`group_advantages`: GRPO's advantage, each completion's reward minus its group's mean,
  divided by the group's standard deviation (``scale="group"``, DeepSeekMath; TRL's default) or
  not (``scale="none"``, Dr. GRPO). A group whose rewards are all equal carries no signal: its
  advantages are 0 and it is reported as uninformative.
- :func:`grpo_loss`: the clipped surrogate with a KL penalty to the reference model,
  ``-(min(r A, clip(r, 1 - eps_low, 1 + eps_high) A) - beta * KL)``, where the ratio ``r`` is
  per token (GRPO) or per sequence (GSPO: the geometric mean of the token ratios,
  ``exp(mean_t(log pi - log mu))``), and the KL is the unbiased estimator
  ``exp(ref - logp) - (ref - logp) - 1`` (Schulman's k3, GRPO's choice).

The ratio's denominator is the log-probability of the distribution that *sampled* each token
(``behaviour_logp``): the old policy for an ordinary rollout, and for AdaptThink's importance
sampling at the mode decision the forced sampling distribution there (e.g. ``log 0.5`` when half
the rollouts are made to think and half not), so that one formula serves both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: How advantages are scaled within a group.
ADVANTAGE_SCALES = ("group", "none")
#: Whether the importance ratio is per token (GRPO) or per sequence (GSPO).
RATIO_LEVELS = ("token", "sequence")
#: How the per-token terms become one loss: mean over each sequence's tokens then over the
#: sequences (GRPO's paper), or one mean over every token of the batch (DAPO's token level).
AGGREGATIONS = ("sequence", "token")
#: Added to a group's standard deviation, as TRL does.
STD_EPSILON = 1e-4


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str = "group",
                     epsilon: float = STD_EPSILON) -> tuple[torch.Tensor, torch.Tensor]:
    """``(advantages, informative)`` for ``rewards`` of consecutive groups of ``group_size``.

    ``informative[i]`` is false when completion ``i``'s group has rewards all equal (its
    advantages are then 0 whatever the scale). The standard deviation is the sample one
    (``n - 1`` in the denominator), as TRL and DeepSeekMath compute it.

    Raises:
        ValueError: ``rewards`` is not 1-D, its length is not a multiple of ``group_size``, the
            group size is below 2 or the scale unknown.
    """
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2:
        raise ValueError(f"group_size must be an int >= 2, got {group_size!r}")
    if scale not in ADVANTAGE_SCALES:
        raise ValueError(f"scale must be one of {list(ADVANTAGE_SCALES)}, got {scale!r}")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a multiple of group_size={group_size} "
                         f"values, got shape {tuple(rewards.shape)}")
    if not torch.isfinite(rewards).all():
        raise ValueError("rewards must be finite")
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    informative = (groups != groups[:, :1]).any(dim=1, keepdim=True).expand_as(groups)
    if scale == "group":
        centred = centred / (groups.std(dim=1, keepdim=True) + epsilon)
    advantages = torch.where(informative, centred, torch.zeros_like(centred))
    return advantages.reshape(-1), informative.reshape(-1)


def kl_to_reference(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per token, the k3 estimator of KL(pi || pi_ref): ``exp(d) - d - 1`` with ``d = ref -
    logp``; non-negative, zero where the two agree."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1.0


@dataclass(frozen=True)
class LossParts:
    """The loss and what went into it, for logging.

    Attributes:
        loss: the scalar to minimize.
        surrogate: the mean clipped surrogate (what the policy gains).
        kl: the mean KL to the reference model.
        clipped: the share of tokens (or sequences, for GSPO) whose ratio was clipped.
        ratio: the mean importance ratio.
    """

    loss: torch.Tensor
    surrogate: torch.Tensor
    kl: torch.Tensor
    clipped: torch.Tensor
    ratio: torch.Tensor


def grpo_loss(logp: torch.Tensor, behaviour_logp: torch.Tensor, advantages: torch.Tensor,
              mask: torch.Tensor, *, ref_logp: torch.Tensor | None = None, beta: float = 0.0,
              clip_low: float = 0.2, clip_high: float = 0.2, ratio_level: str = "token",
              aggregation: str = "sequence") -> LossParts:
    """The GRPO (or GSPO) loss of a batch.

    Args:
        logp: ``(rows, tokens)`` log-probabilities of the completions' tokens under the policy
            being trained (with gradients).
        behaviour_logp: the same under the distribution that sampled them (no gradients).
        advantages: ``(rows,)``, e.g. from :func:`group_advantages`.
        mask: ``(rows, tokens)``, true on real completion tokens.
        ref_logp: log-probabilities under the frozen reference model; needed when ``beta > 0``.
        beta: the KL penalty's weight.
        clip_low, clip_high: the ratio is clipped to ``[1 - clip_low, 1 + clip_high]``.
        ratio_level: ``"token"`` (GRPO) or ``"sequence"`` (GSPO).
        aggregation: ``"sequence"`` or ``"token"`` (see :data:`AGGREGATIONS`).

    Raises:
        ValueError: shapes disagree, an option is unknown, ``beta > 0`` without ``ref_logp``,
            or a row has no real token.
    """
    if ratio_level not in RATIO_LEVELS:
        raise ValueError(f"ratio_level must be one of {list(RATIO_LEVELS)}, got {ratio_level!r}")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got {aggregation!r}")
    if logp.dim() != 2 or behaviour_logp.shape != logp.shape or mask.shape != logp.shape or (
            advantages.shape != logp.shape[:1]):
        raise ValueError(f"logp, behaviour_logp and mask must share one (rows, tokens) shape and "
                         f"advantages be (rows,); got {tuple(logp.shape)}, "
                         f"{tuple(behaviour_logp.shape)}, {tuple(mask.shape)}, "
                         f"{tuple(advantages.shape)}")
    if beta > 0 and (ref_logp is None or ref_logp.shape != logp.shape):
        raise ValueError("beta > 0 needs ref_logp of logp's shape")
    mask = mask.to(logp.dtype)
    lengths = mask.sum(dim=1)
    if (lengths == 0).any():
        raise ValueError("every row needs at least one real completion token")
    log_ratio = (logp - behaviour_logp) * mask
    if ratio_level == "token":
        ratio = torch.exp(log_ratio)
    else:  # one ratio per sequence, the geometric mean of its tokens', on every token
        ratio = torch.exp(log_ratio.sum(dim=1) / lengths)[:, None].expand_as(logp)
    advantage = advantages[:, None].to(logp.dtype)
    clipped_ratio = ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    surrogate = torch.minimum(ratio * advantage, clipped_ratio * advantage)
    kl = kl_to_reference(logp, ref_logp) if beta > 0 else torch.zeros_like(logp)
    per_token = surrogate - beta * kl

    def mean(values: torch.Tensor) -> torch.Tensor:
        if aggregation == "token":
            return (values * mask).sum() / mask.sum()
        return ((values * mask).sum(dim=1) / lengths).mean()

    was_clipped = ((ratio < 1.0 - clip_low) | (ratio > 1.0 + clip_high)).to(logp.dtype)
    return LossParts(loss=-mean(per_token), surrogate=mean(surrogate).detach(),
                     kl=mean(kl).detach(), clipped=mean(was_clipped).detach(),
                     ratio=mean(ratio).detach())


def sequence_log_probs(model: torch.nn.Module, ids: torch.Tensor, real: torch.Tensor,
                       temperature: float = 1.0) -> torch.Tensor:
    """``(rows, tokens - 1)``: the log-probability the model, its logits divided by
    ``temperature``, gives each token of ``ids`` after the ones before it (position ``t``
    scores ``ids[:, t + 1]``), in the model's dtype, with ``real`` the mask of real (not
    padding) tokens; the entries that score padding are 0."""
    if ids.dtype != torch.long or ids.dim() != 2 or real.shape != ids.shape:
        raise ValueError(f"ids must be (rows, tokens) int64 with a mask of its shape, got "
                         f"{ids.dtype} {tuple(ids.shape)} and {tuple(real.shape)}")
    logits = model(ids, real)[:, :-1] / temperature
    chosen = torch.log_softmax(logits, dim=-1).gather(2, ids[:, 1:, None])[..., 0]
    return chosen * real[:, 1:].to(chosen.dtype)
