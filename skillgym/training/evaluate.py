"""Evaluation of a trained agent: mean return, episode length and success over N episodes."""

from __future__ import annotations

import inspect
import statistics
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from rich.console import Console

from skillgym.progress import progress_bar
from skillgym.training.recipes import Agent, EvalError

# The info keys that report an episode's success: stable-baselines3's convention.
SUCCESS_KEYS: tuple[str, ...] = ("is_success",)


def episode_success(info: dict[str, Any]) -> bool | None:
    """The success an episode's last ``info`` reports, or ``None`` if it reports none."""
    for key in SUCCESS_KEYS:
        if key in info:
            return bool(info[key])
    return None


@dataclass(frozen=True)
class EvalResult:
    """The outcome of :func:`evaluate`, episode by episode and summarised.

    ``success_rate`` is the fraction of episodes whose last ``info`` reports success (see
    :data:`SUCCESS_KEYS`); it is ``None`` when the environment reports no success at all.
    """

    env_id: str
    episodes: int
    seed: int
    mean_return: float
    std_return: float
    mean_length: float
    success_rate: float | None
    returns: list[float]
    lengths: list[int]
    successes: list[bool] | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


def evaluate(
    agent: Agent,
    env_id: str,
    episodes: int,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    deterministic: bool = True,
    console: Console | None = None,
) -> EvalResult:
    """Play ``episodes`` episodes of ``env_id``; episode ``i`` resets with ``seed + i``.

    Args:
        agent: anything with stable-baselines3's ``predict``.
        env_id: a registered Gymnasium id.
        episodes: how many episodes; at least 1.
        seed: the first episode's reset seed.
        env_kwargs: keyword arguments for ``gymnasium.make``.
        deterministic: take the most likely action instead of sampling.
        console: where the progress bar is drawn.
    """
    if episodes < 1:
        raise EvalError(f"episodes must be at least 1, got {episodes}")
    env = gym.make(env_id, **(env_kwargs or {}))
    try:
        return _play(agent, env, env_id, episodes, seed, deterministic, console)
    finally:
        env.close()


def _play(
    agent: Agent,
    env: gym.Env,
    env_id: str,
    episodes: int,
    seed: int,
    deterministic: bool,
    console: Console | None,
) -> EvalResult:
    space = getattr(agent, "observation_space", None)
    if space is not None and space != env.observation_space:
        raise EvalError(f"the agent was trained on observations {space}, but {env_id} has "
                        f"{env.observation_space}")
    masks = None
    # Only a masking agent (MaskablePPO) takes masks; any other plays a masked env unmasked.
    if "action_masks" in inspect.signature(agent.predict).parameters:
        try:
            masks = env.get_wrapper_attr("action_masks")
        except AttributeError:
            masks = None
    returns: list[float] = []
    lengths: list[int] = []
    successes: list[bool] = []
    reports_success = False
    with progress_bar(console) as progress:
        task = progress.add_task(f"eval {env_id}", total=episodes, status="")
        for episode in range(episodes):
            observation, info = env.reset(seed=seed + episode)
            total, length, done = 0.0, 0, False
            while not done:
                extra = {"action_masks": np.asarray(masks())} if masks is not None else {}
                action, _ = agent.predict(observation, deterministic=deterministic, **extra)
                observation, reward, terminated, truncated, info = env.step(_scalar(action))
                total += float(reward)
                length += 1
                done = terminated or truncated
            success = episode_success(info)
            reports_success = reports_success or success is not None
            successes.append(bool(success))
            returns.append(total)
            lengths.append(length)
            progress.update(task, advance=1,
                            status=f"return {statistics.fmean(returns):.2f}")
    return EvalResult(
        env_id=env_id,
        episodes=episodes,
        seed=seed,
        mean_return=statistics.fmean(returns),
        std_return=statistics.pstdev(returns),
        mean_length=statistics.fmean(lengths),
        success_rate=statistics.fmean(successes) if reports_success else None,
        returns=returns,
        lengths=lengths,
        successes=successes if reports_success else None,
    )


def _scalar(action: Any) -> Any:
    # predict returns a 0-d array for a Discrete space; envs expect a plain int there.
    array = np.asarray(action)
    return array.item() if array.ndim == 0 else array
