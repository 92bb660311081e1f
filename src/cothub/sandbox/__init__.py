"""Run untrusted, model-written Python in an isolated, limited process: :func:`run_python`.

A program-aided strategy executes code a model wrote. That code must be treated as hostile: it
may try to read cothub's secrets, write over files, start processes, reach the network, forge its
own result, or exhaust the machine. Each run gets its own sandbox, and enforcement does not
depend on the program's cooperation.

Guaranteed by the kernel (isolation ``bwrap``, the default; Debian's ``bubblewrap``)
    * new user, mount, PID, network, IPC, UTS and cgroup namespaces; the program runs as uid and
      gid 65534 with no capabilities (bounding set empty) and ``no_new_privs``. When cothub runs
      as root and bubblewrap can start as ``nobody`` (the interpreter readable by it), the
      sandbox is ``nobody`` on the host too; else its uid maps to cothub's own, still without
      capabilities;
    * a private, read-only file system holding only the interpreter, its standard library, the
      directories of the shared libraries it loads (and with ``site_packages`` the installed
      packages): no home directory, no store, no /tmp of the host; a fresh, read-only /proc that
      shows only the sandbox's own processes; a minimal /dev (null, zero, random, ...); and one
      writable directory, ``/sandbox`` (cwd, ``HOME``, ``TMPDIR``), a tmpfs of at most
      ``disk_mb`` MiB in total;
    * no network: the namespace has only a downed loopback, and the seccomp filter kills any
      socket that is not AF_UNIX;
    * an empty environment (only ``HOME``/``TMPDIR`` and single-threaded BLAS settings), stdin
      empty, every inherited descriptor closed but stdout/stderr (pipes of which at most
      ``max_output`` bytes are kept) and the worker's own result channel;
    * a seccomp filter (built with libseccomp) that kills the process on calls a PAL program
      never needs: ptrace and process_vm_*, mount and friends, clock and time setting, kexec,
      modules, reboot, bpf, perf, io_uring, keyrings, unshare/setns, new namespaces, raw and
      packet (any non-AF_UNIX) sockets, terminal injection; and, added by the worker right before
      the program starts, exec (execve/execveat), fork, vfork, clone (no processes or threads),
      and signals to any other process (EPERM). A killed call is reported as ``forbidden``;
    * resource limits in the worker: CPU seconds (``RLIMIT_CPU``), address space (``RLIMIT_AS``,
      so ``memory_mb`` is virtual memory), file size (``RLIMIT_FSIZE``), open files, no core
      dumps; a wall-clock limit at which the supervisor kills the worker; bubblewrap dies with
      cothub (``--die-with-parent``), and when the sandbox's init ends the kernel kills every
      process left in its PID namespace, so nothing outlives a run.

The result cannot be forged
    The sandbox's init is a small supervisor that forks the worker, which runs the program. The
    worker reports ``(status, answer, detail)`` through a pipe to the supervisor after the
    program ended; the program can write into that pipe too, but all it can say there is an
    answer or an error of its own, which it could give anyway by returning it. Everything else
    (exit status, signal, CPU time, the wall-time kill) the supervisor measures itself and sends
    on a descriptor the worker closed before the program started; the supervisor is not dumpable
    (no /proc/1/fd or /proc/1/mem for the program) and, as the namespace's init, cannot be
    killed from inside it. The parent accepts exactly one well-formed report and kills the
    sandbox's process group after every run.

Second layer (Python audit hooks, installed just before the program runs)
    sockets, process creation, threads, ``kill``, any use of ``ctypes`` (importing it is
    allowed: numpy and sympy do), ``setrlimit`` and writes outside the scratch directory end
    the program at once as ``forbidden``, with a precise message. The
    program can reach and disable these hooks (PEP 578); the kernel layers above hold regardless.

Not bounded: the number of (empty) files in the scratch tmpfs, whose kernel memory is freed
when the run ends, and the CPU the sandbox's start-up takes (~40 ms on an idle machine).

Where bubblewrap, user namespaces or libseccomp are missing, :func:`isolation_problem` says so in
one line and :func:`run_python` raises :class:`SandboxUnavailable`. ``isolation="unsafe"`` (only
when asked for) runs without namespaces: resource limits, the same seccomp filters where
libseccomp is available (the worker sets ``no_new_privs`` itself), the audit hooks, an empty
environment and a fresh host temp directory. It does not keep the program from reading files
on the host or using the disk beyond ``file_mb`` per file.

The interpreter is ``sys.executable -I -S -B``: isolated mode, no ``site`` (the standard
library only, unless ``site_packages`` is set) and no bytecode writing.

The answer follows PAL's convention (Gao et al. 2023): the return value of ``solution()`` when the
program defines it; else a top-level ``ans`` (Program of Thoughts, Chen et al. 2023); else the last
non-empty line the program printed. Floats are rendered without binary noise (``0.1 + 0.2`` ->
``0.3``, ``8.0`` -> ``8``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Literal, cast

from cothub.sandbox import _isolation
from cothub.sandbox._child import EXIT_FORBIDDEN, EXIT_SETUP, MAX_ANSWER, MAX_RECORD

if TYPE_CHECKING:
    import subprocess

__all__ = [
    "ISOLATIONS",
    "STATUSES",
    "Isolation",
    "Limits",
    "SandboxResult",
    "SandboxUnavailable",
    "Status",
    "isolation_problem",
    "run_python",
]

Status = Literal["ok", "error", "timeout", "memory", "killed", "forbidden"]
STATUSES: tuple[Status, ...] = ("ok", "error", "timeout", "memory", "killed", "forbidden")
"""Every status, in the order reports list them."""
Isolation = Literal["bwrap", "unsafe"]
ISOLATIONS: tuple[Isolation, ...] = ("bwrap", "unsafe")


class SandboxUnavailable(OSError):
    """This machine cannot provide the sandbox's isolation; the message says why and what to do."""


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
    disk_mb: int = 32
    """All the program may write, in MiB: the size of its scratch tmpfs (``bwrap`` only)."""
    max_output: int = 64_000
    """Bytes kept of stdout and of stderr each: the first 3/4 and the last 1/4 of the limit."""
    site_packages: bool = False
    """Let the program import installed packages (e.g. sympy), not only the standard library."""
    isolation: Isolation = "bwrap"
    """``bwrap`` (namespaces, see the module docstring) or ``unsafe`` (none: only when asked)."""

    def __post_init__(self) -> None:
        if not (self.wall_s > 0 and self.cpu_s >= 1 and self.file_mb >= 1 and self.disk_mb >= 1):
            raise ValueError(
                "sandbox limits: wall_s > 0, cpu_s >= 1, file_mb >= 1 and disk_mb >= 1 are needed"
            )
        if self.memory_mb < 32 or self.max_output < 64:
            raise ValueError("sandbox limits: memory_mb >= 32 and max_output >= 64 are needed")
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"sandbox limits: isolation is one of {ISOLATIONS}")


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """How one program run ended."""

    status: Status
    """``ok``; ``error`` (an exception or a non-zero exit); ``timeout`` (wall or CPU limit);
    ``memory`` (MemoryError under the address-space limit); ``killed`` (by a signal);
    ``forbidden`` (network, process, a denied system call, or a write outside the sandbox)."""
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
    """Seconds from start until the sandbox was gone."""
    isolation: Isolation = "bwrap"
    """The isolation it ran under."""


# ---- the parent ----------------------------------------------------------------------------

_GRACE_S = 3.0
"""Start-up allowance before the parent itself kills a sandbox whose supervisor overran."""
_SIGSYS = 31
_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def isolation_problem(site_packages: bool = False) -> str | None:
    """None when this machine can run the ``bwrap`` sandbox; else one line: why, and how to
    allow it. The first call finds the interpreter's shared libraries (``ldd``) and runs a
    self-test sandbox (a fraction of a second, once per process); the answer is kept."""
    try:
        _launcher(site_packages)
    except SandboxUnavailable as e:
        return str(e)
    return None


def run_python(code: str, limits: Limits | None = None) -> SandboxResult:
    """Run ``code`` as a program under ``limits``; every failure is a status, never an exception.

    Blocks for up to ``limits.wall_s`` (plus process start-up); call it from a worker thread in
    async code. Raises :class:`SandboxUnavailable` when the isolation cannot be provided, and
    OSError when no process can be started at all.
    """
    lim = limits or Limits()
    if lim.isolation == "bwrap":
        return _run(code, lim, _launcher(lim.site_packages))
    return _run(code, lim, None)


def _launcher(site_packages: bool) -> _isolation.Launcher:
    """The first way of starting bubblewrap that passes the self-test; else SandboxUnavailable."""
    found = _find_launcher(site_packages)
    if isinstance(found, str):
        raise SandboxUnavailable(found)
    return found


_UNSAFE = "or run programs unisolated with --strategy program:isolation=unsafe"
_USERNS = (
    "enable unprivileged user namespaces (sysctl -w kernel.unprivileged_userns_clone=1, or "
    "kernel.apparmor_restrict_unprivileged_userns=0, or user.max_user_namespaces > 0)"
)


@functools.cache
def _find_launcher(site_packages: bool) -> _isolation.Launcher | str:
    """The launcher, or the one-line refusal (both kept for the process's life)."""
    lead = "the program sandbox cannot be isolated"
    if not sys.platform.startswith("linux"):
        return f"{lead}: it needs Linux (bubblewrap, namespaces, seccomp); {_UNSAFE}"
    try:
        candidates = _isolation.launchers()
    except _isolation.Unavailable as e:
        return f"{lead}: {e}; install it (apt-get install bubblewrap), {_UNSAFE}"
    try:
        _isolation.filters()
    except _isolation.Unavailable as e:
        return (
            f"{lead}: {e}; install libseccomp (apt-get install libseccomp2) and the pyseccomp "
            f"package, {_UNSAFE}"
        )
    failures = []
    for launcher in candidates:
        probe = Limits(wall_s=10, cpu_s=10, max_output=4000, site_packages=site_packages)
        try:
            r = _run(_isolation.PROBE, probe, launcher)
        except OSError as e:
            failures.append(str(e))
            continue
        if r.status == "ok" and _isolation.probe_ok(r.answer, site_packages):
            return launcher
        failures.append(
            f"the sandbox lacks the promised isolation: {r.answer}"
            if r.status == "ok"
            else _isolation.why_failed(r.stderr, r.exit_code)
        )
    why = failures[-1] if failures else "no way to start it"
    return f"{lead}: bubblewrap failed its self-test ({why}); {_USERNS}, {_UNSAFE}"


def _run(code: str, lim: Limits, launcher: _isolation.Launcher | None) -> SandboxResult:
    import shutil
    import subprocess
    import tempfile

    isolation: Isolation = "bwrap" if launcher is not None else "unsafe"
    flags = "-I" if lim.site_packages else "-IS"
    exe = sys.executable
    if launcher is None or not lim.site_packages:
        exe = os.path.realpath(sys.executable)
    code_fd = _anonymous_file("program")
    fds = [code_fd]
    root = None
    try:
        os.write(code_fd, code.encode("utf-8", errors="surrogateescape"))
        os.lseek(code_fd, 0, os.SEEK_SET)
        try:
            bpf = _isolation.filters()
        except _isolation.Unavailable:
            if launcher is not None:
                raise
            bpf = None
        if launcher is not None:
            seccomp_fd = _anonymous_file("seccomp")
            fds.append(seccomp_fd)
            assert bpf is not None
            os.write(seccomp_fd, bpf.base)
            os.lseek(seccomp_fd, 0, os.SEEK_SET)
            env = {"HOME": _isolation.SCRATCH, "TMPDIR": _isolation.SCRATCH, **_ENV}
            prefix = _isolation.bwrap_argv(
                launcher.bwrap, lim.site_packages, lim.disk_mb, seccomp_fd, env
            )
            where, cwd, uid = _isolation.SCRATCH, "/", launcher.host_uid
            filters, nnp = bpf.worker.hex(), "0"
        else:
            root = os.path.realpath(tempfile.mkdtemp(prefix="cothub-sandbox-"))
            env = {"HOME": root, "TMPDIR": root, "PATH": os.defpath, "LC_ALL": "C.UTF-8", **_ENV}
            prefix, where, cwd, uid = [], root, root, None
            filters = f"{bpf.base.hex()},{bpf.worker.hex()}" if bpf is not None else "-"
            nnp = "1"
        read_fd, write_fd = os.pipe()
        argv = [str(write_fd), str(code_fd), where, repr(lim.wall_s), str(lim.cpu_s),
                str(lim.memory_mb), str(lim.file_mb), filters, nnp]  # fmt: skip
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                [*prefix, exe, flags, "-B", "-X", "utf8", "-c", _child_source(), *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env if launcher is None else {},
                pass_fds=(write_fd, *fds),
                start_new_session=True,
                user=uid,
                group=uid,
                extra_groups=None if uid is None else [],
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
            for fd in fds:
                os.close(fd)
            fds = []
        try:
            with os.fdopen(read_fd, "rb") as report:
                result = _supervise(proc, report, lim, started, isolation)
        except BaseException:  # e.g. KeyboardInterrupt: leave nothing running
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, 9)
            proc.wait()
            raise
        if root is not None:
            _kill_strays(root)
        return result
    finally:
        for fd in fds:
            os.close(fd)
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def _anonymous_file(name: str) -> int:
    """A descriptor of a file that has no name anywhere (it is passed, not opened, to the child)."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create(name, os.MFD_CLOEXEC)
    import tempfile

    with tempfile.TemporaryFile() as f:
        return os.dup(f.fileno())


def _kill_strays(root: str) -> None:
    """``unsafe`` only: kill processes still working in the sandbox dir (cwd inside it), and
    wait (up to a second) until they are gone. Only a program that evaded both the seccomp
    filter (where libseccomp is missing) and the audit hooks can leave one."""
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
    proc: subprocess.Popen[bytes], report: IO[bytes], lim: Limits, started: float, how: Isolation
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
                elif len(records) < 4 * MAX_RECORD:
                    records += data
            if until == deadline and b"\n" in records:
                # The supervisor has reported; a stray process may still hold the pipes.
                until = min(deadline, time.monotonic() + 0.05)
    # Wait (without reaping, so the group id cannot be reused) for the top process, then kill
    # whatever is left of its group, then reap.
    timed_out = timed_out or not _wait_exit(proc.pid, deadline)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, 9)
    proc.wait()
    for s in (proc.stdout, proc.stderr):
        s.close()
    exit_, run = _parse_report(bytes(records))
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
        isolation=how,
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


def _parse_report(raw: bytes) -> tuple[_Exit | None, _Run | None]:
    """The supervisor's one ``exit`` record, and the worker's ``run`` record it carries.

    Anything but exactly one well-formed line is no report at all.
    """
    import ast

    lines = raw.decode("utf-8", errors="replace").splitlines()
    if len(lines) != 1:
        return None, None
    try:
        rec = ast.literal_eval(lines[0])
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None, None
    if not (isinstance(rec, tuple) and len(rec) == 5 and rec[0] == "exit"):
        return None, None
    _, status, cpu, late, last = rec
    if not (isinstance(status, int) and isinstance(cpu, float) and isinstance(late, bool)):
        return None, None
    return (status, cpu, late), _parse_run(last)


def _parse_run(line: object) -> _Run | None:
    """The worker's (status, answer, detail), as the program may have written it too."""
    import ast

    if not isinstance(line, str) or len(line) > MAX_RECORD:
        return None
    try:
        rec = ast.literal_eval(line)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None
    if not (isinstance(rec, tuple) and len(rec) == 4 and rec[0] == "run"):
        return None
    status, answer, detail = rec[1:]
    if status not in STATUSES or not isinstance(detail, str):
        return None
    return status, answer[:MAX_ANSWER] if isinstance(answer, str) else None, detail[:500]


def _judge(
    run: _Run | None, exit_: _Exit | None, timed_out: bool, lim: Limits
) -> tuple[Status, str | None, str, int | None]:
    """(status, answer, detail, exit code) from what the supervisor measured and the worker said.

    The supervisor's measurements decide timeouts, signals, seccomp kills, the audit hooks'
    exit code and set-up failures; only an exit the worker chose (0 or 1) lets its record
    speak, which says no more than the program could by returning a value or raising.
    """
    code = os.waitstatus_to_exitcode(exit_[0]) if exit_ is not None else None
    if timed_out or (exit_ is not None and exit_[2]):
        return "timeout", None, f"wall time limit of {lim.wall_s:g} s exceeded", code
    if exit_ is None or code is None:
        return "killed", None, "the sandbox ended without a valid report", code
    if code < 0:
        # SIGXCPU at the soft CPU limit, SIGKILL at the hard one (soft + 1 s).
        if -code == 24 or (-code == 9 and exit_[1] >= lim.cpu_s):
            return "timeout", None, f"CPU time limit of {lim.cpu_s} s exceeded", code
        if -code == _SIGSYS:
            return "forbidden", None, "forbidden: a system call the sandbox denies (seccomp)", code
        return "killed", None, f"killed by signal {-code}", code
    if code == EXIT_FORBIDDEN:
        said = run[2] if run is not None and run[0] == "forbidden" else "forbidden"
        return "forbidden", None, said, code
    if code == EXIT_SETUP:
        return "killed", None, "the sandbox could not be set up", code
    if run is not None:
        return cast(Status, run[0]), run[1], run[2], code
    if code != 0:
        return "error", None, f"exit code {code}", code
    return "ok", None, "exited", code


def _last_line(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:MAX_ANSWER] if lines else None


@functools.cache
def _child_source() -> str:
    """The supervisor's and the worker's program: the text of :mod:`cothub.sandbox._child`."""
    from pathlib import Path

    return Path(__file__).with_name("_child.py").read_text(encoding="utf-8")
