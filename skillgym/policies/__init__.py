"""stable-baselines3 policy classes whose forward pass runs through ``skillgym.kernels``.

``PPO(KernelMlpPolicy, env)`` and ``MaskablePPO(KernelMaskablePolicy, env)`` collect rollouts
through the fused kernel; ``KernelPolicy.from_sb3(model).act(obs)`` is fast inference for a
trained model.
"""

from skillgym.policies.actor_critic import (
    KernelMaskablePolicy,
    KernelMlpPolicy,
    actor_features,
    features_log_probs,
    taken_log_probs,
)
from skillgym.policies.buffers import bool_mask_buffer
from skillgym.policies.kernel_policy import KernelPolicy, network_spec, policy_weights

__all__ = [
    "KernelMaskablePolicy",
    "KernelMlpPolicy",
    "KernelPolicy",
    "actor_features",
    "bool_mask_buffer",
    "features_log_probs",
    "network_spec",
    "policy_weights",
    "taken_log_probs",
]
