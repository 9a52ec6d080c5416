"""keye_extract_answer against Keye-VL's published evaluator, re-implemented here from its code.

The oracle below follows ``KeyeChat.post_process_func`` (Kwai-Keye/Keye,
``evaluation/KC-MMBench/vlmeval/vlm/keye_vlm/model.py``; the same in VLMEvalKit) step by step:
``str.split``, a brace counter that compares lengths, ``re.findall``. The library reaches the same
strings another way (``rpartition``, a linear ``<answer>`` scan, explicit "no box" results).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from skillgym.rewards import AccuracyReward, extract_answer, keye_extract_answer

EXAMPLES = (Path(__file__).resolve().parents[2].parent / "shared" / "data"
            / "keye" / "examples.jsonl")


def _cut_box(text: str, marker: str) -> str:
    """Keye's box matcher: split on the marker, count braces from one, cut where the count hits
    zero or at the last character; an empty remainder returns the input as it was."""
    rest = text.split(marker)[-1]
    depth, end = 1, None
    for index, char in enumerate(rest):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if depth == 0:
            end = index
            break
        if index == len(rest) - 1:
            end = len(rest)
            break
    return text if end is None else rest[:end]


def _box_or(text: str) -> str:
    """The raw-string marker's cut if its length differs, else the backspace marker's, else the
    text."""
    for marker in (r"\boxed{", "\boxed{"):  # noqa: ISC001 - the second is "\x08oxed{" on purpose
        cut = _cut_box(text, marker)
        if len(cut) != len(text):
            return cut
    return text


def keye_post_process(prediction: str) -> str:
    """Keye's ``post_process_func`` as published."""
    if "</analysis>" in prediction:
        prediction = prediction.split("</analysis>")[-1]
    if "</think>" in prediction:
        prediction = prediction.split("</think>")[-1].lstrip("\n").strip()
    if "<answer>" not in prediction:
        return _box_or(prediction)
    matches = re.findall(r"<answer>(.*?)</answer>", prediction, re.DOTALL)
    return _box_or(matches[-1]) if matches else prediction


PIECES = ["<think>", "</think>", "<answer>", "</answer>", "<analysis>", "</analysis>",
          "<sandbox_output>", "</sandbox_output>", "\\boxed{", "\x08oxed{", "{", "}", "a", "7",
          " ", "\n", "\t", "\u3000", "/think", "/no_think", "```"]


def test_equals_keye_evaluator_on_random_mixtures():
    rng = random.Random(20250901)
    texts = ["".join(rng.choices(PIECES, k=rng.randint(0, 40))) for _ in range(20_000)]
    mismatches = [text for text in texts if keye_extract_answer(text) != keye_post_process(text)]
    assert mismatches == []
    assert all(extract_answer(text, style="keye") == keye_extract_answer(text) for text in texts)
    # The mixtures reach the quirks: the sensible extraction disagrees on many of them.
    quirky = sum(extract_answer(text) != keye_post_process(text).strip() for text in texts)
    assert quirky > 2_000


@pytest.mark.parametrize(("text", "keye", "skillgym"), [
    ("x \\boxed{", "x \\boxed{", ""),  # nothing after the marker: the whole text
    ("} 5", "", "} 5"),  # a stray brace cuts the answer even without a box
    ("4 }", "4 ", "4 }"),
    ("<answer> \\boxed{5}", "<answer> \\boxed{5}", "5"),  # no closed pair: the text as it is
    ("\\boxed{1} \x08oxed{2}", "1", "2"),  # "\boxed{" first, wherever it is
    ("<think>t</think>\n <answer> a </answer>", " a ", "a"),  # the block is not stripped
    ("<analysis>/no_think</analysis> 7 ", " 7 ", "7"),  # only "</think>" strips
    ("a}b\\boxed{", "a", ""),  # empty box remainder, then the brace scan of the whole text
    ("\\boxed{a{b}c", "a{b}c", "a{b}c"),
    ("<answer></answer>", "", ""),
    ("<answer>x<answer>y</answer>", "x<answer>y", "x<answer>y"),
])
def test_quirks(text, keye, skillgym):
    assert keye_post_process(text) == keye
    assert keye_extract_answer(text) == keye
    assert extract_answer(text) == skillgym


def test_huge_inputs_take_linear_time():
    flood = "<answer>" * 50_000  # re.findall would take minutes here
    assert keye_extract_answer(flood) == flood
    boxes = "\\boxed{" * 20_000
    assert keye_extract_answer(boxes) == boxes
    braces = "{" * 500_000 + "}" * 500_001
    assert keye_extract_answer(braces) == braces[:-1]
    assert keye_extract_answer(None) == "" and keye_extract_answer(b"\xff}") == "\ufffd"


def test_real_responses():
    if not EXAMPLES.is_file():
        pytest.skip(f"real Keye-VL responses {EXAMPLES} are absent")
    rows = [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6
    for row in rows:
        expected = keye_post_process(row["response"])
        assert keye_extract_answer(row["response"]) == expected, row["id"]
        assert extract_answer(row["response"]) == expected.strip(), row["id"]


def test_style_option_and_accuracy_reward():
    assert AccuracyReward(extraction="keye")("4 }", ground_truth="4") == 1.0
    assert AccuracyReward()("4 }", ground_truth="4") == 0.0
    assert AccuracyReward(extraction="keye")("\\boxed{1} \x08oxed{2}", ground_truth="2") == 0.0
    assert AccuracyReward()("\\boxed{1} \x08oxed{2}", ground_truth="2") == 1.0
    with pytest.raises(ValueError, match="style"):
        extract_answer("1", style="vlmeval")
    with pytest.raises(ValueError, match="extraction"):
        AccuracyReward(extraction="vlmeval")
