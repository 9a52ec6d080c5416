"""The Keye format reward: requested mode from the prompt, the sample, or the default."""

from __future__ import annotations

import pytest

from skillgym.rewards import KeyeFormatReward, Sample

THINKING = "<think>reason</think><answer>1</answer>"
PLAIN = "The answer is 1."
AUTO_NO = "<analysis>Easy, so /no_think</analysis>1"
# Keye's own closing sentence of an analysis, with no space before the answer (a real decode).
KEYE_AUTO_NO = ("<analysis>The question is straightforward. Therefore, /no_think mode is more "
                "appropriate.</analysis>The answer is 1.")
AUTO_THINK = "<analysis>Hard. /think</analysis><think>r</think><answer>1</answer>"
AUTO_MISMATCH = "<analysis>Hard. /think</analysis>1"
AGENTIC = ("<think>```python\nprint(2)\n```</think><sandbox_output>2</sandbox_output>"
           "<answer>2</answer>")
AGENTIC_INSIDE = ("<think>Crop it.\n<code>```python\nprint(2)\n```</code>\n"
                  "<sandbox_output>2</sandbox_output>\nIt prints 2.</think>\n<answer>2</answer>")


@pytest.mark.parametrize(("prompt", "response", "score"), [
    ("Q /think", THINKING, 1.0),
    ("Q /think", PLAIN, 0.0),
    ("Q /no_think", PLAIN, 1.0),
    ("Q /no_think", THINKING, 0.0),
    ("Q /auto_think", AUTO_NO, 1.0),
    ("Q /auto_think", AUTO_THINK, 1.0),
    ("Q /auto_think", KEYE_AUTO_NO, 1.0),
    ("Q /auto_think", AUTO_MISMATCH, 0.0),
    ("Q /auto_think", THINKING, 0.0),
    ("Q /agentic_think", AGENTIC, 1.0),
    ("Q /agentic_think", AGENTIC_INSIDE, 1.0),
    ("Q /agentic_think", THINKING, 0.0),
    ("Q /think", AGENTIC_INSIDE, 0.0),
    # No switch: Keye-VL-1.5 thinks automatically, so only an auto-think response is well formed
    # (this used to accept any well-formed response; default_mode=None still does).
    ("Q", THINKING, 0.0),
    ("Q", PLAIN, 0.0),
    ("Q", AUTO_NO, 1.0),
    ("Q", KEYE_AUTO_NO, 1.0),
    ("Q", AUTO_MISMATCH, 0.0),
    ("Q", "<think>unclosed", 0.0),
])
def test_format_follows_requested_mode(prompt, response, score):
    assert KeyeFormatReward()(response, prompt=prompt) == score


def test_mode_from_sample_column_or_default_and_custom_scores():
    reward = KeyeFormatReward(default_mode="think", correct_score=0.5, wrong_score=-0.5)
    assert reward(THINKING) == 0.5
    assert reward(PLAIN) == -0.5
    assert reward(PLAIN, mode="no_think") == 0.5
    assert reward(PLAIN, prompt="Q", mode="no_think") == 0.5  # the column beats the default
    assert reward(PLAIN, prompt="/no_think", mode="think") == 0.5  # the prompt's switch wins


def test_no_switch_convention():
    result = KeyeFormatReward().explain(Sample.build(THINKING, prompt="Describe the image."))
    assert result.score == 0.0 and result.details["requested_mode"] == "auto_think"
    assert result.details["errors"] == ("requested auto_think but the response is in think form",)
    assert KeyeFormatReward()(KEYE_AUTO_NO) == 1.0  # no prompt at all: the same default
    anything = KeyeFormatReward(default_mode=None)
    for response in (THINKING, PLAIN, AUTO_NO, AGENTIC_INSIDE):
        assert anything(response, prompt="Q") == 1.0
    assert anything(AUTO_MISMATCH, prompt="Q") == 0.0
    assert anything.explain(Sample.build(PLAIN, prompt="Q")).details["requested_mode"] is None


def test_details_name_the_problem():
    result = KeyeFormatReward().explain(Sample.build(AUTO_MISMATCH, prompt="/auto_think"))
    assert result.details["chosen_mode"] == "think"
    assert "analysis chose /think but the answer is in no_think form" in result.details["errors"]


def test_lenient_setting():
    near_miss = "reason</think>\n<answer>1</answer>"
    assert KeyeFormatReward()(near_miss, prompt="/think") == 0.0
    assert KeyeFormatReward(lenient=True)(near_miss, prompt="/think") == 1.0


def test_bad_configuration():
    with pytest.raises(ValueError, match="default_mode"):
        KeyeFormatReward(default_mode="video")
    with pytest.raises(ValueError, match="correct_score"):
        KeyeFormatReward(correct_score=float("nan"))
