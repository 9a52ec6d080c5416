"""Killed or interrupted training resumes to bit-for-bit the parameters of an uninterrupted run."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time

import pytest
from training_helpers import (
    MASKED_RUNS,
    SKILLGYM,
    TINY,
    assert_bitwise_equal,
    learning_rows,
    training_state,
)

import skillgym  # noqa: F401  (registers the skillgym/ ids)
from skillgym.training.cli import main
from skillgym.training.resumable import ALGORITHMS, load_policy
from skillgym.training.run import RunDir


def _start_and_stop(args: list[str], run_dir, sig: int) -> subprocess.Popen:
    """Start ``skillgym train`` in a subprocess; send ``sig`` once its first checkpoint exists."""
    process = subprocess.Popen([SKILLGYM, "train", *args, "--run-dir", str(run_dir)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = RunDir(run_dir)
    while process.poll() is None and run.latest_checkpoint() is None:
        time.sleep(0.005)
    assert process.poll() is None, process.communicate()
    process.send_signal(sig)
    process.wait(timeout=60)
    return process


def test_sigkill_after_first_checkpoint_then_resume_matches_uninterrupted_run(tmp_path, capsys):
    total = 2048
    args = ["CartPole-v1", *TINY, f"train.total_timesteps={total}", "train.checkpoint_every=256",
            "seed=3"]
    assert main(["train", *args, "--run-dir", str(tmp_path / "whole")]) == 0

    _start_and_stop(args, tmp_path / "killed", signal.SIGKILL)
    killed = RunDir(tmp_path / "killed")
    resumed_from = killed.latest_checkpoint().step
    assert 0 < resumed_from < total, "the kill must land mid-way"

    capsys.readouterr()
    assert main(["train", "--resume", str(killed.path)]) == 0
    assert f"training from step {resumed_from}" in capsys.readouterr().err

    whole = RunDir(tmp_path / "whole")
    assert [c.step for c in killed.checkpoints()] == [c.step for c in whole.checkpoints()]
    assert_bitwise_equal(training_state(whole.latest_checkpoint().path),
                         training_state(killed.latest_checkpoint().path))
    # The metrics a resumed run writes continue the killed run's without gaps or repeats.
    assert learning_rows(killed.metrics()) == learning_rows(whole.metrics())


def _copy_keeping(run: RunDir, destination, kept: int) -> RunDir:
    """A copy of ``run`` with only its first ``kept`` checkpoints, as if killed after them."""
    copy = RunDir(destination)
    shutil.copytree(run.path, copy.path)
    for checkpoint in copy.checkpoints()[kept:]:
        shutil.rmtree(checkpoint.path)
    return copy


@pytest.mark.parametrize("run_fixture", MASKED_RUNS)
def test_masked_env_trains_with_maskable_ppo_and_resumes_exactly(run_fixture, tmp_path, request):
    masked_run = request.getfixturevalue(run_fixture)
    final = masked_run.latest_checkpoint()
    # The env raises on an illegal action, so finishing at all shows the masks were obeyed.
    assert type(load_policy(final.path)) is ALGORITHMS["MaskablePPO"]
    assert [c.step for c in masked_run.checkpoints()] == [256, 512, 768]
    rewound = _copy_keeping(masked_run, tmp_path / "rewound", kept=1)
    assert main(["train", "--resume", str(rewound.path)]) == 0
    assert [c.step for c in rewound.checkpoints()] == [256, 512, 768]
    assert_bitwise_equal(training_state(final.path),
                         training_state(rewound.latest_checkpoint().path))
    assert learning_rows(rewound.metrics()) == learning_rows(masked_run.metrics())


def test_resume_before_first_checkpoint_starts_over(masked_run, tmp_path):
    early = _copy_keeping(masked_run, tmp_path / "early", kept=0)
    # A checkpoint the kill interrupted half-way is ignored and cleaned up.
    (early.checkpoints_dir / ".step_000000000256.partial").mkdir()
    assert main(["train", "--resume", str(early.path)]) == 0
    assert not (early.checkpoints_dir / ".step_000000000256.partial").exists()
    assert_bitwise_equal(training_state(masked_run.latest_checkpoint().path),
                         training_state(early.latest_checkpoint().path))
    assert learning_rows(early.metrics()) == learning_rows(masked_run.metrics())


def test_resuming_a_finished_run_changes_nothing(masked_run, tmp_path):
    finished = _copy_keeping(masked_run, tmp_path / "finished", kept=3)
    assert main(["train", "--resume", str(finished.path)]) == 0
    assert [c.step for c in finished.checkpoints()] == [256, 512, 768]
    assert_bitwise_equal(training_state(masked_run.latest_checkpoint().path),
                         training_state(finished.latest_checkpoint().path))
    assert finished.metrics() == masked_run.metrics()


def test_kill_with_sigterm_keeps_checkpoints_and_prints_how_to_resume(tmp_path):
    # SIGTERM takes the Ctrl-C path (KeyboardInterrupt), so this covers both.
    args = ["CartPole-v1", *TINY, "train.total_timesteps=100000", "train.checkpoint_every=64"]
    process = _start_and_stop(args, tmp_path / "run", signal.SIGTERM)
    stdout, stderr = process.communicate()
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert f"continue with: skillgym train --resume {tmp_path / 'run'}" in stderr
    run = RunDir(tmp_path / "run")
    assert run.latest_checkpoint().step >= 64
    assert (run.plots_dir / "learning_curves.png").is_file()
