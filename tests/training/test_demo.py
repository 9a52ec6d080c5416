"""``skillgym demo``: the oracle table, the generalisation table and plot, one-line errors."""

from __future__ import annotations

import pytest
from rich.console import Console

from skillgym.training.cli import main
from skillgym.training.commands.demo import EXPRESSIONS, show_generalisation


def test_oracle_only_solves_every_expression(capsys):
    assert main(["demo", "--oracle-only"]) == 0
    out = capsys.readouterr().out
    assert out.count("✓") == len(EXPRESSIONS)
    assert "✗" not in out


def test_generalisation_table_and_plot_cover_1_to_100_digits(hierarchy_run):
    console = Console(record=True, width=120)
    path = show_generalisation(console, hierarchy_run.path, episodes=10)
    text = console.export_text()
    assert "Learned skills" in text and "ADD" in text
    rows = [line.split("│")[1:4] for line in text.splitlines() if line.count("│") == 4]
    assert [int(row[0]) for row in rows] == [1, 2, 3, 5, 10, 20, 50, 100]
    # trained on <= 5 digits (level 4); the first row's accuracy is the recipe's own measurement
    assert [row[1].strip() for row in rows] == ["yes"] * 4 + ["no"] * 4
    assert path.is_file() and path.stat().st_size > 0


@pytest.mark.parametrize(("argv", "message"), [(["--episodes", "0"], "--episodes must be")])
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    assert main(["demo", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
