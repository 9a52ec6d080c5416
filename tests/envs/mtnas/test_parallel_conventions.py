"""The PettingZoo form follows the ecosystem's conventions: PettingZoo's own checks on every
reward setting, rendering, the global state, unknown agents, and the SuperSuit + SB3 path."""

from __future__ import annotations

import types

import numpy as np
import pytest
import supersuit as ss
import torch
from pettingzoo.test import (
    api_test,
    max_cycles_test,
    parallel_api_test,
    parallel_seed_test,
    render_test,
    seed_test,
    state_test,
)
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import set_random_seed
from supersuit.vector import ConcatVecEnv
from supersuit.vector.sb3_vector_wrapper import SB3VecEnvWrapper

from skillgym.envs.mtnas import env as aec_env
from skillgym.envs.mtnas import parallel_env
from skillgym.envs.mtnas.modules import SearchSpace
from skillgym.envs.mtnas.reference import ReferenceEvaluator
from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator
from skillgym.envs.mtnas.table import TableEvaluator, build_table

# Two tasks, one layer, three options: nine assignments, so that a table covers the space.
SPACE = SearchSpace(("syn_pos", "syn_topic"), 1, ("cnn3", "identity"), "cnn3")

# The reward settings: every source of the accuracies (the evaluator backends, the table in both
# of its modes) and both ends and the middle of alpha (own accuracy against the tasks' mean).
BACKENDS = ("supernet", "supernet-cotraining", "table-mean", "table-stochastic", "reference")
ALPHAS = (0.0, 0.5, 1.0)


def supernet(corpus, small, steps_per_prepare: int, seed: int = 0) -> SupernetEvaluator:
    """A small supernet over :data:`SPACE`: frozen, or co-trained by every scored round."""
    config = SupernetConfig(small, warmup_steps=3, steps_per_prepare=steps_per_prepare)
    return SupernetEvaluator(corpus, SPACE, config, seed=seed)


@pytest.fixture(scope="module")
def table(corpus, small):
    """Every assignment of :data:`SPACE` scored by two frozen supernets (seeds 0 and 1)."""
    return build_table(SPACE, lambda seed: supernet(corpus, small, 0, seed), (0, 1), "supernet")


@pytest.fixture(
    params=[(backend, alpha) for backend in BACKENDS for alpha in ALPHAS],
    ids=lambda param: f"{param[0]}-alpha{param[1]}",
)
def setting(request, corpus, small, table):
    """``(parallel, aec)``: constructors of one reward setting taking PettingZoo's keywords.

    A fresh evaluator for every test, so that no test finds a cache another one warmed.
    """
    backend, alpha = request.param
    build = {
        "supernet": lambda: supernet(corpus, small, 0),
        "supernet-cotraining": lambda: supernet(corpus, small, 2),
        "table-mean": lambda: TableEvaluator(table, "mean"),
        "table-stochastic": lambda: TableEvaluator(table, "stochastic"),
        "reference": lambda: ReferenceEvaluator(
            corpus, SPACE, epochs=1, seeds=(0,), config=small, epoch_steps=2
        ),
    }[backend]
    # A co-training supernet learns from every assignment it scores, so two envs sharing one do
    # not replay each other: each env gets its own. The other backends score an assignment alike
    # whatever came before, so the envs share one, as users share an expensive evaluator; its
    # cache then answers the second env, which must not show in what the envs return.
    shared = None if backend == "supernet-cotraining" else build()

    def evaluator():
        return build() if shared is None else shared

    def parallel(**kwargs):
        return parallel_env(evaluator=evaluator(), alpha=alpha, **kwargs)

    def aec(**kwargs):
        return aec_env(evaluator=evaluator(), alpha=alpha, **kwargs)

    return parallel, aec


# ----------------------------------------------------------------------------- PettingZoo's checks


def test_parallel_api(setting):
    parallel, _ = setting
    parallel_api_test(parallel(max_cycles=2), num_cycles=10)


def test_aec_api(setting):
    _, aec = setting
    api_test(aec(max_cycles=2), num_cycles=10)


def test_same_seed_same_episode(setting):
    parallel, aec = setting
    parallel_seed_test(lambda: parallel(max_cycles=2))
    seed_test(lambda: aec(max_cycles=2), num_cycles=10)


def test_max_cycles(setting):
    parallel, aec = setting
    max_cycles_test(types.SimpleNamespace(parallel_env=parallel, env=aec))


def test_render(setting):
    _, aec = setting
    render_test(aec, custom_tests={"ansi": lambda text: text.startswith("round ")})


def test_state(setting):
    parallel, aec = setting
    state_test(aec(max_cycles=2), parallel(max_cycles=2))


def test_the_package_is_a_pettingzoo_module():
    """``max_cycles_test`` takes a module with ``parallel_env`` and ``env``: the package itself,
    with its default evaluator."""
    import skillgym.envs.mtnas

    max_cycles_test(skillgym.envs.mtnas)


# ----------------------------------------------------------------------------- the conventions


def test_render_modes(table):
    env = parallel_env(evaluator=TableEvaluator(table), render_mode="ansi", max_cycles=2)
    env.reset(seed=0)
    assert env.render() == "round 0 of 2\ntask       layer 0\nsyn_pos    -\nsyn_topic  -"
    env.step({"syn_pos": np.array([0]), "syn_topic": np.array([2])})
    assert env.render() == (
        "round 1 of 2\ntask       layer 0\nsyn_pos    cnn3#0\nsyn_topic  private:cnn3"
    )
    picture = parallel_env(evaluator=TableEvaluator(table), render_mode="rgb_array")
    picture.reset(seed=0)
    image = picture.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert (image < 255).any()  # the text is drawn, not a blank page
    with pytest.warns(UserWarning, match="render_mode"):
        assert parallel_env(evaluator=TableEvaluator(table)).render() is None
    with pytest.raises(
        ValueError, match=r"render_mode must be None or one of \['ansi', 'human', 'rgb_array'\], "
        r"got 'video'"
    ):
        parallel_env(evaluator=TableEvaluator(table), render_mode="video")


def test_human_mode_prints_every_round(table, capsys):
    env = parallel_env(evaluator=TableEvaluator(table), render_mode="human", max_cycles=1)
    env.reset(seed=0)
    env.step({"syn_pos": np.array([1]), "syn_topic": np.array([1])})
    printed = capsys.readouterr().out
    assert printed.count("round 0 of 1") == 1 and printed.count("round 1 of 1") == 1
    assert printed.count("identity#1") == 2


def test_unknown_agents_raise(table):
    env = parallel_env(evaluator=TableEvaluator(table))
    message = r"agent must be one of \['syn_pos', 'syn_topic'\], got 'no-such-agent'"
    with pytest.raises(KeyError, match=message):
        env.observation_space("no-such-agent")
    with pytest.raises(KeyError, match=message):
        env.action_space("no-such-agent")
    with pytest.raises(KeyError, match=message):
        aec_env(evaluator=TableEvaluator(table)).action_space("no-such-agent")


def test_state_is_the_global_observation(table):
    env = parallel_env(evaluator=TableEvaluator(table), max_cycles=3)
    observations, _ = env.reset(seed=0)
    assert env.state_space is env.observation_space("syn_pos")
    assert env.state().tolist() == observations["syn_topic"].tolist() == [3, 3, 0]
    observations, *_ = env.step({"syn_pos": np.array([2]), "syn_topic": np.array([0])})
    assert env.state().tolist() == observations["syn_pos"].tolist() == [2, 0, 1]
    assert env.state_space.contains(env.state())


def test_cache_hits_are_counted_outside_the_infos(corpus, small):
    evaluator = supernet(corpus, small, 0)
    first, second = parallel_env(evaluator=evaluator), parallel_env(evaluator=evaluator)
    actions = {"syn_pos": np.array([0]), "syn_topic": np.array([1])}
    steps = []
    for env in (first, second):
        env.reset(seed=0)
        steps.append(env.step(actions))
    assert first.cache_hits == 0 and second.cache_hits == 1
    assert steps[0][1] == steps[1][1]  # rewards
    assert steps[0][4] == steps[1][4]  # infos
    assert set(steps[0][4]["syn_pos"]) == {"accuracy", "mean_accuracy", "shared_parameters"}


# ----------------------------------------------------------------------------- SuperSuit + SB3


def test_supersuit_vector_env_trains_sb3_ppo(table):
    """The PettingZoo tutorial's path: every agent of every copy is one sub-env of SB3's PPO."""
    alpha = 0.25
    evaluator = TableEvaluator(table)
    vector = ss.pettingzoo_env_to_vec_env_v1(parallel_env(evaluator=evaluator, alpha=alpha))
    envs = ss.concat_vec_envs_v1(vector, 3, num_cpus=0, base_class="stable_baselines3")
    assert envs.num_envs == 3 * len(SPACE.tasks)
    assert envs.observation_space.nvec.tolist() == [4, 4, 4]
    assert envs.action_space.nvec.tolist() == [3]
    # Not PPO(seed=...): SB3 would call the vector env's seed(), which SuperSuit's lacks.
    set_random_seed(0)
    model = PPO("MlpPolicy", envs, n_steps=32, batch_size=96, n_epochs=2, device="cpu")
    model.set_logger(Logger(folder=None, output_formats=[]))
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=384)
    assert model.num_timesteps == 384  # two rollouts of 32 steps on 6 sub-envs
    after = list(model.policy.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    # Every reward collected is an agent's alpha-mix of the table's scores of some assignment.
    possible = []
    for entry in table["entries"]:
        own = np.mean(entry["validation"], axis=0)
        possible.extend(alpha * own + (1 - alpha) * own.mean())
    rewards = model.rollout_buffer.rewards
    assert rewards.shape == (32, 6)
    assert np.isclose(rewards[..., None], np.array(possible), atol=1e-6).any(-1).all()
    assert len(np.unique(rewards)) > 1
    # concat_vec_envs_v1 pickles a copy of the env, its evaluator included, for each copy.
    copies = [envs.venv.vec_envs[i].par_env for i in range(3)]
    assert len({id(env.evaluator) for env in copies} | {id(evaluator)}) == 4


def test_supersuit_copies_can_share_one_evaluator(corpus, small):
    """The in-process construction of docs/mtnas.md: one co-training supernet for every copy."""
    evaluator = supernet(corpus, small, 1)
    envs = SB3VecEnvWrapper(ConcatVecEnv(
        [lambda: ss.pettingzoo_env_to_vec_env_v1(parallel_env(evaluator=evaluator))] * 3
    ))
    assert envs.num_envs == 6
    envs.reset()
    envs.step(np.zeros((6, 1), dtype=np.int64))
    assert all(copy.par_env.evaluator is evaluator for copy in envs.venv.vec_envs)
    assert evaluator.version == 3  # one round of each copy trained the one supernet
