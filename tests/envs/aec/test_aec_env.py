"""AECEnv: seeding, masks, illegal actions, rewards, truncation, curriculum, child policies and
bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env

from skillgym.envs.aec import AECEnv, oracle
from skillgym.envs.aec.skills import (
    ACTION_RETURN,
    NUM_ACTIONS,
    call_action,
    skill_named,
    write_action,
)
from skillgym.envs.aec.solve import lay_out, oracle_machine, run
from skillgym.envs.aec.tasks import TASKS
from skillgym.envs.aec.tokens import BLANK, UNITS
from skillgym.envs.rendering import text_to_rgb

COLUMN = ("IN1", "IN2", "CARRY", "OUT")


def rollout(env, seed, steps=200, policy_seed=0):
    """A trajectory of masked random actions, as arrays, across episode boundaries."""
    rng = np.random.default_rng(policy_seed)
    obs, _ = env.reset(seed=seed)
    record = [obs["tokens"].copy()]
    for _ in range(steps):
        action = rng.choice(np.flatnonzero(env.action_masks()))
        obs, reward, terminated, truncated, _ = env.step(action)
        record += [obs["tokens"].copy(), np.array([reward, obs["prev_action"]])]
        if terminated or truncated:
            obs, _ = env.reset()
            record.append(obs["tokens"].copy())
    return record


def run_oracle_episode(env, seed=None, options=None):
    obs, _ = env.reset(seed=seed, options=options)
    rewards = []
    while True:
        obs, reward, terminated, truncated, info = env.step(oracle(obs))
        rewards.append(reward)
        if terminated or truncated:
            return rewards, terminated, info


@pytest.mark.parametrize("skill", ["ADD", "MUL", "EVAL", "LSHIFT"])
def test_same_seed_same_trajectory(skill):
    first = rollout(AECEnv(skill, level=2 if skill != "LSHIFT" else 1), seed=7)
    again = rollout(AECEnv(skill, level=2 if skill != "LSHIFT" else 1), seed=7)
    other = rollout(AECEnv(skill, level=2 if skill != "LSHIFT" else 1), seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert len(first) != len(other) or not all(
        np.array_equal(x, y) for x, y in zip(first, other, strict=True)
    )


def test_episodes_are_drawn_from_the_key_and_an_episode_counter():
    env = AECEnv("ADD", level=8, curriculum=False)
    env.reset(seed=3)
    first = env.instance
    env.reset()
    second = env.instance
    env.reset(seed=3)
    assert (env.instance.a, env.instance.b) == (first.a, first.b)
    assert (second.a, second.b) != (first.a, first.b)
    assert TASKS["ADD"].sample(env._key, 1, 8).a == second.a


def test_check_env_with_the_grid_observation():
    env = AECEnv("DIV", grid_obs=True)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["grid"], env.machine.grid[:-1])
    assert obs in env.observation_space


def test_mask_allows_only_the_skills_own_actions():
    env = AECEnv("ADD")
    allowed = set(np.flatnonzero(env.action_masks()).tolist())
    assert allowed == {
        call_action("CARRY", ("CARRY",)),
        call_action("ADD1", COLUMN),
        call_action("LSHIFT", COLUMN),
        ACTION_RETURN,
    }


def test_illegal_action_is_a_noop_with_a_penalty():
    env = AECEnv("ADD1", illegal_penalty=0.25)
    obs, _ = env.reset(seed=1)
    grid = env.machine.grid.copy()
    illegal = call_action("ADD1", COLUMN)  # ADD1 cannot call itself
    obs2, reward, terminated, truncated, info = env.step(illegal)
    assert info["illegal_action"] is True
    assert reward == -0.25 and not terminated
    np.testing.assert_array_equal(env.machine.grid, grid)
    assert obs2["prev_action"] == obs["prev_action"] == NUM_ACTIONS


def test_illegal_action_raise_names_the_action_and_the_allowed_ones():
    env = AECEnv("CARRY", illegal_action="raise")
    env.reset(seed=0)
    illegal = write_action(skill_named("CARRY"), "CARRY", 5)
    with pytest.raises(ValueError, match=rf"action {illegal} is not allowed for skill CARRY"):
        env.step(illegal)
    with pytest.raises(ValueError, match=r"allowed: \[.*MOVE\(CARRY, \+1\).*WRITE\(CARRY, 1\)"):
        env.step(illegal)


@pytest.mark.parametrize("mode", ["noop", "raise"])
def test_actions_outside_the_space_are_refused(mode):
    env = AECEnv("ADD", illegal_action=mode)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=rf"action must be in \[0, {NUM_ACTIONS}\), got -1"):
        env.step(-1)


def test_stepping_a_finished_episode_asks_for_reset():
    env = AECEnv("ADD")
    env.reset(seed=0)
    env.step(ACTION_RETURN)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(ACTION_RETURN)


def test_sparse_reward_pays_one_for_a_correct_return_only():
    env = AECEnv("SUB", level=5, curriculum=False)
    rewards, terminated, info = run_oracle_episode(env, seed=4)
    assert terminated and info["is_success"] and rewards == [0.0] * (len(rewards) - 1) + [1.0]
    env.reset(seed=4)
    _, reward, terminated, _, info = env.step(ACTION_RETURN)
    assert terminated and reward == 0.0 and info["is_success"] is False


def test_digit_reward_scores_each_result_write():
    env = AECEnv("ADD", level=6, reward_mode="digit", curriculum=False)
    rewards, terminated, info = run_oracle_episode(env, seed=2)
    assert terminated and info["is_success"]
    assert sum(rewards) == len(str(env.instance.a + env.instance.b))


def test_digit_reward_scores_result_rows_only():
    env = AECEnv("ADD1", reward_mode="digit")
    for seed in range(40):  # until the column has a carry to consume
        env.reset(seed=seed)
        if env.instance.cells["CARRY"] != BLANK:
            break
    obs = env.reset(seed=seed)[0]
    rewards = []
    while True:
        obs, reward, terminated, truncated, info = env.step(oracle(obs))
        rewards.append(reward)
        if terminated or truncated:
            break
    assert info["is_success"] and rewards == [1.0, 0.0, 0.0]  # OUT, then the carry, then RETURN


def test_digit_reward_ends_on_a_wrong_write():
    env = AECEnv("ADD1", reward_mode="digit")
    env.reset(seed=0)
    right = TASKS["ADD1"].targets(env.instance)["OUT"][UNITS]
    wrong = write_action(skill_named("ADD1"), "OUT", (right + 1) % 10)
    _, reward, terminated, _, _ = env.step(wrong)
    assert reward == -0.5 and terminated


@pytest.mark.parametrize("mode", ["sparse", "digit"])
def test_truncation_at_k_times_the_oracle_steps(mode):
    env = AECEnv("ADD", level=4, reward_mode=mode, max_steps_factor=1.5, curriculum=False)
    env.reset(seed=6)
    machine = oracle_machine(TASKS["ADD"])
    lay_out(machine, TASKS["ADD"], env.instance)
    limit = math.ceil(1.5 * run(machine, oracle, 10_000))
    shift = call_action("LSHIFT", COLUMN)  # walks off the numbers; never returns
    for step in range(1, limit + 1):
        _, reward, terminated, truncated, _ = env.step(shift)
        assert not terminated
        assert truncated == (step == limit)
    assert reward == (-1.0 if mode == "digit" else 0.0)


@pytest.mark.parametrize("name", ["ADD", "SUB", "MUL"])
def test_closed_form_oracle_steps_match_the_oracle(name):
    task = TASKS[name]
    machine = oracle_machine(task)
    for level in range(1, len(task.levels) + 1, 2):
        for counter in range(15):
            instance = task.sample(np.uint64(11), counter, level)
            lay_out(machine, task, instance)
            assert task.oracle_steps(instance) == run(machine, oracle, 100_000)


def test_curriculum_promotes_after_95_percent_of_100_episodes():
    env = AECEnv("ADD")
    env.reset(seed=0)
    for _ in range(100):
        _, _, info = run_oracle_episode(env)
        assert info["level"] == 1
    env.reset()
    assert env.level == 2
    fixed = AECEnv("ADD", curriculum=False)
    fixed.reset(seed=0)
    for _ in range(101):
        run_oracle_episode(fixed)
    assert fixed.level == 1


def test_curriculum_stops_at_max_level():
    env = AECEnv("ADD", level=2, max_level=2)
    env.reset(seed=0)
    for _ in range(101):
        _, _, info = run_oracle_episode(env)
        assert info["is_success"] and info["level"] == 2
    assert env.level == 2
    with pytest.raises(ValueError, match=r"level for ADD must be an integer in 1\.\.2 \(max"):
        env.reset(options={"level": 3})
    assert AECEnv("ADD").max_level == 8


def test_failures_hold_the_level_back():
    env = AECEnv("ADD")
    env.reset(seed=0)
    for episode in range(100):
        if episode % 10 == 0:  # 90 % success
            env.reset()
            env.step(ACTION_RETURN)
        else:
            run_oracle_episode(env)
    env.reset()
    assert env.level == 1


def test_reset_option_sets_the_level():
    env = AECEnv("MUL")
    env.reset(seed=0, options={"level": 8})
    assert env.level == 8 and len(str(env.instance.a)) == 20 and len(str(env.instance.b)) == 20
    with pytest.raises(ValueError, match=r"level for MUL must be an integer in 1\.\.8 .*, got 9"):
        env.reset(options={"level": 9})
    with pytest.raises(ValueError, match=r"the only key is 'level', got \['lvl'\]"):
        env.reset(options={"lvl": 2})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"skill": "POW"}, "skill must be one of"),
        ({"level": 0}, r"level for ADD must be an integer in 1\.\.8 \(max_level 8 .*got 0"),
        ({"skill": "Eval", "level": 7}, r"1\.\.6 \(max_level 6 of 6 levels\), got 7"),
        ({"max_level": 9}, r"max_level for ADD must be an integer in 1\.\.8, got 9"),
        ({"max_level": 0}, r"max_level for ADD must be an integer in 1\.\.8, got 0"),
        ({"max_level": 2.5}, r"max_level for ADD must be an integer in 1\.\.8, got 2\.5"),
        ({"level": 4, "max_level": 3}, r"level for ADD must be an integer in 1\.\.3 \(max_level 3"),
        ({"reward_mode": "dense"}, "reward_mode must be one of"),
        ({"skill": "MUL", "reward_mode": "digit"}, "MUL rewrites its result cells"),
        ({"illegal_action": "ignore"}, "illegal_action must be one of"),
        ({"max_steps_factor": 0}, "max_steps_factor must be > 0"),
        ({"child_policies": {"POW1": oracle}}, "unknown skill 'POW1'"),
        ({"child_policies": {"ADD1": 3}}, r"child_policies\['ADD1'\] must be callable"),
        ({"child_step_limit": 0}, "child_step_limit must be an integer >= 1"),
        ({"illegal_penalty": -1.0}, "illegal_penalty must be finite and >= 0"),
        ({"render_mode": "human"}, r"render_mode must be None or one of \['ansi', 'rgb_array'\]"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AECEnv(**kwargs)


def test_child_policies_run_inside_one_call():
    calls = []

    def counting(obs, mask):
        calls.append(int(obs["depth"]))
        return oracle(obs, mask)

    env = AECEnv("MUL", level=3, child_policies={"ADD1": counting}, curriculum=False)
    rewards, terminated, info = run_oracle_episode(env, seed=0)
    assert info["is_success"] and calls and set(calls) == {2}  # MUL -> ADD -> ADD1


def test_a_child_over_its_step_limit_ends_the_call():
    skill = skill_named("ADD1")
    stuck = write_action(skill, "CARRY", BLANK)  # legal for ADD1, never returns

    env = AECEnv("ADD", child_policies={"ADD1": lambda obs, mask: stuck}, child_step_limit=5)
    obs, _ = env.reset(seed=0)
    obs, _, terminated, _, info = env.step(call_action("ADD1", COLUMN))
    assert info["child_timeouts"] == ["ADD1"] and not terminated
    assert obs["prev_action"] == call_action("ADD1", COLUMN) and obs["depth"] == 0


def test_render_ansi_shows_every_role_and_pointer():
    env = AECEnv("ADD", level=3, render_mode="ansi", curriculum=False)
    env.reset(seed=0)
    text = env.render()
    assert all(role in text for role in COLUMN) and text.count("^") == 4
    assert str(env.instance.a) in text.replace("_", "")


@pytest.mark.parametrize("seed", range(4))
def test_render_shows_only_the_columns_in_use(seed):
    env = AECEnv("ADD", level=3, render_mode="ansi", curriculum=False)
    env.reset(seed=seed)
    a, b = str(env.instance.a), str(env.instance.b)
    digits = max(len(a), len(b))  # the margin, then the longer operand's digits
    lines = env.render().split("\n")
    assert lines[0] == f"{'IN1':>7} " + a.rjust(digits, "_") + "_"
    assert lines[2] == f"{'IN2':>7} " + b.rjust(digits, "_") + "_"
    assert lines[1] == lines[3] == f"{'':>7} " + " " * (digits - 1) + "^"  # on the units
    # after the oracle's episode the pointers sit one column past the sum, which is shown too
    run_oracle_episode(env, seed=seed)
    total = str(env.instance.a + env.instance.b)
    lines = env.render().split("\n")
    assert lines[6:] == [f"{'OUT':>7} _{total}_", f"{'':>7} ^"]


def test_render_rgb_array_draws_the_ansi_text():
    pictures = AECEnv("MUL", level=2, render_mode="rgb_array")
    text = AECEnv("MUL", level=2, render_mode="ansi")
    pictures.reset(seed=3)
    text.reset(seed=3)
    image = pictures.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    np.testing.assert_array_equal(image, text_to_rgb(text.render()))


def test_make_vec_env_with_its_default_rgb_array_render_mode():
    vec = make_vec_env("skillgym/AEC-Add-v0", n_envs=2, seed=0)
    vec.reset()
    _, rewards, _, _ = vec.step(np.full(2, call_action("ADD1", COLUMN)))
    assert rewards.shape == (2,)
    images = vec.get_images()
    assert len(images) == 2 and all(image.ndim == 3 for image in images)
