"""The single algorithmic envs against an independent transcription of the original Gym rules."""

from __future__ import annotations

import numpy as np
import pytest

from skillgym.envs.algorithmic import (
    CopyEnv,
    DuplicatedInputEnv,
    RepeatCopyEnv,
    ReversedAdditionEnv,
    ReversedAdditionVectorEnv,
    ReverseEnv,
)


def oracle_target(env) -> list[int]:
    """The target string from the input with Python lists and integers only."""
    data = env.input_data.tolist()
    if isinstance(env, CopyEnv):
        return data
    if isinstance(env, ReverseEnv):
        return data[::-1]
    if isinstance(env, RepeatCopyEnv):
        return data + data[::-1] + data
    if isinstance(env, DuplicatedInputEnv):
        return data[:: env.task.duplication]
    base, width = env.task.base, len(data)
    total = sum(digit * base**column for column, col in enumerate(data) for digit in col)
    digits = [(total // base**column) % base for column in range(width)]
    return digits + ([total // base**width] if total >= base**width else [])


def oracle_time_limit(env, target: list[int]) -> int:
    """The original's time limits: width + target + 4, ReversedAddition 2 * width + 4."""
    width = len(env.input_data)
    return 2 * width + 4 if isinstance(env, ReversedAdditionEnv) else width + len(target) + 4


# (start, window, threshold) of each original task's curriculum.
CURRICULA = {
    CopyEnv: (2, 10, -1.0),
    RepeatCopyEnv: (2, 50, -0.1),
    ReverseEnv: (1, 50, -0.1),
    ReversedAdditionEnv: (2, 10, -1.0),
    DuplicatedInputEnv: (2, 10, -1.0),
}

ENVS = [
    pytest.param(lambda: CopyEnv(), id="Copy"),
    pytest.param(lambda: RepeatCopyEnv(), id="RepeatCopy"),
    pytest.param(lambda: ReverseEnv(), id="Reverse"),
    pytest.param(lambda: ReversedAdditionEnv(rows=2), id="ReversedAddition"),
    pytest.param(lambda: ReversedAdditionEnv(rows=3), id="ReversedAddition3"),
    pytest.param(lambda: DuplicatedInputEnv(), id="DuplicatedInput"),
    pytest.param(lambda: DuplicatedInputEnv(duplication=3, base=4), id="DuplicatedInput3"),
]


class OriginalEpisode:
    """gym 0.21's ``AlgorithmicEnv.step`` transcribed to Python scalars on a given input."""

    MOVES = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}

    def __init__(self, env, target: list[int]) -> None:
        self.data = env.input_data.tolist()
        self.grid = isinstance(env, ReversedAdditionEnv)
        self.base, self.movements = env.task.base, env.task.movements
        self.target, self.time_limit = target, oracle_time_limit(env, target)
        self.x = self.y = self.write = self.time = 0
        self.total = 0.0

    def obs(self) -> int:
        if self.x < 0 or self.y < 0 or self.x >= len(self.data):
            return self.base
        if not self.grid:
            return self.data[self.x]
        return self.data[self.x][self.y] if self.y < len(self.data[self.x]) else self.base

    def step(self, move: int, write: int, symbol: int) -> tuple[int, float, bool]:
        reward, done = 0.0, False
        self.time += 1
        if write == 1:
            if symbol == self.target[self.write]:
                reward = 1.0
            else:
                reward, done = -0.5, True
            self.write += 1
            done = done or self.write >= len(self.target)
        dx, dy = self.MOVES[self.movements[move]]
        self.x, self.y = self.x + dx, self.y + dy
        if self.time > self.time_limit:
            reward, done = -1.0, True
        self.total += reward
        return self.obs(), reward, done


class OriginalCurriculum:
    """gym 0.21's ``_check_levelup``: a list of the last ``window`` shortfalls."""

    def __init__(self, start: int, window: int, threshold: float) -> None:
        self.min_length, self.window, self.threshold = start, window, threshold
        self.shortfalls: list[float] = []

    def record(self, total: float, target_length: int) -> None:
        self.shortfalls = (self.shortfalls + [total - target_length])[-self.window :]
        if (
            len(self.shortfalls) == self.window
            and min(self.shortfalls) >= self.threshold
            and self.min_length < 30
        ):
            self.min_length += 1
            self.shortfalls = []


def policy(env, rng: np.random.Generator, mode: str) -> np.ndarray:
    """``perfect`` writes the next target symbol, ``idle`` never writes, ``random`` is uniform."""
    move = int(rng.integers(len(env.task.movements)))
    if mode == "perfect":
        return np.array([move, 1, env.target[env.write_head]])
    if mode == "idle":
        return np.array([move, 0, 0])
    return env.action_space.sample()


def width_range(env, min_length: int) -> set[int]:
    """Possible input widths for a curriculum length: ``min_length + {0, 1, 2}``, runs rounded."""
    lengths = {min_length + offset for offset in range(3)}
    if isinstance(env, DuplicatedInputEnv):
        dup = env.task.duplication
        return {max(length, dup) // dup * dup for length in lengths}
    return lengths


@pytest.mark.parametrize("make", ENVS)
def test_every_step_matches_the_original_rules(make):
    env = make()
    env.action_space.seed(5)
    rng = np.random.default_rng(5)
    curriculum = OriginalCurriculum(*CURRICULA[type(env)])
    obs, _ = env.reset(seed=11)
    modes = ["perfect"] * 7 + ["random", "idle", "random"]
    for episode in range(300):
        target = oracle_target(env)
        assert env.target.tolist() == target
        assert env.time_limit == oracle_time_limit(env, target)
        assert env.min_length == curriculum.min_length
        assert len(env.input_data) in width_range(env, curriculum.min_length)
        reference = OriginalEpisode(env, target)
        assert obs == reference.obs()
        # Perfect blocks long enough for a 50-episode window, then a mix of all three.
        mode = "perfect" if episode % 120 < 60 else modes[int(rng.integers(len(modes)))]
        done = False
        while not done:
            action = policy(env, rng, mode)
            expected = reference.step(*(int(a) for a in action))
            obs, reward, terminated, truncated, _ = env.step(action)
            assert (obs, reward, terminated) == expected
            assert not truncated
            done = terminated
        curriculum.record(reference.total, len(target))
        obs, _ = env.reset()
    assert curriculum.min_length > CURRICULA[type(env)][0]


@pytest.mark.parametrize("make", ENVS)
def test_idling_times_out_exactly_after_the_limit(make):
    env = make()
    env.reset(seed=3)
    for _ in range(env.time_limit):
        _, reward, terminated, truncated, _ = env.step(np.array([1, 0, 0]))
        assert (reward, terminated, truncated) == (0.0, False, False)
    _, reward, terminated, truncated, _ = env.step(np.array([1, 0, 0]))
    assert (reward, terminated, truncated) == (-1.0, True, False)


def test_a_correct_last_write_past_the_limit_still_scores_minus_one():
    env = CopyEnv()
    env.reset(seed=4)
    target, limit = env.target.tolist(), env.time_limit
    for _ in range(limit + 1 - len(target)):
        env.step(np.array([1, 0, 0]))
    rewards = [env.step(np.array([1, 1, symbol]))[1] for symbol in target]
    assert rewards == [1.0] * (len(target) - 1) + [-1.0]


def test_walking_off_the_tape_shows_blanks():
    env = CopyEnv(base=2)
    obs, _ = env.reset(seed=0)
    data = env.input_data.tolist()
    assert obs == data[0]
    left, right = np.array([0, 0, 0]), np.array([1, 0, 0])
    assert [env.step(left)[0] for _ in range(2)] == [2, 2]
    assert [env.step(right)[0] for _ in range(2)] == [2, data[0]]
    assert [env.step(right)[0] for _ in range(len(data))] == data[1:] + [2]


def test_grid_navigation_reads_the_cells():
    env = ReversedAdditionEnv(rows=2, base=6)
    obs, _ = env.reset(seed=2)
    grid = env.input_data
    left, right, up, down = (np.array([move, 0, 0]) for move in range(4))
    path = [(down, (0, 1)), (up, (0, 0)), (right, (1, 0)), (down, (1, 1)), (down, (1, 2)),
            (right, (2, 2)), (up, (2, 1)), (up, (2, 0)), (left, (1, 0)), (up, (1, -1))]
    assert obs == grid[0, 0]
    for action, (x, y) in path:
        expected = grid[x, y] if 0 <= x < len(grid) and 0 <= y < 2 else 6
        obs, reward, terminated, _, _ = env.step(action)
        assert (obs, reward, terminated) == (expected, 0.0, False)
        assert env.read_head == (x, y)


def test_duplicated_input_is_runs_of_equal_symbols():
    env = DuplicatedInputEnv(duplication=3)
    env.reset(seed=1)
    for _ in range(50):
        runs = env.input_data.reshape(-1, 3)
        assert (runs == runs[:, :1]).all()
        env.reset()


def test_curriculum_stops_at_thirty():
    env = CopyEnv()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(29 * 10 + 20):
        while not env.step(policy(env, rng, "perfect"))[2]:
            pass
        env.reset()
    assert env.min_length == 30
    assert len(env.input_data) in {30, 31, 32}


def test_curriculum_is_per_instance():
    promoted, other = CopyEnv(), CopyEnv()
    promoted.reset(seed=0)
    other.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(10):
        while not promoted.step(policy(promoted, rng, "perfect"))[2]:
            pass
        promoted.reset()
    CopyEnv().reset(seed=2)
    assert (promoted.min_length, other.min_length) == (3, 2)
    other.reset()
    assert other.min_length == 2


def test_seeding_fixes_the_episode_sequence():
    def inputs(seed: int) -> list[list[int]]:
        env = RepeatCopyEnv()
        env.reset(seed=seed)
        seen = [env.input_data.tolist()]
        for _ in range(30):
            env.reset()
            seen.append(env.input_data.tolist())
        return seen

    first = inputs(7)
    assert first == inputs(7)
    assert first != inputs(8)
    assert len({tuple(episode) for episode in first}) > 20


def test_symbols_and_lengths_are_uniform():
    env = CopyEnv(base=5)
    env.reset(seed=0)
    symbols, lengths = [], []
    for _ in range(3000):
        symbols += env.input_data.tolist()
        lengths.append(len(env.input_data))
        env.reset()
    for counts in (np.bincount(symbols), np.bincount(lengths)[2:]):
        expected = counts.sum() / len(counts)
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < 18.5  # the 0.999 quantile of chi-square with 4 degrees of freedom


def test_ansi_render_shows_input_output_and_target():
    env = ReverseEnv(render_mode="ansi")
    env.reset(seed=0)
    letters = "".join("AB"[s] for s in env.target)
    env.step(np.array([1, 1, env.target[0]]))
    text = env.render()
    assert f"Targets             : {letters}\n" in text
    assert "".join("AB"[s] for s in env.input_data) in text.replace("\x1b[42m", "").replace(
        "\x1b[0m", ""
    )
    assert "reward +1.0" in text


def test_rgb_array_render_is_the_text_as_a_picture():
    env = ReversedAdditionEnv(render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    np.testing.assert_array_equal(first, env.render())
    env.step(np.array([1, 0, 0]))  # the read head moves, and with it its pointer in the picture
    assert not np.array_equal(first, env.render())
    plain = env._render_text(color=False)
    assert "\x1b" not in plain and "Read head           :    ^ row 0" in plain


def test_human_render_prints(capsys):
    env = ReversedAdditionEnv(render_mode="human")
    env.reset(seed=0)
    assert "Observation Grid" in capsys.readouterr().out


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: CopyEnv(base=1), "base must be an integer >= 2"),
        (lambda: CopyEnv(base=2.5), "base must be an integer >= 2"),
        (lambda: ReversedAdditionEnv(rows=4, base=3), r"rows must be an integer in \[2, 3\]"),
        (lambda: DuplicatedInputEnv(duplication=0), "duplication must be an integer >= 1"),
        (lambda: CopyEnv(render_mode="rgb"), "render_mode must be None or one of"),
        (lambda: ReversedAdditionVectorEnv(num_envs=0), "num_envs must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "action, message",
    [
        (np.array([2, 0, 0]), r"out of range: each must be \[move in 0..1 \(left, right\)"),
        (np.array([0, 1, 5]), "symbol in 0..4"),
        (np.array([0, 1]), r"must be integers of shape \(3,\)"),
        (np.array([0.0, 1.0, 1.0]), r"must be integers of shape \(3,\)"),
    ],
)
def test_bad_actions_are_named(action, message):
    env = CopyEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


def test_reset_options_and_step_order_are_checked():
    env = CopyEnv()
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.array([0, 0, 0]))
    with pytest.raises(ValueError, match=r"accept none, got keys \['level'\]"):
        env.reset(options={"level": 2})
    env.reset(seed=0)
    env.step(np.array([1, 1, (env.target[0] + 1) % 5]))
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.array([0, 0, 0]))
