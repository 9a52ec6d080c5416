"""The ``skillgym`` command line.

Each sub-command lives in its own module under ``skillgym.training.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the parsed
arguments and returning an exit code. Expected failures raise :class:`CLIError`, which ``main``
turns into a one-line message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Sub-command modules, in the order ``skillgym --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "list", "train", "eval", "bench", "report", "demo", "rewards", "mtnas", "keye", "kernels")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="skillgym",
        description="Environments and agents for learning which module to use.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"skillgym.training.commands.{name.replace('-', '_')}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skillgym`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as error:
        print(f"skillgym {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skillgym {args.command}: interrupted", file=sys.stderr)
        return 130
