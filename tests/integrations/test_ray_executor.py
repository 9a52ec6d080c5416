"""The multitask table on Ray: the same table as a local build, on a simulated cluster of three
nodes, one of them lost mid-build; importing skillgym never imports Ray."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
# A simulated cluster that hangs fails its test instead of stalling the run (each takes < 1 min).
pytestmark = pytest.mark.timeout(300)
from ray.cluster_utils import Cluster  # noqa: E402

from skillgym.envs.mtnas.cache import RewardCache  # noqa: E402
from skillgym.envs.mtnas.modules import SearchSpace  # noqa: E402
from skillgym.envs.mtnas.supernet import SupernetConfig, SupernetEvaluator  # noqa: E402
from skillgym.envs.mtnas.table import all_assignments, build_table  # noqa: E402
from skillgym.envs.mtnas.trainer import TrainConfig  # noqa: E402
from skillgym.executors import LocalExecutor  # noqa: E402
from skillgym.integrations.ray_executor import RayExecutor  # noqa: E402
from skillgym.training.cli import main  # noqa: E402
from skillgym.training.config import resolve  # noqa: E402
from skillgym.training.recipes import get_recipe  # noqa: E402
from skillgym.training.recipes.mtnas_options import load_corpus, search_space  # noqa: E402
from skillgym.training.recipes.mtnas_table import CACHE_FILE, SeedEvaluator  # noqa: E402

TABLE = ["mtnas", "build-table", "--tasks", "syn_pos", "syn_topic", "--layers", "1", "--pool",
         "cnn3", "identity", "--private-kind", "cnn3", "--seeds", "0", "1", "--epochs", "1",
         "--warmup", "2"]


@pytest.fixture(scope="module")
def cluster():
    """A head and two worker nodes of one CPU each, in this machine, for this module."""
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [nodes.add_node(num_cpus=1) for _ in range(2)]
    nodes.wait_for_nodes()
    ray.init(address=nodes.address)
    yield nodes, workers
    ray.shutdown()
    nodes.shutdown()


def build(tmp_path, name: str, *extra: str) -> tuple[str, list[str]]:
    """Build the small table into ``tmp_path/name``: its text and its cache's keys."""
    run = tmp_path / name
    assert main([*TABLE, *extra, "--run-dir", str(run)]) == 0
    keys = [json.loads(line)["key"] for line in (run / CACHE_FILE).read_text().splitlines()]
    return (run / "table.json").read_text(), keys


@pytest.mark.parametrize("backend", ["reference", "supernet"])
def test_a_table_built_on_three_nodes_is_the_local_one(cluster, tmp_path, monkeypatch, backend):
    local, local_keys = build(tmp_path, "local", "--backend", backend)
    remote, remote_keys = build(tmp_path, "ray", "--backend", backend, "--ray",
                                cluster[0].address)
    assert remote == local
    # every cell scored once, by whichever node
    assert sorted(remote_keys) == sorted(local_keys) and len(set(remote_keys)) == 9 * 2
    # Resumed when complete, it writes the same table without connecting to Ray again.
    monkeypatch.setattr(RayExecutor, "__init__", lambda *args, **kwargs: pytest.fail("Ray"))
    (tmp_path / "ray" / "table.json").unlink()
    assert main(["train", "--resume", str(tmp_path / "ray")]) == 0
    assert (tmp_path / "ray" / "table.json").read_text() == local


SPACE = ["--tasks", "syn_pos", "syn_topic", "--layers", "1", "--pool", "cnn3", "identity",
         "--private-kind", "cnn3"]


@pytest.mark.parametrize("command", [
    ["mtnas", "evaluate", "0/1", "--epochs", "1", "--seeds", "0", "1", "2", *SPACE],
    ["mtnas", "search", "--budget", "8", "--batch-size", "4", "--rerank", "2", "--warmup", "2",
     "--final-epochs", "1", "--final-seeds", "0", "1", *SPACE],
], ids=["evaluate", "search-scores-and-ranking"])
def test_stand_alone_trainings_on_three_nodes_give_the_local_result(cluster, tmp_path, command):
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main([*command, "--run-dir", str(local)]) == 0
    assert main([*command, "--ray", cluster[0].address, "--run-dir", str(remote)]) == 0
    assert (remote / "result.json").read_text() == (local / "result.json").read_text()


def test_a_build_interrupted_on_ray_resumes_to_the_local_table(cluster, tmp_path, monkeypatch):
    """Ctrl-C in the driver after the 7th score (a checkpoint at 4): resumed on Ray, the
    table is the local one and no cell is in the cache twice."""
    local, _ = build(tmp_path, "local", "--backend", "reference")
    run = tmp_path / "ray"
    args = [*TABLE, "--backend", "reference", "--checkpoint-every", "4", "--ray",
            cluster[0].address, "--run-dir", str(run)]
    original, calls = RewardCache.put, []

    def interrupting(self, key, evaluation):
        original(self, key, evaluation)
        calls.append(key)
        if len(calls) == 7:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(RewardCache, "put", interrupting)
        assert main(args) == 130
    assert main(["train", "--resume", str(run)]) == 0
    keys = [json.loads(line)["key"] for line in (run / CACHE_FILE).read_text().splitlines()]
    assert (run / "table.json").read_text() == local
    assert len(keys) == len(set(keys)) == 18


def test_a_node_lost_mid_build_costs_no_cell(cluster, tmp_path):
    """A worker node removed once the first cells are in: its tasks run again elsewhere and
    the table is complete, equal to the local one, each cell reported once."""
    nodes, workers = cluster
    config = resolve(get_recipe("mtnas-table").defaults, None, [
        'data.tasks=["syn_pos","syn_topic"]', "space.layers=1", 'space.pool=["cnn3","identity"]',
        "backend=reference", "reference.epochs=1", "seeds=[0,1]"])
    assert config["backend"] == "reference"
    space = search_space(config)
    evaluators = SeedEvaluator.of(config, load_corpus(config["data"]), space)
    local = build_table(space, evaluators, [0, 1], "reference")
    reported, lost = [], threading.Event()

    def on_score(seed, text, evaluation):
        reported.append((seed, text))
        if not lost.is_set():
            lost.set()
            nodes.remove_node(workers[-1])

    with RayExecutor(nodes.address) as executor:
        remote = build_table(space, evaluators, [0, 1], "reference", on_score,
                             executor=executor)
    assert lost.is_set()
    assert remote == local
    assert sorted(reported) == sorted(set(reported)) and len(reported) == 18


@pytest.mark.parametrize("finetune_steps", [0, 2])
def test_supernet_scores_on_three_nodes_are_the_local_ones(cluster, monkeypatch,
                                                          finetune_steps):
    """An evaluate call's uncached scores, cut into pieces for the cluster's CPUs: the
    same evaluations, cache hits and cache order as scored here, also after the supernet has
    trained on a round (a new version, so every score is fresh)."""
    corpus = load_corpus(resolve(get_recipe("mtnas-table").defaults, None, [])["data"])
    space = SearchSpace(("syn_pos", "syn_topic"), 1, ("cnn3", "identity"), "cnn3")
    config = SupernetConfig(TrainConfig(dim=16, batch_size=8), warmup_steps=3,
                            steps_per_prepare=1, finetune_steps=finetune_steps)
    every = all_assignments(space)
    rounds = [[*every[:5], every[1]], every[3:8]]  # a repeat within a call: a cache hit
    # Scores made in this process (the workers import the module afresh, unpatched).
    scored_here = []
    score = SupernetEvaluator._score
    monkeypatch.setattr(SupernetEvaluator, "_score",
                        lambda self, a: scored_here.append(1) or score(self, a))
    results, counts = [], []
    with RayExecutor(cluster[0].address) as executor:
        # Three, or two once the node-loss test has removed one: several pieces either way.
        assert executor.parallelism() == int(ray.cluster_resources()["CPU"]) >= 2
        for where in (LocalExecutor(), executor):
            evaluator = SupernetEvaluator(corpus, space, config, seed=4, executor=where)
            found = []
            for assignments in rounds:
                evaluator.prepare(assignments)
                found.append(evaluator.evaluate(assignments))
            results.append((found, list(evaluator.cache._records)))
            counts.append(len(scored_here))
    assert results[1] == results[0]
    assert counts == [10, 10]  # ten here, then none
    assert [e.cache_hit for e in results[0][0][0]] == [False] * 5 + [True]


def test_bad_ray_settings_are_refused_before_ray_starts():
    with pytest.raises(ValueError, match="local_cpus sizes a cluster started here"):
        RayExecutor("auto", local_cpus=2)
    with pytest.raises(ValueError, match="need cpus > 0"):
        RayExecutor(cpus=0)
    assert main(["train", "mtnas-table", "ray.address=HOST:6379", "ray.local_cpus=2"]) == 2


def test_importing_skillgym_never_imports_ray():
    code = ("import sys, skillgym, skillgym.training.cli, skillgym.training.recipes.mtnas_table,"
            " skillgym.integrations.ray_executor; print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
