"""A live progress bar for terminals: done/total, running accuracy, requests/s, ETA."""

from __future__ import annotations

import time
from typing import Any


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
