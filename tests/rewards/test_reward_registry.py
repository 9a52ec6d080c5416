"""The registry: built-in names, registration, entry-point plugins, composition by name."""

from __future__ import annotations

import textwrap

import pytest

import skillgym.rewards as rewards
from skillgym.rewards import Reward, RewardResult, Sample, WeightedSum
from skillgym.rewards.registry import ENTRY_POINT_GROUP

BUILT_IN = {"accuracy", "adaptthink", "autothink", "cosine_length", "dense_repetition",
            "keye_format", "loop", "repetition_penalty", "soft_overlong", "thinkless",
            "weighted_sum"}


def test_builtin_names_build_rewards_named_after_themselves():
    assert BUILT_IN <= set(rewards.names())
    for name in BUILT_IN - {"weighted_sum"}:
        reward = rewards.get(name)
        assert isinstance(reward, Reward)
        assert reward.name == name == reward.__name__


def test_unknown_name_and_bad_arguments():
    with pytest.raises(ValueError, match="unknown reward 'nope'.*repetition_penalty"):
        rewards.get("nope")
    with pytest.raises(TypeError, match="colour"):
        rewards.get("loop", colour="red")
    with pytest.raises(ValueError, match="ngram_size"):
        rewards.get("repetition_penalty", ngram_size=-1)


class Constant(Reward):
    """Always the same score."""

    name = "constant"

    def __init__(self, value: float = 1.0) -> None:
        self.value = value

    def explain(self, sample: Sample) -> RewardResult:
        return RewardResult(self.value)


def test_register_and_replace():
    rewards.register("test_constant", Constant)
    try:
        assert rewards.get("test_constant", value=2.5)("anything") == 2.5
        assert "test_constant" in rewards.names()
        with pytest.raises(ValueError, match="already registered"):
            rewards.register("test_constant", Constant)
        with pytest.raises(ValueError, match="already registered"):
            rewards.register("loop", Constant)
        rewards.register("test_constant", lambda: Constant(3.0), replace=True)
        assert rewards.get("test_constant")("x") == 3.0
    finally:
        from skillgym.rewards import registry
        registry._REGISTERED.pop("test_constant", None)


def test_entry_point_plugins_are_discovered(tmp_path, monkeypatch):
    (tmp_path / "shout_plugin.py").write_text(textwrap.dedent('''
        from skillgym.rewards import Reward, RewardResult

        class Shout(Reward):
            """Scores the share of upper-case letters."""
            name = "shout"

            def explain(self, sample):
                letters = [c for c in sample.completion if c.isalpha()]
                return RewardResult(sum(c.isupper() for c in letters) / max(len(letters), 1))
    '''))
    dist = tmp_path / "shout_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nshout = shout_plugin:Shout\nbroken = shout_plugin:Missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert {"shout", "broken"} <= set(rewards.names())
    assert rewards.get("shout")("ABcd") == 0.5
    with pytest.raises(ValueError, match="reward plugin 'broken'.*failed to load"):
        rewards.get("broken")


def test_weighted_sum_reports_components():
    total = rewards.get("weighted_sum", components={
        "accuracy": 2.0,
        "keye_format": {"weight": 0.5, "lenient": True},
        "short": {"name": "soft_overlong", "weight": 1.0, "max_completion_len": 10,
                  "soft_punish_cache": 5, "unit": "chars"},
    })
    sample = Sample.build("<think>t</think><answer>4</answer>", prompt="/think",
                          ground_truth="4")
    result = total.explain(sample)
    assert result.score == pytest.approx(2.0 * 1 + 0.5 * 1 + 1.0 * -1.0)
    assert {label: part["score"] for label, part in result.details.items()} == {
        "accuracy": 1.0, "keye_format": 1.0, "short": -1.0}
    assert total.score_batch([sample]) == [result.score]
    # accuracy has no signal without ground truth: it is left out of the sum
    assert total("4", prompt="/no_think") == pytest.approx(0.5 * 1.0)
    only_accuracy = WeightedSum({"a": (rewards.get("accuracy"), 1.0)})
    assert only_accuracy("4") is None


def test_weighted_sum_configuration_errors():
    with pytest.raises(ValueError, match="components"):
        WeightedSum({})
    with pytest.raises(ValueError, match="weight of 'loop'"):
        WeightedSum({"loop": "heavy"})
    with pytest.raises(ValueError, match="unknown reward"):
        WeightedSum({"nope": 1.0})
