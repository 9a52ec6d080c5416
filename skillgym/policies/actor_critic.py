"""stable-baselines3 policies whose rollouts and ``predict`` run through the fused kernel.

Drop-in replacements: ``PPO(KernelMlpPolicy, env)``, ``A2C(KernelMlpPolicy, env)`` and
``MaskablePPO(KernelMaskablePolicy, env)``. Whenever no gradient is needed (rollout
collection, ``predict``) the forward pass is one kernel launch; training
(``evaluate_actions``, ``predict_values``) stays in torch on the same parameters, and the
kernel's copy of the weights is refreshed after every optimiser step or ``load_state_dict``.
``Dict`` observation spaces get SB3's ``CombinedExtractor`` unless another extractor is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor
from stable_baselines3.common.utils import is_vectorized_observation

from skillgym.kernels import KERNEL_MIN_BATCH
from skillgym.policies.coding import ObservationCoder
from skillgym.policies.kernel_policy import KernelPolicy, network_spec
from skillgym.policies.lean_layers import SPARSE_MIN_BATCH, SparseInputs, sparse_linear, tanh

# sb3-contrib's logit for a masked action (MaskableCategorical.apply_masking).
MASKED_LOGIT = -1e8


def _inputs(policy: ActorCriticPolicy, obs: Any) -> Any:
    """The MLPs' input for a batch of observations: a kernel policy's
    :class:`~skillgym.policies.lean_layers.SparseInputs` where its coder writes them as codes
    (or they come coded, from a rollout buffer given the coder), else SB3's features (a
    ``(pi, vf)`` pair where the features extractors are separate)."""
    coder = policy._coder if isinstance(policy, _KernelRollouts) else None
    if isinstance(obs, SparseInputs):
        if coder is None or obs.width != coder.layout.obs_dim:
            raise TypeError(f"coded observations need a kernel policy with an observation coder "
                            f"of {obs.width} inputs (see {type(policy).__name__}."
                            "observation_coder)")
        return obs
    return policy.extract_features(obs) if coder is None else coder.sparse_inputs(obs)


def _latents(policy: ActorCriticPolicy, obs: Any, actor: bool = True,
             critic: bool = True) -> list[th.Tensor]:
    """The policy MLP's latent (with ``actor``), then the value MLP's (with ``critic``): SB3's
    ``mlp_extractor`` on the policy's features, to float32 rounding (:func:`_latents_of`)."""
    inputs = _inputs(policy, obs)
    if not isinstance(inputs, tuple):
        return _latents_of(policy, inputs, actor, critic)
    pi_features, vf_features = inputs
    return (_latents_of(policy, pi_features, actor, False)
            + _latents_of(policy, vf_features, False, critic))


def _latents_of(policy: ActorCriticPolicy, inputs: th.Tensor | SparseInputs, actor: bool = True,
                critic: bool = True) -> list[th.Tensor]:
    """:func:`_latents` from the MLPs' input: features, or sparse inputs. From sparse inputs of
    at least ``SPARSE_MIN_BATCH`` rows, both first layers run as one product
    (:func:`~skillgym.policies.lean_layers.sparse_linear`), their tanh as one, and tanh through
    the sigmoid (:func:`~skillgym.policies.lean_layers.tanh`); otherwise SB3's own modules
    run."""
    extractor = policy.mlp_extractor
    nets = [net for net, wanted in ((extractor.policy_net, actor), (extractor.value_net, critic))
            if wanted]
    if isinstance(inputs, SparseInputs):
        sparse_runs = len(inputs) >= SPARSE_MIN_BATCH and all(
            len(net) and isinstance(net[0], th.nn.Linear) and net[0].weight.is_cpu
            and (net[0].bias is None) == (nets[0][0].bias is None) for net in nets)
        if not sparse_runs:
            inputs = inputs.dense()
    if not isinstance(inputs, SparseInputs):
        return [net(inputs) for net in nets]
    firsts = [net[0] for net in nets]
    hidden = sparse_linear(inputs, [layer.weight for layer in firsts],
                           None if firsts[0].bias is None else [layer.bias for layer in firsts])
    rests = [list(net)[1:] for net in nets]
    if all(rest and isinstance(rest[0], th.nn.Tanh) for rest in rests):
        # both MLPs' first tanh on their side-by-side outputs at once: half the calls, and
        # the sigmoid's form pays on the larger tensor
        hidden = tanh(hidden)
        rests = [rest[1:] for rest in rests]
    latents = []
    for rest, part in zip(rests, hidden.split([layer.out_features for layer in firsts], dim=1),
                          strict=True):
        for module in rest:
            part = tanh(part) if isinstance(module, th.nn.Tanh) else module(part)
        latents.append(part)
    return latents


def _allowed_log_probs(
    action_net: th.nn.Module, latent_pi: th.Tensor, action_masks: np.ndarray | th.Tensor | None,
    actions: th.Tensor,
) -> tuple[th.Tensor, th.Tensor]:
    """Masked log-probabilities over only the actions some sample of the batch allows (or
    took), and each taken action's column among them.

    The other actions' probabilities are exactly 0 in float32 (``exp(-1e8)``), so leaving them
    out changes no number beyond rounding; where a skill allows 4 of 304 actions it saves the
    head's matrix product over the rest and the element-wise work on them, which dominates a
    small network's update (``exp`` of ``-1e8`` takes a slow path in torch's CPU kernels).
    """
    if action_masks is None:
        return th.log_softmax(action_net(latent_pi), dim=-1), actions
    masks = th.as_tensor(action_masks, device=latent_pi.device).reshape(len(latent_pi), -1)
    if masks.dtype == th.bool and masks.device.type == "cpu":
        # torch reduces booleans slowly: on 1,024 x 304 masks its any() took 295 µs, numpy's
        # 24 (benchmarks/lean_layers.py, AMD EPYC Zen 4)
        allowed = th.from_numpy(masks.numpy().any(0))
    else:
        # Float masks (sb3-contrib's buffers) summed as they are, then only the kept columns
        # compared: a tenth of the cost of converting the whole matrix to bool first.
        allowed = masks.sum(0) != 0
    allowed[actions] = True  # a taken action keeps sb3-contrib's number even if masked
    if isinstance(action_net, th.nn.Linear) and not allowed.all():
        keep = allowed.nonzero().squeeze(1)
        bias = None if action_net.bias is None else action_net.bias[keep]
        logits = th.nn.functional.linear(latent_pi, action_net.weight[keep], bias)
        masks, actions = masks[:, keep], (allowed.cumsum(0) - 1)[actions]
    else:
        logits = action_net(latent_pi)
    return th.log_softmax(logits.masked_fill(masks == 0, MASKED_LOGIT), dim=-1), actions


def taken_log_probs(
    policy: ActorCriticPolicy, obs: Any, actions: th.Tensor,
    action_masks: np.ndarray | th.Tensor | None = None,
) -> tuple[th.Tensor, th.Tensor]:
    """The policy's side of ``evaluate_actions`` for an SB3 actor-critic policy with a
    ``Discrete`` action space, without the value head or a torch ``Distribution``.

    Returns ``(log_probs, columns)``: log-probabilities ``[B, k]`` (sb3-contrib's masking when
    ``action_masks`` is given) over the ``k`` actions that some sample allows or took, in
    action order (all ``n`` without masks), and the column of each sample's taken action
    ``[B]``; so ``log_probs.gather(-1, columns[:, None])`` is ``evaluate_actions``' log-prob
    and ``log_probs.argmax(-1) == columns`` tells where the taken action is the most likely
    one. ``get_distribution``'s numbers to float32 rounding.
    """
    _check_discrete(policy, "taken_log_probs")
    (latent_pi,) = _latents(policy, obs, critic=False)
    return _allowed_log_probs(policy.action_net, latent_pi, action_masks,
                              th.as_tensor(actions).long().reshape(-1))


def actor_features(policy: ActorCriticPolicy, obs: Any) -> th.Tensor | SparseInputs:
    """The policy MLP's input for a batch of observations, to index rows of: a kernel
    policy's :class:`~skillgym.policies.lean_layers.SparseInputs` where its coder writes the
    observations as codes, else SB3's features. For data seen many times (behaviour cloning's
    epochs), compute it once and pass its rows to :func:`features_log_probs`."""
    inputs = _inputs(policy, obs)
    return inputs[0] if isinstance(inputs, tuple) else inputs


def features_log_probs(
    policy: ActorCriticPolicy, features: th.Tensor | SparseInputs, actions: th.Tensor,
    action_masks: np.ndarray | th.Tensor | None = None,
) -> tuple[th.Tensor, th.Tensor]:
    """:func:`taken_log_probs` from rows of the observations' :func:`actor_features`."""
    _check_discrete(policy, "features_log_probs")
    (latent_pi,) = _latents_of(policy, features, critic=False)
    return _allowed_log_probs(policy.action_net, latent_pi, action_masks,
                              th.as_tensor(actions).long().reshape(-1))


def _check_discrete(policy: ActorCriticPolicy, caller: str) -> None:
    if not isinstance(policy.action_space, spaces.Discrete):
        raise TypeError(f"{caller} needs a Discrete action space, got {policy.action_space}")


class _KernelRollouts:
    """Shared by both policy classes: takes the kernel arguments, owns the
    :class:`KernelPolicy` and keeps its weights in sync with the torch parameters."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Any,
        *args: Any,
        kernel_device: str | None = None,
        min_kernel_batch: int = KERNEL_MIN_BATCH,
        **kwargs: Any,
    ) -> None:
        if "features_extractor_class" not in kwargs:
            dict_obs = isinstance(observation_space, spaces.Dict)
            kwargs["features_extractor_class"] = CombinedExtractor if dict_obs else FlattenExtractor
        if kwargs.get("optimizer_class", th.optim.Adam) is th.optim.Adam:
            # One fused kernel for every parameter instead of a Python loop over them, whose
            # per-parameter overhead dominates a small network's step. eps as SB3 sets it.
            given = kwargs.get("optimizer_kwargs")
            kwargs["optimizer_kwargs"] = {"fused": True, **(given if given else {"eps": 1e-5})}
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)
        network_spec(self)  # fail at construction, not at the first rollout
        # Training's features through the coder: only where one extractor serves both MLPs
        # (the coder is made for it).
        self._coder = ObservationCoder.for_policy(self) if self.share_features_extractor else None
        self.kernel_device = kernel_device
        self.min_kernel_batch = min_kernel_batch
        self._kernel_policy: KernelPolicy | None = None
        self._kernel_stale = True
        self.watch_optimizer(self.optimizer)

    def __getstate__(self) -> dict[str, Any]:
        # The kernel runner holds OpenCL handles, which do not pickle (an env holding learned
        # children is pickled into exact checkpoints); it is rebuilt from the weights on first
        # use. Exact checkpoints save its sampling generator apart (sampling_state).
        state = dict(super().__getstate__())
        state["_kernel_policy"] = None
        return state

    def watch_optimizer(self, optimizer: th.optim.Optimizer) -> None:
        """Re-sync the kernel's copy of the weights after every step of ``optimizer``.

        The policy's own optimizer is watched from the start; call this for any other optimizer
        that trains the policy's parameters (behaviour cloning, say), or the kernel would go on
        acting with the weights it copied last.
        """
        optimizer.register_step_post_hook(lambda *_: self._mark_kernel_stale())

    def _mark_kernel_stale(self) -> None:
        self._kernel_stale = True

    @property
    def observation_coder(self) -> ObservationCoder | None:
        """The coder that writes observations as the MLPs' sparse inputs (``None`` where the
        features are not plain preprocessing); a rollout buffer given it
        (:func:`~skillgym.policies.buffers.encode_observations`) hands over coded
        observations, which ``evaluate_actions`` and ``predict_values`` take as they are."""
        return self._coder

    @property
    def kernel_layout(self) -> str | None:
        """The layout the kernel runs in (e.g. ``"float8 4x2"``, tuned on its first large
        batch), once it has run on an OpenCL device; ``None`` before, or on the numpy path."""
        tiling = None if self._kernel_policy is None else self._kernel_policy.kernel.tiling
        return None if tiling is None else tiling.label

    @property
    def kernel_policy(self) -> KernelPolicy:
        """The kernel runner, built on first use and re-synced after parameter changes."""
        # Assigning to an nn.Module attribute costs microseconds: only when the state changes.
        if self._kernel_policy is None:
            self._kernel_policy = KernelPolicy(
                self, device=self.kernel_device, min_kernel_batch=self.min_kernel_batch
            )
            self._kernel_stale = False
        elif self._kernel_stale:
            self._kernel_policy.sync()
            self._kernel_stale = False
        return self._kernel_policy

    def sampling_state(self) -> dict[str, Any] | None:
        """The state of the generator the kernel samples actions from; ``None`` before the first
        rollout. Part of an exact checkpoint: a fresh policy would seed a new generator."""
        return None if self._kernel_policy is None else self._kernel_policy.sampling_state

    def load_sampling_state(self, state: dict[str, Any] | None) -> None:
        """Continue sampling from a :meth:`sampling_state` (``None``: leave it to be seeded)."""
        if state is not None:
            self.kernel_policy.sampling_state = state

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """``nn.Module.load_state_dict``, then mark the kernel's weights stale."""
        result = super().load_state_dict(*args, **kwargs)
        self._mark_kernel_stale()
        return result

    def predict(
        self,
        observation: Any,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        **kwargs: Any,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3's ``predict`` (``action_masks=`` too, for the maskable policy). Observations
        that reach the kernel as codes skip SB3's copy of every part into a tensor: the coder
        reads the arrays as they are (AEC, 4,096 envs: 0.2-0.3 ms of a 2.7 ms step), the
        kernel skips the value MLP (as SB3's ``predict`` computes no value either), and the
        actions come back as numpy without passing through torch."""
        # A tuple is reset()'s (obs, info) passed by mistake: SB3's predict explains that.
        if self.kernel_policy.coder is None or isinstance(observation, tuple):
            return super().predict(observation, state, episode_start, deterministic, **kwargs)
        # SB3 switches every module to eval mode on each call: tens of µs, for nothing when
        # the policy is in eval mode already.
        if self.training:
            self.set_training_mode(False)
        space = self.observation_space
        if isinstance(space, spaces.Dict):
            arrays = {key: np.asarray(observation[key]) for key in space.spaces}
            vectorized = is_vectorized_observation(arrays, space)
            batch = {key: a.reshape((-1, *space[key].shape)) for key, a in arrays.items()}
        else:
            array = np.asarray(observation)
            vectorized = is_vectorized_observation(array, space)
            batch = array.reshape((-1, *space.shape))
        out = self.kernel_policy.run(batch, deterministic=deterministic, values=False, **kwargs)
        actions = out.actions.astype(np.int64).reshape(-1, *self.action_space.shape)
        return (actions if vectorized else actions.squeeze(axis=0)), state

    def extract_features(self, obs: Any, features_extractor: Any = None) -> Any:
        """SB3's features; categorical observations are one-hot encoded by one scatter
        (:meth:`ObservationCoder.features`) instead of SB3's loop over their entries."""
        if self._coder is None or features_extractor not in (None, self.features_extractor):
            return super().extract_features(obs, features_extractor)
        return self._coder.features(obs, self.device)

    def evaluate_actions(
        self, obs: Any, actions: th.Tensor, action_masks: np.ndarray | th.Tensor | None = None
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """SB3's ``evaluate_actions`` (values, the actions' log-probabilities, entropies; the
        maskable policy's ``action_masks`` too), computed from one masked ``log_softmax``
        instead of through a torch ``Distribution``, which re-initialises under masks
        (normalising twice) and validates its arguments on every call: on small networks
        PPO's and behaviour cloning's updates spend much of their time there
        (``benchmarks/train_speed.py --before``). The numbers are SB3's to float32 rounding.
        ``MultiDiscrete`` actions take SB3's path.
        """
        if not isinstance(self.action_space, spaces.Discrete):
            if action_masks is None:
                return super().evaluate_actions(obs, actions)
            return super().evaluate_actions(obs, actions, action_masks)
        latent_pi, latent_vf = _latents(self, obs)
        log_probs, column = _allowed_log_probs(self.action_net, latent_pi, action_masks,
                                               actions.long().reshape(-1))
        values = self.value_net(latent_vf)
        log_prob = log_probs.gather(-1, column.reshape(-1, 1)).squeeze(-1)
        # A masked action's probability is exactly 0 in float32 (exp(-1e8)): no term of its own.
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        return values, log_prob, entropy

    def predict_values(self, obs: Any) -> th.Tensor:
        """SB3's ``predict_values``, through the sparse first layer where the observations
        are codes (SB3's rollouts call it once per truncated episode)."""
        (latent_vf,) = _latents(self, obs, actor=False)
        return self.value_net(latent_vf)

    def _kernel_forward(
        self, obs: Any, deterministic: bool, action_masks: np.ndarray | None = None
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        out = self.kernel_policy.run(obs, deterministic=deterministic, action_masks=action_masks)
        actions = th.from_numpy(out.actions.astype(np.int64)).reshape(-1, *self.action_space.shape)
        values = th.from_numpy(out.values).reshape(-1, 1)
        log_prob = th.from_numpy(out.log_prob)
        # SB3's self.device walks the parameters: the action head's weight tells it at once
        device = self.action_net.weight.device
        return actions.to(device), values.to(device), log_prob.to(device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(kernel_device=self.kernel_device, min_kernel_batch=self.min_kernel_batch)
        return data


class KernelMlpPolicy(_KernelRollouts, ActorCriticPolicy):
    """SB3 ``ActorCriticPolicy`` for ``Discrete`` or ``MultiDiscrete`` actions, acting through
    the kernel.

    Takes ``ActorCriticPolicy``'s arguments (``net_arch``, ``activation_fn`` = ``nn.Tanh`` or
    ``nn.ReLU``, ``features_extractor_class``, ...) plus:

    Args:
        kernel_device: OpenCL device choice (see :func:`skillgym.kernels.select_device`);
            ``None`` reads ``SKILLGYM_OPENCL``.
        min_kernel_batch: batches smaller than this run on the numpy path.
    """

    def forward(
        self, obs: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Actions, values and log-probabilities: the kernel, or torch when gradients are on."""
        if th.is_grad_enabled():
            return super().forward(obs, deterministic)
        return self._kernel_forward(obs, deterministic)

    def _predict(self, observation: Any, deterministic: bool = False) -> th.Tensor:
        return self._kernel_forward(observation, deterministic)[0]


class KernelMaskablePolicy(_KernelRollouts, MaskableActorCriticPolicy):
    """sb3-contrib ``MaskableActorCriticPolicy`` acting through the kernel (masked logits).

    Same arguments as :class:`KernelMlpPolicy`; use with ``MaskablePPO``.
    """

    def forward(
        self,
        obs: th.Tensor,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Actions, values and log-probabilities: the kernel, or torch when gradients are on."""
        if th.is_grad_enabled():
            return super().forward(obs, deterministic, action_masks)
        return self._kernel_forward(obs, deterministic, action_masks)

    def _predict(
        self,
        observation: Any,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> th.Tensor:
        return self._kernel_forward(observation, deterministic, action_masks)[0]
