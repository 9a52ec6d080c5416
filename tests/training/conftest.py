"""Fixtures of the training tests."""

from __future__ import annotations

import gymnasium as gym
import pytest
from training_helpers import AEC_ADD, MASKED_ID, TINY

from skillgym.training.cli import main
from skillgym.training.run import RunDir


def _masked_run(tmp_path_factory, env_id: str) -> RunDir:
    run = RunDir(tmp_path_factory.mktemp("masked") / "run")
    args = [env_id, *TINY, "train.total_timesteps=768", "train.checkpoint_every=256"]
    assert main(["train", *args, "--run-dir", str(run.path)]) == 0
    return run


@pytest.fixture(scope="session")
def masked_run(tmp_path_factory) -> RunDir:
    """A finished run on the masked test env: checkpoints at 256, 512 and 768 steps."""
    return _masked_run(tmp_path_factory, MASKED_ID)


@pytest.fixture(scope="session")
def aec_run(tmp_path_factory) -> RunDir:
    """The same on ``skillgym/AEC-Add-v0``, once that env is registered."""
    if AEC_ADD not in gym.registry:
        pytest.skip(f"{AEC_ADD} is not registered yet")
    return _masked_run(tmp_path_factory, AEC_ADD)


@pytest.fixture(scope="session")
def cartpole_run(tmp_path_factory) -> RunDir:
    """A finished CartPole run (an env without masks or success): checkpoints at 64 and 128."""
    run = RunDir(tmp_path_factory.mktemp("cartpole") / "run")
    args = ["CartPole-v1", *TINY, "train.total_timesteps=128", "train.checkpoint_every=64"]
    assert main(["train", *args, "--run-dir", str(run.path)]) == 0
    return run


@pytest.fixture(scope="session")
def hierarchy_run(tmp_path_factory) -> RunDir:
    """A finished aec-hierarchy run of ADD (ADD1, CARRY, LSHIFT, ADD), small but exact enough
    that the learned ADD adds 20-digit numbers; checkpoints inside and between skills."""
    run = RunDir(tmp_path_factory.mktemp("hierarchy") / "run")
    small = ['skills=["ADD"]', "warm_start.episodes=400", "train.timesteps_per_skill=512",
             "train.n_envs=2", "ppo.n_steps=128", "ppo.batch_size=128", "ppo.n_epochs=2",
             "ppo.net_arch=[64]", "train.checkpoint_every=256", "eval.episodes=10"]
    assert main(["train", "aec-hierarchy", *small, "--run-dir", str(run.path)]) == 0
    return run
