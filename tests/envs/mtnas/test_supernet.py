"""The weight-sharing supernet: rewards, caching by version, seeding, fine-tuned scores."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator


@pytest.fixture(scope="module")
def config(small):
    return SupernetConfig(small, warmup_steps=5, steps_per_prepare=1, validation_limit=20)


class _Poisoned:
    """Stands in for a test split: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the test split was read ({name})")

    def __len__(self):
        raise AssertionError("the test split was read (len)")


def without_test_data(corpus):
    clone = copy.copy(corpus)
    clone.tasks = tuple(dataclasses.replace(task, test=_Poisoned()) for task in corpus.tasks)
    return clone


def test_supernet_reward_is_mean_validation_accuracy_and_never_reads_test(corpus, space, config):
    evaluator = SupernetEvaluator(without_test_data(corpus), space, config, seed=0)
    evaluation = evaluator.reward(np.array([[0, 1], [2, 3], [1, 1], [0, 2]]))
    assert set(evaluation.validation) == set(space.tasks)
    assert evaluation.mean == pytest.approx(np.mean(list(evaluation.validation.values())))
    assert all(0.0 <= value <= 1.0 for value in evaluation.validation.values())
    assert evaluation.test == {} and not evaluation.cache_hit


def test_cache_by_assignment_and_version(corpus, space, config):
    evaluator = SupernetEvaluator(corpus, space, config, seed=0)
    first, second = np.zeros((4, 2), dtype=int), np.ones((4, 2), dtype=int)
    scored = evaluator.evaluate([first])[0]
    again = evaluator.evaluate([first])[0]
    assert again.cache_hit and again.validation == scored.validation
    assert not evaluator.evaluate([second])[0].cache_hit
    assert evaluator.version == 0
    evaluator.prepare([second])
    assert evaluator.version == 1
    assert not evaluator.evaluate([first])[0].cache_hit  # new shared weights, new score


def test_disk_cache_persists_across_evaluators(corpus, space, config, tmp_path):
    path = tmp_path / "cache.jsonl"
    assignment = np.full((4, 2), 3)
    fresh = SupernetEvaluator(corpus, space, config, seed=1, cache_path=path).evaluate(
        [assignment]
    )[0]
    reloaded = SupernetEvaluator(corpus, space, config, seed=1, cache_path=path)
    hit = reloaded.evaluate([assignment])[0]
    assert hit.cache_hit and hit.validation == fresh.validation
    assert reloaded._trainer is None  # answered from disk, the supernet was never built
    other_seed = SupernetEvaluator(corpus, space, config, seed=2, cache_path=path)
    assert not other_seed.evaluate([assignment])[0].cache_hit



def test_same_seed_same_rewards_different_seed_different(corpus, space, config):
    rng = np.random.default_rng(0)
    assignments = [space.sample(rng) for _ in range(4)]

    def rewards(seed):
        evaluator = SupernetEvaluator(corpus, space, config, seed=seed)
        return [evaluator.reward(a).mean for a in assignments]

    first = rewards(3)
    # Another evaluator using torch in between must not disturb the next one's randomness.
    rewards(4)
    assert rewards(3) == first
    assert rewards(5) != first


def test_finetuned_scores_restore_the_supernet_and_ignore_scoring_order(corpus, space, config):
    finetuned = dataclasses.replace(config, finetune_steps=3)
    rng = np.random.default_rng(1)
    first, second = space.sample(rng), space.sample(rng)
    forward = SupernetEvaluator(corpus, space, finetuned, seed=2)
    weights = copy.deepcopy(forward.trainer.network.state_dict())
    forward_scores = [e.validation for e in forward.evaluate([first, second])]
    for name, tensor in forward.trainer.network.state_dict().items():
        assert torch.equal(tensor, weights[name]), name
    backward = SupernetEvaluator(corpus, space, finetuned, seed=2)
    backward_scores = [e.validation for e in backward.evaluate([second, first])]
    assert forward_scores == backward_scores[::-1]
    # The prepare stream continues as if no fine-tuning had happened.
    plain = SupernetEvaluator(corpus, space, config, seed=2)
    plain.evaluate([first])
    for evaluator in (forward, plain):
        evaluator.prepare([second])
    for name, tensor in plain.trainer.network.state_dict().items():
        assert torch.equal(tensor, forward.trainer.network.state_dict()[name]), name
    unadapted = SupernetEvaluator(corpus, space, config, seed=2).evaluate([first])[0]
    assert unadapted.validation != forward_scores[0]


def test_bad_supernet_configuration_is_rejected(corpus, space, config):
    with pytest.raises(ValueError, match="finetune_steps must be >= 0, got -1"):
        SupernetConfig(finetune_steps=-1)
    with pytest.raises(ValueError, match="validation_limit"):
        SupernetConfig(validation_limit=0)
    with pytest.raises(ValueError, match="unknown task"):
        SupernetEvaluator(corpus, SearchSpace(("books",)))
    evaluator = SupernetEvaluator(corpus, space, config)
    with pytest.raises(ValueError, match=r"task='syn_pos', layer=0\) holds option 9"):
        evaluator.evaluate([np.array([[9, 0], [0, 0], [0, 0], [0, 0]])])


def test_state_dict_continues_the_supernet_exactly(corpus, space, config, tmp_path):
    """Saved mid-way (through torch.save) and loaded into a fresh evaluator, the supernet trains
    and scores on exactly as the one that kept going; the warm-up is not run again."""
    rng = np.random.default_rng(0)
    rounds = [[space.sample(rng) for _ in range(3)] for _ in range(4)]
    whole = SupernetEvaluator(corpus, space, config, seed=2)
    resumed = SupernetEvaluator(corpus, space, config, seed=2)
    scores, later = [], []
    for index, batch in enumerate(rounds):
        whole.prepare(batch)
        scores.append([e.validation for e in whole.evaluate(batch)])
        if index < 2:
            resumed.prepare(batch)
            resumed.evaluate(batch)
    torch.save(resumed.state_dict(), tmp_path / "state.pt")
    fresh = SupernetEvaluator(corpus, space, dataclasses.replace(config, warmup_steps=10**6),
                              seed=2)
    fresh.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert fresh.version == 2
    for batch in rounds[2:]:
        fresh.prepare(batch)
        later.append([e.validation for e in fresh.evaluate(batch)])
    assert later == scores[2:]
    for key, value in whole.trainer.network.state_dict().items():
        assert torch.equal(value, fresh.trainer.network.state_dict()[key]), key


def test_fair_sample_holds_every_option_of_every_slot_once(space):
    paths = space.fair_sample(np.random.default_rng(3))
    assert len(paths) == space.num_options
    stacked = np.stack(paths)  # (options, tasks, layers)
    for task in range(space.shape[0]):
        for layer in range(space.shape[1]):
            assert sorted(stacked[:, task, layer]) == list(range(space.num_options))
    assert not np.array_equal(paths, space.fair_sample(np.random.default_rng(4)))


@pytest.mark.parametrize("sampling", ["uniform", "fair"])
def test_a_fair_warm_up_step_trains_every_module(corpus, space, config, sampling):
    """One warm-up step: FairNAS's trains every pool instance and private module; a uniform
    step only those on its one path."""
    settings = dataclasses.replace(config, warmup_steps=1, warmup_sampling=sampling)
    before = SupernetEvaluator(corpus, space, dataclasses.replace(settings, warmup_steps=0))
    after = SupernetEvaluator(corpus, space, settings)
    old, new = before.trainer.network, after.trainer.network
    trained = [
        any(not torch.equal(p, q) for p, q in zip(old.module_for(t, layer, option).parameters(),
                                                  new.module_for(t, layer, option).parameters(),
                                                  strict=True))
        for t in range(space.shape[0]) for layer in range(space.shape[1])
        for option in range(space.num_options)
        if list(new.module_for(t, layer, option).parameters())
    ]
    assert all(trained) == (sampling == "fair") and any(trained)
    with pytest.raises(ValueError, match=r"warmup_sampling must be one of \['uniform', 'fair'\]"):
        SupernetConfig(warmup_sampling="fairest")
