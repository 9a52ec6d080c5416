"""The Keye ids, with string entry points so that registering imports no env code."""

from skillgym.envs.registration import EnvEntry

_MODULE = "skillgym.envs.keye.mode_select"

ENTRIES: list[EnvEntry] = [
    EnvEntry(
        name="Keye-ModeSelect-v0",
        entry_point=f"{_MODULE}:ModeSelectEnv",
        vector_entry_point=f"{_MODULE}:ModeSelectVectorEnv",
        description="Keye: choose whether a language model thinks before answering a prompt",
    ),
]
