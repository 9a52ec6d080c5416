"""``skillgym report`` on a real run folder, and on folders that are not runs."""

from __future__ import annotations

import json
import shutil

import pytest

from skillgym.training.cli import main
from skillgym.training.commands.report import last_metrics
from skillgym.training.run import RunDir


@pytest.fixture
def run_copy(cartpole_run, tmp_path) -> RunDir:
    """A copy of the session's CartPole run, free to add evaluations and plots to."""
    return RunDir(shutil.copytree(cartpole_run.path, tmp_path / "run"))


def test_report_shows_recipe_config_metrics_checkpoints_evals_and_plots(
    run_copy, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")  # one row per line: rich wraps at 80 otherwise
    shutil.rmtree(run_copy.plots_dir, ignore_errors=True)
    assert main(["eval", str(run_copy.path), "--episodes", "2"]) == 0
    expressions = tmp_path / "exprs.jsonl"
    expressions.write_text('{"expression": "2 * 3", "answer": 6}\n'
                           '{"expression": "10 - 4", "answer": 5}\n')
    oracle_eval = run_copy.path / "eval" / "oracle.json"
    assert main(["eval", "oracle", "--expressions", str(expressions),
                 "--output", str(oracle_eval)]) == 0
    capsys.readouterr()

    assert main(["report", str(run_copy.path)]) == 0
    out = capsys.readouterr().out
    rows = run_copy.metrics()
    assert f"{run_copy.path}: recipe ppo, last logged step 128 ({len(rows)} rows" in out
    cells = [[cell.strip() for cell in line.split("│")[1:-1]]
             for line in out.splitlines() if "│" in line]
    assert ["env.id", "CartPole-v1"] in cells and ["train.total_timesteps", "128"] in cells
    assert ["train/value_loss", f"{rows[-1]['train/value_loss']:.4g}", "128"] in cells
    assert "checkpoints (2): 64, 128" in out
    assert "CartPole-v1-step128.json" in out and "CartPole-v1 over 2 episodes" in out
    assert "exact match 50.0% on 2 expressions" in out
    # The plots were drawn again from the run's files.
    assert (run_copy.plots_dir / "learning_curves.png").is_file()
    assert (run_copy.plots_dir / "oracle-by_digits.png").is_file()
    assert "learning_curves.png" in out and "oracle-by_digits.png" in out
    assert json.loads(oracle_eval.read_text())["correct"] == 1


def test_last_metrics_keeps_metrics_not_logged_on_the_last_row():
    rows = [{"step": 10, "a": 1.0, "eval/success": 0.5}, {"step": 20, "a": 2.0}]
    assert last_metrics(rows) == {"a": (20, 2.0), "eval/success": (10, 0.5)}


def test_a_missing_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "absent")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"skillgym report: error: run folder '{tmp_path / 'absent'}' does not exist")


def test_a_folder_that_is_not_a_run_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"skillgym report: error: '{tmp_path}' is not a run folder: it has no config.toml")
