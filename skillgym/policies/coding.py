"""Categorical observations as codes: SB3's one-hot preprocessing, without the one-hot vector.

SB3 one-hot encodes ``Discrete`` and ``MultiDiscrete`` observations and flattens and
concatenates ``Dict`` parts (``FlattenExtractor``, ``CombinedExtractor``); the first layer then
multiplies that mostly-zero vector by its weights. :class:`ObservationCoder` writes the same
input as an :class:`~skillgym.kernels.InputLayout` instead: for each categorical entry the index
of its one in the flattened feature vector (a code), and the values of ``Box`` and
``MultiBinary`` parts as they are (dense values). The kernel then gathers and adds the codes'
weight rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor
from torch import nn

from skillgym.kernels import CodedObs, InputLayout
from skillgym.policies.lean_layers import SparseInputs


@dataclass(frozen=True)
class _Part:
    """One flattened part of the observation: ``key`` in the ``Dict`` (``None`` for a plain
    space); a categorical part has one code column per entry (``sizes`` choices each, ones
    at ``offsets``), a dense part ``width`` values."""

    key: str | None
    columns: slice
    sizes: np.ndarray | None = None
    offsets: np.ndarray | None = None


def _as_numpy(value: Any) -> np.ndarray:
    if isinstance(value, th.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


class ObservationCoder:
    """Writes a policy's observations as codes and dense values for the kernel.

    Build one with :meth:`for_policy`, which returns ``None`` where the policy's features are
    not plain preprocessing (a learned features extractor, image normalization) or where the
    observation has no categorical part (a dense input is then as good).
    """

    def __init__(self, parts: list[_Part], layout: InputLayout) -> None:
        self._parts = parts
        self._categorical = [part for part in parts if part.sizes is not None]
        self._dense = [part for part in parts if part.sizes is None]
        # Every code column's number of choices and one-hot offset, in layout order: the
        # categorical parts are checked and offset together, a handful of numpy calls per batch
        # whatever the number of parts.
        self._sizes = np.concatenate([part.sizes for part in self._categorical]).astype(np.uint64)
        self._offsets = np.concatenate([part.offsets for part in self._categorical])
        self._values = np.empty((0, layout.n_codes), dtype=np.int64)
        self.layout = layout

    @classmethod
    def for_policy(cls, policy: ActorCriticPolicy) -> ObservationCoder | None:
        """The coder of ``policy``'s observations, or ``None`` if its features need torch."""
        extractor = policy.features_extractor
        space = policy.observation_space
        if isinstance(extractor, FlattenExtractor):
            named: list[tuple[str | None, spaces.Space]] = [(None, space)]
        elif isinstance(extractor, CombinedExtractor):
            if not all(isinstance(sub, nn.Flatten) for sub in extractor.extractors.values()):
                return None
            named = [(key, space[key]) for key in extractor.extractors]
        else:
            return None
        parts, dense_inputs = [], []
        n_codes = feature = 0
        for key, sub in named:
            if isinstance(sub, spaces.Discrete):
                sizes = np.array([sub.n], dtype=np.int64)
            elif isinstance(sub, spaces.MultiDiscrete) and sub.nvec.ndim == 1:
                sizes = sub.nvec.astype(np.int64)
            elif isinstance(sub, (spaces.Box, spaces.MultiBinary)):
                if isinstance(sub, spaces.Box) and policy.normalize_images and is_image_space(sub):
                    return None  # SB3 scales images by 1/255: leave that to torch
                width = int(np.prod(sub.shape))
                parts.append(_Part(key, slice(len(dense_inputs), len(dense_inputs) + width)))
                dense_inputs.extend(range(feature, feature + width))
                feature += width
                continue
            else:
                return None
            offsets = feature + np.concatenate([[0], np.cumsum(sizes)[:-1]])
            parts.append(_Part(key, slice(n_codes, n_codes + len(sizes)), sizes, offsets))
            n_codes += len(sizes)
            feature += int(sizes.sum())
        if n_codes == 0 or feature != policy.features_dim:
            return None
        return cls(parts, InputLayout(feature, n_codes, tuple(dense_inputs)))

    def batch_size(self, obs: Any) -> int:
        """How many observations ``obs`` (a batch, as arrays or tensors) holds."""
        part = self._parts[0]
        return len(obs if part.key is None else obs[part.key])

    def encode(self, obs: Any, out: CodedObs) -> None:
        """Write the batch ``obs`` (arrays or tensors, as SB3 holds them) into ``out``.

        Raises ``ValueError`` for a categorical value outside its space after SB3's ``.long()``
        (floats are truncated, as rollout buffers hold categorical observations as floats),
        where SB3's one-hot encoding fails too.
        """
        batch = len(out.codes)
        for part in self._dense:
            value = _as_numpy(obs if part.key is None else obs[part.key])
            out.dense[:, part.columns] = value.reshape(batch, -1)
        columns = []
        for part in self._categorical:
            value = _as_numpy(obs if part.key is None else obs[part.key]).reshape(batch, -1)
            if value.shape[1] != len(part.sizes):
                raise ValueError(
                    f"observation {part.key or ''!r} must have {len(part.sizes)} entries per "
                    f"sample, got {value.shape[1]}"
                )
            columns.append(value)
        if len(self._values) < batch:
            self._values = np.empty((1 << (batch - 1).bit_length(), len(self._sizes)), np.int64)
        values = self._values[:batch]
        # int64 holds every integer observation, and a float cast to it truncates as .long()
        # does (NaN and out-of-range floats become the most negative int64, rejected below).
        with np.errstate(invalid="ignore"):
            np.concatenate(columns, axis=1, out=values, casting="unsafe")
        # Viewed as unsigned, a negative value is huge: one comparison checks both bounds.
        if (values.view(np.uint64) >= self._sizes).any():
            self._raise_out_of_range(values)
        np.add(values, self._offsets, out=out.codes, casting="unsafe")

    def features(self, obs: Any, device: th.device | str = "cpu") -> th.Tensor:
        """SB3's features of the batch ``obs`` (its one-hot preprocessing, flattened and
        concatenated), float32 ``[B, obs_dim]``: the dense form of :meth:`sparse_inputs`, ones
        at the codes and the dense values at their inputs. Exactly SB3's numbers; SB3 builds a
        one-hot tensor per categorical entry in a Python loop (AEC's observation: 16 calls a
        batch)."""
        return self.sparse_inputs(obs).dense().to(device)

    def sparse_inputs(self, obs: Any) -> SparseInputs:
        """SB3's features of the batch ``obs`` (as :meth:`features` gives them) as a sparse
        matrix, for :func:`~skillgym.policies.lean_layers.sparse_linear`."""
        coded = self._coded(obs)
        if not self.layout.n_dense:
            return SparseInputs(coded.codes, None, self.layout.obs_dim)
        dense_inputs = np.broadcast_to(np.asarray(self.layout.dense_inputs, np.int64),
                                       coded.dense.shape)
        columns = np.concatenate([coded.codes, dense_inputs], axis=1)
        values = np.concatenate([np.ones(coded.codes.shape, np.float32), coded.dense], axis=1)
        return SparseInputs(columns, values, self.layout.obs_dim)

    def _coded(self, obs: Any) -> CodedObs:
        """The batch ``obs`` encoded into new arrays."""
        batch = self.batch_size(obs)
        coded = CodedObs(np.empty((batch, self.layout.n_codes), np.int64),
                         np.empty((batch, self.layout.n_dense), np.float32))
        self.encode(obs, coded)
        return coded

    def _raise_out_of_range(self, values: np.ndarray) -> None:
        """Name the first part with a value outside its space, and the values it holds."""
        for part in self._categorical:
            value = values[:, part.columns]
            if (value < 0).any() or (value >= part.sizes).any():
                raise ValueError(
                    f"observation {part.key or ''!r} must lie in [0, n) for n = "
                    f"{part.sizes.tolist()} per entry, got values in [{value.min()}, "
                    f"{value.max()}]"
                )
