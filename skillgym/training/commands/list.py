"""``skillgym list``: every registered environment id, its spaces and a one-line description."""

from __future__ import annotations

import argparse
import json

import gymnasium as gym

from skillgym.envs.registration import entries


def describe_space(space: gym.Space) -> str:
    """A short, one-line rendering of a space (``Dict`` keys with their own short forms)."""
    if isinstance(space, gym.spaces.Dict):
        inner = ", ".join(f"{key}: {describe_space(sub)}" for key, sub in space.spaces.items())
        return f"Dict({inner})"
    if isinstance(space, gym.spaces.Box):
        return f"Box{tuple(space.shape)}"
    if isinstance(space, gym.spaces.MultiDiscrete):
        return f"MultiDiscrete({space.nvec.tolist()})"
    if isinstance(space, gym.spaces.Discrete):
        return f"Discrete({space.n})"
    return repr(space)


def rows() -> list[dict[str, str]]:
    """One row per registered id: id, observation space, action space, description."""
    import skillgym  # noqa: F401  (registers the ids)

    table = []
    for entry in entries():
        env = gym.make(entry.id)
        try:
            table.append(
                {
                    "id": entry.id,
                    "observation_space": describe_space(env.observation_space),
                    "action_space": describe_space(env.action_space),
                    "batched": "yes" if entry.vector_entry_point else "no",
                    "description": entry.description,
                }
            )
        finally:
            env.close()
    return table


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON lines with ``--json``)."""
    table = rows()
    if args.json:
        for row in table:
            print(json.dumps(row))
        return 0
    from rich.console import Console
    from rich.table import Table

    view = Table(title=f"skillgym environments ({len(table)})")
    for column in ("id", "action_space", "observation_space", "batched", "description"):
        view.add_column(column, overflow="fold")
    for row in table:
        view.add_row(*(row[c] for c in ("id", "action_space", "observation_space", "batched",
                                         "description")))
    Console().print(view)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym list``."""
    parser = subparsers.add_parser("list", help="list every environment id with its spaces")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.set_defaults(func=run)
