"""Run model-written Python in a separate, limited process: :func:`run_python`.

A program-aided strategy executes code a model wrote. That code is not malicious, but it is
careless: it loops forever, allocates 10 GB, prints a megabyte, forks, opens a socket or writes
over a file. Each run therefore gets its own interpreter, in a fresh temporary directory that is
removed afterwards, and these layers:

Guaranteed by the kernel, always
    * resource limits set in the program's process: CPU seconds (``RLIMIT_CPU``), address space
      (``RLIMIT_AS``, so ``memory_mb`` is virtual memory), file size (``RLIMIT_FSIZE``), open files,
      no core dumps, and ``RLIMIT_NPROC`` = 1 (no new processes or threads; the kernel ignores it
      for root, see the hooks below);
    * a wall-clock limit, at which the supervisor (below) kills the program; the parent kills
      the whole process group (``start_new_session=True`` + ``os.killpg``) after every run, and
      at once if the supervisor overruns the limit;
    * no inherited environment (API keys never reach the program), stdin empty, cwd = the temp dir,
      and stdout/stderr read through pipes of which at most ``max_output`` bytes are kept.

Guaranteed by the kernel where ``unshare`` works (root, or unprivileged user namespaces)
    * a private network namespace: no interface but a downed loopback, so nothing is reachable;
    * a private PID namespace whose init is our supervisor: when it exits or is killed, the kernel
      kills every process left in the namespace, even one that left the process group.

Guaranteed at the Python level (``sys.addaudithook``, installed just before the program runs)
    * socket use (every ``socket.*`` event), process creation (fork, exec, spawn, ``system``,
      ``subprocess``), threads (``_thread.start_new_thread`` is replaced, so that root, whom
      ``RLIMIT_NPROC`` does not stop, sees the same rule), ``kill``, ``ctypes`` and
      ``resource.setrlimit`` are *forbidden*;
    * opening a file for writing, and removing, renaming, linking, chmod/chown, ... of a path
      outside the temp dir (symlinks resolved) are *forbidden*; reading is allowed (imports read).
    A forbidden event ends the program at once (``os._exit``: it cannot be caught). Audit hooks stop
    accidents, not an adversary who sets out to evade them (PEP 578); the kernel layers above hold
    regardless.

The interpreter is ``sys.executable -I -S -B``: isolated mode (no ``PYTHON*`` variables, no user
site, no script dir on ``sys.path``), no ``site`` (the standard library only, unless
``site_packages`` is set) and no bytecode writing (which would be a write outside the temp dir).

The answer follows PAL's convention (Gao et al. 2023): the return value of ``solution()`` when the
program defines it; else a top-level ``ans`` (Program of Thoughts, Chen et al. 2023); else the last
non-empty line the program printed. Floats are rendered without binary noise (``0.1 + 0.2`` ->
``0.3``, ``8.0`` -> ``8``).

Inside the child a small supervisor (the namespace's init) forks the worker that runs the program,
waits for it and reports its exit status and CPU time, so a CPU-limit kill is told apart from a
crash. The child's code is the source of this module's ``_child_*`` functions: the child cannot
import cothub (``-I -S``) and starts in ~10 ms instead of ~40 ms without dataclasses and typing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    import subprocess

__all__ = ["STATUSES", "Limits", "SandboxResult", "Status", "run_python"]

Status = Literal["ok", "error", "timeout", "memory", "killed", "forbidden"]
STATUSES: tuple[Status, ...] = ("ok", "error", "timeout", "memory", "killed", "forbidden")
"""Every status, in the order reports list them."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one program may use."""

    wall_s: float = 5.0
    """Wall-clock seconds from start to exit; then the supervisor kills the program."""
    cpu_s: int = 5
    """CPU seconds (``RLIMIT_CPU``)."""
    memory_mb: int = 512
    """Address space in MiB (``RLIMIT_AS``): virtual memory, so keep room for the interpreter."""
    file_mb: int = 16
    """Largest file the program may write, in MiB (``RLIMIT_FSIZE``)."""
    max_output: int = 64_000
    """Bytes kept of stdout and of stderr each: the first 3/4 and the last 1/4 of the limit."""
    site_packages: bool = False
    """Let the program import installed packages (e.g. sympy), not only the standard library."""
    namespaces: bool = True
    """Add network and PID namespaces (``unshare``) where the system allows it."""

    def __post_init__(self) -> None:
        if not (self.wall_s > 0 and self.cpu_s >= 1 and self.file_mb >= 1):
            raise ValueError("sandbox limits: wall_s > 0, cpu_s >= 1 and file_mb >= 1 are needed")
        if self.memory_mb < 32 or self.max_output < 64:
            raise ValueError("sandbox limits: memory_mb >= 32 and max_output >= 64 are needed")


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """How one program run ended."""

    status: Status
    """``ok``; ``error`` (an exception or a non-zero exit); ``timeout`` (wall or CPU limit);
    ``memory`` (MemoryError under the address-space limit); ``killed`` (by a signal);
    ``forbidden`` (network, process, or write outside the sandbox)."""
    answer: str | None
    """The program's answer (see the module docstring); None unless ``status`` is ``ok``."""
    stdout: str
    """What it printed, cut in the middle when longer than ``max_output`` bytes."""
    stderr: str
    """Its error output (tracebacks), cut the same way."""
    detail: str
    """One line on why it ended (the exception, the forbidden event, the limit hit)."""
    exit_code: int | None
    """The program's exit code; negative: killed by that signal; None: unknown (the sandbox
    itself had to be killed)."""
    wall_s: float
    """Seconds from start until the process group was gone."""
    namespaced: bool = False
    """True when network and PID namespaces were in place."""


# ---- the parent ----------------------------------------------------------------------------

_EXIT_FORBIDDEN = 86
_GRACE_S = 2.0
"""Start-up allowance before the parent itself kills a sandbox whose supervisor overran."""
_MAX_ANSWER = 2000
_PROGRAM = "program.py"
# Audited events that end the program, by name or by prefix.
_BLOCKED = frozenset(
    {
        "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
        "os.startfile", "os.kill", "os.killpg", "subprocess.Popen", "pty.spawn",
        "resource.setrlimit", "resource.prlimit", "signal.pthread_kill", "sys.remote_exec",
        "_thread.start_new_thread",
    }
)  # fmt: skip
_BLOCKED_PREFIXES = ("socket.", "ctypes.")
# Events that change the file system: (argument positions that must lie in the sandbox,
# argument positions holding a dir_fd, which must be unset).
_PATH_EVENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)), "os.rename": ((0, 1), (2, 3)),
    "os.mkdir": ((0,), (2,)), "os.chmod": ((0,), (2,)), "os.chown": ((0,), (3,)),
    "os.link": ((0, 1), (2, 3)), "os.symlink": ((1,), (2,)), "os.truncate": ((0,), ()),
    "os.utime": ((0,), (3,)), "os.mkfifo": ((0,), (2,)), "os.mknod": ((0,), (3,)),
    "os.setxattr": ((0,), ()), "os.removexattr": ((0,), ()), "os.chflags": ((0,), ()),
    "os.lchflags": ((0,), ()), "os.lchmod": ((0,), ()), "shutil.rmtree": ((0,), (1,)),
    "shutil.copyfile": ((1,), ()), "shutil.copymode": ((1,), ()), "shutil.copystat": ((1,), ()),
    "shutil.copytree": ((1,), ()), "shutil.move": ((0, 1), ()), "shutil.chown": ((0,), ()),
    "shutil.make_archive": ((0,), ()), "shutil.unpack_archive": ((1,), ()),
}  # fmt: skip
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def run_python(code: str, limits: Limits | None = None) -> SandboxResult:
    """Run ``code`` as a program under ``limits``; every failure is a status, never an exception.

    Blocks for up to ``limits.wall_s`` (plus process start-up); call it from a worker thread in
    async code. Raises OSError only when no process can be started at all.
    """
    import shutil
    import subprocess
    import tempfile

    lim = limits or Limits()
    root = os.path.realpath(tempfile.mkdtemp(prefix="cothub-sandbox-"))
    prefix = _namespace_prefix() if lim.namespaces else ()
    try:
        with open(os.path.join(root, _PROGRAM), "w", encoding="utf-8") as f:
            f.write(code)
        read_fd, write_fd = os.pipe()
        flags = "-I" if lim.site_packages else "-IS"
        argv = [str(write_fd), root, repr(lim.wall_s)]
        argv += [str(lim.cpu_s), str(lim.memory_mb), str(lim.file_mb)]
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                [*prefix, sys.executable, flags, "-B", "-X", "utf8", "-c", _child_source(),
                 *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=root,
                env=_child_env(root),
                pass_fds=(write_fd,),
                start_new_session=True,
            )  # fmt: skip
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        try:
            with os.fdopen(read_fd, "rb") as report:
                result = _supervise(proc, report, lim, started, bool(prefix))
        except BaseException:  # e.g. KeyboardInterrupt: leave nothing running
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, 9)
            proc.wait()
            raise
        if not prefix:
            _kill_strays(root)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _kill_strays(root: str) -> None:
    """Without a PID namespace: kill processes still working in the sandbox (cwd inside it),
    and wait (up to a second) until they are gone.

    Only a program that evaded the audit hooks and left its process group can leave one.
    """
    for _ in range(100):
        strays = _working_in(root)
        if not strays:
            return
        for pid in strays:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        time.sleep(0.01)


def _working_in(root: str) -> list[int]:
    try:
        entries = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    found = []
    for pid in entries:
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd").removesuffix(" (deleted)")
        except OSError:  # gone, a zombie, or not ours to see
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            found.append(int(pid))
    return found


def _child_env(root: str) -> dict[str, str]:
    """Nothing of the parent's environment: temp files land in the sandbox, BLAS stays single."""
    env = {"HOME": root, "TMPDIR": root, "PATH": os.defpath, "LC_ALL": "C.UTF-8"}
    env.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"))
    return env


class _Capture:
    """Keeps the head and the tail of a stream, so the last printed line survives a long output."""

    def __init__(self, limit: int) -> None:
        self.head_max = limit - limit // 4
        self.tail_max = limit // 4
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.head_max - len(self.head)
        self.head += data[:room]
        rest = data[room:] if room > 0 else data
        if rest:
            self.tail += rest
            cut = len(self.tail) - self.tail_max
            if cut > 0:
                self.dropped += cut
                del self.tail[:cut]

    def text(self) -> str:
        middle = f"\n[... {self.dropped} bytes not kept ...]\n".encode() if self.dropped else b""
        return bytes(self.head + middle + self.tail).decode("utf-8", errors="replace")


def _supervise(
    proc: subprocess.Popen[bytes], report: IO[bytes], lim: Limits, started: float, ns: bool
) -> SandboxResult:
    """Read output until exit or the wall limit, kill the process group, then judge the run."""
    import selectors

    assert proc.stdout is not None and proc.stderr is not None
    deadline = started + lim.wall_s + _GRACE_S  # a backstop: the supervisor keeps the limit
    streams = {proc.stdout.fileno(): _Capture(lim.max_output),
               proc.stderr.fileno(): _Capture(lim.max_output)}  # fmt: skip
    records = bytearray()
    timed_out = False
    until = deadline  # once the supervisor has reported, only a short drain of the pipes
    with selectors.DefaultSelector() as sel:
        for fd in (*streams, report.fileno()):
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            ready = sel.select(max(0.0, until - time.monotonic()))
            if not ready and time.monotonic() >= until:
                timed_out = until == deadline
                break
            for key, _ in ready:
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fd)
                elif key.fd in streams:
                    streams[key.fd].add(data)
                elif len(records) < 65536:
                    records += data
            if until == deadline and b"('exit'," in records:
                # The program has ended; a stray process it left may still hold the pipes.
                until = min(deadline, time.monotonic() + 0.05)
    # Wait (without reaping, so the group id cannot be reused) for the top process, then kill
    # whatever is left of its group, then reap.
    timed_out = timed_out or not _wait_exit(proc.pid, deadline)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, 9)
    proc.wait()
    for s in (proc.stdout, proc.stderr):
        s.close()
    run, exit_ = _parse_records(bytes(records))
    status, answer, detail, code = _judge(run, exit_, timed_out, lim)
    out, err = (c.text() for c in streams.values())
    if status == "ok" and answer is None:
        answer = _last_line(out)
        detail = "the last printed line" if answer is not None else "no answer"
    return SandboxResult(
        status=status,
        answer=answer if status == "ok" else None,
        stdout=out,
        stderr=err,
        detail=detail,
        exit_code=code,
        wall_s=round(time.monotonic() - started, 4),
        namespaced=ns,
    )


def _wait_exit(pid: int, deadline: float) -> bool:
    """Poll until ``pid`` has exited (left unreaped) or the deadline passes; True if it exited."""
    pause = 0.0005
    while True:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


_Run = tuple[str, str | None, str]
_Exit = tuple[int, float, bool]
"""(wait status, CPU seconds, killed at the wall limit)."""


def _parse_records(raw: bytes) -> tuple[_Run | None, _Exit | None]:
    """The worker's ``run`` line (status, answer, detail) and the supervisor's ``exit`` line."""
    import ast

    run: _Run | None = None
    exit_: _Exit | None = None
    for line in raw.decode("utf-8", errors="replace").splitlines():
        try:
            rec = ast.literal_eval(line)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if not isinstance(rec, tuple) or not rec:
            continue
        if rec[0] == "run" and len(rec) == 4 and run is None:
            status, answer, detail = rec[1:]
            if status in STATUSES and isinstance(detail, str):
                run = (status, answer if isinstance(answer, str) else None, detail)
        elif rec[0] == "exit" and len(rec) == 4 and isinstance(rec[1], int):
            exit_ = (rec[1], float(rec[2]) if isinstance(rec[2], float) else 0.0, rec[3] is True)
    return run, exit_


def _judge(
    run: _Run | None, exit_: _Exit | None, timed_out: bool, lim: Limits
) -> tuple[Status, str | None, str, int | None]:
    """(status, answer, detail, exit code) from what the worker and the supervisor reported."""
    code = os.waitstatus_to_exitcode(exit_[0]) if exit_ is not None else None
    if run is not None and run[0] == "forbidden":
        return "forbidden", None, run[2], code
    if timed_out or (exit_ is not None and exit_[2]):
        return "timeout", None, f"wall time limit of {lim.wall_s:g} s exceeded", code
    if exit_ is not None and code is not None and code < 0:
        # SIGXCPU at the soft CPU limit, SIGKILL at the hard one (soft + 1 s).
        if -code == 24 or (-code == 9 and exit_[1] >= lim.cpu_s):
            return "timeout", None, f"CPU time limit of {lim.cpu_s} s exceeded", code
        return "killed", None, f"killed by signal {-code}", code
    if run is not None:
        return cast(Status, run[0]), run[1], run[2], code
    if code is None:
        return "killed", None, "the sandbox ended without a report", code
    if code != 0:
        return "error", None, f"exit code {code}", code
    return "ok", None, "exited", code


def _last_line(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:_MAX_ANSWER] if lines else None


@functools.cache
def _namespace_prefix() -> tuple[str, ...]:
    """``unshare`` with new network and PID namespaces, if this system lets us use them."""
    import shutil
    import subprocess

    exe = shutil.which("unshare")
    if exe is None or not sys.platform.startswith("linux"):
        return ()
    base = ("--net", "--pid", "--fork", "--kill-child")
    prefix = (exe, *base) if os.geteuid() == 0 else (exe, "--user", "--map-root-user", *base)
    try:
        probe = subprocess.run(
            [*prefix, sys.executable, "-I", "-S", "-c", ""], capture_output=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    return prefix if probe.returncode == 0 else ()


@functools.cache
def _child_source() -> str:
    """The child's program: this module's ``_child_*`` functions and the constants they use."""
    import inspect

    consts = {
        "_EXIT_FORBIDDEN": _EXIT_FORBIDDEN,
        "_MAX_ANSWER": _MAX_ANSWER,
        "_PROGRAM": _PROGRAM,
        "_BLOCKED": _BLOCKED,
        "_BLOCKED_PREFIXES": _BLOCKED_PREFIXES,
        "_PATH_EVENTS": _PATH_EVENTS,
        "_WRITE_FLAGS": _WRITE_FLAGS,
    }
    parts = ["from __future__ import annotations", "import os, sys"]
    parts += [f"{k} = {v!r}" for k, v in consts.items()]
    parts += [
        inspect.getsource(f)
        for f in (_child_main, _child_worker, _child_guard, _child_inside, _child_render)
    ]
    parts.append("_child_main(sys.argv[1:])")
    return "\n".join(parts)


# ---- the child: runs with the standard library only (see _child_source) --------------------


def _child_main(argv: list[str]) -> None:
    """Supervisor: fork the worker, kill it at the wall limit, report its exit and CPU seconds.

    Waiting here rather than in the parent means that, as the namespace's init, the supervisor
    exits only after the worker is reaped, and the kernel then tears the namespace down before
    the parent sees the exit: nothing is left dying in the background.
    """
    import _signal  # not ``signal``: that imports enum, ~4 ms of start-up

    report, wall_s = int(argv[0]), float(argv[2])
    pid = os.fork()
    if pid == 0:
        try:
            _child_worker(report, argv[1], int(argv[3]), int(argv[4]), int(argv[5]))
        finally:
            os._exit(70)
    late: list[bool] = []

    def on_alarm(signum: int, frame: object) -> None:
        late.append(True)
        try:
            os.kill(pid, 9)
        except OSError:  # it exited just now: its status is the one to report
            late.clear()

    _signal.signal(_signal.SIGALRM, on_alarm)
    _signal.setitimer(_signal.ITIMER_REAL, wall_s)
    _, status, usage = os.wait4(pid, 0)
    _signal.setitimer(_signal.ITIMER_REAL, 0)
    cpu = usage.ru_utime + usage.ru_stime
    os.write(report, repr(("exit", status, cpu, bool(late))).encode() + b"\n")
    os._exit(0)


def _child_worker(report: int, root: str, cpu_s: int, memory_mb: int, file_mb: int) -> None:
    """Limit this process, install the guard, run the program, report (status, answer, detail)."""
    import resource

    def send(status: str, answer: str | None, detail: str) -> None:
        os.write(report, repr(("run", status, answer, detail[:500])).encode() + b"\n")

    for kind, pair in (
        (resource.RLIMIT_CPU, (cpu_s, cpu_s + 1)),
        (resource.RLIMIT_AS, (memory_mb << 20,) * 2),
        (resource.RLIMIT_FSIZE, (file_mb << 20,) * 2),
        (resource.RLIMIT_NOFILE, (64, 64)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NPROC, (1, 1)),
    ):
        resource.setrlimit(kind, pair)
    os.chdir(root)
    sys.argv = [_PROGRAM]
    with open(_PROGRAM, encoding="utf-8") as f:
        source = f.read()
    scope: dict[str, object] = {"__name__": "__main__", "__builtins__": __builtins__}
    stage = "compile"
    try:
        code = compile(source, _PROGRAM, "exec")
        sys.addaudithook(_child_guard(report, root))
        import _thread

        def no_thread(*args: object, **kwargs: object) -> None:
            sys.audit("_thread.start_new_thread")  # an event only from 3.13; the guard exits

        _thread.start_new_thread = no_thread  # type: ignore[assignment]
        stage = "run"
        exec(code, scope)
        value = scope.get("solution")
        stage = "solution"
        if callable(value):
            value = value()
        elif "ans" in scope:
            value = scope["ans"]
        else:
            value = None
        answer = None if value is None else _child_render(value)
    except MemoryError:
        sys.stdout.flush()
        send("memory", None, "MemoryError (address-space limit)")
        os._exit(1)
    except SystemExit as e:
        sys.stdout.flush()
        if e.code in (None, 0):
            send("ok", None, "sys.exit()")
            os._exit(0)
        send("error", None, f"sys.exit({e.code!r})")
        os._exit(e.code if isinstance(e.code, int) and 0 < e.code < 256 else 1)
    except BaseException as e:
        sys.stdout.flush()
        tb = e.__traceback__  # its first frame is this function's: not the program's
        e.__traceback__ = tb.tb_next if tb is not None else None
        sys.__excepthook__(type(e), e, e.__traceback__)
        sys.stderr.flush()
        send("error", None, f"{type(e).__name__} in {stage}: {e}"[:500])
        os._exit(1)
    sys.stdout.flush()
    send("ok", answer, "solution()" if callable(scope.get("solution")) else "ans")
    os._exit(0)


def _child_guard(report: int, root: str) -> Callable[[str, tuple[Any, ...]], None]:
    """The audit hook: a forbidden event reports itself and ends the process on the spot."""

    def guard(event: str, args: tuple[Any, ...]) -> None:
        why = ""
        if event in _BLOCKED or event.startswith(_BLOCKED_PREFIXES):
            why = event
        elif event == "open":
            path, mode, flags = (*args, None, None, None)[:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writes and not isinstance(path, int) and not _child_inside(path, root):
                why = f"open({path!r}, {mode!r}) for writing outside the sandbox"
        elif event in _PATH_EVENTS:
            paths, dir_fds = _PATH_EVENTS[event]
            bad_fd = any(args[i] not in (None, -1) for i in dir_fds if i < len(args))
            if bad_fd or not all(_child_inside(args[i], root) for i in paths if i < len(args)):
                why = f"{event}{tuple(args)!r} outside the sandbox"[:300]
        if why:
            try:
                sys.stdout.flush()
            except BaseException:
                why += " (unflushed output lost)"
            msg = f"forbidden: {why}"
            os.write(2, f"sandbox: {msg}\n".encode())
            os.write(report, repr(("run", "forbidden", None, msg[:500])).encode() + b"\n")
            os._exit(_EXIT_FORBIDDEN)

    return guard


def _child_inside(path: object, root: str) -> bool:
    """Does ``path`` (symlinks resolved, relative to the cwd) lie in ``root``? fds: never."""
    try:
        real = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
    except BaseException:
        return False
    return real == root or real.startswith(root + os.sep)


def _child_render(value: object) -> str:
    """The answer as text: integral floats as integers, other floats to 12 significant digits."""
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        text = f"{value:.12g}"
        if "e" in text:
            import decimal

            text = format(decimal.Decimal(text), "f")
        return text
    return str(value)[:_MAX_ANSWER]
