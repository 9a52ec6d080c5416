"""Named training recipes: what ``skillgym train NAME`` runs.

A recipe is a module in this package that defines ``RECIPE``, a :class:`Recipe`; its name is
listed in :data:`RECIPES` (module ``aec_hierarchy`` for recipe ``aec-hierarchy``). Adding a
recipe is one new module and one entry there. An
environment id as the target of ``skillgym train`` runs :data:`ENV_RECIPE` on that id.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from skillgym.threads import Threads, set_threads
from skillgym.training.config import Config, ConfigError, merge, resolve
from skillgym.training.run import Checkpoint, RunDir

# Recipe names, in the order ``skillgym train --help`` lists them.
RECIPES: tuple[str, ...] = ("ppo", "aec-hierarchy", "keye-sft", "keye-grpo", "keye-router",
                            "mtnas-search", "mtnas-evaluate", "mtnas-table")

# The recipe that trains on a bare environment id, and the config key the id goes to.
ENV_RECIPE = "ppo"
ENV_KEY = "env.id"


class Agent(Protocol):
    """What evaluation needs from a trained agent (stable-baselines3's ``predict``)."""

    def predict(self, observation: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """The action for ``observation`` (and a recurrent state, unused here)."""


@dataclass(frozen=True)
class Recipe:
    """A named way to train, with its configuration defaults.

    Attributes:
        name: what users type, e.g. ``"ppo"`` or ``"aec-hierarchy"``.
        defaults: the configuration's every key with its default value (and so its type).
        check: raises :class:`~skillgym.training.config.ConfigError` for a resolved configuration
            the recipe cannot run, before any run folder is written.
        train: trains into the run folder, starting from the given checkpoint when resuming;
            saves checkpoints into ``run.checkpoints_dir`` as it goes.
        load_agent: the agent stored in a checkpoint folder, for ``skillgym eval``.
        env_of: the environment id and keyword arguments a configuration trains on.
        agent_env_kwargs: keyword arguments a loaded agent needs in the environment it plays
            (given the agent and the env id), e.g. a skill hierarchy's learned children; raises
            :class:`EvalError` for an env the agent cannot play.
        tuned: settings tuned for what a configuration trains on (PPO's hyperparameters for an
            environment id, as rl-baselines3-zoo keeps them), a layer between the defaults and
            the config file: see :func:`configure`.
        draw: draws pictures of a finished run's results into its ``plots/`` folder (beyond
            the learning curves every run has); ``skillgym report`` redraws them.
    """

    name: str
    defaults: Mapping[str, Any]
    check: Callable[[Config], None]
    train: Callable[[RunDir, Config, Checkpoint | None], None]
    load_agent: Callable[[Path], Agent]
    env_of: Callable[[Config], tuple[str, dict[str, Any]]]
    agent_env_kwargs: Callable[[Agent, str], dict[str, Any]] = lambda agent, env_id: {}
    tuned: Callable[[Config], Mapping[str, Any]] = lambda config: {}
    draw: Callable[[RunDir, Config], None] = lambda run, config: None


def configure(recipe: Recipe, file: Mapping[str, Any] | None = None,
              overrides: Sequence[str] = ()) -> Config:
    """The configuration a new run of ``recipe`` trains with: the recipe's defaults, then the
    settings it has tuned for the target the file and overrides name (:attr:`Recipe.tuned`),
    then the config file, then each override (so a user's value always wins)."""
    config = resolve(recipe.defaults, file, overrides)
    tuned = recipe.tuned(config)
    if not tuned:
        return config
    base = merge(recipe.defaults, recipe.defaults, tuned)
    return resolve(recipe.defaults, file, overrides, base=base)


#: Every recipe's ``threads`` table: the sizes of torch's, the BLAS library's and PoCL's thread
#: pools (:class:`skillgym.threads.Threads`), so that a run's config records them.
THREADS_DEFAULTS: dict[str, int] = asdict(Threads())


def threads_of(config: Config) -> Threads:
    """The ``threads`` table of ``config``; a :class:`ConfigError` names a bad count."""
    try:
        return Threads(**config["threads"])
    except ValueError as error:
        raise ConfigError(str(error)) from None


def apply_threads(config: Config) -> None:
    """Size the thread pools for the rest of the process as ``config["threads"]`` says."""
    set_threads(threads_of(config))


class RecipeError(ValueError):
    """An unknown recipe or environment id (one line)."""


class EvalError(ValueError):
    """An agent that cannot play the requested environment, or a bad episode count (one line)."""


def recipes() -> dict[str, Recipe]:
    """Every recipe by name."""
    return {
        name: importlib.import_module(f"{__name__}.{name.replace('-', '_')}").RECIPE
        for name in RECIPES
    }


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name is a :class:`RecipeError`."""
    if name not in RECIPES:
        raise RecipeError(f"unknown recipe '{name}'; recipes: {', '.join(RECIPES)}")
    return recipes()[name]


def resolve_target(target: str) -> tuple[Recipe, list[str]]:
    """The recipe a ``skillgym train TARGET`` runs, and the overrides the target implies.

    A recipe name runs that recipe; a registered environment id runs :data:`ENV_RECIPE` with
    ``env.id`` set to it. Anything else is a :class:`RecipeError` with the closest names.
    """
    import gymnasium as gym

    import skillgym  # noqa: F401  (registers the skillgym/ ids)

    known = recipes()
    if target in known:
        return known[target], []
    if target in gym.registry:
        return known[ENV_RECIPE], [f"{ENV_KEY}={target}"]
    close = difflib.get_close_matches(target, [*known, *gym.registry], n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise RecipeError(
        f"unknown env id or recipe '{target}'; {hint}recipes: {', '.join(known)}; "
        "env ids: run 'skillgym list' or see gymnasium.pprint_registry()"
    )
