"""sb3-contrib's maskable rollout buffers, holding the action masks as booleans.

sb3-contrib keeps every step's action masks as float32 (``n_steps x n_envs x n_actions``) and
gathers and copies each minibatch's from them (on AEC skills, 304 per sample). As booleans they
take a quarter of the memory and the copies, and the kernel policies' ``evaluate_actions``
reduces them in numpy. The masks' values (allowed or not) are the same.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from sb3_contrib.common.maskable.buffers import MaskableDictRolloutBuffer, MaskableRolloutBuffer


class _BoolMasks:
    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self.action_masks = np.ones((self.buffer_size, self.n_envs, self.mask_dims), dtype=bool)


class BoolMaskRolloutBuffer(_BoolMasks, MaskableRolloutBuffer):
    """``MaskableRolloutBuffer`` with boolean action masks."""


class BoolMaskDictRolloutBuffer(_BoolMasks, MaskableDictRolloutBuffer):
    """``MaskableDictRolloutBuffer`` with boolean action masks."""


def bool_mask_buffer(observation_space: spaces.Space) -> type[MaskableRolloutBuffer]:
    """The boolean-mask buffer class for ``observation_space`` (MaskablePPO's
    ``rollout_buffer_class``)."""
    if isinstance(observation_space, spaces.Dict):
        return BoolMaskDictRolloutBuffer
    return BoolMaskRolloutBuffer
