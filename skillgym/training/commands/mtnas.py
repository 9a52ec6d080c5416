"""``skillgym mtnas``: multitask architecture search, stand-alone evaluation, reward tables.

Each sub-command runs a recipe through ``skillgym train``'s machinery: a run folder with
``config.toml``, ``metrics.jsonl`` and checkpoints, ``--resume`` after a kill, ``skillgym
report``. The options given become the recipe's configuration overrides, so
``skillgym mtnas search --budget 40`` is ``skillgym train mtnas-search search.budget=40``.

* ``skillgym mtnas search --tasks books dvd conll2000_pos --data-root ../shared/data``: a
  weight-sharing search (``mtnas-search``); writes ``result.json`` (the chosen assignment).
* ``skillgym mtnas evaluate 0,0/6,1 --tasks ...``: trains an assignment from scratch over several
  seeds and reports mean ± std test accuracy per task (``mtnas-evaluate``).
* ``skillgym mtnas build-table --output table.json``: scores every assignment of a small space
  for ``MTNAS-Tabular-v0`` (``mtnas-table``).

Tasks of your own files come with ``--task NAME=TRAIN[,TEST[,VALIDATION]]``. Without tasks the
synthetic corpus is used, so every sub-command runs with no data.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

# Sub-command, the recipe it runs (by module), and its one-line help.
SUBCOMMANDS = (
    ("search", "mtnas_search", "search assignments with a weight-sharing supernet"),
    ("evaluate", "mtnas_evaluate", "train one assignment from scratch over seeds, test it"),
    ("build-table", "mtnas_table", "score every assignment of a small space"),
)


def _runner(module):
    """The sub-command's function: the recipe run by ``skillgym train`` with the given options."""

    def run(args: argparse.Namespace) -> int:
        from skillgym.training.commands import train
        from skillgym.training.recipes.mtnas_options import config_layer, overrides

        # skillgym train's own parser makes its arguments, so that they are complete.
        parser = argparse.ArgumentParser(prog="skillgym")
        train.register(parser.add_subparsers(dest="command"))
        argv = ["train"]
        if args.resume:
            argv += ["--resume", str(args.resume)]
        else:
            argv += [module.RECIPE.name]
        argv += overrides(config_layer(args, module.OPTIONS))
        if args.run_dir:
            argv += ["--run-dir", str(args.run_dir)]
        return train.run(parser.parse_args(argv))

    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym mtnas search|evaluate|build-table``."""
    from skillgym.training.recipes.mtnas_options import add_options

    parser = subparsers.add_parser(
        "mtnas", help="multitask architecture search",
        description="Multitask architecture search: each sub-command runs an mtnas recipe "
        "(mtnas-search, mtnas-evaluate, mtnas-table) into a run folder, as skillgym train does.",
    )
    commands = parser.add_subparsers(dest="mtnas_command", metavar="SUBCOMMAND", required=True)
    for name, module_name, help_text in SUBCOMMANDS:
        module = importlib.import_module(f"skillgym.training.recipes.{module_name}")
        found = commands.add_parser(
            name, help=help_text,
            description=f"{help_text[0].upper()}{help_text[1:]}: the {module.RECIPE.name} recipe. "
            f"Options not given keep the recipe's defaults; skillgym train {module.RECIPE.name} "
            "KEY=VALUE ... runs the same recipe with every configuration key.",
        )
        add_options(found, module.OPTIONS, module.DEFAULTS)
        found.add_argument("--run-dir", type=Path,
                           help=f"the run folder to create (default: runs/{module.RECIPE.name}-"
                           "<time>)")
        found.add_argument("--resume", type=Path, metavar="RUN_DIR",
                           help="continue this run from its latest checkpoint (no other options)")
        found.set_defaults(func=_runner(module))
