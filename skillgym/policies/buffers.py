"""sb3-contrib's maskable rollout buffers, holding the action masks as booleans, and the
observations as a kernel policy's codes.

sb3-contrib keeps every step's action masks as float32 (``n_steps x n_envs x n_actions``) and
gathers and copies each minibatch's from them (on AEC skills, 304 per sample). As booleans they
take a quarter of the memory and the copies, and the kernel policies' ``evaluate_actions``
reduces them in numpy. The masks' values (allowed or not) are the same.

SB3 also gathers and copies each minibatch's observations, part by part, which the policy then
encodes: every sample once per epoch. Given the policy's
:class:`~skillgym.policies.coding.ObservationCoder` (:func:`encode_observations`), these
buffers encode a rollout's observations once and hand each minibatch its rows of the
:class:`~skillgym.policies.lean_layers.SparseInputs`, which the kernel policies take as
observations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.buffers import MaskableDictRolloutBuffer, MaskableRolloutBuffer
from stable_baselines3.common.buffers import BaseBuffer

from skillgym.policies.coding import ObservationCoder
from skillgym.policies.lean_layers import SparseInputs


class _BoolMasks:
    _coder: ObservationCoder | None = None
    _codes: SparseInputs | None = None

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self.action_masks = np.ones((self.buffer_size, self.n_envs, self.mask_dims), dtype=bool)
        self._codes = None

    @property
    def coder(self) -> ObservationCoder | None:
        """The coder that minibatches' observations come encoded with (``None``: SB3's
        observations)."""
        return self._coder

    def encode_with(self, coder: ObservationCoder | None) -> None:
        """Hand minibatches their observations as ``coder``'s sparse inputs (``None``: as
        SB3 does)."""
        self._coder = coder
        self._codes = None

    def to_torch(self, array: np.ndarray, copy: bool = True) -> th.Tensor:
        """SB3's ``to_torch``, without its copy on the CPU: every array a minibatch hands it is
        already a new one (a gather, a flattened gather), so a second copy buys nothing."""
        return th.as_tensor(array, device=self.device)

    def _get_samples(self, batch_inds: np.ndarray, env: Any = None) -> Any:
        if self._coder is None:
            return super()._get_samples(batch_inds, env)  # type: ignore[misc]
        if self._codes is None:  # get() has flattened this rollout's observations
            self._codes = self._coder.sparse_inputs(self.observations)
        # SB3 would copy the minibatch's observations: it gets none to copy, then the codes'.
        observations = self.observations
        self.observations = ({} if isinstance(observations, dict)
                             else observations[:, :0])  # type: ignore[index]
        try:
            samples = super()._get_samples(batch_inds, env)  # type: ignore[misc]
        finally:
            self.observations = observations
        return samples._replace(observations=self._codes[batch_inds])


class BoolMaskRolloutBuffer(_BoolMasks, MaskableRolloutBuffer):
    """``MaskableRolloutBuffer`` with boolean action masks (and observations as codes after
    :meth:`encode_with`)."""


class BoolMaskDictRolloutBuffer(_BoolMasks, MaskableDictRolloutBuffer):
    """``MaskableDictRolloutBuffer`` with boolean action masks (and observations as codes
    after :meth:`encode_with`)."""


def bool_mask_buffer(observation_space: spaces.Space) -> type[MaskableRolloutBuffer]:
    """The boolean-mask buffer class for ``observation_space`` (MaskablePPO's
    ``rollout_buffer_class``)."""
    if isinstance(observation_space, spaces.Dict):
        return BoolMaskDictRolloutBuffer
    return BoolMaskRolloutBuffer


def encode_observations(buffer: BaseBuffer, coder: ObservationCoder | None) -> bool:
    """Let ``buffer`` hand its minibatches' observations over as ``coder``'s codes, where it is
    one of these buffers and a coder is given; whether it does."""
    if coder is None or not isinstance(buffer, _BoolMasks):
        return False
    buffer.encode_with(coder)
    return True
