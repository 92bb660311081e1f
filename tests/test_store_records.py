"""The store's typed read path: manifests and samples come back as the records that were written,
and a store written by the released cothub (schema 3) still opens, reads and serves its runs."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cothub.runner import run_id_of
from cothub.store import SampleFilter, Store
from cothub.store.sqlite import SCHEMA_VERSION
from cothub.types import (
    Completion,
    DecomposeStep,
    FeedbackStep,
    Grade,
    GradedStep,
    Message,
    OptionStep,
    ProgramRun,
    ProgramStep,
    Prompt,
    RunManifest,
    Sample,
    SampleRecord,
    StoredStats,
    SubquestionStep,
)

LEGACY = Path(__file__).parent / "fixtures" / "legacy_store"
LEGACY_IDS = ("e06c666c7145", "b75119e1c4dd", "c62400c06423", "f9f61e73957f")
LEGACY_URL = "http://127.0.0.1:37317/v1"  # nothing listens there: every item must be cached


def legacy_store(tmp: Path) -> Path:
    """The schema 3 fixture, loaded into a fresh SQLite file."""
    path = tmp / "legacy.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript((LEGACY / "schema3.sql").read_text())
        db.commit()
    return path


def legacy_data(tmp: Path) -> Path:
    data = tmp / "data"
    (data / "gsm8k").mkdir(parents=True)
    for split in ("test", "train"):
        shutil.copy(LEGACY / "gsm8k_test.jsonl", data / "gsm8k" / f"{split}.jsonl")
    return data


def stored_manifests(path: Path) -> dict[str, dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {r: json.loads(m) for r, m in db.execute("SELECT run_id, manifest FROM runs")}


# ---- manifests ---------------------------------------------------------------------------------


def test_legacy_manifests_round_trip_and_hash_to_their_run_ids(tmp_path: Path) -> None:
    stored = stored_manifests(legacy_store(tmp_path))
    assert sorted(stored) == sorted(LEGACY_IDS)
    for run_id, doc in stored.items():
        man = RunManifest.from_json(doc)
        assert man.as_json() == doc
        assert man.run_id == run_id
    imported = RunManifest.from_json(stored["c62400c06423"])
    assert imported.is_import and imported.strategy is None and imported.selection is None
    assert imported.model.name == "import/legacy-import"
    sc = RunManifest.from_json(stored["b75119e1c4dd"])
    assert sc.strategy is not None and sc.strategy.spec() == (
        "self-consistency:k=3,temperature=0.7,batch=true"
    )
    gen = sc.task("gsm8k")
    assert gen is not None and gen.generation is not None and gen.generation.max_tokens == 512


FRESH = [
    ("gsm8k", ()),
    ("gsm8k", ("--strategy", "self-consistency:k=3,temperature=0.7")),
    ("gsm8k", ("--strategy", "complexity:k=3,temperature=0.7")),
    ("gsm8k", ("--strategy", "self-refine:rounds=1")),
    ("gsm8k", ("--strategy", "least-to-most")),
    ("gsm8k", ("--format", "fewshot-cot", "--api", "completions", "--seed", "3")),
    ("math:levels=5", ()),
    ("mmlu", ("--format", "zeroshot-direct")),
    ("bbh/date_understanding", ()),
]


@pytest.mark.parametrize(("task", "extra"), FRESH)
def test_fresh_manifests_round_trip(
    cli: Any, data_dir: Path, tmp_path: Path, task: str, extra: tuple[str, ...]
) -> None:
    store = tmp_path / "s.db"
    r = cli("run", task, "--model", "fake/repeat:The answer is 2.", "--limit", "2",
            "--data-dir", data_dir, "--store", store, *extra)  # fmt: skip
    assert r.code == 0, r.err
    for run_id, doc in stored_manifests(store).items():
        man = RunManifest.from_json(doc)
        assert man.as_json() == doc
        core = {k: v for k, v in doc.items() if k not in ("started_at", "paths")}
        assert man.run_id == run_id == run_id_of(core)
        with contextlib.closing(Store(store, readonly=True)) as db:
            assert db.manifest(run_id) == man
            items = sum(t.items for _, t in man.tasks)
            assert len(list(db.records(run_id))) == items > 0


def test_import_manifest_round_trips(cli: Any, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    data = legacy_data(tmp_path)
    r = cli("import", "gsm8k", LEGACY / "import.jsonl", "--model-name", "m",
            "--format", "zeroshot-cot", "--data-dir", data, "--store", store)  # fmt: skip
    assert r.code == 0, r.err
    [(run_id, doc)] = stored_manifests(store).items()
    man = RunManifest.from_json(doc)
    assert man.as_json() == doc and man.run_id == run_id and man.is_import
    assert man.paths == (str((LEGACY / "import.jsonl").resolve()),)


# ---- samples -----------------------------------------------------------------------------------


def _record(i: int, correct: bool, answer: str | None, **kw: Any) -> SampleRecord:
    sample = Sample(f"test/{i}", f"Q{i}? \ud800", "7", subset=kw.pop("subset", ""),
                    tags=(("level", "5"),), choices=("a", "b"))  # fmt: skip
    return SampleRecord(
        task=kw.pop("task", "gsm8k"),
        sample=sample,
        prompt=Prompt(
            "chat",
            messages=(Message("system", "S"), Message("user", f"Q{i}")),
            stop=("\n\n",),
            n_exemplars=2,
        ),
        completion=Completion(
            f"<think>hm</think> The answer is {answer}.", "stop", "hm", 10, 5, 2, 0.25
        ),
        grade=Grade(
            correct,
            answer,
            "final-phrase",
            (20, 21) if answer else None,
            "numeric",
            kw.pop("disagreement", False),
        ),
        cache_key=f"k{i}",
        **kw,
    )


def test_records_come_back_as_written_and_filter(tmp_path: Path) -> None:
    steps = (
        GradedStep("sample", "t", "7", True, "stop"),
        GradedStep("revision", "t", None, False, "length", round=1),
        GradedStep("sample", "t", "7", True, "stop", reasoning_steps=3, voted=True),
        FeedbackStep(0, "fine", "correct", "stop"),
        DecomposeStep("d", ("a?", "b?"), "stop"),
        SubquestionStep(1, "a?", "x", "stop"),
        ProgramStep("print(7)", "stop", "ok", "7", True, ProgramRun("", "7\n", "", 0, 0.1)),
        ProgramStep(None, "stop", "no_code", None, False),
        OptionStep(" A", -1.5),
    )
    written = [
        _record(0, True, "7", steps=steps, stats=StoredStats((("answers", ["7"]),)), requests=3),
        _record(1, False, "8", subset="s1"),
        _record(2, False, None, disagreement=True),
        _record(3, True, "7", task="math"),
    ]
    with contextlib.closing(Store(tmp_path / "s.db")) as db:
        db.record("r1", written)
        got = list(db.records("r1"))
        by_id = {(r.task, r.sample.id): r for r in got}
        for w in written:  # a lone surrogate is stored (and read back) as U+FFFD
            clean = replace(w.sample, question=w.sample.question.replace("\ud800", "\ufffd"))
            assert by_id[(w.task, w.sample.id)] == replace(w, sample=clean)
        assert [r.sample.id for r in got] == ["test/0", "test/1", "test/2", "test/3"]

        def ids(f: SampleFilter) -> list[str]:
            return [f"{r.task}:{r.sample.id}" for r in db.records("r1", f)]

        assert ids(SampleFilter(wrong=True)) == ["gsm8k:test/1", "gsm8k:test/2"]
        assert ids(SampleFilter(unparsed=True)) == ["gsm8k:test/2"]
        assert ids(SampleFilter(disagreement=True)) == ["gsm8k:test/2"]
        assert ids(SampleFilter(task="math")) == ["math:test/3"]
        assert ids(SampleFilter(subset="s1")) == ["gsm8k:test/1"]
        assert ids(SampleFilter(wrong=True, limit=1)) == ["gsm8k:test/1"]
        assert ids(SampleFilter(task="nope")) == []
        usage = db.sample_usage("r1")
        assert [(u.task, u.item_id, u.usage.correct, u.usage.requests) for u in usage][:2] == [
            ("gsm8k", "test/0", True, 3), ("gsm8k", "test/1", False, None)]  # fmt: skip


def test_records_stream_a_large_run(tmp_path: Path) -> None:
    with contextlib.closing(Store(tmp_path / "s.db")) as db:
        db.record("big", [_record(i, i % 2 == 0, "7") for i in range(14_000)])
        first = next(db.records("big"))
        assert first.sample.id == "test/0"
        assert sum(r.grade.correct for r in db.records("big")) == 7_000


def test_no_sql_outside_the_store() -> None:
    src = Path(__file__).resolve().parents[1] / "src" / "cothub"
    for path in [src / "cli.py", *(src / "report").glob("*.py"), src / "rescoring.py"]:
        text = path.read_text()
        for word in ("SELECT ", "WHERE ", "INSERT ", ".execute("):
            assert word not in text, (path.name, word)


# ---- a store written by the released cothub (schema 3) -----------------------------------------


def test_legacy_store_reads_correctly(cli: Any, tmp_path: Path) -> None:
    store = legacy_store(tmp_path)
    r = cli("runs", "--store", store)
    assert r.code == 0, r.err
    for run_id in LEGACY_IDS:
        assert run_id in r.out
    assert "gsm8k 50.00" in r.out and "gsm8k 16.67" in r.out
    shown = cli("show", "e06c", "--wrong", "--store", store)
    assert shown.code == 0, shown.err
    assert shown.out.count("gold") == 5 and "'7' (final-phrase)" in shown.out
    sc = cli("show", "b751", "--wrong", "--limit", "1", "--store", store)
    assert "3 steps" in sc.out and "answers: '7', '7', '7'" in sc.out
    board = json.loads(cli("leaderboard", "--format", "json", "--store", store).out)
    cells = {row["model"]: row["cells"] for row in board["rows"]}
    assert cells["import/legacy-import"]["gsm8k:zeroshot-cot"]["run_id"] == "c62400c06423"
    assert cells["openai/legacy-model"]["gsm8k:zeroshot-direct"]["accuracy"] == pytest.approx(1 / 6)
    cmp = json.loads(cli("compare", "e06c", "b751", "c624", "--format", "json",
                         "--store", store).out)["tasks"]["gsm8k"]  # fmt: skip
    assert [row["strategy"] for row in cmp] == [
        "single", "self-consistency:k=3,temperature=0.7,batch=True", "-"]  # fmt: skip
    assert cmp[2]["accuracy"] == 0.5 and cmp[2]["paired"]["shared"] == 6
    with contextlib.closing(Store(store, readonly=True)) as db:  # read as it is: not migrated
        recs = list(db.records("e06c666c7145"))
        assert [r.sample.id for r in recs][:2] == ["test/0", "test/1"]
        assert recs[0].sample.choices == () and recs[0].requests == 1
    with contextlib.closing(sqlite3.connect(store)) as raw:
        assert raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("3",)


@pytest.mark.parametrize(
    ("extra", "run_id"),
    [((), "e06c666c7145"),
     (("--strategy", "self-consistency:k=3,temperature=0.7"), "b75119e1c4dd")],
)  # fmt: skip
def test_legacy_store_serves_the_same_command_with_no_request(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...], run_id: str
) -> None:
    store, out = legacy_store(tmp_path), tmp_path / "o.json"
    before = stored_manifests(store)[run_id]
    legacy_data(tmp_path)
    monkeypatch.chdir(tmp_path)  # the manifest records the data path as given: ``data/...``
    r = cli("run", "gsm8k", "--model", "openai/legacy-model", "--base-url", LEGACY_URL,
            "--format", "zeroshot-cot", "--data-dir", "data", "--store", store,
            "--json", out, *extra)  # fmt: skip
    assert r.code == 0, r.err
    result = json.loads(out.read_text())
    assert result["run_id"] == run_id
    assert result["usage"]["requests"] == 0 and result["usage"]["cached"] == 6
    assert result["tasks"]["gsm8k"]["correct"] == 1
    after = stored_manifests(store)[run_id]
    assert {k: v for k, v in after.items() if k != "started_at"} == {
        k: v for k, v in before.items() if k != "started_at"
    }
    with contextlib.closing(sqlite3.connect(store)) as db:
        version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        columns = {row[1] for row in db.execute("PRAGMA table_info(samples)")}
    assert version == (str(SCHEMA_VERSION),) and "choices" in columns
    with contextlib.closing(Store(store, readonly=True)) as db:
        assert len(list(db.records(run_id))) == 6
