"""GRPO's mathematics against a float64 reference written, with Python loops and floats, from
the published formulas: DeepSeekMath's group-relative advantage and clipped objective with the
k3 KL estimator, GSPO's sequence-level ratio, AdaptThink's sampling-distribution ratio, and one
update of a real model on a fixed batch."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from skillgym.agents.grpo_objective import (
    group_advantages,
    grpo_loss,
    kl_to_reference,
    sequence_log_probs,
)
from skillgym.models import CausalTransformer, TransformerConfig


def reference_advantages(rewards: list[float], group_size: int, scale: str) -> list[float]:
    """(r - mean) / (sample std + 1e-4) per group; 0 for a group of equal rewards."""
    out = []
    for start in range(0, len(rewards), group_size):
        group = rewards[start:start + group_size]
        mean = sum(group) / len(group)
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / (len(group) - 1))
        for r in group:
            if all(other == group[0] for other in group):
                out.append(0.0)
            elif scale == "group":
                out.append((r - mean) / (std + 1e-4))
            else:
                out.append(r - mean)
    return out


def reference_loss(logp, behaviour, ref, advantages, lengths, beta, low, high, level,
                   aggregation) -> float:
    """The negated objective: per token min(r A, clip(r) A) - beta * k3, as Python floats."""
    per_row, every = [], []
    for row, length in enumerate(lengths):
        if level == "sequence":
            shared = math.exp(sum(logp[row][t] - behaviour[row][t] for t in range(length))
                              / length)
        terms = []
        for t in range(length):
            ratio = shared if level == "sequence" else math.exp(logp[row][t] - behaviour[row][t])
            a = advantages[row]
            surrogate = min(ratio * a, min(max(ratio, 1 - low), 1 + high) * a)
            d = ref[row][t] - logp[row][t]
            terms.append(surrogate - beta * (math.exp(d) - d - 1))
        per_row.append(sum(terms) / length)
        every += terms
    objective = (sum(every) / len(every) if aggregation == "token"
                 else sum(per_row) / len(per_row))
    return -objective


@pytest.mark.parametrize("scale", ["group", "none"])
def test_advantages_equal_the_reference(scale):
    generator = torch.Generator().manual_seed(0)
    rewards = torch.rand(24, generator=generator, dtype=torch.float64).round(decimals=1)
    rewards[8:12] = 0.5  # a group of equal rewards
    advantages, informative = group_advantages(rewards, 4, scale)
    expected = reference_advantages(rewards.tolist(), 4, scale)
    torch.testing.assert_close(advantages, torch.tensor(expected, dtype=torch.float64),
                               rtol=1e-12, atol=1e-12)
    assert informative.tolist() == [not (8 <= i < 12) for i in range(24)]


def random_batch(rows: int = 6, tokens: int = 7, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    shape = (rows, tokens)
    logp = -torch.rand(shape, generator=generator, dtype=torch.float64) * 3
    # Per-token noise, and a per-row shift so that whole sequences leave the clip range too.
    behaviour = (logp + (torch.rand(shape, generator=generator, dtype=torch.float64) - 0.5) * 0.8
                 + (torch.rand((rows, 1), generator=generator, dtype=torch.float64) - 0.5) * 0.8)
    ref = logp + (torch.rand(shape, generator=generator, dtype=torch.float64) - 0.5)
    lengths = torch.randint(1, tokens + 1, (rows,), generator=generator)
    mask = torch.arange(tokens)[None, :] < lengths[:, None]
    advantages = torch.randn(rows, generator=generator, dtype=torch.float64)
    return logp, behaviour, ref, mask, lengths.tolist(), advantages


@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize("aggregation", ["sequence", "token"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_loss_equals_the_reference(level, aggregation, beta):
    logp, behaviour, ref, mask, lengths, advantages = random_batch()
    parts = grpo_loss(logp, behaviour, advantages, mask, ref_logp=ref, beta=beta, clip_low=0.2,
                      clip_high=0.28, ratio_level=level, aggregation=aggregation)
    expected = reference_loss(logp.tolist(), behaviour.tolist(), ref.tolist(),
                              advantages.tolist(), lengths, beta, 0.2, 0.28, level, aggregation)
    assert parts.loss.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert 0.0 < parts.clipped.item() < 1.0  # some ratios were clipped, some not


def test_the_ratio_is_against_the_distribution_that_sampled():
    """AdaptThink's forced decision: a token sampled with probability 0.5 has ratio pi / 0.5."""
    logp = torch.tensor([[math.log(0.3), math.log(0.9)]], dtype=torch.float64)
    behaviour = torch.tensor([[math.log(0.5), math.log(0.9)]], dtype=torch.float64)
    mask = torch.ones(1, 2, dtype=torch.bool)
    parts = grpo_loss(logp, behaviour, torch.tensor([1.0], dtype=torch.float64), mask,
                      clip_low=0.5, clip_high=0.5)
    # Ratios 0.6 and 1.0, both inside [0.5, 1.5]: the objective is their mean times A = 1.
    assert parts.loss.item() == pytest.approx(-(0.6 + 1.0) / 2, rel=1e-12)


def test_kl_is_zero_where_the_models_agree_and_positive_elsewhere():
    logp = torch.tensor([-1.0, -2.0, -0.5], dtype=torch.float64)
    kl = kl_to_reference(logp, torch.tensor([-1.0, -1.0, -3.0], dtype=torch.float64))
    assert kl[0].item() == 0.0 and (kl[1:] > 0).all()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(torch.zeros(6), 1)
    with pytest.raises(ValueError, match="multiple of group_size"):
        group_advantages(torch.zeros(7), 2)
    with pytest.raises(ValueError, match="finite"):
        group_advantages(torch.tensor([1.0, float("nan")]), 2)
    logp, behaviour, ref, mask, _, advantages = random_batch()
    with pytest.raises(ValueError, match="ref_logp"):
        grpo_loss(logp, behaviour, advantages, mask, beta=0.1)
    with pytest.raises(ValueError, match="ratio_level"):
        grpo_loss(logp, behaviour, advantages, mask, ratio_level="group")
    empty = mask.clone()
    empty[0] = False
    with pytest.raises(ValueError, match="at least one real"):
        grpo_loss(logp, behaviour, advantages, empty)


def test_one_update_of_a_real_model_equals_the_reference():
    """SGD on the loss of a tiny transformer in float32 lands where the float64 reference loss,
    computed with Python loops over the same log-probabilities, takes a float64 copy."""
    torch.manual_seed(0)
    model = CausalTransformer(TransformerConfig(n_layers=1, d_model=32, n_heads=2,
                                                context_length=32))
    reference_model = copy.deepcopy(model).double()
    frozen = CausalTransformer(model.config).double()
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 256, (4, 12), generator=generator)
    real = torch.ones_like(ids, dtype=torch.bool)
    real[1, 9:] = False
    real[3, 7:] = False
    completion = real[:, 1:].clone()
    completion[:, :4] = False  # the first five tokens are the prompt
    with torch.no_grad():
        behaviour = sequence_log_probs(reference_model, ids, real) + 0.05 * torch.randn(
            4, 11, generator=generator, dtype=torch.float64)
        ref = sequence_log_probs(frozen, ids, real)
    advantages, _ = group_advantages(torch.tensor([1.0, 0.0, 0.5, 0.0], dtype=torch.float64), 2)

    logp = sequence_log_probs(model, ids, real)
    parts = grpo_loss(logp, behaviour.float(), advantages.float(), completion,
                      ref_logp=ref.float(), beta=0.04)
    parts.loss.backward()

    logp64 = sequence_log_probs(reference_model, ids, real)
    rows = [[logp64[r, t] for t in range(11) if completion[r, t]] for r in range(4)]
    pick = [[float(behaviour[r, t]) for t in range(11) if completion[r, t]] for r in range(4)]
    refs = [[float(ref[r, t]) for t in range(11) if completion[r, t]] for r in range(4)]
    total = 0.0
    for r, row in enumerate(rows):
        terms = []
        for t, value in enumerate(row):
            ratio = torch.exp(value - pick[r][t])
            a = float(advantages[r])
            surrogate = torch.minimum(ratio * a, ratio.clamp(0.8, 1.2) * a)
            d = refs[r][t] - value
            terms.append(surrogate - 0.04 * (torch.exp(d) - d - 1))
        total = total + sum(terms) / len(terms)
    (-(total / len(rows))).backward()

    assert parts.loss.item() == pytest.approx(-(total / len(rows)).item(), rel=1e-5)
    for ours, theirs in zip(model.parameters(), reference_model.parameters(), strict=True):
        torch.testing.assert_close(ours.grad.double(), theirs.grad, rtol=1e-3, atol=1e-6)
