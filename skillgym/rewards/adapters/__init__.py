"""Adapters that let outside trainers call any reward unchanged.

- :mod:`~skillgym.rewards.adapters.trl`: TRL ``GRPOTrainer`` reward functions (sync and async);
- :mod:`~skillgym.rewards.adapters.verl`: verl ``compute_score`` (single and batch);
- :mod:`~skillgym.rewards.adapters.openrlhf`: OpenRLHF remote reward ``reward_func``;
- :mod:`~skillgym.rewards.adapters.reasoning_gym`: reasoning-gym ``score_answer``;
- :mod:`~skillgym.rewards.adapters.gym`: a Gymnasium wrapper for text environments.

None of them imports its trainer: each speaks the host's calling convention with plain Python.
"""

from skillgym.rewards.adapters.gym import TextRewardWrapper
from skillgym.rewards.adapters.openrlhf import OpenRLHFRewardFunction
from skillgym.rewards.adapters.reasoning_gym import ReasoningGymScorer
from skillgym.rewards.adapters.trl import TRLRewardFunction, trl_async_reward_function
from skillgym.rewards.adapters.verl import VerlComputeScore

__all__ = [
    "OpenRLHFRewardFunction",
    "ReasoningGymScorer",
    "TRLRewardFunction",
    "TextRewardWrapper",
    "VerlComputeScore",
    "trl_async_reward_function",
]
