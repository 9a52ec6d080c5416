"""The search space and the weight-sharing multitask network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skillgym.envs.mtnas.modules import DEFAULT_POOL, MultitaskNetwork, SearchSpace
from skillgym.envs.mtnas.synthetic import synthetic_corpus

TASKS = ("syn_pos", "syn_chunk", "syn_topic", "syn_polarity")


@pytest.fixture(scope="module")
def corpus():
    return synthetic_corpus((20, 8, 8))


@pytest.fixture(scope="module")
def space():
    return SearchSpace(TASKS, num_layers=2)


def network(corpus, space, seed=0):
    torch.manual_seed(seed)
    return MultitaskNetwork(space, corpus.subset(space.tasks), len(corpus.vocabulary), dim=16)


def test_space_shape_and_options(space):
    assert space.shape == (4, 2)
    assert space.num_options == len(DEFAULT_POOL) + 1 == 7
    assert space.private == 6
    assert space.option_name(6) == "private:bilstm" and space.option_name(2) == "cnn3#2"


def test_format_parse_round_trip(space):
    assignment = np.array([[0, 6], [1, 1], [5, 2], [3, 4]])
    assert space.format(assignment) == "0,6/1,1/5,2/3,4"
    assert np.array_equal(space.parse("0,6/1,1/5,2/3,4"), assignment)


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        (np.zeros((4, 3), dtype=int), r"shape \(tasks, layers\) = \(4, 2\), got \(4, 3\)"),
        (np.zeros(8, dtype=int), r"got \(8,\)"),
        ([[0, 0], [0, 7], [0, 0], [0, 0]], r"task='syn_chunk', layer=1\) holds option 7; "
                                           r"allowed options are 0\.\.6"),
        ([[0, 0], [0, 0], [-1, 0], [0, 0]], r"task='syn_topic', layer=0\) holds option -1"),
        ([[0, 0], [0, 0], [0, 0], [0, 1.5]], r"task='syn_polarity', layer=1\) holds 1\.5; "
                                             r"options must be integers"),
    ],
)
def test_bad_assignments_name_the_slot(space, assignment, message):
    with pytest.raises(ValueError, match=message):
        space.validate(assignment)


def test_parse_rejects_malformed_text(space):
    with pytest.raises(ValueError, match="comma-separated integers"):
        space.parse("0,a/1,1/0,0/0,0")
    with pytest.raises(ValueError, match="same length"):
        space.parse("0,1/1/0,0/0,0")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tasks": ()}, "tasks must be non-empty and unique"),
        ({"tasks": ("a", "a")}, "tasks must be non-empty and unique"),
        ({"tasks": ("a",), "num_layers": 0}, "num_layers must be >= 1"),
        ({"tasks": ("a",), "pool": ("gru",)}, r"'gru'.*allowed kinds are"),
        ({"tasks": ("a",), "private_kind": "mlp"}, r"'mlp'.*allowed kinds are"),
    ],
)
def test_space_rejects_bad_configuration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace(**kwargs)


def test_tasks_choosing_one_instance_share_its_weights(corpus, space):
    net = network(corpus, space)
    assert net.module_for(0, 1, 2) is net.module_for(3, 1, 2)  # same pool instance
    assert net.module_for(0, 1, 2) is not net.module_for(0, 1, 3)  # another instance
    assert net.module_for(0, 0, 6) is not net.module_for(1, 0, 6)  # private modules
    # A gradient step of task 0 through bilstm#0 changes what task 1 computes through it.
    task = corpus.tasks[1]
    tokens = torch.from_numpy(task.train.tokens[:4])
    lengths = torch.from_numpy(task.train.lengths[:4])
    net.eval()
    before = net(1, [0, 0], tokens, lengths).detach()
    optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
    source = corpus.tasks[0]
    net(0, [0, 0], torch.from_numpy(source.train.tokens[:4]),
        torch.from_numpy(source.train.lengths[:4])).sum().backward()
    grads = {name for name, p in net.named_parameters() if p.grad is not None}
    assert any(name.startswith("pool.0.0.") for name in grads)
    assert not any(name.startswith("private.") or name.startswith("heads.1.") for name in grads)
    optimizer.step()
    assert not torch.allclose(before, net(1, [0, 0], tokens, lengths))


def test_shared_parameter_count_matches_an_independent_count(corpus, space):
    net = network(corpus, space)

    def size(module):
        return sum(p.numel() for p in module.parameters())

    embedding = net.embedding.weight.numel()
    assert net.shared_parameter_count(space.all_private()) == embedding
    hard = space.hard_sharing(0)
    hard_count = embedding + size(net.pool[0][0]) + size(net.pool[1][0])
    assert net.shared_parameter_count(hard) == hard_count
    # bilstm#1 at layer 0 used by tasks 0 and 2; cnn3#2 at layer 1 by task 0 only; identity by two.
    mixed = np.array([[1, 2], [6, 6], [1, 5], [4, 5]])
    assert net.shared_parameter_count(mixed) == embedding + size(net.pool[0][1])


@pytest.mark.parametrize("options", [[0, 0], [2, 4], [5, 5], [6, 3]])
def test_padding_does_not_change_outputs(corpus, space, options):
    """A sentence scores the same alone and batched beside a longer one (masking is exact)."""
    torch.set_default_dtype(torch.float64)
    try:
        net = network(corpus, space).double().eval()
        task = corpus.tasks[2]  # classification: pooled over time, so padding would leak
        order = np.argsort(task.train.lengths)
        short, long = order[0], order[-1]
        assert task.train.lengths[short] < task.train.lengths[long]
        tokens, lengths, _ = task.train.batch(np.array([short, long]))
        batched = net(2, options, torch.from_numpy(tokens), torch.from_numpy(lengths))[0]
        tokens, lengths, _ = task.train.batch(np.array([short]))
        alone = net(2, options, torch.from_numpy(tokens), torch.from_numpy(lengths))[0]
        torch.testing.assert_close(batched, alone, rtol=1e-10, atol=1e-10)
    finally:
        torch.set_default_dtype(torch.float32)


def test_output_shapes(corpus, space):
    net = network(corpus, space).eval()
    for index, task in enumerate(corpus.tasks):
        tokens, lengths, targets = task.train.batch(np.arange(3))
        logits = net(index, [1, 3], torch.from_numpy(tokens), torch.from_numpy(lengths))
        assert logits.shape == (*targets.shape, task.num_labels)


def test_network_rejects_mismatched_tasks(corpus, space):
    with pytest.raises(ValueError, match="must match the space's"):
        MultitaskNetwork(space, corpus.tasks[::-1], len(corpus.vocabulary))
    with pytest.raises(ValueError, match="dim must be an even number"):
        MultitaskNetwork(space, corpus.tasks, len(corpus.vocabulary), dim=15)
