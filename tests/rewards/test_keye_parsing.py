"""The Keye-VL response parser: the five modes, evaluator-order extraction, strict and lenient."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillgym.rewards import KeyeFormatReward
from skillgym.rewards.parsing import (
    AGENTIC_THINK,
    AUTO_THINK,
    MODES,
    NO_THINK,
    THINK,
    extract_answer,
    last_boxed,
    parse_response,
    requested_mode,
)

# Hand-written responses in each mode's form (video answers use the same forms as images), with
# the mode and answer each must parse to; the agentic one keeps its sandbox output between
# <think> blocks, the layout accepted beside the real one (see REAL below).
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
    assert requested_mode(prompt, default=None) == mode
    # Keye-VL-1.5 thinks automatically when the prompt has no suffix: that is the default.
    assert requested_mode(prompt) == (AUTO_THINK if mode is None else mode)
    assert requested_mode(prompt, default=THINK) == (THINK if mode is None else mode)


def test_requested_mode_default_is_checked():
    with pytest.raises(ValueError, match="default"):
        requested_mode("Q", default="video")


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
    ("<analysis>/no_think mode is fine.</analysis>1", ["analysis does not end with its choice"]),
    ("<analysis>Easy. Therefore, /no_think mode is more appropriate.</analysis>1", []),
    ("<analysis>Hard. Therefore, /think mode is more appropriate. </analysis>\n"
     "<think>t</think><answer>1</answer>", []),
    ("<analysis>hard /think</analysis>7", ["analysis chose /think but the answer is in "
                                           "no_think form"]),
    ("<think>no code</think><sandbox_output>1</sandbox_output><answer>1</answer>",
     ["<sandbox_output> without code in a <think> before it"]),
    ("<think>no code <sandbox_output>1</sandbox_output></think><answer>1</answer>",
     ["<sandbox_output> without code in a <think> before it"]),
    ("<think><sandbox_output>1</sandbox_output>```late```</think><answer>1</answer>",
     ["<sandbox_output> without code in a <think> before it"]),
    ("<think>```c``` <sandbox_output>1</sandbox_output> ok</think><answer>1</answer>", []),
    ("<think>```c```<sandbox_output>1</think></sandbox_output></think><answer>1</answer>",
     ["</think> inside <sandbox_output>"]),
    ("<think>```c```<sandbox_output>1<answer>", ["<answer> nested inside <sandbox_output>",
                                                 "<sandbox_output> is never closed",
                                                 "<think> is never closed", "missing <answer>"]),
    ("<think>t</think><answer><sandbox_output>1</sandbox_output></answer>",
     ["<sandbox_output> nested inside <answer>", "</sandbox_output> inside <answer>"]),
    ("", ["empty answer"]),
])
def test_strict_format_errors(response, errors):
    assert list(parse_response(response).format_errors) == errors


def test_lenient_accepts_common_near_misses():
    for response in ("a</think><answer>1</answer>", "<think>a</think> The answer is 1.",
                     "<analysis>/no_think since it is easy</analysis>1",
                     "Sure! <think>a</think>\n<answer>1</answer> Hope it helps.",
                     "<think>no fence<sandbox_output>1</sandbox_output></think><answer>1</answer>"):
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
    # Keye's and Thyme's real layout: code and its output inside the <think>.
    inside = (f"<think>{thinking}\n<code>```python\n{code}\n```</code>\n"
              f"<sandbox_output>{output}</sandbox_output>\n{analysis}</think>\n"
              f"<answer>{answer}</answer>")
    parsed = parse_response(inside)
    assert (parsed.mode, parsed.answer, parsed.format_errors) == (AGENTIC_THINK, answer, ())
    assert parsed.sandbox_outputs == (output,)
    assert parsed.thinking == inside[len("<think>"):inside.index("</think>")]


def test_last_boxed():
    assert last_boxed("no box") is None
    assert last_boxed("\\boxed{a{b}c}") == "a{b}c"


EXAMPLES = (Path(__file__).resolve().parents[2].parent / "shared" / "data"
            / "keye" / "examples.jsonl")

# The six real Keye-VL responses of the shared data: id -> (mode, chosen mode, the switch the
# model answered, the start and end of the answer as given, the answer once the PDF conversion's
# table "|X|" / "|---|" is turned back into \boxed{X} (None: no box to restore), strict errors).
# Two strict errors come from the conversion: it dropped the code fences of the agentic answer
# and moved a sentence of the semicircle answer after </answer>.
REAL = {
    "keye1_appC21_agentic_strawberries": (
        AGENTIC_THINK, None, AGENTIC_THINK, "The number of strawberries in the picture is",
        "|20|\n|---|\n\n.", "20", ("<sandbox_output> without code in a <think> before it",)),
    "keye1_appC22_autothink_nothink_findx": (
        AUTO_THINK, NO_THINK, AUTO_THINK, "The given image depicts a right triangle",
        "the value of x is √21.\n\nx =", None, ()),
    "keye1_appC22_autothink_think_semicircles": (
        AUTO_THINK, THINK, AUTO_THINK, "To solve this problem, we can analyze",
        "= 2π ]\n\n|2π|\n|---|\n\n).", "2π", ("text after </answer>",)),
    "keye1_appC12_nonthinking_ecommerce_cpv": (
        NO_THINK, None, NO_THINK, '{"Style": "Skirt Set",', '"Applicable Season": "Spring"}',
        None, ()),
    "keye15_appA_video_think_dog_ear": (
        THINK, None, THINK, "The big dog bites the little dog’s ear to correct",
        "make the little dog comply.", None, ()),
    "keye15_msswift_test_autothink_prefix": (
        AUTO_THINK, NO_THINK, AUTO_THINK, "This image features a close-up",
        "an adorable kitten with s", None, ()),
}


def restore_box(text: str) -> str:
    """Undo the PDF conversion's rendering of \\boxed{X} as the table "|X|" / "|---|"."""
    return re.sub(r"\s*\|([^|\n]+)\|\n\|---\|\s*", lambda match: f" \\boxed{{{match[1]}}}", text)


@pytest.fixture(scope="module")
def real_rows():
    if not EXAMPLES.is_file():
        pytest.skip(f"real Keye-VL responses {EXAMPLES} are absent")
    rows = [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines()]
    return {row["id"]: row for row in rows}


def test_real_responses_are_the_known_six(real_rows):
    assert set(real_rows) == set(REAL)


@pytest.mark.parametrize("row_id", sorted(REAL))
def test_real_response_parses(real_rows, row_id):
    mode, chosen, _, first, last, boxed, strict_errors = REAL[row_id]
    response = real_rows[row_id]["response"]
    strict, lenient = parse_response(response), parse_response(response, lenient=True)
    assert (strict.mode, strict.chosen_mode) == (mode, chosen)
    assert strict.format_errors == strict_errors
    assert lenient.format_errors == ()
    assert strict.answer.startswith(first) and strict.answer.endswith(last)
    restored = parse_response(restore_box(response))
    assert (restored.mode, restored.chosen_mode, restored.format_errors) == (
        mode, chosen, strict_errors)
    assert restored.answer == (strict.answer if boxed is None else boxed)
    if boxed is None:
        assert restore_box(response) == response


def test_real_responses_structure(real_rows):
    agentic = parse_response(real_rows["keye1_appC21_agentic_strawberries"]["response"])
    assert agentic.sandbox_outputs == (" <subimage_strawberry> ",)
    assert "zoomed_img.save" in agentic.thinking and "number of strawberries is 20" in (
        agentic.thinking)
    decode = parse_response(real_rows["keye15_msswift_test_autothink_prefix"]["response"])
    assert decode.analysis.endswith("Therefore, /no_think mode is more appropriate.")
    assert decode.answer_form == NO_THINK and decode.thinking is None


@pytest.mark.parametrize("row_id", sorted(REAL))
def test_format_reward_on_real_responses(real_rows, row_id):
    _, _, switch, _, _, _, strict_errors = REAL[row_id]
    row = real_rows[row_id]
    assert switch in MODES and requested_mode(row["prompt"], default=None) is None
    strict, lenient = KeyeFormatReward(), KeyeFormatReward(lenient=True)
    assert lenient(row["response"], prompt=row["prompt"], mode=switch) == 1.0
    assert strict(row["response"], prompt=row["prompt"], mode=switch) == float(not strict_errors)
    # None of the prompts has a switch: Keye-VL-1.5's convention requests auto-think.
    expected = float(switch == AUTO_THINK)
    assert lenient(row["response"], prompt=row["prompt"]) == expected
