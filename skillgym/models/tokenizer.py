"""Byte-level tokenizer and chat template of the built-in language model.

A token is one UTF-8 byte (ids 0-255) or one of six special tokens, so any text is a prompt
and nothing is ever out of vocabulary::

    PAD 256   padding; never part of a sequence's real tokens
    BOS 257   start of a sequence
    EOS 258   end of a message (the assistant's EOS is what ends generation)
    SYSTEM 259, USER 260, ASSISTANT 261   role markers that open a message

The chat template renders ``messages`` (a list of ``{"role": ..., "content": ...}``) as::

    BOS  ROLE content-bytes EOS  ROLE content-bytes EOS  ...

and a generation prompt as the same followed by ``ASSISTANT``: the reply starts right after it
and ends with EOS. For supervised training, the assistant mask marks each assistant message's
content bytes and its closing EOS (what the model must learn to write, including when to stop);
the BOS, the role markers and the other messages are context only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

PAD, BOS, EOS, SYSTEM, USER, ASSISTANT = 256, 257, 258, 259, 260, 261
#: Number of token ids: 256 bytes and the six special tokens.
VOCAB_SIZE = 262
ROLE_TOKENS: dict[str, int] = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}


def encode(text: str, *, bos: bool = False) -> list[int]:
    """The UTF-8 bytes of ``text`` as token ids, after a BOS when ``bos`` is true."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    ids = list(text.encode("utf-8"))
    return [BOS, *ids] if bos else ids


def decode(ids: Sequence[int] | torch.Tensor) -> str:
    """The text of the byte tokens in ``ids``; special tokens are skipped and bytes that are not
    valid UTF-8 become U+FFFD (a sampled byte sequence need not be valid UTF-8)."""
    if isinstance(ids, torch.Tensor):
        ids = ids.tolist()
    return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")


def encode_chat(messages: Sequence[Mapping[str, str]]) -> tuple[list[int], list[bool]]:
    """The token ids of a conversation and, per token, whether the assistant wrote it.

    The mask is true on each assistant message's content bytes and closing EOS: the tokens a
    supervised loss should score. Raises ValueError naming the bad message.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ValueError("messages must be a list of {'role', 'content'} dicts")
    ids, mask = [BOS], [False]
    for index, message in enumerate(messages):
        role, content = _check_message(message, index)
        body = [*content.encode("utf-8"), EOS]
        ids += [ROLE_TOKENS[role], *body]
        mask += [False] + [role == "assistant"] * len(body)
    return ids, mask


def encode_prompt(messages: Sequence[Mapping[str, str]]) -> list[int]:
    """The generation prompt of a conversation: its tokens followed by ``ASSISTANT``, so that
    what the model writes next is the assistant's reply."""
    return [*encode_chat(messages)[0], ASSISTANT]


def pad_batch(
    sequences: Sequence[Sequence[int]], *, side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token-id sequences to one ``(batch, longest)`` int64 tensor with PAD, on the
    ``"left"`` (generation prompts: every row's last token in the last column) or the ``"right"``
    (training); returns it and the bool mask of real tokens."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if len(sequences) == 0:
        raise ValueError("sequences must not be empty")
    longest = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), longest), PAD, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.bool)
    for row, sequence in enumerate(sequences):
        if len(sequence) == 0:
            continue
        columns = slice(longest - len(sequence), longest) if side == "left" else slice(
            0, len(sequence))
        ids[row, columns] = torch.as_tensor(sequence, dtype=torch.long)
        mask[row, columns] = True
    return ids, mask


def _check_message(message: object, index: int) -> tuple[str, str]:
    """The role and content of ``messages[index]``, or ValueError saying what is wrong."""
    if not isinstance(message, Mapping):
        raise ValueError(f"messages[{index}] must be a dict with 'role' and 'content'")
    role, content = message.get("role"), message.get("content")
    if role not in ROLE_TOKENS:
        raise ValueError(
            f"messages[{index}]['role'] must be one of {sorted(ROLE_TOKENS)}, got {role!r}")
    if not isinstance(content, str):
        raise ValueError(
            f"messages[{index}]['content'] must be a str, got {type(content).__name__}")
    return role, content
