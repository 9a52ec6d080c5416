"""Run a stable-baselines3 actor-critic policy's forward pass through the fused kernel.

:class:`KernelPolicy` wraps an SB3 ``ActorCriticPolicy`` (or sb3-contrib's
``MaskableActorCriticPolicy``) that has categorical actions. Observations with categorical
parts that SB3 would one-hot encode and flatten (``Discrete``, ``MultiDiscrete``, ``Dict`` of
those, ``Box`` and ``MultiBinary``) go to the kernel as codes and dense values
(:class:`~skillgym.policies.coding.ObservationCoder`), and its first layers gather weight rows;
other observations go through the policy's own preprocessing and features extractor in torch.
Then the MLPs, heads and action choice run in one :class:`~skillgym.kernels.ActorCriticKernel`
launch on the same parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from skillgym.kernels import KERNEL_MIN_BATCH, ActorCriticKernel, ActorCriticOutput, NetworkSpec
from skillgym.policies.coding import ObservationCoder

_ACTIVATIONS = {nn.Tanh: "tanh", nn.ReLU: "relu"}


def _linear_layers(net: nn.Module, what: str) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``net``: a Linear, or a Sequential of Linears and activations."""
    modules = list(net) if isinstance(net, nn.Sequential) else [net]
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    others = [m for m in modules if not isinstance(m, (nn.Linear, *_ACTIVATIONS))]
    if others:
        raise ValueError(f"{what} holds layers the kernel cannot run: {others}")
    return linears


def network_spec(policy: ActorCriticPolicy) -> NetworkSpec:
    """The :class:`NetworkSpec` of an SB3 actor-critic policy; ``ValueError`` if the kernel
    cannot run it (continuous actions, an activation other than tanh or ReLU, separate
    features extractors)."""
    if not isinstance(policy.action_space, (spaces.Discrete, spaces.MultiDiscrete)):
        raise ValueError(
            f"action_space must be Discrete or MultiDiscrete for a kernel policy, "
            f"got {policy.action_space}"
        )
    if policy.activation_fn not in _ACTIVATIONS:
        raise ValueError(
            f"activation_fn must be one of {[a.__name__ for a in _ACTIVATIONS]} for a kernel "
            f"policy, got {policy.activation_fn.__name__}"
        )
    if not policy.share_features_extractor:
        raise ValueError("share_features_extractor must be True for a kernel policy")
    extractor = policy.mlp_extractor
    pi = _linear_layers(extractor.policy_net, "mlp_extractor.policy_net")
    vf = _linear_layers(extractor.value_net, "mlp_extractor.value_net")
    if isinstance(policy.action_space, spaces.Discrete):
        action_dims: tuple[int, ...] = (int(policy.action_space.n),)
    else:
        action_dims = tuple(int(n) for n in policy.action_space.nvec.ravel())
    return NetworkSpec(
        obs_dim=int(policy.features_dim),
        pi_layers=tuple(layer.out_features for layer in pi),
        vf_layers=tuple(layer.out_features for layer in vf),
        action_dims=action_dims,
        activation=_ACTIVATIONS[policy.activation_fn],
    )


def policy_weights(policy: ActorCriticPolicy) -> list[tuple[np.ndarray, np.ndarray]]:
    """The policy's ``(weight, bias)`` pairs in :meth:`NetworkSpec.layers` order, as numpy."""
    extractor = policy.mlp_extractor
    layers = (
        _linear_layers(extractor.policy_net, "mlp_extractor.policy_net")
        + _linear_layers(policy.action_net, "action_net")
        + _linear_layers(extractor.value_net, "mlp_extractor.value_net")
        + _linear_layers(policy.value_net, "value_net")
    )
    with th.no_grad():
        return [(layer.weight.cpu().numpy(), layer.bias.cpu().numpy()) for layer in layers]


class KernelPolicy:
    """Fast inference for an SB3 categorical actor-critic policy, through the fused kernel.

    Args:
        policy: an SB3 ``ActorCriticPolicy`` (or ``MaskableActorCriticPolicy``) with
            ``Discrete`` or ``MultiDiscrete`` actions.
        device: OpenCL device choice (see :func:`skillgym.kernels.select_device`); ``None``
            reads ``SKILLGYM_OPENCL``.
        min_kernel_batch: batches smaller than this run on the numpy path.

    The kernel holds a copy of the weights: call :meth:`sync` after changing the policy's
    parameters (the SB3 policy classes of this package do so after every optimiser step).
    """

    def __init__(
        self,
        policy: ActorCriticPolicy,
        device: str | None = None,
        min_kernel_batch: int = KERNEL_MIN_BATCH,
    ) -> None:
        self.policy = policy
        self.spec = network_spec(policy)
        self.coder = ObservationCoder.for_policy(policy)
        self.kernel = ActorCriticKernel(
            self.spec,
            policy_weights(policy),
            device=device,
            min_kernel_batch=min_kernel_batch,
            layout=None if self.coder is None else self.coder.layout,
        )
        self._rng: np.random.Generator | None = None

    def _sampling_generator(self) -> np.random.Generator:
        """The generator sampling draws its uniforms from, made at the first sampled action.

        numpy fills the kernel's uniforms buffer in place, several times faster than torch.rand
        and a copy; seeding it from torch's global generator keeps SB3's seed in control. Made
        only when first needed, so that a policy that only acts deterministically (a learned
        child, an evaluation) never draws from torch's generator: loading one mid-training
        then changes nothing downstream.
        """
        if self._rng is None:
            self._rng = np.random.default_rng(int(th.randint(2**62, ()).item()))
        return self._rng

    @property
    def sampling_state(self) -> dict[str, Any] | None:
        """The state of the generator sampling draws from, ``None`` before the first sampled
        action (for exact checkpoints)."""
        return None if self._rng is None else self._rng.bit_generator.state

    @sampling_state.setter
    def sampling_state(self, state: dict[str, Any]) -> None:
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state

    @classmethod
    def from_sb3(cls, model: Any, **kwargs: Any) -> KernelPolicy:
        """Wrap a model's policy (``PPO``, ``A2C``, ``MaskablePPO``, ...) or a policy itself."""
        policy = getattr(model, "policy", model)
        if not isinstance(policy, ActorCriticPolicy):
            raise TypeError(
                f"model must be an SB3 actor-critic model or policy, got {type(model).__name__}"
            )
        return cls(policy, **kwargs)

    def sync(self) -> None:
        """Copy the policy's current parameters to the kernel."""
        self.kernel.set_weights(policy_weights(self.policy))

    def run(
        self,
        obs: th.Tensor | dict[str, th.Tensor],
        deterministic: bool = False,
        action_masks: np.ndarray | th.Tensor | None = None,
        values: bool = True,
    ) -> ActorCriticOutput:
        """Actions, their log-probabilities and values for a batch of (unprocessed) observations
        as tensors, the form SB3 rollouts hold them in. Sampling draws its uniforms from a numpy
        generator seeded from torch's global one at the first sampled action, so SB3's ``seed``
        makes it reproducible. ``values=False`` skips the value MLP (the output's ``values``
        is then ``None``), for callers that only act."""
        if self.coder is not None:
            batch = self.coder.batch_size(obs)
            features = self.kernel.coded_inputs(batch)
            self.coder.encode(obs, features)
        else:
            with th.no_grad():
                features = self.policy.extract_features(obs).cpu().numpy()
            batch = len(features)
        masks = None
        if action_masks is not None:
            masks = np.asarray(action_masks, dtype=bool).reshape(batch, self.spec.n_logits)
        uniforms = None if deterministic else self._sampling_generator()
        return self.kernel(features, masks=masks, uniforms=uniforms, return_values=values)

    def act(
        self,
        obs: np.ndarray | dict[str, np.ndarray],
        action_masks: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> np.ndarray:
        """Actions for one observation or a batch, shaped like SB3's ``predict`` returns them."""
        obs_tensor, vectorized = self.policy.obs_to_tensor(obs)
        out = self.run(
            obs_tensor, deterministic=deterministic, action_masks=action_masks, values=False
        )
        actions = out.actions.astype(np.int64).reshape(-1, *self.policy.action_space.shape)
        return actions if vectorized else actions[0]
