"""Keye-ModeSelect-v0: the API checks, the batched twin against SyncVectorEnv, rewards, the
response cache, and bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import skillgym  # noqa: F401  (registers the skillgym/ ids)
from skillgym.envs.keye.mode_select import PAD_ID, ModeSelectEnv, ModeSelectVectorEnv
from skillgym.models import CausalTransformer, SamplingParams, TransformerConfig
from skillgym.models.responders import BuiltinResponder, Response
from skillgym.models.response_cache import ResponseCache
from skillgym.rewards import AccuracyReward, KeyeFormatReward, LoopPenalty
from skillgym.rewards.parsing import with_switch

ID = "skillgym/Keye-ModeSelect-v0"


class ArithmeticResponder:
    """Answers exactly by Python's arithmetic: with thinking in Keye's form (which costs
    tokens), without it only when the expression has one operator, else a wrong number."""

    name = "arithmetic"

    def __init__(self) -> None:
        self.calls = 0

    def respond(self, prompts, modes, *, seed=0):
        self.calls += 1
        responses = []
        for prompt, mode in zip(prompts, modes, strict=True):
            text = prompt.removeprefix("Calculate ").removesuffix(".")
            value = eval(text.replace("/", "//"))  # the tasks' expressions are trusted here
            if mode == "think":
                reply = f"<think>{text}={value}</think><answer>{value}</answer>"
            else:
                simple = sum(text.count(op) for op in "+-*/") <= 1
                reply = str(value if simple else value + 1)
            responses.append(Response(reply, len(reply)))
        return responses


def _tiny_responder() -> BuiltinResponder:
    torch.manual_seed(0)
    model = CausalTransformer(TransformerConfig(n_layers=1, d_model=16, n_heads=2,
                                                context_length=128))
    return BuiltinResponder(model, SamplingParams(max_new_tokens=8, temperature=0.0))


def test_check_env_with_a_real_model():
    check_env(gym.make(ID, responder=_tiny_responder(), pool_size=5).unwrapped,
              skip_render_check=True)


def test_rewards_are_the_weighted_plugins_minus_the_token_cost():
    env = ModeSelectEnv(responder=ArithmeticResponder(), pool_size=20, token_cost=1e-3,
                        rewards={"accuracy": 1.0, "keye_format": 0.25, "loop": 0.5})
    for seed in range(20):
        env.reset(seed=seed)
        problem = env.problem
        for action, mode in enumerate(env.modes):
            env.reset(seed=seed)
            _, reward, terminated, truncated, info = env.step(action)
            text = ArithmeticResponder().respond([problem.prompt], [mode])[0].text
            prompt = with_switch(problem.prompt, mode)
            expected = (AccuracyReward()(text, ground_truth=problem.answer)
                        + 0.25 * KeyeFormatReward()(text, prompt=prompt)
                        + 0.5 * LoopPenalty()(text) - 1e-3 * len(text))
            assert reward == pytest.approx(expected, abs=1e-12)
            assert terminated and not truncated
            assert info["tokens"] == len(text) and info["level"] == problem.level
            assert info["thinks"] == (mode == "think")
            assert info["accuracy"] == (1.0 if mode == "think" or str(problem.answer) == text
                                        else 0.0)


def test_observation_is_the_prompt_bytes_and_their_counts():
    env = ModeSelectEnv(responder=ArithmeticResponder(), pool_size=10)
    observation, _ = env.reset(seed=4)
    data = env.problem.prompt.encode()
    assert observation["prompt"][:len(data)].tolist() == list(data)
    assert (observation["prompt"][len(data):] == PAD_ID).all()
    assert observation["features"][0] * 32 == len(data)
    assert observation["features"][1 + "0123456789+-*/(".index("*")] * 32 == data.count(b"*")


def test_same_seed_same_problems_and_levels_cover_the_choice():
    env = ModeSelectEnv(responder=ArithmeticResponder(), levels=[2, 5], pool_size=30)
    first = []
    env.reset(seed=7)
    for _ in range(30):
        first.append(env.problem.id)
        env.reset()
    env.reset(seed=7)
    again = []
    for _ in range(30):
        again.append(env.problem.id)
        env.reset()
    assert first == again
    assert {problem_id[:2] for problem_id in first} == {"L2", "L5"}


def test_batched_twin_equals_sync_vector_env_step_for_step():
    cache = ResponseCache()
    responder = ArithmeticResponder()
    kwargs = {"responder": responder, "pool_size": 25, "cache": cache,
              "modes": ("no_think", "think", "auto_think")}
    native = gym.make_vec(ID, num_envs=6, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(native.unwrapped, ModeSelectVectorEnv)
    sync = SyncVectorEnv([lambda: ModeSelectEnv(**kwargs)] * 6,
                         autoreset_mode=AutoresetMode.SAME_STEP)
    rng = np.random.default_rng(0)
    native_obs, _ = native.reset(seed=11)
    sync_obs, _ = sync.reset(seed=11)
    for _ in range(25):
        for key in native_obs:
            np.testing.assert_array_equal(native_obs[key], sync_obs[key])
        actions = rng.integers(0, 3, size=6)
        native_obs, native_reward, native_done, native_trunc, native_info = native.step(actions)
        sync_obs, sync_reward, sync_done, sync_trunc, sync_info = sync.step(actions)
        np.testing.assert_array_equal(native_reward, sync_reward)
        np.testing.assert_array_equal(native_done, sync_done)
        np.testing.assert_array_equal(native_trunc, sync_trunc)
        for key in ("accuracy", "tokens", "level", "thinks"):
            np.testing.assert_array_equal(native_info["final_info"][key],
                                          sync_info["final_info"][key])
        for ended_native, ended_sync in zip(native_info["final_obs"], sync_info["final_obs"],
                                            strict=True):
            np.testing.assert_array_equal(ended_native["prompt"], ended_sync["prompt"])


def test_the_cache_answers_repeated_prompts_without_the_responder(tmp_path):
    responder = ArithmeticResponder()
    cache = ResponseCache(tmp_path / "responses.jsonl")
    env = ModeSelectVectorEnv(num_envs=16, responder=responder, pool_size=3, levels=[3],
                              cache=cache)
    env.reset(seed=0)
    for _ in range(10):
        env.step(np.ones(16, dtype=np.int64))
    assert len(cache) == 3 and responder.calls <= 3
    reloaded = ResponseCache(tmp_path / "responses.jsonl")
    assert len(reloaded) == 3
    for key in [("arithmetic", "think", p.prompt, 0) for p in env._episodes.pool[0]]:
        assert key in reloaded


class BrokenResponder(ArithmeticResponder):
    """Returns one response too few, or raises."""

    def __init__(self, raises: bool) -> None:
        super().__init__()
        self.raises = raises

    def respond(self, prompts, modes, *, seed=0):
        if self.raises:
            raise RuntimeError("the model server is down")
        return super().respond(prompts, modes, seed=seed)[:-1]


@pytest.mark.parametrize("raises, error, message", [
    (True, RuntimeError, "'arithmetic' failed .* model server is down"),
    (False, ValueError, "returned 0 responses for 1 prompts"),
])
def test_a_broken_responder_is_named(raises, error, message):
    env = ModeSelectEnv(responder=BrokenResponder(raises), pool_size=3)
    env.reset(seed=0)
    with pytest.raises(error, match=message):
        env.step(0)


@pytest.mark.parametrize("kwargs, message", [
    ({"modes": ("no_think", "maybe")}, "modes must be"),
    ({"modes": ()}, "modes must be"),
    ({"levels": [0, 7]}, "levels must be"),
    ({"pool_size": 0}, "pool_size"),
    ({"token_cost": -1.0}, "token_cost"),
    ({"max_prompt_bytes": 8}, "does not fit max_prompt_bytes"),
    ({"rewards": {"no_such_reward": 1.0}}, "no_such_reward"),
    ({"responder": 42}, "responder must be"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        env = ModeSelectEnv(**{"pool_size": 3, "responder": ArithmeticResponder(), **kwargs})
        env.reset(seed=0)
        env.step(0)


def test_bad_actions_are_refused():
    env = ModeSelectEnv(responder=ArithmeticResponder(), pool_size=3)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be"):
        env.step(2)
    vector = ModeSelectVectorEnv(num_envs=2, responder=ArithmeticResponder(), pool_size=3)
    vector.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be 2 ints"):
        vector.step(np.array([0, 5]))
