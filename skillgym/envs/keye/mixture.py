"""The cold-start SFT mixture: Keye-VL's response modes on graded arithmetic, as JSONL.

Each sample is one conversation in the format TRL's ``SFTTrainer`` reads, plus metadata columns::

    {"messages": [{"role": "user", "content": "Calculate 7-12*3. /think"},
                  {"role": "assistant",
                   "content": "<think>7-12*3\\n...\\n-29</think><answer>-29</answer>"}],
     "problem_id": "L5-…", "level": 5, "digits": 2, "mode": "think", "switch": "think",
     "form": "think", "answer": -29, "split": "train", "stutters": false}

The responses, in the forms :func:`skillgym.rewards.parsing.parse_response` reads strictly:

- **think** (switch ``/think``): ``<think>trace</think><answer>N</answer>``, the trace from the AEC
  oracle (:mod:`skillgym.envs.keye.traces`). The number is not put in ``\\boxed{}``: Keye's
  evaluator order (:func:`~skillgym.rewards.parsing.extract_answer`) takes the ``<answer>`` block
  when it holds no box, and the exact verifier compares values, so the box would only cost the
  small model eight bytes of context.
- **no_think** (switch ``/no_think``): the number alone.
- **auto_think** (switch ``/auto_think``, or no switch, which Keye-VL-1.5 reads as auto-think):
  ``<analysis>`` with a short judgement of the problem (its kind, its largest numbers, and whether
  direct answers are reliable) ending with Keye's sentence ``Therefore, /think mode is more
  appropriate.`` or ``Therefore, /no_think mode is more appropriate.``, then the chosen form.

The auto-think choice is grounded in a measurement: an :class:`AccuracyTable` of non-thinking
accuracy by level and by (level, digits), loaded from the evaluation of a first SFT pass with
:func:`load_accuracy_table`; a problem gets ``/think`` when its measured non-thinking accuracy is
below ``think_threshold``. :data:`BOOTSTRAP_ACCURACY` is a guess used only to build the first
mixture, before any measurement exists.

The mode proportions default to Keye-VL-1.5's text-mode cold-start data, 330k non-reasoning :
230k reasoning : 20k auto-think samples; its agentic (think-with-image) samples work on images,
which a text model cannot, so they are left out.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skillgym.envs.keye.tasks import (
    DEFAULT_TEST_FRACTION,
    LEVEL_NUMBERS,
    SPLITS,
    Problem,
    level_of,
    sample_problems,
)

MODES = ("think", "no_think", "auto_think")
#: Keye-VL-1.5's text-mode cold-start samples per mode, in thousands (agentic samples left out).
KEYE_TEXT_PROPORTIONS: Mapping[str, float] = {"no_think": 330, "think": 230, "auto_think": 20}
ON_ERROR = ("raise", "skip")
#: The fewest words a stuttered line's repeats cover: more than the default loop detector's
#: 16-unit span, so that every stuttered trace is a loop by that detector.
STUTTER_WORDS = 24
#: The longest line a trace stutters on when it has a shorter one: the default loop detector's
#: longest period.
STUTTER_MAX_WORDS = 30


def choice_sentence(mode: str) -> str:
    """Keye's sentence that ends an auto-think analysis choosing ``mode`` (think or no_think)."""
    if mode not in ("think", "no_think"):
        raise ValueError(f"mode must be 'think' or 'no_think', got {mode!r}")
    return f"Therefore, /{mode} mode is more appropriate."


# -- measured non-thinking accuracy ---------------------------------------------------------------


@dataclass(frozen=True)
class AccuracyTable:
    """Non-thinking accuracy by level, and by level and digits where enough was measured.

    Args:
        by_level: level -> ``(accuracy, samples measured)``.
        by_level_digits: ``(level, digits)`` -> ``(accuracy, samples measured)``.
        source: where the numbers come from (a file, or the bootstrap).
        min_count: a ``(level, digits)`` entry is used only when measured on at least this many
            samples; otherwise its level's entry is.
    """

    by_level: Mapping[int, tuple[float, int]]
    by_level_digits: Mapping[tuple[int, int], tuple[float, int]] = field(default_factory=dict)
    source: str = "measurement"
    min_count: int = 20

    def no_think_accuracy(self, level: int, digits: int) -> float:
        """The accuracy to judge a problem of ``level`` with ``digits``-digit numbers by."""
        finer = self.by_level_digits.get((level, digits))
        if finer is not None and finer[1] >= self.min_count:
            return finer[0]
        if level not in self.by_level:
            raise ValueError(
                f"the accuracy table ({self.source}) has no entry for level {level}; "
                f"it has levels {sorted(self.by_level)}"
            )
        return self.by_level[level][0]


#: THE BOOTSTRAP: assumed (not measured) non-thinking accuracy of a small model, used only to
#: build the first mixture. One-digit work and copying are taken as reliable, everything with
#: carries or several operations as not. Replace it with :func:`load_accuracy_table` on the
#: evaluation of the first SFT pass.
BOOTSTRAP_ACCURACY = AccuracyTable(
    by_level={1: (1.0, 0), 2: (1.0, 0), 3: (0.5, 0), 4: (0.3, 0), 5: (0.1, 0), 6: (0.05, 0)},
    source="bootstrap (assumed, not measured)",
)


def accuracy_table(records: Iterable[Mapping], source: str = "records",
                   min_count: int = 20) -> AccuracyTable:
    """The table of non-thinking accuracy from per-problem evaluation records.

    Each record is a mapping with ``"level"`` (int), ``"digits"`` (int), ``"mode"`` (the mode
    the answer was asked in) and ``"correct"`` (bool); only ``"no_think"`` records count.
    """
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be a positive int, got {min_count!r}")
    by_level: dict[int, list[int]] = {}
    by_level_digits: dict[tuple[int, int], list[int]] = {}
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ValueError(f"{source}: record {index} is not an object: {record!r}")
        missing = [key for key in ("level", "digits", "mode", "correct") if key not in record]
        if missing:
            raise ValueError(f"{source}: record {index} lacks {missing}: {record!r}")
        if record["mode"] != "no_think":
            continue
        level, digits, correct = record["level"], record["digits"], record["correct"]
        if level not in LEVEL_NUMBERS or isinstance(level, bool):
            raise ValueError(f"{source}: record {index} has level {level!r}; "
                             f"levels are {list(LEVEL_NUMBERS)}")
        if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
            raise ValueError(f"{source}: record {index} has digits {digits!r}, not an int >= 1")
        if not isinstance(correct, bool):
            raise ValueError(f"{source}: record {index} has correct {correct!r}, not a bool")
        for table, key in ((by_level, level), (by_level_digits, (level, digits))):
            tally = table.setdefault(key, [0, 0])
            tally[0] += correct
            tally[1] += 1
    if not by_level:
        raise ValueError(f"{source}: no no_think records, so no non-thinking accuracy")

    def rates(table: dict) -> dict:
        return {key: (right / total, total) for key, (right, total) in table.items()}

    return AccuracyTable(rates(by_level), rates(by_level_digits), source, min_count)


def load_accuracy_table(path: str | os.PathLike, min_count: int = 20) -> AccuracyTable:
    """The table from a measurement file: JSON ``{"records": [{"level": 3, "digits": 2,
    "mode": "no_think", "correct": true}, ...]}``, one record per evaluated problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise ValueError(f"{path}: expected an object with a 'records' list")
    return accuracy_table(data["records"], source=str(path), min_count=min_count)


def measured_or_bootstrap(path: str | os.PathLike | None) -> AccuracyTable:
    """The table measured in ``path`` (:func:`load_accuracy_table`), or, with no path, the
    bootstrap guess that only a first pass should use."""
    return load_accuracy_table(path) if path else BOOTSTRAP_ACCURACY


# -- responses ------------------------------------------------------------------------------------


def think_response(problem: Problem, trace: str | None = None) -> str:
    """``<think>`` with the oracle's trace (or ``trace``, e.g. :func:`stuttered`'s), then
    ``<answer>``."""
    trace = problem.trace.text if trace is None else trace
    return f"<think>{trace}</think><answer>{problem.answer}</answer>"


def stuttered(problem: Problem, rng: np.random.Generator) -> str:
    """The oracle's trace with one line, drawn from all but the answer, said over and over.

    The line is repeated at least three times, and until its repeats cover
    :data:`STUTTER_WORDS` words (plus up to two more, so that no count is learned as a rule).
    It is drawn from the lines short enough for the default loop detector
    (:class:`~skillgym.rewards.repetition.LoopPenalty`, periods of up to 30 words) when there
    are any, so that a stuttered trace loops by that detector, yet it still ends with the right
    answer: an accuracy reward alone does not tell it from a clean one.
    """
    lines = list(problem.trace.lines)
    working = range(max(len(lines) - 1, 1))
    words = [len(lines[i].split()) for i in working]
    short = [i for i in working if words[i] <= STUTTER_MAX_WORDS] or [int(np.argmin(words))]
    index = short[int(rng.integers(0, len(short)))]
    words = words[index]
    repeats = max(3, math.ceil(STUTTER_WORDS / words)) + int(rng.integers(0, 3))
    lines[index:index + 1] = [lines[index]] * repeats
    return "\n".join(lines)


def no_think_response(problem: Problem) -> str:
    """The answer alone."""
    return str(problem.answer)


def analysis(problem: Problem, think: bool) -> str:
    """Keye's ``<analysis>`` block: the problem's kind and size, whether answering it directly
    is reliable (``think`` says it is not), and the choice sentence."""
    kind = level_of(problem.level).kind
    size = f"up to {problem.digits} digit{'s' if problem.digits > 1 else ''}"
    verdict = "unreliable" if think else "reliable"
    return (f"<analysis>{kind}, {size}; direct answers are {verdict}. "
            f"{choice_sentence('think' if think else 'no_think')}</analysis>")


def auto_think_response(problem: Problem, think: bool, trace: str | None = None) -> str:
    """The analysis, then the form it chose (thinking with ``trace`` if given)."""
    form = think_response(problem, trace) if think else no_think_response(problem)
    return analysis(problem, think) + form


# -- the builder ----------------------------------------------------------------------------------


def _check_weights(argument: str, weights: Mapping, allowed: Iterable) -> None:
    allowed = list(allowed)
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(f"{argument} must be a non-empty mapping over {allowed}, got {weights!r}")
    unknown = [key for key in weights if key not in allowed]
    if unknown:
        raise ValueError(f"{argument}: unknown keys {unknown}; allowed: {allowed}")
    for key, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (
            math.isfinite(weight) and weight >= 0
        ):
            raise ValueError(f"{argument}[{key!r}] must be a finite number >= 0, got {weight!r}")
    if not sum(weights.values()) > 0:
        raise ValueError(f"{argument}: the weights sum to 0")


@dataclass(frozen=True)
class MixtureConfig:
    """What :func:`build_mixture` builds.

    Args:
        size: the number of samples.
        proportions: weight of each mode (``think``, ``no_think``, ``auto_think``); the default
            is Keye's text-mode cold-start ratio 230 : 330 : 20.
        level_weights: weight of each level within each mode (default: equal).
        seed: draws the problems and the order; same seed, same file.
        split: ``"train"`` for training, ``"test"`` for the held-out evaluation set.
        test_fraction: the share of problem texts held out (see :func:`~.tasks.split_of`).
        no_switch_fraction: the share of auto-think prompts without any switch.
        think_threshold: auto-think chooses ``/think`` when the measured non-thinking accuracy
            is below this.
        accuracy: the measured non-thinking accuracy (:func:`load_accuracy_table`); the default
            is the bootstrap guess.
        loop_fraction: the share of thinking responses whose trace stutters
            (:func:`stuttered`), as distilled cold-start data with repetitive output does: a
            model trained on it loops, a starting point for studying repetition correction.
            The default, 0, leaves every trace clean; the other draws do not depend on it.
    """

    size: int = 50_000
    proportions: Mapping[str, float] = field(default_factory=lambda: dict(KEYE_TEXT_PROPORTIONS))
    level_weights: Mapping[int, float] = field(
        default_factory=lambda: dict.fromkeys(LEVEL_NUMBERS, 1.0)
    )
    seed: int = 0
    split: str = "train"
    test_fraction: float = DEFAULT_TEST_FRACTION
    no_switch_fraction: float = 0.5
    think_threshold: float = 0.9
    accuracy: AccuracyTable = BOOTSTRAP_ACCURACY
    loop_fraction: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"size must be a non-negative int, got {self.size!r}")
        _check_weights("proportions", self.proportions, MODES)
        _check_weights("level_weights", self.level_weights, LEVEL_NUMBERS)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {self.split!r}")
        for name in ("no_switch_fraction", "think_threshold", "loop_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0 <= value <= 1
            ):
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        if not isinstance(self.accuracy, AccuracyTable):
            raise ValueError(f"accuracy must be an AccuracyTable, got {type(self.accuracy)}")


def apportion(total: int, weights: Mapping) -> dict:
    """``total`` split over the keys in proportion to ``weights``, by largest remainders: the
    counts sum to ``total`` and each is within 1 of its exact share (ties go to earlier keys)."""
    weight_sum = sum(weights.values())
    shares = {key: total * weight / weight_sum for key, weight in weights.items()}
    counts = {key: math.floor(share) for key, share in shares.items()}
    order = sorted(shares, key=lambda key: -(shares[key] - counts[key]))
    for key in order[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def chooses_think(problem: Problem, config: MixtureConfig) -> bool:
    """Whether auto-think should think on ``problem``: its measured non-thinking accuracy is
    below the threshold."""
    accuracy = config.accuracy.no_think_accuracy(problem.level, problem.digits)
    return accuracy < config.think_threshold


def build_mixture(config: MixtureConfig | None = None) -> list[dict]:
    """The samples of the mixture ``config`` describes, in a seeded random order.

    Mode counts follow ``proportions`` exactly (largest remainders), level counts within each
    mode follow ``level_weights``; each level's problems are the first ones of its seeded stream
    in ``split``, dealt to the modes in a seeded random order.
    """
    config = config or MixtureConfig()
    rng = np.random.default_rng([config.seed, 12])
    # A stream of its own, so that a mixture with loop_fraction 0 is drawn as it always was.
    stutters = np.random.default_rng([config.seed, 13])
    mode_counts = apportion(config.size, {m: config.proportions.get(m, 0) for m in MODES})
    wanted = {mode: apportion(count, config.level_weights) for mode, count in mode_counts.items()}
    samples = []
    for level in config.level_weights:
        modes = [mode for mode in MODES for _ in range(wanted[mode][level])]
        problems = sample_problems(level, len(modes), config.seed, config.split,
                                   config.test_fraction)
        modes = [modes[i] for i in rng.permutation(len(modes))]
        autos = [i for i, mode in enumerate(modes) if mode == "auto_think"]
        silent = set(rng.permutation(autos)[: round(len(autos) * config.no_switch_fraction)]
                     .tolist())
        for index, (problem, mode) in enumerate(zip(problems, modes, strict=True)):
            samples.append(_sample(problem, mode, "none" if index in silent else mode, config,
                                   stutters))
    return [samples[i] for i in rng.permutation(len(samples))]


def _sample(problem: Problem, mode: str, switch: str, config: MixtureConfig,
            stutters: np.random.Generator) -> dict:
    think = mode == "think" or (mode == "auto_think" and chooses_think(problem, config))
    trace = None
    if think and config.loop_fraction > 0 and stutters.random() < config.loop_fraction:
        trace = stuttered(problem, stutters)
    if mode == "think":
        response = think_response(problem, trace)
    elif mode == "no_think":
        response = no_think_response(problem)
    else:
        response = auto_think_response(problem, think, trace)
    form = "think" if think else "no_think"
    return {
        "messages": [
            {"role": "user", "content": problem.with_switch(switch)},
            {"role": "assistant", "content": response},
        ],
        "problem_id": problem.id,
        "level": problem.level,
        "digits": problem.digits,
        "mode": mode,
        "switch": switch,
        "form": form,
        "answer": problem.answer,
        "split": problem.split,
        "stutters": trace is not None,
    }


# -- JSONL ----------------------------------------------------------------------------------------


def write_mixture(samples: Iterable[Mapping], path: str | os.PathLike) -> Path:
    """Write samples as JSONL (one object per line, UTF-8); the path written."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as file:
        for sample in samples:
            file.write(json.dumps(sample, ensure_ascii=False) + "\n")
    return path


class MalformedSampleError(ValueError):
    """A mixture line that is not a valid sample; the message names the file and line."""

    def __init__(self, path: str | os.PathLike, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class MixtureFile:
    """What :func:`read_mixture` read: the samples, and the malformed lines it skipped."""

    samples: list[dict]
    skipped: list[MalformedSampleError]


def sample_problem(sample: object) -> str | None:
    """What is wrong with a sample, or ``None``: it must be an object whose ``messages`` is a
    user message then an assistant message, each with string ``content``."""
    if not isinstance(sample, dict):
        return f"expected a JSON object, got {type(sample).__name__}"
    messages = sample.get("messages")
    if not isinstance(messages, list):
        return "missing 'messages' list"
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    if roles != ["user", "assistant"]:
        return f"messages must have roles ['user', 'assistant'], got {roles}"
    for message in messages:
        if not isinstance(message.get("content"), str):
            return f"the {message['role']} message's content is not a string"
    return None


def read_mixture(path: str | os.PathLike, on_error: str = "raise") -> MixtureFile:
    """Read a mixture JSONL file; blank lines are ignored.

    Args:
        path: the file.
        on_error: ``"raise"`` (the default) raises :class:`MalformedSampleError` naming the
            file and line of the first malformed line (bad UTF-8 or JSON, no ``messages``,
            wrong roles); ``"skip"`` leaves such lines out and lists them in
            :attr:`MixtureFile.skipped`, so that one bad sample cannot end a training run.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {list(ON_ERROR)}, got {on_error!r}")
    samples: list[dict] = []
    skipped: list[MalformedSampleError] = []
    with Path(path).open("rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                reason = f"not UTF-8 ({error.reason} at byte {error.start})"
            else:
                if not text.strip():
                    continue
                try:
                    sample = json.loads(text)
                except json.JSONDecodeError as error:
                    reason = f"bad JSON: {error.msg} at column {error.colno}"
                else:
                    reason = sample_problem(sample)
                    if reason is None:
                        samples.append(sample)
                        continue
            error = MalformedSampleError(path, number, reason)
            if on_error == "raise":
                raise error
            skipped.append(error)
    return MixtureFile(samples, skipped)
