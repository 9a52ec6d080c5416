"""AECSettings: one check of every argument the AEC env and its batched twin share."""

from __future__ import annotations

import dataclasses
import re

import gymnasium as gym
import numpy as np
import pytest

import skillgym  # noqa: F401  (registers the ids)
from skillgym.envs.aec.env import AECEnv
from skillgym.envs.aec.settings import SETTING_NAMES, AECSettings
from skillgym.envs.aec.vector import AECVectorEnv

# One bad value per field (on ADD, which has 8 levels and a batched twin), and the start of the
# message that must name the field.
BAD = [
    ({"skill": "POW"}, "skill must be one of"),
    ({"level": 0}, "level for ADD must be an integer in 1..8"),
    ({"level": 2.0}, "level for ADD must be an integer"),
    ({"level": True}, "level for ADD must be an integer"),
    ({"max_level": 9}, "max_level for ADD must be an integer in 1..8"),
    ({"max_level": "3"}, "max_level for ADD must be an integer"),
    ({"curriculum": "yes"}, "curriculum must be True or False, got 'yes'"),
    ({"reward_mode": "dense"}, "reward_mode must be one of ('sparse', 'digit')"),
    ({"max_steps_factor": 0}, "max_steps_factor must be > 0"),
    ({"max_steps_factor": float("inf")}, "max_steps_factor must be > 0 and finite"),
    ({"max_steps_factor": "2"}, "max_steps_factor must be > 0"),
    ({"actions": "flat"}, "actions must be one of ('skill', 'primitive')"),
    ({"illegal_action": "ignore"}, "illegal_action must be one of ('noop', 'raise')"),
    ({"illegal_penalty": -0.5}, "illegal_penalty must be finite and >= 0"),
    ({"illegal_penalty": float("nan")}, "illegal_penalty must be finite and >= 0"),
    ({"grid_obs": 1}, "grid_obs must be True or False, got 1"),
    ({"bindings": "some"}, "bindings must be one of ('default', 'all')"),
    ({"child_step_limit": 0}, "child_step_limit must be an integer >= 1, got 0"),
    ({"child_step_limit": 2.5}, "child_step_limit must be an integer >= 1"),
    ({"actions": "primitive", "child_step_limit": 5}, "child_step_limit has no effect"),
]


def starts(message: str) -> str:
    """A pattern for an error message that begins with ``message``."""
    return "^" + re.escape(message)


def test_every_field_has_a_bad_value_here():
    assert {name for kwargs, _ in BAD for name in kwargs} == SETTING_NAMES


@pytest.mark.parametrize(("kwargs", "message"), BAD)
def test_bad_settings_name_their_field(kwargs, message):
    with pytest.raises(ValueError, match=starts(message)):
        AECSettings(**kwargs)


@pytest.mark.parametrize(("kwargs", "message"), BAD)
def test_the_single_env_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=starts(message)):
        gym.make("skillgym/AEC-Add-v0", **kwargs)


@pytest.mark.parametrize(("kwargs", "message"), BAD)
def test_the_batched_twin_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=starts(message)):
        gym.make_vec("skillgym/AEC-Add-v0", num_envs=2, vectorization_mode="vector_entry_point",
                     **kwargs)


def test_settings_are_normalised_and_defaulted():
    settings = AECSettings("Mul", level=np.int64(2), illegal_penalty=1, max_steps_factor=3)
    assert settings.skill == "MUL" and settings.max_level == 8
    assert settings.level == 2 and type(settings.level) is int
    assert settings.illegal_penalty == 1.0 and type(settings.illegal_penalty) is float
    assert settings.max_steps_factor == 3.0
    assert settings.child_step_limit is None and settings.child_steps == 64 * settings.task.width
    assert AECSettings(child_step_limit=7).child_steps == 7
    # normalised values are valid input: replacing a field re-checks the rest unchanged
    assert dataclasses.replace(settings, level=3).skill == "MUL"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.level = 3


def test_both_envs_hold_the_same_settings():
    kwargs = {"skill": "Sub", "level": 2, "max_level": 4, "reward_mode": "digit",
              "bindings": "all", "child_step_limit": 99}
    single = gym.make("skillgym/AEC-Sub-v0", **kwargs).unwrapped
    twin = gym.make_vec("skillgym/AEC-Sub-v0", num_envs=3,
                        vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(single, AECEnv) and isinstance(twin, AECVectorEnv)
    assert single.settings == twin.settings == AECSettings(**kwargs)
    assert single.machine.child_step_limit == twin.child_step_limit == 99
    assert single.observation_space == twin.single_observation_space
