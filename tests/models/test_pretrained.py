"""The built-in model that ships in the package: it loads, fits its budget, and answers what
docs/keye.md documents it answering."""

from __future__ import annotations

import pytest

from skillgym.models import TransformerConfig
from skillgym.models.pretrained import builtin_path, load_builtin
from skillgym.models.responders import BuiltinResponder

# Greedy answers of the shipped checkpoint, as docs/keye.md lists them.
DOCUMENTED = [
    ("Calculate 5+3.", "think", "<think>5+3\n5+3=8\n8</think><answer>8</answer>"),
    ("Calculate 55.", "no_think", "55"),
    ("Calculate 6+8.", "no_think", "14"),
    ("Calculate 52-17.", "think",
     "<think>52-17\n52>17\n52-17: 12-7=5 5-1-1=3 =35\n35</think><answer>35</answer>"),
]


def test_the_shipped_checkpoint_is_small_and_loads_as_the_default_model():
    assert builtin_path().stat().st_size <= 5 * 1024 * 1024
    model = load_builtin()
    assert model.config == TransformerConfig()
    assert next(model.parameters()).dtype.is_floating_point


@pytest.mark.parametrize("prompt, mode, answer", DOCUMENTED)
def test_the_shipped_model_gives_its_documented_answers(prompt, mode, answer):
    responder = BuiltinResponder(load_builtin())
    response = responder.respond([prompt], [mode])[0]
    assert response.text == answer
    # The reply's tokens: its bytes and the closing EOS.
    assert response.num_tokens == len(answer.encode()) + 1
