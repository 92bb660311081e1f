"""The sandbox's own code, run inside it: ``python -I -S -B -c <this file's text> ARGS``.

It imports the standard library only (the child cannot import cothub) and is started as the
program's supervisor; the supervisor forks the worker that runs the program. See
:mod:`cothub.sandbox` for the layers and the protocol.

ARGS: ``report_fd code_fd root wall_s cpu_s memory_mb file_mb filters no_new_privs``, where
``filters`` is a comma-separated list of seccomp BPF programs in hex ("-": none) that the worker
installs before the program runs, and ``no_new_privs`` ("1"/"0") whether the worker must set
``PR_SET_NO_NEW_PRIVS`` itself (bubblewrap already has).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not ``typing``: importing it costs start-up time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

EXIT_FORBIDDEN = 86
"""The worker's exit code when the audit hook stopped the program."""
EXIT_SETUP = 71
"""The worker's exit code when the sandbox itself could not be set up (a seccomp filter)."""
MAX_ANSWER = 2000
MAX_RECORD = 16_384
"""Bytes of the worker's result channel the supervisor keeps (the end of it)."""
PROGRAM = "program.py"
# Audited events that end the program, by name or by prefix (the second layer: see cothub.sandbox).
BLOCKED = frozenset(
    {
        "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
        "os.startfile", "os.kill", "os.killpg", "subprocess.Popen", "pty.spawn",
        "resource.setrlimit", "resource.prlimit", "signal.pthread_kill", "sys.remote_exec",
        "_thread.start_new_thread",
    }
)  # fmt: skip
BLOCKED_PREFIXES = ("socket.", "ctypes.")
# Events that change the file system: (argument positions that must lie in the sandbox,
# argument positions holding a dir_fd, which must be unset).
PATH_EVENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
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
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_PR_SET_DUMPABLE = 4
_PR_SET_SECCOMP = 22
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2


def main(argv: list[str]) -> None:
    """Supervisor: fork the worker, kill it at the wall limit, report how it ended.

    It reports on ``report_fd``, which the worker closes before the program starts, exactly one
    line: ``('exit', wait status, CPU seconds, killed at the wall limit, the last line of the
    worker's result channel or None)``, written after the worker has been reaped. Under
    bubblewrap it is the PID namespace's init (signals from the program cannot kill it) and it
    is not dumpable, so the program (same uid, no capabilities) can neither open its file
    descriptors through /proc nor read or write its memory.
    """
    import _signal  # not ``signal``: that imports enum, ~4 ms of start-up
    import ctypes

    report, code_fd = int(argv[0]), int(argv[1])
    wall_s = float(argv[3])
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]  # fmt: skip
    prctl.restype = ctypes.c_int
    if prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        os._exit(EXIT_SETUP)
    close_fds_except({0, 1, 2, report, code_fd})
    chunks = []
    while chunk := os.read(code_fd, 1 << 20):
        chunks.append(chunk)
    os.close(code_fd)
    source = b"".join(chunks).decode("utf-8", errors="replace")
    result_r, result_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(result_r)
            os.close(report)
            worker(result_w, source, argv[2:], prctl, ctypes)
        finally:
            os._exit(70)
    os.close(result_w)
    late: list[bool] = []

    def on_alarm(signum: int, frame: object) -> None:
        late.append(True)
        try:
            os.kill(pid, 9)
        except OSError:  # it exited just now: its status is the one to report
            late.clear()

    _signal.signal(_signal.SIGALRM, on_alarm)
    _signal.setitimer(_signal.ITIMER_REAL, wall_s)
    kept = b""
    while data := os.read(result_r, 65536):  # until the worker (which cannot fork) is gone
        kept = (kept + data)[-MAX_RECORD:]
    _, status, usage = os.wait4(pid, 0)
    _signal.setitimer(_signal.ITIMER_REAL, 0)
    cpu = usage.ru_utime + usage.ru_stime
    lines = [ln for ln in kept.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    last = lines[-1] if lines else None
    os.write(report, repr(("exit", status, cpu, bool(late), last)).encode() + b"\n")
    os._exit(0)


def close_fds_except(keep: set[int]) -> None:
    """Close every descriptor not in ``keep`` (the launcher's, bubblewrap's leftovers)."""
    import resource

    top = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    top = top if 0 < top < 1 << 20 else 1 << 20
    low = 0
    for fd in sorted(keep):
        if fd > low:  # os.closerange(a, a) would close everything (close_range(a, ~0))
            os.closerange(low, fd)
        low = fd + 1
    if top > low:
        os.closerange(low, top)


def worker(report: int, source: str, argv: list[str], prctl: Any, ctypes: Any) -> None:
    """Limit this process, seal it (seccomp), install the guard, run the program, report
    (status, answer, detail) on ``report``: the only descriptor left besides stdin/out/err."""
    import resource

    root, cpu_s, memory_mb, file_mb = argv[0], int(argv[2]), int(argv[3]), int(argv[4])
    filters = [bytes.fromhex(h) for h in argv[5].split(",") if h != "-"]
    close_fds_except({0, 1, 2, report})

    exit_, write = os._exit, os.write  # the program may replace the os module's

    def send(status: str, answer: str | None, detail: str) -> None:
        write(report, b"\n" + repr(("run", status, answer, detail[:500])).encode() + b"\n")

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
    sys.argv = [PROGRAM]
    scope: dict[str, object] = {"__name__": "__main__", "__builtins__": __builtins__}
    stage = "compile"
    try:
        code = compile(source, PROGRAM, "exec")
        seal(prctl, ctypes, filters, argv[6] == "1")
        for name in [m for m in sys.modules if m == "ctypes" or m.startswith("ctypes.")]:
            del sys.modules[name]  # so that the program's ``import ctypes`` is audited again
        sys.addaudithook(guard(report, root))
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
        answer = None if value is None else render(value)
    except SealError as e:
        send("error", None, f"sandbox setup failed: {e}")
        exit_(EXIT_SETUP)
    except MemoryError:
        sys.stdout.flush()
        send("memory", None, "MemoryError (address-space limit)")
        exit_(1)
    except SystemExit as e:
        sys.stdout.flush()
        if e.code in (None, 0):
            send("ok", None, "sys.exit()")
            exit_(0)
        send("error", None, f"sys.exit({e.code!r})")
        exit_(e.code if isinstance(e.code, int) and 0 < e.code < 256 else 1)
    except BaseException as e:
        sys.stdout.flush()
        tb = e.__traceback__  # its first frame is this function's: not the program's
        e.__traceback__ = tb.tb_next if tb is not None else None
        sys.__excepthook__(type(e), e, e.__traceback__)
        sys.stderr.flush()
        send("error", None, f"{type(e).__name__} in {stage}: {e}"[:500])
        exit_(1)
    sys.stdout.flush()
    send("ok", answer, "solution()" if callable(scope.get("solution")) else "ans")
    exit_(0)


class SealError(Exception):
    """A seccomp filter could not be installed: the run must not go on."""


def seal(prctl: Any, ctypes: Any, filters: list[bytes], no_new_privs: bool) -> None:
    """Install the seccomp filters (BPF programs built by the parent) on this process."""
    if no_new_privs and prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SealError(f"PR_SET_NO_NEW_PRIVS: errno {ctypes.get_errno()}")

    class Fprog(ctypes.Structure):  # type: ignore[misc]
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    for bpf in filters:
        buf = ctypes.create_string_buffer(bpf, len(bpf))
        prog = Fprog(len(bpf) // 8, ctypes.addressof(buf))
        if prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
            raise SealError(f"PR_SET_SECCOMP: errno {ctypes.get_errno()}")


def guard(report: int, root: str) -> Callable[[str, tuple[Any, ...]], None]:
    """The audit hook: a forbidden event reports itself and ends the process on the spot."""
    exit_, write = os._exit, os.write

    def hook(event: str, args: tuple[Any, ...]) -> None:
        why = ""
        if event == "ctypes.dlopen" and args[:1] == (None,):
            # ``import ctypes`` opens the running process itself (``pythonapi``), which loads
            # nothing new; numpy, sympy and the like import ctypes, so ``site_packages`` needs
            # it. Every use is still forbidden: symbols (ctypes.dlsym), foreign calls
            # (ctypes.call_function), raw memory (ctypes.cdata, ctypes.addressof, string_at).
            return
        if event in BLOCKED or event.startswith(BLOCKED_PREFIXES):
            why = event
        elif event == "open":
            path, mode, flags = (*args, None, None, None)[:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            if writes and not isinstance(path, int) and not inside(path, root):
                why = f"open({path!r}, {mode!r}) for writing outside the sandbox"
        elif event in PATH_EVENTS:
            paths, dir_fds = PATH_EVENTS[event]
            bad_fd = any(args[i] not in (None, -1) for i in dir_fds if i < len(args))
            if bad_fd or not all(inside(args[i], root) for i in paths if i < len(args)):
                why = f"{event}{tuple(args)!r} outside the sandbox"[:300]
        if why:
            try:
                sys.stdout.flush()
            except BaseException:
                why += " (unflushed output lost)"
            msg = f"forbidden: {why}"
            write(2, f"sandbox: {msg}\n".encode())
            write(report, b"\n" + repr(("run", "forbidden", None, msg[:500])).encode() + b"\n")
            exit_(EXIT_FORBIDDEN)

    return hook


def inside(path: object, root: str) -> bool:
    """Does ``path`` (symlinks resolved, relative to the cwd) lie in ``root``? fds: never."""
    try:
        real = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
    except BaseException:
        return False
    return real == root or real.startswith(root + os.sep)


def render(value: object) -> str:
    """The answer as text: integral floats as integers, other floats to 12 significant digits."""
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        text = f"{value:.12g}"
        if "e" in text:
            import decimal

            text = format(decimal.Decimal(text), "f")
        return text
    return str(value)[:MAX_ANSWER]


if __name__ == "__main__":
    main(sys.argv[1:])
