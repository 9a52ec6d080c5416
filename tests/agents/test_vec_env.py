"""GymnasiumVecEnv: the checks of SB3's own VecEnv tests; DummyVecEnv's results step for step."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

import skillgym  # noqa: F401  (registers the ids)
from skillgym.agents.vec_env import GymnasiumVecEnv, fill_infos
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.skills import ACTION_RETURN

NUM_ENVS = 8
MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]


def twin(env_id: str, num_envs: int = NUM_ENVS, **kwargs) -> GymnasiumVecEnv:
    """The adapter over ``env_id``'s natively batched twin."""
    return GymnasiumVecEnv(
        gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    )


def singles(env_id: str, num_envs: int = NUM_ENVS, **kwargs) -> DummyVecEnv:
    """SB3's ``DummyVecEnv`` of ``env_id``'s single envs."""
    return DummyVecEnv([functools.partial(gym.make, env_id, **kwargs)] * num_envs)


def short_cartpole() -> gym.Env:
    """CartPole cut at 12 steps, so that random play both terminates and truncates."""
    return gym.make("CartPole-v1", max_episode_steps=12)


def assert_same_obs(mine, theirs, where: str) -> None:
    if isinstance(theirs, dict):
        assert mine.keys() == theirs.keys(), where
        for key in theirs:
            np.testing.assert_array_equal(mine[key], theirs[key], err_msg=f"obs {key} {where}")
    else:
        np.testing.assert_array_equal(mine, theirs, err_msg=f"obs {where}")


def same(mine, theirs) -> bool:
    """Equal infos: the same keys and types of containers, equal arrays and scalars."""
    if isinstance(theirs, dict):
        return (isinstance(mine, dict) and mine.keys() == theirs.keys()
                and all(same(mine[key], theirs[key]) for key in theirs))
    if isinstance(theirs, (list, tuple)):
        return (type(mine) is type(theirs) and len(mine) == len(theirs)
                and all(same(a, b) for a, b in zip(mine, theirs, strict=True)))
    return bool(np.array_equal(mine, theirs))


def assert_same_step(mine: tuple, theirs: tuple, where: str) -> None:
    """Observations, rewards, dones and infos (terminal observations included) of one step."""
    assert_same_obs(mine[0], theirs[0], where)
    for name, a, b in zip(("rewards", "dones"), mine[1:3], theirs[1:3], strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{name} {where}")
        assert a.dtype == b.dtype and a.shape == (len(b),), f"{name} {where}"
    assert same(mine[3], theirs[3]), f"infos {where}: {mine[3]} != {theirs[3]}"


def play(mine, theirs, choose, steps: int, reseed_at: int | None = None) -> list[dict]:
    """Step both with the same actions and compare every step; the infos of every done."""
    mine.seed(11)
    theirs.seed(11)
    assert_same_obs(mine.reset(), theirs.reset(), "after reset")
    assert same(mine.reset_infos, theirs.reset_infos)
    rng = np.random.default_rng(0)
    obs, ended = theirs._obs_from_buf(), []
    for t in range(steps):
        if t == reseed_at:  # reseeding in the middle of episodes
            mine.seed(3)
            theirs.seed(3)
            obs = theirs.reset()
            assert_same_obs(mine.reset(), obs, f"reseed at {t}")
        actions = choose(obs, rng)
        out = mine.step(actions)
        expected = theirs.step(actions)
        assert_same_step(out, expected, f"at step {t}")
        assert same(mine.reset_infos, theirs.reset_infos), f"reset infos at {t}"
        obs = expected[0]
        ended += [info for info, done in zip(out[3], out[2], strict=True) if done]
    return ended


def aec_actions(env: DummyVecEnv):
    """Per sub-env: the oracle (0-2), never returning (3-4: truncations), or random legal."""
    def choose(obs: dict, rng: np.random.Generator) -> np.ndarray:
        masks = get_action_masks(env)
        actions = np.array([rng.choice(np.flatnonzero(mask)) for mask in masks])
        for i in range(3):
            if rng.random() < 0.95:
                actions[i] = oracle({key: value[i] for key, value in obs.items()}, masks[i])
        stalling = np.flatnonzero(masks[0] & (np.arange(len(masks[0])) != ACTION_RETURN))
        actions[3:5] = rng.choice(stalling, 2)
        return actions
    return choose


@pytest.mark.parametrize(
    "env_id, kwargs",
    [("skillgym/AEC-Add-v0", {}),
     ("skillgym/AEC-Sub-v0", {"reward_mode": "digit", "bindings": "all", "level": 3,
                              "grid_obs": True})],
    ids=["add", "sub-digit-bindings-grid"],
)
def test_aec_twin_equals_dummy_vec_env(env_id, kwargs):
    mine, theirs = twin(env_id, **kwargs), singles(env_id, **kwargs)
    assert mine.observation_space == theirs.observation_space
    assert mine.action_space == theirs.action_space
    ended = play(mine, theirs, aec_actions(theirs), 200, reseed_at=100)
    # the run saw successes, failures and time limits, each with its terminal observation
    assert {info["is_success"] for info in ended} == {True, False}
    assert {info["TimeLimit.truncated"] for info in ended} == {True, False}
    assert all(mine.observation_space.contains(info["terminal_observation"]) for info in ended)


@pytest.mark.parametrize("env_id", ["skillgym/Copy-v1", "skillgym/ReversedAddition-v1"])
def test_algorithmic_twin_equals_dummy_vec_env(env_id):
    mine, theirs = twin(env_id), singles(env_id)
    assert mine.observation_space == theirs.observation_space
    assert mine.action_space == theirs.action_space

    def choose(obs, rng):
        # half the sub-envs write the right symbol (read from the single envs), half at random
        actions = np.stack([theirs.action_space.sample() for _ in range(NUM_ENVS)])
        for i, env in enumerate(theirs.envs[: NUM_ENVS // 2]):
            single = env.unwrapped
            if single.write_head < len(single.target) and rng.random() < 0.9:
                actions[i, 1:] = (1, single.target[single.write_head])
        return actions

    theirs.action_space.seed(0)
    ended = play(mine, theirs, choose, 200, reseed_at=100)
    assert len(ended) > 2 * NUM_ENVS
    np.testing.assert_array_equal(mine.get_attr("min_length"), theirs.get_attr("min_length"))


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.name)
def test_sync_vector_env_equals_dummy_vec_env_in_every_autoreset_mode(mode):
    mine = GymnasiumVecEnv(SyncVectorEnv([short_cartpole] * NUM_ENVS, autoreset_mode=mode))
    assert mine.autoreset_mode == mode
    theirs = DummyVecEnv([short_cartpole] * NUM_ENVS)
    ended = play(mine, theirs, lambda obs, rng: rng.integers(0, 2, NUM_ENVS), 200, reseed_at=90)
    assert {info["TimeLimit.truncated"] for info in ended} == {True, False}


# ---------------------------------------------------------------------- SB3's VecEnv tests


class StepEnv(gym.Env):
    """Observes the number of steps taken before this one; the episode ends after ``max_steps``."""

    def __init__(self, max_steps: int) -> None:
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(0, 999, (1,), dtype=np.int64)
        self.max_steps = max_steps
        self.current_step = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.current_step = 0
        return np.array([0]), {}

    def step(self, action):
        previous = self.current_step
        self.current_step += 1
        done = self.current_step >= self.max_steps
        return np.array([previous]), 0.0, done, done, {}


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.name)
def test_terminal_observation_on_every_done(mode):
    """SB3's ``test_vecenv_terminal_obs``: episodes of 5, 6 and 7 steps."""
    lengths = [5, 6, 7]
    env = GymnasiumVecEnv(
        SyncVectorEnv([functools.partial(StepEnv, n) for n in lengths], autoreset_mode=mode)
    )
    previous = env.reset()
    for step in range(1, 2 * max(lengths) + 1):
        obs, rewards, dones, infos = env.step(np.zeros(3, dtype=np.int64))
        assert obs.shape == (3, 1) and rewards.shape == dones.shape == (3,) and len(infos) == 3
        for i, length in enumerate(lengths):
            assert dones[i] == (step % length == 0)
            if dones[i]:
                np.testing.assert_array_equal(infos[i]["terminal_observation"], previous[i] + 1)
                assert obs[i, 0] == 0
                assert infos[i]["TimeLimit.truncated"] is False  # terminated and truncated
            else:
                assert "terminal_observation" not in infos[i]
        previous = obs


class CustomEnv(gym.Env):
    """SB3's ``CustomGymEnv``: random observations of any space, episodes of 4 steps."""

    def __init__(self, space: spaces.Space, render_mode: str = "rgb_array") -> None:
        self.action_space = space
        self.observation_space = space
        self.render_mode = render_mode
        self.current_step = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.observation_space.seed(seed)
        self.current_step = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.current_step += 1
        done = self.current_step >= 4
        return self.observation_space.sample(), float(self.np_random.random()), done, done, {}

    def render(self):
        return np.full((4, 4, 3), self.current_step, dtype=np.uint8)

    @staticmethod
    def custom_method(dim_0=1, dim_1=1):
        return np.ones((dim_0, dim_1))


SPACES = {
    "discrete": spaces.Discrete(2),
    "multidiscrete": spaces.MultiDiscrete([2, 3]),
    "multibinary": spaces.MultiBinary(3),
    "continuous": spaces.Box(0.0, 1.0, (2,), dtype=np.float32),
}


def custom_vec_env(space: spaces.Space, num_envs: int = 3, **kwargs) -> GymnasiumVecEnv:
    return GymnasiumVecEnv(SyncVectorEnv([lambda: CustomEnv(space)] * num_envs, **kwargs))


def check_rows(obs: np.ndarray, space: spaces.Space) -> None:
    assert obs.shape[0] == 3
    assert all(space.contains(value) for value in obs)


@pytest.mark.parametrize("space", [*SPACES.values(), spaces.Dict(SPACES),
                                   spaces.Tuple(tuple(SPACES.values()))],
                         ids=[*SPACES, "dict", "tuple"])
def test_observations_of_every_space(space):
    """SB3's ``test_vecenv_single_space``, ``_dict_spaces`` and ``_tuple_spaces``."""
    env = custom_vec_env(space)
    assert env.observation_space == space and env.action_space == space

    def check(obs):
        if isinstance(space, spaces.Dict):
            assert obs.keys() == space.keys()
            for key, values in obs.items():
                check_rows(values, space[key])
        elif isinstance(space, spaces.Tuple):
            assert isinstance(obs, tuple) and len(obs) == len(space)
            for values, inner in zip(obs, space, strict=True):
                check_rows(values, inner)
        else:
            check_rows(obs, space)

    check(env.reset())
    dones = np.zeros(3, dtype=bool)
    while not dones.any():
        obs, rewards, dones, infos = env.step(env.venv.action_space.sample())
        check(obs)
        assert rewards.dtype == np.float32 and dones.dtype == np.bool_
    assert all(space.contains(info["terminal_observation"]) for info in infos)


def test_custom_calls_reach_the_single_envs():
    """SB3's ``test_vecenv_custom_calls`` and ``test_render`` over ``SyncVectorEnv``."""
    env = custom_vec_env(spaces.Box(0.0, 1.0, (2,), dtype=np.float32))
    env.seed(0)
    env.reset()
    assert env.render_mode == "rgb_array"
    assert [image.shape for image in env.get_images()] == [(4, 4, 3)] * 3
    assert env.render().shape == (8, 8, 3)  # three 4x4 frames tiled 2x2
    with pytest.warns(UserWarning):
        env.render(mode="something_else")
    results = env.env_method("custom_method", 1, indices=None, dim_1=2)
    assert [result.tolist() for result in results] == [[[1.0, 1.0]]] * 3
    assert len(env.env_method("custom_method", 1, indices=[0, 2], dim_1=3)) == 2
    for i in range(3):
        assert env.set_attr("current_step", i, indices=i) is None
    assert env.get_attr("current_step") == [0, 1, 2]
    env.set_attr("current_step", 42)
    assert env.get_attr("current_step") == [42] * 3
    env.reset()
    env.set_attr("current_step", 12, indices=[0, -1])
    assert env.get_attr("current_step") == [12, 0, 12]
    assert env.get_attr("current_step", indices=[-1]) == [12]
    assert env.has_attr("custom_method") and not env.has_attr("no_such_attribute")


def test_batched_attributes_and_methods_are_split_per_sub_env():
    env = twin("skillgym/AEC-Add-v0", 4, curriculum=False, level=3)
    env.reset()
    env.venv.reset(options={"level": 5, "reset_mask": np.array([False, True, False, True])})
    assert env.get_attr("level") == [3, 5, 3, 5]
    assert env.get_attr("level", indices=[-1, 0]) == [5, 3]
    assert env.get_attr("reward_mode", indices=[1, 2]) == ["sparse", "sparse"]
    masks = env.env_method("action_masks", indices=[0, -1])
    assert len(masks) == 2
    single = gym.make("skillgym/AEC-Add-v0").unwrapped
    np.testing.assert_array_equal(masks[1], single.action_masks())
    assert env.get_attr("render_mode") == [None] * 4 and env.render_mode is None
    with pytest.warns(UserWarning, match="rgb_array"):
        assert env.get_images() == [None] * 4
    env.set_attr("illegal_penalty", 0.5)
    assert env.venv.illegal_penalty == 0.5
    with pytest.raises(ValueError, match="indices: AECVectorEnv holds one 'illegal_penalty'"):
        env.set_attr("illegal_penalty", 0.25, indices=[0, 1])
    with pytest.raises(AttributeError, match="no_such_attribute"):
        env.get_attr("no_such_attribute")
    assert not env.has_attr("no_such_attribute")
    assert env.env_is_wrapped(Monitor) == [False] * 4
    env.close()
    assert env.venv.closed


def test_env_is_wrapped_asks_each_single_env():
    """SB3's ``test_vec_env_is_wrapped``."""
    def plain():
        return CustomEnv(spaces.Discrete(2))

    def monitored():
        return Monitor(CustomEnv(spaces.Discrete(2)))

    assert GymnasiumVecEnv(SyncVectorEnv([plain, monitored])).env_is_wrapped(Monitor) == [
        False, True
    ]


def test_seed_applies_at_the_next_reset_only():
    """SB3's ``test_vec_deterministic`` and ``test_vec_seeding``, and ``set_options``."""
    env = twin("skillgym/AEC-Add-v0", 4, curriculum=False, level=5)
    raw = gym.make_vec("skillgym/AEC-Add-v0", num_envs=4, vectorization_mode="vector_entry_point",
                       curriculum=False, level=5)
    assert env.seed(3) == [3, 4, 5, 6]
    obs = env.reset()
    assert_same_obs(obs, raw.reset(seed=3)[0], "seed 3")
    assert env._seeds == [None] * 4  # used once
    env.seed(3)
    assert_same_obs(env.reset(), obs, "seed 3 again")
    assert not np.array_equal(env.reset()["tokens"], obs["tokens"])  # unseeded: next problems
    env.seed()  # a random seed, a different one per sub-env
    tokens = env.reset()["tokens"]
    assert len({row.tobytes() for row in tokens}) > 1
    env.set_options({"level": 2})
    env.reset()
    assert [info["level"] for info in env.reset_infos] == [2] * 4
    env.reset()  # options are used once too
    env.set_options([{"level": 2}, {"level": 3}, {}, {}])
    with pytest.raises(ValueError, match="one options dict for all sub-environments"):
        env.reset()


def test_maskable_ppo_learns_on_the_adapter():
    env = twin("skillgym/AEC-Add-v0", 8)
    assert is_masking_supported(env)
    model = MaskablePPO("MultiInputPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0,
                        policy_kwargs={"net_arch": [16]})
    model.learn(256)
    assert model.num_timesteps == 256
    buffer = model.rollout_buffer
    mask = env.venv.action_masks()[0]
    masks = buffer.action_masks.reshape(-1, len(mask))
    np.testing.assert_array_equal(masks, np.broadcast_to(mask, masks.shape))
    # every sampled action was a legal one (4 of the 304)
    assert mask[buffer.actions.astype(np.int64).ravel()].all()


def test_fill_infos_keeps_only_masked_entries_and_nested_dicts():
    infos = {
        "x": np.array([1.0, 2.0, 3.0]), "_x": np.array([True, False, True]),
        "grid": np.arange(6).reshape(3, 2), "_grid": np.array([False, True, False]),
        "stats": {"n": np.array([0, 5, 0]), "_n": np.array([False, True, False])},
        "_stats": np.array([False, True, False]),
    }
    per_env = fill_infos([{} for _ in range(3)], infos)
    np.testing.assert_equal(per_env, [{"x": 1.0}, {"grid": np.array([2, 3]), "stats": {"n": 5}},
                                      {"x": 3.0}])
    assert type(per_env[0]["x"]) is float


class NoModeVectorEnv(VectorEnv):
    """A vector env that does not say how it auto-resets."""

    metadata = {}
    num_envs = 2


def test_bad_input_is_refused_with_a_clear_error():
    single = "venv must be a gymnasium.vector.VectorEnv, got TimeLimit \\(a single env"
    with pytest.raises(TypeError, match=single):
        GymnasiumVecEnv(gym.make("CartPole-v1"))
    with pytest.raises(TypeError, match="venv is already a stable-baselines3 VecEnv"):
        GymnasiumVecEnv(DummyVecEnv([short_cartpole]))
    with pytest.raises(TypeError, match="got list"):
        GymnasiumVecEnv([short_cartpole])
    with pytest.raises(ValueError, match=r"does not declare metadata\['autoreset_mode'\]"):
        GymnasiumVecEnv(NoModeVectorEnv())
    weird = NoModeVectorEnv()
    weird.metadata = {"autoreset_mode": "sometimes"}
    with pytest.raises(ValueError, match="must be one of .*got 'sometimes'"):
        GymnasiumVecEnv(weird)
