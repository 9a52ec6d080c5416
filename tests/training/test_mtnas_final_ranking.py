"""The search's stand-alone ranking: finalists trained from scratch, the best on validation."""

from __future__ import annotations

import json
import re

import numpy as np
from test_mtnas_resume import SMALL, _stop_on_call

from skillgym.agents.mtnas_search import SearchResult, finalists
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.training.cli import main
from skillgym.training.run import RunDir

SEARCH = ["mtnas", "search", "--budget", "4", "--batch-size", "4", "--rerank", "3",
          "--final-epochs", "1", "--final-seeds", "0", "1", *SMALL]


def test_finalists_are_the_best_re_scored_then_the_fixed_schemes():
    space = SearchSpace(tasks=("a", "b"), num_layers=2, pool=("cnn3", "identity"))
    hard = space.format(space.hard_sharing())
    result = SearchResult(best=space.parse("0,1/1,0"), best_reward=0.9,
                          finals=[("0,1/1,0", 0.9), (hard, 0.8), ("1,1/1,1", 0.7)])
    texts = [space.format(a) for a in finalists(result, space, count=2)]
    assert texts == ["0,1/1,0", hard, space.format(space.all_private())]  # hard sharing once
    alone = [space.format(a) for a in finalists(result, space, count=1, fixed_schemes=False)]
    assert alone == ["0,1/1,0"]


def test_the_best_finalist_on_validation_is_the_result(tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    assert main([*SEARCH, "--finalists", "2", "--run-dir", str(run.path)]) == 0
    result = json.loads((run.path / "result.json").read_text())
    rows = result["final_ranking"]
    assert {row["scheme"] for row in rows} >= {"single-task", "hard sharing"}
    assert [row["scheme"] for row in rows].count("search") <= 2
    best = max(rows, key=lambda row: row["validation_mean"])
    assert [row["chosen"] for row in rows] == [row is best for row in rows]
    assert result["assignment"] == best["assignment"]
    for row in rows:
        assert row["validation_mean"] == np.mean(list(row["validation"].values()))
        searched = row["scheme"] == "search"
        assert (row["supernet_reward"] is not None) or not searched
    assert result["final_seeds"] == [0, 1] and result["final_epochs"] == 1
    # Every finalist trained once, all seeds together, into the run's cache.
    assert len((run.path / "final_cache.jsonl").read_text().splitlines()) == len(rows)
    timing = json.loads((run.path / "timing.json").read_text())
    assert timing["search"] > 0 and timing["final_ranking"] > 0
    # Task by task: the chosen finalist's accuracy and its gain over each fixed scheme.
    schemes = {row["scheme"]: row for row in rows}
    for task, entry in result["per_task"].items():
        assert entry["chosen"] == best["validation"][task]
        for name, key in (("single-task", "single_task"), ("hard sharing", "hard_sharing")):
            assert entry[key] == schemes[name]["validation"][task]
            assert entry[f"gain_vs_{key}"] == entry["chosen"] - entry[key]
    assert list(result["per_task"]) == ["syn_pos", "syn_chunk", "syn_topic", "syn_polarity"]
    assert (run.plots_dir / "assignment.png").is_file()
    out = capsys.readouterr().out
    assert f"best assignment {best['assignment']}" in out and "<- chosen" in out
    gain = 100 * result["per_task"]["syn_topic"]["gain_vs_single_task"]
    shown = re.search(r"syn_topic: .*\(validation points: ([+-]\d+\.\d\d) vs single_task", out)
    assert shown and abs(float(shown.group(1)) - gain) <= 0.005


def test_no_finalists_keeps_the_supernets_choice(tmp_path):
    run = RunDir(tmp_path / "run")
    assert main([*SEARCH, "--finalists", "0", "--run-dir", str(run.path)]) == 0
    result = json.loads((run.path / "result.json").read_text())
    assert result["assignment"] == result["supernet_choice"] and "final_ranking" not in result
    assert not (run.path / "final_cache.jsonl").exists()


def test_interrupted_ranking_resumes_without_training_a_finalist_twice(tmp_path, monkeypatch):
    whole, stopped = RunDir(tmp_path / "whole"), RunDir(tmp_path / "stopped")
    assert main([*SEARCH, "--run-dir", str(whole.path)]) == 0
    with monkeypatch.context() as patch:
        # Killed while the second finalist trains (its first of two seeds): the first
        # finalist is in the cache.
        _stop_on_call(patch, ReferenceEvaluator, "run_seed", 3, after=False)
        assert main([*SEARCH, "--run-dir", str(stopped.path)]) == 130
    assert len((stopped.path / "final_cache.jsonl").read_text().splitlines()) == 1
    trained = []
    original = ReferenceEvaluator.run_seed
    monkeypatch.setattr(ReferenceEvaluator, "run_seed",
                        lambda self, a, *rest: trained.append(a.tobytes()) or original(self, a,
                                                                                       *rest))
    assert main(["mtnas", "search", "--resume", str(stopped.path)]) == 0
    result = (stopped.path / "result.json").read_text()
    assert result == (whole.path / "result.json").read_text()
    assert len(trained) == 2 * (len(json.loads(result)["final_ranking"]) - 1)
    assert len(set(trained)) == len(json.loads(result)["final_ranking"]) - 1
