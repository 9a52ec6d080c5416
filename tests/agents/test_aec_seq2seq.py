"""The AEC sequence-model baseline learns, is deterministic, saves, and rejects bad input."""

from __future__ import annotations

import pytest
import torch

from skillgym.agents.aec_seq2seq import (
    TRAINING_SEED_BASE,
    SequenceModel,
    SequenceModelConfig,
    accuracy,
    train_sequence_model,
)
from skillgym.envs.aec.problems import problems

# A small model that learns 1-digit sums in a few seconds on one thread.
SMALL = {"d_model": 64, "encoder_layers": 2, "decoder_layers": 2, "feedforward": 256,
         "batch_size": 64, "warmup_steps": 20, "learning_rate": 3e-3}


@pytest.fixture(scope="module")
def one_digit_adder() -> SequenceModel:
    return train_sequence_model("ADD", SequenceModelConfig(max_level=1, steps=150, **SMALL),
                                progress=False)


def test_learns_one_digit_addition(one_digit_adder):
    # Untrained (or 40 steps) it scores ~0; 150 steps reach 100 % on this machine.
    test = problems("ADD", 1, 200, seed=1)
    assert accuracy(one_digit_adder, test) >= 0.95


def test_answers_match_python_integers(one_digit_adder):
    texts = [f"{a}+{b}" for a in range(10) for b in range(10)]
    expected = [a + b for a in range(10) for b in range(10)]
    found = one_digit_adder.answers(texts)
    assert sum(f == e for f, e in zip(found, expected, strict=True)) >= 95
    assert one_digit_adder.answer("7+8") == found[texts.index("7+8")]


def test_save_load_gives_identical_answers(one_digit_adder, tmp_path):
    texts = [p.text for p in problems("ADD", 2, 100, seed=2)]  # unseen lengths, wrong answers too
    one_digit_adder.save(tmp_path / "adder.pt")
    loaded = SequenceModel.load(tmp_path / "adder.pt")
    assert loaded.skill == "ADD" and loaded.config == one_digit_adder.config
    assert loaded.answers(texts) == one_digit_adder.answers(texts)


def test_loading_another_file_is_an_error(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a sequence model file"):
        SequenceModel.load(tmp_path / "other.pt")


def test_same_seed_gives_identical_parameters():
    config = SequenceModelConfig(max_level=2, steps=5, batch_size=16, d_model=32, feedforward=64,
                                 encoder_layers=1, decoder_layers=1, chunk_size=8)
    first, second = (train_sequence_model("SUB", config, progress=False) for _ in range(2))
    other = train_sequence_model("SUB", SequenceModelConfig(**{**config.__dict__, "seed": 1}),
                                 progress=False)
    state, again, different = (m.network.state_dict() for m in (first, second, other))
    assert all(torch.equal(state[k], again[k]) for k in state)
    assert not all(torch.equal(state[k], different[k]) for k in state)


def test_expressions_with_brackets_and_negative_answers_train_and_decode():
    # Every EVAL character reaches the model, negative targets are written, and any output is
    # read as an integer or None: never a crash, never a dropped problem.
    test = problems("EVAL", 6, 20, seed=3)
    assert any(p.answer < 0 for p in test) and any("(" in p.text for p in test)
    model = train_sequence_model("EVAL", SequenceModelConfig(
        max_level=6, steps=3, batch_size=8, d_model=32, feedforward=64, encoder_layers=1,
        decoder_layers=1, chunk_size=4, reverse_answer=True), progress=False)
    found = model.answers([p.text for p in test])
    assert len(found) == len(test)
    assert all(a is None or isinstance(a, int) for a in found)


def test_training_leaves_the_callers_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_sequence_model("ADD", SequenceModelConfig(max_level=1, steps=1, d_model=16, heads=2,
                                                    feedforward=16, encoder_layers=1,
                                                    decoder_layers=1, batch_size=4,
                                                    chunk_size=4), progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_reversed_answers_round_trip():
    # The reverse option writes "-05" for -50; reading it back must give -50, not -5 or None.
    from skillgym.agents.aec_seq2seq import _answer_text, _read_answer

    for value in (0, 7, -50, 1200, -1):
        for reverse in (False, True):
            assert _read_answer(_answer_text(value, reverse), reverse) == value
    assert _read_answer("007", reverse=False) is None
    assert _read_answer("", reverse=False) is None
    assert _read_answer("1+2", reverse=False) is None


def test_training_data_is_every_problem_of_the_training_seeds_in_turn():
    from skillgym.agents.aec_seq2seq import _training_batches

    config = SequenceModelConfig(max_level=3, batch_size=7, chunk_size=10)  # 30 = 4 * 7 + 2
    batches = _training_batches("MUL", config)
    seen = [p.text for _ in range(8) for p in next(batches)]  # 56 problems: two chunks, 4 over
    expected = [p.text for chunk in range(2) for level in (1, 2, 3)
                for p in problems("MUL", level, 10, seed=TRAINING_SEED_BASE + chunk)]
    assert sorted(seen[:30]) == sorted(expected[:30])
    assert set(seen[30:]) <= set(expected[30:]) and len(seen[30:]) == 26


@pytest.mark.parametrize("skill", ["MOD", "add", "ADD1"])
def test_unknown_skill_is_rejected(skill):
    with pytest.raises(ValueError, match="skill must be one of"):
        train_sequence_model(skill, SequenceModelConfig(steps=1), progress=False)


@pytest.mark.parametrize(("skill", "level"), [("ADD", 9), ("DIV", 7), ("EVAL", 7)])
def test_max_level_beyond_the_skill_is_rejected(skill, level):
    with pytest.raises(ValueError, match=f"max_level for {skill} must be in 1.."):
        train_sequence_model(skill, SequenceModelConfig(max_level=level, steps=1), progress=False)


@pytest.mark.parametrize(("field", "value"), [("max_level", 0), ("steps", 0), ("heads", 5),
                                              ("dropout", 1.0), ("learning_rate", 0.0),
                                              ("batch_size", True), ("warmup_steps", -1)])
def test_bad_config_is_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        SequenceModelConfig(**{field: value})


@pytest.mark.parametrize("text", ["1+x", "2^3", "1 + 2 = 3", "１+1"])
def test_unknown_character_is_rejected(one_digit_adder, text):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        one_digit_adder.answers(["1+1", text])


def test_accuracy_of_no_problems_is_an_error(one_digit_adder):
    with pytest.raises(ValueError, match="problems must not be empty"):
        accuracy(one_digit_adder, [])
