"""No model output makes a reward raise: every registered reward on hostile input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import skillgym.rewards as rewards
from skillgym.rewards import Sample

# Rewards that count tokens also get the ids; the rest are configured to need text only.
CONFIGS = {
    "weighted_sum": {"components": {"accuracy": 1.0, "keye_format": 1.0, "loop": 1.0,
                                    "repetition_penalty": 1.0}},
    "dense_repetition": {"unit": "words"},
    "soft_overlong": {"unit": "chars"},
}
TOKEN_CONFIGS = [("repetition_penalty", {"unit": "tokens"}), ("dense_repetition", {}),
                 ("loop", {"unit": "tokens"}), ("soft_overlong", {}),
                 ("cosine_length", {"unit": "tokens"})]
TEXT_REWARDS = [(name, CONFIGS.get(name, {})) for name in sorted(rewards.names())
                if name in {"accuracy", "adaptthink", "autothink", "cosine_length",
                            "dense_repetition", "keye_format", "loop", "repetition_penalty",
                            "soft_overlong", "thinkless", "weighted_sum"}]
TEXT_REWARDS += [("loop", {"unit": "chars"}), ("repetition_penalty", {"unit": "chars"})]

HOSTILE = {
    "none": None,
    "empty": "",
    "whitespace": " \t\n\u3000 ",
    "million_chars": "x" * 1_000_000,
    "million_chars_of_words": "ab " * 333_334,
    "invalid_utf8": b"\xff\xfe\x80<think>\xc3\x28</think>",
    "lone_surrogate": "\ud800<answer>\udfff</answer>",
    "unbalanced_tags": "<think><answer></think></answer><analysis>",
    "nested_tags": "<think><think><answer><answer>1</answer></answer></think></think>",
    "tag_flood": "<answer>" * 50_000,
    "boxed_flood": "\\boxed{" * 20_000,
    "integer": 12345,
    "float_nan": float("nan"),
    "object": object(),
    "dict_without_content": {"role": "assistant"},
    "nested_messages": [[{"content": None}]],
    "numbers_as_answer": "<answer>" + "9" * 5000 + "</answer>",
}


def _check(score):
    assert score is None or (isinstance(score, float) and math.isfinite(score))


@pytest.mark.parametrize(("name", "config"), TEXT_REWARDS,
                         ids=[f"{name}-{config.get('unit', '')}" for name, config in TEXT_REWARDS])
def test_hostile_outputs_get_a_defined_score(name, config):
    reward = rewards.get(name, **config)
    samples = [Sample.build(output, prompt="/auto_think", ground_truth="4")
               for output in HOSTILE.values()]
    explained = [reward.explain(sample).score for sample in samples]
    for score in explained:
        _check(score)
    batch = reward.score_batch(samples)
    for score in batch:
        _check(score)
    if name != "autothink":  # AutoThink balances over the batch, so its batch scores differ
        assert batch == pytest.approx(explained)


@pytest.mark.parametrize(("name", "config"), TOKEN_CONFIGS)
def test_extreme_token_ids_get_a_defined_score(name, config):
    reward = rewards.get(name, **config)
    for ids in ([], [0], [2**63 - 1, -(2**63)] * 10, list(range(100_000)), [5] * 100_000):
        _check(reward(HOSTILE["invalid_utf8"], completion_ids=ids, ground_truth="4"))


def test_unusable_ids_are_refused_not_silently_dropped():
    reward = rewards.get("repetition_penalty", unit="tokens")
    for ids in (["not", "ints"], [[1, 2], [3, 4]], [1.5, 2.5]):
        with pytest.raises(ValueError, match="completion_ids"):
            reward("x", completion_ids=ids)


ANYTHING = st.one_of(
    st.none(), st.text(), st.binary(), st.integers(), st.floats(), st.booleans(),
    st.lists(st.text(), max_size=3),
    st.dictionaries(st.sampled_from(["content", "role", "type", "text"]),
                    st.one_of(st.text(), st.none(), st.integers()), max_size=3),
    st.lists(st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "<analysis>",
                              "</analysis>", "/think", "/no_think", "\\boxed{", "}", "4", " ",
                              "<sandbox_output>", "</sandbox_output>", "```", "好"]),
             max_size=30).map("".join),
)


@settings(max_examples=40, deadline=None)
@given(output=ANYTHING, prompt=ANYTHING, truth=st.one_of(st.none(), st.text(max_size=10),
                                                         st.integers()))
def test_every_reward_on_arbitrary_objects(output, prompt, truth):
    for name, config in TEXT_REWARDS:
        _check(rewards.get(name, **config)(output, prompt=prompt, ground_truth=truth))


def test_extra_columns_must_be_a_mapping():
    with pytest.raises(ValueError, match="extra must be a mapping"):
        Sample.build("x", extra=["column"])
