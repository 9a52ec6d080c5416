"""``skillgym eval`` against an independent replay of the same checkpoint."""

from __future__ import annotations

import json
import statistics

import gymnasium as gym
import pytest
from sb3_contrib import MaskablePPO
from training_helpers import MASKED_RUNS

from skillgym.training.cli import main
from skillgym.training.evaluate import evaluate
from skillgym.training.recipes import EvalError
from skillgym.training.resumable import load_policy


def replay(checkpoint, env_id, episodes, seed):
    """Returns, lengths and successes of the checkpoint's greedy policy, by a plain loop."""
    model = MaskablePPO.load(checkpoint / "model.zip", device="cpu")
    env = gym.make(env_id)
    returns, lengths, successes = [], [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, length, done = 0.0, 0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True,
                                      action_masks=env.unwrapped.action_masks())
            obs, reward, terminated, truncated, info = env.step(int(action))
            total, length, done = total + reward, length + 1, terminated or truncated
        returns.append(total)
        lengths.append(length)
        successes.append(bool(info.get("is_success", False)))
    env.close()
    return returns, lengths, successes


@pytest.mark.parametrize("run_fixture", MASKED_RUNS)
def test_eval_run_dir_matches_an_independent_replay(run_fixture, request, capsys):
    masked_run = request.getfixturevalue(run_fixture)
    env_id = masked_run.config()["env"]["id"]
    assert main(["eval", str(masked_run.path), "--episodes", "6", "--seed", "10"]) == 0
    out = capsys.readouterr().out
    report_path = masked_run.path / "eval" / f"{env_id.replace('/', '_')}-step768.json"
    assert f"written: {report_path}" in out
    report = json.loads(report_path.read_text())
    returns, lengths, successes = replay(masked_run.latest_checkpoint().path, env_id, 6, 10)
    assert report["step"] == 768
    assert report["returns"] == returns
    assert report["lengths"] == lengths
    assert report["successes"] == successes
    assert report["mean_return"] == pytest.approx(statistics.fmean(returns), abs=0, rel=1e-15)
    assert report["std_return"] == pytest.approx(statistics.pstdev(returns), abs=0, rel=1e-15)
    assert report["success_rate"] == sum(successes) / 6
    assert report["episodes"] == 6 and report["seed"] == 10 and report["deterministic"]


def test_eval_a_given_checkpoint_to_a_given_file(masked_run, tmp_path):
    first = masked_run.checkpoints()[0]
    output = tmp_path / "out.json"
    assert main(["eval", str(first.path), "--episodes", "2", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report["step"] == 256 and report["checkpoint"] == str(first.path)
    env_id = masked_run.config()["env"]["id"]
    assert report["returns"] == replay(first.path, env_id, 2, 0)[0]


def test_cartpole_eval_reports_no_success_and_one_reward_per_step(cartpole_run, capsys):
    assert main(["eval", str(cartpole_run.path), "--episodes", "3", "--stochastic"]) == 0
    report = json.loads((cartpole_run.path / "eval" / "CartPole-v1-step128.json").read_text())
    assert report["success_rate"] is None and report["successes"] is None
    assert not report["deterministic"]
    # CartPole pays exactly 1 per step, so each return is its episode's length.
    assert report["returns"] == [float(n) for n in report["lengths"]]
    assert "success n/a" in capsys.readouterr().out


def test_eval_rejects_an_env_with_other_observations(masked_run, capsys):
    assert main(["eval", str(masked_run.path), "--env", "Acrobot-v1", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skillgym eval: error: the agent was trained on observations ")
    assert "Acrobot-v1 has Box(" in err and err.count("\n") == 1


def test_evaluate_rejects_zero_episodes(masked_run):
    with pytest.raises(EvalError, match="episodes must be at least 1, got 0"):
        evaluate(load_policy(masked_run.latest_checkpoint().path), "CartPole-v1", episodes=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "run folder or checkpoint 'nowhere' does not exist"),
        (["RUN", "--env", "NoSuchEnv-v0"], "--env: unknown environment id 'NoSuchEnv-v0'"),
        (["RUN", "--episodes", "0"], "--episodes must be at least 1, got 0"),
        (["EMPTY"], "'EMPTY' is neither a run folder (with config.toml) nor a checkpoint"),
    ],
)
def test_eval_bad_input_is_one_line(masked_run, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    substitute = {"RUN": str(masked_run.path), "EMPTY": str(tmp_path / "empty")}
    message = message.replace("EMPTY", str(tmp_path / "empty"))
    assert main(["eval", *(substitute.get(a, a) for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"skillgym eval: error: {message}")
    assert err.count("\n") == 1
