"""The run folder: creation, atomic checkpoints, metrics rows, logger writers and plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skillgym.training.logs import run_logger
from skillgym.training.plots import curves, write_learning_curves
from skillgym.training.run import RunDir, RunError

CONFIG = {"seed": 1, "env": {"id": "CartPole-v1", "kwargs": {}}}


def test_create_writes_recipe_and_config(tmp_path):
    run = RunDir.create(tmp_path / "run", "ppo", CONFIG)
    assert run.recipe() == "ppo"
    assert run.config() == CONFIG
    assert run.checkpoints_dir.is_dir()
    assert run.checkpoints() == [] and run.latest_checkpoint() is None


def test_create_refuses_a_used_folder(tmp_path):
    RunDir.create(tmp_path / "run", "ppo", CONFIG)
    with pytest.raises(RunError, match=r"already exists; continue it with --resume"):
        RunDir.create(tmp_path / "run", "ppo", CONFIG)


def test_create_accepts_an_empty_existing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert RunDir.create(tmp_path / "empty", "ppo", CONFIG).config() == CONFIG


def test_open_errors(tmp_path):
    with pytest.raises(RunError, match=r"run folder '.*nowhere' does not exist"):
        RunDir.open(tmp_path / "nowhere")
    with pytest.raises(RunError, match=r"is not a run folder: it has no config\.toml"):
        RunDir.open(tmp_path)
    (tmp_path / "config.toml").write_text("seed = 1\n")
    with pytest.raises(RunError, match=r"names no recipe"):
        RunDir.open(tmp_path).config()


def test_checkpoints_appear_only_when_complete(tmp_path):
    run = RunDir.create(tmp_path / "run", "ppo", CONFIG)
    with run.new_checkpoint(2048) as folder:
        (folder / "model").write_text("a")
        assert run.checkpoints() == []
    with pytest.raises(RuntimeError), run.new_checkpoint(4096) as folder:
        (folder / "model").write_text("b")
        raise RuntimeError("killed while writing")
    with run.new_checkpoint(1024) as folder:
        (folder / "model").write_text("c")
    assert [c.step for c in run.checkpoints()] == [1024, 2048]
    assert run.latest_checkpoint().step == 2048
    assert (run.latest_checkpoint().path / "model").read_text() == "a"
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == [
        "step_000000001024", "step_000000002048"]


def test_remove_partial_checkpoints(tmp_path):
    run = RunDir.create(tmp_path / "run", "ppo", CONFIG)
    # What a process killed inside new_checkpoint leaves behind.
    (run.checkpoints_dir / ".step_000000000512.partial").mkdir()
    run.remove_partial_checkpoints()
    assert list(run.checkpoints_dir.iterdir()) == []


def test_metrics_drop_only_a_cut_short_last_line(tmp_path):
    run = RunDir.create(tmp_path / "run", "ppo", CONFIG)
    run.metrics_path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "x"')
    assert run.metrics() == [{"step": 1}, {"step": 2}]
    run.metrics_path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(RunError, match=r"metrics\.jsonl:2: not a JSON object"):
        run.metrics()


def test_rewind_metrics(tmp_path):
    run = RunDir.create(tmp_path / "run", "ppo", CONFIG)
    run.metrics_path.write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 3, 4)))
    run.rewind_metrics(2)
    assert run.metrics() == [{"step": 1}, {"step": 2}]


def test_logger_writes_jsonl_rows_and_tensorboard_events(tmp_path):
    run = RunDir.create(tmp_path / "run", "ppo", CONFIG)
    logger = run_logger(run)
    logger.record("rollout/ep_rew_mean", np.float32(1.5))
    logger.record("train/loss", 0.25)
    logger.record("time/fps", 100, exclude="tensorboard")
    logger.record("train/hidden", 7, exclude="json")
    logger.dump(step=128)
    logger.record("rollout/ep_rew_mean", 2.0)
    logger.dump(step=256)
    logger.close()
    assert run.metrics() == [
        {"step": 128, "rollout/ep_rew_mean": 1.5, "time/fps": 100, "train/loss": 0.25},
        {"step": 256, "rollout/ep_rew_mean": 2.0},
    ]
    assert list(run.tensorboard_dir.glob("events.out.tfevents.*"))


def test_resumed_logger_rewinds_metrics(tmp_path):
    run = RunDir.create(tmp_path / "run", "ppo", CONFIG)
    run.metrics_path.write_text("".join(json.dumps({"step": s}) + "\n" for s in (64, 128, 192)))
    logger = run_logger(run, resume_step=128)
    logger.record("rollout/ep_rew_mean", 3.0)
    logger.dump(step=192)
    logger.close()
    assert run.metrics() == [{"step": 64}, {"step": 128}, {"step": 192,
                                                          "rollout/ep_rew_mean": 3.0}]


def test_curves_pick_changing_learning_metrics_in_step_order():
    rows = [
        {"step": 1, "rollout/ep_rew_mean": 1.0, "time/fps": 9, "train/flag": True,
         "train/learning_rate": 3e-4, "train/n_updates": 4},
        {"step": 2, "rollout/ep_rew_mean": 2.0, "train/loss": 0.5, "train/name": "x",
         "train/learning_rate": 3e-4, "train/n_updates": 8},
        {"step": 3, "train/loss": 0.25, "train/learning_rate": 3e-4, "train/n_updates": 12},
    ]
    assert curves(rows) == {"rollout/ep_rew_mean": ([1, 2], [1.0, 2.0]),
                            "train/loss": ([2, 3], [0.5, 0.25])}
    # After a single iteration every metric is one point, and is drawn.
    assert curves(rows[:1]) == {"rollout/ep_rew_mean": ([1], [1.0]),
                                "train/learning_rate": ([1], [3e-4])}


def test_learning_curves_png(tmp_path):
    run = RunDir.create(tmp_path / "run", "ppo", CONFIG)
    assert write_learning_curves(run) is None
    run.metrics_path.write_text("".join(
        json.dumps({"step": s, "rollout/ep_rew_mean": s / 2, "train/loss": 1 / s}) + "\n"
        for s in (1, 2, 3)))
    path = write_learning_curves(run)
    assert path == run.plots_dir / "learning_curves.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
