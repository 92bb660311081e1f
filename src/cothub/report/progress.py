"""Live feedback on a run: a progress bar on a terminal (done/total, running accuracy,
requests/s, ETA); plain lines in a log or a pipe (one at start, one per task done)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cothub.run.spec import Progress
    from cothub.types import SampleRecord


def progress_for(label: str, stream: IO[str] | None = None) -> Progress:
    """The bar when ``stream`` (stderr by default) is a terminal, plain lines otherwise: a bar
    redrawn into a log file is unreadable, and one drawn only at the end says nothing."""
    out = stream or sys.stderr
    isatty = getattr(out, "isatty", None)
    if callable(isatty) and isatty():
        return RichProgress(label)
    return LineProgress(label, stream)


class LineProgress:
    """One line when the run is recorded (before any request, so that a user tailing the log
    can ``cothub show`` the run id at once) and one per task as its last item is graded;
    each flushed as it is written, so a killed run leaves what it had said."""

    def __init__(self, label: str, stream: IO[str] | None = None) -> None:
        self._label = label
        self._out = stream
        self._run_id = ""
        self._totals: Counter[str] = Counter()
        self._records: Sequence[SampleRecord] = ()
        self._seen = 0
        self._done: Counter[str] = Counter()
        self._correct: Counter[str] = Counter()
        self._unparsed: Counter[str] = Counter()
        self._truncated: Counter[str] = Counter()
        self._cached: Counter[str] = Counter()
        self._t0 = time.perf_counter()

    def begun(self, run_id: str, tasks: Sequence[str], records: Sequence[SampleRecord]) -> None:
        self._run_id, self._records, self._seen = run_id, records, 0
        self._totals = Counter(tasks)
        self._t0 = time.perf_counter()
        names = ", ".join(self._totals) or "-"
        self._say(
            f"run {run_id} started · model {self._label} · tasks {names} · {len(tasks)} items"
        )

    def start(self, total: int, done: int, correct: int) -> None:
        self._catch_up()

    def advance(self, n: int, correct: int) -> None:
        self._catch_up()

    def stop(self) -> None:
        self._catch_up()

    def _catch_up(self) -> None:
        """Tally the records graded since the last call; a task whose count is reached is done."""
        new = self._records[self._seen :]
        self._seen += len(new)
        finished: list[str] = []
        for r in new:
            t = r.task
            self._done[t] += 1
            self._correct[t] += r.grade.correct
            self._unparsed[t] += r.grade.unparsed
            self._truncated[t] += r.completion.finish_reason == "length"
            self._cached[t] += r.cached
            if self._done[t] == self._totals[t]:
                finished.append(t)
        for t in finished:
            n = self._done[t]
            self._say(
                # items right of n, not the headline: BBH's is a mean over its sub-tasks
                f"run {self._run_id} · {t} done · n {n} · correct "
                f"{100 * self._correct[t] / n:.1f}% ({self._correct[t]}/{n}) · unparsed "
                f"{self._unparsed[t]} · truncated {self._truncated[t]} · cached "
                f"{self._cached[t]} · {time.perf_counter() - self._t0:.1f}s"
            )

    def _say(self, line: str) -> None:
        out = self._out or sys.stderr  # looked up late: a test's captured stream
        print(f"cothub: {line}", file=out, flush=True)


class RichProgress:
    """Drawn on stderr; the CLI uses it only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("acc {task.fields[acc]}"),
            TextColumn("{task.fields[rate]} req/s"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._label = label
        self._task: Any = None
        self._done = 0
        self._correct = 0
        self._fresh = 0
        self._t0 = 0.0

    def begun(self, run_id: str, tasks: Sequence[str], records: Sequence[SampleRecord]) -> None:
        pass  # the bar says it all; the run id is in the summary below it

    def start(self, total: int, done: int, correct: int) -> None:
        self._done, self._correct, self._t0 = done, correct, time.perf_counter()
        self._bar.start()
        self._task = self._bar.add_task(
            self._label, total=total, completed=done, acc=self._acc(), rate="0.0"
        )

    def advance(self, n: int, correct: int) -> None:
        self._done += n
        self._correct += correct
        self._fresh += n
        rate = self._fresh / max(time.perf_counter() - self._t0, 1e-9)
        self._bar.update(self._task, advance=n, acc=self._acc(), rate=f"{rate:.1f}")

    def stop(self) -> None:
        if self._task is not None:
            self._bar.stop()
            self._task = None

    def _acc(self) -> str:
        return f"{100 * self._correct / self._done:.1f}%" if self._done else "-"
