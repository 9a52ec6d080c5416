"""Keye-TextGen-v0: the API checks, the batched twin against SyncVectorEnv, observations,
terminal and per-token rewards against independent computations, and bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import skillgym  # noqa: F401  (registers the skillgym/ ids)
from skillgym.envs.keye.text_gen import TextGenEnv, TextGenVectorEnv
from skillgym.models.tokenizer import EOS, PAD, encode, encode_prompt
from skillgym.rewards import AccuracyReward, KeyeFormatReward, LoopPenalty, Sample

ID = "skillgym/Keye-TextGen-v0"
SMALL = {"pool_size": 5, "window": 160, "max_new_tokens": 64}


def write(env: TextGenEnv, text: str, eos: bool = True) -> tuple[float, bool, bool, dict]:
    """Write ``text`` (and EOS) token by token; the summed reward and the last step's flags."""
    total, terminated, truncated, info = 0.0, False, False, {}
    for token in [*encode(text), *([EOS] if eos else [])]:
        _, reward, terminated, truncated, info = env.step(token)
        total += reward
        if terminated or truncated:
            break
    return total, terminated, truncated, info


def test_check_env():
    check_env(gym.make(ID, **SMALL).unwrapped, skip_render_check=False)


@pytest.mark.parametrize("mode", ["think", "no_think"])
def test_a_correct_reply_earns_the_weighted_plugins(mode):
    env = TextGenEnv(modes=(mode,), **SMALL)
    env.reset(seed=3)
    answer = env.problem.answer
    reply = (f"<think>{answer}</think><answer>{answer}</answer>" if mode == "think"
             else str(answer))
    total, terminated, truncated, info = write(env, reply)
    assert terminated and not truncated
    sample = Sample.build(reply, prompt=env.prompt, ground_truth=answer)
    expected = (AccuracyReward().score(sample) + 0.2 * KeyeFormatReward().score(sample)
                + 0.5 * LoopPenalty().score(sample))
    assert total == pytest.approx(expected, abs=1e-12)
    assert info["accuracy"] == 1.0 and info["tokens"] == len(encode(reply)) + 1
    assert info["thinks"] == (mode == "think")


def test_a_wrong_reply_earns_no_accuracy():
    env = TextGenEnv(modes=("no_think",), **SMALL)
    env.reset(seed=4)
    _, terminated, _, info = write(env, str(env.problem.answer + 1))
    assert terminated and info["accuracy"] == 0.0


def test_observation_is_the_right_aligned_context_with_the_prompt_mask():
    env = TextGenEnv(**SMALL)
    observation, _ = env.reset(seed=5)
    prompt = encode_prompt([{"role": "user", "content": env.prompt}])
    tokens, mask = observation["tokens"], observation["prompt_mask"]
    assert tokens.shape == mask.shape == (160,)
    np.testing.assert_array_equal(tokens[-len(prompt):], prompt)
    assert (tokens[:-len(prompt)] == PAD).all()
    np.testing.assert_array_equal(mask, np.r_[np.zeros(160 - len(prompt)), np.ones(len(prompt))])
    observation, *_ = env.step(ord("7"))
    np.testing.assert_array_equal(observation["tokens"][-len(prompt) - 1:], [*prompt, ord("7")])
    assert observation["prompt_mask"][-1] == 0 and observation["prompt_mask"][-2] == 1


def test_a_reply_is_truncated_at_max_new_tokens_and_scored():
    env = TextGenEnv(**SMALL)
    env.reset(seed=6)
    _, terminated, truncated, info = write(env, "1" * 70, eos=False)
    assert truncated and not terminated and info["tokens"] == 64


def brute_force_dense(reply: list[int], n: int = 3) -> float:
    """-1 for every token inside some n-gram occurrence that occurred earlier in the reply."""
    penalized = set()
    for start in range(len(reply) - n + 1):
        gram = reply[start:start + n]
        if any(reply[earlier:earlier + n] == gram for earlier in range(start)):
            penalized.update(range(start, start + n))
    return -float(len(penalized))


def test_per_token_repetition_rewards_add_up_to_the_replys_dense_penalty():
    weight = 0.25
    env = TextGenEnv(modes=("no_think",), rewards={"accuracy": 1.0}, dense_repetition=weight,
                     **SMALL)
    env.reset(seed=7)
    reply = "12312312 45 45 4"
    total, _, _, info = write(env, reply)
    dense = weight * brute_force_dense([*encode(reply), EOS])
    assert total - info["accuracy"] == pytest.approx(dense, abs=1e-12)
    assert dense < 0


def test_batched_twin_equals_sync_vector_env_step_for_step():
    kwargs = {**SMALL, "dense_repetition": 0.1}
    native = gym.make_vec(ID, num_envs=5, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(native.unwrapped, TextGenVectorEnv)
    sync = SyncVectorEnv([lambda: TextGenEnv(**kwargs)] * 5,
                         autoreset_mode=AutoresetMode.SAME_STEP)
    rng = np.random.default_rng(0)
    native_obs, _ = native.reset(seed=21)
    sync_obs, _ = sync.reset(seed=21)
    ended = 0
    for _ in range(80):
        for key in native_obs:
            np.testing.assert_array_equal(native_obs[key], sync_obs[key])
        # Digits, an answer tag, and EOS often enough that replies end and restart.
        actions = rng.choice([*encode("0123456789<>/"), EOS, EOS], size=5)
        native_obs, native_reward, native_done, native_trunc, native_info = native.step(actions)
        sync_obs, sync_reward, sync_done, sync_trunc, sync_info = sync.step(actions)
        np.testing.assert_array_equal(native_reward, sync_reward)
        np.testing.assert_array_equal(native_done, sync_done)
        np.testing.assert_array_equal(native_trunc, sync_trunc)
        if "final_info" in sync_info:
            ended += int((native_done | native_trunc).sum())
            for key in ("accuracy", "keye_format", "tokens", "level", "thinks"):
                np.testing.assert_array_equal(native_info["final_info"][key],
                                              sync_info["final_info"][key])
            for row in np.flatnonzero(native_done | native_trunc):
                np.testing.assert_array_equal(native_info["final_obs"][row]["tokens"],
                                              sync_info["final_obs"][row]["tokens"])
    assert ended > 20


def test_same_seed_same_problems_and_switches():
    env = TextGenEnv(**SMALL)
    first = []
    env.reset(seed=8)
    for _ in range(20):
        first.append(env.prompt)
        write(env, "", eos=True)
        env.reset()
    env.reset(seed=8)
    again = []
    for _ in range(20):
        again.append(env.prompt)
        write(env, "", eos=True)
        env.reset()
    assert first == again
    assert {prompt.rsplit(" ", 1)[-1] for prompt in first} == {"/think", "/no_think",
                                                               "/auto_think"}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"levels": [7]}, "levels must be"),
    ({"modes": ("think", "think")}, "modes must be distinct"),
    ({"modes": ("agentic",)}, "modes must be distinct"),
    ({"window": 20}, "raise window"),
    ({"max_new_tokens": 0}, "max_new_tokens must be"),
    ({"dense_repetition": -1.0}, "dense_repetition must be"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextGenEnv(**{**SMALL, **kwargs})


def test_bad_actions_and_steps_out_of_turn_are_refused():
    env = TextGenEnv(**SMALL)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(1)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be"):
        env.step(262)
    vector = TextGenVectorEnv(num_envs=2, **SMALL)
    vector.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be 2 ints"):
        vector.step(np.array([1, 262]))
