"""The algorithmic ids, with string entry points so that registering imports no env code."""

from skillgym.envs.registration import EnvEntry

_MODULE = "skillgym.envs.algorithmic"


def _entry(name: str, task: str, description: str, **kwargs) -> EnvEntry:
    return EnvEntry(
        name=name,
        entry_point=f"{_MODULE}.{task}:{_class(task)}Env",
        vector_entry_point=f"{_MODULE}.{task}:{_class(task)}VectorEnv",
        description=description,
        kwargs=kwargs,
    )


def _class(task: str) -> str:
    return "".join(part.capitalize() for part in task.split("_"))


ENTRIES: list[EnvEntry] = [
    _entry("Copy-v1", "copy", "Gym algorithmic port: copy the input tape (base 5)"),
    _entry(
        "RepeatCopy-v1",
        "repeat_copy",
        "Gym algorithmic port: write the input, reversed input, input (base 5)",
    ),
    _entry("Reverse-v1", "reverse", "Gym algorithmic port: write the input tape reversed (base 2)"),
    _entry(
        "ReversedAddition-v1",
        "reversed_addition",
        "Gym algorithmic port: add 2 base-3 numbers, least significant digit first",
        rows=2,
    ),
    _entry(
        "ReversedAddition3-v1",
        "reversed_addition",
        "Gym algorithmic port: add 3 base-3 numbers, least significant digit first",
        rows=3,
    ),
    _entry(
        "DuplicatedInput-v1",
        "duplicated_input",
        "Gym algorithmic port: write one symbol per run of 2 equal input symbols (base 5)",
    ),
]
