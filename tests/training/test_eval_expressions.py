"""``skillgym eval --expressions``: exact-match accuracy by terms and digits, and bad files."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
import subprocess
from collections import Counter

import pytest
from training_helpers import SKILLGYM

from skillgym.training.cli import main
from skillgym.training.commands import eval as eval_command
from skillgym.training.expressions import OracleSolver, read_problems
from skillgym.training.recipes import get_recipe

# reasoning-gym basic_arithmetic items, as its README prints them (answers are strings there).
REASONING_GYM = [
    {"question": "-1 + -5   * 8 + -8 =", "answer": "-49",
     "metadata": {"num_terms": 4, "num_digits": 1, "expression": "-1 + -5   * 8 + -8"}},
    {"question": "-22 - -94 + -97 =", "answer": "-25",
     "metadata": {"num_terms": 3, "num_digits": 2, "expression": "-22 - -94 + -97"}},
    {"question": "51 * 63 =", "answer": "3213",
     "metadata": {"num_terms": 2, "num_digits": 2, "expression": "51 * 63"}},
]


def random_expression(rng: random.Random, terms: int, digits: int) -> str:
    """An expression of ``terms`` constants of at most ``digits`` digits, with brackets,
    negation and all four operators (``/`` is floor division)."""
    if terms == 1:
        value = rng.randint(0, 10**digits - 1)
        return str(-value if rng.random() < 0.3 else value)
    split = rng.randint(1, terms - 1)
    left = random_expression(rng, split, digits)
    right = random_expression(rng, terms - split, digits)
    if rng.random() < 0.4:
        left = f"({left})"
    if rng.random() < 0.4:
        right = f"{rng.choice(['', '-'])}({right})"
    return f"{left} {rng.choice('+-*/')} {right}"


def python_value(text: str) -> int:
    """The independent oracle: Python's own integers, ``/`` read as ``//``."""
    return eval(text.replace("/", "//"))  # noqa: S307  (test-generated arithmetic only)


def constants(text: str) -> list[str]:
    return re.findall(r"[0-9]+", text)


@pytest.fixture(scope="module")
def dataset() -> list[dict]:
    """40 generated expressions (1-6 terms, 1-4 digits) and the reasoning-gym items."""
    rng = random.Random(2026)
    items = []
    while len(items) < 40:
        text = random_expression(rng, rng.randint(1, 6), rng.randint(1, 4))
        try:
            value = python_value(text)
        except ZeroDivisionError:
            continue
        # Both accepted forms of an answer: an integer and a string of one.
        items.append({"expression": text, "answer": value if len(items) % 2 else str(value)})
    return items + REASONING_GYM


def write_jsonl(path, items, blank_every: int = 7) -> None:
    lines = []
    for index, item in enumerate(items):
        if index % blank_every == 3:
            lines.append("   ")  # blank lines are skipped
        lines.append(json.dumps(item))
    path.write_text("\n".join(lines) + "\n")


def expression_of(item: dict) -> str:
    return item.get("expression") or item["metadata"]["expression"]


def expected_groups(items: list[dict], wrong: set[int] = frozenset()) -> tuple[list, list]:
    """by_terms and by_digits computed from the text alone (regex) and Python's answers."""
    totals = {"terms": Counter(), "digits": Counter()}
    hits = {"terms": Counter(), "digits": Counter()}
    for index, item in enumerate(items):
        numbers = constants(expression_of(item))
        sizes = {"terms": len(numbers), "digits": max(len(n) for n in numbers)}
        for name, size in sizes.items():
            totals[name][size] += 1
            hits[name][size] += index not in wrong
    return tuple(
        [{name: size, "problems": totals[name][size], "correct": hits[name][size],
          "accuracy": hits[name][size] / totals[name][size]} for size in sorted(totals[name])]
        for name in ("terms", "digits")
    )


def test_the_oracle_scores_every_expression_and_groups_them_exactly(dataset, tmp_path, capsys):
    assert all(python_value(expression_of(item)) == int(item["answer"]) for item in dataset)
    source, output = tmp_path / "exprs.jsonl", tmp_path / "out" / "oracle.json"
    write_jsonl(source, dataset)
    assert main(["eval", "oracle", "--expressions", str(source), "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    by_terms, by_digits = expected_groups(dataset)
    assert report["problems"] == len(dataset) == 43
    assert report["correct"] == len(dataset) and report["accuracy"] == 1.0
    assert report["by_terms"] == by_terms
    assert report["by_digits"] == by_digits
    assert len(by_terms) >= 5 and len(by_digits) == 4  # the groups are not degenerate
    assert [item["predicted"] for item in report["items"]] == [int(i["answer"]) for i in dataset]
    out = capsys.readouterr().out
    assert "exact match by terms" in out and "exact match by digits" in out
    assert f"{source} (oracle): exact match {len(dataset)}/{len(dataset)} = 100.0%" in out


def test_a_wrong_answer_costs_exactly_one(dataset, tmp_path):
    items = [dict(item) for item in dataset]
    wrong = 17
    items[wrong]["answer"] = int(items[wrong]["answer"]) + 1
    source, output = tmp_path / "exprs.jsonl", tmp_path / "oracle.json"
    write_jsonl(source, items)
    assert main(["eval", "oracle", "--expressions", str(source), "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report["correct"] == len(items) - 1
    assert report["accuracy"] == (len(items) - 1) / len(items)
    assert (report["by_terms"], report["by_digits"]) == expected_groups(items, {wrong})
    missed = [item for item in report["items"] if not item["correct"]]
    assert len(missed) == 1
    assert missed[0]["expression"] == items[wrong]["expression"]
    assert missed[0]["predicted"] == missed[0]["answer"] - 1


def test_line_numbers_count_blank_lines_and_only_newlines_end_lines(tmp_path):
    # A raw U+2028 is valid inside a JSON string; it must not split the line.
    source = tmp_path / "exprs.jsonl"
    source.write_text('\n{"expression": "1 + 2", "answer": 3, "note": "a\u2028b"}\r\n\n'
                      '{"expression": "7", "answer": 7}', encoding="utf-8")
    assert [(p.line, p.terms, p.digits) for p in read_problems(source)] == [(2, 2, 1), (4, 1, 1)]


GOOD = '{"expression": "12 * 3", "answer": 36}'
BAD_LINES = {
    "malformed JSON": ('{"expression": "1 + 2", "answer": 3', "not valid JSON"),
    "not an object": ("[1, 2]", "expected a JSON object, got list"),
    "no expression": ('{"answer": 3}', 'no "expression"'),
    "not a string": ('{"expression": 12, "answer": 12}', '"expression" must be a string'),
    "no answer": ('{"expression": "1 + 2"}', 'no "answer"'),
    "float answer": ('{"expression": "1 + 2", "answer": 3.0}', '"answer" must be an integer'),
    "text answer": ('{"expression": "1 + 2", "answer": "three"}', '"answer" must be an integer'),
    "boolean answer": ('{"expression": "1 + 1", "answer": true}', '"answer" must be an integer'),
    "unparsable": ('{"expression": "1 + * 2", "answer": 3}',
                   "malformed expression '1 + * 2': operator '*' at position 4 has no left "
                   "operand"),
    "division by zero": ('{"expression": "4 // (2 - 2)", "answer": 0}', "division by zero"),
}


@pytest.mark.parametrize("case", BAD_LINES)
def test_a_bad_line_is_one_error_naming_file_and_line(case, tmp_path, capsys):
    line, message = BAD_LINES[case]
    source = tmp_path / "exprs.jsonl"
    source.write_text(f"{GOOD}\n\n{GOOD}\n{line}\n{GOOD}\n")
    assert main(["eval", "oracle", "--expressions", str(source)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # rejected before anything is solved
    err = captured.err.strip()
    assert "\n" not in err
    assert err.startswith(f"skillgym eval: error: {source}:4: ")
    assert message in err


@pytest.mark.parametrize("content", ["", "\n  \n\n"])
def test_a_file_without_expressions_is_an_error(content, tmp_path, capsys):
    source = tmp_path / "empty.jsonl"
    source.write_text(content)
    assert main(["eval", "oracle", "--expressions", str(source)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"skillgym eval: error: '{source}' holds no expressions (only blank lines, or nothing)")


def test_a_missing_file_is_an_error(tmp_path, capsys):
    source = tmp_path / "absent.jsonl"
    assert main(["eval", "oracle", "--expressions", str(source)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"skillgym eval: error: file of expressions '{source}' does not exist")


def test_the_installed_command_prints_no_traceback(tmp_path):
    source = tmp_path / "exprs.jsonl"
    source.write_text(f"{GOOD}\n{{oops\n")
    result = subprocess.run([SKILLGYM, "eval", "oracle", "--expressions", str(source)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"skillgym eval: error: {source}:2: not valid JSON")
    assert result.stderr.count("\n") == 1


def test_an_agent_without_answer_is_refused(cartpole_run, tmp_path, capsys):
    source = tmp_path / "exprs.jsonl"
    source.write_text(GOOD + "\n")
    assert main(["eval", str(cartpole_run.path), "--expressions", str(source)]) == 2
    assert capsys.readouterr().err.strip() == (
        "skillgym eval: error: this run's agent (ResumablePPO, recipe 'ppo') does not solve "
        "expressions")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "'oracle' solves expressions only: give --expressions FILE.jsonl"),
        (["--expressions", "x.jsonl", "--episodes", "3", "--stochastic"],
         "--episodes, --stochastic: for playing an env's episodes, not for --expressions"),
    ],
)
def test_options_that_do_not_go_together(extra, message, capsys):
    assert main(["eval", "oracle", *extra]) == 2
    assert capsys.readouterr().err.strip() == f"skillgym eval: error: {message}"


def test_a_run_whose_agent_answers_writes_into_its_eval_folder(cartpole_run, tmp_path,
                                                               monkeypatch, dataset):
    # A recipe whose agent has answer(), as aec-hierarchy's does: ppo's, loading the oracle.
    run = shutil.copytree(cartpole_run.path, tmp_path / "run")
    solving = dataclasses.replace(get_recipe("ppo"), load_agent=lambda path: OracleSolver())
    monkeypatch.setattr(eval_command, "get_recipe", lambda name: solving)
    source = tmp_path / "exprs.jsonl"
    write_jsonl(source, dataset)
    checkpoint = run / "checkpoints" / "step_000000000064"
    for target, step in ((run, 128), (checkpoint, 64)):
        assert main(["eval", str(target), "--expressions", str(source)]) == 0
        report = json.loads((run / "eval" / f"exprs-step{step}.json").read_text())
        assert report["run"] == str(run) and report["step"] == step
        assert report["correct"] == len(dataset) and report["expressions"] == str(source)


def test_a_run_folder_called_oracle_is_reached_as_dot_slash_oracle(cartpole_run, tmp_path,
                                                                   monkeypatch, capsys):
    shutil.copytree(cartpole_run.path, tmp_path / "oracle")
    source = tmp_path / "exprs.jsonl"
    source.write_text(GOOD + "\n")
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "./oracle", "--expressions", str(source)]) == 2
    assert "this run's agent (ResumablePPO" in capsys.readouterr().err
