"""The trained built-in model that ships in the package, so the Keye environments work out of
the box. docs/keye.md gives the exact commands that produced it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from skillgym.models.checkpoint import load_checkpoint
from skillgym.models.transformer import CausalTransformer

#: The shipped checkpoint's file name inside ``skillgym/models/weights``.
BUILTIN_FILE = "keye-lm.pt"


def builtin_path() -> Path:
    """Where the shipped checkpoint lies."""
    return Path(str(resources.files("skillgym.models") / "weights" / BUILTIN_FILE))


def load_builtin() -> CausalTransformer:
    """The shipped model, in float32 (stored in half precision).

    Raises FileNotFoundError naming the file when the installation lacks it.
    """
    path = builtin_path()
    if not path.is_file():
        raise FileNotFoundError(f"the built-in model is missing from the installation ({path}); "
                                "reinstall skillgym or pass a checkpoint of your own")
    return load_checkpoint(path)
