"""Fixtures of the language-model tests."""

from __future__ import annotations

import pytest
import torch
from lm_helpers import TINY

from skillgym.models import CausalTransformer


@pytest.fixture
def tiny_model() -> CausalTransformer:
    """A randomly initialized float64 model (seeded), with weights large enough (std 0.3
    instead of 0.02) that its logits depend strongly on the context."""
    torch.manual_seed(0)
    model = CausalTransformer(TINY).double()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0, 0.3)
    return model

