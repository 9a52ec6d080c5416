"""Any legal action in any reachable state is handled: random legal play never raises.

A learning agent explores with exactly such actions (EVAL calling DIV before LOAD, MUL on the
wrong operands, …), so a child skill's oracle must cope with states its callers never set up.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from skillgym.envs.aec.oracle import RULES
from skillgym.envs.aec.skills import ACTION_RETURN, SKILL_INDEX, SKILLS, call_action
from skillgym.envs.aec.tasks import TASKS
from skillgym.envs.aec.tokens import BLANK, EQUALS

STEPS = 600


@pytest.mark.parametrize("skill", SKILLS, ids=[skill.name for skill in SKILLS])
def test_random_legal_play_never_raises(skill):
    rng = np.random.default_rng(7)
    levels = len(TASKS[skill.name].levels)
    for level in sorted({1, levels}):
        env = gym.make(f"skillgym/AEC-{skill.title}-v0", level=level, curriculum=False)
        env.reset(seed=level)
        episodes = 0
        for _ in range(STEPS):
            legal = np.flatnonzero(env.unwrapped.action_masks())
            _, reward, terminated, truncated, info = env.step(int(rng.choice(legal)))
            assert np.isfinite(reward) and not info["illegal_action"]
            if terminated or truncated:
                assert isinstance(info["is_success"], bool)
                episodes += 1
                env.reset()
        assert episodes > 0



def test_div_asked_to_divide_by_zero_returns_instead_of_a_tenth_quotient_digit():
    # DIV's state after nine subtractions of a zero divisor: REM unchanged, QUOT 9, not "<".
    divide = RULES[SKILL_INDEX["DIV"]]
    subtract = call_action("SUB", ("REM", "DIVISOR", "BORROW", "REM"))
    tokens = [5, 0, BLANK, 9, EQUALS]  # REM, DIVISOR, BORROW, QUOT, CMP under the pointers
    assert divide(tokens, subtract, 0) == ACTION_RETURN
