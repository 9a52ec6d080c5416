"""``bindings="all"``: standalone episodes under every binding the skill's callers use."""

from __future__ import annotations

import numpy as np
import pytest

from skillgym.envs.aec import AECEnv, oracle
from skillgym.envs.aec.skills import BINDINGS
from skillgym.envs.aec.solve import lay_out, oracle_machine, run
from skillgym.envs.aec.tasks import TASKS, binding_rows
from skillgym.envs.aec.tokens import EQUALS, GREATER, LESS, UNITS, read_number

INSTANCES = 12  # per skill, binding and level


@pytest.mark.parametrize("name", ["ADD", "SUB", "COMPARE"])
def test_the_oracle_solves_every_level_under_every_binding(name):
    task = TASKS[name]
    machine = oracle_machine(task)
    for args, binding in enumerate(BINDINGS[name]):
        for level in range(1, len(task.levels) + 1):
            for counter in range(INSTANCES):
                instance = task.sample(np.uint64(1234 + args), counter, level)
                instance.args, instance.rows = args, binding_rows(name, args)
                lay_out(machine, task, instance)
                run(machine, oracle, max_steps=64 * task.width)
                a, b, where = instance.a, instance.b, f"{name}{binding} {instance.a}, {instance.b}"
                if name == "COMPARE":
                    verdict = machine.grid[2, UNITS]
                    assert verdict == (GREATER if a > b else LESS if a < b else EQUALS), where
                    continue
                out = machine.grid[instance.rows[3]]
                assert read_number(out) == (a + b if name == "ADD" else a - b), where


def test_bindings_follow_the_callers_row_sharing():
    in_place = BINDINGS["ADD"].index(("OUT", "PART", "CARRY", "OUT"))
    assert binding_rows("ADD", in_place) == [0, 1, 2, 0]
    assert binding_rows("SUB", BINDINGS["SUB"].index(("Y", "X", "CARRY", "Z"))) == [0, 1, 2, 3]
    assert binding_rows("EVAL", 0) == list(range(12))  # no caller: one row per role


@pytest.mark.parametrize("name", ["ADD", "SUB", "COMPARE"])
def test_all_bindings_are_drawn_seeded_and_solved(name):
    env, twin = AECEnv(name, level=3, bindings="all"), AECEnv(name, level=3, bindings="all")
    seen = []
    for seed in range(60):
        obs, _ = env.reset(seed=seed)
        assert twin.reset(seed=seed)[0]["args"] == obs["args"]
        top = env.machine.top
        shared = BINDINGS[name][obs["args"]]
        assert top.rows[: len(shared)].tolist() == binding_rows(name, int(obs["args"]))
        seen.append(int(obs["args"]))
        while True:
            obs, reward, terminated, truncated, info = env.step(oracle(obs))
            if terminated or truncated:
                break
        assert info["is_success"] and reward == 1.0
    assert sorted(set(seen)) == list(range(len(BINDINGS[name])))
    assert AECEnv(name).reset(seed=0)[0]["args"] == 0  # the default stays args 0


def test_in_place_addition_with_digit_rewards():
    env = AECEnv("ADD", level=4, bindings="all", reward_mode="digit", curriculum=False)
    in_place = 0
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        in_place += env.machine.top.rows[3] == env.machine.top.rows[0]
        total, digits = 0.0, len(str(env.instance.a + env.instance.b))
        while True:
            obs, reward, terminated, truncated, info = env.step(oracle(obs))
            total += reward
            if terminated or truncated:
                break
        assert info["is_success"] and total == digits  # +1 per correct digit, on IN1's row
    assert in_place > 0


def test_unknown_binding_mode_is_refused():
    with pytest.raises(ValueError, match=r"bindings must be one of \('default', 'all'\), got 's'"):
        AECEnv("ADD", bindings="s")
