"""Multitask assignment searchers: the search loop, random, evolution, REINFORCE, PPO."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from skillgym.agents.mtnas_ppo import PPOController, ppo_search
from skillgym.agents.mtnas_reinforce import ReinforceController
from skillgym.agents.mtnas_search import RandomSearch, RegularizedEvolution, Search, run_search
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.table import TABLE_FORMAT, TableEvaluator

TARGET = np.array([[2, 0], [1, 2]])


@pytest.fixture(scope="module")
def evaluator() -> TableEvaluator:
    """A table whose reward is the fraction of slots matching TARGET (the optimum is unique)."""
    space = SearchSpace(("a", "b"), 2, ("cnn3", "identity"), "cnn3")
    entries = []
    for values in itertools.product(range(3), repeat=4):
        assignment = np.array(values).reshape(2, 2)
        per_task = (assignment == TARGET).mean(axis=1).tolist()
        entries.append({"assignment": space.format(assignment), "validation": [per_task],
                        "shared_parameters": 0})
    table = {"format": TABLE_FORMAT, "backend": "test", "seeds": [0], "entries": entries,
             "space": {"tasks": ["a", "b"], "num_layers": 2, "pool": ["cnn3", "identity"],
                       "private_kind": "cnn3"}}
    return TableEvaluator(table)


def test_run_search_spends_exactly_the_budget(evaluator):
    calls = []
    result = run_search(RandomSearch(evaluator.space, seed=0), evaluator, budget=21,
                        batch_size=8, rerank=3, progress=calls.append)
    assert calls == [8, 16, 21]
    assert len(result.rewards) == 21
    assert [row[0] for row in result.best_per_budget] == [8, 16, 21]
    best_so_far = [row[1] for row in result.best_per_budget]
    assert best_so_far == sorted(best_so_far)
    assert result.evaluations == 21 + 3
    assert result.best_reward == best_so_far[-1]
    assert evaluator.evaluate([result.best])[0].mean == result.best_reward


def test_random_search_is_seeded(evaluator):
    def asks(seed):
        return [a.tolist() for a in RandomSearch(evaluator.space, seed).ask(5)]

    assert asks(1) == asks(1) and asks(1) != asks(2)


def test_evolution_mutates_one_slot_and_ages_out(evaluator):
    evolution = RegularizedEvolution(evaluator.space, population_size=4, sample_size=2, seed=0)
    first = evolution.ask(4)
    evolution.tell(first, [0.1, 0.2, 0.3, 0.4])
    children = evolution.ask(6)
    parents = {evaluator.space.format(a) for a in first}
    for child in children:
        distances = [int((child != p).sum()) for p in first]
        assert min(distances) == 1
        assert evaluator.space.format(child) not in parents
    evolution.tell(children[:2], [0.5, 0.6])
    assert len(evolution.population) == 4
    assert [reward for _, reward in evolution.population] == [0.3, 0.4, 0.5, 0.6]
    with pytest.raises(ValueError, match="sample_size <= population_size"):
        RegularizedEvolution(evaluator.space, population_size=2, sample_size=3)


def test_evolution_finds_the_optimum(evaluator):
    result = run_search(RegularizedEvolution(evaluator.space, 10, 3, seed=0), evaluator, 120)
    assert result.best.tolist() == TARGET.tolist() and result.best_reward == 1.0


def test_reinforce_controller_learns_the_optimum(evaluator):
    controller = ReinforceController(evaluator.space, learning_rate=0.05, seed=0)
    result = run_search(controller, evaluator, budget=400, batch_size=16)
    assert controller.recommend()[0].tolist() == TARGET.tolist()
    assert result.best.tolist() == TARGET.tolist()
    assert np.mean(result.rewards[-32:]) > np.mean(result.rewards[:32]) + 0.2
    assert controller.entropy() < np.log(3) * 4 / 2  # far below the uniform policy's entropy


def test_reinforce_is_seeded(evaluator):
    def asks(seed):
        return [a.tolist() for a in ReinforceController(evaluator.space, seed=seed).ask(6)]

    assert asks(3) == asks(3) and asks(3) != asks(4)


def test_reinforce_rejects_bad_settings(evaluator):
    with pytest.raises(ValueError, match="baseline_decay"):
        ReinforceController(evaluator.space, baseline_decay=1.0)
    with pytest.raises(ValueError, match="entropy_weight"):
        ReinforceController(evaluator.space, entropy_weight=-1)


def test_ppo_search_returns_a_scored_assignment(evaluator):
    result = ppo_search(evaluator, budget=32, episodes_per_update=8, rerank=2, seed=0)
    assert result.best.shape == (2, 2)
    assert len(result.rewards) >= 32
    assert result.best_reward == evaluator.evaluate([result.best])[0].mean


def test_run_search_rejects_bad_budgets(evaluator):
    with pytest.raises(ValueError, match="budget, batch_size and rerank must be >= 1"):
        run_search(RandomSearch(evaluator.space), evaluator, budget=0)


SEARCHERS = {
    "random": lambda space: RandomSearch(space, seed=1),
    "evolution": lambda space: RegularizedEvolution(space, 6, 3, seed=1),
    "reinforce": lambda space: ReinforceController(space, learning_rate=0.05, seed=1),
    "ppo": lambda space: PPOController(space, episodes_per_update=4, seed=1),
}


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_a_search_stopped_between_rounds_continues_exactly(evaluator, name, tmp_path):
    """State saved through torch.save after three rounds and loaded into new objects: the
    search goes on to the same proposals, rewards and result as one that never stopped."""
    def search() -> Search:
        return Search(SEARCHERS[name](evaluator.space), evaluator, budget=30, batch_size=4,
                      rerank=3)

    whole, stopped = search(), search()
    for _ in range(3):
        stopped.round()
    torch.save(stopped.state_dict(), tmp_path / "search.pt")
    # The caller's use of the global generators must not matter either.
    np.random.seed(123)
    torch.manual_seed(123)
    resumed = search()
    resumed.load_state_dict(torch.load(tmp_path / "search.pt", weights_only=True))
    while not whole.done:
        whole.round()
    while not resumed.done:
        resumed.round()
    assert resumed.history.rewards == whole.history.rewards
    first, second = whole.finish(), resumed.finish()
    assert first.best.tolist() == second.best.tolist()
    assert first.best_per_budget == second.best_per_budget
    assert [a.tolist() for a in whole.searcher.ask(4)] == [
        a.tolist() for a in resumed.searcher.ask(4)]


def test_ppo_controller_learns_the_optimum(evaluator):
    controller = PPOController(evaluator.space, episodes_per_update=16, seed=0)
    result = run_search(controller, evaluator, budget=480, batch_size=16)
    assert result.best.tolist() == TARGET.tolist()
    assert np.mean(result.rewards[-32:]) > np.mean(result.rewards[:32]) + 0.2
