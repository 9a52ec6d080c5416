"""Fixtures of the training tests."""

from __future__ import annotations

import gymnasium as gym
import pytest
from training_helpers import AEC_ADD, MASKED_ID, TINY

from skillgym.training.cli import main
from skillgym.training.run import RunDir


@pytest.fixture(scope="session", params=[
    pytest.param(MASKED_ID),
    pytest.param(AEC_ADD, marks=pytest.mark.skipif(
        AEC_ADD not in gym.registry, reason=f"{AEC_ADD} is not registered yet")),
])
def masked_run(request, tmp_path_factory) -> RunDir:
    """A finished run on an env with ``action_masks()``: checkpoints at 256, 512 and 768."""
    run = RunDir(tmp_path_factory.mktemp("masked") / "run")
    args = [request.param, *TINY, "train.total_timesteps=768", "train.checkpoint_every=256"]
    assert main(["train", *args, "--run-dir", str(run.path)]) == 0
    return run


@pytest.fixture(scope="session")
def cartpole_run(tmp_path_factory) -> RunDir:
    """A finished CartPole run (an env without masks or success): checkpoints at 64 and 128."""
    run = RunDir(tmp_path_factory.mktemp("cartpole") / "run")
    args = ["CartPole-v1", *TINY, "train.total_timesteps=128", "train.checkpoint_every=64"]
    assert main(["train", *args, "--run-dir", str(run.path)]) == 0
    return run
