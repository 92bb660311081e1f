"""How the sandbox is isolated: the seccomp filters, the bubblewrap command line, and the
self-test that decides whether this machine can provide the isolation at all."""

from __future__ import annotations

import errno
import functools
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass

SCRATCH = "/sandbox"
"""The program's cwd, ``HOME`` and ``TMPDIR`` inside bubblewrap: a tmpfs of bounded size."""
SANDBOX_UID = 65534
"""The program's uid (and gid) in its user namespace: ``nobody``."""
_NOBODY = 65534

# ---- seccomp ---------------------------------------------------------------------------------

# Calls a PAL program never needs, which the kernel answers by killing the whole process
# (SIGSYS; reported as ``forbidden``). Both the supervisor and the worker run under these.
_KILLED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    "clock_settime", "clock_adjtime", "settimeofday", "adjtimex", "stime",
    "kexec_load", "kexec_file_load", "reboot", "init_module", "finit_module", "delete_module",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "unshare", "setns", "keyctl", "add_key", "request_key",
    "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "name_to_handle_at",
    "open_by_handle_at", "lookup_dcookie", "iopl", "ioperm", "syslog", "vhangup",
    "sethostname", "setdomainname", "uselib", "nfsservctl", "fanotify_init",
)  # fmt: skip
# Only the worker (which runs the program): no new programs, processes or threads.
_WORKER_KILLED = ("execve", "execveat", "fork", "vfork", "clone", "clone3")
# Only the worker: no signals to any other process (EPERM), so not to its supervisor either.
_WORKER_EPERM = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
                 "pidfd_send_signal", "pidfd_open")  # fmt: skip
_CLONE_NEW = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
              0x40000000, 0x00000080)  # NEWNS UTS IPC USER PID NET CGROUP TIME  # fmt: skip
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C


@dataclass(frozen=True, slots=True)
class Filters:
    """Two BPF programs: ``base`` for the whole sandbox, ``worker`` added by the worker."""

    base: bytes
    worker: bytes


class Unavailable(Exception):
    """The isolation cannot be provided here; the message says why, in one line."""


@functools.cache
def filters() -> Filters:
    """Build the filters with libseccomp (through ``pyseccomp``); Unavailable if it is missing."""
    try:
        import pyseccomp as sc
    except Exception as e:  # ImportError, or OSError/AttributeError: libseccomp.so.2 missing
        raise Unavailable(f"libseccomp cannot be loaded ({type(e).__name__}: {e})") from None

    import tempfile

    def rule(f: sc.SyscallFilter, action: int, name: str, *args: sc.Arg) -> None:
        try:
            f.add_rule(action, name, *args)
        except OSError as e:  # a call this architecture or libseccomp does not know
            if e.errno not in (errno.EINVAL, errno.EDOM, errno.EFAULT):
                raise

    base = sc.SyscallFilter(sc.ALLOW)
    for name in _KILLED:
        rule(base, sc.KILL_PROCESS, name)
    # Only AF_UNIX sockets (inside the sandbox's own network namespace and file system).
    rule(base, sc.KILL_PROCESS, "socket", sc.Arg(0, sc.NE, 1))
    rule(base, sc.KILL_PROCESS, "socketpair", sc.Arg(0, sc.NE, 1))
    # No new namespaces: clone's flags are checked; clone3's are in memory, so glibc is told
    # clone3 does not exist and falls back to clone.
    for flag in _CLONE_NEW:
        rule(base, sc.KILL_PROCESS, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    rule(base, sc.ERRNO(errno.ENOSYS), "clone3")
    for request in (_TIOCSTI, _TIOCLINUX):  # typing into a terminal
        rule(base, sc.KILL_PROCESS, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
    worker = sc.SyscallFilter(sc.ALLOW)
    for name in _WORKER_KILLED:
        rule(worker, sc.KILL_PROCESS, name)
    for name in _WORKER_EPERM:
        rule(worker, sc.ERRNO(errno.EPERM), name)

    def export(f: sc.SyscallFilter) -> bytes:
        with tempfile.TemporaryFile() as tmp:
            f.export_bpf(tmp)
            tmp.seek(0)
            data = tmp.read()
        if not data or len(data) % 8:
            raise Unavailable("libseccomp exported no usable BPF program")
        return data

    try:
        return Filters(export(base), export(worker))
    except OSError as e:
        raise Unavailable(f"libseccomp cannot build the filter ({e})") from None


# ---- the file system the program sees ---------------------------------------------------------


@functools.cache
def host_view(site_packages: bool) -> tuple[tuple[str, str], ...]:
    """(host path, sandbox path) pairs to bind read-only: the interpreter, its standard library,
    the directories of the shared libraries it loads, and with ``site_packages`` the installed
    packages (and the virtual environment's ``pyvenv.cfg``). Nothing else of the host."""
    import sysconfig

    exe = os.path.realpath(sys.executable)
    binds: dict[str, str] = {}
    if site_packages and sys.prefix != sys.base_prefix:
        # A virtual environment: its interpreter path and pyvenv.cfg make site find its packages.
        binds[sys.executable] = exe
        cfg = os.path.join(sys.prefix, "pyvenv.cfg")
        if os.path.isfile(cfg):
            binds[cfg] = cfg
    else:
        binds[exe] = exe
    dirs = {os.path.dirname(os.__file__)}
    dynload = sysconfig.get_config_var("DESTSHARED")
    if isinstance(dynload, str) and os.path.isdir(dynload):
        dirs.add(dynload)
    if site_packages:
        import site

        for p in (*site.getsitepackages(), sysconfig.get_paths()["purelib"]):
            if os.path.isdir(p):
                dirs.add(p)
    dirs |= _library_dirs(exe, tuple(sorted(d for d in dirs if os.path.isdir(d))))
    kept: list[str] = []
    for d in sorted(dirs, key=len):  # a directory inside one already bound is bound with it
        real = os.path.realpath(d)
        if not any(real == k or real.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(real)
            binds[d] = real
    return tuple((host, dest) for dest, host in binds.items())


def _library_dirs(exe: str, dirs: tuple[str, ...]) -> set[str]:
    """The directories holding the shared libraries of the interpreter and of its extension
    modules, as ``ldd`` reports them (the dynamic loader searches the same paths)."""
    objects = [exe]
    for d in dirs:
        try:
            objects += [os.path.join(d, n) for n in os.listdir(d) if n.endswith(".so")]
        except OSError:
            continue
    found: set[str] = set()
    ldd = shutil.which("ldd")
    if ldd is not None:
        try:
            out = subprocess.run(
                [ldd, *objects], capture_output=True, text=True, timeout=60, env={}
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            parts = line.split()
            for p in parts:
                if p.startswith("/") and not p.endswith(":") and os.path.exists(p):
                    found.add(os.path.dirname(p))
    if not found:  # no ldd: the usual system library directories
        found = {d for d in ("/lib", "/lib64", "/usr/lib", "/usr/lib64") if os.path.isdir(d)}
    return found - {"/"}


# ---- bubblewrap ---------------------------------------------------------------------------------


def bwrap_argv(
    bwrap: str, site_packages: bool, disk_mb: int, seccomp_fd: int, env: dict[str, str]
) -> list[str]:
    """bubblewrap's options: every namespace new, uid 65534 without capabilities, a read-only
    root holding only :func:`host_view`, a fresh read-only /proc, a minimal /dev, a scratch
    tmpfs of ``disk_mb`` MiB, an environment of ``env`` only, and the base seccomp filter."""
    argv = [
        bwrap, "--unshare-all", "--unshare-user", "--disable-userns",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox",
        "--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
    ]  # fmt: skip
    for k, v in env.items():
        argv += ["--setenv", k, v]
    for host, dest in host_view(site_packages):
        argv += ["--ro-bind", host, dest]
    argv += ["--proc", "/proc", "--remount-ro", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    argv += ["--size", str(disk_mb << 20), "--tmpfs", SCRATCH, "--chdir", SCRATCH]
    argv += ["--remount-ro", "/", "--seccomp", str(seccomp_fd), "--"]
    return argv


@dataclass(frozen=True, slots=True)
class Launcher:
    """How bubblewrap is started: its path, and the host uid it runs as (None: ours)."""

    bwrap: str
    host_uid: int | None


def launchers() -> list[Launcher]:
    """bubblewrap as ``nobody`` first when we are root (so the sandbox maps to an unprivileged
    host uid), else as ourselves (root maps to root on the host, without capabilities)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise Unavailable("bubblewrap (bwrap) is not installed")
    if os.geteuid() == 0:
        return [Launcher(bwrap, _NOBODY), Launcher(bwrap, None)]
    return [Launcher(bwrap, None)]


PROBE = """
import os
def solution():
    status = dict(line.split(':', 1) for line in open('/proc/self/status') if ':' in line)
    want = ('Uid', 'Gid', 'CapEff', 'CapPrm', 'CapBnd', 'NoNewPrivs', 'Seccomp')
    return repr([os.getpid(), sorted(os.listdir('/'))] + [status[k].split() for k in want])
"""


def probe_ok(answer: str | None, site_packages: bool) -> bool:
    """Does the probe's answer show the promised isolation?"""
    import ast

    try:
        pid, top, uid, gid, eff, prm, bnd, nnp, mode = ast.literal_eval(answer or "")
    except (ValueError, SyntaxError, TypeError):
        return False
    uid_ok = uid == [str(SANDBOX_UID)] * 4 and gid == [str(SANDBOX_UID)] * 4
    caps_ok = all(c == ["0000000000000000"] for c in (eff, prm, bnd))
    allowed = {"dev", "proc", SCRATCH.strip("/")}
    allowed |= {dest.split("/")[1] for _, dest in host_view(site_packages)}
    top_ok = set(top) <= allowed
    return pid == 2 and uid_ok and caps_ok and nnp == ["1"] and mode == ["2"] and top_ok


def why_failed(stderr: str, returncode: int | None) -> str:
    """bubblewrap's own complaint, as one short clause."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    said = next((ln for ln in lines if ln.startswith("bwrap:")), lines[-1] if lines else "")
    if said:
        return said[:200]
    if returncode is not None and returncode < 0:
        return f"bwrap was killed by {signal.Signals(-returncode).name}"
    return f"the self-test sandbox failed (exit code {returncode})"
