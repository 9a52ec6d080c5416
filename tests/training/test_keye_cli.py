"""``skillgym keye build-data | sft | eval`` and the keye-sft recipe: run folder, resume, errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from skillgym.envs.keye.mixture import read_mixture
from skillgym.models import load_checkpoint
from skillgym.training.cli import main
from skillgym.training.run import RunDir

# A model and a run small enough to take seconds.
TINY = ["model.n_layers=1", "model.d_model=16", "model.n_heads=2", "model.context_length=512",
        "data.size=120", "train.batch_size=8", "train.warmup_steps=2", "train.log_every=2",
        "eval.problems_per_level=1", "eval.max_new_tokens=16"]


def _sft(run_dir, *overrides: str) -> int:
    return main(["keye", "sft", *TINY, *overrides, "--run-dir", str(run_dir)])


def test_build_data_writes_the_mixture(tmp_path, capsys):
    output = tmp_path / "mixture.jsonl"
    assert main(["keye", "build-data", "--output", str(output), "--size", "30"]) == 0
    samples = read_mixture(output).samples
    assert len(samples) == 30
    assert {sample["mode"] for sample in samples} <= {"think", "no_think", "auto_think"}
    assert "bootstrap" in capsys.readouterr().out


def test_build_data_names_a_bad_measurement(tmp_path, capsys):
    bad = tmp_path / "eval.json"
    bad.write_text("{not json")
    assert main(["keye", "build-data", "--output", str(tmp_path / "m.jsonl"),
                 "--accuracy", str(bad)]) == 2
    assert "eval.json" in capsys.readouterr().err


def test_sft_run_folder_and_exact_resume(tmp_path):
    assert _sft(tmp_path / "straight", "train.steps=4", "train.checkpoint_every=2",
                "train.eval_every=4") == 0
    run = RunDir.open(tmp_path / "straight")
    assert [checkpoint.step for checkpoint in run.checkpoints()] == [2, 4]
    final = run.latest_checkpoint().path
    for name in ("trainer.pt", "model.pt", "model_fp16.pt", "eval.json", "eval.png"):
        assert (final / name).is_file(), name
    records = json.loads((final / "eval.json").read_text())["records"]
    assert {record["mode"] for record in records} == {"think", "no_think", "auto_think"}
    assert any(row.get("eval/think_accuracy") is not None for row in run.metrics())
    assert any(row.get("levels/think_accuracy_L6") is not None for row in run.metrics())

    # The run as a kill after its first checkpoint leaves it, resumed: the same final weights.
    stopped = tmp_path / "stopped"
    shutil.copytree(run.path, stopped)
    shutil.rmtree(stopped / "checkpoints" / final.name)
    assert main(["keye", "sft", "--resume", str(stopped)]) == 0
    straight = load_checkpoint(final / "model.pt").state_dict()
    resumed = load_checkpoint(RunDir.open(stopped).latest_checkpoint().path / "model.pt")
    for name, tensor in straight.items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_sft_skips_malformed_lines_of_a_given_mixture(tmp_path, capsys):
    mixture = tmp_path / "mixture.jsonl"
    assert main(["keye", "build-data", "--output", str(mixture), "--size", "40"]) == 0
    lines = mixture.read_text().splitlines()
    lines[3] = "{broken json"
    lines[7] = json.dumps({"messages": [{"role": "assistant", "content": "no question"}]})
    mixture.write_text("\n".join(lines) + "\n")
    assert _sft(tmp_path / "run", f"data.path={mixture}", "train.steps=2",
                "train.eval_every=2") == 0
    out = capsys.readouterr().out
    assert "mixture.jsonl:4" in out and "'malformed line': 2" in out


def test_eval_writes_records_summary_and_plot(tmp_path, capsys):
    assert _sft(tmp_path / "run", "train.steps=2", "train.eval_every=2") == 0
    output = tmp_path / "eval"
    assert main(["keye", "eval", str(tmp_path / "run"), "--levels", "1", "6",
                 "--problems-per-level", "2", "--max-new-tokens", "8", "--modes", "think",
                 "none", "--output", str(output)]) == 0
    summary = json.loads((output / "summary.json").read_text())["summary"]
    assert set(summary) == {"think", "none"} and summary["think"]["all"]["count"] == 4
    records = json.loads((output / "records.json").read_text())["records"]
    assert {record["level"] for record in records} == {1, 6}
    assert (output / "summary.png").is_file()


@pytest.mark.parametrize("source, message", [("no/such/run", "not a model file"),
                                             ("{tmp}/empty", "not a run folder")])
def test_eval_names_a_bad_source(tmp_path, capsys, source, message):
    (tmp_path / "empty").mkdir()
    assert main(["keye", "eval", source.format(tmp=tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_sft_bad_configuration_is_named(tmp_path, capsys):
    assert _sft(tmp_path / "run", "model.n_heads=3") == 2
    assert "n_heads" in capsys.readouterr().err
    assert _sft(tmp_path / "run2", "init=no/such/model.pt") == 2
    assert "init" in capsys.readouterr().err


# A GRPO run small enough to take seconds: a tiny model, two prompts of four replies a step.
GRPO_TINY = ["train.prompts_per_step=2", "train.group_size=4", "train.max_new_tokens=12",
             "train.learning_rate=1e-3", "train.log_every=1", "prompts.levels=[1,2]",
             "prompts.pool_size=10", "eval.problems_per_level=1", "eval.max_new_tokens=8"]


def test_grpo_run_folder_metrics_and_exact_resume(tmp_path):
    torch.manual_seed(0)
    from skillgym.models import CausalTransformer, TransformerConfig, save_checkpoint

    init = save_checkpoint(CausalTransformer(TransformerConfig(
        n_layers=1, d_model=16, n_heads=2, context_length=256)), tmp_path / "init.pt")
    # A reward plugin added by name, one of the defaults turned off: the resumed run reads both
    # back from its config.toml.
    assert main(["keye", "grpo", *GRPO_TINY, f"init={init}", "train.steps=4",
                 "train.checkpoint_every=2", "train.eval_every=4",
                 "rewards.repetition_penalty=0.5", "rewards.loop=0",
                 "--run-dir", str(tmp_path / "straight")]) == 0
    run = RunDir.open(tmp_path / "straight")
    assert [checkpoint.step for checkpoint in run.checkpoints()] == [2, 4]
    final = run.latest_checkpoint().path
    for name in ("trainer.pt", "model.pt", "model_fp16.pt", "eval.json", "eval.png"):
        assert (final / name).is_file(), name
    rows = run.metrics()
    for key in ("train/reward", "train/think_rate", "train/loop_rate", "train/kl",
                "train/skipped_groups", "think_rate/L1", "eval/think_accuracy",
                "reward/repetition_penalty", "reward/loop"):
        assert any(row.get(key) is not None for row in rows), key
    assert (run.path / "plots" / "learning_curves.png").is_file()

    stopped = tmp_path / "stopped"
    shutil.copytree(run.path, stopped)
    shutil.rmtree(stopped / "checkpoints" / final.name)
    assert main(["keye", "grpo", "--resume", str(stopped)]) == 0
    straight = load_checkpoint(final / "model.pt").state_dict()
    resumed = load_checkpoint(RunDir.open(stopped).latest_checkpoint().path / "model.pt")
    for name, tensor in straight.items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_grpo_names_bad_configuration(tmp_path, capsys):
    assert main(["keye", "grpo", "prompts.modes=[\"agentic\"]",
                 "--run-dir", str(tmp_path / "bad")]) == 2
    assert "prompts.modes" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["keye", "grpo", "rewards.repetiton_penalty=0.5",
                 "--run-dir", str(tmp_path / "bad")]) == 2
    assert "unknown reward 'repetiton_penalty'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
