"""The byte tokenizer and the chat template, against hand-written token lists."""

from __future__ import annotations

import pytest
import torch

from skillgym.models import (
    ASSISTANT,
    BOS,
    EOS,
    PAD,
    SYSTEM,
    USER,
    VOCAB_SIZE,
    decode,
    encode,
    encode_chat,
    encode_prompt,
    pad_batch,
)


def test_special_tokens_follow_the_bytes():
    assert sorted({PAD, BOS, EOS, SYSTEM, USER, ASSISTANT}) == list(range(256, VOCAB_SIZE))


def test_encode_is_utf8_bytes_and_decode_inverts_it():
    text = "héllo ✓ 数 <think>"
    assert encode(text) == list(text.encode("utf-8"))
    assert encode("ab", bos=True) == [BOS, 97, 98]
    assert decode(encode(text)) == text
    assert decode(torch.tensor(encode(text))) == text


def test_decode_skips_special_tokens_and_replaces_broken_utf8():
    assert decode([BOS, 104, EOS, 105, PAD]) == "hi"
    assert decode([0xC3, 97]) == "\ufffda"  # a lead byte without its continuation


def test_chat_template_and_assistant_mask():
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "ok"}, {"role": "user", "content": "é"}]
    ids, mask = encode_chat(messages)
    assert ids == [BOS, SYSTEM, 83, EOS, USER, 104, 105, EOS, ASSISTANT, 111, 107, EOS,
                   USER, 0xC3, 0xA9, EOS]
    assert [i for i, m in zip(ids, mask, strict=True) if m] == [111, 107, EOS]
    assert mask[9:12] == [True, True, True] and sum(mask) == 3


def test_prompt_ends_where_the_reply_starts():
    messages = [{"role": "user", "content": "2+3?"}]
    assert encode_prompt(messages) == [BOS, USER, 50, 43, 51, 63, EOS, ASSISTANT]
    reply_ids, reply_mask = encode_chat([*messages, {"role": "assistant", "content": "5"}])
    # The prompt is the conversation's prefix up to the reply; the mask starts right after.
    assert reply_ids[:8] == encode_prompt(messages)
    assert reply_mask.index(True) == 8


@pytest.mark.parametrize("messages, match", [
    ("hello", "messages must be a list"),
    ([{"role": "bot", "content": "x"}], r"messages\[0\]\['role'\]"),
    ([{"role": "user", "content": "x"}, {"role": "user", "content": None}],
     r"messages\[1\]\['content'\]"),
    ([("user", "x")], r"messages\[0\] must be a dict"),
])
def test_bad_messages_name_the_message(messages, match):
    with pytest.raises(ValueError, match=match):
        encode_chat(messages)


def test_pad_batch_left_and_right():
    ids, mask = pad_batch([[1, 2, 3], [4]], side="left")
    assert ids.tolist() == [[1, 2, 3], [PAD, PAD, 4]]
    assert mask.tolist() == [[True, True, True], [False, False, True]]
    ids, mask = pad_batch([[1, 2, 3], [4]], side="right")
    assert ids.tolist() == [[1, 2, 3], [4, PAD, PAD]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    with pytest.raises(ValueError, match="side"):
        pad_batch([[1]], side="middle")
