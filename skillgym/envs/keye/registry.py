"""The Keye ids, with string entry points so that registering imports no env code."""

from skillgym.envs.registration import EnvEntry

_MODULE = "skillgym.envs.keye.mode_select"
_TEXT_GEN = "skillgym.envs.keye.text_gen"

ENTRIES: list[EnvEntry] = [
    EnvEntry(
        name="Keye-ModeSelect-v0",
        entry_point=f"{_MODULE}:ModeSelectEnv",
        vector_entry_point=f"{_MODULE}:ModeSelectVectorEnv",
        description="Keye: choose whether a language model thinks before answering a prompt",
    ),
    EnvEntry(
        name="Keye-TextGen-v0",
        entry_point=f"{_TEXT_GEN}:TextGenEnv",
        vector_entry_point=f"{_TEXT_GEN}:TextGenVectorEnv",
        description="Keye: write a reply token by token (RL of the language model itself)",
    ),
]
