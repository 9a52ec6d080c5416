"""The keye-router recipe: PPO on the batched Keye-ModeSelect env, with its response cache."""

from __future__ import annotations

import json

import pytest
import torch

from skillgym.models import CausalTransformer, TransformerConfig, save_checkpoint
from skillgym.training.cli import main
from skillgym.training.run import RunDir


@pytest.fixture(scope="module")
def responder_file(tmp_path_factory):
    """A tiny model checkpoint for the router's responder."""
    torch.manual_seed(0)
    model = CausalTransformer(TransformerConfig(n_layers=1, d_model=16, n_heads=2,
                                                context_length=96))
    return save_checkpoint(model, tmp_path_factory.mktemp("model") / "model.pt")


def _args(responder_file, policy: str) -> list[str]:
    return ["keye-router", f"env.responder={responder_file}", "env.pool_size=3",
            "env.levels=[1, 6]", "env.n_envs=8", "train.total_timesteps=128",
            "train.checkpoint_every=64", "ppo.n_steps=8", "ppo.batch_size=32",
            "ppo.net_arch=[16]", f"policy={policy}"]


@pytest.mark.parametrize("policy", ["kernel", "torch"])
def test_router_trains_into_a_run_folder_and_caches_responses(tmp_path, responder_file, policy):
    run_dir = tmp_path / "router"
    assert main(["train", *_args(responder_file, policy), "--run-dir", str(run_dir)]) == 0
    run = RunDir.open(run_dir)
    assert [checkpoint.step for checkpoint in run.checkpoints()] == [64, 128]
    cached = [json.loads(line) for line in (run_dir / "responses.jsonl").read_text().splitlines()]
    # Two levels of three problems in two modes: every response generated once, however many
    # of the 128 episodes asked for it.
    assert 1 <= len(cached) <= 12
    assert len({(row["prompt"], row["mode"]) for row in cached}) == len(cached)
    assert any("rollout/ep_rew_mean" in row for row in run.metrics())


def test_the_trained_router_plays_the_single_env(tmp_path, responder_file, capsys):
    run_dir = tmp_path / "router"
    assert main(["train", *_args(responder_file, "kernel"), "--run-dir", str(run_dir)]) == 0
    assert main(["eval", str(run_dir), "--episodes", "4"]) == 0
    assert "Keye-ModeSelect" in capsys.readouterr().out


@pytest.mark.parametrize("override, message", [("policy=jax", "policy must be one of"),
                                               ("env.modes=[\"maybe\"]", "modes must be"),
                                               ("env.responder=no/such.pt", "env.responder")])
def test_bad_router_configuration_is_named(tmp_path, override, message, capsys):
    assert main(["train", "keye-router", override, "--run-dir", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
