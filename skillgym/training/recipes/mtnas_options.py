"""What the mtnas recipes share: their data, search-space and network options, and what those
describe (the corpus, the search space, the training settings).

Each option is defined once, as a configuration key (:data:`DATA_DEFAULTS`,
:data:`SPACE_DEFAULTS`, :data:`NETWORK_DEFAULTS`) and, for the command line, an :class:`Option`
that sets it. ``skillgym mtnas`` and the mtnas benchmarks add the same options to their parsers
(:func:`add_options`) and turn what was given into a configuration layer (:func:`config_layer`);
the recipes read the keys. A recipe may change a default (``mtnas-table`` searches a smaller
space), never an option's meaning.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillgym.envs.mtnas.corpus import Corpus
from skillgym.envs.mtnas.datasets import load_tasks, task_name
from skillgym.envs.mtnas.modules import DEFAULT_POOL, MODULE_KINDS, SearchSpace
from skillgym.envs.mtnas.readers import delimiter_character
from skillgym.envs.mtnas.synthetic import SYNTHETIC_TASKS
from skillgym.envs.mtnas.tasks import RawTask
from skillgym.envs.mtnas.trainer import TrainConfig
from skillgym.executors import Executor, LocalExecutor
from skillgym.training.config import Config, ConfigError, get, merge
from skillgym.training.recipes import EvalError, threads_of

DATA_DEFAULTS: dict[str, Any] = {
    # Built-in task names, and tasks of your own files as NAME=TRAIN[,TEST[,VALIDATION]][,KEY=V]
    # (keys: format, delimiter, column); one row of the assignment each, in this order.
    "tasks": list(SYNTHETIC_TASKS),
    # The folder holding fdu_mtl/, conll2000/ and ud_ewt/ (for the built-in real tasks).
    "root": "",
    # Between label and text in classification files: "tab", "space" or a string.
    "delimiter": "tab",
    # Share of a training file carved off as validation (and as test) when not supplied.
    "validation_fraction": 0.1,
    # Training examples kept per task (a seeded choice); 0: all.
    "max_train": 0,
    # Classification inputs are cut to this many tokens.
    "max_length": 100,
    # Words seen fewer times in the training splits become <unk>.
    "min_count": 2,
    # Seeds the carving, the max_train choice and the synthetic corpus.
    "seed": 0,
}
SPACE_DEFAULTS: dict[str, Any] = {
    "layers": 2,
    # The module kind of every shared instance of a layer.
    "pool": list(DEFAULT_POOL),
    # The kind of each task's private module (the last option of every slot).
    "private_kind": "bilstm",
}
#: The child networks' settings: :class:`~skillgym.envs.mtnas.trainer.TrainConfig`'s fields (its
#: thread count is the recipe's ``threads.torch``).
NETWORK_DEFAULTS: dict[str, Any] = {
    field.name: getattr(TrainConfig(), field.name)
    for field in dataclasses.fields(TrainConfig) if field.name != "num_threads"
}


@dataclass(frozen=True)
class Option:
    """A command-line option that sets one configuration key; its type and default are the key's.

    Attributes:
        flag: e.g. ``"--data-root"``, or a name without dashes for a positional argument.
        key: the dotted configuration key it sets.
        help: what it means.
        choices: the allowed values (of each item, for a list).
        metavar: the value's name in ``--help``.
        repeat: the option may be given several times, each adding one item to the list
            (options setting the same list key add to it in the order they are listed).
        const: the value of the flag given alone (its value is then optional).
    """

    flag: str
    key: str
    help: str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    repeat: bool = False
    const: str | None = None

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments."""
        return self.flag.lstrip("-").replace("-", "_")


DATA_OPTIONS = (
    Option("--tasks", "data.tasks", "task names: FDU-MTL domains (books, dvd, ...), "
           "conll2000_pos, conll2000_chunk, ud_upos, ud_xpos, syn_pos, syn_chunk, syn_topic, "
           "syn_polarity", metavar="NAME"),
    Option("--task", "data.tasks", "a task of your own files, added after --tasks (repeatable): "
           "NAME=TRAIN[,TEST[,VALIDATION]][,format=auto|classification|conll|conllu]"
           "[,delimiter=D][,column=C]; a missing test or validation file is carved from TRAIN",
           metavar="NAME=FILES", repeat=True),
    Option("--data-root", "data.root", "folder with fdu_mtl/, conll2000/, ud_ewt/ (for the "
           "built-in real tasks)", metavar="DIR"),
    Option("--delimiter", "data.delimiter", "between label and text in classification files: "
           "tab, space (LABEL TEXT lines) or a string"),
    Option("--validation-fraction", "data.validation_fraction", "share of a training file "
           "carved off as validation when no validation file is given"),
    Option("--max-train", "data.max_train", "training examples kept per task (0: all)"),
    Option("--max-length", "data.max_length", "classification inputs are cut to this many "
           "tokens"),
    Option("--min-count", "data.min_count", "words seen fewer times in training become <unk>"),
    Option("--data-seed", "data.seed", "seed of the validation carving and the synthetic corpus"),
)
SPACE_OPTIONS = (
    Option("--layers", "space.layers", "layers of every task's network"),
    Option("--pool", "space.pool", "module kind of every shared instance of a layer",
           choices=MODULE_KINDS),
    Option("--private-kind", "space.private_kind", "module kind of each task's private module",
           choices=MODULE_KINDS),
)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(map(str, value))
    return repr(value) if value == "" else str(value)


def add_options(parser: argparse.ArgumentParser, options: Sequence[Option],
                defaults: Mapping[str, Any]) -> None:
    """Add ``options`` to ``parser``, typed and documented by ``defaults`` (a configuration).

    An option not given leaves its key out of :func:`config_layer`, so the configuration's own
    default (the recipe's, or the benchmark's) holds.
    """
    for option in options:
        default = get(defaults, option.key)
        item = default[0] if isinstance(default, list) and default else default
        kind = type(item) if type(item) in (int, float) else str
        positional = not option.flag.startswith("-")
        extra: dict[str, Any] = {}
        if option.repeat:
            extra["action"] = "append"
        elif isinstance(default, list):
            extra["nargs"] = "+"
        elif positional:
            extra["nargs"] = "?"  # a positional a resumed run does without
        elif option.const is not None:
            extra.update(nargs="?", const=option.const)
        shown = "" if option.repeat or positional else f" (default: {_shown(default)})"
        parser.add_argument(option.flag, type=kind, choices=option.choices,
                            metavar=option.metavar, default=argparse.SUPPRESS,
                            help=option.help + shown, **extra)


def config_layer(args: argparse.Namespace, options: Sequence[Option]) -> Config:
    """The configuration layer (nested tables) of the ``options`` given on the command line."""
    values: dict[str, Any] = {}
    for option in options:
        if hasattr(args, option.dest):
            value = getattr(args, option.dest)
            values[option.key] = values[option.key] + value if option.key in values else value
    layer: Config = {}
    for key, value in values.items():
        *tables, leaf = key.split(".")
        table = layer
        for name in tables:
            table = table.setdefault(name, {})
        table[leaf] = value
    return layer


def resolve_options(args: argparse.Namespace, options: Sequence[Option],
                    defaults: Mapping[str, Any]) -> Config:
    """``defaults`` with the given ``options`` set: the configuration a benchmark runs with."""
    return merge(defaults, defaults, config_layer(args, options))


def overrides(layer: Mapping[str, Any], prefix: str = "") -> list[str]:
    """A configuration layer as ``KEY=VALUE`` overrides (what ``skillgym train`` takes)."""
    found = []
    for key, value in layer.items():
        if isinstance(value, Mapping):
            found += overrides(value, f"{prefix}{key}.")
        else:
            # A string is taken verbatim; anything else is read as TOML, which JSON's numbers,
            # booleans and arrays of strings are.
            found.append(f"{prefix}{key}={value if isinstance(value, str) else json.dumps(value)}")
    return found


def _positive(config: Config, keys: Sequence[str]) -> None:
    for key in keys:
        if get(config, key) < 1:
            raise ConfigError(f"{key} must be a positive integer, got {get(config, key)}")


def check_data(config: Config) -> list[RawTask]:
    """Check the ``data`` and ``space`` tables, read the tasks, and return them.

    Bad values and bad files (a malformed line, named by file and line) are a
    :class:`~skillgym.training.config.ConfigError`.
    """
    data = get(config, "data")
    _positive(config, ("data.max_length", "data.min_count", "space.layers"))
    if data["max_train"] < 0:
        raise ConfigError(f"data.max_train must be >= 0 (0: all), got {data['max_train']}")
    if not 0.0 < data["validation_fraction"] < 1.0:
        raise ConfigError(f"data.validation_fraction must be in (0, 1), got "
                          f"{data['validation_fraction']}")
    if not data["tasks"]:
        raise ConfigError("data.tasks must name at least one task")
    try:
        delimiter_character(data["delimiter"])
        search_space(config)
        return load_raw_tasks(data)
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError(str(error)) from None


def check_network(config: Config) -> None:
    """Check the ``network`` and ``threads`` tables."""
    threads_of(config)
    _positive(config, ("network.dim", "network.batch_size", "network.eval_batch_size"))
    try:
        train_settings(config)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def load_options(args: argparse.Namespace, options: Sequence[Option],
                 defaults: Mapping[str, Any]) -> tuple[Config, Corpus, SearchSpace]:
    """A benchmark's configuration (``defaults`` with the given ``options`` set), checked, with
    its corpus and search space; bad input is a :class:`~skillgym.training.config.ConfigError`.
    """
    config = resolve_options(args, options, defaults)
    tasks = check_data(config)
    return config, load_corpus(get(config, "data"), tasks), search_space(config)


def load_raw_tasks(data: Mapping[str, Any]) -> list[RawTask]:
    """The tasks of a ``data`` table, read from their files."""
    return load_tasks(data["tasks"], data["root"] or None, data["validation_fraction"],
                      data["seed"], data["delimiter"])


def load_corpus(data: Mapping[str, Any], tasks: Sequence[RawTask] | None = None) -> Corpus:
    """The encoded corpus of a ``data`` table (of its ``tasks``, when they are read already)."""
    return Corpus(load_raw_tasks(data) if tasks is None else tasks, min_count=data["min_count"],
                  max_length=data["max_length"], max_train=data["max_train"] or None,
                  seed=data["seed"])


def search_space(config: Config) -> SearchSpace:
    """The search space of a configuration: its tasks, in order, and its ``space`` table."""
    space = get(config, "space")
    return SearchSpace(tuple(task_name(entry) for entry in get(config, "data.tasks")),
                       space["layers"], tuple(space["pool"]), space["private_kind"])


#: Where the recipes' stand-alone trainings and table cells run: ``address`` ``""`` here, one
#: after another; ``"local"`` a Ray cluster started on this machine; else a cluster's address.
#: ``local_cpus``: the CPUs of a cluster started here (0: all cores).
RAY_DEFAULTS: dict[str, Any] = {"address": "", "memory_mb": 0, "max_retries": 3,
                                "local_cpus": 0}

RAY_OPTION = Option("--ray", "ray.address", "train on Ray: on a cluster started on this machine, "
                    "or on the one at ADDRESS (auto, HOST:PORT, ray://HOST:10001); needs the ray "
                    "extra", metavar="ADDRESS", const="local")


def check_ray(config: Config) -> None:
    """Reject a bad ``ray`` table."""
    for key in ("ray.memory_mb", "ray.max_retries", "ray.local_cpus"):
        if get(config, key) < 0:
            raise ConfigError(f"{key} must be >= 0, got {get(config, key)}")
    if get(config, "ray.local_cpus") and get(config, "ray.address") not in ("", "local"):
        raise ConfigError("ray.local_cpus sizes a cluster started here; a cluster at "
                          f"{get(config, 'ray.address')!r} has the CPUs it has")


def executor_of(config: Config) -> Executor:
    """Where ``config``'s heavy pieces run: here, or as Ray tasks of ``threads.torch`` CPUs
    (``ray.address``)."""
    address = get(config, "ray.address")
    if not address:
        return LocalExecutor()
    from skillgym.integrations.ray_executor import RayExecutor

    return RayExecutor(None if address == "local" else address, cpus=threads_of(config).torch,
                       memory_mb=get(config, "ray.memory_mb"),
                       max_retries=get(config, "ray.max_retries"),
                       local_cpus=get(config, "ray.local_cpus") or None)


def train_settings(config: Config) -> TrainConfig:
    """The child networks' settings: the ``network`` table and ``threads.torch``."""
    return TrainConfig(**get(config, "network"), num_threads=threads_of(config).torch)


def describe(space: SearchSpace, assignment) -> dict[str, list[str]]:
    """Every task's modules, layer by layer, by name (``bilstm#0``, ``private``)."""
    return {task: [space.option_name(int(option)) for option in row]
            for task, row in zip(space.tasks, assignment, strict=True)}


def keep_lines(path: Path, count: int) -> None:
    """Keep the first ``count`` complete lines of ``path`` (a cache appended to after a
    checkpoint, its last line perhaps cut short by a kill)."""
    if path.is_file():
        complete = path.read_bytes().split(b"\n")[:-1]
        path.write_bytes(b"".join(line + b"\n" for line in complete[:count]))


def not_an_agent(recipe: str) -> Any:
    """The ``load_agent`` / ``env_of`` of a recipe whose run holds no environment agent."""

    def refuse(*args: Any) -> Any:
        raise EvalError(f"an {recipe} run holds assignment scores, not an environment agent: "
                        "see its result.json, or skillgym report RUN")

    return refuse
