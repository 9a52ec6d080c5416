"""The mtnas environment ids (string entry points: registering imports no torch)."""

from skillgym.envs.registration import EnvEntry

ENTRIES = [
    EnvEntry(
        name="MTNAS-Assemble-v0",
        entry_point="skillgym.envs.mtnas.assemble:MTNASAssembleEnv",
        description="Assemble per-task networks from a shared module pool, one slot a step",
    ),
    EnvEntry(
        name="MTNAS-OneShot-v0",
        entry_point="skillgym.envs.mtnas.oneshot:MTNASOneShotEnv",
        description="Choose a whole multitask module assignment in one bandit step",
    ),
    EnvEntry(
        name="MTNAS-Tabular-v0",
        entry_point="skillgym.envs.mtnas.table:MTNASTabularEnv",
        description="Module assembly with rewards looked up in a precomputed table",
    ),
]
