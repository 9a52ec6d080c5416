"""``skillgym mtnas search|evaluate|build-table`` on the synthetic corpus."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from skillgym.envs.mtnas.table import MTNASTabularEnv, load_table
from skillgym.training.cli import main

SMALL = ["--layers", "1", "--pool", "cnn3", "identity", "--private-kind", "cnn3"]


@pytest.mark.parametrize("method", ["reinforce", "evolution"])
def test_search_writes_a_run_folder(tmp_path, capsys, method):
    run = tmp_path / "run"
    code = main(["mtnas", "search", "--method", method, "--budget", "8", "--batch-size", "4",
                 "--rerank", "2", "--warmup", "2", *SMALL, "--run-dir", str(run)])
    assert code == 0
    result = json.loads((run / "result.json").read_text())
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["evaluations"] for row in metrics] == [4, 8]
    assert result["evaluations"] >= 8
    assert len(result["assignment"].split("/")) == 4  # the four synthetic tasks
    assert set(result["modules"]) == {"syn_pos", "syn_chunk", "syn_topic", "syn_polarity"}
    assert json.loads((run / "config.json").read_text())["method"] == method
    assert (run / "reward_cache.jsonl").stat().st_size > 0
    assert result["assignment"] in capsys.readouterr().out


def test_evaluate_reports_test_accuracy_per_task(tmp_path, capsys):
    code = main(["mtnas", "evaluate", "0/0", "--tasks", "syn_pos", "syn_topic", "--epochs", "1",
                 "--seeds", "0", "1", *SMALL, "--run-dir", str(tmp_path)])
    assert code == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert set(result["test"]) == set(result["test_std"]) == {"syn_pos", "syn_topic"}
    assert "syn_topic: test" in capsys.readouterr().out


def test_build_table_feeds_the_tabular_env(tmp_path):
    path = tmp_path / "table.json"
    code = main(["mtnas", "build-table", "--output", str(path), "--tasks", "syn_pos", "syn_chunk",
                 "--layers", "1", "--warmup", "2", "--seeds", "0"])
    assert code == 0
    table = load_table(path)
    assert len(table["entries"]) == 9 and table["seeds"] == [0]
    env = MTNASTabularEnv(path)
    env.reset(seed=0)
    env.step(0)
    _, reward, terminated, _, _ = env.step(2)
    assert terminated
    assert reward == pytest.approx(np.mean(table["entries"][2]["validation"]))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "0,0/9,0/0,0/0,0"], r"task='syn_chunk', layer=0\) holds option 9"),
        (["evaluate", "0,x"], "comma-separated integers"),
        (["search", "--tasks", "books"], r"root \(the data folder\) is required"),
        (["search", "--tasks", "books", "--data-root", "{tmp}"], r"books\.task\.train.* not exist"),
        (["search", "--tasks", "bookz"], "unknown task name"),
        (["build-table", "--output", "{tmp}/t.json", "--tasks", "syn_pos", "syn_chunk", "syn_topic",
          "syn_polarity", "--pool", "bilstm", "cnn3", "cnn5", "identity"],
         r"5\^8 = 390625 assignments, more than the limit"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, message):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    assert main(["mtnas", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skillgym mtnas: error:") and len(err.strip().splitlines()) == 1
    assert re.search(message, err)
