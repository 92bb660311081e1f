"""Hostile programs (tests/hostile_cases.py) against the isolated sandbox: every one is blocked,
run as the user running the tests (root on CI) and again as an ordinary user (uid 65534).

Each case asserts host-side observables, not only a status: the secret put in our environment,
a home file and the store is in no output; the victim file, the store, the clock and the
hostname are unchanged; no TCP, unix or abstract listener got a connection; the victim process
lives; no process outlives the run; nothing was written to the host's temp dir; no forged answer
was accepted. A positive control shows the same checks do catch escapes where nothing isolates.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cothub.sandbox import Limits, SandboxUnavailable, isolation_problem, run_python
from hostile_cases import CASES, LIMITS, Case, Context

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox and these checks need Linux"
)
HERE = Path(__file__).resolve().parent
NOBODY = 65534
ids = [c.name for c in CASES]
isolated = pytest.mark.skipif(
    isolation_problem() is not None, reason=f"no isolated sandbox here: {isolation_problem()}"
)


def test_the_suite_covers_every_class() -> None:
    assert len(CASES) >= 50 and len(set(ids)) == len(ids)
    for word in ("environ", "store", "home", "dir-fd", "fork-exec", "subprocess", "ctypes",
                 "guard-globals", "guard-closure", "reimport-thread", "clock", "forge", "daemon",
                 "tcp", "kill", "disk-fill", "fork-bomb", "memory", "loop", "symlink", "dev",
                 "mount", "ptrace", "raw-socket", "unix", "setuid"):  # fmt: skip
        assert any(word in i for i in ids), word


@pytest.fixture(scope="module")
def ctx(user_run: subprocess.Popen[str] | str) -> Iterator[Context]:
    c = Context()
    if not isinstance(user_run, str):
        c.not_ours.add(user_run.pid)  # the ordinary user's run, beside ours
    yield c
    c.close()


@isolated
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_blocked(ctx: Context, case: Case) -> None:
    assert ctx.run(case) == []


def test_the_checks_see_an_escape_where_nothing_isolates(ctx: Context) -> None:
    """The positive control: ``isolation="unsafe"`` has no mount or PID namespace, so reading the
    store and the parent's environment, writing with the hooks off and reaching a host unix
    socket succeed there, and the same observables report each of them."""
    unsafe = Limits(**{**{f: getattr(LIMITS, f) for f in LIMITS.__dataclass_fields__},
                       "isolation": "unsafe"})  # fmt: skip
    expected = {"read-store": "the secret", "proc-environ-scan": "the secret",
                "guard-globals-write": "the victim file changed",
                "unix-path": "the unix listener"}  # fmt: skip
    by_name = {c.name: c for c in CASES}
    for name, needle in expected.items():
        code, marker = ctx.program(by_name[name])
        os.environ["OPENAI_API_KEY"] = ctx.secret
        try:
            r = run_python(code, unsafe)
        finally:
            del os.environ["OPENAI_API_KEY"]
        found = ctx.escapes(by_name[name], r, marker, 0.0)
        assert any(needle in f for f in found), (name, found, r)


# ---- the same programs as an ordinary user ---------------------------------------------------


def _interpreter_for_nobody() -> str | None:
    """An interpreter uid 65534 can run (ours may live in root's home directory)."""
    for exe in (sys.executable, os.path.realpath(sys.executable), "/usr/bin/python3"):
        probe = [*_as_nobody(), exe, "-I", "-c", "import ctypes, sqlite3"]
        try:
            if subprocess.run(probe, capture_output=True, timeout=30).returncode == 0:
                return exe
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def _as_nobody() -> list[str]:
    setpriv = shutil.which("setpriv")
    assert setpriv is not None
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture(scope="module", autouse=True)
def user_run() -> Iterator[subprocess.Popen[str] | str]:
    """Start every case as uid 65534 (hostile_cases.py, one process for the whole suite) when
    this module starts, so that it runs beside the caller's cases; or why it cannot run."""
    if os.geteuid() != 0:
        yield "already an ordinary user: test_blocked is that run"
        return
    if shutil.which("setpriv") is None:
        yield "setpriv (util-linux) is needed to drop to an ordinary user"
        return
    exe = _interpreter_for_nobody()
    if exe is None:
        yield "no Python interpreter that uid 65534 may run"
        return
    copy = _readable_copy()
    path = os.pathsep.join([str(copy / "src"), str(copy / "lib")])
    env = {"PATH": os.defpath, "PYTHONPATH": path, "LC_ALL": "C.UTF-8"}
    proc = subprocess.Popen(
        [*_as_nobody(), exe, "-S", str(copy / "tests" / "hostile_cases.py")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd="/",
    )  # fmt: skip
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.communicate()
    shutil.rmtree(copy, ignore_errors=True)


def _readable_copy() -> Path:
    """What the ordinary user's run imports (the sandbox package, the cases, pyseccomp), copied
    where uid 65534 can read it: the checkout may lie in root's home directory."""
    import tempfile

    import pyseccomp

    root = Path(tempfile.mkdtemp(prefix="cothub-hostile-"))
    shutil.copytree(HERE.parent / "src" / "cothub" / "sandbox", root / "src" / "cothub" / "sandbox",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    (root / "tests").mkdir()
    shutil.copy(HERE / "hostile_cases.py", root / "tests")
    (root / "lib").mkdir()
    shutil.copy(pyseccomp.__file__, root / "lib")
    for d in (root, *root.rglob("*")):
        d.chmod(0o755 if d.is_dir() else 0o644)
    return root


@pytest.fixture(scope="module")
def as_user(user_run: subprocess.Popen[str] | str) -> dict[str, Any]:
    """The ordinary user's results: ``{"problem", "refused", "uid", "results": {name: ...}}``."""
    if isinstance(user_run, str):
        pytest.skip(user_run)
    out, err = user_run.communicate(timeout=300)
    assert user_run.returncode == 0, err[-3000:]
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    assert report["uid"] == NOBODY
    return report


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_blocked_as_ordinary_user(as_user: dict[str, Any], case: Case) -> None:
    if as_user["problem"] is not None:
        # No unprivileged user namespaces here: the sandbox must refuse, in one line.
        problem = as_user["problem"]
        assert as_user["refused"] and "\n" not in problem
        assert "isolation=unsafe" in problem and "user namespaces" in problem
        return
    assert as_user["results"][case.name] == []


def test_refusal_is_one_line_with_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without bubblewrap, run_python refuses and the strategy refuses before any request."""
    from cothub import sandbox
    from cothub.errors import CothubError
    from cothub.sandbox import _isolation
    from cothub.strategies import parse_strategy

    monkeypatch.setattr(_isolation.shutil, "which", lambda name: None)
    sandbox._find_launcher.cache_clear()
    try:
        problem = isolation_problem()
        assert problem is not None and "\n" not in problem
        assert "bubblewrap (bwrap) is not installed" in problem
        assert "apt-get install bubblewrap" in problem
        assert "--strategy program:isolation=unsafe" in problem
        with pytest.raises(SandboxUnavailable, match="not installed"):
            run_python("ans = 1\n")
        with pytest.raises(CothubError, match="refused: the program sandbox cannot be isolated"):
            parse_strategy("program")
        unsafe = parse_strategy("program:isolation=unsafe")
        assert unsafe.describe()["isolation"] == "unsafe"
        assert run_python("ans = 1\n", unsafe.limits()).isolation == "unsafe"  # type: ignore[attr-defined]
    finally:
        sandbox._find_launcher.cache_clear()


def test_a_failing_self_test_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """bubblewrap that cannot start a sandbox (e.g. no user namespaces) fails the self-test."""
    from cothub import sandbox
    from cothub.sandbox import _isolation

    broken = [_isolation.Launcher(shutil.which("false") or "/bin/false", None)]
    monkeypatch.setattr(_isolation, "launchers", lambda: broken)
    sandbox._find_launcher.cache_clear()
    try:
        problem = isolation_problem()
        assert problem is not None and "\n" not in problem
        assert "failed its self-test" in problem and "unprivileged user namespaces" in problem
        assert "--strategy program:isolation=unsafe" in problem
    finally:
        sandbox._find_launcher.cache_clear()
