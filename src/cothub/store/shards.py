"""The SQL behind ``--shard`` and ``cothub merge``: which items a shard holds, and the bulk copy of
one shard store's run into another store (its samples, failures, shard items, a judge's verdicts
on its items and what its model is, beside the whole completion cache).

A shard store records the items it was given (``shard_items``: run, task, item, shard I of N), so
that a merge names exactly the items still missing, even those of a shard killed before it
finished. Copies are ``INSERT OR IGNORE`` on primary keys that are content-addressed (a cache key
is a hash of what determines the response) or item-addressed (run, task, item): merging the same
shard twice, or a shard resumed after a crash, adds nothing the first merge did not.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cothub.errors import CothubError
from cothub.store.sqlite import _FAILURES, _JUDGEMENTS, _MODELS, Store
from cothub.store.writer import translate

_SHARD_ITEMS = """CREATE TABLE IF NOT EXISTS shard_items (
    run_id       TEXT NOT NULL,
    task         TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    shard_index  INTEGER NOT NULL,
    shard_count  INTEGER NOT NULL,
    PRIMARY KEY (run_id, task, item_id)
)"""
"""Made on first use (older stores and unsharded runs lack it)."""

_SAMPLE_CONTENT = "completion, answer, correct"
"""What must agree when two stores hold the same item of a run (else the merge reports it)."""


def record_shard(
    store: Store, run_id: str, index: int, count: int, items: Sequence[tuple[str, str]]
) -> None:
    """Record that this store's ``run_id`` is shard ``index`` of ``count``, holding ``items``
    (task, item id)."""
    rows = [(run_id, task, item_id, index, count) for task, item_id in items]

    def op(db: sqlite3.Connection) -> None:
        db.execute(_SHARD_ITEMS)
        db.executemany("INSERT OR REPLACE INTO shard_items VALUES (?,?,?,?,?)", rows)

    store._call(op)


@dataclass(frozen=True, slots=True)
class ShardContent:
    """One run as a shard store holds it, read in one go (rows as stored)."""

    path: Path
    run: tuple[Any, ...]
    """The ``runs`` row."""
    samples: list[tuple[Any, ...]]
    completions: list[tuple[Any, ...]]
    failures: list[tuple[Any, ...]]
    planned: list[tuple[Any, ...]]
    """``shard_items`` rows of the run (empty: not run with --shard)."""
    judgements: list[tuple[Any, ...]] = field(default_factory=list)
    """A judge model's verdicts on the run's items (``--judge`` on a shard)."""
    models: list[tuple[Any, ...]] = field(default_factory=list)
    """The ``models`` row (type, size) of the run's model, if the shard store holds one."""

    @property
    def manifest(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.run[6])
        return doc

    @property
    def shards(self) -> set[tuple[int, int]]:
        """(index, count) of the shards this store ran."""
        return {(int(r[3]), int(r[4])) for r in self.planned}


def _tables(db: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def run_ids(path: Path) -> list[str]:
    """The runs a store holds, oldest first (read-only, like every read of a shard)."""
    store = Store(path, readonly=True)
    try:
        return [r.run_id for r in sorted(store.runs(), key=lambda r: r.created_at)]
    finally:
        store.close()


def read_shard(path: Path, run_id: str) -> ShardContent:
    """Everything of ``run_id`` in the store at ``path``: its run row, samples, failures, shard
    items, and the whole completion cache (content-addressed, so copying more is harmless and
    keeps every request a strategy made)."""
    Store(path, readonly=True).close()  # a missing, foreign or newer store fails with one line
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = _tables(db)
        run = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        samples = db.execute("SELECT * FROM samples WHERE run_id=?", (run_id,)).fetchall()
        completions = db.execute("SELECT * FROM completions").fetchall()
        failures = (
            db.execute("SELECT * FROM failures WHERE run_id=?", (run_id,)).fetchall()
            if "failures" in tables
            else []
        )
        planned = (
            db.execute("SELECT * FROM shard_items WHERE run_id=?", (run_id,)).fetchall()
            if "shard_items" in tables
            else []
        )
        judgements = (
            db.execute("SELECT * FROM judgements WHERE run_id=?", (run_id,)).fetchall()
            if "judgements" in tables
            else []
        )
        models = (
            db.execute(
                "SELECT * FROM models WHERE model=(SELECT model FROM runs WHERE run_id=?)",
                (run_id,),
            ).fetchall()
            if "models" in tables
            else []
        )
    except sqlite3.Error as e:
        raise translate(e, path) from None
    finally:
        db.close()
    if run is None:
        raise CothubError(
            f"shard store {path} holds no run {run_id} (another run entirely): every shard of a "
            "merge is the same command with another --shard"
        )
    return ShardContent(
        path, tuple(run), samples, completions, failures, planned, judgements, models
    )


@dataclass(frozen=True, slots=True)
class CopyCounts:
    """What one shard added to the merged store."""

    samples: int
    completions: int
    conflicts: tuple[tuple[str, str], ...]
    """(task, item id) held by both stores with a different completion or verdict: the row
    already merged is kept."""


def copy_shard(out: Store, shard: ShardContent) -> CopyCounts:
    """Union ``shard`` into ``out`` in one transaction; ``INSERT OR IGNORE`` throughout, so that
    a second merge of the same shard (or of its resumed self) changes nothing."""
    run_id = str(shard.run[0])

    def op(db: sqlite3.Connection) -> CopyCounts:
        db.execute(_FAILURES)
        db.execute(_SHARD_ITEMS)
        row = db.execute("SELECT created_at, wall_s FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            # status and summary are settled by finish_merge once every shard is in
            db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,NULL,?)",
                (run_id, shard.run[1], shard.run[2], "incomplete", shard.run[4], shard.run[5],
                 shard.run[6], shard.run[8]),
            )  # fmt: skip
        else:  # the shards ran side by side: the run took as long as the slowest one
            walls = [w for w in (row[1], shard.run[8]) if w is not None]
            db.execute(
                "UPDATE runs SET created_at=MIN(created_at, ?), wall_s=? WHERE run_id=?",
                (shard.run[4], max(walls) if walls else None, run_id),
            )
        before = db.total_changes
        db.executemany("INSERT OR IGNORE INTO completions VALUES (?,?,?,?)", shard.completions)
        added_completions = db.total_changes - before
        conflicts = _conflicts(db, run_id, shard.samples)
        before = db.total_changes
        marks = ",".join("?" * len(shard.samples[0])) if shard.samples else ""
        if shard.samples:
            db.executemany(f"INSERT OR IGNORE INTO samples VALUES ({marks})", shard.samples)
        added_samples = db.total_changes - before
        db.executemany("INSERT OR IGNORE INTO shard_items VALUES (?,?,?,?,?)", shard.planned)
        db.executemany("INSERT OR IGNORE INTO failures VALUES (?,?,?,?,?,?,?,?)", shard.failures)
        db.execute(_JUDGEMENTS)
        if shard.judgements:
            marks = ",".join("?" * len(shard.judgements[0]))
            db.executemany(f"INSERT OR IGNORE INTO judgements VALUES ({marks})", shard.judgements)
        db.execute(_MODELS)
        # What the model is, field by field: the value said most recently wins; a field one
        # store never said ("") does not erase the other's.
        db.executemany(
            "INSERT INTO models VALUES (?,?,?,?) ON CONFLICT(model) DO UPDATE SET "
            + ", ".join(
                f"{f}=CASE WHEN excluded.{f}!='' AND (models.{f}='' OR "
                f"excluded.updated_at>models.updated_at) THEN excluded.{f} ELSE models.{f} END"
                for f in ("type", "size")
            )
            + ", updated_at=MAX(models.updated_at, excluded.updated_at)",
            shard.models,
        )
        # an item failed in one invocation and done in another (or in another shard) is done
        db.execute(
            "DELETE FROM failures WHERE run_id=? AND EXISTS (SELECT 1 FROM samples s WHERE "
            "s.run_id=failures.run_id AND s.task=failures.task AND s.item_id=failures.item_id)",
            (run_id,),
        )
        return CopyCounts(added_samples, added_completions, conflicts)

    result: CopyCounts = out._call(op)
    return result


def _conflicts(
    db: sqlite3.Connection, run_id: str, samples: list[tuple[Any, ...]]
) -> tuple[tuple[str, str], ...]:
    have = {
        (str(r[0]), str(r[1])): tuple(r[2:])
        for r in db.execute(
            f"SELECT task, item_id, {_SAMPLE_CONTENT} FROM samples WHERE run_id=?", (run_id,)
        )
    }
    # samples columns: run_id, task, item_id, ..., completion (8), answer (11), correct (16)
    out = []
    for r in samples:
        mine = have.get((str(r[1]), str(r[2])))
        if mine is not None and mine != (r[8], r[11], r[16]):
            out.append((str(r[1]), str(r[2])))
    return tuple(sorted(out))


def merged_items(store: Store, run_id: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(items the merged shards were given, items with a stored sample), as (task, item id)."""

    def op(db: sqlite3.Connection) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        db.execute(_SHARD_ITEMS)
        planned = {
            (str(t), str(i))
            for t, i in db.execute(
                "SELECT task, item_id FROM shard_items WHERE run_id=?", (run_id,)
            )
        }
        done = {
            (str(t), str(i))
            for t, i in db.execute("SELECT task, item_id FROM samples WHERE run_id=?", (run_id,))
        }
        return planned, done

    result: tuple[set[tuple[str, str]], set[tuple[str, str]]] = store._call(op)
    return result


def shards_seen(store: Store, run_id: str) -> set[tuple[int, int]]:
    """(index, count) of every shard merged into ``store``'s ``run_id``."""

    def op(db: sqlite3.Connection) -> set[tuple[int, int]]:
        db.execute(_SHARD_ITEMS)
        return {
            (int(a), int(b))
            for a, b in db.execute(
                "SELECT DISTINCT shard_index, shard_count FROM shard_items WHERE run_id=?",
                (run_id,),
            )
        }

    result: set[tuple[int, int]] = store._call(op)
    return result


def finish_merge(store: Store, run_id: str, status: str, summary: dict[str, Any] | None) -> None:
    """Settle the merged run's status and summary (recomputed from every merged sample)."""
    summary_json = json.dumps(summary) if summary else None

    def op(db: sqlite3.Connection) -> None:
        db.execute(
            "UPDATE runs SET status=?, summary=? WHERE run_id=?", (status, summary_json, run_id)
        )

    store._call(op)
