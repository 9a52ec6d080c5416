"""``skillgym bench`` and the measuring code it shares with ``benchmarks/env_throughput.py``."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from training_helpers import MASKED_ID

from skillgym.training import bench
from skillgym.training.bench import BenchError, legal_actions, measure_vector, resolve_ids
from skillgym.training.cli import main

# Tiny measurements: the tests check what is measured and written, not how fast it is.
QUICK = ["--seconds", "0.02", "--rounds", "1"]


def test_bench_writes_single_and_batched_rates(tmp_path, capsys):
    output = tmp_path / "bench.json"
    args = ["bench", "AEC-Add-v0", "CartPole-v1", "--num-envs", "4", "--sync", *QUICK]
    assert main([*args, "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report.keys() == {"settings", "machine", "single", "batched"}
    assert report["settings"]["ids"] == ["skillgym/AEC-Add-v0", "CartPole-v1"]
    assert report["settings"]["num_envs"] == 4 and report["settings"]["sync"]
    assert [(row["id"], row["masked"]) for row in report["single"]] == [
        ("skillgym/AEC-Add-v0", True), ("CartPole-v1", False)]
    assert all(row["steps_per_s"] > 0 for row in report["single"])
    assert [row["id"] for row in report["batched"]] == ["skillgym/AEC-Add-v0", "CartPole-v1"]
    for row in report["batched"]:
        assert row.keys() == {"id", "num_envs", "batched_steps_per_s", "batched_batch_steps",
                              "sync_steps_per_s", "sync_batch_steps", "ratio"}
        assert row["num_envs"] == 4
        assert row["batched_batch_steps"] >= 3 and row["sync_batch_steps"] >= 3
        assert row["batched_steps_per_s"] > 0 and row["sync_steps_per_s"] > 0
        assert row["ratio"] == row["batched_steps_per_s"] / row["sync_steps_per_s"]
    out = capsys.readouterr().out
    assert "single envs" in out and "batched twin vs SyncVectorEnv" in out
    assert f"written: {output}" in out


def test_an_id_without_a_batched_twin_is_measured_alone(tmp_path, capsys):
    output = tmp_path / "bench.json"
    assert main(["bench", "skillgym/AEC-Eval-v0", *QUICK, "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert [row["id"] for row in report["single"]] == ["skillgym/AEC-Eval-v0"]
    assert report["batched"] == []
    assert "none of these ids has a natively batched twin" in capsys.readouterr().out


def test_masked_envs_get_only_legal_actions():
    # The test corridor raises on an illegal move, so any illegal draw fails here.
    assert main(["bench", MASKED_ID, *QUICK]) == 0
    row = measure_vector(MASKED_ID, True, 5, 0.02, 1, 0, modes=("sync",))
    assert row.keys() == {"id", "num_envs", "sync_steps_per_s", "sync_batch_steps"}


def test_legal_actions_are_uniform_over_each_mask():
    class Masks:
        def action_masks(self):
            return np.array([[True, False, True, False], [False, False, False, True]])

    draws = np.stack([legal_actions(Masks(), np.random.default_rng(seed)) for seed in range(400)])
    assert set(draws[:, 1]) == {3}
    counts = np.bincount(draws[:, 0], minlength=4)
    assert counts[1] == counts[3] == 0 and 150 < counts[0] < 250  # about half of 400


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["AEC-Nope-v0"], "unknown environment id 'AEC-Nope-v0'"),
        (["AEC-Add-v0", "--seconds", "0"], "measuring times must be positive"),
        (["AEC-Add-v0", "--num-envs", "0"], "numbers of envs must be at least 1"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, message, capsys):
    assert main(["bench", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("skillgym bench: error: ") and message in err


def test_ids_resolve_with_or_without_the_namespace():
    assert resolve_ids(["AEC-Add-v0", "skillgym/Copy-v1", "CartPole-v1"]) == [
        "skillgym/AEC-Add-v0", "skillgym/Copy-v1", "CartPole-v1"]
    with pytest.raises(BenchError, match="did you mean skillgym/AEC-Add-v0"):
        resolve_ids(["skillgym/AEC-Ad-v0"])


LSCPU = """Architecture:                            x86_64
CPU(s):                                  2
Model name:                              AMD EPYC
CPU family:                              25
Model:                                   17
Flags:                                   fpu sse2 avx2 avx512f avx512bw
"""


def test_the_cpu_is_named_with_family_model_and_avx512(monkeypatch):
    monkeypatch.setattr(bench.subprocess, "run",
                        lambda *args, **kwargs: subprocess.CompletedProcess(args, 0, LSCPU, ""))
    monkeypatch.setattr(bench.os, "cpu_count", lambda: 2)
    assert bench.cpu_name() == "AMD EPYC, family 25 model 17, AVX-512 (2 logical CPUs)"
    without = LSCPU.replace(" avx512f avx512bw", "")
    monkeypatch.setattr(bench.subprocess, "run",
                        lambda *args, **kwargs: subprocess.CompletedProcess(args, 0, without, ""))
    assert bench.cpu_name() == "AMD EPYC, family 25 model 17 (2 logical CPUs)"


def test_without_lscpu_the_cpu_is_platforms(monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("lscpu")

    monkeypatch.setattr(bench.subprocess, "run", missing)
    monkeypatch.setattr(bench.platform, "processor", lambda: "x86_64-cpu")
    assert bench.cpu_name() == "x86_64-cpu"
