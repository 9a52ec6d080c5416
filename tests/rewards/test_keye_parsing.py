"""The Keye-VL response parser: the five modes, evaluator-order extraction, strict and lenient."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillgym.rewards.parsing import (
    AGENTIC_THINK,
    AUTO_THINK,
    NO_THINK,
    THINK,
    extract_answer,
    last_boxed,
    parse_response,
    requested_mode,
)

# Responses in the forms of the Keye-VL technical report's appendix case studies, one per mode
# (video answers use the same forms as images), with the mode and answer each must parse to.
APPENDIX_EXAMPLES = [
    (
        "<think>\nThe chart shows revenue of 120 in 2021 and 150 in 2022. The growth is "
        "(150 - 120) / 120 = 0.25, i.e. 25%.\n</think>\n<answer>\nThe revenue grew by "
        "\\boxed{25\\%}.\n</answer>",
        THINK, None, "25\\%",
    ),
    ("The cat is sitting on the red sofa.", NO_THINK, None, "The cat is sitting on the red sofa."),
    (
        "<analysis>The question only asks for the color of the car in the image, which can be "
        "read off directly without multi-step reasoning. Therefore I choose /no_think."
        "</analysis>The car is blue.",
        AUTO_THINK, "no_think", "The car is blue.",
    ),
    (
        "<analysis>This is a geometry problem that requires computing an angle from several "
        "given relations, so step-by-step reasoning is needed. /think</analysis>"
        "<think>Angles in a triangle sum to 180°, so x = 180 - 65 - 45 = 70.</think>"
        "<answer>\\boxed{70^\\circ}</answer>",
        AUTO_THINK, "think", "70^\\circ",
    ),
    (
        "<think>The text in the top-right corner is too small to read. I will crop and "
        "enlarge that region.\n```python\nfrom PIL import Image\nimg = Image.open('input.png')"
        "\nw, h = img.size\ncrop = img.crop((w // 2, 0, w, h // 4)).resize((w, h // 2))\n"
        "crop.save('crop.png')\nprint(crop.size)\n```\n</think>"
        "<sandbox_output>(1024, 384)</sandbox_output>"
        "<think>The enlarged crop reads \"OPEN 24 HOURS\".</think>"
        "<answer>OPEN 24 HOURS</answer>",
        AGENTIC_THINK, None, "OPEN 24 HOURS",
    ),
    (
        "<think>\nFrame 1 shows the person holding a cup; in the last frames the cup is on the "
        "table. So the person put the cup down.\n</think>\n<answer>B</answer>",
        THINK, None, "B",
    ),
]


@pytest.mark.parametrize(("response", "mode", "chosen", "answer"), APPENDIX_EXAMPLES)
def test_report_examples_parse_to_mode_and_answer(response, mode, chosen, answer):
    parsed = parse_response(response)
    assert parsed.mode == mode
    assert parsed.chosen_mode == chosen
    assert parsed.answer == answer
    assert parsed.format_errors == ()


def test_structured_fields():
    parsed = parse_response(APPENDIX_EXAMPLES[4][0])
    assert parsed.sandbox_outputs == ("(1024, 384)",)
    assert "crop" in parsed.thinking and "OPEN 24 HOURS" in parsed.thinking
    assert parsed.thinks and parsed.answer_form == AGENTIC_THINK
    auto = parse_response(APPENDIX_EXAMPLES[3][0])
    assert auto.analysis.endswith("/think") and auto.answer_form == THINK
    assert not parse_response("<think></think><answer>1</answer>").thinks


@pytest.mark.parametrize(("prompt", "mode"), [
    ("Describe the image. /no_think", NO_THINK),
    ("/think What is 2+2?", THINK),
    ("Solve it /auto_think", AUTO_THINK),
    ("Read the sign /agentic_think", AGENTIC_THINK),
    ("first /think then /no_think", NO_THINK),
    ("a path a/think/b or http://x/no_think", None),
    ("no switch", None),
    (None, None),
    ([{"role": "user", "content": "Q? /auto_think"}], AUTO_THINK),
])
def test_requested_mode(prompt, mode):
    assert requested_mode(prompt) == mode


@pytest.mark.parametrize(("response", "errors"), [
    ("<think>a</think>", ["missing <answer>"]),
    ("<think>a<answer>1</answer>", ["<answer> nested inside <think>",
                                    "</answer> inside <think>", "<think> is never closed",
                                    "missing <answer>"]),
    ("<think>a</think>x<answer>1</answer>", ["text before <answer>"]),
    ("<think>a</think><answer>1</answer> trailing", ["text after </answer>"]),
    ("a</think><answer>1</answer>", ["</think> without <think>", "text before <answer>"]),
    ("<think>a</think><think>b</think><answer>1</answer>", ["more than one <think> block"]),
    ("<analysis>easy</analysis>1", ["analysis chooses neither /think nor /no_think"]),
    ("<analysis>/no_think but why</analysis>1", ["analysis does not end with its choice"]),
    ("<analysis>hard /think</analysis>7", ["analysis chose /think but the answer is in "
                                           "no_think form"]),
    ("<think>no code</think><sandbox_output>1</sandbox_output><answer>1</answer>",
     ["<sandbox_output> without code in a <think> before it"]),
    ("", ["empty answer"]),
])
def test_strict_format_errors(response, errors):
    assert list(parse_response(response).format_errors) == errors


def test_lenient_accepts_common_near_misses():
    for response in ("a</think><answer>1</answer>", "<think>a</think> The answer is 1.",
                     "<analysis>/no_think since it is easy</analysis>1",
                     "Sure! <think>a</think>\n<answer>1</answer> Hope it helps."):
        assert parse_response(response, lenient=True).format_errors == ()
    assert parse_response("a</think>x", lenient=True).thinking == "a"


@pytest.mark.parametrize(("response", "answer"), [
    ("<answer>a</answer> <answer>b</answer>", "b"),
    ("<answer>x<answer>y</answer>", "x<answer>y"),  # re.findall's leftmost, non-greedy match
    ("<think>\\boxed{1}</think>\\boxed{2}", "2"),
    ("<analysis>/think</analysis><think>t</think><answer>\\boxed{\\frac{1}{2}}</answer>",
     "\\frac{1}{2}"),
    ("\\boxed{3} then \\boxed{4}", "4"),
    ("\\boxed{unclosed {nested}", "unclosed {nested}"),
    ("\x08oxed{7}", "7"),  # "\boxed" whose \b became a backspace, as Keye's evaluator allows
    ("  plain  ", "plain"),
    ("<answer>5", "<answer>5"),
])
def test_answer_extraction_order(response, answer):
    assert extract_answer(response) == answer


def keye_extraction_oracle(text: str) -> str:
    """Keye's evaluator order, written with re.findall and a brace counter."""
    if "</analysis>" in text:
        text = text.split("</analysis>")[-1]
    if "</think>" in text:
        text = text.split("</think>")[-1].strip()
    matches = re.findall(r"<answer>(.*?)</answer>", text, re.DOTALL)
    block = matches[-1] if matches else text
    if "\\boxed{" not in block:
        return block.strip()
    rest, depth = block.split("\\boxed{")[-1], 1
    for index, char in enumerate(rest):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return rest[:index].strip()
    return rest.strip()


TAG_SOUP = st.lists(st.sampled_from([
    "<think>", "</think>", "<answer>", "</answer>", "<analysis>", "</analysis>",
    "<sandbox_output>", "</sandbox_output>", "\\boxed{", "{", "}", "a", "7", " ", "\n",
    "/think", "/no_think", "```",
]), max_size=40).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=TAG_SOUP)
def test_extraction_matches_evaluator_order_on_tag_soup(text):
    assert extract_answer(text) == keye_extraction_oracle(text)
    for lenient in (False, True):
        parsed = parse_response(text, lenient=lenient)
        assert parsed.mode in (THINK, NO_THINK, AUTO_THINK, AGENTIC_THINK)
        assert parsed.answer == extract_answer(text)


PLAIN = st.text(st.characters(blacklist_characters="<>/\\{}\x08", blacklist_categories=("Cs",)),
                min_size=1, max_size=30).filter(lambda text: text.strip() == text and text)


@settings(max_examples=60, deadline=None)
@given(thinking=PLAIN, answer=PLAIN, analysis=PLAIN, code=PLAIN, output=PLAIN)
def test_well_formed_responses_round_trip(thinking, answer, analysis, code, output):
    cases = {
        THINK: f"<think>{thinking}</think>\n<answer>{answer}</answer>",
        NO_THINK: answer,
        AUTO_THINK: f"<analysis>{analysis} /think</analysis><think>{thinking}</think>"
                    f"<answer>{answer}</answer>",
        AGENTIC_THINK: f"<think>{thinking}\n```python\n{code}\n```</think>"
                       f"<sandbox_output>{output}</sandbox_output><answer>{answer}</answer>",
    }
    for mode, response in cases.items():
        parsed = parse_response(response)
        assert (parsed.mode, parsed.answer, parsed.format_errors) == (mode, answer, ())
        if mode == AGENTIC_THINK:
            assert parsed.sandbox_outputs == (output,)
        elif mode != NO_THINK:
            assert parsed.thinking == thinking


def test_last_boxed():
    assert last_boxed("no box") is None
    assert last_boxed("\\boxed{a{b}c}") == "a{b}c"
