"""The aec-hierarchy recipe: trains bottom-up into a run folder, resumes exactly, solves sums."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import torch
from training_helpers import SKILLGYM

from skillgym.agents.aec_hierarchy import Hierarchy
from skillgym.training.cli import main
from skillgym.training.recipes.aec_hierarchy import HIERARCHY_DIR, PROGRESS_FILE, load_agent
from skillgym.training.run import RunDir


def _state(checkpoint) -> dict[str, torch.Tensor]:
    hierarchy = load_agent(checkpoint.path)
    return {f"{name}.{key}": value for name, policy in hierarchy.policies.items()
            for key, value in policy.policy.state_dict().items()}


def test_trains_children_first_and_writes_the_run_folder(hierarchy_run):
    progress = json.loads((hierarchy_run.latest_checkpoint().path / PROGRESS_FILE).read_text())
    assert progress["finished"] == ["ADD1", "CARRY", "LSHIFT", "ADD"]
    assert progress["current"] is None
    add = progress["skills"]["ADD"]
    assert add["warm_start_agreement"] == 1.0 and add["ppo_steps"] == 512
    assert set(add["accuracy"]) == {str(level) for level in range(1, 9)}
    # every skill's checkpoint step is the run's steps so far: warm-start traces and PPO steps
    steps = sum(s["warm_start_steps"] + s["ppo_steps"] for s in progress["skills"].values())
    assert hierarchy_run.latest_checkpoint().step == progress["steps"] == steps
    assert (hierarchy_run.plots_dir / "accuracy_by_level.png").is_file()
    assert json.loads((hierarchy_run.path / "eval" / "levels.json").read_text())["ADD"] == add
    rows = hierarchy_run.metrics()
    assert [row["step"] for row in rows] == sorted(row["step"] for row in rows)
    assert any("skills/ADD/accuracy_level_8" in row for row in rows)


def test_the_learned_hierarchy_adds_longer_numbers_than_it_trained_on(hierarchy_run):
    hierarchy = load_agent(hierarchy_run.latest_checkpoint().path)
    assert isinstance(hierarchy, Hierarchy) and hierarchy.skills == ["ADD1", "CARRY", "LSHIFT",
                                                                      "ADD"]
    # EVAL (the oracle's) calls the learned ADD; 20-digit sums, checked against Python
    for a, b in ((98765432109876543210, 12345678901234567890), (5, 99999999999999999999)):
        assert hierarchy.answer(f"{a} + {b}") == a + b


def _current(checkpoint) -> dict | None:
    return json.loads((checkpoint.path / PROGRESS_FILE).read_text())["current"]


@pytest.mark.parametrize("where", ["mid-skill", "between skills"])
def test_resume_mid_skill_or_between_skills_reaches_the_same_parameters(hierarchy_run, where,
                                                                        tmp_path):
    checkpoints = hierarchy_run.checkpoints()
    inside = where == "mid-skill"
    # the last checkpoint taken inside a skill's PPO, or the last between two skills
    kept = max(i for i, c in enumerate(checkpoints[:-1]) if (_current(c) is not None) == inside)
    copy = RunDir(tmp_path / "copy")
    shutil.copytree(hierarchy_run.path, copy.path)
    for checkpoint in copy.checkpoints()[kept + 1:]:
        shutil.rmtree(checkpoint.path)
    assert main(["train", "--resume", str(copy.path)]) == 0
    assert [c.step for c in copy.checkpoints()] == [c.step for c in checkpoints]
    whole, resumed = _state(checkpoints[-1]), _state(copy.latest_checkpoint())
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[key], resumed[key]) for key in whole)
    assert (json.loads((copy.latest_checkpoint().path / PROGRESS_FILE).read_text())
            == json.loads((checkpoints[-1].path / PROGRESS_FILE).read_text()))


def test_a_checkpoint_inside_a_skill_holds_its_training_state(hierarchy_run):
    inside = [c for c in hierarchy_run.checkpoints() if _current(c) is not None]
    assert inside, "the resume test above must cover a checkpoint inside a skill's PPO"
    assert (inside[0].path / "current" / "model.zip").is_file()
    assert (inside[0].path / HIERARCHY_DIR / "hierarchy.json").is_file()


def test_flat_baseline_trains_on_the_primitive_actions(tmp_path):
    run = RunDir(tmp_path / "flat")
    args = ['skills=["ADD"]', "actions=primitive", "warm_start.episodes=0",
            "train.timesteps_per_skill=256", "train.n_envs=2", "ppo.n_steps=128",
            "ppo.batch_size=128", "ppo.n_epochs=1", "eval.episodes=2"]
    assert main(["train", "aec-hierarchy", *args, "--run-dir", str(run.path)]) == 0
    progress = json.loads((run.latest_checkpoint().path / PROGRESS_FILE).read_text())
    assert progress["finished"] == ["ADD"] and progress["skills"]["ADD"]["ppo_steps"] == 256


@pytest.mark.parametrize(("override", "message"), [
    ('skills=["ADDD"]', "skills: unknown ['ADDD']"),
    ("levels.ADD=9", "levels.ADD must be in 1..8"),
    ("actions=primitive", "set warm_start.episodes=0"),
    ("children=random", "children must be one of"),
    ("levels.ADD1=1", "unknown config key 'levels.ADD1'"),
])
def test_bad_configuration_is_one_line(override, message, tmp_path):
    done = subprocess.run([SKILLGYM, "train", "aec-hierarchy", override, "--run-dir",
                           str(tmp_path / "run")], capture_output=True, text=True)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_eval_plays_aec_envs_with_the_learned_children(hierarchy_run, capsys):
    for env_id in ("skillgym/AEC-Add-v0", "skillgym/AEC-Eval-v0"):
        assert main(["eval", str(hierarchy_run.path), "--env", env_id, "--episodes", "5",
                     "--output", str(hierarchy_run.path / "eval" / "t.json")]) == 0
        assert "success 100.0%" in capsys.readouterr().out
    assert main(["eval", str(hierarchy_run.path), "--env", "CartPole-v1"]) == 2
    assert "plays the AEC environments" in capsys.readouterr().err


def test_eval_on_expressions_uses_the_learned_skills(hierarchy_run, tmp_path, capsys):
    sums = [(12345678901234, 98765), (999, 1), (4, 5)]
    lines = [json.dumps({"expression": f"{a} + {b}", "answer": a + b}) for a, b in sums]
    (tmp_path / "sums.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["eval", str(hierarchy_run.path), "--expressions",
                 str(tmp_path / "sums.jsonl")]) == 0
    assert "exact match 3/3 = 100.0%" in capsys.readouterr().out


def test_report_summarises_the_per_skill_accuracy(hierarchy_run, capsys):
    assert main(["report", str(hierarchy_run.path)]) == 0
    # the table wraps long cells onto lines of their own: read it as one run of words
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    levels = json.loads((hierarchy_run.path / "eval" / "levels.json").read_text())
    add = " ".join(f"{100 * value:.0f}" for value in levels["ADD"]["accuracy"].values())
    assert "exact match by level (%): ADD1 100" in out and f"ADD {add}" in out
