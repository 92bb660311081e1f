"""The embedded SQLite store: runs, samples, the completion cache and leases.

Crash safety comes from SQLite itself: WAL mode, and completions committed as they arrive (by
one writer thread, :mod:`cothub.store.writer`, never on the event loop). A process killed at any
instant loses at most the requests in flight, and the completion cache makes a re-run send only
what is missing.

Several processes may work on one store at once. Before a request is sent its cache key is
leased (``leases``: key, owner, expiry); a process skips keys another live process holds and
takes their completions from the cache once they land, or the key itself once the lease expired
or its owner died. Leases are renewed every second while their owner lives, so a killed
process's leases stop counting at once on the same host and after ``lease_ttl_s`` elsewhere. A
run's own lease says it is being worked on: ``running`` with no live owner reads ``interrupted``.

Reading commands open the store read-only (``mode=ro``, or ``immutable=1`` where not even the
WAL index can be made, e.g. on read-only media) and never change it.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

from cothub.cost import ItemUsage
from cothub.errors import CothubError
from cothub.modelinfo import ModelInfo
from cothub.store.writer import Op, Writer, is_busy, translate
from cothub.types import (
    Completion,
    Grade,
    Message,
    Prompt,
    RunManifest,
    Sample,
    SampleRecord,
    Step,
    StoredStats,
    TaskSummary,
    step_from_json,
)

SCHEMA_VERSION = 6

LEASE_TTL_S = 30.0
"""How long a lease outlives its owner's last sign of life (renewed every second)."""

LOCK_TIMEOUT_S = 60.0
"""How long a write waits for another process's write lock before giving up with one line
(``$COTHUB_STORE_LOCK_TIMEOUT`` overrides it)."""

_LEASES = """CREATE TABLE IF NOT EXISTS leases (
    key         TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    expires_at  REAL NOT NULL
)"""

_JUDGEMENTS = """CREATE TABLE IF NOT EXISTS judgements (
    run_id            TEXT NOT NULL,
    task              TEXT NOT NULL,
    item_id           TEXT NOT NULL,
    judge             TEXT NOT NULL,
    prompt_version    TEXT NOT NULL,
    reason            TEXT NOT NULL,
    verdict           TEXT NOT NULL,
    raw               TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    reasoning_tokens  INTEGER NOT NULL,
    cost_usd          REAL,
    cache_key         TEXT NOT NULL,
    created_at        REAL NOT NULL,
    PRIMARY KEY (run_id, task, item_id, judge, prompt_version)
)"""
"""A judge model's second opinion on a sample (``cothub judge``), beside its rule verdict in
``samples``, never in place of it. Additive: no schema version bump, older releases ignore it;
made with the store, by :meth:`Store._init_schema` for older stores, and on first write."""

_MODELS = """CREATE TABLE IF NOT EXISTS models (
    model       TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    size        TEXT NOT NULL,
    updated_at  REAL NOT NULL
)"""
"""What a model is (type base/sft/rlhf, size 7B), keyed by the name runs store: it describes the
model, not a run, so it is in no manifest, run id or cache key, and can be set after the fact;
``''``: not said. Schema 6."""

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    model       TEXT NOT NULL,
    tasks       TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    manifest    TEXT NOT NULL,
    summary     TEXT,
    wall_s      REAL
)""",
    """CREATE TABLE IF NOT EXISTS completions (
    key               TEXT PRIMARY KEY,
    model             TEXT NOT NULL,
    choices           TEXT NOT NULL,
    created_at        REAL NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS samples (
    run_id            TEXT NOT NULL,
    task              TEXT NOT NULL,
    item_id           TEXT NOT NULL,
    subset            TEXT NOT NULL,
    tags              TEXT NOT NULL,
    question          TEXT NOT NULL,
    gold              TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    completion        TEXT NOT NULL,
    reasoning         TEXT,
    finish_reason     TEXT NOT NULL,
    answer            TEXT,
    method            TEXT NOT NULL,
    span_start        INTEGER,
    span_end          INTEGER,
    check_name        TEXT NOT NULL,
    correct           INTEGER NOT NULL,
    disagreement      INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    reasoning_tokens  INTEGER NOT NULL,
    latency_s         REAL NOT NULL,
    cache_key         TEXT NOT NULL,
    steps             TEXT,
    stats             TEXT,
    requests          INTEGER,
    choices           TEXT,
    PRIMARY KEY (run_id, task, item_id)
)""",
    _LEASES,
    _JUDGEMENTS,
    _MODELS,
)

# ---- owners ----------------------------------------------------------------------------------

_HOST = socket.gethostname()
_OPEN_OWNERS: set[str] = set()
"""Owners of the stores open in this process (a closed one's leases are dead at once)."""


def new_owner() -> str:
    """``pid@host#random``: unique per opened store, and checkable for liveness on this host."""
    return f"{os.getpid()}@{_HOST}#{secrets.token_hex(6)}"


def owner_alive(owner: str) -> bool:
    """False when ``owner`` is certainly gone (its process on this host died, or it closed its
    store in this process); True otherwise, including owners on other hosts (expiry decides)."""
    pid_text, at, rest = owner.partition("@")
    host = rest.rpartition("#")[0]
    if not at or host != _HOST:
        return True
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    if pid == os.getpid():
        return owner in _OPEN_OWNERS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child nobody reaped yet is a zombie: dead
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


# ---- text ------------------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """``text`` as UTF-8 can hold it: surrogate pairs joined, lone surrogates (``\\ud800``,
    which JSON allows and SQLite cannot store) replaced by U+FFFD. Grade what this returns:
    it is what the store keeps."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean_completion(c: Completion) -> Completion:
    text = clean_text(c.text)
    reasoning = clean_text(c.reasoning) if c.reasoning is not None else None
    if text is c.text and reasoning is c.reasoning:
        return c
    return replace(c, text=text, reasoning=reasoning)


def _opt(text: str | None) -> str | None:
    return None if text is None else clean_text(text)


# ---- rows ------------------------------------------------------------------------------------


def _completion_to_json(c: Completion) -> dict[str, Any]:
    return {
        "text": c.text,
        "finish_reason": c.finish_reason,
        "reasoning": c.reasoning,
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "reasoning_tokens": c.reasoning_tokens,
        "latency_s": c.latency_s,
    }


def _completion_from_json(d: dict[str, Any]) -> Completion:
    text, finish = d["text"], d["finish_reason"]
    reasoning = d.get("reasoning")
    if not isinstance(text, str) or not isinstance(finish, str):
        raise ValueError("text and finish_reason must be strings")
    if reasoning is not None and not isinstance(reasoning, str):
        raise ValueError("reasoning must be a string")
    return Completion(
        text=text,
        finish_reason=finish,  # type: ignore[arg-type]
        reasoning=reasoning,
        prompt_tokens=int(d.get("prompt_tokens", 0)),
        completion_tokens=int(d.get("completion_tokens", 0)),
        reasoning_tokens=int(d.get("reasoning_tokens", 0)),
        latency_s=float(d.get("latency_s", 0.0)),
    )


def _choices_json(completions: Sequence[Completion]) -> str:
    return json.dumps([_completion_to_json(c) for c in completions])


@dataclass(frozen=True, slots=True)
class RunRow:
    """One stored run, as listed by ``cothub runs``: the records that were written."""

    run_id: str
    model: str
    """``provider/model``."""
    tasks: list[str]
    status: str
    """``complete``, ``running``, ``interrupted``, ``incomplete``, ``stopped`` or ``failed``."""
    created_at: float
    updated_at: float
    manifest: RunManifest
    summary: dict[str, TaskSummary] | None
    """Task (and ``task/subset``) -> its summary; None until the run first finished."""
    wall_s: float | None = None
    """Seconds spent running it, summed over the invocations that worked on it."""


@dataclass(frozen=True, slots=True)
class SampleFilter:
    """Which samples of a run :meth:`Store.records` reads.

    ``wrong``, ``unparsed`` and ``disagreement`` are alternatives (a sample that is any of the
    asked ones); none asked: every sample. ``task`` and ``subset`` narrow that further."""

    wrong: bool = False
    """Graded wrong."""
    unparsed: bool = False
    """No answer found."""
    disagreement: bool = False
    """An alternative extraction or check would have given another verdict."""
    task: str | None = None
    subset: str | None = None
    judged: bool = False
    """Only samples a judge model gave a second opinion on (``cothub judge``)."""
    limit: int | None = None
    """At most this many, in stored order."""

    def _sql(self) -> tuple[str, list[object]]:
        anyof = [c for on, c in ((self.wrong, "correct = 0"), (self.unparsed, "answer IS NULL"),
                                 (self.disagreement, "disagreement = 1")) if on]  # fmt: skip
        where: list[str] = ["run_id = ?"]
        args: list[object] = []
        if anyof:
            where.append("(" + " OR ".join(anyof) + ")")
        if self.judged:
            where.append(
                "EXISTS (SELECT 1 FROM judgements j WHERE j.run_id = samples.run_id "
                "AND j.task = samples.task AND j.item_id = samples.item_id)"
            )
        for column, value in (("task", self.task), ("subset", self.subset)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = " AND ".join(where) + " ORDER BY task, rowid"
        if self.limit is not None:
            sql += f" LIMIT {int(self.limit)}"
        return sql, args


@dataclass(frozen=True, slots=True)
class Failure:
    """An item whose request failed after every retry (no sample row: not a wrong answer)."""

    task: str
    item_id: str
    cache_key: str
    kind: str
    """The retry kind of the last error (``server``, ``timeout``, ``malformed``, ...)."""
    reason: str
    attempts: int


@dataclass(frozen=True, slots=True)
class SampleUsage:
    """What producing one stored sample took (no texts: cheap to read for a whole run)."""

    task: str
    item_id: str
    usage: ItemUsage


@dataclass(slots=True)
class Claim:
    """What :meth:`Store.claim` found for each key."""

    mine: list[str] = field(default_factory=list)
    """Leased to us now: send them."""
    done: dict[str, list[Completion]] = field(default_factory=dict)
    """Already in the cache (another process finished them)."""
    theirs: list[str] = field(default_factory=list)
    """Leased by another live process: ask again later."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reading(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """A read whose SQLite error (damaged file, I/O error) becomes one line."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as e:
            store = args[0]
            assert isinstance(store, Store)
            raise translate(e, store.path) from None

    return wrapper


def _lock_timeout() -> float:
    raw = os.environ.get("COTHUB_STORE_LOCK_TIMEOUT")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            raise CothubError(
                f"COTHUB_STORE_LOCK_TIMEOUT={raw!r} is not a number of seconds; fix or unset it"
            ) from None
    return LOCK_TIMEOUT_S


def _check_path(path: Path) -> None:
    if path.is_dir():
        raise CothubError(
            f"store {path} is a folder; pass --store with a file path, e.g. {path / 'cothub.db'}"
        )
    for above in path.parents:
        if above.exists():
            if not above.is_dir():
                raise CothubError(
                    f"cannot use store {path}: {above} is a file, not a folder; pass --store "
                    "with a path inside a folder"
                )
            break


def _connect_rw(path: Path, busy_ms: int, wait_s: float = 0.0) -> sqlite3.Connection:
    """A writing connection in WAL mode. Switching to (or confirming) WAL needs the database's
    lock, which another process creating or migrating the same store holds for a moment (longer
    on a loaded machine): a lock still held after ``busy_ms`` is waited out, up to ``wait_s``
    in all, as the writer waits out a write lock."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout={busy_ms}")
        started, delay = time.monotonic(), 0.02
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as e:
                left = wait_s - (time.monotonic() - started)
                if not is_busy(e) or left <= 0:
                    raise
                time.sleep(min(delay, left))
                delay = min(delay * 2, 0.5)
        # NORMAL in WAL mode survives a killed process (the OS holds the WAL); only a power
        # loss can drop the last commits, and those are re-requested on resume.
        db.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        db.close()
        raise
    return db


def _connect_ro(path: Path) -> sqlite3.Connection:
    """Read-only; where the WAL index cannot be created (read-only media), ``immutable=1``."""
    uri = "file:" + quote(str(path.resolve()))
    last: sqlite3.Error | None = None
    for params in ("?mode=ro", "?mode=ro&immutable=1"):
        try:
            db = sqlite3.connect(uri + params, uri=True, check_same_thread=False)
        except sqlite3.Error as e:
            last = e
            continue
        try:
            db.execute("PRAGMA busy_timeout=5000")  # a rollback-mode writer: wait a little
            db.execute("PRAGMA query_only=1")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.DatabaseError as e:
            db.close()
            last = e
            if "not a database" in str(e) or "malformed" in str(e):
                break
    assert last is not None
    raise translate(last, path)


class Store:
    """A SQLite file holding every run, sample and cached completion.

    ``readonly``: for reading commands; nothing is created or changed, and a missing file reads
    as an empty store. Otherwise writes go through one thread (:class:`Writer`): the ``*_nowait``
    methods and :meth:`claim` return futures, the other writing methods wait for their commit.
    """

    def __init__(
        self,
        path: Path,
        readonly: bool = False,
        lock_timeout_s: float | None = None,
        lease_ttl_s: float = LEASE_TTL_S,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self.owner = new_owner()
        self.lease_ttl_s = lease_ttl_s
        self._writer: Writer | None = None
        self._leasing = False  # writer thread only, like _timed
        self._timed: dict[str, float] = {}
        """Runs whose wall time this process is counting: run id -> last time it was saved."""
        _check_path(path)
        if readonly:
            self._db = self._open_readonly()
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CothubError(
                f"cannot create the folder of store {path} ({e.strerror or e}); pass --store "
                "with a writable path"
            ) from None
        timeout = _lock_timeout() if lock_timeout_s is None else lock_timeout_s
        busy_ms = int(min(1.0, max(timeout / 4, 0.01)) * 1000)
        self._writer = Writer(
            path, lambda: _connect_rw(path, busy_ms, timeout), timeout, self._beat
        )
        try:
            self._writer.call(self._init_schema)
            # Rare writes on this connection (``_transaction``) wait as long as the writer does.
            self._db = _connect_rw(path, int(timeout * 1000), timeout)
        except sqlite3.Error as e:
            self._writer.close()
            raise translate(e, path) from None
        except BaseException:
            self._writer.close()
            raise
        _OPEN_OWNERS.add(self.owner)

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.exists():  # nothing stored yet: an empty store, and no file made
            db = sqlite3.connect(":memory:", check_same_thread=False)
            for statement in _TABLES:
                db.execute(statement)
            return db
        db = _connect_ro(self.path)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"meta", "runs", "samples", "completions"} <= tables:
                raise CothubError(
                    f"store {self.path} is not a cothub store (no runs or samples tables); pass "
                    "--store with the right file"
                )
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.Error as e:
            db.close()
            raise translate(e, self.path) from None
        except BaseException:
            db.close()
            raise
        version = self._version(row[0] if row else None)
        if version > SCHEMA_VERSION:
            db.close()
            raise self._newer(version)
        if version < 3:  # columns later code reads are missing: upgrade where it can be written
            db.close()
            if not os.access(self.path, os.W_OK) or not os.access(self.path.parent, os.W_OK):
                raise CothubError(
                    f"store {self.path} was written by an older cothub (schema {version}) and "
                    "is read-only here; upgrade it where it can be written (any cothub command "
                    "with a writable --store does) or copy it somewhere writable"
                )
            Store(self.path).close()
            return _connect_ro(self.path)
        return db

    def _version(self, raw: object) -> int:
        try:
            version = int(str(raw).strip())
        except ValueError:
            version = 0
        if raw is None or version < 1 or str(raw).strip() != str(version):
            raise CothubError(
                f"store {self.path} has a damaged schema version ({raw!r}, not a whole number); "
                "restore it from a backup or pass --store with a new file"
            )
        return version

    def _newer(self, version: int) -> CothubError:
        return CothubError(
            f"store {self.path} has schema version {version}, from a newer cothub (this one "
            f"reads up to {SCHEMA_VERSION}); upgrade cothub or pass --store with another file"
        )

    def _init_schema(self, db: sqlite3.Connection) -> None:
        # One write transaction: two processes opening an old store never migrate it twice.
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            for statement in _TABLES:
                db.execute(statement)
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            return
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            for statement in _TABLES:
                db.execute(statement)
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            return
        version = self._version(row[0])
        if version > SCHEMA_VERSION:
            raise self._newer(version)
        db.execute(_JUDGEMENTS)  # additive (no version bump): stores of any version get it
        if version == SCHEMA_VERSION:
            return
        if version == 1:  # v2 added a strategy's steps and stats to each sample
            db.execute("ALTER TABLE samples ADD COLUMN steps TEXT")
            db.execute("ALTER TABLE samples ADD COLUMN stats TEXT")
            version = 2
        if version == 2:  # v3: requests per sample, wall time per run (NULL: not recorded)
            db.execute("ALTER TABLE samples ADD COLUMN requests INTEGER")
            db.execute("ALTER TABLE runs ADD COLUMN wall_s REAL")
            version = 3
        if version == 3:  # v4: leases, so that concurrent processes never send a request twice
            db.execute(_LEASES)
            version = 4
        if version == 4:  # v5: a sample's options, so that a stored run can be re-graded
            have = {row[1] for row in db.execute("PRAGMA table_info(samples)")}
            if "choices" not in have:  # (a store made by schema 5 code and marked older has it)
                db.execute("ALTER TABLE samples ADD COLUMN choices TEXT")
            version = 5
        if version == 5:  # v6: a model's type and size, beside its runs (none said yet)
            db.execute(_MODELS)
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        _OPEN_OWNERS.discard(self.owner)
        self._db.close()

    # ---- writing ----------------------------------------------------------------------------

    def _submit(self, op: Op) -> Future[Any]:
        if self._writer is None:
            raise CothubError(f"store {self.path} was opened read-only; it cannot be written")
        return self._writer.submit(op)

    def _call(self, op: Op) -> Any:
        return self._submit(op).result()

    def flush(self) -> Future[None]:
        """Done once every write submitted before it is committed (or failed)."""
        return self._submit(lambda db: None)

    def _beat(self) -> Op | None:
        """Every second, in the writer thread: renew our leases, save wall time so far."""
        if not self._leasing and not self._timed:
            return None

        def op(db: sqlite3.Connection) -> None:
            now = time.monotonic()
            if self._leasing:
                expires = time.time() + self.lease_ttl_s
                db.execute("UPDATE leases SET expires_at=? WHERE owner=?", (expires, self.owner))
                db.execute("DELETE FROM leases WHERE expires_at < ?", (time.time(),))
            for run_id, mark in self._timed.items():
                self._add_wall(db, run_id, now - mark)
                self._timed[run_id] = now

        return op

    @staticmethod
    def _add_wall(db: sqlite3.Connection, run_id: str, seconds: float) -> None:
        db.execute(
            "UPDATE runs SET wall_s=COALESCE(wall_s, 0) + ? WHERE run_id=?", (seconds, run_id)
        )

    # ---- leases -----------------------------------------------------------------------------

    def claim(self, keys: Sequence[str]) -> Future[Claim]:
        """Lease the keys not cached and not leased by another live process (one transaction)."""
        wanted = list(keys)

        def op(db: sqlite3.Connection) -> Claim:
            self._leasing = True
            now = time.time()
            out = Claim()
            raw: dict[str, str] = {}
            for key in wanted:
                row = db.execute("SELECT choices FROM completions WHERE key=?", (key,)).fetchone()
                if row is not None:
                    raw[key] = row[0]
                    continue
                held = db.execute(
                    "SELECT owner, expires_at FROM leases WHERE key=?", (key,)
                ).fetchone()
                if (
                    held is None
                    or held[0] == self.owner
                    or held[1] < now
                    or not owner_alive(held[0])
                ):
                    db.execute(
                        "INSERT OR REPLACE INTO leases(key, owner, expires_at) VALUES (?, ?, ?)",
                        (key, self.owner, now + self.lease_ttl_s),
                    )
                    out.mine.append(key)
                else:
                    out.theirs.append(key)
            out.done = {k: self._choices(k, v) for k, v in raw.items()}
            return out

        return self._submit(op)

    def release(self) -> Future[None]:
        """Give up every lease this store holds (done by :meth:`finish_run` too)."""

        def op(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM leases WHERE owner=?", (self.owner,))
            self._leasing = False

        return self._submit(op)

    # ---- completion cache -------------------------------------------------------------------

    def _choices(self, key: str, raw: object) -> list[Completion]:
        try:
            doc = json.loads(raw)  # type: ignore[arg-type]
            if not isinstance(doc, list):
                raise ValueError("not a list of choices")
            return [_completion_from_json(c) for c in doc]
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise self._damaged_completion(key, e) from None

    def _damaged_completion(self, key: str, e: Exception) -> CothubError:
        return CothubError(
            f"store {self.path} holds a damaged cached completion {key[:16]} ({type(e).__name__}: "
            f'{e}); delete it to request it again (sqlite3 {self.path} "DELETE FROM completions '
            f"WHERE key='{key}'\") or pass --store with a new file"
        )

    @_reading
    def cached(self, keys: Sequence[str]) -> dict[str, list[Completion]]:
        """Look many cache keys up at once (one query per 500 keys, not one per item)."""
        out: dict[str, list[Completion]] = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            marks = ",".join("?" * len(chunk))
            for key, choices in self._db.execute(
                f"SELECT key, choices FROM completions WHERE key IN ({marks})", chunk
            ):
                out[key] = self._choices(key, choices)
        return out

    @_reading
    def cached_scores(self, keys: Sequence[str]) -> dict[str, list[float]]:
        """Option log-likelihoods (``--scoring loglikelihood``) cached under ``keys``. They share
        the completions table, as ``{"loglikelihoods": [...]}`` (their keys never collide)."""
        out: dict[str, list[float]] = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            marks = ",".join("?" * len(chunk))
            for key, choices in self._db.execute(
                f"SELECT key, choices FROM completions WHERE key IN ({marks})", chunk
            ):
                try:
                    doc = json.loads(choices)
                    if isinstance(doc, dict) and "loglikelihoods" in doc:
                        out[key] = [float(x) for x in doc["loglikelihoods"]]
                except (TypeError, ValueError) as e:
                    raise self._damaged_completion(key, e) from None
        return out

    def record_scores_nowait(self, key: str, scores: Sequence[float], model: str) -> Future[None]:
        """Commit one item's option log-likelihoods (before its sample row)."""
        row = (key, model, json.dumps({"loglikelihoods": list(scores)}), time.time())

        def op(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO completions(key, model, choices, created_at) "
                "VALUES (?, ?, ?, ?)",
                row,
            )
            db.execute("DELETE FROM leases WHERE key=?", (key,))

        return self._submit(op)

    def record_scores(self, key: str, scores: Sequence[float], model: str) -> None:
        self.record_scores_nowait(key, scores, model).result()

    def record_nowait(
        self,
        run_id: str,
        records: Iterable[SampleRecord],
        completions: dict[str, list[Completion]] | None = None,
        model: str = "",
    ) -> Future[None]:
        """Commit samples (and the fresh completions behind them) in one transaction; the
        completions' leases go with it. Rows are built here, so later changes cannot leak in."""
        now = time.time()
        cache = [(k, model, _choices_json(cs), now) for k, cs in (completions or {}).items()]
        rows = [_sample_row(run_id, r) for r in records]

        def op(db: sqlite3.Connection) -> None:
            if cache:
                db.executemany(
                    "INSERT OR REPLACE INTO completions(key, model, choices, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    cache,
                )
                if self._leasing:
                    db.executemany("DELETE FROM leases WHERE key=?", [(c[0],) for c in cache])
            if rows:
                db.executemany(
                    "INSERT OR REPLACE INTO samples VALUES "
                    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    rows,
                )

        return self._submit(op)

    def record(
        self,
        run_id: str,
        records: Iterable[SampleRecord],
        completions: dict[str, list[Completion]] | None = None,
        model: str = "",
    ) -> None:
        """Commit samples (and the fresh completions behind them) in one transaction."""
        self.record_nowait(run_id, records, completions, model).result()

    # ---- runs --------------------------------------------------------------------------------

    def begin_run(
        self,
        run_id: str,
        model: str,
        tasks: list[str],
        manifest: RunManifest | dict[str, Any],
        timed: bool = False,
    ) -> None:
        """Create the run, or mark an existing one (same command again) as resumed.

        ``timed``: count this invocation's wall time into the run from now on, saved every
        second (a killed invocation adds what it spent up to then) and at :meth:`finish_run`.
        """
        as_json = manifest.as_json() if isinstance(manifest, RunManifest) else manifest
        row_model, row_tasks, row_manifest = (
            clean_text(model),
            json.dumps(tasks),
            json.dumps(as_json),
        )

        def op(db: sqlite3.Connection) -> None:
            now = time.time()
            row = db.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO runs VALUES (?,?,?,?,?,?,?,NULL,NULL)",
                    (run_id, row_model, row_tasks, "running", now, now, row_manifest),
                )
            else:
                db.execute(
                    "UPDATE runs SET status='running', updated_at=?, manifest=? WHERE run_id=?",
                    (now, row_manifest, run_id),
                )
            self._leasing = True
            for key, owner in db.execute(
                "SELECT key, owner FROM leases WHERE key LIKE ?", (f"run:{run_id}:%",)
            ).fetchall():
                if not owner_alive(owner):  # a killed invocation of this run
                    db.execute("DELETE FROM leases WHERE key=?", (key,))
            db.execute(
                "INSERT OR REPLACE INTO leases(key, owner, expires_at) VALUES (?, ?, ?)",
                (f"run:{run_id}:{self.owner}", self.owner, now + self.lease_ttl_s),
            )
            if timed:
                self._timed[run_id] = time.monotonic()

        self._call(op)

    def finish_run(
        self, run_id: str, status: str, summary: dict[str, Any] | None, wall_s: float | None = None
    ) -> None:
        """Record the outcome and give up this store's leases. Wall time: what ``begin_run(...,
        timed=True)`` counted, else ``wall_s`` (this invocation's time) adds to the run's total."""
        summary_json = json.dumps(summary) if summary else None

        def op(db: sqlite3.Connection) -> None:
            mark = self._timed.pop(run_id, None)
            spent = time.monotonic() - mark if mark is not None else wall_s
            db.execute(
                "UPDATE runs SET status=?, updated_at=?, summary=? WHERE run_id=?",
                (status, time.time(), summary_json, run_id),
            )
            if spent is not None:
                self._add_wall(db, run_id, spent)
            db.execute("DELETE FROM leases WHERE owner=?", (self.owner,))
            self._leasing = False

        self._call(op)

    def _live_runs(self) -> set[str]:
        """Runs some live process is working on now (it holds the run's lease)."""
        try:
            rows = self._db.execute(
                "SELECT key, owner, expires_at FROM leases WHERE key LIKE 'run:%'"
            ).fetchall()
        except sqlite3.OperationalError:  # a schema 3 store read as it is: no leases
            return set()
        now = time.time()
        return {
            str(key).split(":", 2)[1]
            for key, owner, expires in rows
            if isinstance(expires, int | float) and expires >= now and owner_alive(str(owner))
        }

    _RUN_COLUMNS = "run_id, model, tasks, status, created_at, updated_at, manifest, summary, wall_s"

    @_reading
    def runs(self) -> list[RunRow]:
        rows = self._db.execute(
            f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY created_at DESC"
        ).fetchall()
        live = self._live_runs()
        return [self._run_row(r, live) for r in rows]

    @_reading
    def run(self, run_id: str) -> RunRow:
        """A run by id or unique id prefix."""
        rows = self._db.execute(
            f"SELECT {self._RUN_COLUMNS} FROM runs WHERE run_id LIKE ? || '%'",
            (run_id,),
        ).fetchall()
        if not rows:
            raise CothubError(f"no run {run_id!r} in {self.path}; `cothub runs` lists stored runs")
        if len(rows) > 1:
            raise CothubError(f"run id prefix {run_id!r} is ambiguous; give more characters")
        return self._run_row(rows[0], self._live_runs())

    def _run_row(self, r: Sequence[Any], live: set[str]) -> RunRow:
        what = "run_id"
        try:
            if not isinstance(r[0], str):
                raise ValueError("not text")
            what = "tasks"
            tasks = json.loads(r[2])
            if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
                raise ValueError("not a list of task names")
            what = "manifest"
            raw = json.loads(r[6])
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            try:
                manifest = RunManifest.from_json(raw)
            except (KeyError, AttributeError) as e:
                raise ValueError(f"no {e}") from None
            what = "summary"
            doc = json.loads(r[7]) if r[7] else None
            if doc is not None and not (
                isinstance(doc, dict) and all(isinstance(v, dict) for v in doc.values())
            ):
                raise ValueError("not an object of task summaries")
            try:
                summary = (
                    None if doc is None else {k: TaskSummary.from_json(v) for k, v in doc.items()}
                )
            except (KeyError, AttributeError) as e:
                raise ValueError(f"no {e}") from None
            what = "model, status or times"
            if not isinstance(r[1], str) or not isinstance(r[3], str):
                raise ValueError("not text")
            created, updated = float(r[4]), float(r[5])
            wall = None if r[8] is None else float(r[8])
        except (TypeError, ValueError) as e:
            raise CothubError(
                f"store {self.path} holds a damaged run row {r[0]!r} ({what}: {e}); delete it "
                f"(sqlite3 {self.path} \"DELETE FROM runs WHERE run_id='{r[0]}'\") or restore "
                "the store from a backup"
            ) from None
        status = r[3]
        if r[0] in live:
            status = "running"
        elif status == "running":  # nobody is working on it: its process died or was killed
            status = "interrupted"
        return RunRow(r[0], r[1], tasks, status, created, updated, manifest, summary, wall)

    @_reading
    def manifest(self, run_id: str) -> RunManifest:
        """The manifest of a run (by id or unique id prefix), as it was written."""
        return self.run(run_id).manifest

    def records(self, run_id: str, where: SampleFilter | None = None) -> Iterator[SampleRecord]:
        """A run's stored samples as the records that were written, in stored order (by task,
        then as they were committed), streamed: a 14k-item run is never held as rows at once.

        Not stored, so read back as their defaults: ``cached`` (False) and, for rows written
        before schema 5, ``sample.choices`` (empty)."""
        sql, args = (where or SampleFilter())._sql()
        if where is not None and where.judged and not self._has_judgements():
            return  # a store that never held a judgement: no sample was judged
        try:
            # A schema 3 or 4 store read as it is (read-only) has no ``choices`` column yet.
            have = {row[1] for row in self._db.execute("PRAGMA table_info(samples)")}
            columns = _SAMPLE_COLUMNS if "choices" in have else _SAMPLE_COLUMNS_V4
            cur = self._db.execute(f"SELECT {columns} FROM samples WHERE {sql}", [run_id, *args])
            while rows := cur.fetchmany(256):
                for row in rows:
                    yield self._record(row)
        except sqlite3.Error as e:
            raise translate(e, self.path) from None

    def _record(self, r: Sequence[Any]) -> SampleRecord:
        (run_id, task, item_id, subset, tags, question, gold, prompt, completion, reasoning,
         finish, answer, method, span_start, span_end, check, correct, disagreement, p_tok,
         c_tok, r_tok, latency, key, steps, stats, requests, choices) = r  # fmt: skip
        what = "tags"
        try:
            tag_doc = json.loads(tags)
            what = "choices"
            options = tuple(str(c) for c in json.loads(choices)) if choices else ()
            pairs = tuple((str(k), str(v)) for k, v in tag_doc.items())
            sample = Sample(item_id, question, gold, subset, pairs, options)
            what = "prompt"
            rendered = _prompt(json.loads(prompt))
            what = "completion"
            comp = Completion(completion, finish, reasoning, int(p_tok), int(c_tok), int(r_tok),
                              float(latency))  # fmt: skip
            span = None if span_start is None or span_end is None else (span_start, span_end)
            grade = Grade(bool(correct), answer, method, span, check, bool(disagreement))
            what = "steps"
            step_list: tuple[Step, ...] = ()
            if steps is not None:
                step_list = tuple(step_from_json(d) for d in json.loads(steps))
            what = "stats"
            stat = None if stats is None else StoredStats(tuple(json.loads(stats).items()))
            what = "requests"
            n_req = None if requests is None else int(requests)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise self._damaged_sample(run_id, task, item_id, what, e) from None
        return SampleRecord(task, sample, rendered, comp, grade, key, False, step_list, stat,
                            n_req)  # fmt: skip

    def _damaged_sample(
        self, run_id: str, task: str, item_id: str, col: str, e: Exception
    ) -> CothubError:
        return CothubError(
            f"store {self.path} holds a damaged sample {task}/{item_id} of run "
            f"{run_id} ({col}: {e}); re-run that run's command to redo it after deleting "
            f"it (sqlite3 {self.path} \"DELETE FROM samples WHERE run_id='{run_id}' AND "
            f"item_id='{item_id}'\"), or restore the store from a backup"
        )

    @_reading
    def sample_usage(self, run_id: str) -> list[SampleUsage]:
        """Per sample of a run: task, item id, verdict, tokens and requests (no texts: cheap)."""
        cur = self._db.execute(
            "SELECT task, item_id, correct, prompt_tokens, completion_tokens, reasoning_tokens, "
            "requests FROM samples WHERE run_id=? ORDER BY task, rowid",
            (run_id,),
        )
        out: list[SampleUsage] = []
        names = ("correct", "prompt_tokens", "completion_tokens", "reasoning_tokens", "requests")
        for task, item_id, *counts in cur.fetchall():
            for name, value in zip(names, counts, strict=True):
                if not isinstance(value, int) and not (name == "requests" and value is None):
                    e = ValueError(f"{value!r} is not a whole number")
                    raise self._damaged_sample(run_id, task, item_id, name, e)
            correct, p_tok, c_tok, r_tok, requests = counts
            out.append(SampleUsage(task, item_id, ItemUsage(p_tok, c_tok, r_tok, requests,
                                                            bool(correct))))  # fmt: skip
        return out

    # ---- failed items; cache entries older releases poisoned (owned by the runner's retries) --

    def record_failures_nowait(
        self, run_id: str, failures: Sequence[tuple[str, dict[str, Any]]]
    ) -> Future[None]:
        """Items whose request failed after every retry, as (cache key, {task, item_id, kind,
        reason, attempts}): kept apart from the samples (a failure is not a wrong answer), and
        their leases given up so another process may try them."""
        now = time.time()
        rows = [
            (run_id, clean_text(str(f["task"])), clean_text(str(f["item_id"])), key,
             str(f["kind"]), clean_text(str(f["reason"])), int(f["attempts"]), now)
            for key, f in failures
        ]  # fmt: skip

        def op(db: sqlite3.Connection) -> None:
            db.execute(_FAILURES)
            db.executemany("INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?,?,?,?)", rows)
            if self._leasing:
                db.executemany("DELETE FROM leases WHERE key=?", [(r[3],) for r in rows])

        return self._submit(op)

    def clear_failures(self, run_id: str) -> None:
        """Forget a run's failed items: the invocation starting now tries them again."""

        def op(db: sqlite3.Connection) -> None:
            db.execute(_FAILURES)
            db.execute("DELETE FROM failures WHERE run_id=?", (run_id,))

        self._call(op)

    @_reading
    def failures(self, run_id: str) -> list[Failure]:
        """A run's items that failed after every retry in its last invocation."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "failures" not in tables:
            return []
        cur = self._db.execute(
            "SELECT task, item_id, cache_key, kind, reason, attempts FROM failures "
            "WHERE run_id=? ORDER BY task, item_id",
            (run_id,),
        )
        return [Failure(str(t), str(i), str(k), str(kind), str(why), int(n))
                for t, i, k, kind, why, n in cur.fetchall()]  # fmt: skip

    def repair_poisoned(self) -> int:
        """Once per store: drop cached completions that releases before strict reply checks
        made from malformed server replies, and the samples graded from them.

        Those releases cached a 200 whose choice lacked its message or text (or had it null) as
        an empty completion, graded wrong, and kept negative token counts. Every cached entry
        with an empty text or a negative count, from before this repair ran, is dropped (a
        genuinely empty answer among them is asked again, once); the samples graded from them
        go too and their runs read ``incomplete``, so the same command re-requests exactly
        those. Later entries passed the strict checks and are trusted. Returns entries dropped.
        """

        def op(db: sqlite3.Connection) -> int:
            done = db.execute("SELECT 1 FROM meta WHERE key=?", (_REPAIRED,)).fetchone()
            if done is not None:
                return 0
            bad: list[str] = []
            for key, raw in db.execute(_SUSPECT):
                try:
                    doc = json.loads(raw)
                except (TypeError, ValueError):
                    continue  # damaged: reading it says so, with the fix
                if isinstance(doc, list) and any(_poisoned(c) for c in doc):
                    bad.append(key)
            for i in range(0, len(bad), 500):
                chunk = bad[i : i + 500]
                marks = ",".join("?" * len(chunk))
                runs = [
                    r[0]
                    for r in db.execute(
                        f"SELECT DISTINCT run_id FROM samples WHERE cache_key IN ({marks})", chunk
                    )
                ]
                db.execute(f"DELETE FROM samples WHERE cache_key IN ({marks})", chunk)
                db.execute(f"DELETE FROM completions WHERE key IN ({marks})", chunk)
                db.executemany(
                    "UPDATE runs SET status='incomplete' WHERE run_id=? AND status!='running'",
                    [(r,) for r in runs],
                )
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (_REPAIRED, str(len(bad)))
            )
            return len(bad)

        return int(self._call(op))

    def _transaction(self) -> _Tx:
        """A write transaction on this thread's connection (for small, rare writes; the hot
        path goes through the writer thread)."""
        if self._writer is None:
            raise CothubError(f"store {self.path} was opened read-only; it cannot be written")
        return _Tx(self._db, self.path)

    # ---- models: what a model is (type, size), set with a run or after it ----------------

    def set_model_info(
        self, model: str, type_: str | None = None, size: str | None = None
    ) -> ModelInfo:
        """Record a model's type and/or size (checked by :mod:`cothub.modelinfo`); a field not
        given keeps its stored value. Returns what is stored now."""

        def op(db: sqlite3.Connection) -> ModelInfo:
            row = db.execute("SELECT type, size FROM models WHERE model=?", (model,)).fetchone()
            old = ModelInfo(str(row[0]), str(row[1])) if row else ModelInfo()
            new = ModelInfo(
                old.type if type_ is None else type_, old.size if size is None else size
            )
            db.execute(
                "INSERT OR REPLACE INTO models VALUES (?,?,?,?)",
                (clean_text(model), new.type, new.size, time.time()),
            )
            return new

        info: ModelInfo = self._call(op)
        return info

    @_reading
    def model_info(self) -> dict[str, ModelInfo]:
        """Every model's stored type and size, by name; empty for a store that never held any
        (one older than schema 6, read as it is)."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "models" not in tables:
            return {}
        rows = self._db.execute("SELECT model, type, size FROM models ORDER BY model")
        return {str(m): ModelInfo(str(t or ""), str(z or "")) for m, t, z in rows}

    # ---- judgements: a judge model's second opinion beside the rule verdict (cothub.judge) ----

    def record_judgements(self, judgements: Sequence[Judgement]) -> None:
        """Commit judgements (one transaction); a judgement of the same item, judge and prompt
        version replaces the earlier one. The samples' rule verdicts are never touched."""
        now = time.time()
        rows = [
            (j.run_id, clean_text(j.task), clean_text(j.item_id), clean_text(j.judge),
             j.prompt_version, j.reason, j.verdict, clean_text(j.raw), j.prompt_tokens,
             j.completion_tokens, j.reasoning_tokens, j.cost_usd, j.cache_key, now)
            for j in judgements
        ]  # fmt: skip

        def op(db: sqlite3.Connection) -> None:
            db.execute(_JUDGEMENTS)
            db.executemany(
                "INSERT OR REPLACE INTO judgements VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )

        self._call(op)

    def _has_judgements(self) -> bool:
        """Whether the store has a ``judgements`` table (an older one read as it is has none)."""
        try:
            found = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='judgements'"
            ).fetchone()
        except sqlite3.Error as e:
            raise translate(e, self.path) from None
        return found is not None

    @_reading
    def judgements(
        self,
        run_id: str,
        judge: str | None = None,
        task: str | None = None,
        item_id: str | None = None,
    ) -> list[Judgement]:
        """A run's stored judgements (of one judge, ``provider/model``, and of one sample, if
        given), by task and item; empty for a store that never held any (an older one read as
        it is)."""
        if not self._has_judgements():
            return []
        sql = f"SELECT {_JUDGEMENT_COLUMNS} FROM judgements WHERE run_id=?"
        args: list[object] = [run_id]
        for column, value in (("judge", judge), ("task", task), ("item_id", item_id)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        out: list[Judgement] = []
        for r in self._db.execute(sql + " ORDER BY task, item_id, judge, prompt_version", args):
            try:
                cost = None if r[11] is None else float(r[11])
                out.append(Judgement(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]),
                                     str(r[5]), str(r[6]), str(r[7]), int(r[8]), int(r[9]),
                                     int(r[10]), cost, str(r[12])))  # fmt: skip
            except (TypeError, ValueError) as e:
                raise CothubError(
                    f"store {self.path} holds a damaged judgement of {r[1]}/{r[2]} in run "
                    f"{run_id} ({e}); judge the run again to replace it"
                ) from None
        return out


@dataclass(frozen=True, slots=True)
class Judgement:
    """A judge model's verdict on one stored sample, kept beside (never in place of) the rule
    verdict; what :meth:`Store.record_judgements` writes and :meth:`Store.judgements` reads."""

    run_id: str
    task: str
    item_id: str
    judge: str
    """The judge, ``provider/model``."""
    prompt_version: str
    """Which fixed judge prompt asked it (``cothub.judge.PROMPT_VERSION``)."""
    reason: str
    """Why it was asked: ``unparsed`` (no rule found an answer) or ``disagreement``."""
    verdict: str
    """``correct``, ``incorrect``, ``no-answer``, or ``judge-unparsed`` (its reply was not one
    verdict line; never guessed)."""
    raw: str
    """The judge's reply as it came."""
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
    """At list price when it was made; None: the judge model is unpriced."""
    cache_key: str
    """The judge request's key in the completion cache."""


_JUDGEMENT_COLUMNS = (
    "run_id, task, item_id, judge, prompt_version, reason, verdict, raw, prompt_tokens, "
    "completion_tokens, reasoning_tokens, cost_usd, cache_key"
)


_FAILURES = """CREATE TABLE IF NOT EXISTS failures (
    run_id      TEXT NOT NULL,
    task        TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    cache_key   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (run_id, task, item_id)
)"""
"""Items whose request failed after every retry (made on first use: older stores lack it)."""

_SUSPECT = """SELECT key, choices FROM completions
    WHERE choices LIKE '%"text": ""%' OR choices LIKE '%_tokens": -%'"""
"""Cached entries that may be poisoned (then checked one by one with :func:`_poisoned`)."""

_REPAIRED = "poisoned_cache_repaired"
"""meta key: :meth:`Store.repair_poisoned` has run on this store (its value: entries dropped)."""


def _poisoned(choice: object) -> bool:
    """A cached choice older releases made from a malformed reply: empty text, negative counts."""
    if not isinstance(choice, dict):
        return False
    if choice.get("text") == "" and not choice.get("reasoning"):
        return True
    return any(
        isinstance(choice.get(n), int) and choice[n] < 0
        for n in ("prompt_tokens", "completion_tokens", "reasoning_tokens")
    )


class _Tx:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error); SQLite errors as one line."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise translate(e, self._path) from None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        except sqlite3.Error as e:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if exc_type is None:
                raise translate(e, self._path) from None
        if isinstance(exc, sqlite3.Error):
            raise translate(exc, self._path) from exc


_SAMPLE_COLUMNS = (
    "run_id, task, item_id, subset, tags, question, gold, prompt, completion, reasoning, "
    "finish_reason, answer, method, span_start, span_end, check_name, correct, disagreement, "
    "prompt_tokens, completion_tokens, reasoning_tokens, latency_s, cache_key, steps, stats, "
    "requests, choices"
)
"""The samples table's columns in :func:`_sample_row`'s order (what :meth:`Store.records` reads)."""
_SAMPLE_COLUMNS_V4 = _SAMPLE_COLUMNS.replace(", choices", ", NULL")


def _prompt(d: dict[str, Any]) -> Prompt:
    """The prompt a stored ``Prompt.as_json()`` (plus ``n_exemplars``) was written from."""
    style = d["style"]
    if style not in ("chat", "completions"):
        raise ValueError(f"unknown prompt style {style!r}")
    messages = tuple(Message(m["role"], m["content"]) for m in d.get("messages", ()))
    return Prompt(style, str(d.get("prompt", "")), messages, tuple(d.get("stop", ())),
                  int(d.get("n_exemplars", 0)))  # fmt: skip


def _sample_row(run_id: str, r: SampleRecord) -> tuple[Any, ...]:
    s, c, g = r.sample, r.completion, r.grade
    span = g.span or (None, None)
    return (
        run_id,
        r.task,
        clean_text(s.id),
        clean_text(s.subset),
        json.dumps(dict(s.tags)),
        clean_text(s.question),
        clean_text(s.gold),
        json.dumps({**r.prompt.as_json(), "n_exemplars": r.prompt.n_exemplars}),
        clean_text(c.text),
        _opt(c.reasoning),
        c.finish_reason,
        _opt(g.answer),
        g.method,
        span[0],
        span[1],
        clean_text(g.check),
        int(g.correct),
        int(g.disagreement),
        c.prompt_tokens,
        c.completion_tokens,
        c.reasoning_tokens,
        c.latency_s,
        r.cache_key,
        json.dumps([st.as_json() for st in r.steps]) if r.steps else None,
        json.dumps(r.stats.as_json()) if r.stats is not None else None,
        r.requests,
        json.dumps([clean_text(c) for c in s.choices]) if s.choices else None,
    )
