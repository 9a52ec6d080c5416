"""Supernet and reference evaluators, the reward cache and Kendall's tau."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from skillgym.envs.mtnas.batching import steps_per_epoch
from skillgym.envs.mtnas.cache import RewardCache
from skillgym.envs.mtnas.corpus import IGNORE_INDEX
from skillgym.envs.mtnas.evaluator import Evaluation
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.ranking import kendall_tau
from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator
from skillgym.envs.mtnas.synthetic import synthetic_corpus
from skillgym.envs.mtnas.trainer import TrainConfig, Trainer

TASKS = ("syn_pos", "syn_chunk", "syn_topic", "syn_polarity")
SMALL = TrainConfig(dim=16, batch_size=8)
CONFIG = SupernetConfig(SMALL, warmup_steps=5, steps_per_prepare=1, validation_limit=20)


@pytest.fixture(scope="module")
def corpus():
    return synthetic_corpus((40, 30, 10))


@pytest.fixture(scope="module")
def space():
    return SearchSpace(TASKS, num_layers=2, pool=("bilstm", "cnn3", "identity"))


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


def test_supernet_reward_is_mean_validation_accuracy_and_never_reads_test(corpus, space):
    evaluator = SupernetEvaluator(without_test_data(corpus), space, CONFIG, seed=0)
    evaluation = evaluator.reward(np.array([[0, 1], [2, 3], [1, 1], [0, 2]]))
    assert set(evaluation.validation) == set(TASKS)
    assert evaluation.mean == pytest.approx(np.mean(list(evaluation.validation.values())))
    assert all(0.0 <= value <= 1.0 for value in evaluation.validation.values())
    assert evaluation.test == {} and not evaluation.cache_hit


def test_cache_by_assignment_and_version(corpus, space):
    evaluator = SupernetEvaluator(corpus, space, CONFIG, seed=0)
    first, second = np.zeros((4, 2), dtype=int), np.ones((4, 2), dtype=int)
    scored = evaluator.evaluate([first])[0]
    again = evaluator.evaluate([first])[0]
    assert again.cache_hit and again.validation == scored.validation
    assert not evaluator.evaluate([second])[0].cache_hit
    assert evaluator.version == 0
    evaluator.prepare([second])
    assert evaluator.version == 1
    assert not evaluator.evaluate([first])[0].cache_hit  # new shared weights, new score


def test_disk_cache_persists_across_evaluators(corpus, space, tmp_path):
    path = tmp_path / "cache.jsonl"
    assignment = np.full((4, 2), 3)
    fresh = SupernetEvaluator(corpus, space, CONFIG, seed=1, cache_path=path).evaluate(
        [assignment]
    )[0]
    reloaded = SupernetEvaluator(corpus, space, CONFIG, seed=1, cache_path=path)
    hit = reloaded.evaluate([assignment])[0]
    assert hit.cache_hit and hit.validation == fresh.validation
    assert reloaded._trainer is None  # answered from disk, the supernet was never built
    other_seed = SupernetEvaluator(corpus, space, CONFIG, seed=2, cache_path=path)
    assert not other_seed.evaluate([assignment])[0].cache_hit


def test_corrupt_cache_file_is_named(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a", "evaluation": {"validation": {}}}\nnot json\n')
    with pytest.raises(ValueError, match=r"cache\.jsonl:2: not a reward-cache record"):
        RewardCache(path)


def test_same_seed_same_rewards_different_seed_different(corpus, space):
    rng = np.random.default_rng(0)
    assignments = [space.sample(rng) for _ in range(4)]

    def rewards(seed):
        evaluator = SupernetEvaluator(corpus, space, CONFIG, seed=seed)
        return [evaluator.reward(a).mean for a in assignments]

    first = rewards(3)
    # Another evaluator using torch in between must not disturb the next one's randomness.
    rewards(4)
    assert rewards(3) == first
    assert rewards(5) != first


def test_finetuned_scores_restore_the_supernet_and_ignore_scoring_order(corpus, space):
    config = dataclasses.replace(CONFIG, finetune_steps=3)
    rng = np.random.default_rng(1)
    first, second = space.sample(rng), space.sample(rng)
    forward = SupernetEvaluator(corpus, space, config, seed=2)
    weights = copy.deepcopy(forward.trainer.network.state_dict())
    forward_scores = [e.validation for e in forward.evaluate([first, second])]
    for name, tensor in forward.trainer.network.state_dict().items():
        assert torch.equal(tensor, weights[name]), name
    backward = SupernetEvaluator(corpus, space, config, seed=2)
    backward_scores = [e.validation for e in backward.evaluate([second, first])]
    assert forward_scores == backward_scores[::-1]
    # The prepare stream continues as if no fine-tuning had happened.
    plain = SupernetEvaluator(corpus, space, CONFIG, seed=2)
    plain.evaluate([first])
    for evaluator in (forward, plain):
        evaluator.prepare([second])
    for name, tensor in plain.trainer.network.state_dict().items():
        assert torch.equal(tensor, forward.trainer.network.state_dict()[name]), name
    unadapted = SupernetEvaluator(corpus, space, CONFIG, seed=2).evaluate([first])[0]
    assert unadapted.validation != forward_scores[0]


def test_accuracy_matches_one_example_at_a_time(corpus, space):
    """Batched, bucketed, padded scoring equals a per-example count in Python integers."""
    trainer = Trainer(space, corpus.tasks, len(corpus.vocabulary), SMALL, seed=0)
    for _ in range(3):
        trainer.step(np.zeros((4, 2), dtype=np.int64))
    trainer.network.eval()
    for index, task in enumerate(corpus.tasks):
        split, options = task.validation, [0, 1]
        correct = total = 0
        with torch.no_grad():
            for row in range(len(split)):
                tokens, lengths, targets = split.batch(np.array([row]))
                predicted = trainer.network(
                    index, options, torch.from_numpy(tokens), torch.from_numpy(lengths)
                ).argmax(-1).numpy()
                scored = targets != IGNORE_INDEX
                correct += int((predicted == targets)[scored].sum())
                total += int(scored.sum())
        batched = trainer.accuracy(index, split, np.arange(len(split)), options)
        assert batched == pytest.approx(correct / total, abs=1e-12)


def test_reference_evaluator_reports_test_over_seeds(corpus, space):
    evaluator = ReferenceEvaluator(corpus, space, epochs=1, seeds=(0, 1), config=SMALL)
    assignment = np.array([[0, 2], [0, 2], [1, 2], [1, 3]])
    evaluation = evaluator.evaluate([assignment])[0]
    assert set(evaluation.test) == set(evaluation.test_std) == set(TASKS)
    per_seed = [evaluator.run_seed(assignment, seed) for seed in (0, 1)]
    test = np.array([run[1] for run in per_seed])
    np.testing.assert_allclose(list(evaluation.test.values()), test.mean(0))
    np.testing.assert_allclose(list(evaluation.test_std.values()), test.std(0))
    assert evaluator.evaluate([assignment])[0].cache_hit


def test_reference_epoch_steps_sets_the_training_length(corpus, space):
    """``epoch_steps`` replaces the default epoch: validation after exactly that many steps."""
    assignment = np.array([[0, 2], [0, 2], [1, 2], [1, 3]])
    evaluator = ReferenceEvaluator(corpus, space, epochs=1, seeds=(0,), config=SMALL,
                                   epoch_steps=3)
    tasks = corpus.subset(space.tasks)
    trainer = Trainer(space, tasks, len(corpus.vocabulary), SMALL, seed=0)
    for _ in range(3):
        trainer.step(assignment)
    expected = [
        trainer.accuracy(i, task.validation, np.arange(len(task.validation)), assignment[i])
        for i, task in enumerate(tasks)
    ]
    assert evaluator.run_seed(assignment, 0)[0] == expected
    default = ReferenceEvaluator(corpus, space, epochs=1, seeds=(0,), config=SMALL)
    assert default.epoch_steps == steps_per_epoch(tasks, SMALL.batch_size) != 3
    assert default.run_seed(assignment, 0)[0] != expected


def test_bad_configuration_is_rejected(corpus, space):
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        TrainConfig(learning_rate=0)
    with pytest.raises(ValueError, match="finetune_steps must be >= 0, got -1"):
        SupernetConfig(finetune_steps=-1)
    with pytest.raises(ValueError, match="validation_limit"):
        SupernetConfig(validation_limit=0)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        ReferenceEvaluator(corpus, space, epochs=0)
    with pytest.raises(ValueError, match="epoch_steps must be >= 1 or None, got 0"):
        ReferenceEvaluator(corpus, space, epoch_steps=0)
    with pytest.raises(ValueError, match="unknown task"):
        SupernetEvaluator(corpus, SearchSpace(("books",)))
    evaluator = SupernetEvaluator(corpus, space, CONFIG)
    with pytest.raises(ValueError, match=r"task='syn_pos', layer=0\) holds option 9"):
        evaluator.evaluate([np.array([[9, 0], [0, 0], [0, 0], [0, 0]])])


def test_evaluation_json_round_trip():
    evaluation = Evaluation({"a": 0.5, "b": 1.0}, True, 12, {"a": 0.4}, {"a": 0.1}, {"a": 0.0})
    record = evaluation.to_json()
    assert "cache_hit" not in record
    assert Evaluation.from_json(record, cache_hit=False) == dataclasses.replace(
        evaluation, cache_hit=False
    )
    assert evaluation.mean == 0.75


def test_kendall_tau_reference_values():
    # The tau-b example of SciPy's documentation, with ties in both sequences.
    assert kendall_tau([12, 2, 1, 12, 2], [1, 4, 7, 1, 0]) == pytest.approx(-0.47140452079103173)
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # One discordant pair out of six: (5 - 1) / 6.
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="constant"):
        kendall_tau([1, 1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="equal length"):
        kendall_tau([1, 2], [1, 2, 3])
