"""The cold-start mixture: well-formed samples in every mode, exact proportions, the auto-think
choice from a measured table, seeded determinism, and the JSONL reader's errors."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from skillgym.envs.keye.mixture import (
    BOOTSTRAP_ACCURACY,
    KEYE_TEXT_PROPORTIONS,
    AccuracyTable,
    MalformedSampleError,
    MixtureConfig,
    accuracy_table,
    apportion,
    build_mixture,
    choice_sentence,
    load_accuracy_table,
    read_mixture,
    stuttered,
    write_mixture,
)
from skillgym.envs.keye.tasks import LEVEL_NUMBERS, sample_problems
from skillgym.rewards.base import Sample
from skillgym.rewards.parsing import extract_answer, parse_response, requested_mode
from skillgym.rewards.repetition import LoopPenalty

CONTEXT_BYTES = 512
TEMPLATE_ALLOWANCE = 8  # the chat template's BOS, role and end-of-message tokens


@pytest.fixture(scope="module")
def mixture():
    return build_mixture(MixtureConfig(size=3_000, seed=1))


def test_every_sample_is_well_formed_in_its_mode(mixture):
    for sample in mixture:
        prompt, response = (m["content"] for m in sample["messages"])
        mode = sample["mode"]
        assert requested_mode(prompt) == mode
        assert (sample["switch"] == "none") == (not prompt.rstrip().endswith(f"/{mode}"))
        for lenient in (True, False):
            parsed = parse_response(response, lenient=lenient)
            assert parsed.format_errors == (), (lenient, response)
            assert parsed.mode == mode
            assert parsed.answer_form == sample["form"]
            assert parsed.answer == str(sample["answer"])
        assert extract_answer(response, style="keye") == str(sample["answer"])
        if mode == "think" or sample["form"] == "think":
            assert parsed.thinking.endswith(f"\n{sample['answer']}") or parsed.thinking == str(
                sample["answer"])
        if mode == "auto_think":
            assert parsed.analysis.endswith(choice_sentence(sample["form"]))
        if mode == "no_think":
            assert response == str(sample["answer"])


def test_every_sample_fits_the_context(mixture):
    for sample in mixture:
        size = sum(len(m["content"].encode()) for m in sample["messages"])
        assert size <= CONTEXT_BYTES - TEMPLATE_ALLOWANCE


def test_proportions_are_honoured_exactly(mixture):
    modes = Counter(sample["mode"] for sample in mixture)
    assert modes == apportion(3_000, KEYE_TEXT_PROPORTIONS)
    assert apportion(50_000, KEYE_TEXT_PROPORTIONS) == {
        "no_think": 28_448, "think": 19_828, "auto_think": 1_724}
    by_mode_level = Counter((sample["mode"], sample["level"]) for sample in mixture)
    for mode, count in modes.items():
        for level, wanted in apportion(count, dict.fromkeys(LEVEL_NUMBERS, 1)).items():
            assert by_mode_level[mode, level] == wanted
    autos = [s for s in mixture if s["mode"] == "auto_think"]
    silent = sum(s["switch"] == "none" for s in autos)
    assert abs(silent - len(autos) / 2) <= len(LEVEL_NUMBERS)


def test_custom_proportions_and_levels():
    config = MixtureConfig(size=200, proportions={"think": 3, "no_think": 1},
                           level_weights={2: 1, 6: 3}, no_switch_fraction=0.0)
    samples = build_mixture(config)
    assert Counter(s["mode"] for s in samples) == {"think": 150, "no_think": 50}
    # per mode, by largest remainders; a tie (37.5 / 112.5) goes to the first level
    assert Counter((s["mode"], s["level"]) for s in samples) == {
        ("think", 2): 38, ("think", 6): 112, ("no_think", 2): 13, ("no_think", 6): 37}
    assert apportion(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}


def test_same_seed_same_mixture_other_seed_other():
    config = MixtureConfig(size=400, seed=3)
    first = build_mixture(config)
    assert first == build_mixture(config)
    assert first != build_mixture(MixtureConfig(size=400, seed=4))


def test_held_out_mixture_never_shares_a_problem_with_training(mixture):
    held_out = build_mixture(MixtureConfig(size=1_000, seed=1, split="test"))
    assert all(s["split"] == "test" for s in held_out)
    assert all(s["split"] == "train" for s in mixture)
    assert not {s["problem_id"][3:] for s in held_out} & {s["problem_id"][3:] for s in mixture}


def test_auto_think_follows_the_measured_table():
    table = AccuracyTable(
        by_level={1: (1.0, 50), 2: (0.95, 50), 3: (0.95, 50), 4: (0.5, 50), 5: (0.2, 50),
                  6: (0.1, 50)},
        # two-digit level-3 problems measured separately: unreliable; one-digit ones too few
        by_level_digits={(3, 2): (0.6, 40), (3, 1): (0.0, 5)},
    )
    config = MixtureConfig(size=3_000, proportions={"auto_think": 1}, accuracy=table)
    chosen = {(s["level"], s["digits"], s["form"]) for s in build_mixture(config)}
    assert {(level, form) for level, _, form in chosen} == {
        (1, "no_think"), (2, "no_think"), (3, "no_think"), (3, "think"), (4, "think"),
        (5, "think"), (6, "think")}
    assert {(d, form) for level, d, form in chosen if level == 3} == {(1, "no_think"),
                                                                         (2, "think")}
    stricter = MixtureConfig(size=600, proportions={"auto_think": 1}, accuracy=table,
                             think_threshold=0.99)
    assert {(s["level"], s["form"]) for s in build_mixture(stricter) if s["level"] == 2} == {
        (2, "think")}


def test_the_bootstrap_is_the_default_and_says_so():
    assert MixtureConfig().accuracy is BOOTSTRAP_ACCURACY
    assert "bootstrap" in BOOTSTRAP_ACCURACY.source
    assert BOOTSTRAP_ACCURACY.no_think_accuracy(2, 1) >= 0.9 > BOOTSTRAP_ACCURACY.no_think_accuracy(
        3, 2)


def test_measurement_file_to_table(tmp_path):
    records = (
        [{"level": 3, "digits": 2, "mode": "no_think", "correct": c} for c in [True] * 3 + [False]]
        + [{"level": 3, "digits": 1, "mode": "no_think", "correct": True}]
        + [{"level": 3, "digits": 2, "mode": "think", "correct": False}] * 7  # not counted
    )
    path = tmp_path / "measured.json"
    path.write_text(json.dumps({"records": records}))
    table = load_accuracy_table(path, min_count=2)
    assert table.by_level == {3: (0.8, 5)}
    assert table.by_level_digits == {(3, 2): (0.75, 4), (3, 1): (1.0, 1)}
    assert table.no_think_accuracy(3, 2) == 0.75
    assert table.no_think_accuracy(3, 1) == 0.8  # one record is too few: the level's rate
    assert table.source == str(path)
    with pytest.raises(ValueError, match="no entry for level 4"):
        table.no_think_accuracy(4, 1)


def test_bad_measurements_are_named(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not JSON"):
        load_accuracy_table(path)
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="'records' list"):
        load_accuracy_table(path)
    with pytest.raises(ValueError, match="record 1 lacks \\['correct'\\]"):
        accuracy_table([{"level": 1, "digits": 1, "mode": "no_think", "correct": True},
                        {"level": 1, "digits": 1, "mode": "no_think"}])
    with pytest.raises(ValueError, match="record 0 has level 9"):
        accuracy_table([{"level": 9, "digits": 1, "mode": "no_think", "correct": True}])
    with pytest.raises(ValueError, match="no no_think records"):
        accuracy_table([{"level": 1, "digits": 1, "mode": "think", "correct": True}])


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("size", -1, "size must be"),
        ("proportions", {"agentic_think": 1}, "unknown keys"),
        ("proportions", {"think": -1}, "must be a finite number"),
        ("proportions", {"think": 0}, "sum to 0"),
        ("level_weights", {7: 1}, "unknown keys"),
        ("split", "dev", "split must be one of"),
        ("think_threshold", 1.5, "think_threshold must be"),
        ("no_switch_fraction", -0.1, "no_switch_fraction must be"),
        ("loop_fraction", 1.01, "loop_fraction must be"),
        ("seed", -2, "seed must be"),
        ("accuracy", {1: 1.0}, "accuracy must be an AccuracyTable"),
    ],
)
def test_bad_config_is_named(argument, value, message):
    with pytest.raises(ValueError, match=message):
        MixtureConfig(**{argument: value})


def test_a_stuttered_trace_repeats_one_line_and_loops():
    loop = LoopPenalty()
    rng = np.random.default_rng(0)
    for level in LEVEL_NUMBERS:
        for problem in sample_problems(level, 20, 3):
            lines = problem.trace.lines
            text = stuttered(problem, rng)
            said = text.split("\n")
            # Collapsing the run of repeats gives the clean trace back, answer last.
            collapsed = [line for i, line in enumerate(said) if i == 0 or line != said[i - 1]]
            assert collapsed == [line for i, line in enumerate(lines)
                                 if i == 0 or line != lines[i - 1]]
            assert said[-1] == lines[-1] and len(said) >= len(lines) + 2
            repeated = max(set(said), key=said.count)
            assert said.count(repeated) * len(repeated.split()) >= 24
            if len(repeated.split()) <= 30:
                assert loop.score(Sample.build(text)) == -1.0, text


def test_loop_fraction_stutters_thinking_responses_only_and_keeps_the_rest():
    clean = build_mixture(MixtureConfig(size=1_500, seed=2))
    looping = build_mixture(MixtureConfig(size=1_500, seed=2, loop_fraction=0.5))
    assert not any(sample["stutters"] for sample in clean)
    stutters = 0
    for before, after in zip(clean, looping, strict=True):
        assert {k: v for k, v in before.items() if k not in ("messages", "stutters")} == {
            k: v for k, v in after.items() if k not in ("messages", "stutters")}
        assert before["messages"][0] == after["messages"][0]
        response = after["messages"][1]["content"]
        if not after["stutters"]:
            assert response == before["messages"][1]["content"]
            continue
        stutters += 1
        assert after["form"] == "think"
        parsed = parse_response(response, lenient=False)
        assert parsed.format_errors == () and parsed.answer == str(after["answer"])
    thinking = sum(sample["form"] == "think" for sample in clean)
    assert abs(stutters / thinking - 0.5) < 0.06


def test_jsonl_round_trip(tmp_path, mixture):
    path = write_mixture(mixture[:200], tmp_path / "mix.jsonl")
    read = read_mixture(path)
    assert read.samples == mixture[:200] and read.skipped == []


def test_malformed_lines_are_named_by_file_and_line(tmp_path):
    good = json.dumps({"messages": [{"role": "user", "content": "Calculate 1+1."},
                                    {"role": "assistant", "content": "2"}]})
    lines = [
        good.encode(),
        b'{"messages": [',  # 2: bad JSON
        json.dumps({"prompt": "x"}).encode(),  # 3: no messages
        json.dumps({"messages": [{"role": "assistant", "content": "2"},
                                 {"role": "user", "content": "x"}]}).encode(),  # 4: roles
        b"",  # 5: blank, ignored
        b"\xff\xfe",  # 6: not UTF-8
        json.dumps({"messages": [{"role": "user", "content": 1},
                                 {"role": "assistant", "content": "2"}]}).encode(),  # 7
        good.encode(),
    ]
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(MalformedSampleError, match=r"broken\.jsonl:2: bad JSON") as caught:
        read_mixture(path)
    assert (caught.value.path, caught.value.line) == (str(path), 2)
    read = read_mixture(path, on_error="skip")
    assert len(read.samples) == 2
    assert [error.line for error in read.skipped] == [2, 3, 4, 6, 7]
    reasons = [error.reason for error in read.skipped]
    assert "missing 'messages'" in reasons[1] and "roles ['user', 'assistant']" in reasons[2]
    assert "not UTF-8" in reasons[3] and "content is not a string" in reasons[4]
    with pytest.raises(ValueError, match="on_error must be one of"):
        read_mixture(path, on_error="ignore")
