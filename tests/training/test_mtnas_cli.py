"""``skillgym mtnas search|evaluate|build-table`` on the synthetic corpus and on a user's files."""

from __future__ import annotations

import contextlib
import json
import re

import numpy as np
import pytest

from skillgym.envs.mtnas.table import MTNASTabularEnv, load_table
from skillgym.training.cli import main
from skillgym.training.run import RunDir

SMALL = ["--layers", "1", "--pool", "cnn3", "identity", "--private-kind", "cnn3"]


@pytest.mark.parametrize("method", ["reinforce", "evolution", "ppo"])
def test_search_writes_a_run_folder(tmp_path, capsys, method):
    run = RunDir(tmp_path / "run")
    code = main(["mtnas", "search", "--method", method, "--budget", "8", "--batch-size", "4",
                 "--rerank", "2", "--warmup", "2", *SMALL, "--run-dir", str(run.path)])
    assert code == 0
    result = json.loads((run.path / "result.json").read_text())
    assert [row["step"] for row in run.metrics()] == [4, 8]
    assert run.metrics()[-1]["eval/final_reward"] == result["supernet_reward"]
    assert [checkpoint.step for checkpoint in run.checkpoints()] == [8]
    assert result["evaluations"] >= 8 and [row[0] for row in result["best_per_budget"]] == [4, 8]
    assert len(result["assignment"].split("/")) == 4  # the four synthetic tasks
    assert set(result["modules"]) == {"syn_pos", "syn_chunk", "syn_topic", "syn_polarity"}
    assert run.recipe() == "mtnas-search"
    assert run.config()["search"]["method"] == method
    assert run.config()["space"]["pool"] == ["cnn3", "identity"]
    assert (run.path / "reward_cache.jsonl").stat().st_size > 0
    assert result["assignment"] in capsys.readouterr().out


def test_search_on_a_users_own_files(tmp_path, capsys, six_class_questions):
    """The six-class space-delimited file with a stray byte, as a task beside a built-in one."""
    train, test = tmp_path / "train.label", tmp_path / "test.label"
    train.write_bytes(six_class_questions * 8)
    test.write_bytes(six_class_questions)
    run = RunDir(tmp_path / "run")
    with pytest.warns(UserWarning, match=r"train\.label:4: bytes that are not UTF-8"):
        code = main(["mtnas", "search", "--tasks", "syn_pos", "--task",
                     f"questions={train},{test}", "--delimiter", "space", "--budget", "4",
                     "--batch-size", "4", "--rerank", "1", "--warmup", "2", *SMALL,
                     "--run-dir", str(run.path)])
    assert code == 0
    assert run.config()["data"]["tasks"] == ["syn_pos", f"questions={train},{test}"]
    result = json.loads((run.path / "result.json").read_text())
    assert list(result["modules"]) == ["syn_pos", "questions"]


def test_evaluate_reports_test_accuracy_per_task(tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    code = main(["mtnas", "evaluate", "0/0", "--tasks", "syn_pos", "syn_topic", "--epochs", "1",
                 "--seeds", "0", "1", *SMALL, "--run-dir", str(run.path)])
    assert code == 0
    result = json.loads((run.path / "result.json").read_text())
    assert set(result["test"]) == set(result["test_std"]) == {"syn_pos", "syn_topic"}
    assert [row["eval/seed"] for row in run.metrics()] == [0, 1]
    assert [checkpoint.step for checkpoint in run.checkpoints()] == [1, 2]
    assert "syn_topic: test" in capsys.readouterr().out


def test_build_table_feeds_the_tabular_env(tmp_path):
    path = tmp_path / "table.json"
    code = main(["mtnas", "build-table", "--output", str(path), "--tasks", "syn_pos", "syn_chunk",
                 "--layers", "1", "--warmup", "2", "--seeds", "0", "--run-dir",
                 str(tmp_path / "run")])
    assert code == 0
    table = load_table(path)
    assert len(table["entries"]) == 9 and table["seeds"] == [0]
    # What else the scores depend on, recorded (the data folder, a local path, left out).
    settings = table["settings"]
    assert settings["data"]["tasks"] == ["syn_pos", "syn_chunk"] and "root" not in settings["data"]
    assert settings["splits"] == [["syn_pos", 160, 40], ["syn_chunk", 160, 40]]
    assert settings["supernet"]["warmup_steps"] == 2 and settings["network"]["dim"] == 48
    env = MTNASTabularEnv(path)
    env.reset(seed=0)
    env.step(0)
    _, reward, terminated, _, _ = env.step(2)
    assert terminated
    assert reward == pytest.approx(np.mean(table["entries"][2]["validation"]))
    assert len(RunDir(tmp_path / "run").metrics()) == 9


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "0,0/9,0/0,0/0,0"], r"task='syn_chunk', layer=0\) holds option 9"),
        (["evaluate", "0,x"], "comma-separated integers"),
        (["evaluate"], "assignment is required"),
        (["search", "--tasks", "books"], r"root \(the data folder\) is required"),
        (["search", "--tasks", "books", "--data-root", "{tmp}"], r"books\.task\.train.* not exist"),
        (["search", "--tasks", "bookz"], "unknown task name"),
        (["search", "--task", "mine"], r"unknown task name.*or NAME=TRAIN,TEST for a task of your"),
        (["search", "--task", "a b=x"], r"task spec 'a b=x' is not NAME=TRAIN"),
        (["search", "--task", "mine={tmp}/absent.txt"], r"absent\.txt' does not exist"),
        (["search", "--task", "mine={tmp}/bad.txt,format=csv"],
         r"unknown format 'csv'; formats: auto, classification, conll, conllu"),
        (["search", "--task", "mine={tmp}/bad.txt"],
         r"bad\.txt:3: expected 2 tab-separated columns \(label, text\), found 1"),
        (["search", "--task", "mine={tmp}/bad.txt", "--delimiter", "space"],
         r"bad\.txt:3: expected 2 whitespace-separated columns"),
        (["search", "--method", "bayes"], "invalid choice: 'bayes'"),
        (["search", "--budget", "0"], "search.budget must be a positive integer, got 0"),
        (["search", "--resume", "{tmp}", "--budget", "3"], "--resume continues a run exactly"),
        (["build-table", "--output", "{tmp}/t.json", "--tasks", "syn_pos", "syn_chunk", "syn_topic",
          "syn_polarity", "--pool", "bilstm", "cnn3", "cnn5", "identity"],
         r"5\^8 = 390625 assignments, more than the limit"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, message):
    (tmp_path / "bad.txt").write_text("1\tgood\n0\tbad\nlonely\n")
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    with pytest.raises(SystemExit) if "bayes" in argv else contextlib.nullcontext():
        assert main(["mtnas", *argv, "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err)
    if "bayes" not in argv:
        assert err.startswith("skillgym mtnas: error:") and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "run").exists()  # rejected before a run folder is written
