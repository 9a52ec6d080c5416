"""The SFT trainer of the built-in model: schedule, batches, loss, one step, exact resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skillgym.agents.lm_sft import (
    LengthBatches,
    SFTSettings,
    SFTTrainer,
    collate,
    encode_conversations,
    learning_rate,
    sft_loss,
)
from skillgym.models import CausalTransformer, TransformerConfig, encode_chat

TINY = TransformerConfig(n_layers=1, d_model=16, n_heads=2, context_length=64)


def _conversation(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}


CONVERSATIONS = [_conversation(f"{a}+{b}", str(a + b)) for a in range(7) for b in range(5)]


def test_learning_rate_follows_warmup_then_cosine():
    settings = SFTSettings(steps=110, warmup_steps=10, learning_rate=1.0, final_learning_rate=0.1)
    assert learning_rate(0, settings) == pytest.approx(0.1)
    assert learning_rate(9, settings) == pytest.approx(1.0)
    assert learning_rate(10, settings) == pytest.approx(1.0)
    # Halfway through the decay: the mean of the peak and the floor.
    assert learning_rate(10 + 99 // 2, settings) == pytest.approx(
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 49 / 99)))
    assert learning_rate(109, settings) == pytest.approx(0.1)


@pytest.mark.parametrize("argument, value", [("steps", 0), ("batch_size", -1),
                                             ("learning_rate", 0.0), ("final_learning_rate", 2.0),
                                             ("grad_clip", float("nan")), ("seed", 1.5)])
def test_bad_settings_name_the_argument(argument, value):
    with pytest.raises(ValueError, match=argument):
        SFTSettings(**{argument: value})


def test_encoding_sets_aside_what_cannot_be_trained_on():
    samples = [CONVERSATIONS[0], {"messages": "not a list"}, {"text": "no messages"},
               _conversation("x" * 100, "too long for a 64-token context"),
               {"messages": [{"role": "user", "content": "only a question"}]}]
    data = encode_conversations(samples, context_length=64)
    assert len(data) == 1
    assert data.skipped == {"malformed": 2, "too long": 1, "no assistant reply": 1}
    ids, mask = encode_chat(CONVERSATIONS[0]["messages"])
    assert data.ids[0].tolist() == ids and data.targets[0].tolist() == mask


def test_batches_cover_every_conversation_once_an_epoch_and_follow_the_seed():
    lengths = np.random.default_rng(0).integers(5, 60, size=103)
    stream = LengthBatches(lengths, batch_size=8, seed=3)
    epoch = [next(stream) for _ in range(13)]  # ceil(103 / 8)
    assert sorted(np.concatenate(epoch).tolist()) == list(range(103))
    assert stream.state_dict() == {"epoch": 0, "batch": 13}
    next(stream)
    assert stream.state_dict() == {"epoch": 1, "batch": 1}
    again = LengthBatches(lengths, batch_size=8, seed=3)
    assert all((next(again) == batch).all() for batch in epoch)
    other = LengthBatches(lengths, batch_size=8, seed=4)
    assert any((next(other) != batch).any() for batch in epoch if len(batch) == 8)
    with pytest.raises(ValueError, match="no conversations"):
        LengthBatches(np.zeros(0, dtype=np.int64), 8, 0)


def test_token_budget_batches_fit_the_budget_and_cover_every_conversation():
    lengths = np.random.default_rng(1).integers(3, 300, size=500)
    stream = LengthBatches(lengths, batch_size=8, seed=0, batch_tokens=600)
    seen = []
    while stream.state_dict()["epoch"] == 0:
        batch = next(stream)
        if stream.state_dict()["epoch"] == 0:
            seen.append(batch)
    assert sorted(np.concatenate(seen).tolist()) == list(range(500))
    for batch in seen:
        padded = len(batch) * lengths[batch].max()
        assert padded <= 600 or len(batch) == 1
    # Short conversations share a batch by the dozen, long ones come two or three at a time.
    sizes = {len(batch) for batch in seen}
    assert max(sizes) >= 20 and min(sizes) <= 3


def test_loss_is_the_mean_cross_entropy_of_the_assistant_tokens():
    torch.manual_seed(0)
    model = CausalTransformer(TINY).double()
    data = encode_conversations(CONVERSATIONS[:3], 64)
    ids, real, targets = collate(data, np.arange(3))
    loss, count = sft_loss(model, ids, real, targets)
    # Reference: each conversation alone, unpadded, log-softmax in float64.
    total, tokens = 0.0, 0
    for row in range(3):
        sequence, target = data.ids[row], data.targets[row]
        with torch.no_grad():
            log_probs = torch.log_softmax(model(sequence[None, :-1])[0], dim=-1)
        picked = log_probs[torch.arange(len(sequence) - 1), sequence[1:]]
        total -= float(picked[target[1:]].sum())
        tokens += int(target[1:].sum())
    assert count == tokens
    assert loss.item() == pytest.approx(total / tokens, rel=1e-10)


def _trainer(steps: int = 12) -> SFTTrainer:
    torch.manual_seed(1)
    model = CausalTransformer(TINY)
    data = encode_conversations(CONVERSATIONS, 64)
    return SFTTrainer(model, data, SFTSettings(steps=steps, batch_size=8, warmup_steps=2,
                                               learning_rate=1e-2))


def test_training_lowers_the_loss():
    trainer = _trainer(steps=60)
    losses = [trainer.step()["loss"] for _ in range(60)]
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    assert trainer.done
    with pytest.raises(RuntimeError, match="all 60 steps"):
        trainer.step()


def test_resuming_from_a_saved_state_is_bit_identical(tmp_path):
    straight = _trainer()
    for _ in range(12):
        straight.step()
    first = _trainer()
    for _ in range(5):
        first.step()
    torch.save(first.state_dict(), tmp_path / "state.pt")
    resumed = _trainer()
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    while not resumed.done:
        resumed.step()
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_a_state_saved_with_other_settings_is_refused():
    state = _trainer(steps=12).state_dict()
    with pytest.raises(ValueError, match="settings|trained with"):
        _trainer(steps=13).load_state_dict(state)


def test_a_non_finite_loss_stops_before_the_weights_change():
    trainer = _trainer()
    with torch.no_grad():
        trainer.model.embed.weight[0, 0] = float("nan")
    before = {name: tensor.clone() for name, tensor in trainer.model.state_dict().items()}
    with pytest.raises(FloatingPointError, match="loss is nan"):
        trainer.step()
    for name, tensor in trainer.model.state_dict().items():
        assert torch.allclose(tensor, before[name], rtol=0, atol=0, equal_nan=True), name
    assert trainer.steps_done == 0
