"""``cothub export RUN_ID --format jsonl|csv|parquet``: every stored sample of a run.

The schema (stable; new fields are only ever appended), one record per sample, in stored order:

====================  =======  ==========================================================
field                 type     meaning
====================  =======  ==========================================================
run_id                str      the run
model                 str      ``provider/model``
task                  str      benchmark (``gsm8k``, ``bbh``, ...)
item_id               str      stable item id within the task
subset                str      BBH task / MMLU subject / MATH subject; empty if none
tags                  str      JSON object of extra breakdown keys (``{"level": "3"}``)
question              str      the item text
gold                  str      the reference answer as graded
prompt                str      JSON: the rendered prompt (``style``, ``messages`` or ``prompt``,
                               ``stop``, ``n_exemplars``)
completion            str      the model's text
reasoning             str?     separately returned thinking (null: none)
finish_reason         str      ``stop``, ``length`` (truncated), ``error``, ``other``
answer                str?     extracted, normalised answer (null: unparsed)
method                str      which extraction rule found it
span_start, span_end  int?     the answer's character offsets in ``completion``
check                 str      which equivalence check decided
correct               bool     the verdict
disagreement          bool     another extraction or check would disagree
truncated             bool     ``finish_reason == "length"``
prompt_tokens         int
completion_tokens     int
reasoning_tokens      int
latency_s             float
requests              int?     model requests behind the sample (null: unknown)
cache_key             str      the completion cache key
steps                 str      JSON list of a strategy's intermediate steps (``[]``: none)
stats                 str?     JSON object of a strategy's per-sample stats (votes, ...)
====================  =======  ==========================================================

In JSONL ``tags``, ``prompt``, ``steps`` and ``stats`` are nested JSON values rather than
strings; in CSV and Parquet they are JSON text, and CSV writes null as an empty field.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from cothub.errors import CothubError, redact
from cothub.store import Store
from cothub.types import SampleRecord

FIELDS = (
    "run_id",
    "model",
    "task",
    "item_id",
    "subset",
    "tags",
    "question",
    "gold",
    "prompt",
    "completion",
    "reasoning",
    "finish_reason",
    "answer",
    "method",
    "span_start",
    "span_end",
    "check",
    "correct",
    "disagreement",
    "truncated",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "latency_s",
    "requests",
    "cache_key",
    "steps",
    "stats",
)
NESTED = ("tags", "prompt", "steps", "stats")


def record_dict(run_id: str, model: str, r: SampleRecord) -> dict[str, Any]:
    """One sample as the export schema has it (nested fields as JSON values)."""
    s, c, g = r.sample, r.completion, r.grade
    span = g.span or (None, None)
    return {
        "run_id": run_id,
        "model": model,
        "task": r.task,
        "item_id": s.id,
        "subset": s.subset,
        "tags": dict(s.tags),
        "question": redact(s.question),
        "gold": s.gold,
        "prompt": {**r.prompt.as_json(), "n_exemplars": r.prompt.n_exemplars},
        "completion": redact(c.text),
        "reasoning": None if c.reasoning is None else redact(c.reasoning),
        "finish_reason": c.finish_reason,
        "answer": g.answer,
        "method": g.method,
        "span_start": span[0],
        "span_end": span[1],
        "check": g.check,
        "correct": g.correct,
        "disagreement": g.disagreement,
        "truncated": c.finish_reason == "length",
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "reasoning_tokens": c.reasoning_tokens,
        "latency_s": c.latency_s,
        "requests": r.requests,
        "cache_key": r.cache_key,
        "steps": [st.as_json() for st in r.steps],
        "stats": None if r.stats is None else r.stats.as_json(),
    }


def records(store: Store, run_id: str) -> Iterator[dict[str, Any]]:
    run = store.run(run_id)
    for r in store.records(run.run_id):
        yield record_dict(run.run_id, run.model, r)


def _flat(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    for k in NESTED:
        if out[k] is not None:
            out[k] = json.dumps(out[k], ensure_ascii=False)
    return out


def export(store: Store, run_id: str, fmt: str, out: Path | None, stdout: IO[str]) -> int:
    """Write every sample of the run; returns how many. ``out`` None: stdout (not parquet)."""
    rows = records(store, run_id)
    if fmt == "parquet":
        if out is None:
            raise CothubError("parquet is binary: give -o FILE.parquet")
        return _parquet(rows, out)
    n = 0
    f = stdout if out is None else out.open("w", encoding="utf-8", newline="")
    try:
        if fmt == "jsonl":
            for d in rows:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
                n += 1
        elif fmt == "csv":
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            for d in rows:
                w.writerow({k: "" if v is None else v for k, v in _flat(d).items()})
                n += 1
        else:
            raise CothubError(f"unknown export format {fmt!r}; use jsonl, csv or parquet")
    finally:
        if out is not None:
            f.close()
    return n


def _parquet(rows: Iterator[dict[str, Any]], out: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CothubError(
            "--format parquet needs pyarrow (a dependency of datasets): pip install pyarrow"
        ) from None
    ints = (
        "span_start",
        "span_end",
        "prompt_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "requests",
    )
    bools = ("correct", "disagreement", "truncated")
    schema = pa.schema(
        [
            (
                k,
                pa.int64()
                if k in ints
                else pa.bool_()
                if k in bools
                else pa.float64()
                if k == "latency_s"
                else pa.string(),
            )
            for k in FIELDS
        ]
    )
    n = 0
    with pq.ParquetWriter(str(out), schema) as w:
        batch: list[dict[str, Any]] = []
        for d in rows:
            batch.append(_flat(d))
            n += 1
            if len(batch) >= 5000:
                w.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch or n == 0:
            w.write_table(pa.Table.from_pylist(batch, schema=schema))
    return n
