"""Loop-detector quality on a labelled set this script generates: F1 and false positives.

The set: clean chain-of-thought-style texts (English and Chinese, drawn from sentence templates
with random numbers, names and objects, never the same template twice in a row; some templates
carry the natural repetition of real reasoning, such as "2 × 2 × 2", "0.3333333", "哈哈哈",
markdown tables and a sentence said twice, which must not count as loops), and the same
texts with one loop injected at a random point. A loop repeats the ``p`` units that follow the
injection point (``p`` = 1–30; words for English, characters for Chinese, 4-character word
pieces for English "tokens"), back to back, as a model stuck in a loop does, until it covers at
least 40 units and at least 3 repeats, plus 0–3 more repeats. The detector
(:class:`skillgym.rewards.repetition.LoopPenalty`, default settings) is run on every text;
loop texts are the positive class. A second table, outside the labelled set, shows the recall on
loops of exactly 3 repeats by period: where the detector's ``min_span`` starts to flag them.

Prints a table per language/unit and overall, and writes
``benchmarks/results/loop_detection.json``. Usage:
``python benchmarks/loop_detection.py [--texts 500] [--seed 0]``
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from skillgym.rewards.base import Sample
from skillgym.rewards.repetition import LoopPenalty

RESULTS = Path(__file__).resolve().parent / "results"
MIN_LOOP_UNITS, MIN_LOOP_REPEATS = 40, 3
SHORT_BUCKETS = ((1, 3), (4, 7), (8, 15), (16, 30))

NAMES = ["Alice", "Bob", "Carmen", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
OBJECTS = ["apples", "marbles", "books", "coins", "tickets", "pencils", "cards", "stamps",
           "oranges", "shells"]
ENGLISH = [
    "First, let me restate the problem: {a} has {x} {o} and gives {y} of them to {b}.",
    "So {a} is left with {x} - {y} = {d} {o}.",
    "Wait, I should double-check that subtraction before moving on.",
    "Let me denote the unknown quantity by n and write an equation for it.",
    "If we multiply both sides by {y}, we get {p} on the right-hand side.",
    "Hmm, that does not look right, because {p} is larger than the total of {s}.",
    "Let's try a different approach and count the {o} in groups of {y}.",
    "There are {q} full groups and a remainder of {r}.",
    "Checking: {q} times {y} plus {r} equals {x}, which matches the statement.",
    "Now consider what happens when {b} buys {z} more {o} at the market.",
    "The new total for {b} becomes {y} + {z} = {t}.",
    "Is it possible that the question asks for the difference instead of the sum?",
    "Re-reading the question, it asks how many {o} {b} has at the end.",
    "So the relevant number is {t}, not {s}.",
    "Alternatively, we could set up a table with one row per person.",
    "In the table, {a} has {d} and {b} has {t}, so together they have {u}.",
    "Let me verify the arithmetic once more: {d} + {t} = {u}.",
    "That seems consistent with every condition given in the problem.",
    "One more sanity check: the answer must be a whole number of {o}.",
    "Indeed {t} is a positive integer, so nothing is fractional here.",
    "Note that the ratio {x}/{y} simplifies to about {f}.",
    "This ratio is not needed for the final answer, but it confirms the scale.",
    "Suppose instead that {a} kept all {x} {o}; then {b} would have only {z}.",
    "That scenario contradicts the statement, so we can discard it.",
    "Therefore, the final count for {b} is {t}.",
    "Before concluding, let me make sure I did not misread any number.",
    "The numbers in the problem are {x}, {y} and {z}, exactly as I used them.",
    "Good, the reasoning holds together from start to finish.",
    "We can also solve it algebraically: let x = {x} and y = {y}, then x - y = {d}.",
    "Plugging the values back in gives the same result, {d} for {a}.",
    "A quick estimate: roughly {e} percent of the {o} changed hands.",
    "The problem also mentions {c}, but {c} does not affect the count.",
    "I think the key insight is that only the transfer between {a} and {b} matters.",
    "Let me summarize: {a} ends with {d}, {b} ends with {t}.",
    "So the answer is \\boxed{{{t}}}.",
    # Natural repetition that a loop detector must not flag:
    "Expanding, {y}^6 = {y} × {y} × {y} × {y} × {y} × {y}.",
    "As a decimal, 1/3 = 0.3333333333 and 2/3 = 0.6666666667.",
    "Very, very carefully: the count is {x}, {x}, and again {x} after recounting.",
    "| step | {a} | {b} |\n|---|---|---|\n| start | {x} | {y} |\n| end | {d} | {t} |",
    "Case 1 works, case 2 works, case 3 works, so every case up to {q} works.",
    "Let me verify. Let me verify that {d} + {y} = {x}.",
    "The sequence is {y}, {y}, {y}, {z}, {z}, {z}, which has period three.",
    "Hmm... wait... no, that is fine.",
    "Yes, yes: {t} is right.",
]
ZH_NAMES = ["小明", "小红", "老王", "李雷", "韩梅梅", "张伟", "王芳", "刘洋", "陈静", "赵磊"]
ZH_OBJECTS = ["苹果", "铅笔", "书本", "硬币", "邮票", "橘子", "贝壳", "卡片", "气球", "糖果"]
CHINESE = [
    "首先把题目重新理解一遍：{a}有{x}个{o}，给了{b}{y}个。",
    "所以{a}还剩下{x}减{y}等于{d}个{o}。",
    "等一下，我需要再检查一下这个减法是否正确。",
    "设未知数为n，然后根据题意列出方程。",
    "两边同时乘以{y}，右边得到{p}。",
    "这看起来不太对，因为{p}比总数{s}还要大。",
    "换一种思路，把{o}按每组{y}个来分。",
    "一共可以分成{q}组，还余下{r}个。",
    "验证一下：{q}乘以{y}再加上{r}等于{x}，和题目一致。",
    "接下来考虑{b}又买了{z}个{o}的情况。",
    "这时{b}一共有{y}加{z}等于{t}个。",
    "题目问的会不会是差而不是和呢？",
    "再读一遍题目，问的是{b}最后有多少个{o}。",
    "所以需要的数是{t}，而不是{s}。",
    "也可以列一个表格，每个人占一行。",
    "表格里{a}有{d}个，{b}有{t}个，合起来是{u}个。",
    "再核对一次计算：{d}加{t}等于{u}。",
    "这和题目给出的所有条件都相符。",
    "还要检查一点：答案必须是整数个{o}。",
    "{t}确实是正整数，没有出现分数。",
    "注意{x}除以{y}大约等于{f}。",
    "这个比例对最终答案没有影响，但可以帮助判断数量级。",
    "假设{a}一个都没有送出，那么{b}只会有{z}个。",
    "这与题意矛盾，所以这种情况可以排除。",
    "因此{b}最后的数量是{t}个。",
    "在下结论之前，确认一下有没有看错数字。",
    "题目中的数字是{x}、{y}和{z}，和我用的完全一样。",
    "很好，整个推理过程前后一致。",
    "也可以用代数方法：令x等于{x}，y等于{y}，则x减y等于{d}。",
    "把数值代回去，得到的结果同样是{d}。",
    "粗略估计，大约有百分之{e}的{o}换了主人。",
    "题目还提到了{c}，但{c}不影响计数。",
    "关键在于只有{a}和{b}之间的转移才重要。",
    "总结一下：{a}最后有{d}个，{b}最后有{t}个。",
    "所以答案是\\boxed{{{t}}}。",
    # 检测器不应报告的自然重复：
    "展开得到{y}的6次方等于{y}×{y}×{y}×{y}×{y}×{y}。",
    "写成小数，三分之一等于0.3333333333。",
    "哈哈哈，原来这么简单。",
    "嗯嗯，对对对，就是{t}。",
    "等等……再想想……没问题。",
    "第1种情况成立，第2种情况成立，第3种情况成立。",
    "我再验证一下。我再验证一下{d}加{y}是否等于{x}。",
    "数列是{y}，{y}，{y}，{z}，{z}，{z}，周期为三。",
    "|步骤|{a}|{b}|\n|---|---|---|\n|开始|{x}|{y}|",
]


def clean_text(rng: np.random.Generator, language: str, sentences: int) -> str:
    """A chain-of-thought-like text of about ``sentences`` sentences."""
    templates = ENGLISH if language == "en" else CHINESE
    names = NAMES if language == "en" else ZH_NAMES
    objects = OBJECTS if language == "en" else ZH_OBJECTS
    parts, previous = [], -1
    for _ in range(sentences):
        choice = previous
        while choice == previous:
            choice = int(rng.integers(len(templates)))
        previous = choice
        x, y, z = (int(value) for value in rng.integers([20, 2, 1], [500, 19, 60]))
        a, b, c = rng.choice(names, 3, replace=False)
        values = {"a": a, "b": b, "c": c, "o": rng.choice(objects), "x": x, "y": y, "z": z,
                  "d": x - y, "t": y + z, "s": x + z, "u": x + z, "p": x * y, "q": x // y,
                  "r": x % y, "e": int(100 * y / x), "f": f"{x / y:.2f}"}
        parts.append(templates[choice].format(**values))
    return (" " if language == "en" else "").join(parts)


def units_of(text: str, unit: str) -> list[str]:
    """The text as the units its loops are injected in."""
    if unit == "words":
        return text.split()
    if unit == "chars":
        return list(text)
    return [word[i:i + 4] for word in text.split() for i in range(0, len(word), 4)]


def join_units(units: list[str], unit: str) -> str:
    """Units back into text (characters joined directly, words and pieces by spaces)."""
    return "".join(units) if unit == "chars" else " ".join(units)


def inject_loop(rng: np.random.Generator, units: list[str], short: bool = False,
                ) -> tuple[list[str], int]:
    """The units with the ``p`` units after a random point repeated back to back, and ``p``.

    A labelled loop repeats until it covers ``MIN_LOOP_UNITS`` units (at least
    ``MIN_LOOP_REPEATS`` times) plus 0–3 more times; a ``short`` one exactly 3 times.
    """
    period = int(rng.integers(1, 31))
    start = int(rng.integers(0, max(1, len(units) - period)))
    piece = units[start:start + period]
    if short:
        repeats = MIN_LOOP_REPEATS
    else:
        repeats = max(MIN_LOOP_REPEATS, math.ceil(MIN_LOOP_UNITS / len(piece)))
        repeats += int(rng.integers(0, 4))
    return units[:start] + piece * repeats + units[start + len(piece):], len(piece)


def as_sample(variant: list[str], unit: str, vocabulary: dict[str, int]) -> Sample:
    """The units as the detector's input: text, or token ids for ``unit="tokens"``."""
    if unit == "tokens":
        ids = [vocabulary.setdefault(piece, len(vocabulary)) for piece in variant]
        return Sample.build(" ".join(variant), completion_ids=ids)
    return Sample.build(join_units(variant, unit))


def evaluate(rng: np.random.Generator, language: str, unit: str, texts: int,
             progress: Progress) -> dict[str, float]:
    """Precision, recall, F1 and false-positive rate on ``texts`` clean + ``texts`` loop texts."""
    detector = LoopPenalty(unit=unit)
    task = progress.add_task(f"{language}/{unit}", total=texts)
    samples, labels, short_samples, short_periods = [], [], [], []
    vocabulary: dict[str, int] = {}
    for _ in range(texts):
        units = units_of(clean_text(rng, language, int(rng.integers(6, 30))), unit)
        for variant, label in ((units, False), (inject_loop(rng, units)[0], True)):
            samples.append(as_sample(variant, unit, vocabulary))
            labels.append(label)
        variant, period = inject_loop(rng, units, short=True)
        short_samples.append(as_sample(variant, unit, vocabulary))
        short_periods.append(period)
        progress.advance(task)
    flagged = np.array([score < 0 for score in detector.score_batch(samples)])
    short_flagged = np.array([score < 0 for score in detector.score_batch(short_samples)])
    short_periods_array = np.array(short_periods)
    short_recall = {f"{low}-{high}": float(short_flagged[(short_periods_array >= low)
                                                         & (short_periods_array <= high)].mean())
                    for low, high in SHORT_BUCKETS}
    truth = np.array(labels)
    true_positive = int((flagged & truth).sum())
    false_positive = int((flagged & ~truth).sum())
    false_negative = int((~flagged & truth).sum())
    precision = true_positive / max(true_positive + false_positive, 1)
    recall = true_positive / max(true_positive + false_negative, 1)
    return {"language": language, "unit": unit, "texts": len(samples),
            "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / max(precision + recall, 1e-12),
            "false_positive_rate": false_positive / int((~truth).sum()),
            "true_positives": true_positive, "false_positives": false_positive,
            "false_negatives": false_negative, "short_loop_recall_by_period": short_recall}


def main() -> None:
    """Generate the labelled set, run the detector, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=500, help="clean texts per setting")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    settings = [("en", "words"), ("zh", "chars"), ("en", "tokens")]
    with Progress(transient=True) as progress:
        rows = [evaluate(rng, language, unit, args.texts, progress) for language, unit in settings]
    totals = {key: sum(row[key] for row in rows)
              for key in ("true_positives", "false_positives", "false_negatives")}
    precision = totals["true_positives"] / max(totals["true_positives"]
                                                + totals["false_positives"], 1)
    recall = totals["true_positives"] / max(totals["true_positives"]
                                             + totals["false_negatives"], 1)
    overall = {"language": "all", "unit": "all", "texts": sum(row["texts"] for row in rows),
               "precision": precision, "recall": recall,
               "f1": 2 * precision * recall / max(precision + recall, 1e-12),
               "false_positive_rate": totals["false_positives"] / (
                   sum(row["texts"] for row in rows) / 2), **totals}
    table = Table(title="loop detector on generated clean / looping texts (targets: F1 >= 0.95, "
                        "false positives <= 1%)")
    for column in ("language", "unit", "texts", "precision", "recall", "F1", "false pos. rate"):
        table.add_column(column, justify="right")
    for row in [*rows, overall]:
        table.add_row(row["language"], row["unit"], str(row["texts"]), f"{row['precision']:.4f}",
                      f"{row['recall']:.4f}", f"{row['f1']:.4f}",
                      f"{row['false_positive_rate']:.2%}")
    console = Console()
    console.print(table)
    short = Table(title="outside the labelled set: recall on loops of exactly 3 repeats, by "
                        "period (below min_span they are not flagged, by design)")
    short.add_column("language")
    short.add_column("unit")
    for low, high in SHORT_BUCKETS:
        short.add_column(f"p = {low}-{high}", justify="right")
    for row in rows:
        short.add_row(row["language"], row["unit"],
                      *(f"{value:.2f}" for value in row["short_loop_recall_by_period"].values()))
    console.print(short)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "loop_detection.json").write_text(json.dumps(
        {"benchmark": "loop detection", "seed": args.seed,
         "detector": "LoopPenalty defaults", "settings": rows, "overall": overall}, indent=2))


if __name__ == "__main__":
    main()
