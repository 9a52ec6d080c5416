"""The AEC ids, one per skill: ``skillgym/AEC-<Skill>-v0``, described by the skill's summary."""

from __future__ import annotations

from skillgym.envs.aec.skills import SKILLS
from skillgym.envs.registration import EnvEntry

ENTRIES = tuple(
    EnvEntry(
        name=f"AEC-{skill.title}-v0",
        entry_point="skillgym.envs.aec.env:AECEnv",
        vector_entry_point="skillgym.envs.aec.vector:AECVectorEnv"
        if skill.name in ("ADD", "SUB", "MUL")
        else None,
        description=skill.summary,
        kwargs={"skill": skill.name},
    )
    for skill in SKILLS
)
