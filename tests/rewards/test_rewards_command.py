"""``skillgym rewards list`` and ``skillgym rewards score``."""

from __future__ import annotations

import json

import pytest

from skillgym.training.cli import main


def test_list_json_names_every_reward(capsys):
    assert main(["rewards", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = {row["name"] for row in rows}
    assert {"accuracy", "keye_format", "repetition_penalty", "loop", "weighted_sum"} <= names
    assert all(row["description"] for row in rows)


def test_list_table(capsys):
    assert main(["rewards", "list"]) == 0
    assert "repetition_penalty" in capsys.readouterr().out


def test_score_jsonl(tmp_path, capsys):
    path = tmp_path / "completions.jsonl"
    records = [
        {"prompt": "2+2? /think", "completion": "<think>t</think><answer>4</answer>",
         "ground_truth": "4"},
        {"response": "5", "solution": "4"},
        {"completion": None, "answer": "4"},
    ]
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n\n")
    assert main(["rewards", "score", str(path), "--reward", "accuracy"]) == 0
    captured = capsys.readouterr()
    scores = [json.loads(line)["score"] for line in captured.out.splitlines()]
    assert scores == [1.0, 0.0, 0.0]
    assert "3 records, 3 scored, mean 0.333333" in captured.err
    assert main(["rewards", "score", str(path), "--reward", "repetition_penalty",
                 "--config", '{"ngram_size": 1}']) == 0


@pytest.mark.parametrize(("content", "arguments", "message"), [
    (None, ["--reward", "accuracy"], "does not exist"),
    ('{"completion": "a"}\nnot json\n', ["--reward", "accuracy"], ":2: not a JSON object"),
    ('[1, 2]\n', ["--reward", "accuracy"], ":1: expected a JSON object"),
    ('{"prompt": "p"}\n', ["--reward", "accuracy"], ":1: no completion"),
    ('{"completion": "a"}\n', ["--reward", "nope"], "unknown reward 'nope'"),
    ('{"completion": "a"}\n', ["--reward", "loop", "--config", "{"], "--config is not valid"),
    ('{"completion": "a"}\n', ["--reward", "loop", "--config", '{"max_period": 0}'],
     "max_period must be"),
    ('{"completion": "a"}\n', ["--reward", "repetition_penalty", "--config",
                               '{"unit": "tokens"}'], "completion_ids"),
])
def test_score_errors_are_one_line(tmp_path, capsys, content, arguments, message):
    path = tmp_path / "input.jsonl"
    if content is not None:
        path.write_text(content)
    assert main(["rewards", "score", str(path), *arguments]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
