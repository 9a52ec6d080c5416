"""TRL ``GRPOTrainer`` reward functions.

TRL calls each reward function as ``f(prompts=..., completions=..., completion_ids=...,
**columns)``, where ``columns`` holds every other dataset column (one value per completion) and
a few trainer objects (``trainer_state``, ``log_extra``, ...), and expects one ``float`` or
``None`` (skip) per completion. It names the logged reward by ``f.__name__``, awaits ``f`` when
``inspect.iscoroutinefunction(f)`` holds, and may pickle ``f`` into a rollout process.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

from skillgym.rewards.base import Reward, SampleBatch
from skillgym.rewards.registry import resolve

#: Dataset columns read as the ground truth, in order, unless one is named explicitly.
GROUND_TRUTH_COLUMNS = ("solution", "ground_truth", "answer")


class TRLRewardFunction:
    """A reward as a TRL reward function (picklable, named after the reward).

    Args:
        reward: a :class:`~skillgym.rewards.base.Reward` or a registered reward name.
        ground_truth_column: the dataset column holding the reference answer; by default the
            first present of ``solution``, ``ground_truth``, ``answer``.
        **config: the reward's configuration, when ``reward`` is a name.

    Example::

        from trl import GRPOTrainer
        from skillgym.rewards.adapters import TRLRewardFunction

        trainer = GRPOTrainer(model=..., train_dataset=...,
                              reward_funcs=[TRLRewardFunction("accuracy"),
                                            TRLRewardFunction("repetition_penalty",
                                                              unit="tokens")])
    """

    def __init__(self, reward: Reward | str, ground_truth_column: str | None = None,
                 **config: Any) -> None:
        self.reward = resolve(reward, **config)
        self.ground_truth_column = ground_truth_column
        self.__name__ = self.reward.name

    def samples(self, prompts: Sequence[Any] | None, completions: Sequence[Any] | None,
                completion_ids: Sequence[Any] | None, columns: dict[str, Any]) -> SampleBatch:
        """TRL's arguments as a batch of samples, by column: per-completion columns become
        sample context, and nothing is built per completion until a reward asks for it."""
        completions = list(completions or [])
        count = len(completions)
        per_sample = {key: value for key, value in columns.items()
                      if isinstance(value, (list, tuple)) and len(value) == count}
        truth_key = self.ground_truth_column or next(
            (key for key in GROUND_TRUTH_COLUMNS if key in per_sample), None)
        truths = per_sample.pop(truth_key, None) if truth_key else None
        return SampleBatch(completions, prompts=prompts, ground_truths=truths,
                           completion_ids=completion_ids, extra=per_sample)

    def __call__(self, prompts: Sequence[Any] | None = None,
                 completions: Sequence[Any] | None = None,
                 completion_ids: Sequence[Any] | None = None, **columns: Any) -> list[float | None]:
        """One score (or ``None``) per completion."""
        return self.reward.score_batch(self.samples(prompts, completions, completion_ids, columns))


async def _score_async(function: TRLRewardFunction, **kwargs: Any) -> list[float | None]:
    # Scoring is CPU work: run it off the event loop so other async rewards proceed meanwhile.
    return await asyncio.to_thread(function, **kwargs)


def trl_async_reward_function(reward: Reward | str, ground_truth_column: str | None = None,
                              **config: Any) -> functools.partial:
    """The async variant: a coroutine function (as ``inspect.iscoroutinefunction`` sees it),
    picklable and named after the reward, that TRL awaits alongside its other async rewards."""
    function = TRLRewardFunction(reward, ground_truth_column, **config)
    wrapped = functools.partial(_score_async, function)
    wrapped.__name__ = function.__name__
    return wrapped
