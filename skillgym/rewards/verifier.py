"""Answer verification in exact arithmetic, and a deadline that works from any thread.

:func:`parse_value` reads integers, decimals, fractions and simple expressions (``+ - * / ^``,
parentheses, ``\\frac{}{}``) into a :class:`fractions.Fraction` with a small recursive-descent
parser: model text is never ``eval``-ed, and sizes are bounded (input length, digits, exponent),
so parsing cannot run away. :func:`answers_match` compares two answers by value when both parse,
and as normalized text otherwise (multiple-choice letters, words).

:class:`DeadlineRunner` runs any verifier (including slow third-party ones) under a wall-clock
deadline without ``signal.alarm``, so it works from worker threads too: a fixed pool of daemon
threads takes jobs from a bounded queue; the caller waits at most the deadline and then returns
the fallback. A verifier that never returns can hold at most the pool's threads, and once the
queue is full every further call returns its fallback at once: no call blocks past its deadline
and the thread count never grows.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from skillgym.rewards.base import as_text, check_int, check_number

# Bounds that keep exact arithmetic on model text cheap: no answer a grader should accept is
# longer, has more digits, or needs a larger power.
MAX_ANSWER_CHARS = 256
MAX_DIGITS = 400
MAX_EXPONENT = 64

_DROP = re.compile(r"\\(left|right|!|,|;|:| )|\$|~|\\%|%|°|\^\\circ")
_TEXT = re.compile(r"\\(?:text|mathrm|mbox)\{([^{}]*)\}")
_REPLACE = (("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\cdot", "*"), ("\\times", "*"),
            ("\\div", "/"), ("÷", "/"), ("×", "*"), ("−", "-"), ("{,}", ""), ("\\(", ""),
            ("\\)", ""), ("\\[", ""), ("\\]", ""))
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d{1,3})?"
_TOKEN = re.compile(rf"\s*({_NUMBER}|\\frac|[-+*/^(){{}}])")


class _Unparseable(Exception):
    """The text is not a value this parser reads."""


def _normalize(text: str, keep_text: bool = False) -> str:
    """Strip markup; ``\\text{...}`` is kept as its content (``keep_text``) or dropped as a unit."""
    text = _TEXT.sub(r"\1" if keep_text else "", text.strip())
    for old, new in _REPLACE:
        text = text.replace(old, new)
    text = _DROP.sub("", text)
    text = _THOUSANDS.sub(lambda match: match.group(0).replace(",", ""), text)
    if "=" in text:  # "x = 3/4": the value is what the last "=" assigns
        text = text.rpartition("=")[2]
    return text.strip().rstrip(".").strip()


class _Parser:
    """Recursive descent over ``expr := term (('+'|'-') term)*``, ``term := unary (('*'|'/')
    unary)*``, ``unary := ('+'|'-') unary | power``, ``power := atom ('^' unary)?``, ``atom :=
    number | '(' expr ')' | '{' expr '}' | '\\frac' '{' expr '}' '{' expr '}'``."""

    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                if text[position:].strip():
                    raise _Unparseable(text)
                break
            self.tokens.append(match.group(1))
            position = match.end()
        self.index = 0

    def parse(self) -> Fraction:
        value = self.expr()
        if self.index != len(self.tokens):
            raise _Unparseable("trailing tokens")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Unparseable(f"expected {expected!r}, got {token!r}")
        self.index += 1
        return token

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
            _check_size(value)
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while self.peek() in ("*", "/"):
            operator, right = self.take(), self.unary()
            if operator == "/" and right == 0:
                raise _Unparseable("division by zero")
            value = value * right if operator == "*" else value / right
            _check_size(value)
        return value

    def unary(self) -> Fraction:
        if self.peek() in ("+", "-"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        exponent = self.unary()
        if exponent.denominator != 1 or abs(exponent) > MAX_EXPONENT or (
                base == 0 and exponent < 0):
            raise _Unparseable("exponent out of range")
        value = base ** int(exponent)
        _check_size(value)
        return value

    def atom(self) -> Fraction:
        token = self.take()
        if token in ("(", "{"):
            value = self.expr()
            self.take(")" if token == "(" else "}")
            return value
        if token == "\\frac":
            self.take("{")
            numerator = self.expr()
            self.take("}")
            self.take("{")
            denominator = self.expr()
            self.take("}")
            if denominator == 0:
                raise _Unparseable("division by zero")
            return numerator / denominator
        if token[0].isdigit() or token[0] == ".":
            if len(token) > MAX_DIGITS:
                raise _Unparseable("too many digits")
            return Fraction(token)
        raise _Unparseable(f"unexpected {token!r}")


def _check_size(value: Fraction) -> None:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_DIGITS * 4:
        raise _Unparseable("value too large")


def parse_value(text: Any) -> Fraction | None:
    """The exact value of an answer such as ``"42"``, ``"-3.5"``, ``"3/4"``, ``"\\frac{1}{3}"``,
    ``"2^{10} - 1"``, ``"1,000"`` or ``"x = 0.25"``; ``None`` if it is not one."""
    text = as_text(text)
    if len(text) > 4 * MAX_ANSWER_CHARS:  # no markup makes an answer this long acceptable
        return None
    text = _normalize(text)
    if not text or len(text) > MAX_ANSWER_CHARS:
        return None
    try:
        return _Parser(text).parse()
    except (_Unparseable, ValueError, ZeroDivisionError, RecursionError):
        return None


def _normalize_text(text: str) -> str:
    return re.sub(r"\s+", " ", _normalize(text, keep_text=True)).strip().strip("()").lower()


def answers_match(predicted: Any, gold: Any) -> bool | None:
    """Whether a predicted answer equals the gold one; ``None`` when the gold answer is empty.

    Both parse as values: compare exactly (``"0.5" == "1/2" == "\\frac{2}{4}"``). Otherwise
    compare the normalized texts (case, spaces, ``$``, a trailing period and ``\\text{}`` do not
    matter), which covers multiple-choice letters and word answers.
    """
    gold_text = as_text(gold) if not isinstance(gold, (int, float, Fraction)) else str(gold)
    if not gold_text.strip():
        return None
    predicted_text = as_text(predicted)
    gold_value = parse_value(gold_text)
    if gold_value is not None:
        return parse_value(predicted_text) == gold_value
    gold_normalized = _normalize_text(gold_text) or gold_text.strip().lower()
    return _normalize_text(predicted_text) == gold_normalized


class _Job:
    __slots__ = ("function", "args", "expires", "done", "result", "failed", "abandoned")

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...], expires: float):
        self.function, self.args, self.expires = function, args, expires
        self.done = threading.Event()
        self.result: Any = None
        self.failed = False
        self.abandoned = False


_STOP = object()
_runner_ids = itertools.count()


class DeadlineRunner:
    """Run functions under a wall-clock deadline from any thread, with a fixed pool of threads.

    Args:
        workers: threads in the pool (created on first use).
        queue_size: jobs that may wait for a thread; when full, calls return their fallback at
            once instead of waiting.

    The runner pickles as its configuration (trainers ship reward functions to other processes);
    the copy starts its own threads when first used.
    """

    def __init__(self, workers: int = 1, queue_size: int = 64) -> None:
        check_int("workers", workers, 1)
        check_int("queue_size", queue_size, 1)
        self.workers = workers
        self.queue_size = queue_size
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.queue_size)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._name = f"skillgym-deadline-{next(_runner_ids)}"

    def __getstate__(self) -> dict[str, int]:
        return {"workers": self.workers, "queue_size": self.queue_size}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__dict__.update(state)
        self._start()

    def _ensure_threads(self) -> None:
        if self._pid != os.getpid():  # a forked child inherits the pool's objects, not its threads
            self._start()
        if len(self._threads) == self.workers:
            return
        with self._lock:
            while len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}-{len(self._threads)}")
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if job.abandoned or time.monotonic() > job.expires:
                continue
            try:
                job.result = job.function(*job.args)
            except Exception:  # a failing verifier scores as its fallback, never kills the pool
                job.failed = True
            job.done.set()

    def run(self, function: Callable[..., Any], args: tuple[Any, ...], deadline: float,
            fallback: Any) -> tuple[Any, bool]:
        """``(function(*args), True)`` if it returns within ``deadline`` seconds and does not
        raise; ``(fallback, False)`` otherwise. Never waits much longer than ``deadline``."""
        self._ensure_threads()
        job = _Job(function, args, time.monotonic() + deadline)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            return fallback, False
        if job.done.wait(deadline) and not job.failed:
            return job.result, True
        job.abandoned = True
        return fallback, False

    def close(self, timeout: float = 1.0) -> None:
        """Ask the threads to stop and wait up to ``timeout`` seconds for each idle one."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                break
        for thread in threads:
            thread.join(timeout)


def check_deadline(deadline: Any) -> None:
    """Raise ``ValueError`` unless ``deadline`` is a positive number of seconds."""
    check_number("deadline", deadline, minimum=0.0)
    if deadline <= 0:
        raise ValueError(f"deadline must be > 0 seconds, got {deadline!r}")
