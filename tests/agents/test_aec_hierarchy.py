"""The skill hierarchy's parts: training order, oracle traces, cloning, policies, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.vec_env import DummyVecEnv

from skillgym.agents.aec_hierarchy import (
    CurriculumTracker,
    Hierarchy,
    behaviour_clone,
    bottom_up,
    callers_of,
    level_accuracy,
    oracle_demonstrations,
)
from skillgym.envs.aec import AECEnv, oracle
from skillgym.envs.aec.child_policy import SkillPolicy
from skillgym.envs.aec.skills import MASKS, SKILL_INDEX, call_action, skill_named


def test_bottom_up_puts_every_callee_before_its_callers():
    order = bottom_up(["MUL"])
    assert set(order) == {"ADD1", "CARRY", "LSHIFT", "MUL1", "ADD", "MULD", "MUL"}
    for position, name in enumerate(order):
        for child, _ in skill_named(name).children:
            assert order.index(child) < position
    assert bottom_up(["ADD", "ADD1"]) == bottom_up(["ADD"])
    with pytest.raises(ValueError, match="skill must be one of"):
        bottom_up(["ADDD"])
    assert callers_of("CARRY", ["MUL"]) == ["ADD", "MUL"]


def test_demonstrations_hold_the_oracles_action_in_the_callers_states_too():
    own = oracle_demonstrations("CARRY", {}, 20, seed=0)
    with_callers = oracle_demonstrations("CARRY", {"ADD": 2}, 20, seed=0, callers=["ADD"])
    # ADD calls CARRY before ADD1 consumes the carry: a state CARRY's own task never starts in.
    def starts(demos):
        first = demos.observations["prev_action"] == MASKS.shape[1]
        return {int(t) for t in demos.observations["tokens"][first, 0]}
    assert starts(own) == {10}
    assert starts(with_callers) == {10, 1}
    for demos in (own, with_callers):
        assert demos.steps >= len(demos.actions)
        assert (demos.observations["depth"] == 0).all()
        for i in range(len(demos.actions)):
            obs = {name: values[i] for name, values in demos.observations.items()}
            assert demos.actions[i] == oracle(obs, None)


def test_evals_warm_start_rounds_negative_inexact_quotients_down():
    # After DIV with opposite signs, EVAL checks the remainder: with one it adds 1 to the
    # quotient's magnitude (floor division), without it only negates. Both must be imitated.
    demos = oracle_demonstrations("EVAL", {"EVAL": 5}, 50, seed=0)
    checked = demos.observations["prev_action"] == call_action("COMPARE", ("X", "ZERO", "CMP"))
    rounded = demos.actions[checked] == call_action("ADD", ("Z", "ONE", "CARRY", "Z"))
    assert 0 < rounded.sum() < checked.sum()


def _cloned(skill: str, episodes: int, seed: int = 0) -> MaskablePPO:
    torch.manual_seed(seed)
    model = MaskablePPO("MultiInputPolicy", DummyVecEnv([lambda: AECEnv(skill)]), seed=seed,
                        policy_kwargs={"net_arch": [32]})
    demos = oracle_demonstrations(skill, {}, episodes, seed=seed)
    assert behaviour_clone(model.policy, demos, MASKS[SKILL_INDEX[skill]], epochs=300) == 1.0
    return model


@pytest.fixture(scope="module")
def carry_hierarchy() -> Hierarchy:
    hierarchy = Hierarchy()
    hierarchy.add("CARRY", _cloned("CARRY", 10).policy, 1)
    return hierarchy


def test_cloned_skill_solves_its_task_and_acts_as_a_child(carry_hierarchy):
    assert level_accuracy(carry_hierarchy, "CARRY", 1, 20) == 1.0
    # ADD with the learned CARRY as its child: long additions are still exact
    assert level_accuracy(carry_hierarchy, "ADD", 5, 20) == 1.0


def test_skill_policy_is_the_networks_argmax_at_any_depth(carry_hierarchy):
    policy = carry_hierarchy.policies["CARRY"]
    env = AECEnv("CARRY")
    obs, _ = env.reset(seed=0)
    for depth in (0, 2):
        seen = {**obs, "depth": depth}
        expected, _ = policy.policy.predict({k: np.asarray(v)[None] for k, v in
                                             {**obs, "depth": 0}.items()},
                                            deterministic=True, action_masks=env.action_masks())
        assert policy(seen, env.action_masks()) == int(expected[0]) == oracle(obs, None)


def test_hierarchy_saves_and_loads_to_the_same_actions(carry_hierarchy, tmp_path):
    carry_hierarchy.save(tmp_path / "h")
    loaded = Hierarchy.load(tmp_path / "h")
    assert loaded.skills == ["CARRY"] and loaded.levels == {"CARRY": 1}
    for name, value in carry_hierarchy.policies["CARRY"].policy.state_dict().items():
        assert torch.equal(value, loaded.policies["CARRY"].policy.state_dict()[name])
    assert loaded.answer("999 + 1") == 1000
    with pytest.raises(ValueError, match="holds no skill hierarchy"):
        Hierarchy.load(tmp_path / "missing")
    (tmp_path / "h" / "hierarchy.json").write_text('{"format": 99}')
    with pytest.raises(ValueError, match="format 99"):
        Hierarchy.load(tmp_path / "h")


def test_hierarchy_plays_an_env_through_predict(carry_hierarchy):
    env = carry_hierarchy.env("ADD", level=3, curriculum=False)
    obs, _ = env.reset(seed=1)
    done = False
    while not done:
        action, _ = carry_hierarchy.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(int(action))
        done = terminated or truncated
    assert info["is_success"]
    with pytest.raises(ValueError, match="deterministically"):
        carry_hierarchy.predict(obs, deterministic=False)


def test_a_wrong_skill_policy_is_measured_as_wrong():
    hierarchy = Hierarchy()
    # an untrained ADD1 network: the accuracy measure must see its mistakes
    torch.manual_seed(0)
    model = MaskablePPO("MultiInputPolicy", DummyVecEnv([lambda: AECEnv("ADD1")]), seed=0)
    hierarchy.policies["ADD1"] = SkillPolicy("ADD1", model.policy)
    assert level_accuracy(hierarchy, "ADD", 3, 20) < 0.5


def test_curriculum_tracker_counts_the_ended_episodes_at_the_top_level():
    tracker = CurriculumTracker(max_level=2, target=0.75, window=4, stop=True)

    def step(dones, infos, timesteps):
        tracker.locals = {"dones": np.array(dones), "infos": infos}
        tracker.num_timesteps = timesteps
        return tracker._on_step()

    top_win, top_loss = {"is_success": True, "level": 2}, {"is_success": False, "level": 2}
    low_win = {"is_success": True, "level": 1}
    # a row that has not ended is not counted, whatever its info says
    assert step([True, False, True], [top_win, top_loss, low_win], 10)
    assert step([True, True, False], [top_loss, top_win, top_loss], 20)
    assert list(tracker.top) == [True, False, True] and tracker.steps_to_target is None
    assert not step([False, True, False], [{}, top_win, {}], 30)  # 3 of the last 4: stop
    assert tracker.steps_to_target == 30
    assert tracker._rollout == [True, True, False, True, True]


def test_cloning_leaves_a_policy_already_confident_on_every_demonstration_as_it_is():
    model = _cloned("CARRY", 10)
    demos = oracle_demonstrations("CARRY", {}, 10, seed=0)
    before = [p.detach().clone() for p in model.policy.parameters()]
    assert behaviour_clone(model.policy, demos, MASKS[SKILL_INDEX["CARRY"]], epochs=5) == 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))
    # short of a confidence no policy reaches, it clones for every epoch it is given
    behaviour_clone(model.policy, demos, MASKS[SKILL_INDEX["CARRY"]], epochs=2, confidence=1.01)
    assert not all(torch.equal(a, b)
                   for a, b in zip(before, model.policy.parameters(), strict=True))
