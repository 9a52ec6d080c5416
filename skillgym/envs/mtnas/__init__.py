"""Multitask architecture assembly: a shared module pool, weight-sharing rewards, real NLP tasks.

The Gymnasium ids (``MTNAS-Assemble-v0``, ``MTNAS-OneShot-v0``, ``MTNAS-Tabular-v0``) are listed
in :mod:`skillgym.envs.mtnas.registry`; the PettingZoo forms are :func:`parallel_env` (one agent
per task) and :func:`env` (its AEC form). See ``docs/mtnas.md``.
"""

__all__ = ["env", "parallel_env"]


def __getattr__(name: str):
    # Imported on first use: ``import skillgym`` reads this package's registry, and must not pay
    # for torch and PettingZoo then.
    if name in __all__:
        from skillgym.envs.mtnas import parallel

        return getattr(parallel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
