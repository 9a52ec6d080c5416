"""The Gymnasium and PettingZoo mtnas environments."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import skillgym  # noqa: F401  (registers the ids)
from skillgym.envs.mtnas import parallel_env
from skillgym.envs.mtnas.assemble import MTNASAssembleEnv
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.oneshot import MTNASOneShotEnv
from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator
from skillgym.envs.mtnas.synthetic import synthetic_corpus
from skillgym.envs.mtnas.table import (
    MTNASTabularEnv,
    TableEvaluator,
    all_assignments,
    build_table,
    default_table,
    load_table,
    save_table,
    shipped_tables,
)
from skillgym.envs.mtnas.trainer import TrainConfig

IDS = ["skillgym/MTNAS-Assemble-v0", "skillgym/MTNAS-OneShot-v0", "skillgym/MTNAS-Tabular-v0"]


def training_supernet(seed: int) -> SupernetEvaluator:
    """A supernet that keeps training on every scored assignment (ENAS mode)."""
    space = SearchSpace(("syn_pos", "syn_topic"), 2, ("cnn3", "bilstm", "identity"))
    config = SupernetConfig(TrainConfig(dim=16, batch_size=8), warmup_steps=3, steps_per_prepare=2)
    return SupernetEvaluator(synthetic_corpus((30, 20, 5)), space, config, seed=seed)


@pytest.mark.parametrize("env_id", IDS)
def test_registered_ids_pass_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def run_episode(env, actions, seed):
    env.reset(seed=seed)
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
    return observation, reward, terminated, truncated, info


def test_assemble_episode_sets_slots_in_task_major_order():
    env = MTNASAssembleEnv(training_supernet(0))
    observation, _ = env.reset(seed=0)
    options = env.space_spec.num_options
    assert observation.tolist() == [options] * 4 + [0]
    rewards = []
    for step, action in enumerate([3, 1, 0, 2]):
        observation, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        assert terminated == (step == 3) and not truncated
    assert observation.tolist() == [3, 1, 0, 2, 4]
    assert rewards[:3] == [0.0, 0.0, 0.0]
    assert info["assignment"].tolist() == [[3, 1], [0, 2]]
    assert rewards[3] == pytest.approx(np.mean(list(info["accuracy"].values())))
    assert info["mean_accuracy"] == rewards[3]
    assert "cache_hit" not in info and info["shared_parameters"] > 0
    assert env.cache_hits == 0
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)


def test_assemble_rejects_bad_actions():
    env = MTNASAssembleEnv(training_supernet(0))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be an integer in 0\.\.3, got 4"):
        env.step(4)


def test_supernet_mode_same_seed_same_rewards():
    rng = np.random.default_rng(0)
    episodes = [rng.integers(0, 4, size=4).tolist() for _ in range(5)]

    def rewards(seed):
        env = MTNASAssembleEnv(training_supernet(seed))
        return [run_episode(env, actions, seed=i)[1] for i, actions in enumerate(episodes)]

    first = rewards(0)
    assert rewards(0) == first
    assert rewards(1) != first


def test_oneshot_scores_the_whole_assignment():
    evaluator = training_supernet(0)
    env = MTNASOneShotEnv(evaluator)
    assert env.action_space.shape == (4,)
    assert env.reset(seed=0) == (0, {})
    _, reward, terminated, _, info = env.step(np.array([0, 1, 2, 3]))
    assert terminated and info["assignment"].tolist() == [[0, 1], [2, 3]]
    assert "cache_hit" not in info
    assert reward == pytest.approx(np.mean(list(info["accuracy"].values())))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        env.step(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"task='syn_topic', layer=1\) holds option 5"):
        env.step(np.array([0, 1, 2, 5]))


# ----------------------------------------------------------------------------- tabular


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    space = SearchSpace(("syn_pos", "syn_topic"), 1, ("cnn3", "identity"), "cnn3")
    corpus = synthetic_corpus((30, 20, 5))
    config = SupernetConfig(TrainConfig(dim=16, batch_size=8), warmup_steps=3, steps_per_prepare=0)
    table = build_table(
        space, lambda seed: SupernetEvaluator(corpus, space, config, seed), (0, 1, 2), "supernet"
    )
    path = tmp_path_factory.mktemp("table") / "table.json"
    save_table(table, path)
    return path


def test_table_covers_the_space(table_file):
    table = load_table(table_file)
    assert len(table["entries"]) == 3**2
    assert [e["assignment"] for e in table["entries"][:4]] == ["0/0", "0/1", "0/2", "1/0"]
    assert np.asarray(table["entries"][0]["validation"]).shape == (3, 2)


def test_tabular_mean_mode_returns_the_table_mean(table_file):
    table = load_table(table_file)
    env = MTNASTabularEnv(table_file, mode="mean")
    for entry in table["entries"]:
        row = [int(value) for value in entry["assignment"].split("/")]
        hits = env.cache_hits
        _, reward, terminated, _, info = run_episode(env, row, seed=0)
        assert terminated and env.cache_hits == hits + 1  # every table score is a look-up
        expected = np.mean(entry["validation"], axis=0)
        assert reward == pytest.approx(expected.mean())
        assert info["shared_parameters"] == entry["shared_parameters"]


def test_tabular_stochastic_mode_draws_seed_rows_reproducibly(table_file):
    entry = load_table(table_file)["entries"][5]
    row = [int(value) for value in entry["assignment"].split("/")]
    choices = np.mean(entry["validation"], axis=1)

    def rewards(seed):
        env = MTNASTabularEnv(table_file, mode="stochastic")
        env.reset(seed=seed)
        return [run_episode(env, row, seed=None)[1] for _ in range(20)]

    first = rewards(7)
    assert rewards(7) == first
    assert all(np.isclose(choices, reward).any() for reward in first)
    assert len(set(first)) > 1


def test_a_seeded_stochastic_table_draws_seed_rows_without_rng(table_file):
    """As a search calls it (no rng): the evaluator's own seeded draws."""
    table = load_table(table_file)
    assignment = np.array([[1], [2]])
    rows = {tuple(row) for row in table["entries"][5]["validation"]}  # "1/2"

    def draws(seed):
        evaluator = TableEvaluator(table, mode="stochastic", seed=seed)
        return [tuple(evaluator.evaluate([assignment])[0].validation.values())
                for _ in range(30)]

    first = draws(3)
    assert draws(3) == first and set(first) == rows  # every seed's row, and nothing else
    assert draws(4) != first


def test_tabular_rejects_bad_input(table_file, tmp_path):
    with pytest.raises(ValueError, match="mode must be one of"):
        MTNASTabularEnv(table_file, mode="median")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        MTNASTabularEnv(tmp_path / "missing.json")
    broken = json.loads(table_file.read_text())
    broken["entries"][3]["validation"] = [[0.5]]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"entry 3 has validation scores of shape \(1, 1\)"):
        load_table(path)
    broken["entries"] = broken["entries"][:4]
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="entry 3"):
        load_table(path)
    path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a 'skillgym.mtnas.table/1' table"):
        load_table(path)
    evaluator = TableEvaluator(load_table(table_file), mode="stochastic")
    with pytest.raises(ValueError, match="needs rng"):
        evaluator.evaluate([np.zeros((2, 1), dtype=np.int64)])


def test_space_too_large_for_a_table():
    with pytest.raises(ValueError, match=r"7\^8 = 5764801 assignments"):
        all_assignments(SearchSpace(("a", "b", "c", "d"), 2))


def test_default_table_is_complete():
    table = default_table()
    assert table["backend"] == "supernet" and len(table["entries"]) == 3**4


def test_a_real_table_comes_with_the_package():
    assert "books-conll2000_pos" in shipped_tables()
    with pytest.raises(FileNotFoundError, match=r"nor is it one of the shipped tables \['books"):
        load_table("books-conll2000")


@pytest.mark.parametrize("name", shipped_tables())
def test_shipped_tables_are_stand_alone_accuracies_on_real_data(name):
    table = load_table(name)
    settings = table["settings"]
    assert table["backend"] == "reference" and len(table["seeds"]) >= 3
    assert settings["reference"]["epochs"] >= 1 and "root" not in settings["data"]
    assert [name for name, *_ in settings["splits"]] == table["space"]["tasks"]
    scores = np.array([entry["validation"] for entry in table["entries"]])
    assert ((scores > 0.3) & (scores < 1)).all()  # trained networks, above chance
    # The seeds differ: each is a training run of its own, not one run copied.
    assert not np.allclose(scores[:, 0], scores[:, 1])
    env = gym.make("skillgym/MTNAS-Tabular-v0", table_path=name)
    check_env(env.unwrapped, skip_render_check=True)


# ----------------------------------------------------------------------------- PettingZoo
# PettingZoo's own checks, on every reward setting: test_parallel_conventions.py.


def test_parallel_rewards_mix_own_and_mean_accuracy():
    env = parallel_env(evaluator=training_supernet(0), alpha=0.25, max_cycles=2)
    observations, _ = env.reset(seed=0)
    assert observations["syn_pos"].tolist() == [4, 4, 4, 4, 0]
    actions = {"syn_pos": np.array([0, 1]), "syn_topic": np.array([0, 3])}
    observations, rewards, terminations, _, infos = env.step(actions)
    assert observations["syn_topic"].tolist() == [0, 1, 0, 3, 1]
    mean = infos["syn_pos"]["mean_accuracy"]
    own = [infos[agent]["accuracy"] for agent in env.possible_agents]
    assert mean == pytest.approx(np.mean(own))
    for agent in env.possible_agents:
        own = infos[agent]["accuracy"]
        assert rewards[agent] == pytest.approx(0.25 * own + 0.75 * mean)
    assert not any(terminations.values())
    _, _, terminations, _, _ = env.step(actions)
    assert all(terminations.values()) and env.agents == []


def test_parallel_rejects_bad_input():
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        parallel_env(evaluator=training_supernet(0), alpha=1.5)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"max_cycles must be an integer >= 1, got {bad}"):
            parallel_env(evaluator=training_supernet(0), max_cycles=bad)
    assert parallel_env(evaluator=training_supernet(0), max_cycles=np.int64(2)).max_cycles == 2
    env = parallel_env(evaluator=training_supernet(0))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"missing \['syn_topic'\]"):
        env.step({"syn_pos": np.array([0, 0])})
    with pytest.raises(ValueError, match="agent 'syn_topic' must have shape"):
        env.step({"syn_pos": np.array([0, 0]), "syn_topic": np.array([0])})


def test_registering_the_ids_imports_neither_torch_nor_pettingzoo():
    code = (
        "import sys, skillgym.envs.mtnas.registry; "
        "assert 'torch' not in sys.modules and 'pettingzoo' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
