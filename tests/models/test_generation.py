"""Batched generation: the cache against recomputation, padding, stopping, log-probabilities
and argument checks."""

from __future__ import annotations

import math

import pytest
import torch
from lm_helpers import TINY, constant_model

from skillgym.models import (
    EOS,
    PAD,
    SamplingParams,
    encode,
    encode_prompt,
    generate,
    token_log_probs,
)

PROMPTS = [encode_prompt([{"role": "user", "content": text}])
           for text in ("2+3?", "What is 17 * 4? /think", "hi", "a longer prompt, of 30 bytes.",
                        "x", "12345", "/no_think 9-9", "zz top")]
# ASCII bytes the tiny model writes now and then: rows stop after different numbers of tokens.
FREQUENT = ("q", "&", "~", "*", "g")


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("params", [
    SamplingParams(max_new_tokens=20, temperature=1.0, top_p=0.9, log_probs=True),
    SamplingParams(max_new_tokens=20, temperature=0.7, top_k=20, log_probs=True),
    SamplingParams(max_new_tokens=20, temperature=0, log_probs=True),
    SamplingParams(max_new_tokens=20, temperature=1.0, stop=FREQUENT, log_probs=True),
])
def test_cache_and_recomputation_generate_the_same(tiny_model, params):
    cached = generate(tiny_model, PROMPTS, params, generator=seeded())
    recomputed = generate(tiny_model, PROMPTS, params, generator=seeded(), use_cache=False)
    assert torch.equal(cached.tokens, recomputed.tokens)
    assert torch.equal(cached.lengths, recomputed.lengths)
    assert cached.finish_reasons == recomputed.finish_reasons
    torch.testing.assert_close(cached.log_probs, recomputed.log_probs, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(cached.model_log_probs, recomputed.model_log_probs,
                               rtol=1e-10, atol=1e-10)


def test_same_seed_same_output_other_seed_other_output(tiny_model):
    params = SamplingParams(max_new_tokens=16)
    first = generate(tiny_model, PROMPTS, params, generator=seeded(1))
    again = generate(tiny_model, PROMPTS, params, generator=seeded(1))
    other = generate(tiny_model, PROMPTS, params, generator=seeded(2))
    assert first.texts == again.texts and torch.equal(first.tokens, again.tokens)
    assert not torch.equal(first.tokens, other.tokens)


def test_greedy_batch_matches_row_by_row_argmax(tiny_model):
    """The oracle: each prompt alone, the whole context recomputed for every token, argmax."""
    out = generate(tiny_model, PROMPTS, SamplingParams(max_new_tokens=12, temperature=0))
    for row, prompt in enumerate(PROMPTS):
        ids = list(prompt)
        with torch.no_grad():
            for _ in range(12):
                ids.append(int(tiny_model(torch.tensor([ids]))[0, -1].argmax()))
        assert out[row].token_ids == ids[len(prompt):]


def test_rows_leaving_the_batch_do_not_disturb_the_others(tiny_model):
    """Rows that stop early leave the batch and the cache; every row still writes what it
    writes alone (the row-by-row greedy oracle, cut after its first stop byte)."""
    out = generate(tiny_model, PROMPTS, SamplingParams(max_new_tokens=24, temperature=0,
                                                       stop=FREQUENT))
    stops = {ord(s) for s in FREQUENT}
    for row, prompt in enumerate(PROMPTS):
        ids = list(prompt)
        with torch.no_grad():
            while len(ids) - len(prompt) < 24 and ids[-1] not in stops:
                ids.append(int(tiny_model(torch.tensor([ids]))[0, -1].argmax()))
        assert out[row].token_ids == ids[len(prompt):]
    assert len(set(out.lengths.tolist())) >= 4


def test_left_padding_does_not_change_a_rows_output(tiny_model):
    params = SamplingParams(max_new_tokens=15, temperature=0, log_probs=True)
    short = PROMPTS[2]
    alone = generate(tiny_model, [short], params)[0]
    in_batch = generate(tiny_model, [PROMPTS[3], short, PROMPTS[1]], params)[1]
    assert in_batch.token_ids == alone.token_ids and in_batch.text == alone.text
    assert in_batch.model_log_probs == pytest.approx(alone.model_log_probs, abs=1e-10)


def test_log_probs_equal_scoring_the_finished_sequences(tiny_model):
    """The generator's log-probabilities of its own tokens equal a fresh forward's over
    prompt + reply: at temperature 1 for the model's, at the sampling temperature with the
    same top-k for the sampling distribution's."""
    params = SamplingParams(max_new_tokens=10, temperature=0.8, top_k=3, log_probs=True)
    out = generate(tiny_model, PROMPTS, params, generator=seeded(5))
    for row, prompt in enumerate(PROMPTS):
        reply = out[row]
        ids = torch.tensor([prompt + reply.token_ids])
        with torch.no_grad():
            model = token_log_probs(tiny_model, ids)[0, len(prompt) - 1:]
            logits = tiny_model(ids)[0, len(prompt) - 1:-1] / 0.8
        third = logits.topk(3).values[:, -1:]
        sampling = logits.masked_fill(logits < third, -math.inf).log_softmax(-1)
        sampling = sampling.gather(1, ids[0, len(prompt):, None]).squeeze(1)
        assert reply.model_log_probs == pytest.approx(model.tolist(), abs=1e-10)
        assert reply.log_probs == pytest.approx(sampling.tolist(), abs=1e-10)


def test_eos_ends_each_row_on_its_own():
    """A model that writes 'a' with probability 0.8 and EOS with 0.2, whatever the context:
    each row ends at its first EOS (kept in the tokens, not in the text), rows that have not
    written one keep going, and finished rows stop growing."""
    a = ord("a")
    model = constant_model({a: 0.8, EOS: 0.2})
    out = generate(model, [PROMPTS[0]] * 32, SamplingParams(max_new_tokens=12, log_probs=True),
                   generator=seeded(7))
    lengths = out.lengths.tolist()
    assert len(set(lengths)) > 3  # rows really end at different steps
    for row in range(32):
        reply = out[row]
        if reply.finish_reason == "eos":
            assert reply.token_ids == [a] * (reply.num_tokens - 1) + [EOS]
        else:
            assert reply.finish_reason == "length"
            assert reply.token_ids == [a] * 12
        assert reply.text == "a" * reply.token_ids.count(a)
        assert (out.tokens[row, reply.num_tokens:] == PAD).all()
        expected = [math.log(0.8) if t == a else math.log(0.2) for t in reply.token_ids]
        assert reply.log_probs == pytest.approx(expected, abs=1e-12)
    assert out.tokens.shape[1] == max(lengths)
    ignored = generate(model, [PROMPTS[0]] * 4, SamplingParams(max_new_tokens=12,
                                                                ignore_eos=True),
                       generator=seeded(7))
    assert ignored.finish_reasons == ["length"] * 4 and ignored.lengths.tolist() == [12] * 4


def test_stop_strings_end_a_row_right_after_the_match():
    """Bytes a, b, 0xC3 and 0xA9 (é is 0xC3 0xA9) drawn at random: a row that stopped ends
    with a stop string and holds no earlier match of any stop string in its generated bytes;
    a row that did not stop holds none and has its full length. A match inside the prompt
    (row 0's ends with "bé") does not count."""
    model = constant_model({ord("a"): 0.3, ord("b"): 0.3, 0xC3: 0.2, 0xA9: 0.2})
    prompts = [encode("xbé", bos=True)] + [PROMPTS[0]] * 31
    stop = ("bé", "aaa")
    out = generate(model, prompts, SamplingParams(max_new_tokens=30, stop=stop),
                   generator=seeded(11))
    encoded = [s.encode() for s in stop]
    for row in range(len(prompts)):
        generated = bytes(out[row].token_ids)
        first_end = min((generated.find(s) + len(s) for s in encoded if s in generated),
                        default=None)
        if out[row].finish_reason == "stop":
            assert first_end == len(generated)
            assert out[row].text.endswith(stop)
        else:
            assert out[row].finish_reason == "length"
            assert first_end is None and len(generated) == 30
        assert (out.tokens[row, len(generated):] == PAD).all()
    assert 0 < out.finish_reasons.count("stop") < len(prompts)


def test_a_row_that_fills_the_context_stops_there(tiny_model):
    long_prompt = list(range(65, 65 + TINY.context_length - 3))
    out = generate(tiny_model, [long_prompt, PROMPTS[0]],
                   SamplingParams(max_new_tokens=10, ignore_eos=True), generator=seeded())
    assert out.lengths.tolist() == [3, 10]
    assert out.finish_reasons == ["context", "length"]


@pytest.mark.parametrize("prompts, match", [
    ([], "prompts must be a non-empty list"),
    ([[1, 2], []], r"prompts\[1\] is empty"),
    ([[1, 2], list(range(64))], r"prompts\[1\] has 64 tokens; the model's context_length"),
    (["hello"], r"prompts\[0\] must be token ids"),
    ([[1, 262]], r"prompts\[0\] holds ids outside 0..261"),
    ([[1, -1]], r"prompts\[0\] holds ids"),
])
def test_bad_prompts_name_the_prompt(tiny_model, prompts, match):
    with pytest.raises(ValueError, match=match):
        generate(tiny_model, prompts, SamplingParams(max_new_tokens=2))


def test_prompts_may_be_tensors(tiny_model):
    params = SamplingParams(max_new_tokens=5, temperature=0)
    as_lists = generate(tiny_model, PROMPTS, params)
    as_tensors = generate(tiny_model, [torch.tensor(p) for p in PROMPTS], params)
    assert torch.equal(as_lists.tokens, as_tensors.tokens)
