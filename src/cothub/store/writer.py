"""Every write to a store goes through one thread with its own connection.

The event loop never waits on SQLite: callers get a future and go on (a write lock held by
another process, a slow disk or a checkpoint stalls this thread, not the requests in flight).
What is queued when the thread wakes up is committed in one transaction, so a busy run pays one
commit for many completions. A lock held by another process is waited out with retries up to
``lock_timeout_s``; then, as on a full disk, a read-only file or a damaged one, every pending and
later write fails with one :class:`CothubError` that says what is wrong and what to do.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cothub.errors import CothubError

Op = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Job:
    op: Op
    future: Future[Any] = field(default_factory=Future)


_STOP = object()


def error_name(e: sqlite3.Error) -> str:
    """``SQLITE_FULL`` ... (Python 3.11+ says so; older ones only have the message)."""
    name = getattr(e, "sqlite_errorname", None)
    if isinstance(name, str):
        return name
    msg = str(e).lower()
    for needle, guess in (
        ("locked", "SQLITE_BUSY"),
        ("full", "SQLITE_FULL"),
        ("readonly", "SQLITE_READONLY"),
        ("malformed", "SQLITE_CORRUPT"),
        ("not a database", "SQLITE_NOTADB"),
        ("unable to open", "SQLITE_CANTOPEN"),
        ("i/o error", "SQLITE_IOERR"),
    ):
        if needle in msg:
            return guess
    return "SQLITE_ERROR"


def is_busy(e: sqlite3.Error) -> bool:
    return error_name(e).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def lock_holders(path: Path) -> list[tuple[int, str]]:
    """Processes holding SQLite's write lock on ``path`` (Linux ``/proc/locks``; else none).

    In WAL mode the writer holds an exclusive lock on byte 120 of the ``-shm`` file; in rollback
    mode on the RESERVED/PENDING bytes of the database file.
    """
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    wanted: dict[tuple[int, int, int], tuple[int, ...]] = {}
    for p, offsets in ((Path(f"{path}-shm"), (120,)), (path, (1073741824, 1073741825))):
        try:
            st = os.stat(p)
        except OSError:
            continue
        wanted[(os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)] = offsets
    found: dict[int, str] = {}
    for line in lines:
        f = line.split()
        if "->" in f:  # a blocked waiter, not a holder
            continue
        try:
            kind, pid, dev, start = f[3], int(f[4]), f[5], int(f[6])
            major, minor, ino = dev.split(":")
            ident = (int(major, 16), int(minor, 16), int(ino))
        except (IndexError, ValueError):
            continue
        if kind == "WRITE" and pid > 0 and pid != os.getpid() and start in wanted.get(ident, ()):
            found[pid] = _cmdline(pid)
    return sorted(found.items())


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    text = " ".join(raw.replace(b"\0", b" ").decode("utf-8", "replace").split())
    return text if len(text) <= 80 else text[:77] + "..."


def holder_text(path: Path) -> str:
    holders = lock_holders(path)
    if not holders:
        return "another process"
    return ", ".join(f"process {pid}" + (f" ({cmd})" if cmd else "") for pid, cmd in holders)


def translate(e: sqlite3.Error, path: Path, waited_s: float | None = None) -> CothubError:
    """One line for a failed store operation: what is wrong and what to do about it."""
    name = error_name(e)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        waited = f" for more than {waited_s:.0f} s" if waited_s is not None else ""
        return CothubError(
            f"store {path} is locked{waited} by {holder_text(path)}; let it finish (or stop it) "
            "and re-run the same command to resume, or pass --store with another file"
        )
    if name.startswith("SQLITE_FULL"):
        return CothubError(
            f"the disk holding store {path} is full; finished samples are saved: free some space "
            "and re-run the same command to resume"
        )
    if name.startswith("SQLITE_READONLY") or (
        name.startswith("SQLITE_CANTOPEN") and not _writable(path)
    ):
        return CothubError(
            f"store {path} is read-only here; pass --store with a writable file (reading "
            "commands such as `cothub runs` and `cothub show` work on it as it is)"
        )
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return CothubError(
            f"store {path} is damaged or not a cothub store ({e}); restore it from a backup or "
            "pass --store with a new file"
        )
    return CothubError(
        f"store {path} failed ({e}); check the disk and its permissions, or pass --store with "
        "another file"
    )


def _writable(path: Path) -> bool:
    target = path if path.exists() else path.parent
    return os.access(target, os.W_OK) and os.access(path.parent, os.W_OK)


class Writer:
    """The thread that owns the store's write connection."""

    def __init__(
        self,
        path: Path,
        connect: Callable[[], sqlite3.Connection],
        lock_timeout_s: float,
        heartbeat: Callable[[], Op | None] | None = None,
        heartbeat_s: float = 1.0,
    ) -> None:
        """``heartbeat`` is asked every ``heartbeat_s`` for an op to commit (None: nothing to do);
        it renews leases and saves wall time, so a killed process loses at most that much."""
        self.path = path
        self._connect = connect
        self._lock_timeout_s = lock_timeout_s
        self._heartbeat = heartbeat
        self._heartbeat_s = heartbeat_s
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._broken: CothubError | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="cothub-store", daemon=True)
        self._thread.start()

    @property
    def broken(self) -> CothubError | None:
        """Set once a write failed for good (full disk, lock never released, damaged file)."""
        return self._broken

    def submit(self, op: Op) -> Future[Any]:
        job = _Job(op)
        if self._closed:
            job.future.set_exception(CothubError(f"store {self.path} is closed"))
        elif self._broken is not None:
            job.future.set_exception(self._broken)
        else:
            self._queue.put(job)
        return job.future

    def call(self, op: Op) -> Any:
        """Run ``op`` in a write transaction and wait for it (outside the event loop only)."""
        return self.submit(op).result()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()

    # ---- the thread ---------------------------------------------------------------------------

    def _loop(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            db = self._connect()
        except sqlite3.Error as e:  # a lock still held after the connection waited it out
            self._broken = translate(e, self.path, self._lock_timeout_s if is_busy(e) else None)
        next_beat = time.monotonic() + self._heartbeat_s
        stop = False
        while not stop:
            try:
                item = self._queue.get(timeout=max(0.0, next_beat - time.monotonic()))
            except queue.Empty:
                item = None
            jobs: list[_Job] = []
            while item is not None:
                if item is _STOP:
                    stop = True
                    break
                assert isinstance(item, _Job)
                jobs.append(item)
                if len(jobs) >= 1000:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            beat: Op | None = None
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self._heartbeat_s
                beat = self._heartbeat() if self._heartbeat is not None else None
            if jobs or beat is not None:
                self._commit(db, jobs, beat)
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _commit(self, db: sqlite3.Connection | None, jobs: list[_Job], beat: Op | None) -> None:
        if db is None or self._broken is not None:
            err = self._broken or CothubError(f"store {self.path} is not open")
            for j in jobs:
                j.future.set_exception(err)
            return
        started = time.monotonic()
        delay = 0.02
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    results = [j.op(db) for j in jobs]
                    if beat is not None:
                        beat(db)
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                waited = time.monotonic() - started
                if is_busy(e) and waited < self._lock_timeout_s:
                    time.sleep(min(delay, max(0.0, self._lock_timeout_s - waited)))
                    delay = min(delay * 2, 0.5)
                    continue
                self._broken = translate(e, self.path, waited if is_busy(e) else None)
                for j in jobs:
                    j.future.set_exception(self._broken)
                return
            except Exception as e:  # an op's own error (bad data): its batch fails, not the store
                for j in jobs:
                    j.future.set_exception(e)
                return
            for j, r in zip(jobs, results, strict=True):
                j.future.set_result(r)
            return
