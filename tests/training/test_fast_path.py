"""`skillgym train` takes the fast path by default: kernel policies, native batched twins, and
thread pools sized on purpose; SB3's stock setup stays one option away."""

from __future__ import annotations

import os
import shutil
import sys
import warnings

import pytest
import threadpoolctl
import torch
from gymnasium.vector import AutoresetMode
from sb3_contrib.common.maskable.policies import MaskableMultiInputActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import DummyVecEnv
from training_helpers import AEC_ADD, TINY

import skillgym  # noqa: F401  (registers the skillgym/ ids)
from skillgym.agents.vec_env import GymnasiumVecEnv
from skillgym.policies import KernelMaskablePolicy, KernelMlpPolicy
from skillgym.policies.buffers import BoolMaskDictRolloutBuffer
from skillgym.threads import POCL_THREADS_VARIABLE, Threads, set_threads
from skillgym.training.cli import main
from skillgym.training.config import ConfigError, resolve
from skillgym.training.recipes import get_recipe
from skillgym.training.recipes.ppo import make_env, make_model, same_step_where_offered
from skillgym.training.resumable import load_policy
from skillgym.training.run import RunDir

PPO = get_recipe("ppo")


def _built(*overrides: str):
    config = resolve(PPO.defaults, None, [*TINY, *overrides])
    PPO.check(config)
    env = make_env(config)
    try:
        return type(env), type(make_model(config, env).policy)
    finally:
        env.close()


def test_aec_defaults_are_the_native_twin_and_the_masked_kernel_policy():
    assert _built(f"env.id={AEC_ADD}") == (GymnasiumVecEnv, KernelMaskablePolicy)


def test_the_aec_twin_resets_within_the_step_and_the_buffer_holds_codes():
    config = resolve(PPO.defaults, None, [*TINY, f"env.id={AEC_ADD}"])
    env = make_env(config)
    try:
        assert env.autoreset_mode == AutoresetMode.SAME_STEP
        buffer = make_model(config, env).rollout_buffer
        assert isinstance(buffer, BoolMaskDictRolloutBuffer) and buffer.coder is not None
    finally:
        env.close()
    # a twin that does not take the argument keeps its own mode
    assert same_step_where_offered("skillgym/Copy-v1") == {}


def test_an_id_without_a_skillgym_twin_steps_one_by_one_with_the_kernel_policy():
    # CartPole-v1 has a Gymnasium twin, but it seeds the batch as one: not SB3's seed + i.
    assert _built("env.id=CartPole-v1") == (DummyVecEnv, KernelMlpPolicy)


def test_stock_sb3_setup_is_one_option_away():
    env_type, policy_type = _built(f"env.id={AEC_ADD}", "policy=torch", "env.vec=dummy")
    assert env_type is DummyVecEnv
    assert policy_type is MaskableMultiInputActorCriticPolicy


def test_continuous_actions_get_the_torch_policy_under_auto():
    env_type, policy_type = _built("env.id=Pendulum-v1")
    assert env_type is DummyVecEnv and policy_type is ActorCriticPolicy


@pytest.mark.parametrize("overrides, message", [
    (["env.id=CartPole-v1", "env.vec=native"],
     "env.vec: CartPole-v1 has no natively batched skillgym twin"),
    (["env.id=Pendulum-v1", "policy=kernel"],
     "policy: the kernel policy needs Discrete or MultiDiscrete actions"),
    (["policy=fast"], "policy must be one of ['auto', 'kernel', 'torch'], got 'fast'"),
    (["env.vec=threads"],
     "env.vec must be one of ['auto', 'native', 'dummy', 'subproc'], got 'threads'"),
    (["threads.torch=0"], "threads.torch must be an int >= 1, got 0"),
])
def test_bad_choices_are_config_errors(overrides, message):
    with pytest.raises(ConfigError) as error:
        PPO.check(resolve(PPO.defaults, None, overrides))
    assert message in str(error.value)


def test_trained_aec_run_used_the_fast_path(aec_run):
    config = aec_run.config()
    assert config["policy"] == "auto" and config["env"]["vec"] == "auto"
    assert isinstance(load_policy(aec_run.latest_checkpoint().path).policy, KernelMaskablePolicy)


def test_subproc_run_resumes_with_new_episodes(tmp_path):
    args = ["CartPole-v1", *TINY, "env.vec=subproc", "train.total_timesteps=128",
            "train.checkpoint_every=64", "--run-dir", str(tmp_path / "run")]
    assert main(["train", *args]) == 0
    run = RunDir(tmp_path / "run")
    shutil.rmtree(run.checkpoints()[-1].path)
    assert main(["train", "--resume", str(run.path)]) == 0
    assert [c.step for c in run.checkpoints()] == [64, 128]


@pytest.fixture
def restored_threads(monkeypatch):
    """Put torch's and the BLAS library's thread counts back after the test."""
    monkeypatch.delenv(POCL_THREADS_VARIABLE, raising=False)
    torch_before = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=None):
        yield
    torch.set_num_threads(torch_before)


def test_set_threads_sizes_every_pool(restored_threads):
    opencl_started = "pyopencl" in sys.modules
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        set_threads(Threads(torch=1, blas=1, opencl=2))
    # Too late for PoCL once OpenCL runs in this process: said, not silently ignored.
    assert [str(w.message).startswith("threads.opencl=2 may not apply") for w in caught] == (
        [True] if opencl_started else [])
    assert torch.get_num_threads() == 1
    blas = [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
    assert os.environ[POCL_THREADS_VARIABLE] == "2"


@pytest.mark.parametrize("field", ["torch", "blas", "opencl"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_thread_counts_must_be_positive_ints(field, value):
    with pytest.raises(ValueError, match=f"threads.{field} must be an int >= 1, got {value!r}"):
        Threads(**{field: value})
