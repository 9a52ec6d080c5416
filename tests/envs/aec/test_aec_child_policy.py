"""Trained stable-baselines3 / sb3-contrib models as AEC child policies."""

from __future__ import annotations

import numpy as np
import pytest
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from skillgym.envs.aec import AECEnv, oracle
from skillgym.envs.aec.child_policy import from_model
from skillgym.envs.aec.skills import MASKS, SKILL_INDEX


@pytest.mark.parametrize("algorithm", [MaskablePPO, PPO])
def test_models_act_as_child_policies(algorithm):
    model = algorithm("MultiInputPolicy", AECEnv("ADD1"), n_steps=32, batch_size=32, seed=0)
    policy = from_model(model)
    env = AECEnv("ADD", child_policies={"ADD1": policy}, child_step_limit=6)
    obs, _ = env.reset(seed=0)
    child_obs = {**obs, "skill": SKILL_INDEX["ADD1"], "depth": 1}
    action = policy(child_obs, MASKS[SKILL_INDEX["ADD1"]])
    assert 0 <= action < env.action_space.n
    if algorithm is MaskablePPO:  # masked: only ADD1's own actions
        assert MASKS[SKILL_INDEX["ADD1"], action]
    while True:
        obs, _, terminated, truncated, info = env.step(oracle(obs))
        if terminated or truncated:
            break
    assert "is_success" in info


def test_from_model_refuses_objects_without_predict():
    with pytest.raises(TypeError, match="model must have a predict method, got ndarray"):
        from_model(np.zeros(3))
