"""``cothub rescore``: a stored run re-graded by today's graders, with no request, as a new run.

Each test changes a grader in-process and checks that the new verdicts, the recomputed vote and the
changed-items list follow it: a rescore that silently kept the stored verdicts fails them."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import cothub
from cothub.errors import CothubError
from cothub.rescoring import rescore
from cothub.store import Store
from cothub.strategies.self_consistency import VoteCurve
from cothub.tasks import TASKS
from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server
from cothub.types import Grade, GradedStep, ProgramStep, Sample, StoredSection
from test_store_records import LEGACY_IDS, legacy_store

GSM8K = type(TASKS["gsm8k"])
_ORIGINAL = GSM8K.grade


def shifted_grader(monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed GSM8K grader: an answer one above the gold is now the right one."""

    def grade(self: Any, sample: Sample, text: str, fmt: Any = "") -> Grade:
        g = _ORIGINAL(self, sample, text, fmt)
        right = g.answer is not None and float(g.answer) == float(sample.gold) + 1
        return replace(g, correct=right)

    monkeypatch.setattr(GSM8K, "grade", grade)


def run(cli: Any, srv: OpenAIStandIn, data: Path, store: Path, *extra: str) -> dict[str, Any]:
    out = store.parent / "run.json"
    r = cli("run", "gsm8k", "--model", "openai/stand-in", "--base-url", srv.base_url,
            "--data-dir", data, "--store", store, "--json", out, *extra)  # fmt: skip
    assert r.code == 0, r.err
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def test_rescore_end_to_end_over_http(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    store, out = tmp_path / "s.db", tmp_path / "r.json"
    first = run(cli, gsm8k_server, data_dir, store, "--limit", "30")
    sent = gsm8k_server.stats.completion_requests
    # Unchanged graders: the same verdicts, nothing changed, the same headline.
    r = cli("rescore", first["run_id"], "--store", store, "--json", out)
    assert r.code == 0, r.err
    same = json.loads(out.read_text())
    assert same["changed"] == [] and "0 changed, 0 requests sent" in r.out
    assert same["rescored_from"] == first["run_id"] and same["run_id"] != first["run_id"]
    for key in ("accuracy", "n", "correct", "ci95", "unparsed", "truncated", "tokens_per_item"):
        assert same["tasks"]["gsm8k"][key] == first["tasks"]["gsm8k"][key], key
    assert same["usage"]["requests"] == 0 and gsm8k_server.stats.completion_requests == sent
    # A changed grader: every answered item flips, and the listing says how.
    shifted_grader(monkeypatch)
    r = cli("rescore", first["run_id"], "--store", store, "--json", out)
    assert r.code == 0, r.err
    moved = json.loads(out.read_text())
    assert gsm8k_server.stats.completion_requests == sent
    with contextlib.closing(Store(store, readonly=True)) as db:
        old = {x.sample.id: x for x in db.records(first["run_id"])}
        new = {x.sample.id: x for x in db.records(moved["run_id"])}
        man = db.manifest(moved["run_id"])
    assert man.rescored_from == first["run_id"] and man.grader_version == "cothub/0.1.0"
    assert {k: v for k, v in man.as_json().items() if k not in
            ("rescored_from", "grader_version", "started_at")} == {
        k: v for k, v in db_manifest(store, first["run_id"]).items() if k != "started_at"
    }  # fmt: skip
    answered = [i for i, x in old.items() if x.grade.answer is not None]
    assert answered and len(moved["changed"]) == len(answered)
    for c in moved["changed"]:
        before, after = old[c["item_id"]], new[c["item_id"]]
        assert c["old_correct"] == before.grade.correct != after.grade.correct == c["new_correct"]
        assert c["old_answer"] == before.grade.answer == c["new_answer"]
        assert after.completion == before.completion and after.cache_key == before.cache_key
    right = sum(x.grade.correct for x in new.values())
    assert moved["tasks"]["gsm8k"]["correct"] == right == len(answered) - first["tasks"]["gsm8k"][
        "correct"]  # fmt: skip
    assert "changed items" in r.out and "wrong" in r.out
    listed = cli("runs", "--store", store)
    assert moved["run_id"] in listed.out and same["run_id"] in listed.out
    shown = cli("show", moved["run_id"], "--wrong", "--store", store)
    assert shown.code == 0 and f"from run {first['run_id']}" in shown.out


def db_manifest(store: Path, run_id: str) -> dict[str, Any]:
    with contextlib.closing(Store(store, readonly=True)) as db:
        return db.manifest(run_id).as_json()


def test_self_consistency_is_revoted_with_the_new_grader(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chains answer 1, 2, 2: the vote says 2. A grader that no longer reads "2" makes 1 win."""
    script = Script(responder=lambda _: [Choice(f"Work.\nThe answer is {a}.") for a in "122"])
    store = tmp_path / "s.db"
    with running_server(script) as srv:
        first = run(cli, srv, data_dir, store, "--limit", "4",
                    "--strategy", "self-consistency:k=3,temperature=0.7")  # fmt: skip
        sent = srv.stats.completion_requests

        def grade(self: Any, sample: Sample, text: str, fmt: Any = "") -> Grade:
            g = _ORIGINAL(self, sample, text, fmt)
            return Grade(False, None, "none") if g.answer == "2" else g

        monkeypatch.setattr(GSM8K, "grade", grade)
        report = rescore(first["run_id"], store)
        assert srv.stats.completion_requests == sent
    assert report.replayed == 4 and report.fallback == 0
    assert [(c.old_answer, c.new_answer) for c in report.changed] == [("2", "1")] * 4
    with contextlib.closing(Store(store, readonly=True)) as db:
        for rec in db.records(report.result.run_id):
            assert rec.grade.answer == "1" and "answer is 1" in rec.completion.text
            assert [s.answer for s in rec.steps if isinstance(s, GradedStep)] == ["1", None, None]
            assert rec.stats is not None and rec.stats.as_json()["group"] == [0, -1, -1]
    sc = report.result.summaries["gsm8k"].section("self_consistency")
    assert isinstance(sc, VoteCurve) and sc.k == (1, 2, 3)


def test_a_run_stored_by_the_released_cothub_can_be_rescored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = legacy_store(tmp_path)
    for run_id in LEGACY_IDS:  # today's graders agree with the release on these items
        report = rescore(run_id, store)
        assert report.changed == () and report.items == 6
        assert report.manifest.rescored_from == run_id
    sc = rescore("b75119e1c4dd", store)
    assert sc.replayed == 6  # the strategy replayed over the legacy cache
    # A changed grader moves the legacy runs' numbers: every reply says 7, the first gold is 7.
    shifted_grader(monkeypatch)
    single = rescore("e06c666c7145", store)
    assert [(c.item_id, c.old_answer, c.new_answer, c.old_correct, c.new_correct)
            for c in single.changed] == [("test/0", "7", "7", True, False)]  # fmt: skip
    assert single.result.summaries["gsm8k"].correct == 0
    # The import answered 7, 61, 54, 121, 32, 57 to golds 7, 60, 54, 120, 32, 56: all flip.
    imported = rescore("c62400c06423", store)
    assert len(imported.changed) == 6 and imported.result.summaries["gsm8k"].correct == 3
    assert sorted(c.item_id for c in imported.changed if c.new_correct) == [
        "test/1", "test/3", "test/5"]  # fmt: skip


def test_rescore_errors_are_one_line(tmp_path: Path) -> None:
    store = legacy_store(tmp_path)
    with pytest.raises(CothubError, match="no run 'nope'"):
        rescore("nope", store)


def test_rescore_is_public() -> None:
    assert cothub.rescore is rescore


def test_a_replay_missing_from_the_cache_regrades_the_final_completion(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The legacy self-consistency run with its cache gone: no replay, yet every graded chain and
    the final verdict follow the changed grader (the stored stats are kept)."""
    store = legacy_store(tmp_path)
    with contextlib.closing(sqlite3.connect(store)) as db:
        db.execute("DELETE FROM completions")
        db.commit()
    shifted_grader(monkeypatch)
    report = rescore("b75119e1c4dd", store)
    assert (report.replayed, report.fallback) == (0, 6)
    assert [(c.item_id, c.old_correct, c.new_correct) for c in report.changed] == [
        ("test/0", True, False)]  # fmt: skip
    with contextlib.closing(Store(store, readonly=True)) as db:
        first = next(db.records(report.result.run_id))
    assert [s.correct for s in first.steps if isinstance(s, GradedStep)] == [False] * 3
    kept = report.result.summaries["gsm8k"].section("self_consistency")  # kept as stored
    assert isinstance(kept, StoredSection) and kept.as_json()["k"] == [1, 2, 3]


PROGRAM = "```python\ndef solution():\n    return 3 + 4\n```"


def test_program_aided_answers_are_regraded_without_running_again(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, out = tmp_path / "s.db", tmp_path / "o.json"
    r = cli("run", "gsm8k", "--model", f"fake/repeat:{PROGRAM}", "--strategy", "program",
            "--limit", "3", "--data-dir", data_dir, "--store", store, "--json", out)  # fmt: skip
    assert r.code == 0, r.err
    run_id = json.loads(out.read_text())["run_id"]
    import cothub.strategies.program as program

    def never(*_: Any) -> Any:
        raise AssertionError("a rescore ran a program")

    monkeypatch.setattr(program, "_run", never)

    def grade(self: Any, sample: Sample, text: str, fmt: Any = "") -> Grade:
        return replace(_ORIGINAL(self, sample, text, fmt), correct=True)  # everything is right

    monkeypatch.setattr(GSM8K, "grade", grade)
    report = rescore(run_id, store)
    assert report.result.summaries["gsm8k"].correct == 3
    with contextlib.closing(Store(store, readonly=True)) as db:
        recs = list(db.records(report.result.run_id))
    assert all(r.grade.answer == "7" and r.grade.correct for r in recs)
    assert all(s.correct for r in recs for s in r.steps if isinstance(s, ProgramStep))
