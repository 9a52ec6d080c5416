"""``skillgym train``: the run folder it writes, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil

import pytest
from training_helpers import TINY, assert_bitwise_equal, learning_rows, training_state

from skillgym.kernels import select_device
from skillgym.training.cli import main
from skillgym.training.config import resolve
from skillgym.training.recipes import RECIPES, configure, get_recipe, recipes, resolve_target
from skillgym.training.run import RunDir


def test_run_folder_holds_config_metrics_checkpoints_tensorboard_and_plots(cartpole_run):
    config = cartpole_run.config()
    assert cartpole_run.recipe() == "ppo"
    assert config["env"] == {"id": "CartPole-v1", "n_envs": 2, "kwargs": {}, "vec": "auto"}
    assert config["threads"] == {"torch": 1, "blas": 1, "opencl": 1}
    assert config["ppo"]["net_arch"] == [16] and config["train"]["total_timesteps"] == 128
    # A rollout is n_envs * n_steps = 64 steps, so the boundaries are 64 and 128.
    assert [c.step for c in cartpole_run.checkpoints()] == [64, 128]
    rows = cartpole_run.metrics()
    assert [row["step"] for row in rows] == [64, 128]
    assert [row["time/iterations"] for row in rows] == [1, 2]
    assert "train/loss" in rows[1] and "rollout/ep_rew_mean" in rows[0]
    assert list(cartpole_run.tensorboard_dir.glob("events.out.tfevents.*"))
    assert (cartpole_run.plots_dir / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    # The kernel policy's layout (the default one: the tests keep tuning off) is recorded.
    meta = json.loads((cartpole_run.checkpoints()[-1].path / "meta.json").read_text())
    expected = None if select_device() is None else "float8 4x2"
    assert meta.get("kernel_layout") == expected


def test_config_file_then_overrides(tmp_path):
    file = tmp_path / "run.toml"
    file.write_text('recipe = "ppo"\nseed = 5\n[train]\ntotal_timesteps = 64\n'
                    "checkpoint_every = 64\n[ppo]\nlearning_rate = 0.01\n")
    run = RunDir(tmp_path / "run")
    assert main(["train", "--config", str(file), "CartPole-v1", *TINY, "seed=6",
                 "--run-dir", str(run.path)]) == 0
    config = run.config()
    assert config["seed"] == 6
    assert config["ppo"]["learning_rate"] == 0.01
    assert [c.step for c in run.checkpoints()] == [64]


def test_tuned_settings_lie_between_the_defaults_and_the_users_layers():
    recipe = get_recipe("ppo")
    env_id = "skillgym/AEC-Add-v0"
    tuned = configure(recipe, None, [f"env.id={env_id}"])
    assert tuned["ppo"]["learning_rate"] == 1e-3 and tuned["env"]["n_envs"] == 64
    assert tuned["env"]["kwargs"] == {"reward_mode": "digit"}
    assert tuned["ppo"]["gamma"] == recipe.defaults["ppo"]["gamma"]  # not tuned: the default
    # a config file and overrides still win, key by key (free-form kwargs merge)
    file = {"ppo": {"learning_rate": 5e-4}}
    mine = configure(recipe, file, [f"env.id={env_id}", "env.kwargs={max_level=3}",
                                    "env.n_envs=8"])
    assert mine["ppo"]["learning_rate"] == 5e-4 and mine["env"]["n_envs"] == 8
    assert mine["env"]["kwargs"] == {"reward_mode": "digit", "max_level": 3}
    assert mine["ppo"]["batch_size"] == 1024
    # an id without tuned settings gets the defaults
    assert configure(recipe, None, ["env.id=CartPole-v1"]) == resolve(
        recipe.defaults, None, ["env.id=CartPole-v1"])


def test_a_runs_config_records_the_tuned_settings(tmp_path):
    run = RunDir(tmp_path / "run")
    assert main(["train", "skillgym/AEC-Add-v0", "train.total_timesteps=64",
                 "train.checkpoint_every=64", "env.n_envs=2", "ppo.n_steps=32",
                 "ppo.batch_size=32", "ppo.n_epochs=1", "--run-dir", str(run.path)]) == 0
    config = run.config()
    assert config["ppo"]["learning_rate"] == 1e-3 and config["ppo"]["ent_coef"] == 0.01
    assert config["env"]["kwargs"] == {"reward_mode": "digit"}
    assert config["env"]["n_envs"] == 2


def test_a_runs_own_config_file_reproduces_it_bit_for_bit(cartpole_run, tmp_path):
    again = RunDir(tmp_path / "again")
    assert main(["train", "ppo", "--config", str(cartpole_run.config_path),
                 "--run-dir", str(again.path)]) == 0
    assert again.config() == cartpole_run.config()
    assert [c.step for c in again.checkpoints()] == [64, 128]
    assert_bitwise_equal(training_state(cartpole_run.latest_checkpoint().path),
                         training_state(again.latest_checkpoint().path))
    assert learning_rows(again.metrics()) == learning_rows(cartpole_run.metrics())


def test_recipe_registry():
    assert RECIPES[0] == "ppo"
    assert set(recipes()) == set(RECIPES)
    assert get_recipe("ppo").name == "ppo"
    recipe, implied = resolve_target("CartPole-v1")
    assert recipe.name == "ppo" and implied == ["env.id=CartPole-v1"]
    assert resolve_target("ppo") == (get_recipe("ppo"), [])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NoSuchEnv-v0"],
         f"unknown env id or recipe 'NoSuchEnv-v0'; recipes: {', '.join(RECIPES)}; env ids: "),
        (["CartPole-v9"], "unknown env id or recipe 'CartPole-v9'; did you mean CartPole-v1"),
        (["aec-hierarchies"], "unknown env id or recipe 'aec-hierarchies'"),
        (["CartPole-v1", "ppo.lerning_rate=1e-3"],
         "unknown config key 'ppo.lerning_rate'; did you mean 'ppo.learning_rate'?"),
        (["CartPole-v1", "train.total_timesteps=lots"],
         "config key 'train.total_timesteps' expects int, got 'lots'"),
        (["CartPole-v1", "env.n_envs=0"], "env.n_envs must be a positive integer, got 0"),
        (["CartPole-v1", "ppo.gamma=1.5"], "ppo.gamma must be in [0, 1], got 1.5"),
        (["ppo", "env.id=Nope-v0"], "env.id: unknown environment id 'Nope-v0'"),
        (["CartPole-v1", "env.kwargs.nonsense=1"],
         "env.kwargs: CartPole-v1 rejected {'nonsense': 1}: "),
        ([], "give an env id or recipe to train, or --resume RUN_DIR"),
        (["seed=1"], "the env id or recipe comes before overrides, got 'seed=1'"),
        (["CartPole-v1", "--config", "missing.toml"], "config file 'missing.toml' does not exist"),
        (["--resume", "no/such/run"], "run folder 'no/such/run' does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"skillgym train: error: {message}")
    assert err.count("\n") == 1
    # A rejected configuration leaves no run folder behind.
    assert not (tmp_path / "runs").exists()


def test_config_file_for_another_recipe(tmp_path, capsys):
    file = tmp_path / "other.toml"
    file.write_text('recipe = "aec-hierarchy"\n')
    assert main(["train", "CartPole-v1", "--config", str(file)]) == 2
    assert (f"config file '{file}' is for recipe 'aec-hierarchy', not 'ppo'"
            in capsys.readouterr().err)


def test_existing_run_folder_is_not_overwritten(cartpole_run, capsys):
    assert main(["train", "CartPole-v1", "--run-dir", str(cartpole_run.path)]) == 2
    assert "already exists; continue it with --resume" in capsys.readouterr().err


def test_resume_takes_no_overrides(cartpole_run, capsys):
    assert main(["train", "--resume", str(cartpole_run.path), "ppo.n_epochs=3"]) == 2
    assert "--resume continues a run exactly as configured" in capsys.readouterr().err


def test_resume_of_a_run_with_an_unknown_recipe(tmp_path, capsys):
    RunDir.create(tmp_path / "run", "nope", {"seed": 0})
    assert main(["train", "--resume", str(tmp_path / "run")]) == 2
    assert "unknown recipe 'nope'; recipes: ppo" in capsys.readouterr().err


def test_resume_of_a_hand_edited_config_with_an_unknown_key(cartpole_run, tmp_path, capsys):
    edited = tmp_path / "edited"
    edited.mkdir()
    (edited / "config.toml").write_text(
        cartpole_run.config_path.read_text().replace("n_epochs", "n_epoch"))
    assert main(["train", "--resume", str(edited)]) == 2
    assert "unknown config key 'ppo.n_epoch'; did you mean 'ppo.n_epochs'?" in (
        capsys.readouterr().err)



def test_resume_fills_keys_a_config_lacks_with_defaults(cartpole_run, tmp_path):
    finished = tmp_path / "finished"
    shutil.copytree(cartpole_run.path, finished)
    config = finished / "config.toml"
    text = config.read_text()
    assert "blas = 1\n" in text
    config.write_text(text.replace("blas = 1\n", ""))
    assert main(["train", "--resume", str(finished)]) == 0
    assert [c.step for c in RunDir(finished).checkpoints()] == [64, 128]
