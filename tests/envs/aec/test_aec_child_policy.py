"""Trained stable-baselines3 / sb3-contrib models as AEC child policies (``SkillPolicy``)."""

from __future__ import annotations

import numpy as np
import pytest
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from skillgym.envs.aec import AECEnv, oracle
from skillgym.envs.aec.child_policy import SkillPolicy
from skillgym.envs.aec.skills import MASKS, SKILL_INDEX


@pytest.mark.parametrize("algorithm", [MaskablePPO, PPO])
def test_models_act_as_child_policies(algorithm):
    model = algorithm("MultiInputPolicy", AECEnv("ADD1"), n_steps=32, batch_size=32, seed=0)
    policy = SkillPolicy("ADD1", model)
    env = AECEnv("ADD", child_policies={"ADD1": policy}, child_step_limit=6)
    obs, _ = env.reset(seed=0)
    child_obs = {**obs, "skill": SKILL_INDEX["ADD1"], "depth": 1}
    mask = MASKS[SKILL_INDEX["ADD1"]]
    action = policy(child_obs, mask)
    # MaskablePPO gets ADD1's mask, PPO acts unmasked; both at depth 0, where they were trained
    masked = {"action_masks": mask} if algorithm is MaskablePPO else {}
    expected, _ = model.predict({**child_obs, "depth": 0}, deterministic=True, **masked)
    assert action == int(expected)
    if algorithm is MaskablePPO:
        assert mask[action]
    while True:
        obs, _, terminated, truncated, info = env.step(oracle(obs))
        if terminated or truncated:
            break
    assert "is_success" in info


def test_a_policy_trained_on_the_pad_sees_it():
    env = AECEnv("ADD1", grid_obs=True)
    model = MaskablePPO("MultiInputPolicy", env, n_steps=32, batch_size=32, seed=0)
    policy = SkillPolicy("ADD1", model)
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        expected, _ = model.predict(obs, deterministic=True, action_masks=env.action_masks())
        assert policy(obs) == int(expected)


def test_a_skill_policy_refuses_objects_without_predict():
    with pytest.raises(TypeError, match="policy must have a predict method, got ndarray"):
        SkillPolicy("ADD1", np.zeros(3))
    with pytest.raises(ValueError, match="actions must be one of"):
        SkillPolicy("ADD1", oracle, actions="flat")
