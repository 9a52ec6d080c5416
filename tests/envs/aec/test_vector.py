"""The batched AEC twins against ``SyncVectorEnv`` of single ``AECEnv``s, step for step."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from skillgym.envs.aec.env import AECEnv
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.skills import ACTION_RETURN, NUM_ACTIONS, call_action, skill_named
from skillgym.envs.aec.vector import AECVectorEnv, column_arithmetic, product_digits

NUM_ENVS = 8
# Per sub-env chance of following the oracle at a step (else a random legal or illegal action):
# the first ones succeed often enough to be promoted, the last ones almost never.
ORACLE = np.array([1.0, 1.0, 1.0, 0.99, 0.95, 0.8, 0.5, 0.0])


def make_pair(num_envs: int = NUM_ENVS, autoreset_mode=AutoresetMode.NEXT_STEP,
              **kwargs) -> tuple[AECVectorEnv, SyncVectorEnv]:
    batched = AECVectorEnv(num_envs, autoreset_mode=autoreset_mode, **kwargs)
    sync = SyncVectorEnv([lambda: AECEnv(**kwargs) for _ in range(num_envs)],
                         autoreset_mode=autoreset_mode)
    return batched, sync


def assert_same(mine, theirs, where: str) -> None:
    """Observations, rewards, terminations, truncations and infos of one step (or reset)."""
    mine, theirs = tuple(mine), tuple(theirs)
    assert mine[0].keys() == theirs[0].keys()
    for key in mine[0]:
        np.testing.assert_array_equal(mine[0][key], theirs[0][key], err_msg=f"obs {key} {where}")
    assert len(mine) == len(theirs)
    for name, a, b in zip(("reward", "terminated", "truncated"), mine[1:-1], theirs[1:-1],
                          strict=False):
        np.testing.assert_array_equal(a, b, err_msg=f"{name} {where}")
    assert_same_info(mine[-1], theirs[-1], where)


def assert_same_info(infos: dict, expected: dict, where: str) -> None:
    """Vector infos, key by key: masks, values and dtypes; ``final_info`` in depth and
    ``final_obs`` observation by observation (same-step autoresets)."""
    assert infos.keys() == expected.keys(), where
    for key in infos:
        if isinstance(expected[key], dict):
            assert_same_info(infos[key], expected[key], f"{key} {where}")
        elif key == "final_obs":
            for row, (obs, theirs) in enumerate(zip(infos[key], expected[key], strict=True)):
                assert (obs is None) == (theirs is None), f"final_obs {row} {where}"
                if obs is not None:
                    assert_same((obs, {}), (theirs, {}), f"final_obs {row} {where}")
        else:
            assert infos[key].tolist() == expected[key].tolist(), f"info {key} {where}"
            assert infos[key].dtype == expected[key].dtype, f"info {key} dtype {where}"


def mixed_actions(obs: dict, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per sub-env: the oracle's action with probability ``ORACLE``, else random (legal or not)."""
    legal = np.flatnonzero(mask)
    actions = np.where(rng.random(NUM_ENVS) < 0.8, rng.choice(legal, NUM_ENVS),
                       rng.integers(0, NUM_ACTIONS, NUM_ENVS))
    follow = rng.random(NUM_ENVS) < ORACLE
    for i in np.flatnonzero(follow):
        actions[i] = oracle({key: value[i] for key, value in obs.items()}, mask)
    return actions


@pytest.mark.parametrize(
    "kwargs, steps",
    [
        ({"skill": "ADD"}, 800),
        ({"skill": "ADD", "max_level": 1}, 800),
        ({"skill": "ADD", "bindings": "all", "reward_mode": "digit", "level": 3}, 400),
        ({"skill": "SUB", "bindings": "all", "level": 3}, 400),
        ({"skill": "MUL", "bindings": "all", "level": 2}, 300),
        ({"skill": "SUB", "level": 4}, 500),
        ({"skill": "MUL", "level": 2}, 500),
        ({"skill": "Add", "level": 6, "reward_mode": "digit", "grid_obs": True}, 300),
        ({"skill": "SUB", "reward_mode": "digit", "max_steps_factor": 1.5, "curriculum": False,
          "illegal_penalty": 0.25}, 300),
    ],
    ids=["add-curriculum", "add-max-level", "add-bindings-digit", "sub-bindings", "mul-bindings",
         "sub", "mul", "add-digit-grid", "sub-digit"],
)
@pytest.mark.parametrize("autoreset_mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP],
                         ids=["next-step", "same-step"])
def test_batched_matches_sync_vector_env(kwargs, steps, autoreset_mode):
    batched, sync = make_pair(autoreset_mode=autoreset_mode, **kwargs)
    assert batched.observation_space == sync.observation_space
    assert batched.action_space == sync.action_space
    assert batched.metadata["autoreset_mode"] == sync.metadata["autoreset_mode"]
    rng = np.random.default_rng(1)
    obs, _ = batched.reset(seed=7)
    assert_same(batched.reset(seed=7), sync.reset(seed=7), "after reset")
    mask = batched.action_masks()[0]
    np.testing.assert_array_equal(mask, sync.envs[0].action_masks())
    outcomes, rewards = [], set()
    for t in range(steps):
        if t == steps // 2:  # reseed mid-episode: curricula survive, episodes restart
            seeds = [3, None] * (NUM_ENVS // 2)
            assert_same(batched.reset(seed=seeds), sync.reset(seed=seeds), f"reseed at {t}")
        if t == 3 * steps // 4:
            options = {"reset_mask": np.arange(NUM_ENVS) % 3 == 1}
            assert_same(batched.reset(options=dict(options)), sync.reset(options=options), t)
        actions = mixed_actions(obs, mask, rng)
        out = batched.step(actions)
        assert_same(out, sync.step(actions), f"at step {t}")
        obs = out[0]
        ended = out[4].get("final_info", out[4])  # a same-step reset's are the final infos
        outcomes += ended.get("is_success", np.zeros(0))[ended.get("_is_success", [])].tolist()
        rewards |= set(out[1].tolist())
    np.testing.assert_array_equal(batched.level, [env.level for env in sync.envs])
    assert any(outcomes) and not all(outcomes)  # the run saw successes and failures
    if "max_level" in kwargs:  # ... and the curriculum held at max_level
        assert batched.level.max() == kwargs["max_level"]
    elif kwargs.get("curriculum", True) and kwargs.get("level", 1) == 1:
        assert batched.level.max() > 1  # ... and curriculum promotions
    # ... and every kind of reward: illegal actions, right and wrong writes, success
    assert -kwargs.get("illegal_penalty", 0.1) in rewards
    assert ({1.0, -0.5} if kwargs.get("reward_mode") == "digit" else {1.0}) <= rewards


def test_level_option_resets_the_curriculum_level():
    batched, sync = make_pair(skill="MUL")
    options = {"level": 8}
    assert_same(batched.reset(seed=0, options=options), sync.reset(seed=0, options=options), "")
    assert batched.level.tolist() == [8] * NUM_ENVS
    rng = np.random.default_rng(0)
    mask = batched.action_masks()[0]
    obs = batched._observe()
    for t in range(60):
        actions = mixed_actions(obs, mask, rng)
        out = batched.step(actions)
        assert_same(out, sync.step(actions), f"at step {t}")
        obs = out[0]


def test_restarts_at_several_levels_in_one_step_match():
    """Sub-envs at different levels that restart together: one draw per level present."""
    batched, sync = make_pair(4, skill="SUB", curriculum=False)
    assert_same(batched.reset(seed=5), sync.reset(seed=5), "after reset")
    for level, rows in ((3, [1, 2]), (6, [3])):
        options = {"level": level, "reset_mask": np.isin(np.arange(4), rows)}
        assert_same(batched.reset(options=dict(options)), sync.reset(options=options), level)
    returns = np.full(4, ACTION_RETURN)
    for t in range(4):  # every sub-env returns at once, then all restart at once
        assert_same(batched.step(returns), sync.step(returns), f"at step {t}")
    assert batched.level.tolist() == [1, 3, 3, 6]


def test_child_timeouts_match():
    """MUL's pointers pushed to the pad's edge make its ADD child loop until the step limit."""
    batched, sync = make_pair(2, skill="MUL", level=8)
    assert_same(batched.reset(seed=0), sync.reset(seed=0), "after reset")
    mul = skill_named("MUL")
    shift = call_action("LSHIFT", ("IN2", "CARRY", "PART", "OUT"))
    muld = call_action("MULD", ("IN1", "IN2", "CARRY", "PART"))
    add = call_action("ADD", ("OUT", "PART", "CARRY", "OUT"))
    script = [shift] * (AECEnv(skill=mul.name).task.width - 2) + [muld, add, shift, add]
    timeouts = []
    for t, action in enumerate(script):
        actions = np.full(2, action)
        out = batched.step(actions)
        assert_same(out, sync.step(actions), f"at step {t}")
        timeouts += out[4].get("child_timeouts", np.array([None, None])).tolist()
    assert ["ADD"] in timeouts


@pytest.mark.parametrize("skill, fix, unit", [("ADD", "CARRY", "ADD1"), ("SUB", "BORROW", "SUB1")])
def test_pointers_at_the_pad_edge_match(skill, fix, unit):
    """Shifted past the last column, pointers stop there; CARRY's step up then fails."""
    batched, sync = make_pair(2, skill=skill, max_steps_factor=60.0)
    assert_same(batched.reset(seed=0), sync.reset(seed=0), "after reset")
    shift = call_action("LSHIFT", ("IN1", "IN2", "CARRY", "OUT"))
    fix, unit = call_action(fix, ("CARRY",)), call_action(unit, ("IN1", "IN2", "CARRY", "OUT"))
    width = AECEnv(skill=skill).task.width
    script = [shift] * (width + 2) + [fix, unit, fix, fix, unit, ACTION_RETURN]
    for t, action in enumerate(script):
        actions = np.full(2, action)
        assert_same(batched.step(actions), sync.step(actions), f"at step {t}")
    # The first CARRY at the edge cannot step up, so it comes back one column lower.
    assert batched._ptrs[0, 2] == width - 2


def test_oracle_solves_every_batched_episode():
    envs = AECVectorEnv(64, skill="MUL", level=8, curriculum=False)
    obs, _ = envs.reset(seed=0)
    mask = envs.action_masks()[0]
    finished = 0
    while finished < 128:
        actions = np.array([oracle({k: v[i] for k, v in obs.items()}, mask) for i in range(64)])
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        assert not truncated.any()
        assert (rewards[terminated] == 1.0).all()
        finished += int(terminated.sum())


def test_batched_arithmetic_against_python_integers():
    rng = np.random.default_rng(0)
    da, db = rng.integers(0, 10, (200, 20)), rng.integers(0, 10, (200, 20))
    da[:, 12:] = 0  # a shorter operand on half of the columns: carries run into zeros

    def value(digits: np.ndarray) -> int:
        return int("".join(map(str, digits[::-1].tolist())))

    total, carries = column_arithmetic(da, db, subtract=False)
    difference, borrows = column_arithmetic(db, da, subtract=True)
    product = product_digits(da, db)
    for i in range(200):
        a, b = value(da[i]), value(db[i])
        assert value(total[i]) == a + b
        assert value(difference[i]) == b - a  # b > a: a has at most 12 digits
        assert value(product[i]) == a * b
        carry, count = 0, 0
        for column in range(21):  # carries, counted the slow way
            carry = int(int(da[i, column] if column < 20 else 0)
                        + int(db[i, column] if column < 20 else 0) + carry >= 10)
            count += carry
        assert carries[i].sum() == count
        assert borrows[i, -1] == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"skill": "DIV"}, r"batched twins exist for \['ADD', 'SUB', 'MUL'\]"),
        ({"skill": "ADD", "child_policies": {"ADD1": oracle}},
         "learned child policies are for the single"),
        ({"skill": "ADD", "num_envs": 0}, "num_envs must be an integer >= 1"),
        ({"skill": "ADD", "reward_mode": "dense"}, "reward_mode must be one of"),
        ({"skill": "MUL", "reward_mode": "digit"}, "digit"),
        ({"skill": "ADD", "autoreset_mode": "Disabled"},
         r"autoreset_mode must be one of \['NextStep', 'SameStep'\], got 'Disabled'"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AECVectorEnv(**kwargs)


def test_bad_steps_and_resets_are_named():
    envs = AECVectorEnv(4, skill="ADD", illegal_action="raise")
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match=r"level for ADD must be an integer in 1..8"):
        envs.reset(options={"level": 9})
    with pytest.raises(ValueError, match="known keys are 'level' and 'reset_mask'"):
        envs.reset(options={"difficulty": 2})
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must be integers of shape \(4,\)"):
        envs.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=f"actions must be in 0..{NUM_ACTIONS - 1}"):
        envs.step(np.full(4, NUM_ACTIONS))
    legal = np.flatnonzero(envs.action_masks()[0])
    actions = np.full(4, legal[0])
    actions[2] = 0  # MOVE(IN1, +1): not one of ADD's actions
    with pytest.raises(ValueError, match=r"actions \[0\] of sub-envs \[2\] are not allowed"):
        envs.step(actions)


def test_digit_reward_pays_each_result_cell_once():
    """Calling ADD1 over and over on one column rewrites the same right digit: +1 the first time
    only, in the twin as in the single env (else looping out-earns finishing the sum)."""
    batched, sync = make_pair(skill="ADD", level=1, reward_mode="digit", curriculum=False)
    add1 = call_action("ADD1", ("IN1", "IN2", "CARRY", "OUT"))
    actions = np.full(NUM_ENVS, add1)
    assert_same(batched.reset(seed=0), sync.reset(seed=0), "after reset")
    rewards = []
    for t in range(3):  # within the time limit of a 1-digit sum (2x its 3 or 4 oracle steps)
        out = batched.step(actions)
        assert_same(out, sync.step(actions), f"at step {t}")
        rewards.append(out[1])
    np.testing.assert_array_equal(rewards[0], np.ones(NUM_ENVS))
    np.testing.assert_array_equal(rewards[1:], np.zeros((2, NUM_ENVS)))
