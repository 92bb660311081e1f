"""The embedded SQLite store: runs, samples and the completion cache.

Crash safety comes from SQLite itself: WAL mode, and one committed transaction per completion as it
arrives. A process killed at any instant loses at most the request that was in flight, and the
completion cache makes a re-run send only what is missing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cothub.errors import CothubError
from cothub.types import Completion, SampleRecord

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    model       TEXT NOT NULL,
    tasks       TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    manifest    TEXT NOT NULL,
    summary     TEXT,
    wall_s      REAL
);
CREATE TABLE IF NOT EXISTS completions (
    key               TEXT PRIMARY KEY,
    model             TEXT NOT NULL,
    choices           TEXT NOT NULL,
    created_at        REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
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
    PRIMARY KEY (run_id, task, item_id)
);
"""


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
    return Completion(
        text=d["text"],
        finish_reason=d["finish_reason"],
        reasoning=d.get("reasoning"),
        prompt_tokens=int(d.get("prompt_tokens", 0)),
        completion_tokens=int(d.get("completion_tokens", 0)),
        reasoning_tokens=int(d.get("reasoning_tokens", 0)),
        latency_s=float(d.get("latency_s", 0.0)),
    )


@dataclass(frozen=True, slots=True)
class RunRow:
    """One stored run, as listed by ``cothub runs``."""

    run_id: str
    model: str
    tasks: list[str]
    status: str
    created_at: float
    updated_at: float
    manifest: dict[str, Any]
    summary: dict[str, Any] | None
    wall_s: float | None = None
    """Seconds spent running it, summed over the invocations that worked on it."""


class Store:
    """A SQLite file holding every run, sample and cached completion."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (the OS holds the WAL); only a power
            # loss can drop the last commits, and those are re-requested on resume.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            self._check_schema()
        except sqlite3.DatabaseError as e:
            raise CothubError(
                f"cannot open store {path}: {e}; pass --store with a writable SQLite file path"
            ) from e

    def _check_schema(self) -> None:
        # One write transaction: two processes opening an old store never migrate it twice.
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                return
            version = int(row[0])
            if version == 1:  # v2 added a strategy's steps and stats to each sample
                self._db.execute("ALTER TABLE samples ADD COLUMN steps TEXT")
                self._db.execute("ALTER TABLE samples ADD COLUMN stats TEXT")
                version = 2
            if version == 2:  # v3: requests per sample, wall time per run (NULL: not recorded)
                self._db.execute("ALTER TABLE samples ADD COLUMN requests INTEGER")
                self._db.execute("ALTER TABLE runs ADD COLUMN wall_s REAL")
                version = 3
            if version != SCHEMA_VERSION:
                raise CothubError(
                    f"store {self.path} has schema version {row[0]}, this cothub expects "
                    f"{SCHEMA_VERSION}; use a new --store file"
                )
            self._db.execute(
                "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
            )

    def close(self) -> None:
        self._db.close()

    # ---- completion cache -------------------------------------------------------------------

    def cached(self, keys: Sequence[str]) -> dict[str, list[Completion]]:
        """Look many cache keys up at once (one query per 500 keys, not one per item)."""
        out: dict[str, list[Completion]] = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            marks = ",".join("?" * len(chunk))
            for key, choices in self._db.execute(
                f"SELECT key, choices FROM completions WHERE key IN ({marks})", chunk
            ):
                out[key] = [_completion_from_json(c) for c in json.loads(choices)]
        return out

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
                doc = json.loads(choices)
                if isinstance(doc, dict) and "loglikelihoods" in doc:
                    out[key] = [float(x) for x in doc["loglikelihoods"]]
        return out

    def record_scores(self, key: str, scores: Sequence[float], model: str) -> None:
        """Commit one item's option log-likelihoods as they arrive (before its sample row)."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO completions(key, model, choices, created_at) "
                "VALUES (?, ?, ?, ?)",
                (key, model, json.dumps({"loglikelihoods": list(scores)}), time.time()),
            )

    def record(
        self,
        run_id: str,
        records: Iterable[SampleRecord],
        completions: dict[str, list[Completion]] | None = None,
        model: str = "",
    ) -> None:
        """Commit samples (and the fresh completions behind them) in one transaction."""
        now = time.time()
        with self._transaction():
            if completions:
                self._db.executemany(
                    "INSERT OR REPLACE INTO completions(key, model, choices, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    [
                        (k, model, json.dumps([_completion_to_json(c) for c in cs]), now)
                        for k, cs in completions.items()
                    ],
                )
            self._db.executemany(
                "INSERT OR REPLACE INTO samples VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [_sample_row(run_id, r) for r in records],
            )

    # ---- runs --------------------------------------------------------------------------------

    def begin_run(
        self, run_id: str, model: str, tasks: list[str], manifest: dict[str, Any]
    ) -> None:
        """Create the run, or mark an existing one (same command again) as resumed."""
        now = time.time()
        with self._transaction():
            row = self._db.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO runs VALUES (?,?,?,?,?,?,?,NULL,NULL)",
                    (run_id, model, json.dumps(tasks), "running", now, now, json.dumps(manifest)),
                )
            else:
                self._db.execute(
                    "UPDATE runs SET status='running', updated_at=?, manifest=? WHERE run_id=?",
                    (now, json.dumps(manifest), run_id),
                )

    def finish_run(
        self, run_id: str, status: str, summary: dict[str, Any] | None, wall_s: float | None = None
    ) -> None:
        """Record the outcome; ``wall_s`` (this invocation's time) adds to the run's total."""
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET status=?, updated_at=?, summary=?, "
                "wall_s=CASE WHEN ? IS NULL THEN wall_s ELSE COALESCE(wall_s, 0) + ? END "
                "WHERE run_id=?",
                (
                    status,
                    time.time(),
                    json.dumps(summary) if summary else None,
                    wall_s,
                    wall_s,
                    run_id,
                ),
            )

    def runs(self) -> list[RunRow]:
        rows = self._db.execute(
            "SELECT run_id, model, tasks, status, created_at, updated_at, manifest, summary, "
            "wall_s "
            "FROM runs ORDER BY created_at DESC"
        ).fetchall()
        return [_run_row(r) for r in rows]

    def run(self, run_id: str) -> RunRow:
        """A run by id or unique id prefix."""
        rows = self._db.execute(
            "SELECT run_id, model, tasks, status, created_at, updated_at, manifest, summary, "
            "wall_s "
            "FROM runs WHERE run_id LIKE ? || '%'",
            (run_id,),
        ).fetchall()
        if not rows:
            raise CothubError(f"no run {run_id!r} in {self.path}; `cothub runs` lists stored runs")
        if len(rows) > 1:
            raise CothubError(f"run id prefix {run_id!r} is ambiguous; give more characters")
        return _run_row(rows[0])

    def samples(
        self, run_id: str, where: str = "", limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Stored samples of a run as dicts (``where`` is a trusted SQL fragment)."""
        sql = "SELECT * FROM samples WHERE run_id=?"
        if where:
            sql += f" AND ({where})"
        sql += " ORDER BY task, rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        cur = self._db.execute(sql, (run_id,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def sample_usage(self, run_id: str) -> list[dict[str, Any]]:
        """Per sample of a run: task, item id, verdict, tokens and requests (no texts: cheap)."""
        cur = self._db.execute(
            "SELECT task, item_id, correct, prompt_tokens, completion_tokens, reasoning_tokens, "
            "requests FROM samples WHERE run_id=? ORDER BY task, rowid",
            (run_id,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def _transaction(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _run_row(r: Sequence[Any]) -> RunRow:
    return RunRow(
        run_id=r[0],
        model=r[1],
        tasks=json.loads(r[2]),
        status=r[3],
        created_at=r[4],
        updated_at=r[5],
        manifest=json.loads(r[6]),
        summary=json.loads(r[7]) if r[7] else None,
        wall_s=r[8],
    )


def _sample_row(run_id: str, r: SampleRecord) -> tuple[Any, ...]:
    s, c, g = r.sample, r.completion, r.grade
    span = g.span or (None, None)
    return (
        run_id,
        r.task,
        s.id,
        s.subset,
        json.dumps(dict(s.tags)),
        s.question,
        s.gold,
        json.dumps({**r.prompt.as_json(), "n_exemplars": r.prompt.n_exemplars}),
        c.text,
        c.reasoning,
        c.finish_reason,
        g.answer,
        g.method,
        span[0],
        span[1],
        g.check,
        int(g.correct),
        int(g.disagreement),
        c.prompt_tokens,
        c.completion_tokens,
        c.reasoning_tokens,
        c.latency_s,
        r.cache_key,
        json.dumps(r.steps) if r.steps else None,
        json.dumps(r.stats) if r.stats else None,
        r.requests,
    )
