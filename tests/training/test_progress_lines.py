"""Progress written to a file or a pipe: plain lines, not a bar that shows only at the end."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from skillgym.progress import LineProgress, progress_bar


def _run(progress: Progress) -> None:
    progress.start()
    task = progress.add_task("search", total=4, status="")
    for done in range(1, 5):
        progress.update(task, completed=done, status=f"best {done / 10:.2f}")
    progress.stop()
    progress.stop()  # a second stop (a finally after the end) prints nothing more


def test_a_console_that_is_not_a_terminal_gets_progress_lines():
    console = Console(file=io.StringIO())
    progress = progress_bar(console, interval=0)
    assert isinstance(progress, LineProgress)
    _run(progress)
    lines = console.file.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "search: 0/4 (0%)", "search: 1/4 (25%)", "search: 2/4 (50%)", "search: 3/4 (75%)",
        "search: 4/4 (100%)"]
    assert lines[-1].endswith("left, best 0.40") and "elapsed" in lines[-1]


def test_lines_come_at_most_every_interval_and_at_the_end():
    console = Console(file=io.StringIO())
    _run(progress_bar(console, interval=3600))
    lines = console.file.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["search: 0/4 (0%)", "search: 4/4 (100%)"]


def test_a_terminal_gets_the_bar():
    console = Console(file=io.StringIO(), force_terminal=True)
    assert not isinstance(progress_bar(console), LineProgress)


def test_work_in_pieces_of_minutes_gets_a_remaining_time():
    """Pieces of 40 s (stand-alone trainings, table cells): after three, two are left, 80 s."""
    clock = [0.0]
    progress = LineProgress(Console(file=io.StringIO()), interval=0)
    progress.get_time = lambda: clock[0]
    task = progress.add_task("table", total=5, status="")
    for _ in range(3):
        clock[0] += 40.0
        progress.advance(task)
    assert progress.console.file.getvalue().splitlines()[-1] == (
        "table: 3/5 (60%), 0:02:00 elapsed, 0:01:20 left")
