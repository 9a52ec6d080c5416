"""The mtnas recipes killed mid-way and resumed end exactly as uninterrupted runs; report reads
their run folders."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
import torch
from training_helpers import SKILLGYM

from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.envs.mtnas.supernet import SupernetEvaluator
from skillgym.training.cli import main
from skillgym.training.recipes.mtnas_options import keep_lines
from skillgym.training.run import RunDir

SPACE = ["--layers", "1", "--pool", "cnn3", "identity", "--private-kind", "cnn3"]
SMALL = [*SPACE, "--warmup", "2"]


def _stop_on_call(monkeypatch, cls, name: str, call: int, after: bool) -> None:
    """Make ``cls.name`` raise KeyboardInterrupt on its ``call``-th call, before or after it
    runs (after: whatever it writes, e.g. cache lines, is written, as in a kill just then)."""
    original = getattr(cls, name)
    calls = []

    def stopping(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == call and not after:
            raise KeyboardInterrupt
        found = original(self, *args, **kwargs)
        if len(calls) == call:
            raise KeyboardInterrupt
        return found

    monkeypatch.setattr(cls, name, stopping)


def _same(left, right) -> bool:
    """Equal nested states, tensors compared bit for bit."""
    if isinstance(left, torch.Tensor):
        return left.dtype == right.dtype and torch.equal(left, right)
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(map(_same, left, right))
    return left == right


def _assert_same_search(whole: RunDir, resumed: RunDir) -> None:
    for name in ("result.json", "reward_cache.jsonl"):
        assert (resumed.path / name).read_text() == (whole.path / name).read_text(), name
    assert resumed.metrics() == whole.metrics()
    assert [c.step for c in resumed.checkpoints()] == [c.step for c in whole.checkpoints()]
    for left, right in zip(whole.checkpoints(), resumed.checkpoints(), strict=True):
        assert _same(torch.load(left.path / "search.pt", weights_only=True),
                     torch.load(right.path / "search.pt", weights_only=True)), left.step


@pytest.mark.parametrize("method", ["reinforce", "ppo"])
def test_search_interrupted_mid_round_resumes_to_the_same_result(tmp_path, monkeypatch, capsys,
                                                                 method):
    args = ["mtnas", "search", "--method", method, "--budget", "16", "--batch-size", "4",
            "--rerank", "3", "--checkpoint-every", "8", *SMALL]
    whole, stopped = RunDir(tmp_path / "whole"), RunDir(tmp_path / "stopped")
    assert main([*args, "--run-dir", str(whole.path)]) == 0
    # Stopped in round 4, after its scores reached the cache: metrics rows 4, 8, 12 and the
    # checkpoint at 8 are written, and the cache holds scores from after the checkpoint.
    with monkeypatch.context() as patch:
        _stop_on_call(patch, SupernetEvaluator, "evaluate", 4, after=True)
        assert main([*args, "--run-dir", str(stopped.path)]) == 130
    assert [row["step"] for row in stopped.metrics()] == [4, 8, 12]
    assert [c.step for c in stopped.checkpoints()] == [8]
    assert not (stopped.path / "result.json").exists()
    capsys.readouterr()
    assert main(["mtnas", "search", "--resume", str(stopped.path)]) == 0
    assert f"training from step 8 into {stopped.path}" in capsys.readouterr().err
    _assert_same_search(whole, stopped)


def test_search_killed_by_sigkill_resumes_to_the_same_result(tmp_path):
    args = ["mtnas", "search", "--budget", "120", "--batch-size", "4", "--rerank", "3",
            "--checkpoint-every", "8", *SMALL]
    whole, killed = RunDir(tmp_path / "whole"), RunDir(tmp_path / "killed")
    assert main([*args, "--run-dir", str(whole.path)]) == 0
    process = subprocess.Popen([SKILLGYM, *args, "--run-dir", str(killed.path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while process.poll() is None and killed.latest_checkpoint() is None:
        time.sleep(0.005)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert 0 < killed.latest_checkpoint().step < 120, "the kill must land mid-way"
    assert main(["train", "--resume", str(killed.path)]) == 0
    _assert_same_search(whole, killed)


def test_report_reads_a_search_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one row per line: rich wraps at 80 otherwise
    run = RunDir(tmp_path / "run")
    assert main(["mtnas", "search", "--budget", "8", "--batch-size", "4", "--rerank", "2",
                 "--checkpoint-every", "4", *SMALL, "--run-dir", str(run.path)]) == 0
    capsys.readouterr()
    (run.plots_dir / "assignment.png").unlink()  # the search drew it; the report redraws it
    assert main(["report", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert (run.plots_dir / "assignment.png").is_file()
    assert f"{run.path}: recipe mtnas-search, last logged step 8 (2 rows" in out
    cells = [[cell.strip() for cell in line.split("│")[1:-1]]
             for line in out.splitlines() if "│" in line]
    result = json.loads((run.path / "result.json").read_text())
    assert ["search.budget", "8"] in cells and ["space.pool", "['cnn3', 'identity']"] in cells
    assert ["eval/final_assignment", result["supernet_choice"], "8"] in cells
    assert ["eval/final_reward", f"{result['supernet_reward']:.4g}", "8"] in cells
    assert "checkpoints (2): 4, 8" in out
    assert (run.plots_dir / "learning_curves.png").is_file()


def test_eval_refuses_a_search_run_in_one_line(tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    assert main(["mtnas", "search", "--budget", "4", "--batch-size", "4", "--rerank", "1",
                 *SMALL, "--run-dir", str(run.path)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run.path)]) == 2
    err = capsys.readouterr().err
    assert "an mtnas-search run holds assignment scores, not an environment agent" in err
    assert err.count("\n") == 1


def test_evaluate_interrupted_between_seeds_resumes_to_the_same_result(tmp_path, monkeypatch):
    args = ["mtnas", "evaluate", "0/1/0/0", "--epochs", "1", "--seeds", "0", "1", "2", *SPACE]
    whole, stopped = RunDir(tmp_path / "whole"), RunDir(tmp_path / "stopped")
    assert main([*args, "--run-dir", str(whole.path)]) == 0
    with monkeypatch.context() as patch:
        _stop_on_call(patch, ReferenceEvaluator, "run_seed", 2, after=False)
        assert main([*args, "--run-dir", str(stopped.path)]) == 130
    assert [c.step for c in stopped.checkpoints()] == [1]
    assert main(["mtnas", "evaluate", "--resume", str(stopped.path)]) == 0
    assert (stopped.path / "result.json").read_text() == (whole.path / "result.json").read_text()
    assert stopped.metrics() == whole.metrics()


@pytest.mark.parametrize("backend", ["supernet", "reference"])
def test_table_interrupted_mid_seed_resumes_to_the_same_table(tmp_path, monkeypatch, backend):
    args = ["mtnas", "build-table", "--backend", backend, "--tasks", "syn_pos", "syn_topic",
            "--seeds", "0", "1", "--epochs", "1", "--checkpoint-every", "4", *SMALL]
    whole, stopped = RunDir(tmp_path / "whole"), RunDir(tmp_path / "stopped")
    assert main([*args, "--run-dir", str(whole.path)]) == 0
    evaluator = SupernetEvaluator if backend == "supernet" else ReferenceEvaluator
    # The 15th score of 18 (9 assignments x 2 seeds): into the second seed, after a checkpoint
    # at 12, with two scores cached since.
    with monkeypatch.context() as patch:
        _stop_on_call(patch, evaluator, "evaluate", 15, after=True)
        assert main([*args, "--run-dir", str(stopped.path)]) == 130
    assert [c.step for c in stopped.checkpoints()] == [4, 8, 12]
    assert main(["train", "--resume", str(stopped.path)]) == 0
    for name in ("table.json", "reward_cache.jsonl"):
        assert (stopped.path / name).read_text() == (whole.path / name).read_text(), name
    assert stopped.metrics() == whole.metrics()
    assert [c.step for c in stopped.checkpoints()] == [4, 8, 12, 16, 18]


def test_keep_lines_drops_what_came_after_the_checkpoint_and_a_cut_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": 3}\n{"d": ')
    keep_lines(path, 2)
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    keep_lines(path, 5)
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    keep_lines(tmp_path / "absent.jsonl", 0)
    assert not (tmp_path / "absent.jsonl").exists()
