"""AECEnv(actions="primitive"), the flat baseline: masks written out by hand, the oracle
hierarchy's expansion into primitives replayed flat, the truncation limit, the API checker,
seeding and bad arguments."""

from __future__ import annotations

import math
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import skillgym  # noqa: F401  (registers the ids)
from skillgym.envs.aec import AECEnv
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.skills import (
    ACTION_A,
    ACTION_B,
    ACTION_FIND,
    ACTION_KIND,
    ACTION_LOAD,
    ACTION_RETURN,
    ACTION_STORE,
    BINDINGS,
    CALL,
    FIND,
    LOAD,
    MASKS,
    MOVE,
    SKILL_INDEX,
    SKILLS,
    STORE,
    WRITE,
    action_name,
    move_action,
    skill_named,
    write_action,
)
from skillgym.envs.aec.solve import lay_out, oracle_machine, run
from skillgym.envs.aec.tokens import BLANK, EQUALS, GREATER, LESS, NEG

DIGITS = range(10)
EXPRESSION_OPS = {FIND: ACTION_FIND, LOAD: ACTION_LOAD, STORE: ACTION_STORE}


def expected(name: str, moves: dict[str, tuple[int, ...]], writes: dict[str, tuple]) -> set[str]:
    """Action names from a hand-written table: ``{role: directions}``, ``{role: tokens}``."""
    skill = skill_named(name)
    actions = {move_action(skill, role, d) for role, ds in moves.items() for d in ds}
    actions |= {write_action(skill, role, t) for role, ts in writes.items() for t in ts}
    actions.add(ACTION_RETURN)
    return {action_name(a, skill) for a in actions}


# Derived by hand from the skill table in docs/aec.md: each child's primitives renamed through
# its binding, unbound roles dropped, and the reverse of every move made inside a subroutine.
EXPECTED = {
    # ADD1: WRITE(OUT, 0-9), WRITE(CARRY, _); CARRY: MOVE(CARRY, +-1), WRITE(CARRY, 1);
    # LSHIFT(IN1 IN2 CARRY OUT): MOVE(each, +1). All macros: nothing to undo.
    "ADD": expected(
        "ADD",
        {"IN1": (1,), "IN2": (1,), "CARRY": (1, -1), "OUT": (1,)},
        {"OUT": DIGITS, "CARRY": (1, BLANK)},
    ),
    "SUB": expected(
        "SUB",
        {"IN1": (1,), "IN2": (1,), "CARRY": (1, -1), "OUT": (1,)},
        {"OUT": DIGITS, "CARRY": (1, BLANK)},
    ),
    # MULD(IN1 IN2 CARRY PART): MUL1's writes on PART and CARRY, LSHIFT(IN1 OUT) moves IN1 and
    # PART, undone after the call; ADD(OUT PART CARRY OUT): ADD's primitives on OUT, PART and
    # CARRY, moves undone; its own LSHIFT(IN2 CARRY PART OUT).
    "MUL": expected(
        "MUL",
        {"IN1": (1, -1), "IN2": (1,), "CARRY": (1, -1), "PART": (1, -1), "OUT": (1, -1)},
        {"PART": DIGITS, "OUT": DIGITS, "CARRY": (*range(1, 9), BLANK)},
    ),
    # COMPARE(REM DIVISOR CMP), SUB(REM DIVISOR BORROW REM), LSHIFT and RSHIFT(REM BORROW QUOT),
    # its own WRITE(QUOT, 0-9); the subroutines' moves of REM, DIVISOR and BORROW undone.
    "DIV": expected(
        "DIV",
        {"REM": (1, -1), "DIVISOR": (1, -1), "BORROW": (1, -1), "QUOT": (1, -1)},
        {
            "REM": DIGITS,
            "BORROW": (1, BLANK),
            "QUOT": DIGITS,
            "CMP": (EQUALS, LESS, GREATER),
        },
    ),
    # ADD/SUB on (X Y CARRY Z), (Y X CARRY Z), (Z ONE CARRY Z); MUL on (X Y CARRY PART Z); DIV on
    # (X Y CARRY Z CMP); COMPARE on (X Y CMP), (X ZERO CMP); all subroutines. Plus WRITE(SZ, ~).
    "EVAL": expected(
        "EVAL",
        {role: (1, -1) for role in ("X", "Y", "CARRY", "PART", "Z", "ONE", "ZERO")},
        {
            "X": DIGITS,
            "CARRY": (*range(1, 9), BLANK),
            "PART": DIGITS,
            "Z": DIGITS,
            "CMP": (EQUALS, LESS, GREATER),
            "SZ": (NEG,),
        },
    )
    | {"FIND", "LOAD", "STORE"},
    # a level-1 skill calls nothing: its own primitives
    "CARRY": expected("CARRY", {"CARRY": (1, -1)}, {"CARRY": (1,)}),
}


def allowed(env: AECEnv) -> set[str]:
    return {action_name(a, env.skill) for a in np.flatnonzero(env.action_masks())}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_primitive_mask_is_the_hand_written_set(name):
    env = AECEnv(name, actions="primitive")
    assert allowed(env) == EXPECTED[name]
    assert not any(ACTION_KIND[a] == CALL for a in np.flatnonzero(env.action_masks()))


def test_add_primitive_mask_counts_and_skill_mask_is_unchanged():
    assert len(EXPECTED["ADD"]) == 18
    env = AECEnv("ADD")
    assert np.array_equal(env.action_masks(), MASKS[SKILL_INDEX["ADD"]])
    assert allowed(env) == {
        "CALL(CARRY, CARRY)",
        "CALL(ADD1, IN1 IN2 CARRY OUT)",
        "CALL(LSHIFT, IN1 IN2 CARRY OUT)",
        "RETURN",
    }


@pytest.mark.parametrize("skill", [s.name for s in SKILLS if s.level == 1])
def test_a_skill_without_children_has_the_same_mask_either_way(skill):
    assert np.array_equal(
        AECEnv(skill, actions="primitive").action_masks(), AECEnv(skill).action_masks()
    )


# The expansion oracle: the hierarchy's primitives, replayed by a flat agent.


def top_role(frames, slot: int) -> str | None:
    """The top skill's role that ``slot`` of the innermost frame is bound to, through every
    caller's binding (``None`` if a binding on the way leaves it unbound)."""
    role = SKILLS[frames[-1].skill].roles[slot]
    for frame in frames[:0:-1]:
        callee = SKILLS[frame.skill]
        binding = BINDINGS[callee.name][frame.args]
        index = callee.roles.index(role)
        if index >= len(binding):
            return None
        role = binding[index]
    return role


def hierarchy_primitives(task, instance) -> tuple[list[tuple], np.ndarray]:
    """Run the oracle hierarchy on ``instance``; every primitive it executes at any depth as
    ``(kind, top role, pointer column before it, b)``, and the final pad."""
    log: list[tuple] = []

    def recording(obs, mask):
        action = oracle(obs, mask)
        kind = ACTION_KIND[action]
        if kind in (MOVE, WRITE):
            frame, slot = machine.top, ACTION_A[action]
            log.append(
                (kind, top_role(machine.frames, slot), int(frame.ptrs[slot]), ACTION_B[action])
            )
        elif kind in EXPRESSION_OPS:
            log.append((kind, None, None, 0))
        return action

    machine = oracle_machine(task, policy=recording)
    lay_out(machine, task, instance)
    run(machine, recording, max_steps=64 * task.width**2)
    return log, machine.grid.copy()


def flat_replay(skill, log: list[tuple], start_ptrs: list[int], width: int) -> list[int]:
    """The hierarchy's primitives as one flat action sequence in ``skill``'s roles, ending in
    RETURN.

    Not a pure relabelling. A flat agent has one pointer per role of ``skill``, where the
    hierarchy gives each frame its own: a subroutine's moves are undone at its return, and two
    child roles bound to one caller role (ADD's IN1 and OUT under ``ADD(OUT PART CARRY OUT)``)
    move one flat pointer twice. So each primitive is replayed at the column the hierarchy used:
    before a WRITE the flat pointer is moved to the column written, and a MOVE becomes the moves
    that bring the flat pointer to where the hierarchy's pointer went (none if it is there
    already). Primitives on unbound roles cannot touch the pad and are left out.
    """
    ptrs = dict(zip(skill.roles, start_ptrs, strict=True))
    actions = []
    for kind, role, column, b in log:
        if kind in EXPRESSION_OPS:
            actions.append(EXPRESSION_OPS[kind])
            continue
        if role is None:
            continue
        target = column if kind == WRITE else min(max(column + b, 0), width - 1)
        while ptrs[role] != target:
            step = 1 if target > ptrs[role] else -1
            actions.append(move_action(skill, role, step))
            ptrs[role] += step
        if kind == WRITE:
            actions.append(write_action(skill, role, b))
    actions.append(ACTION_RETURN)
    return actions


EPISODES = 50


@pytest.mark.parametrize("level", [1, 2, 3])
@pytest.mark.parametrize("name", ["ADD", "SUB", "MULD", "MUL", "COMPARE", "DIV", "EVAL"])
def test_the_expanded_oracle_solves_the_flat_task(name, level):
    env = AECEnv(name, level=level, curriculum=False, actions="primitive", illegal_action="raise")
    for episode in range(EPISODES):
        env.reset(seed=1000 * level + episode)
        log, hierarchy_grid = hierarchy_primitives(env.task, env.instance)
        actions = flat_replay(env.skill, log, env.instance.ptrs, env.task.width)
        for i, action in enumerate(actions):
            _, reward, terminated, truncated, info = env.step(action)
            assert not truncated, (name, level, episode, i, len(actions))
            if terminated:
                break
        assert i == len(actions) - 1 and action == ACTION_RETURN
        assert info["is_success"] and reward == 1.0
        assert np.array_equal(env.machine.grid, hierarchy_grid)


@pytest.mark.parametrize("name", ["ADD", "SUB", "MULD"])
def test_the_digit_reward_scores_the_flat_writes(name):
    env = AECEnv(name, level=3, curriculum=False, actions="primitive", reward_mode="digit")
    for episode in range(10):
        env.reset(seed=episode)
        log, _ = hierarchy_primitives(env.task, env.instance)
        out_writes = sum(kind == WRITE and role == "OUT" for kind, role, _, _ in log)
        rewards, ends = [], []
        for action in flat_replay(env.skill, log, env.instance.ptrs, env.task.width):
            _, reward, terminated, truncated, info = env.step(action)
            rewards.append(reward)
            ends.append(terminated or truncated)
        assert ends[-1] and not any(ends[:-1]) and info["is_success"]
        assert min(rewards) == 0.0 and sum(rewards) == out_writes > 0


@pytest.mark.parametrize(("name", "level"), [("ADD", 2), ("MUL", 3), ("DIV", 2), ("EVAL", 3)])
def test_truncation_is_the_factor_times_the_primitive_step_count(name, level):
    """Harmless moves until truncation: the limit is ceil(factor x (hierarchy primitives + 1))."""
    factor = 1.5
    env = AECEnv(name, level=level, curriculum=False, actions="primitive", max_steps_factor=factor)
    move = next(a for a in np.flatnonzero(env.action_masks()) if ACTION_KIND[a] == MOVE)
    for episode in range(5):
        env.reset(seed=episode)
        log, _ = hierarchy_primitives(env.task, env.instance)
        steps = 1
        while not env.step(move)[3]:
            steps += 1
        assert steps == math.ceil(factor * (len(log) + 1))


def test_calls_are_illegal_in_primitive_mode():
    env = AECEnv("ADD", actions="primitive")
    env.reset(seed=0)
    grid = env.machine.grid.copy()
    call = next(a for a in np.flatnonzero(MASKS[SKILL_INDEX["ADD"]]) if ACTION_KIND[a] == CALL)
    _, reward, terminated, _, info = env.step(call)
    assert info["illegal_action"] and reward == -env.illegal_penalty and not terminated
    assert np.array_equal(env.machine.grid, grid)
    with pytest.raises(ValueError, match="not allowed for skill ADD"):
        strict = AECEnv("ADD", actions="primitive", illegal_action="raise")
        strict.reset(seed=0)
        strict.step(call)


# API, seeding and bad input


@pytest.mark.parametrize("env_id", ["AEC-Add-v0", "AEC-Mul-v0", "AEC-Div-v0", "AEC-Eval-v0"])
def test_check_env(env_id):
    env = gym.make(f"skillgym/{env_id}", actions="primitive")
    check_env(env.unwrapped, skip_render_check=True)


def rollout(env, seed: int, steps: int = 300) -> list:
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=seed)
    record = [obs["tokens"].copy()]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(
            rng.choice(np.flatnonzero(env.action_masks()))
        )
        record.append(
            np.concatenate([obs["tokens"], [reward, obs["prev_action"], terminated, truncated]])
        )
        if terminated or truncated:
            obs, _ = env.reset()
            record.append(obs["tokens"].copy())
    return record


@pytest.mark.parametrize("name", ["ADD", "DIV"])
def test_same_seed_same_episodes(name):
    first = rollout(AECEnv(name, level=2, actions="primitive"), seed=11)
    again = rollout(AECEnv(name, level=2, actions="primitive"), seed=11)
    other = rollout(AECEnv(name, level=2, actions="primitive"), seed=12)
    assert len(first) == len(again)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert len(first) != len(other) or not all(
        np.array_equal(x, y) for x, y in zip(first, other, strict=True)
    )


def test_a_pickled_copy_keeps_the_primitive_mask():
    """A copy taken mid-episode continues as the original, reverse moves still legal."""
    env = AECEnv("MUL", level=3, curriculum=False, actions="primitive")
    env.reset(seed=5)
    log, _ = hierarchy_primitives(env.task, env.instance)
    actions = flat_replay(env.skill, log, env.instance.ptrs, env.task.width)
    half = len(actions) // 2
    for action in actions[:half]:
        env.step(action)
    twin = pickle.loads(pickle.dumps(env))
    rest = [twin.step(action) for action in actions[half:]]
    assert [r[1:4] for r in rest] == [env.step(action)[1:4] for action in actions[half:]]
    assert rest[-1][4]["is_success"] and not any(r[4]["illegal_action"] for r in rest)
    assert any(action_name(a, env.skill).endswith("-1)") for a in actions[half:])


def test_bad_actions_argument():
    with pytest.raises(
        ValueError, match=r"actions must be one of \('skill', 'primitive'\), got 'foo'"
    ):
        AECEnv("ADD", actions="foo")
    with pytest.raises(ValueError, match="no effect with actions='primitive'"):
        AECEnv("ADD", actions="primitive", child_policies={"ADD1": oracle})
    with pytest.raises(ValueError, match="no effect with actions='primitive'"):
        AECEnv("ADD", actions="primitive", child_step_limit=10)


def test_the_batched_twin_refuses_the_actions_argument():
    with pytest.raises(ValueError, match="actions"):
        gym.make_vec(
            "skillgym/AEC-Add-v0",
            num_envs=2,
            vectorization_mode="vector_entry_point",
            actions="primitive",
        )
