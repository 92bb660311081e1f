"""Judging code by running unit tests in the sandbox: the verdict as a :class:`Grade`.

A solution program (:mod:`cothub.extract.code`) runs with its problem's tests through
:func:`cothub.sandbox.judge.run_tests`, never outside the sandbox. The grade records:

- ``correct``: the verdict is ``passed``;
- ``answer``: the program that was tested (so a stored run can be re-judged without the model);
  None when the reply held no code;
- ``method``: the verdict (``passed``, ``failed``, ``timed-out``, ``crashed``,
  ``sandbox-refused``) or why there was no code (``no-code``, ``unclosed-think``), so a run's
  summary counts verdicts under ``methods``;
- ``check``: ``tests`` when passed, else ``tests: <message>``, the failing test's line and why
  (``cothub show`` prints it).

At most one sandbox per CPU runs at a time (one semaphore for the process), so that a problem's
wall-time limit does not depend on how many run beside it; :func:`judge_many` fills them from
worker threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from cothub.errors import CothubError
from cothub.extract.code import solution_program
from cothub.sandbox import Limits, SandboxUnavailable
from cothub.sandbox.judge import run_tests
from cothub.types import Answer, Grade

__all__ = ["CHECK", "Problem", "judge", "judge_many", "message_of"]

CHECK = "tests"
"""``Grade.check`` of a judged program; a verdict other than passed appends ``: <message>``."""

_CPUS = threading.BoundedSemaphore(os.cpu_count() or 1)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Problem:
    """What a program is judged against."""

    prompt: str
    """The function's signature and docstring (with the imports and helpers before it)."""
    tests: str
    """Test code defining ``check(candidate)``."""
    entry_point: str
    """The function's name: the call is ``check(entry_point)``."""


def judge(problem: Problem, reply: str, limits: Limits) -> Grade:
    """The verdict on one reply (a completion or a chat reply; see :mod:`cothub.extract.code`).

    Where the sandbox cannot be isolated the verdict is ``sandbox-refused`` with the reason
    (nothing runs); a run refuses before its first request instead (the task checks first).
    """
    return score_program(problem, extract_program(problem, reply), limits)


def extract_program(problem: Problem, reply: str) -> Answer:
    """The program a reply commits to (its ``value``), built as :mod:`cothub.extract.code`
    builds it; None with the reason as ``method`` when there is none."""
    code = solution_program(problem.prompt, reply, problem.entry_point)
    return Answer(code.program, None, code.method)


def score_program(problem: Problem, answer: Answer, limits: Limits) -> Grade:
    """The verdict on an extracted program: the problem's tests, run in the sandbox."""
    if answer.value is None:
        return Grade(False, None, answer.method, check=CHECK)
    program = answer.value
    try:
        with _CPUS:
            run = run_tests(program, problem.tests, f"check({problem.entry_point})", limits)
    except SandboxUnavailable as e:
        return Grade(False, program, "sandbox-refused", check=f"{CHECK}: {e}")
    except OSError as e:  # no process could start at all: the machine, not the model
        raise CothubError(f"cannot start the Python sandbox: {e}") from e
    check = CHECK if run.verdict == "passed" else f"{CHECK}: {run.message or run.verdict}"
    return Grade(run.verdict == "passed", program, run.verdict, check=check)


def message_of(grade: Grade) -> str:
    """The failing test's message of a judged grade ("" when it passed or was not judged)."""
    prefix = CHECK + ": "
    return grade.check[len(prefix) :] if grade.check.startswith(prefix) else ""


def judge_many(work: Callable[[T], R], items: Sequence[T], workers: int | None = None) -> list[R]:
    """``work`` over ``items`` in worker threads (one per CPU by default), results in order."""
    n = workers or os.cpu_count() or 1
    if n == 1 or len(items) < 2:
        return [work(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(n, len(items))) as pool:
        return list(pool.map(work, items))
