"""The program sandbox: answers come back, and every way a program can misbehave is contained.

Containment tests run under bubblewrap (the default) and under ``isolation="unsafe"``, so the
layers that remain without namespaces (seccomp, audit hooks, limits, process-group kill) are
checked on their own. Deliberately hostile programs are in test_sandbox_hostile.py.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from cothub.sandbox import Limits, SandboxResult, isolation_problem, run_python

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="the sandbox and these checks need Linux"
    ),
    pytest.mark.skipif(
        isolation_problem() is not None, reason=f"no isolated sandbox: {isolation_problem()}"
    ),
]

SMALL = Limits(wall_s=1.5, cpu_s=1, memory_mb=256, file_mb=1, max_output=4000)
both = pytest.mark.parametrize("ns", [True, False], ids=["bwrap", "unsafe"])


def run(code: str, ns: bool = True, **changes: object) -> SandboxResult:
    fields = {f: getattr(SMALL, f) for f in SMALL.__dataclass_fields__}
    fields.update(changes, isolation="bwrap" if ns else "unsafe")
    return run_python(code, Limits(**fields))  # type: ignore[arg-type]


_BEFORE: set[int] = set()
"""This process's children from before the test (e.g. a grader's worker pool that an earlier
test started): they are not the sandbox's."""


@pytest.fixture(autouse=True)
def _other_children() -> None:
    _BEFORE.clear()
    _BEFORE.update(descendants(os.getpid()))


def descendants(of: int) -> list[int]:
    """Processes whose parent chain leads to ``of``."""
    parent = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
            except OSError:
                continue
            parent[int(p.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = []
    for pid in parent:
        seen, cur = set(), parent.get(pid)
        while cur and cur not in seen:
            if cur == of:
                found.append(pid)
                break
            seen.add(cur)
            cur = parent.get(cur)
    return found


def survivors(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (the sandbox dir, a unique argument)."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and p.name != str(os.getpid()):
            try:
                if marker.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                continue
    return found


WHERE = "import os\nprint(os.getcwd(), flush=True)\n"
"""Prelude: the program prints its sandbox dir, which is on every sandbox process's command line."""


def assert_gone(r: SandboxResult) -> None:
    where = r.stdout.splitlines()[0]
    if r.isolation == "bwrap":
        assert where == "/sandbox"  # a tmpfs in the sandbox's own mount namespace
    else:
        assert where.startswith("/") and "cothub-sandbox-" in where
        assert not Path(where).exists(), "the temporary directory is removed"
        assert survivors(where) == [], "no process of the sandbox outlives it"
    left = set(descendants(os.getpid())) - _BEFORE
    assert left == set(), "no process of the sandbox outlives it"


# ---- answers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "answer", "detail"),
    [
        ("def solution():\n    return 23 - 5 * 3\n", "8", "solution()"),
        ("def solution():\n    return 0.1 + 0.2\n", "0.3", "solution()"),  # no binary noise
        ("def solution():\n    return 48 / 2\n", "24", "solution()"),  # 24.0 -> 24
        ("def solution():\n    return 1 / 40000\n", "0.000025", "solution()"),  # no exponent
        ("def solution():\n    return '(B)'\n", "(B)", "solution()"),
        ("from fractions import Fraction\nans = Fraction(3, 4)\n", "3/4", "ans"),  # PoT
        ("print('working')\nprint(42)\nprint()\n", "42", "the last printed line"),
        ("def solution():\n    print(7)\n\nsolution()\n", "7", "the last printed line"),
        ("x = 1\n", None, "no answer"),
    ],
)
def test_the_answer(code: str, answer: str | None, detail: str) -> None:
    r = run(code)
    assert (r.status, r.answer, r.detail) == ("ok", answer, detail)
    assert r.exit_code == 0


def test_stdout_and_stderr_are_captured_and_files_stay_inside() -> None:
    code = (
        "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\n"
        "open('notes.txt', 'w').write('kept')\nprint(open('notes.txt').read())\n"
    )
    r = run(code)
    assert r.status == "ok" and r.stdout == "to out\nkept\n" and r.stderr == "to err\n"
    assert r.answer == "kept"


def test_long_output_is_cut_and_the_last_line_survives() -> None:
    r = run("print('x' * 200_000)\nprint('END')\n", max_output=1000)
    assert r.status == "ok" and r.answer == "END"
    assert len(r.stdout) < 1100 and "bytes not kept" in r.stdout
    assert r.stdout.startswith("x" * 700) and r.stdout.endswith("END\n")


def test_the_parent_environment_is_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    r = run("import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))\n")
    assert r.status == "ok" and "OPENAI_API_KEY" not in r.stdout and r.answer == "None"


# ---- failures are statuses, with the stack of the program only -------------------------------


def test_exceptions_and_syntax_errors() -> None:
    r = run("def solution():\n    return 1 / 0\n")
    assert (r.status, r.answer, r.exit_code) == ("error", None, 1)
    assert r.detail == "ZeroDivisionError in solution: division by zero"
    assert 'File "program.py", line 2, in solution' in r.stderr
    assert "_child_" not in r.stderr  # the sandbox's own frames are not shown
    bad = run("def solution(:\n    return 1\n")
    assert bad.status == "error" and bad.detail.startswith("SyntaxError in compile")
    assert run("import sys\nsys.exit(3)\n").exit_code == 3
    assert run("import sys\nprint(5)\nsys.exit(0)\n").answer == "5"


def test_packages_only_when_allowed() -> None:
    assert run("import pytest\n").status == "error"  # -S: the standard library only
    assert run("import pytest\nans = 1\n", site_packages=True).answer == "1"


def test_math_packages_that_import_ctypes_run_with_site_packages() -> None:
    """Program-of-thought programs lean on sympy (and numpy): ``import ctypes`` inside them is
    allowed, any use of it is not (test_processes_and_escapes_are_forbidden)."""
    sympy = "import sympy\nx = sympy.Symbol('x')\nans = sorted(sympy.solve(x**2 - 4, x))[-1]\n"
    assert run(sympy, site_packages=True, memory_mb=1024, wall_s=60, cpu_s=60).answer == "2"
    pytest.importorskip("numpy")
    numpy = "import numpy as np\nans = int(np.linalg.solve([[2, 0], [0, 4]], [2, 8]).sum())\n"
    assert run(numpy, site_packages=True, memory_mb=1024, wall_s=60, cpu_s=60).answer == "3"


def test_limits_are_validated() -> None:
    for bad in ({"wall_s": 0}, {"cpu_s": 0}, {"memory_mb": 8}, {"max_output": 1}):
        with pytest.raises(ValueError, match="sandbox limits"):
            Limits(**bad)  # type: ignore[arg-type]


# ---- containment ----------------------------------------------------------------------------


@both
def test_infinite_loop_times_out_and_dies(ns: bool) -> None:
    started = time.monotonic()
    r = run(WHERE + "while True:\n    pass\n", ns)
    assert time.monotonic() - started < SMALL.wall_s + 1.5
    assert r.status == "timeout" and r.answer is None
    assert r.isolation == ("bwrap" if ns else "unsafe")
    assert_gone(r)


@both
def test_a_sleeping_program_hits_the_wall_limit(ns: bool) -> None:
    r = run(WHERE + "import time\ntime.sleep(60)\n", ns)
    assert r.status == "timeout" and "wall time" in r.detail
    assert SMALL.wall_s <= r.wall_s < SMALL.wall_s + 1.5
    assert_gone(r)


@both
def test_fork_bomb_is_stopped_and_leaves_nothing(ns: bool) -> None:
    r = run(WHERE + "while True:\n    os.fork()\n", ns)
    assert r.status == "forbidden" and "os.fork" in r.detail
    assert_gone(r)


@both
def test_a_child_that_evades_the_hooks_still_dies(ns: bool) -> None:
    """Python-level guards can be evaded; the kernel layers (a PID namespace, or the reaper of
    processes left in the sandbox dir) still end a detached child; seccomp kills the exec. If this
    Python version is not fooled by the evasion, the spawn is forbidden: both are containment."""
    marker = f"30.{uuid.uuid4().int % 10**9}"
    code = WHERE + (
        "import subprocess, sys\n"
        "class Quiet:\n"
        "    def __getattr__(self, name):\n"
        "        return getattr(sys, name)\n"
        "    def audit(self, *args):\n"
        "        pass\n"
        "subprocess.sys = Quiet()\n"
        f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
        "print('started')\n"
    )
    r = run(code, ns)
    assert r.status == "forbidden" and "started" not in r.stdout
    assert survivors(marker) == []
    assert_gone(r)


@pytest.mark.parametrize(
    "code",
    ["x = ' ' * 10**10\n", "x = []\nwhile True:\n    x.append(' ' * 10**6)\n"],
    ids=["one-block", "growing-list"],
)
def test_memory_bomb(code: str) -> None:
    r = run(WHERE + code)
    assert r.status == "memory" and r.answer is None
    assert_gone(r)


@both
def test_network_is_forbidden_and_nothing_connects(ns: bool) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        r = run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}))\n", ns)
        assert r.status == "forbidden" and "socket." in r.detail
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    # Catching the refusal does not help: the program has already ended.
    caught = run(
        "import socket\ntry:\n    socket.socket()\nexcept BaseException:\n    pass\nans = 1\n"
    )
    assert caught.status == "forbidden" and caught.answer is None


@both
def test_no_writes_outside_the_sandbox(ns: bool, tmp_path: Path) -> None:
    escape = Path(f"/tmp/escape_{uuid.uuid4().hex}")
    r = run(f"open({str(escape)!r}, 'w').write('out')\n", ns)
    assert r.status == "forbidden" and not escape.exists()
    victim = tmp_path / "keep.txt"
    victim.write_text("mine")
    for code in (
        f"import os\nos.remove({str(victim)!r})\n",
        f"import os\nos.rename({str(victim)!r}, 'moved.txt')\n",
        f"import shutil\nshutil.rmtree({str(tmp_path)!r})\n",
        f"import os\nos.chdir('/tmp')\nopen({escape.name!r}, 'w')\n",
        # a link inside the sandbox that points outside is resolved before the check
        f"import os\nos.symlink('/tmp', 'out')\nopen('out/{escape.name}', 'w')\n",
    ):
        # bwrap: /tmp and tmp_path do not even exist in the sandbox (an error, or the hook)
        assert run(code, ns).status in (("forbidden", "error") if ns else ("forbidden",)), code
    assert victim.read_text() == "mine" and not escape.exists()


def test_file_size_and_disk_are_limited() -> None:
    r = run("open('big', 'w').write('x' * (2 << 20))\n")  # 2 MiB under a 1 MiB limit
    assert r.status == "error" and "File too large" in r.detail
    fill = "for i in range(20):\n    open(f'f{i}', 'w').write('x' * (1 << 20))\n"
    r = run(fill, file_mb=4, disk_mb=8)  # 20 MiB of files on an 8 MiB scratch tmpfs
    assert r.status == "error" and "No space left on device" in r.detail


@pytest.mark.parametrize(
    "code",
    [
        "import subprocess\nsubprocess.run(['true'])\n",
        "import os\nos.system('true')\n",
        "import os\nos.execv('/bin/true', ['true'])\n",
        "import threading\nthreading.Thread(target=print).start()\n",
        "import ctypes\nctypes.CDLL(None).getpid()\n",
        "import ctypes\nctypes.pythonapi.Py_IncRef\n",
        "import ctypes\nctypes.c_int.from_address(id(0))\n",
        "import ctypes\nctypes.string_at(id(0), 8)\n",
        "import ctypes\nctypes.CDLL('libc.so.6')\n",
        "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (100, 100))\n",
    ],
    ids=[
        "subprocess",
        "system",
        "exec",
        "thread",
        "ctypes-symbol",
        "ctypes-pythonapi",
        "ctypes-memory",
        "ctypes-string_at",
        "ctypes-library",
        "setrlimit",
    ],
)
def test_processes_and_escapes_are_forbidden(code: str) -> None:
    r = run(code)
    assert r.status == "forbidden" and r.exit_code is not None


def test_limits_and_isolation_are_recorded() -> None:
    with pytest.raises(ValueError, match="isolation"):
        Limits(isolation="none")  # type: ignore[arg-type]
    assert run("ans = 1\n").isolation == "bwrap"
    assert run("ans = 1\n", ns=False).isolation == "unsafe"
