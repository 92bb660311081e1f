"""Hostile programs for the sandbox, and the host-side observables that would show an escape.

Each :class:`Case` is a program that tries one escape; ``@NAME@`` tokens are replaced by what an
attacker could know or guess (the store's path, a file in the home directory, a listening port,
a host pid). After every run :func:`escapes` checks, on the host, everything any case could have
reached: the secret (in cothub's environment, a home file and the store) is in none of the
output; the victim file, the store and the clock are unchanged; nothing reached the TCP, unix and
abstract listeners; the victim process lives; no process of the sandbox is left; the host's temp
directory holds nothing new; the program printed no ``ESCAPED`` and no forged answer.

``python hostile_cases.py`` runs every case as the current user and prints a JSON object
``{"problem": refusal or null, "results": {name: [escapes...]}}``: test_sandbox_hostile.py runs
it as an ordinary user (uid 65534). It imports only the standard library and cothub.sandbox.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # as an ordinary user, without cothub/__init__ (or its deps)
    import types

    _pkg = types.ModuleType("cothub")
    _pkg.__path__ = [str(Path(__file__).resolve().parents[1] / "src" / "cothub")]
    sys.modules["cothub"] = _pkg

from cothub.sandbox import Limits, SandboxResult, isolation_problem, run_python

LIMITS = Limits(wall_s=1.0, cpu_s=1, memory_mb=256, file_mb=8, disk_mb=16, max_output=8 << 20)
"""Output is kept whole (8 MiB), so that a leak cannot hide in the cut middle."""
FORGED = "FORGED-4217"
BUDGET_MB = 64
"""Disk the sandbox may take from the host in all, at most (its scratch is 16 MiB)."""


@dataclass(frozen=True)
class Case:
    name: str
    code: str
    statuses: tuple[str, ...] = ()
    """Statuses this attempt may end with (empty: any; the observables decide)."""


# Turning the audit hooks off, three ways (the kernel layers must hold without them).
_OFF_GLOBALS = """
import __main__ as M
M.BLOCKED = frozenset(); M.BLOCKED_PREFIXES = ("\\0",); M.PATH_EVENTS = {}
M.inside = lambda path, root: True
"""
_OFF_CLOSURE = """
import gc, types
for f in gc.get_objects():
    if isinstance(f, types.FunctionType) and f.__name__ == "hook" and f.__closure__:
        for cell in f.__closure__:
            if isinstance(cell.cell_contents, str):
                cell.cell_contents = ""  # the scratch root: now every path is "inside"
import __main__ as M
M.BLOCKED = frozenset(); M.BLOCKED_PREFIXES = ("\\0",)
"""
_OFF_EXIT = """
import os, sys
os._exit = lambda code: None  # the hook's way of ending the program
"""
_LIBC = """
import ctypes, ctypes.util
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys_(nr, *args):
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return libc.syscall(ctypes.c_long(nr), *args)
"""
_FORGE = (
    "rec = repr(('exit', 0, 0.0, False, repr(('run', 'ok', '" + FORGED + "', 'solution()'))))\n"
    "run = repr(('run', 'ok', '" + FORGED + "', 'solution()'))\n"
    "for fd in range(0, 51):\n"
    "    for line in (rec, run):\n"
    "        try:\n"
    "            os.write(fd, ('\\n' + line + '\\n').encode())\n"
    "        except OSError:\n"
    "            pass\n"
)
_READ_PRINT = """
def dump(path):
    try:
        with open(path, 'rb') as f:
            print(path, f.read(1 << 20))
    except OSError as e:
        print(path, 'blocked', e.errno)
"""

CASES: list[Case] = [
    # ---- the sandbox works at all (else every "blocked" below would prove nothing) ----
    Case("sanity", "def solution():\n    return 6 * 7\n", ("ok",)),
    # ---- the parent's secrets ----
    Case("env-self", "import os\nprint(dict(os.environ))\n"),
    Case(
        "proc-environ-scan",
        _READ_PRINT
        + (
            "import os\nfor p in os.listdir('/proc'):\n"
            "    if p.isdigit():\n        dump(f'/proc/{p}/environ')\n"
        ),
    ),
    Case(
        "proc-cmdline-store",
        _READ_PRINT
        + (
            "import os\nfor p in os.listdir('/proc'):\n"
            "    if p.isdigit():\n"
            "        raw = open(f'/proc/{p}/cmdline', 'rb').read()\n        print(raw)\n"
            "        for arg in raw.split(b'\\0'):\n"
            "            if arg.endswith(b'.db'):\n                dump(arg.decode())\n"
        ),
    ),
    Case(
        "proc-parent-root",
        _READ_PRINT
        + (
            "import os\nfor p in ['1', '2', 'self', *os.listdir('/proc')]:\n"
            "    dump(f'/proc/{p}/root@STORE@')\n    dump(f'/proc/{p}/cwd/../..@STORE@')\n"
        ),
    ),
    Case("read-store", _READ_PRINT + "dump('@STORE@')\n"),
    Case(
        "sqlite-store",
        (
            "import sqlite3\nprint(sqlite3.connect('file:@STORE@?mode=ro', uri=True)"
            ".execute('select * from secrets').fetchall())\n"
        ),
    ),
    Case(
        "read-home",
        _READ_PRINT
        + (
            "import os, glob\ndump('@HOMEFILE@')\n"
            "for p in glob.glob('/root/.*') + glob.glob('/home/*/.*') + glob.glob('@HOME@/*'):\n"
            "    dump(p)\n"
        ),
    ),
    Case(
        "walk-host-fs",
        (
            "import os\nseen = []\nfor top, dirs, files in os.walk('/'):\n"
            "    skip = ('proc', 'python3.11', 'x86_64-linux-gnu')\n"
            "    dirs[:] = [d for d in dirs if d not in skip]\n"
            "    seen += [os.path.join(top, n) for n in files]\n"
            "hits = [p for p in seen if '@TAG@' in p or p.endswith(('/store.db', '/secret.txt'))]\n"
            "print(len(seen), hits)\nif hits:\n    print('ESCAPED: host files visible', hits)\n"
        ),
    ),
    Case(
        "dir-fd-read",
        _READ_PRINT
        + (
            "import os\nfd = os.open('/', os.O_RDONLY | os.O_DIRECTORY)\n"
            "try:\n    x = os.open('@STORE@'.lstrip('/'), os.O_RDONLY, dir_fd=fd)\n"
            "    print(os.read(x, 4096))\nexcept OSError as e:\n    print('blocked', e)\n"
        ),
    ),
    Case(
        "inherited-fds",
        (
            "import os, stat\nfor fd in range(0, 256):\n    try:\n        st = os.fstat(fd)\n"
            "    except OSError:\n        continue\n"
            "    print(fd, stat.filemode(st.st_mode))\n"
            "    if stat.S_ISDIR(st.st_mode):\n"
            "        print('ESCAPED: a directory descriptor', fd, os.listdir(fd))\n"
            "    try:\n        print(os.pread(fd, 4096, 0))\n    except OSError:\n        pass\n"
        ),
    ),
    Case(
        "symlink-store",
        _READ_PRINT
        + (
            "import os\nos.symlink('@STORE@', 'link')\ndump('link')\n"
            "os.symlink('/proc/1/root/', 'r')\ndump('r@STORE@')\n"
        ),
    ),
    Case(
        "hardlink-store",
        _OFF_GLOBALS + "import os\nos.link('@STORE@', 'hard')\nprint(open('hard').read())\n",
    ),
    Case(
        "proc-1-mem",
        _OFF_GLOBALS
        + (
            "import os\nfor p in ('/proc/1/mem', '/proc/1/environ', '/proc/1/maps'):\n"
            "    try:\n        f = open(p, 'r+b' if p.endswith('mem') else 'rb')\n"
            "        print(p, f.read(64))\n        print('ESCAPED: the supervisor is open', p)\n"
            "    except OSError as e:\n        print(p, 'blocked', e)\n"
        ),
    ),
    Case(
        "dev-disks",
        (
            "import os, glob\nprint(os.listdir('/dev'))\n"
            "disks = glob.glob('/dev/[sv]d*') + glob.glob('/dev/nvme*')\n"
            "for p in disks + ['/dev/mem', '/dev/kmsg', '/dev/port', '/dev/vda']:\n"
            "    try:\n        open(p, 'rb').read(16)\n        print('ESCAPED: read', p)\n"
            "    except OSError as e:\n        print(p, 'blocked', e)\n"
        ),
    ),
    Case(
        "open-by-handle",
        _OFF_GLOBALS
        + _LIBC
        + ("print(sys_(304, 3, 0, 0))\nprint('ESCAPED: open_by_handle_at returned')\n"),
        ("forbidden",),
    ),
    # ---- writes ----
    Case("write-victim", "open('@VICTIM@', 'w').write('pwned')\n", ("forbidden",)),
    Case("write-escape", "open('@ESCAPE@', 'w').write('pwned')\n", ("forbidden",)),
    Case(
        "dir-fd-write",
        (
            "import os\nfd = os.open('/', os.O_RDONLY | os.O_DIRECTORY)\n"
            "x = os.open('@VICTIM@'.lstrip('/'), os.O_WRONLY | os.O_TRUNC, dir_fd=fd)\n"
            "os.write(x, b'pwned')\n"
        ),
    ),
    Case(
        "dir-fd-create",
        (
            "import os\nfd = os.open('@DIR@', os.O_RDONLY | os.O_DIRECTORY)\n"
            "os.open('@ESCAPENAME@', os.O_WRONLY | os.O_CREAT, dir_fd=fd)\n"
        ),
    ),
    Case("unlink-victim", "import os\nos.unlink('@VICTIM@')\n", ("forbidden",)),
    Case("rmtree-dir", "import shutil\nshutil.rmtree('@DIR@')\n", ("forbidden",)),
    Case("rename-victim", "import os\nos.rename('@VICTIM@', '@ESCAPE@')\n", ("forbidden",)),
    Case("chmod-victim", "import os\nos.chmod('@VICTIM@', 0o777)\n", ("forbidden",)),
    Case("guard-globals-write", _OFF_GLOBALS + "open('@VICTIM@', 'w').write('pwned')\n"),
    Case("guard-closure-write", _OFF_CLOSURE + "open('@VICTIM@', 'w').write('pwned')\n"),
    Case("guard-exit-write", _OFF_EXIT + "open('@VICTIM@', 'w').write('pwned')\n"),
    Case(
        "store-insert",
        _OFF_GLOBALS
        + (
            "import sqlite3\ndb = sqlite3.connect('@STORE@')\n"
            "db.execute(\"insert into secrets values ('forged row')\")\ndb.commit()\n"
        ),
    ),
    Case(
        "proc-sys-write",
        _OFF_GLOBALS
        + (
            "for p in ('/proc/sys/kernel/printk_ratelimit', '/proc/sys/kernel/core_pattern'):\n"
            "    cur = open(p).read()\n"
            "    try:\n        open(p, 'w').write(cur)\n        print('ESCAPED: wrote', p)\n"
            "    except OSError as e:\n        print(p, 'blocked', e)\n"
        ),
    ),
    Case(
        "mknod-device",
        _OFF_GLOBALS
        + (
            "import os, stat\nos.mknod('disk', stat.S_IFBLK | 0o600, os.makedev(253, 0))\n"
            "print('ESCAPED: made a device node')\n"
        ),
    ),
    # ---- processes ----
    Case(
        "subprocess",
        "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'echo ESCAPED'])\n",
        ("forbidden",),
    ),
    Case("os-system", "import os\nos.system('echo ESCAPED')\n", ("forbidden",)),
    Case("fork", "import os\nif os.fork() == 0:\n    print('ESCAPED: forked')\n", ("forbidden",)),
    Case(
        "execv",
        "import os\nos.execv('@PYTHON@', ['python', '-c', 'print(\"ESCAPED\")'])\n",
        ("forbidden",),
    ),
    Case(
        "posix-spawn",
        "import os\nos.posix_spawn('/bin/sh', ['sh', '-c', 'echo ESCAPED'], {})\n",
        ("forbidden",),
    ),
    Case(
        "fork-exec-primitive",
        (
            "import _posixsubprocess, os\nr, w = os.pipe()\n"
            "pid = _posixsubprocess.fork_exec([b'/bin/sh', b'-c', b'echo ESCAPED'], [b'/bin/sh'],"
            " True, (), None, None, -1, -1, -1, -1, -1, -1, r, w, True, False, 0, None, None, None,"
            " -1, None, False)\nprint('ESCAPED: pid', pid)\n"
        ),
        ("forbidden",),
    ),
    Case(
        "guard-globals-subprocess",
        _OFF_GLOBALS
        + (
            "import subprocess\nprint(subprocess.run(['/bin/sh', '-c', 'id; echo ESCAPED'],"
            " capture_output=True))\n"
        ),
        ("forbidden",),
    ),
    Case(
        "guard-closure-subprocess",
        _OFF_CLOSURE
        + (
            "import subprocess\nsubprocess.Popen(['sleep', '@MARKER@'], start_new_session=True)\n"
            "print('ESCAPED: started')\n"
        ),
        ("forbidden",),
    ),
    Case(
        "guard-exit-fork",
        _OFF_EXIT + ("import os\npid = os.fork()\nprint('ESCAPED: forked', pid)\n"),
        ("forbidden",),
    ),
    Case(
        "ctypes-fork",
        _OFF_GLOBALS + _LIBC + ("pid = libc.fork()\nprint('ESCAPED: forked', pid)\n"),
        ("forbidden",),
    ),
    Case(
        "ctypes-execve",
        _OFF_GLOBALS
        + _LIBC
        + (
            "argv = (ctypes.c_char_p * 4)(b'/bin/sh', b'-c', b'echo ESCAPED', None)\n"
            "sys_(59, ctypes.c_char_p(b'/bin/sh'), argv, None)\nprint('exec failed')\n"
        ),
        ("forbidden",),
    ),
    Case(
        "x32-execve",
        _OFF_GLOBALS
        + _LIBC
        + (
            "argv = (ctypes.c_char_p * 4)(b'/bin/sh', b'-c', b'echo ESCAPED', None)\n"
            "print(sys_(0x40000000 | 520, ctypes.c_char_p(b'/bin/sh'), argv, None))\n"
        ),
        ("forbidden",),
    ),
    Case(
        "memfd-exec",
        _OFF_GLOBALS
        + (
            "import os\nfd = os.memfd_create('x')\nos.write(fd, open('@PYTHON@', 'rb').read())\n"
            "os.execv(f'/proc/self/fd/{fd}', ['x', '-c', 'print(\"ESCAPED\")'])\n"
        ),
        ("forbidden",),
    ),
    Case(
        "thread",
        "import threading\nthreading.Thread(target=print, args=('ESCAPED',)).start()\n",
        ("forbidden",),
    ),
    Case(
        "reimport-thread",
        (
            "import sys, importlib\nfor m in ('_thread', 'threading'):\n"
            "    sys.modules.pop(m, None)\nimport _thread\nimportlib.reload(_thread)\n"
            "_thread.start_new_thread(print, ('ESCAPED',))\n"
            "import time\ntime.sleep(0.2)\n"
        ),
        ("forbidden",),
    ),
    Case(
        "ctypes-thread",
        _OFF_GLOBALS
        + _LIBC
        + (
            "CB = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)\n"
            "cb = CB(lambda a: print('ESCAPED: thread') or 0)\n"
            "t = ctypes.c_ulong()\nlibc.pthread_create(ctypes.byref(t), None, cb, None)\n"
            "import time\ntime.sleep(0.2)\n"
        ),
        ("forbidden",),
    ),
    Case(
        "daemon",
        _OFF_EXIT
        + (
            "import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        os.execv('/bin/sleep', ['sleep', '@MARKER@'])\n"
        ),
        ("forbidden",),
    ),
    Case("fork-bomb", "import os\nwhile True:\n    os.fork()\n", ("forbidden",)),
    Case(
        "kill-host",
        _OFF_GLOBALS
        + (
            "import os, signal\nfor pid in (@VICTIM_PID@, @PARENT_PID@, os.getppid(), 1, -1):\n"
            "    try:\n        os.kill(pid, signal.SIGKILL)\n        print('sent', pid)\n"
            "    except OSError as e:\n        print(pid, 'blocked', e)\n"
        ),
    ),
    Case(
        "ctypes-kill",
        _OFF_GLOBALS
        + _LIBC
        + (
            "for pid in (@VICTIM_PID@, @PARENT_PID@, 1, -1):\n"
            "    print(pid, sys_(62, pid, 9), ctypes.get_errno())\n"
        ),
    ),
    Case(
        "ptrace-supervisor",
        _OFF_GLOBALS
        + _LIBC
        + ("print(sys_(101, 16, 1, 0, 0))\nprint('ESCAPED: ptrace returned')\n"),
        ("forbidden",),
    ),
    Case(
        "process-vm-write",
        _OFF_GLOBALS
        + _LIBC
        + ("print(sys_(311, 1, 0, 0, 0, 0, 0))\nprint('ESCAPED: process_vm_writev returned')\n"),
        ("forbidden",),
    ),
    # ---- the clock, mounts, namespaces, the kernel ----
    Case(
        "clock-settime",
        "import time\ntime.clock_settime(time.CLOCK_REALTIME, 1.0)\n",
        ("forbidden",),
    ),
    Case(
        "settimeofday",
        _OFF_GLOBALS
        + _LIBC
        + ("tv = (ctypes.c_long * 2)(1, 0)\nprint(libc.settimeofday(tv, None))\n"),
        ("forbidden",),
    ),
    Case(
        "adjtimex",
        _OFF_GLOBALS
        + _LIBC
        + ("buf = ctypes.create_string_buffer(256)\nbuf[0] = 1\nprint(sys_(159, buf))\n"),
        ("forbidden",),
    ),
    Case(
        "mount",
        _OFF_GLOBALS + _LIBC + ("print(libc.mount(b'none', b'/sandbox', b'tmpfs', 0, None))\n"),
        ("forbidden",),
    ),
    Case(
        "unshare-user",
        _OFF_GLOBALS + _LIBC + ("print(libc.unshare(0x10000000 | 0x00020000))\n"),
        ("forbidden",),
    ),
    Case("chroot", _OFF_GLOBALS + _LIBC + "print(libc.chroot(b'/sandbox'))\n", ("forbidden",)),
    Case("bpf", _OFF_GLOBALS + _LIBC + "print(sys_(321, 0, 0, 0))\n", ("forbidden",)),
    Case(
        "io-uring",
        _OFF_GLOBALS + _LIBC + ("p = ctypes.create_string_buffer(120)\nprint(sys_(425, 4, p))\n"),
        ("forbidden",),
    ),
    Case("keyctl", _OFF_GLOBALS + _LIBC + "print(sys_(250, 0, -3, 0))\n", ("forbidden",)),
    Case(
        "perf-event",
        _OFF_GLOBALS
        + _LIBC
        + ("a = ctypes.create_string_buffer(128)\nprint(sys_(298, a, 0, -1, -1, 0))\n"),
        ("forbidden",),
    ),
    Case("reboot", _OFF_GLOBALS + _LIBC + "print(sys_(169, 0, 0, 0, 0))\n", ("forbidden",)),
    Case(
        "sethostname",
        _OFF_GLOBALS + _LIBC + "print(libc.sethostname(b'pwned', 5))\n",
        ("forbidden",),
    ),
    Case(
        "setuid-root",
        (
            "import os\nfor f in (lambda: os.setuid(0), lambda: os.setgid(0),"
            " lambda: os.setresuid(0, 0, 0)):\n"
            "    try:\n        f()\n    except OSError as e:\n        print('blocked', e)\n"
            "if os.getuid() == 0 or os.geteuid() == 0:\n    print('ESCAPED: uid 0')\n"
            "caps = [l for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapBnd'))]\n"
            "print(caps)\nif any(l.split()[1] != '0000000000000000' for l in caps):\n"
            "    print('ESCAPED: capabilities')\n"
        ),
    ),
    Case(
        "tty-inject",
        _OFF_GLOBALS
        + (
            "import fcntl, termios, os\nfor p in ('/dev/tty', '/dev/ptmx'):\n"
            "    try:\n        fd = os.open(p, os.O_RDWR)\n"
            "        fcntl.ioctl(fd, termios.TIOCSTI, b'x')\n        print('ESCAPED: TIOCSTI', p)\n"
            "    except OSError as e:\n        print(p, 'blocked', e)\n"
        ),
        ("forbidden", "ok"),
    ),
    # ---- the network ----
    Case(
        "tcp-loopback",
        "import socket\nsocket.create_connection(('127.0.0.1', @PORT@), 1)\n",
        ("forbidden",),
    ),
    Case(
        "tcp-guard-off",
        _OFF_GLOBALS + ("import socket\nsocket.create_connection(('127.0.0.1', @PORT@), 1)\n"),
        ("forbidden",),
    ),
    Case("ctypes-socket", _OFF_GLOBALS + _LIBC + "print(sys_(41, 2, 1, 0))\n", ("forbidden",)),
    Case(
        "raw-socket",
        _OFF_GLOBALS + ("import socket\nsocket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"),
        ("forbidden",),
    ),
    Case(
        "netlink-socket",
        _OFF_GLOBALS + ("import socket\nsocket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)\n"),
        ("forbidden",),
    ),
    Case(
        "unix-path",
        _OFF_GLOBALS
        + (
            "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('@UNIX@')\n"
            "s.send(b'ESCAPED')\nprint('ESCAPED: connected')\n"
        ),
    ),
    Case(
        "unix-abstract",
        _OFF_GLOBALS
        + (
            "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('\\0@ABSTRACT@')\n"
            "s.send(b'ESCAPED')\nprint('ESCAPED: connected')\n"
        ),
    ),
    # ---- forging the result ----
    Case("forge-then-loop", "import os\n" + _FORGE + "while True:\n    pass\n", ("timeout",)),
    Case(
        "forge-then-forbidden",
        "import os\n" + _FORGE + "import socket\nsocket.socket()\n",
        ("forbidden",),
    ),
    Case(
        "forge-then-exec",
        _OFF_GLOBALS + "import os\n" + _FORGE + "os.execv('/bin/true', ['x'])\n",
        ("forbidden",),
    ),
    Case("forge-then-sleep", "import os, time\n" + _FORGE + "time.sleep(30)\n", ("timeout",)),
    Case(
        "forge-proc-fd",
        _OFF_GLOBALS
        + "import os\n"
        + _FORGE.replace("os.write(fd,", "os.write(os.open(f'/proc/1/fd/{fd}', os.O_WRONLY),")
        + "while True:\n    pass\n",
        ("timeout",),
    ),
    Case(
        "forge-pidfd-getfd",
        _OFF_GLOBALS
        + _LIBC
        + (
            "pidfd = sys_(434, 1, 0)\nprint(pidfd, ctypes.get_errno())\n"
            "for fd in range(10):\n    print(sys_(438, pidfd, fd, 0))\n"
            "while True:\n    pass\n"
        ),
        ("timeout", "forbidden"),
    ),
    # ---- exhaustion ----
    Case(
        "disk-fill",
        _OFF_GLOBALS
        + (
            "import os\ntotal = 0\nfor where in ('/sandbox', '/tmp', '/dev/shm', '/', '@TMP@'):\n"
            "    for i in range(200):\n        try:\n"
            "            with open(f'{where}/fill{i}', 'wb') as f:\n"
            "                f.write(b'x' * (4 << 20))\n            total += 4 << 20\n"
            "        except BaseException:\n            break\n"
            "print('wrote', total)\nif total > @BUDGET@:\n    print('ESCAPED: wrote', total)\n"
        ),
    ),
    Case("memory-bomb", "x = []\nwhile True:\n    x.append(' ' * 10**7)\n", ("memory", "timeout")),
    Case("infinite-loop", "while True:\n    pass\n", ("timeout",)),
    Case(
        "ignore-sigxcpu",
        (
            "import signal\nfor s in (signal.SIGXCPU, signal.SIGALRM, signal.SIGTERM):\n"
            "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n"
        ),
        ("timeout",),
    ),
    Case(
        "raise-limits",
        _OFF_GLOBALS
        + (
            "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))\n"
            "while True:\n    pass\n"
        ),
        ("timeout", "error"),
    ),
]


class Context:
    """The host side: a secret, files and listeners a program might reach, and their checks."""

    def __init__(self) -> None:
        self.tag = f"hostile{uuid.uuid4().hex[:10]}"
        self.secret = f"sk-{uuid.uuid4().hex}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        self.home = self.dir / "home"
        self.home.mkdir()
        (self.home / "secret.txt").write_text(self.secret)
        self.victim = self.dir / "victim.txt"
        self.victim.write_text("original")
        self.escape = self.dir / "escaped.txt"
        self.store = self.dir / "store.db"
        with contextlib.closing(sqlite3.connect(self.store)) as db:
            db.execute("create table secrets (v text)")
            db.execute("insert into secrets values (?)", (self.secret,))
            db.commit()
        self.store_sha = self._sha(self.store)
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(str(self.dir / "unix.sock"))
        self.unix.listen(8)
        self.abstract = socket.socket(socket.AF_UNIX)
        self.abstract.bind("\0" + self.tag)
        self.abstract.listen(8)
        for s in (self.tcp, self.unix, self.abstract):
            s.setblocking(False)
        self.env = {"OPENAI_API_KEY": self.secret, "ANTHROPIC_API_KEY": self.secret,
                    "HOME": str(self.home)}  # fmt: skip
        self.victim_proc = self._victim()
        self.not_ours: set[int] = set(_descendants(os.getpid(), {self.victim_proc.pid}))
        """Our other children (not the sandbox's: e.g. a grader's worker pool that an earlier
        test started), whose trees the leftover check skips."""
        self.hostname = socket.gethostname()
        self.tmp_before = set(os.listdir(tempfile.gettempdir()))

    def _victim(self) -> subprocess.Popen[bytes]:
        """A host process started with the secret in its environment, as cothub is."""
        return subprocess.Popen(["sleep", "600"], env={**os.environ, **self.env})

    @staticmethod
    def _sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    def program(self, case: Case) -> tuple[str, str]:
        """The case's code with its tokens filled in, and the marker of its processes."""
        marker = f"{600 + uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**6}"
        tokens = {
            "@STORE@": str(self.store), "@HOMEFILE@": str(self.home / "secret.txt"),
            "@HOME@": str(self.home), "@VICTIM@": str(self.victim), "@ESCAPE@": str(self.escape),
            "@ESCAPENAME@": self.escape.name, "@DIR@": str(self.dir),
            "@PORT@": str(self.tcp.getsockname()[1]), "@UNIX@": str(self.dir / "unix.sock"),
            "@ABSTRACT@": self.tag, "@VICTIM_PID@": str(self.victim_proc.pid),
            "@PARENT_PID@": str(os.getpid()), "@MARKER@": marker, "@TAG@": self.tag,
            "@PYTHON@": os.path.realpath(sys.executable), "@TMP@": tempfile.gettempdir(),
            "@BUDGET@": str(BUDGET_MB << 20),
        }  # fmt: skip
        code = case.code
        for k, v in tokens.items():
            code = code.replace(k, v)
        return code, marker

    def run(self, case: Case) -> list[str]:
        """Run one case with the secret in our environment; what escaped (empty: nothing)."""
        code, marker = self.program(case)
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        started = time.time()
        try:
            r = run_python(code, LIMITS)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return self.escapes(case, r, marker, started)

    def escapes(self, case: Case, r: SandboxResult, marker: str, started: float) -> list[str]:
        said = "\n".join((r.stdout, r.stderr, r.answer or "", r.detail))
        found = []
        if self.secret in said:
            found.append("the secret reached the program's output")
        if "ESCAPED" in r.stdout or "ESCAPED" in (r.answer or ""):
            found.append("the program reports an escape: " + _around(r.stdout, "ESCAPED"))
        if r.answer == FORGED or FORGED in r.detail:
            found.append(f"a forged result was accepted ({r.status}, {r.answer!r})")
        if r.detail in (
            "the sandbox ended without a valid report",
            "the sandbox could not be set up",
        ):
            found.append(f"the sandbox did not run the program ({r.detail}): {r.stderr[-300:]}")
        if case.name == "sanity" and (r.answer, r.isolation) != ("42", "bwrap"):
            found.append(f"the sandbox gives no answer: {r}")
        if case.statuses and r.status not in case.statuses:
            found.append(f"status {r.status!r} ({r.detail}), expected one of {case.statuses}")
        if not self.victim.exists() or self.victim.read_text() != "original":
            found.append("the victim file changed")
            self.victim.write_text("original")
        if self.escape.exists():
            found.append("a file was written outside the sandbox")
            self.escape.unlink()
        if self._sha(self.store) != self.store_sha:
            found.append("the store changed")
        for name, s in (("tcp", self.tcp), ("unix", self.unix), ("abstract", self.abstract)):
            with contextlib.suppress(BlockingIOError):
                conn, _ = s.accept()
                conn.close()
                found.append(f"the {name} listener got a connection")
        if self.victim_proc.poll() is not None:
            found.append("the victim process was killed")
            self.victim_proc = self._victim()
        if time.time() < started:
            found.append("the host clock went back")
        if socket.gethostname() != self.hostname:
            found.append("the hostname changed")
        left = _processes_with(marker) + _descendants(
            os.getpid(), {self.victim_proc.pid, *self.not_ours}
        )
        if left:
            found.append(f"processes outlived the run: {left}")
        new = set(os.listdir(tempfile.gettempdir())) - self.tmp_before
        new = {n for n in new if n.startswith(("fill", "escaped"))}
        if new:
            found.append(f"files appeared in the host temp dir: {sorted(new)}")
        return found

    def close(self) -> None:
        self.victim_proc.kill()
        self.victim_proc.wait()
        for s in (self.tcp, self.unix, self.abstract):
            s.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _around(text: str, needle: str) -> str:
    i = text.find(needle)
    return text[max(0, i - 80) : i + 120].replace("\n", " | ") if i >= 0 else ""


def _processes_with(marker: str) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
    return found


def _descendants(of: int, skip: set[int]) -> list[int]:
    """Processes whose parent chain leads to ``of`` and not through (or to) one in ``skip``."""
    parent: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found = []
    for pid in parent:
        seen, cur = set(), parent.get(pid)
        if pid in skip:
            continue
        while cur and cur not in seen and cur not in skip:
            if cur == of:
                found.append(pid)
                break
            seen.add(cur)
            cur = parent.get(cur)
    return found


def main() -> dict[str, Any]:
    """Every case as the current user (see the module docstring)."""
    problem = isolation_problem()
    if problem is not None:
        try:
            run_python("ans = 1\n", LIMITS)
            refused = False
        except OSError as e:
            refused = str(e) == problem
        return {"problem": problem, "refused": refused, "uid": os.getuid(), "results": {}}
    ctx = Context()
    try:
        results = {case.name: ctx.run(case) for case in CASES}
    finally:
        ctx.close()
    return {"problem": None, "uid": os.getuid(), "results": results}


if __name__ == "__main__":
    print(json.dumps(main()))
