"""``skillgym demo``: the oracle table, a tiny training run, and its one-line errors."""

from __future__ import annotations

import json

import pytest

from skillgym.training.cli import main
from skillgym.training.commands.demo import EVAL_LEVELS, EXPRESSIONS


def test_oracle_only_solves_every_expression(capsys):
    assert main(["demo", "--steps", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("✓") == len(EXPRESSIONS)
    assert "✗" not in out


def test_training_writes_a_run_and_evaluates_every_length(tmp_path, capsys):
    run = tmp_path / "demo"
    assert main(["demo", "--steps", "1024", "--episodes", "1", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Learned ADD" in out
    for level in EVAL_LEVELS:
        assert f"│     {level} │" in out
    config = (run / "config.toml").read_text()
    assert "skillgym/AEC-Add-v0" in config and "max_level = 3" in config
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps and steps[-1] >= 1024


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--steps", "10"], "--steps must be 0"), (["--episodes", "0"], "--episodes must be")],
)
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    assert main(["demo", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
