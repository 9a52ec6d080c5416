"""Multitask architecture assembly: a shared module pool, weight-sharing rewards, real NLP tasks.

The Gymnasium ids (``MTNAS-Assemble-v0``, ``MTNAS-OneShot-v0``, ``MTNAS-Tabular-v0``) are listed
in :mod:`skillgym.envs.mtnas.registry`; the PettingZoo forms are :func:`parallel_env` (one agent
per task) and :func:`env` (its AEC form). See ``docs/mtnas.md``.
"""

from skillgym.envs.mtnas.parallel import env, parallel_env

__all__ = ["env", "parallel_env"]
