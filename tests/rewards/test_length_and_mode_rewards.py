"""Length shaping (cosine, DAPO) and mode-selection shaping (AdaptThink, Thinkless, AutoThink)."""

from __future__ import annotations

import math

import pytest

from skillgym.rewards import (
    AdaptThinkReward,
    AutoThinkReward,
    CosineLengthReward,
    Sample,
    SoftOverlongPenalty,
    ThinklessReward,
)

CORRECT_THINK = "<think>2+2=4</think><answer>4</answer>"
WRONG_THINK = "<think>2+2=5</think><answer>5</answer>"
CORRECT_PLAIN = "4"
WRONG_PLAIN = "5"
EMPTY_THINK = "<think></think><answer>4</answer>"


def cosine_reference(length, max_len, correct, low_wrong=-1.0, high_wrong=-0.5,
                     low_correct=0.5, high_correct=1.0):
    progress = min(length / max_len, 1.0)
    low, high = (low_correct, high_correct) if correct else (high_wrong, low_wrong)
    return low + 0.5 * (high - low) * (1 + math.cos(progress * math.pi))


@pytest.mark.parametrize("length", [0, 1, 25, 50, 99, 100, 250])
@pytest.mark.parametrize("correct", [True, False])
def test_cosine_length_reward_tokens(length, correct):
    reward = CosineLengthReward(max_len=100, unit="tokens")
    answer = "\\boxed{1/3}" if correct else "\\boxed{1/2}"
    score = reward(answer, ground_truth="\\frac{1}{3}", completion_ids=[1] * length)
    assert score == pytest.approx(cosine_reference(length, 100, correct), abs=1e-12)


def test_cosine_length_reward_trl_example_and_chars():
    reward = CosineLengthReward(max_len=100, unit="tokens")
    ids = [1] * 50
    assert reward("\\boxed{\\frac{1}{3}}", ground_truth="\\frac{1}{3}",
                  completion_ids=ids) == pytest.approx(0.75)
    assert reward("\\boxed{\\frac{1}{2}}", ground_truth="\\frac{1}{3}",
                  completion_ids=ids) == pytest.approx(-0.75)
    chars = CosineLengthReward(max_len=10)
    assert chars("4", ground_truth="4") == pytest.approx(cosine_reference(1, 10, True))
    assert chars("4", ground_truth=None) is None


@pytest.mark.parametrize(("length", "expected"), [(50, 0.0), (80, 0.0), (90, -0.5), (100, -1.0),
                                                  (110, -1.0), (81, -1 / 20)])
def test_soft_overlong_punishment(length, expected):
    reward = SoftOverlongPenalty(max_completion_len=100, soft_punish_cache=20)
    assert reward("", completion_ids=[1] * length) == pytest.approx(expected)


def test_soft_overlong_configuration():
    with pytest.raises(ValueError, match="soft_punish_cache"):
        SoftOverlongPenalty(max_completion_len=10, soft_punish_cache=20)
    assert SoftOverlongPenalty(10, 0, unit="chars")("x" * 11) == -1.0
    assert SoftOverlongPenalty(10, 0, unit="chars")("x" * 10) == 0.0


def test_adaptthink():
    reward = AdaptThinkReward(delta=0.1)
    assert reward(CORRECT_PLAIN, ground_truth="4", reference_accuracy=0.75) == pytest.approx(
        1 - 0.75 + 0.1)
    assert reward(EMPTY_THINK, ground_truth="4") == pytest.approx(1.1)  # <think></think>
    assert reward(CORRECT_THINK, ground_truth="4", reference_accuracy=0.75) == pytest.approx(
        0.25)
    assert reward(WRONG_PLAIN, ground_truth="4", reference_accuracy=0.5) == pytest.approx(-0.5)
    objective = AdaptThinkReward(delta=0.1, require_correct=False)
    assert objective(WRONG_PLAIN, ground_truth="4") == pytest.approx(0.1)
    assert reward(CORRECT_PLAIN) is None


def test_thinkless_table():
    reward = ThinklessReward(gamma=0.2)
    assert reward(CORRECT_PLAIN, ground_truth="4") == 1.0
    assert reward(CORRECT_THINK, ground_truth="4") == pytest.approx(0.8)
    assert reward(WRONG_THINK, ground_truth="4") == -1.0
    assert reward(WRONG_PLAIN, ground_truth="4") == -1.0
    with pytest.raises(ValueError, match="gamma"):
        ThinklessReward(gamma=1.5)


def autothink_reference(outcomes, balance_rate=0.5, slope=2.0):
    """AutoThink's stage-1 batch balancing, written out case by case."""
    base = {(True, True): 1.0, (True, False): 0.0, (False, True): 2.0, (False, False): -1.0}
    target = {(True, True): 0.0, (True, False): -1.0, (False, True): 1.0, (False, False): -2.0}
    think_rate = sum(thought for thought, _ in outcomes) / len(outcomes)
    rates = {True: think_rate, False: 1 - think_rate}
    scores = []
    for outcome in outcomes:
        factor = 0.0
        if rates[outcome[0]] > balance_rate:
            factor = max(0.0, min(1.0, (rates[outcome[0]] - balance_rate) * slope))
        scores.append((1 - factor) * base[outcome] + factor * target[outcome])
    return scores


@pytest.mark.parametrize("pattern", ["TtNn", "TTTn", "TTTT", "Nnnn", "TtnN", "Tn"])
def test_autothink_batch_balance(pattern):
    # T: thinking, correct; t: thinking, wrong; N: no thinking, correct; n: wrong
    texts = {"T": CORRECT_THINK, "t": WRONG_THINK, "N": CORRECT_PLAIN, "n": WRONG_PLAIN}
    samples = [Sample.build(texts[code], ground_truth="4") for code in pattern]
    outcomes = [(code in "Tt", code in "TN") for code in pattern]
    scores = AutoThinkReward().score_batch(samples)
    assert scores == pytest.approx(autothink_reference(outcomes))


def test_autothink_skips_samples_without_truth():
    samples = [Sample.build(CORRECT_THINK, ground_truth="4"), Sample.build(CORRECT_PLAIN)]
    assert AutoThinkReward().score_batch(samples) == [0.0, None]
    with pytest.raises(ValueError, match="think_targets"):
        AutoThinkReward(think_targets=(1.0,))
