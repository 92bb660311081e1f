"""Run a program together with its unit tests in the sandbox: :func:`run_tests`.

A code benchmark (HumanEval) judges a model-written function by running the problem's tests
against it. Both run inside one :func:`cothub.sandbox.run_python` sandbox, so everything that
module guarantees holds: the program never runs outside it, and a run refuses
(:class:`~cothub.sandbox.SandboxUnavailable`) where the isolation cannot be provided.

The sandboxed program is a small harness. It compiles the solution as ``solution.py`` and the
tests as ``tests.py`` (both registered with ``linecache``, so tracebacks quote their lines),
executes them in one fresh namespace (``__name__`` is not ``"__main__"``: a reply's demo block
does not run), evaluates the call (``check(candidate)``), and returns its verdict as the
sandbox's answer, behind a random token minted for this run. The verdict is one of:

    ``passed``           the call returned;
    ``failed``           an ``assert`` of the tests failed (the failing test line is quoted);
    ``timed-out``        the wall-clock or CPU limit was hit;
    ``crashed``          the solution raised (or did not compile), ran out of memory, was
                         killed, or ended the process before the tests finished
                         (``sys.exit``, ``os._exit``);
    ``sandbox-refused``  the sandbox stopped something the program tried (network, processes,
                         a denied system call, a write outside its scratch directory).

Timeouts, signals, memory and refusals are measured by the sandbox's supervisor, not said by
the program. ``passed``, ``failed`` and ``crashed``-by-exception come from the harness, which
shares its process with the solution: the token keeps a program that exits early or prints
something from passing, but code that inspects its caller's frames can forge a verdict, as it
can under the reference harness (Chen et al. 2021). The sandbox protects the host, not the
score, from such code.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Literal

from cothub.sandbox import Limits, SandboxResult, run_python

__all__ = ["VERDICTS", "TestRun", "Verdict", "harness", "run_tests", "verdict_of"]

Verdict = Literal["passed", "failed", "timed-out", "crashed", "sandbox-refused"]
VERDICTS: tuple[Verdict, ...] = ("passed", "failed", "timed-out", "crashed", "sandbox-refused")
"""Every verdict, in the order reports list them."""

_MESSAGE_MAX = 600


@dataclass(frozen=True, slots=True)
class TestRun:
    """How a program fared against its tests."""

    __test__ = False  # not a pytest test class, whatever its name

    verdict: Verdict
    message: str
    """One line: the failing test and why, the exception, or the limit hit; "" when passed."""
    result: SandboxResult
    """The sandbox run itself (stdout, stderr with the traceback, wall time, ...)."""


# The harness. Kept free of imports beyond ``linecache``/``traceback`` (standard library, loaded
# only when needed): each costs start-up time in every one of a benchmark's runs.
_HARNESS = """
_SOLUTION, _TESTS, _CALL, _TOKEN = {solution!r}, {tests!r}, {call!r}, {token!r}


def _line(frame):
    return (frame.line or "").strip()


def _verdict(e, stage):
    import traceback

    frames = traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if f.filename in ("solution.py", "tests.py", "<call>")]
    last = mine[-1] if mine else None
    tests = [f for f in mine if f.filename == "tests.py"]
    try:
        said = str(e)
    except Exception:
        said = "(its message could not be read)"
    said = said.replace("\\n", " ")[:300]
    kind = type(e).__name__
    if isinstance(e, SyntaxError) and stage != "run":
        where = "the solution" if stage == "solution" else "the tests"
        return "crashed", f"{{kind}} in {{where}}, line {{e.lineno}}: {{e.msg}}"
    if isinstance(e, AssertionError) and last is not None and last.filename == "tests.py":
        tail = f": {{said}}" if said else ""
        return "failed", f"failed test (tests.py line {{last.lineno}}): {{_line(last)}}{{tail}}"
    msg = f"{{kind}}: {{said}}" if said else kind
    if last is not None and last.filename == "solution.py":
        msg += f" (solution.py line {{last.lineno}}: {{_line(last)}})"
    if tests:
        msg += f" in test (tests.py line {{tests[-1].lineno}}): {{_line(tests[-1])}}"
    return "crashed", msg


def solution():
    import linecache

    for name, text in (("solution.py", _SOLUTION), ("tests.py", _TESTS), ("<call>", _CALL)):
        linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    scope = {{"__name__": "candidate"}}
    stage = "solution"
    try:
        exec(compile(_SOLUTION, "solution.py", "exec"), scope)
        stage = "tests"
        exec(compile(_TESTS, "tests.py", "exec"), scope)
        stage = "run"
        eval(compile(_CALL, "<call>", "eval"), scope)
    except MemoryError:
        raise
    except Exception as e:
        verdict, message = _verdict(e, stage)
        return f"{{_TOKEN}} {{verdict}} {{message}}"
    return f"{{_TOKEN}} passed"
"""


def harness(solution: str, tests: str, call: str, token: str) -> str:
    """The program the sandbox runs: ``solution`` and ``tests``, then ``call`` (an expression,
    e.g. ``check(add)``), the verdict returned behind ``token``."""
    return _HARNESS.format(solution=solution, tests=tests, call=call, token=token)


def run_tests(solution: str, tests: str, call: str, limits: Limits | None = None) -> TestRun:
    """Run ``solution``, then ``tests``, then evaluate ``call``, in one sandbox under ``limits``.

    Blocks for up to the wall limit plus start-up; call it from a worker thread in async code.
    Raises :class:`~cothub.sandbox.SandboxUnavailable` where the isolation is missing (and
    OSError when no process can start); every other outcome is a verdict.
    """
    lim = limits or Limits()
    token = secrets.token_hex(16)
    result = run_python(harness(solution, tests, call, token), lim)
    verdict, message = verdict_of(result, token)
    return TestRun(verdict, message, result)


def verdict_of(result: SandboxResult, token: str) -> tuple[Verdict, str]:
    """(verdict, message) of a harness run: the sandbox's own status first, then the harness's
    answer, which counts only behind this run's ``token``."""
    if result.status == "timeout":
        return "timed-out", result.detail
    if result.status == "forbidden":
        return "sandbox-refused", result.detail
    if result.status == "memory":
        return "crashed", "MemoryError: the memory limit was reached"
    if result.status in ("killed", "error"):
        return "crashed", _one_line(result.detail or "the program ended abnormally")
    answer = result.answer or ""
    head, _, rest = answer.partition(" ")
    if not secrets.compare_digest(head, token):
        return "crashed", "the program exited before its tests finished"
    verdict, _, message = rest.partition(" ")
    if verdict == "passed":
        return "passed", ""
    if verdict in ("failed", "crashed"):
        return verdict, _one_line(message)  # type: ignore[return-value]
    return "crashed", f"unknown harness verdict {verdict[:40]!r}"


def limits_for(timeout: float, memory_mb: int = 512) -> Limits:
    """Sandbox limits for one problem: ``timeout`` seconds of wall and CPU time, ``memory_mb``
    MiB of address space, the standard library only, enough output for a traceback."""
    return Limits(
        wall_s=timeout,
        cpu_s=max(1, math.ceil(timeout)),  # RLIMIT_CPU counts whole seconds
        memory_mb=memory_mb,
        max_output=8_000,
    )


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MESSAGE_MAX else flat[: _MESSAGE_MAX - 3] + "..."
