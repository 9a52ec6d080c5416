"""Trained models as child policies: the ``(obs, action_mask) -> int`` callables AECEnv calls."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np


def from_model(model, deterministic: bool = True) -> Callable[[dict, np.ndarray], int]:
    """Wrap a stable-baselines3 / sb3-contrib model (anything with ``.predict``) as a child policy.

    Models whose ``predict`` takes ``action_masks`` (sb3-contrib's MaskablePPO) get the child's
    mask; others act unmasked, and the machine treats their masked-out actions as no-ops.
    """
    predict = getattr(model, "predict", None)
    if not callable(predict):
        raise TypeError(f"model must have a predict method, got {type(model).__name__}")
    takes_masks = "action_masks" in inspect.signature(predict).parameters

    def policy(obs: dict, action_mask: np.ndarray) -> int:
        if takes_masks:
            action, _ = predict(obs, action_masks=action_mask, deterministic=deterministic)
        else:
            action, _ = predict(obs, deterministic=deterministic)
        return int(action)

    return policy
