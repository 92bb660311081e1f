"""Is a MATH answer equal to the gold? Cheap string checks first, then a guarded math-verify.

Checks, in order (the first that says "equal" decides and names ``check``):

``exact``        identical strings.
``normalized``   equal after :func:`normalize_math` (the Hendrycks ``is_equiv`` rules, plus a few
                 documented extras).
``math-verify``  ``math_verify.parse`` + ``verify`` (SymPy) say equal, with every decimal read as
                 the exact rational it spells: ``0.5 == \\frac{1}{2}`` but ``0.333 != \\frac13``.
``none``         no check says equal.

A verdict the symbolic check could not reach is reported as ``timeout`` or ``error`` (not equal).

Timeout mechanism. math-verify bounds its work with ``signal.alarm``, which only works in the main
thread (a call from a worker thread or an executor raises ValueError) and cannot stop a long C-level
computation. So the parent process never imports math-verify or SymPy: symbolic checks run in a
small pool of persistent worker processes (one JSON line per request over a pipe, about 0.1 ms of
overhead against the 2-50 ms SymPy itself takes). Inside a worker, which is single-threaded, a
``setitimer`` alarm at 80 % of ``timeout_s`` abandons the comparison and keeps the worker; if that
alarm cannot fire in time the parent kills the worker at ``timeout_s`` and the next call starts a
fresh one. This is safe from any thread; from asyncio run it via ``asyncio.to_thread`` (it blocks
for up to ``timeout_s``). Worker start-up (about 0.5 s, once per worker) is not counted against
``timeout_s``. Workers are capped at 2 GiB of address space so a runaway power tower fails with
MemoryError instead of swapping the machine. POSIX only.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from cothub.errors import CothubError
from cothub.extract.latex import extract_math_answer, matching_brace
from cothub.types import Answer, Grade

# ---------------------------------------------------------------------------------------------
# Normalisation (string level)
# ---------------------------------------------------------------------------------------------

# Spacing commands. A row break (two backslashes) is matched first, so that its second
# backslash is not read as the start of a control space (backslash, space).
_SPACING = re.compile(r"\\\\|\\[!,;: ]|~|\\displaystyle|\\textstyle")
_FRAC_VARIANTS = re.compile(r"\\[dtc]frac(?![A-Za-z])")
_LEFT_RIGHT = re.compile(r"\\(?:left|right)(?![A-Za-z])")
_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\degree|°")
_TEXT_CMD = r"\\(?:text|textbf|textit|textrm|textup|mathrm|mathbf|mathit|mbox)"
# Units: a trailing text group that starts with a space ("5\text{ cm}^2", the Hendrycks rule), or
# an alphabetic one right after a number or group ("5\text{cm}", "\frac12\mbox{inches}").
_UNITS = re.compile(
    rf"(?:(?<=\S)\s*{_TEXT_CMD}\{{\s[^{{}}]*\}}|(?<=[\d}}])\s*{_TEXT_CMD}\{{[A-Za-z][A-Za-z .]*\}})"
    r"(?:\^\{?\d\}?)?\s*$"
)
_ORDINAL = re.compile(
    rf"(?<=\d)\s*\^\s*(?:\{{\s*{_TEXT_CMD}\{{(?:st|nd|rd|th)\}}\s*\}}|{_TEXT_CMD}\{{(?:st|nd|rd|th)\}})"
)
_TEXT_GROUP = re.compile(rf"{_TEXT_CMD}\{{([^{{}}]*)\}}")
_LEADING_DOT = re.compile(r"(?<![\w.}])\.(?=\d)")
_IN_PREFIX = re.compile(r"^[A-Za-z]\s*\\in(?![A-Za-z])\s*")
_SQRT_SHORT = re.compile(r"\\sqrt\s*([0-9A-Za-z])")
_MATRIX = re.compile(r"\{[bBvV]?matrix\}")
_BASE = re.compile(r"^(?=[0-9A-Z]*\d)([0-9A-Z]+)_\{?([2-9]|[12]\d|3[0-6])\}?$")
_CHOICE = re.compile(r"^\(([A-Za-z])\)$")
_SLASH = re.compile(r"^(-?)(\d+)/(\d+)$")
_WORD = re.compile(r"^[A-Za-z]{2,}$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def _fix_fracs(s: str) -> str:
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac\\pi2`` -> ``\\frac{\\pi}{2}``, recursively."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        j = s.find("\\frac", i)
        if j < 0:
            out.append(s[i:])
            break
        k = j + 5
        out.append(s[i:k])
        if k < n and s[k].isalpha():  # another command, e.g. \fraction
            i = k
            continue
        for _ in range(2):
            if k >= n or s[k] == "}":
                break
            if s[k] == "{":
                close = matching_brace(s, k)
                if close is None:
                    break
                arg, k = s[k + 1 : close], close + 1
            elif s[k] == "\\":
                m = re.match(r"\\(?:[A-Za-z]+|.)", s[k:])
                arg = m.group(0) if m else s[k]
                k += len(arg)
            else:
                arg, k = s[k], k + 1
            out.append("{" + _fix_fracs(arg) + "}")
        i = k
    return "".join(out)


def _split_top(s: str) -> list[str]:
    """Split at commas outside any bracket, so ``(1,2],3`` is two items."""
    items: list[str] = []
    depth = 0
    start = 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            items.append(s[start:i])
            start = i + 1
    items.append(s[start:])
    return items


def _is_set_literal(s: str) -> bool:
    """``\\{...\\}`` where the opening set brace is closed only at the very end."""
    if not (s.startswith("\\{") and s.endswith("\\}")):
        return False
    depth = 0
    for m in re.finditer(r"\\[{}]", s):
        depth += 1 if m.group(0) == "\\{" else -1
        if depth == 0:
            return m.end() == len(s)
    return False


def _normalize_core(s: str) -> str:
    """Every normalisation rule except the reading of top-level commas (see :func:`_finish`)."""
    s = s.strip().replace("\n", " ").replace("\u2212", "-")
    s = _SPACING.sub(lambda m: m.group(0) if m.group(0) == "\\\\" else " ", s)
    s = s.replace("{,}", ",")
    s = _FRAC_VARIANTS.sub(r"\\frac", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _DEGREES.sub("", s)
    s = s.replace("\\$", "").replace("$", "")
    while True:  # units come off the right, possibly several ("5\text{ m}\text{ s}")
        stripped = _UNITS.sub("", s)
        if stripped == s:
            break
        s = stripped
    s = s.replace("\\%", "").replace("%", "")
    s = _ORDINAL.sub("", s)  # "12^{\mathrm{th}}" (grade) is 12
    while True:  # unwrap text groups, inner first: \textbf{\text{C}} -> C
        unwrapped = _TEXT_GROUP.sub(r"\1", s)
        if unwrapped == s:
            break
        s = unwrapped
    s = _LEADING_DOT.sub("0.", s)
    s = _IN_PREFIX.sub("", s.strip())
    # "k = 5" -> "5" when the left side is short (Hendrycks: one "=", lhs of at most 2 chars).
    parts = s.split("=")
    if len(parts) == 2 and len(parts[0].strip()) <= 2 and not parts[0].endswith(("<", ">", "!")):
        s = parts[1]
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    s = "".join(s.split())
    s = _fix_fracs(s)
    s = _MATRIX.sub("{pmatrix}", s)
    s = s.rstrip(".")
    s = _BASE.sub(r"\1_\2", s)  # 1010_{2} -> 1010_2
    s = _CHOICE.sub(r"\1", s)  # (C) -> C
    if _is_set_literal(s):
        s = s[2:-2]  # \{1,2\} -> 1,2
    m = _SLASH.match(s)
    if m:
        s = f"{m.group(1)}\\frac{{{m.group(2)}}}{{{m.group(3)}}}"
    if s == "0.5":  # Hendrycks' one decimal rule; other decimals are math-verify's job
        s = "\\frac{1}{2}"
    if _WORD.match(s):
        s = s.lower()  # "\text{Evelyn}" vs "evelyn"; single letters stay case-sensitive
    return s


def _finish(core: str, read_thousands: bool) -> str:
    """Read top-level commas as a thousands separator (``10,000``) or as an unordered list."""
    if read_thousands and _THOUSANDS.match(core):
        return core.replace(",", "")
    items = _split_top(core)
    if len(items) > 1:
        # MATH asks for lists of solutions "separated by commas" in any order; ordered answers
        # are written as tuples, which are a single bracketed item and keep their order.
        return ",".join(sorted(items))
    return core


def _normal_forms(s: str) -> tuple[str, str]:
    """Both readings of ``s``: "70,110" is 70110 or the solutions {70, 110}."""
    core = _normalize_core(s)
    return _finish(core, True), _finish(core, False)


def _split_base(norm: str) -> tuple[str, str]:
    """Digits and base of a normalised numeral like ``1010_2``; ``(norm, "")`` for anything else."""
    m = _BASE.match(norm)
    return (m.group(1), m.group(2)) if m else (norm, "")


def _same_normal(a: str, b: str) -> bool:
    """Equal normal forms, or the same digits where only one side writes the base."""
    if a == b:
        return True
    (da, ba), (db, bb) = _split_base(a), _split_base(b)
    # The question fixes the base ("express in base 2"), so "1010" answers it; "1010_7" does not.
    return da == db and (ba == "" or bb == "")


def normalize_math(s: str) -> str:
    """The canonical string form of a MATH answer (Hendrycks ``strip_string`` rules and extras).

    Hendrycks rules: drop ``\\left``/``\\right``, ``\\!``, spaces, degrees, ``\\$``, ``\\%``,
    right-hand units (``\\text{ cm}``); ``dfrac``/``tfrac`` -> ``frac``; ``\\frac12`` and
    ``\\sqrt3`` get braces; ``.5`` -> ``0.5``; ``0.5`` -> ``\\frac{1}{2}``; ``a/b`` ->
    ``\\frac{a}{b}``; ``k = `` prefixes with a short left side. Extras: ``x \\in`` prefixes,
    ``\\text{...}`` unwrapped, ``(C)`` -> ``C``, set braces dropped and top-level comma lists
    sorted, ``10,000`` -> ``10000``, ``1010_{2}`` -> ``1010_2``, trailing period,
    ``bmatrix`` -> ``pmatrix``, lower-cased words. :func:`math_equal` also tries the list reading
    of a thousands-like answer ("70,110" as two solutions) and lets one side omit the base.
    """
    return _normal_forms(s)[0]


# ---------------------------------------------------------------------------------------------
# math-verify, in guarded worker processes
# ---------------------------------------------------------------------------------------------

_STARTUP_TIMEOUT_S = 60.0
_SOFT_FRACTION = 0.8  # the worker's own alarm, as a share of timeout_s (tests raise it past 1)
_WORKER_MEMORY_BYTES = 2 * 1024**3
_MAX_SYMPY_CHARS = 1000  # longer "answers" are not MATH answers; never feed them to SymPy
_MAX_WORKERS = max(1, min(4, os.cpu_count() or 1))
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = "from cothub.scoring.math_equiv import _worker_main; _worker_main()"


class _SoftTimeout(BaseException):
    """The worker's alarm; a BaseException so that ``except Exception`` in SymPy won't eat it."""


def _exact(obj: Any) -> Any:
    """Replace every SymPy Float by the rational its decimal digits spell (0.333 -> 333/1000).

    latex2sympy keeps a literal's digits (precision follows the string), so ``str`` gives them
    back. math-verify would otherwise round floats to 6 places and call 0.333333 equal to 1/3.
    """
    from sympy import Basic, Float, MatrixBase, Rational

    if isinstance(obj, (Basic, MatrixBase)):
        floats = obj.atoms(Float)
        if floats:
            return obj.xreplace({f: Rational(str(f)) for f in floats})
    return obj


_RELATIVE_TOLERANCE = "1e-30"
_EVAL_DIGITS = 60


def _same_value(a: Any, b: Any) -> bool:
    """Whether two constant SymPy values agree to a relative 1e-30 (True when not both numbers).

    math-verify calls two values equal when ``(a - b).evalf(chop=True)`` is 0, which chops any
    difference below about 1e-15 in absolute terms: ``10^{-20}`` "equals" ``15 \\cdot 10^{-20}``.
    MATH answers are exact values, so a difference is only forgiven relative to their size (and
    only at the noise level of a 60-digit evaluation).
    """
    from sympy import Basic, Float

    if not isinstance(a, Basic) or not isinstance(b, Basic) or a.free_symbols or b.free_symbols:
        return True
    try:
        va, vb = a.evalf(_EVAL_DIGITS), b.evalf(_EVAL_DIGITS)
        if not (va.is_number and vb.is_number):
            return True
        scale = max(abs(va), abs(vb))
        if scale == 0:
            return True
        return bool(abs(va - vb) <= scale * Float(_RELATIVE_TOLERANCE, _EVAL_DIGITS))
    except Exception:  # a value SymPy cannot evaluate: keep math-verify's verdict
        return True


def _install_relative_numeric_check() -> None:
    """Wrap math-verify's numeric comparison so that an "equal" needs :func:`_same_value` too."""
    from math_verify import grader

    original = grader.sympy_numeric_eq
    if getattr(original, "_cothub_relative", False):
        return

    def numeric_eq(a: Any, b: Any, float_rounding: int, numeric_precision: int) -> bool:
        return bool(original(a, b, float_rounding, numeric_precision)) and _same_value(a, b)

    numeric_eq._cothub_relative = True  # type: ignore[attr-defined]
    grader.sympy_numeric_eq = numeric_eq


def _mv_verdict(pred: str, gold: str) -> bool:
    """math-verify's verdict with exact decimals; no timeout of its own (callers provide it)."""
    from math_verify import parse, verify

    gold_parsed = [_exact(x) for x in parse(f"\\boxed{{{gold}}}", parsing_timeout=None)]
    pred_parsed = [_exact(x) for x in parse(f"\\boxed{{{pred}}}", parsing_timeout=None)]
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))


def _worker_main() -> None:
    """Serve ``{"pred", "gold", "soft_s"}`` lines on stdin with ``{"equal"|"timeout"|"error"}``."""
    import logging
    import resource
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = (
        _WORKER_MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(hard, _WORKER_MEMORY_BYTES)
    )
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    logging.disable(logging.WARNING)  # math-verify warns on every disabled/expired timeout
    # The protocol gets a private copy of stdout; anything a library prints goes to /dev/null.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        _install_relative_numeric_check()
        _mv_verdict("1", "1")  # import and warm up before declaring readiness
    except Exception as e:
        reply({"ready": False, "error": repr(e)})
        return
    armed = False

    def on_alarm(signum: int, frame: object) -> None:
        if armed:
            raise _SoftTimeout

    signal.signal(signal.SIGALRM, on_alarm)
    reply({"ready": True})
    for line in sys.stdin:
        req = json.loads(line)
        try:
            try:
                armed = True
                signal.setitimer(signal.ITIMER_REAL, max(0.01, float(req["soft_s"])))
                equal = _mv_verdict(req["pred"], req["gold"])
            finally:
                armed = False
                signal.setitimer(signal.ITIMER_REAL, 0)
            reply({"equal": equal})
        except _SoftTimeout:
            reply({"timeout": True})
        except Exception as e:  # MemoryError, RecursionError, a parser bug: no verdict
            reply({"error": repr(e)})


class _WorkerLost(Exception):
    """The worker missed its deadline (``timeout``) or died (``error``); it has been killed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Worker:
    """One persistent ``_worker_main`` process and its pipes."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            bufsize=0,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin = self._proc.stdin
        self._fd = self._proc.stdout.fileno()
        self._buf = b""
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)
        try:
            hello = self._read(time.monotonic() + _STARTUP_TIMEOUT_S)
        except _WorkerLost:
            hello = {}
        if not hello.get("ready"):
            self.kill()
            raise CothubError(
                f"the math-verify worker failed to start ({hello.get('error', 'no reply')}); "
                "check that math-verify is installed in this Python environment"
            )

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise _WorkerLost("timeout")
            if not self._poll.poll(max(1, int(left * 1000))):
                continue
            chunk = os.read(self._fd, 65536)
            if not chunk:
                self.kill()
                raise _WorkerLost("error")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            reply: dict[str, Any] = json.loads(line)
        except ValueError:
            self.kill()
            raise _WorkerLost("error") from None
        return reply

    def ask(self, pred: str, gold: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        request = {"pred": pred, "gold": gold, "soft_s": timeout_s * _SOFT_FRACTION}
        data = memoryview((json.dumps(request) + "\n").encode())
        try:
            while data:
                data = data[self._stdin.write(data) or 0 :]
        except OSError:
            self.kill()
            raise _WorkerLost("error") from None
        return self._read(deadline)

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._stdin.close()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def close(self) -> None:
        """Ask the worker to exit (EOF on its stdin); kill it if it lingers."""
        try:
            self._stdin.close()
            self._proc.wait(timeout=1.0)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class _Pool:
    """At most ``_MAX_WORKERS`` workers, reused; a call waits for a free one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.slots = threading.BoundedSemaphore(_MAX_WORKERS)

    def run(self, pred: str, gold: str, timeout_s: float) -> dict[str, Any]:
        with self.slots:
            with self.lock:
                worker = self.idle.pop() if self.idle else None
            if worker is None:
                worker = _Worker()
            try:
                reply = worker.ask(pred, gold, timeout_s)
            except _WorkerLost as lost:
                return {lost.reason: True}
            except BaseException:
                worker.kill()  # interrupted mid-request: its pipe is out of step
                raise
            with self.lock:
                self.idle.append(worker)
            return reply

    def close(self) -> None:
        with self.lock:
            workers, self.idle = self.idle, []
        for w in workers:
            w.close()


_pool = _Pool()
atexit.register(lambda: _pool.close())


def _forget_pool_after_fork() -> None:
    # A forked child must not talk to its parent's workers through the inherited pipes.
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


_PERCENT = re.compile(r"\\?%")
_REPEATING = re.compile(r"(\d*)\.(\d*)\\overline\s*\{(\d+)\}")


def _repeating_to_frac(m: re.Match[str]) -> str:
    whole, fixed, cycle = m.group(1) or "0", m.group(2), m.group(3)
    value = int(whole) + Fraction(int(fixed or "0"), 10 ** len(fixed))
    value += Fraction(int(cycle), (10 ** len(cycle) - 1) * 10 ** len(fixed))
    return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _symbolic_input(s: str) -> str:
    """What math-verify is given: percent signs dropped, repeating decimals made fractions.

    A percent sign is a unit, as in the normalised check (math-verify would read "50\\%" as 0.5
    and accept 0.5 where a percentage is asked for); ``0.\\overline{3}`` is exactly 1/3, which
    latex2sympy cannot read.
    """
    return _REPEATING.sub(_repeating_to_frac, _PERCENT.sub("", s))


_PLAIN_DECIMAL = re.compile(r"^-?\d{1,40}(?:\.\d{1,40})?$")
_PLAIN_FRAC = re.compile(r"^(-?)\\frac\{(-?\d{1,40})\}\{(\d{1,40})\}$")


def _plain_rational(norm: str) -> Fraction | None:
    """The value of a normalised plain number (``-12``, ``0.25``, ``\\frac{3}{4}``), else None."""
    if _PLAIN_DECIMAL.match(norm):
        return Fraction(norm)
    m = _PLAIN_FRAC.match(norm)
    if m and int(m.group(3)) != 0:
        value = Fraction(int(m.group(2)), int(m.group(3)))
        return -value if m.group(1) else value
    return None


def _math_verify(
    pred: str, gold: str, pred_norm: str, gold_norm: str, timeout_s: float
) -> bool | str | None:
    """math-verify's verdict: True/False, ``timeout``/``error``, or None when not consulted."""
    if len(pred) > _MAX_SYMPY_CHARS or len(gold) > _MAX_SYMPY_CHARS:
        return None
    pred_base, gold_base = _split_base(pred_norm)[1], _split_base(gold_norm)[1]
    if pred_base and gold_base and pred_base != gold_base:
        return False  # math-verify drops subscripts and would call 1010_7 equal to 1010_2
    # Two plain numbers: math-verify (with exact decimals) compares them as rationals, so a
    # difference is its verdict too; decided here without SymPy, as most wrong answers are.
    a, b = _plain_rational(pred_norm), _plain_rational(gold_norm)
    if a is not None and b is not None and a != b:
        return False
    reply = _pool.run(_symbolic_input(pred), _symbolic_input(gold), timeout_s)
    if "equal" in reply:
        return bool(reply["equal"])
    return "timeout" if "timeout" in reply else "error"


@dataclass(frozen=True, slots=True)
class _Verdict:
    equal: bool
    check: str
    disagreement: bool


def _decide(pred: str, gold: str, timeout_s: float, audit: bool) -> _Verdict:
    """Run the checks in order; with ``audit`` also ask math-verify about a normalised match."""
    if pred == gold:
        return _Verdict(True, "exact", False)
    pred_forms, gold_forms = _normal_forms(pred), _normal_forms(gold)
    normalized = any(_same_normal(p, g) for p, g in zip(pred_forms, gold_forms, strict=True))
    if normalized and not audit:
        return _Verdict(True, "normalized", False)
    symbolic = _math_verify(pred, gold, pred_forms[0], gold_forms[0], timeout_s)
    if normalized:
        return _Verdict(True, "normalized", symbolic is False)
    if symbolic is True:
        return _Verdict(True, "math-verify", True)
    if symbolic is False or symbolic is None:
        return _Verdict(False, "none", False)
    return _Verdict(False, str(symbolic), False)


def math_equal(pred: str, gold: str, timeout_s: float = 5.0) -> tuple[bool, str]:
    """``(equal, check)``: whether ``pred`` is the MATH answer ``gold``, and which check decided.

    ``check`` is ``exact``, ``normalized``, ``math-verify`` or ``none``; ``timeout``/``error``
    when the symbolic check gave no verdict within ``timeout_s`` (a hard limit, any thread).
    """
    verdict = _decide(pred, gold, timeout_s, audit=False)
    return verdict.equal, verdict.check


def score_math(answer: Answer, gold: str, timeout_s: float = 5.0) -> Grade:
    """The verdict on an extracted MATH answer (:func:`~cothub.extract.latex.extract_math_answer`:
    the final answer of the committed-answer region, ``span`` indexing the completion).

    ``disagreement`` is True when math-verify and the normalised-string check disagree, so a
    verdict that rests on one of them alone can be audited.
    """
    if answer.value is None:
        return Grade(False, None, answer.method)
    verdict = _decide(answer.value, gold, timeout_s, audit=True)
    return Grade(
        verdict.equal,
        answer.value,
        answer.method,
        answer.span,
        verdict.check,
        verdict.disagreement,
    )


def grade_math(
    completion: str, gold: str, timeout_s: float = 5.0, stops: Sequence[str] = ()
) -> Grade:
    """Grade one MATH completion: :func:`score_math` of its extracted final answer."""
    return score_math(extract_math_answer(completion, stops), gold, timeout_s)
