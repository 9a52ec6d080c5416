"""AEC: arithmetic expression calculation as a hierarchy of skills on a scratchpad.

``AECEnv`` is one environment per skill (ids ``skillgym/AEC-<Skill>-v0``), ``solve`` runs the
oracle on an expression, and ``oracle`` is the oracle as a child policy. See ``docs/aec.md``.
"""

from skillgym.envs.aec.env import AECEnv
from skillgym.envs.aec.oracle import oracle
from skillgym.envs.aec.solve import Solution, TraceStep, solve

__all__ = ["AECEnv", "Solution", "TraceStep", "oracle", "solve"]
