"""The mtnas benchmarks take the data options of ``skillgym mtnas``, ``--task`` included
(their arguments are parsed and their data loaded here; the benchmarks themselves are not run)."""

from __future__ import annotations

import sys

import pytest
from training_helpers import load_benchmark

from skillgym.envs.mtnas.datasets import BENCHMARK_TASKS
from skillgym.training.recipes.mtnas_options import load_options, resolve_options


@pytest.mark.parametrize("name", ["mtnas_search", "mtnas_fidelity", "mtnas_speed"])
def test_benchmarks_read_a_users_task_beside_a_builtin_one(name, tmp_path, monkeypatch):
    train = tmp_path / "train.txt"
    train.write_text("".join(f"{label} word{i} text\n" for i in range(40) for label in "abc"))
    benchmark = load_benchmark(name)
    monkeypatch.setattr(sys, "argv", [name, "--tasks", "syn_topic", "--task",
                                      f"mine={train}", "--delimiter", "space", "--layers", "1"])
    args = benchmark.parse_args()
    config, corpus, space = load_options(args, benchmark.OPTIONS, benchmark.DEFAULTS)
    assert space.tasks == ("syn_topic", "mine") and space.num_layers == 1
    assert corpus.subset(["mine"])[0].labels == ("a", "b", "c")
    # Options not given keep the benchmark's defaults.
    assert config["data"]["max_length"] == 64
    monkeypatch.setattr(sys, "argv", [name])
    alone = resolve_options(benchmark.parse_args(), benchmark.OPTIONS, benchmark.DEFAULTS)
    assert alone["data"]["tasks"] == list(BENCHMARK_TASKS)
