"""Temperature, top-k and top-p against a plain-Python reference; the draws' frequencies."""

from __future__ import annotations

import math

import pytest
import torch

from skillgym.models import SamplingParams, filter_logits, sample_next


def reference_kept(logits: list[float], top_k: int, top_p: float) -> set[int]:
    """The oracle: rank the tokens, keep the first k (and ties), then, renormalized over those,
    the likeliest ones until their probability reaches top_p."""
    order = sorted(range(len(logits)), key=lambda i: -logits[i])
    if 0 < top_k < len(order):
        order = [i for i in order if logits[i] >= logits[order[top_k - 1]]]
    kept = order
    total = sum(math.exp(logits[i]) for i in kept)
    nucleus, mass = [], 0.0
    for i in kept:
        if mass >= top_p:
            break
        nucleus.append(i)
        mass += math.exp(logits[i]) / total
    return set(nucleus)


@pytest.mark.parametrize("top_k, top_p", [(0, 1.0), (5, 1.0), (0, 0.5), (0, 0.9), (7, 0.6),
                                          (1, 1.0), (0, 1e-9), (40, 0.95)])
def test_filter_keeps_what_the_reference_keeps(top_k, top_p):
    generator = torch.Generator().manual_seed(top_k)
    logits = torch.randn(6, 30, generator=generator, dtype=torch.float64)
    filtered = filter_logits(logits, top_k, top_p)
    for row in range(logits.shape[0]):
        kept = set(torch.isfinite(filtered[row]).nonzero().flatten().tolist())
        assert kept == reference_kept(logits[row].tolist(), top_k, top_p)
        assert torch.equal(filtered[row][list(kept)], logits[row][list(kept)])


def test_filter_by_hand():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    assert torch.isfinite(filter_logits(logits, top_p=0.75)).tolist() == [
        [True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.85)).tolist() == [
        [True, True, True, False]]
    assert torch.isfinite(filter_logits(logits, top_k=1)).tolist() == [
        [True, False, False, False]]


def test_draws_follow_the_filtered_distribution_and_report_its_log_probs():
    probs = torch.tensor([0.05, 0.5, 0.0, 0.3, 0.15], dtype=torch.float64)
    logits = probs.log().repeat(200_000, 1)
    params = SamplingParams(temperature=1.0, top_p=0.9, log_probs=True)
    tokens, sampled, model = sample_next(logits, params, torch.Generator().manual_seed(3))
    # top_p 0.9 keeps 0.5, 0.3 and 0.15 (0.8 < 0.9 before the third), renormalized by 0.95.
    kept = torch.tensor([0.0, 0.5, 0.0, 0.3, 0.15], dtype=torch.float64) / 0.95
    frequencies = torch.bincount(tokens, minlength=5).double() / len(tokens)
    torch.testing.assert_close(frequencies, kept, atol=4e-3, rtol=0)
    torch.testing.assert_close(sampled, kept.log()[tokens])
    torch.testing.assert_close(model, probs.log()[tokens])


def test_temperature_sharpens_the_distribution():
    probs = torch.tensor([0.2, 0.8], dtype=torch.float64)
    tokens, sampled, _ = sample_next(probs.log().repeat(100_000, 1),
                                     SamplingParams(temperature=0.5, log_probs=True),
                                     torch.Generator().manual_seed(4))
    # p ** (1 / 0.5), renormalized: 0.04 / 0.68 and 0.64 / 0.68.
    sharpened = torch.tensor([0.04, 0.64], dtype=torch.float64) / 0.68
    assert abs(tokens.double().mean().item() - sharpened[1].item()) < 4e-3
    torch.testing.assert_close(sampled, sharpened.log()[tokens])


def test_greedy_takes_the_argmax_with_certainty():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]], dtype=torch.float64)
    tokens, sampled, model = sample_next(logits, SamplingParams(temperature=0, log_probs=True))
    assert tokens.tolist() == [1, 0]
    assert sampled.tolist() == [0.0, 0.0]
    torch.testing.assert_close(model, logits.log_softmax(-1)[[0, 1], [1, 0]])


def test_same_generator_seed_same_draws():
    logits = torch.randn(64, 262, generator=torch.Generator().manual_seed(0))
    params = SamplingParams(top_k=50, top_p=0.9)
    first = sample_next(logits, params, torch.Generator().manual_seed(9))[0]
    again = sample_next(logits, params, torch.Generator().manual_seed(9))[0]
    other = sample_next(logits, params, torch.Generator().manual_seed(10))[0]
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("kwargs, name", [
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": math.nan}, "temperature"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": -1}, "top_k"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"max_new_tokens": 2.0}, "max_new_tokens"),
    ({"stop": ("</answer>", "")}, "stop"),
])
def test_bad_sampling_params_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SamplingParams(**kwargs)


def test_a_single_stop_string_becomes_a_tuple():
    assert SamplingParams(stop="</answer>").stop == ("</answer>",)
