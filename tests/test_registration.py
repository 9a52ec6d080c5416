"""Every registered id: the Gymnasium API checker, namespaced make, and `skillgym list`."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import skillgym
from skillgym.envs.registration import NAMESPACE, entries
from skillgym.training.cli import main

ENTRIES = entries()
IDS = [entry.id for entry in ENTRIES]


def test_ids_are_unique_and_namespaced():
    assert len(IDS) == len(set(IDS))
    assert all(env_id.startswith(f"{NAMESPACE}/") for env_id in IDS)
    assert all(env_id in gym.registry for env_id in IDS)


@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id):
    env = gym.make(env_id)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", IDS[:1])
def test_module_prefix_registers_without_prior_import(env_id):
    code = f"import gymnasium as gym; gym.make('skillgym:{env_id}').reset(seed=0)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_list_json_names_every_id(capsys):
    assert main(["list", "--json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["id"] for row in printed] == IDS
    for row, entry in zip(printed, ENTRIES, strict=True):
        assert row["description"] == entry.description
        assert row["batched"] == ("yes" if entry.vector_entry_point else "no")


def test_version_is_exposed():
    assert skillgym.__version__.count(".") == 2
