"""Exact answer verification, and the thread-safe verifier deadline."""

from __future__ import annotations

import os
import pickle
import threading
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillgym.rewards import AccuracyReward, Sample
from skillgym.rewards.verifier import DeadlineRunner, answers_match, parse_value


@pytest.mark.parametrize(("text", "value"), [
    ("42", Fraction(42)),
    ("-3.5", Fraction(-7, 2)),
    ("3/4", Fraction(3, 4)),
    ("\\frac{1}{3}", Fraction(1, 3)),
    ("\\dfrac{-2}{6}", Fraction(-1, 3)),
    ("2^{10} - 1", Fraction(1023)),
    ("2^-2", Fraction(1, 4)),
    ("(1 + 2) * 3 / 4", Fraction(9, 4)),
    ("3 \\times 4 \\div 6", Fraction(2)),
    ("1,000,000", Fraction(10**6)),
    ("1{,}000", Fraction(1000)),
    ("x = 0.25", Fraction(1, 4)),
    ("$12$", Fraction(12)),
    ("15\\%", Fraction(15)),
    ("1.5e3", Fraction(1500)),
    ("\\left( 2 \\right)", Fraction(2)),
    ("7 \\text{ apples}", Fraction(7)),
    ("−5", Fraction(-5)),
])
def test_parse_value_exact(text, value):
    assert parse_value(text) == value


@pytest.mark.parametrize("text", [
    "", "abc", "1/0", "\\frac{1}{0}", "0^-1", "2^0.5", "2^{100}", "10^{10^{10}}", "1 +",
    "(1", "sqrt(2)", "9" * 500, "1" * 300, "import os", "__import__('os')", None, 3.5j,
])
def test_parse_value_rejects(text):
    assert parse_value(text) is None


@settings(max_examples=100, deadline=None)
@given(numerator=st.integers(-10**6, 10**6), denominator=st.integers(1, 10**4))
def test_equal_values_in_every_spelling_match(numerator, denominator):
    value = Fraction(numerator, denominator)
    spellings = [f"{numerator}/{denominator}", f"\\frac{{{numerator}}}{{{denominator}}}",
                 f"{value.numerator}/{value.denominator}"]
    if value.denominator == 1:
        spellings.append(str(value.numerator))
    for left in spellings:
        for right in spellings:
            assert answers_match(left, right)
    assert not answers_match(f"{numerator + 1}/{denominator}", spellings[0])


EXPRESSIONS = st.recursive(
    st.integers(0, 50).map(lambda n: (str(n), Fraction(n))),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from("+-*"), inner).map(
            lambda t: (f"({t[0][0]} {t[1]} {t[2][0]})",
                       {"+": t[0][1] + t[2][1], "-": t[0][1] - t[2][1],
                        "*": t[0][1] * t[2][1]}[t[1]])),
        st.tuples(inner, inner).filter(lambda t: t[1][1] != 0).map(
            lambda t: (f"\\frac{{{t[0][0]}}}{{{t[1][0]}}}", t[0][1] / t[1][1])),
    ),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(expression=EXPRESSIONS)
def test_expressions_evaluate_exactly(expression):
    text, value = expression
    assert parse_value(text) == value


def test_text_answers_compare_normalized():
    assert answers_match("B", "b")
    assert answers_match("  The Eiffel   Tower. ", "the eiffel tower")
    assert answers_match("(C)", "C")
    assert not answers_match("A", "B")
    assert answers_match("anything", "") is None
    assert answers_match(None, "1") is False
    assert answers_match("0.5", 0.5) and answers_match("3", 3)


def hang_forever(release: threading.Event) -> bool:
    release.wait()
    return True


def test_hung_verifier_falls_back_within_deadline_10000_times_without_leaking_threads():
    deadline, release = 0.0002, threading.Event()
    runner = DeadlineRunner(workers=2, queue_size=8)
    threads_before = threading.active_count()
    worst = 0.0
    results: list[tuple[object, bool]] = []

    def caller() -> None:  # from a worker thread: no signal.alarm involved
        nonlocal worst
        for _ in range(10_000):
            start = time.perf_counter()
            results.append(runner.run(hang_forever, (release,), deadline, "fallback"))
            worst = max(worst, time.perf_counter() - start)

    thread = threading.Thread(target=caller)
    thread.start()
    thread.join()
    try:
        assert len(results) == 10_000
        assert all(result == ("fallback", False) for result in results)
        # A hung call would never return; the slack only absorbs a busy machine's scheduling,
        # which delayed one of 10,000 calls by 0.26 s beside a training job.
        assert worst <= deadline + 2.0
        assert threading.active_count() <= threads_before + runner.workers
    finally:
        release.set()
    # Once the verifier returns, the same threads serve new calls again.
    recovered = time.monotonic() + 2.0
    while runner.run(pow, (2, 3), 0.5, None) != (8, True):
        assert time.monotonic() < recovered
    runner.close()
    assert threading.active_count() <= threads_before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_runner_works_in_a_forked_child():
    runner = DeadlineRunner()
    assert runner.run(pow, (2, 5), 5.0, None) == (32, True)
    child = os.fork()
    if child == 0:  # the child inherits the runner but not its threads
        os._exit(0 if runner.run(pow, (2, 6), 5.0, None) == (64, True) else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    runner.close()


def test_runner_returns_results_and_survives_failures_and_pickling():
    runner = DeadlineRunner()
    assert runner.run(pow, (2, 10), 5.0, None) == (1024, True)
    assert runner.run(divmod, (1, 0), 5.0, "fallback") == ("fallback", False)
    copy = pickle.loads(pickle.dumps(runner))
    assert copy.run(max, (3, 9), 5.0, None) == (9, True)
    runner.close()
    copy.close()


def slow_verifier(predicted: str, gold: object) -> bool:
    time.sleep(0.5)
    return True


def test_accuracy_reward_scores_timeouts_and_missing_truth():
    reward = AccuracyReward()
    assert reward("<think>2+2</think><answer>\\boxed{4}</answer>", ground_truth="4") == 1.0
    assert reward("<answer>5</answer>", ground_truth="4") == 0.0
    assert reward("<answer>4</answer>", ground_truth=None) is None
    slow = AccuracyReward(verifier=slow_verifier, deadline=0.01, timeout_score=-0.5)
    start = time.perf_counter()
    result = slow.explain(Sample.build("<answer>4</answer>", ground_truth="4"))
    assert time.perf_counter() - start < 0.01 + 0.1
    assert (result.score, result.details["finished"]) == (-0.5, False)
    assert slow.correct(Sample.build("4", ground_truth="4")) is False


def test_accuracy_reward_pickles_and_imports_verifiers_by_path():
    reward = AccuracyReward(verifier="skillgym.rewards.verifier:answers_match")
    copy = pickle.loads(pickle.dumps(reward))
    assert copy("\\boxed{0.5}", ground_truth="1/2") == 1.0


@pytest.mark.parametrize(("config", "argument"), [
    ({"deadline": 0}, "deadline"),
    ({"deadline": float("inf")}, "deadline"),
    ({"verifier": "nope"}, "verifier"),
    ({"verifier": "no.such.module:f"}, "verifier"),
    ({"workers": 0}, "workers"),
    ({"timeout_score": "low"}, "timeout_score"),
])
def test_accuracy_bad_configuration(config, argument):
    with pytest.raises(ValueError, match=argument):
        AccuracyReward(**config)


def test_markup_only_answers_do_not_match_empty_predictions():
    assert answers_match("", "\\text{Paris}") is False
    assert answers_match("Paris", "\\text{Paris}") is True
