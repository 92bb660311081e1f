"""The SQL behind ``cothub view``: narrow, read-only queries that let a browser page over a
100,000-sample run answer in milliseconds (an index of short columns, rows by rowid, texts for
search), beside :meth:`Store.records`, which streams whole records."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cothub.store.sqlite import _SAMPLE_COLUMNS, _SAMPLE_COLUMNS_V4, Store
from cothub.store.writer import translate
from cothub.types import SampleRecord

_LIST_COLUMNS = (
    "task, item_id, subset, correct, answer, finish_reason, disagreement, check_name, "
    "completion_tokens, substr(completion, 1, 160), gold"
)
"""What one row of a sample list shows (the completion cut to its start)."""


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One sample of a run, as the view's in-memory index keeps it."""

    rowid: int
    task: str
    item_id: str
    subset: str
    correct: bool
    unparsed: bool
    truncated: bool
    disagreement: bool
    check: str


def _query(store: Store, sql: str, args: Sequence[Any]) -> list[Any]:
    try:
        return store._db.execute(sql, list(args)).fetchall()
    except sqlite3.Error as e:
        raise translate(e, store.path) from None


def sample_index(store: Store, run_id: str) -> list[IndexRow]:
    """A run's samples in stored order (by task, then as committed), short columns only."""
    rows = _query(
        store,
        "SELECT rowid, task, item_id, subset, correct, answer IS NULL, "
        "finish_reason = 'length', disagreement, check_name FROM samples WHERE run_id = ? "
        "ORDER BY task, rowid",
        (run_id,),
    )
    return [
        IndexRow(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), bool(r[6]), bool(r[7]), r[8])
        for r in rows
    ]


def judge_verdicts(store: Store, run_id: str) -> dict[int, str]:
    """Per rowid of a judged sample, the verdict of its latest judgement (any judge, any prompt
    version): what the view's ``judge`` filter selects on. Empty when none was judged."""
    if not store._has_judgements():
        return {}
    rows = _query(
        store,
        "SELECT s.rowid, j.verdict FROM judgements j JOIN samples s ON s.run_id = j.run_id "
        "AND s.task = j.task AND s.item_id = j.item_id WHERE j.run_id = ? ORDER BY j.created_at",
        (run_id,),
    )
    return {int(r[0]): str(r[1]) for r in rows}  # later judgements replace earlier ones


def judge_stamp(store: Store, run_id: str) -> tuple[int, float]:
    """How many judgements a run has and when the last was made: judging a run does not touch
    the run row, so the view keys what it keeps on this as well as on the run's update time."""
    if not store._has_judgements():
        return (0, 0.0)
    rows = _query(
        store, "SELECT COUNT(*), MAX(created_at) FROM judgements WHERE run_id = ?", (run_id,)
    )
    return (int(rows[0][0]), float(rows[0][1] or 0.0))


def search_texts(store: Store, run_id: str) -> dict[int, str]:
    """Per rowid, the lower-cased item id, question and completion that a search looks in."""
    rows = _query(
        store,
        "SELECT rowid, lower(item_id || char(10) || question || char(10) || completion) "
        "FROM samples WHERE run_id = ?",
        (run_id,),
    )
    return {int(r[0]): str(r[1]) for r in rows}


def sample_counts(store: Store) -> dict[str, int]:
    """Samples per run."""
    return {
        r[0]: int(r[1])
        for r in _query(store, "SELECT run_id, COUNT(*) FROM samples GROUP BY run_id", ())
    }


def list_rows(store: Store, rowids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """The list columns (``_LIST_COLUMNS``) of these samples, by rowid."""
    if not rowids:
        return {}
    marks = ",".join("?" * len(rowids))
    got = _query(
        store, f"SELECT rowid, {_LIST_COLUMNS} FROM samples WHERE rowid IN ({marks})", rowids
    )
    return {r[0]: tuple(r[1:]) for r in got}


def sample_record(store: Store, run_id: str, task: str, item_id: str) -> SampleRecord | None:
    """One stored sample as the record that was written, or None."""
    have = {r[1] for r in _query(store, "PRAGMA table_info(samples)", ())}
    cols = _SAMPLE_COLUMNS if "choices" in have else _SAMPLE_COLUMNS_V4
    rows = _query(
        store,
        f"SELECT {cols} FROM samples WHERE run_id=? AND task=? AND item_id=?",
        (run_id, task, item_id),
    )
    return store._record(rows[0]) if rows else None
