"""Task summaries are typed records: what the metrics, the strategy and the cost accounting add
comes back from the store as the record that was written, and ``as_json`` is the ``--json`` and
stored shape, key for key and in order, for real runs and for a store of the released cothub."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cothub.rescoring import rescore
from cothub.store import Store
from cothub.strategies.self_consistency import VoteCurve
from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server
from cothub.types import Accounting, StoredSection, TaskSummary
from test_store_records import LEGACY_IDS, legacy_store

REPLIES = (
    "Adding them up, the answer is 18.",
    "The answer is (B).",
    "So the final answer is $\\boxed{2}$.",
    "I am not sure.",
    "The answer is 3.",
)


def _reply(body: dict[str, Any]) -> list[Choice]:
    """A fixed reply per prompt (varied across prompts), three distinct chains for a vote."""
    text = json.dumps(body.get("messages") or body.get("prompt"))
    h = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    return [Choice(REPLIES[(h + i) % len(REPLIES)]) for i in range(3)]


@pytest.fixture(scope="module")
def server() -> Any:
    with running_server(Script(responder=_reply)) as srv:
        yield srv


RUNS = [
    ("gsm8k", ("--limit", "6", "--strategy", "self-consistency:k=3,temperature=0.7"),
     ["self_consistency"]),
    ("gsm8k", ("--limit", "4", "--strategy", "self-refine:rounds=1"), ["self_refine"]),
    ("gsm8k", ("--limit", "4", "--strategy", "complexity:k=3,temperature=0.7"), ["complexity"]),
    ("gsm8k", ("--limit", "4", "--strategy", "least-to-most"), ["least_to_most"]),
    ("math", ("--limit", "20"), ["macro_accuracy", "by_level"]),  # subjects and levels
    ("mmlu", ("--limit", "20", "--format", "zeroshot-direct"), ["macro_accuracy", "by_category"]),
    ("bbh", ("--limit", "30"), ["micro_accuracy", "subsets"]),  # a macro headline
    ("bbeh", ("--limit", "30"), ["macro_accuracy", "micro_accuracy", "subsets"]),  # harmonic
]  # fmt: skip
"""Task, options, and the headline's keys between the extraction counts and the accounting."""
HEAD = [
    "accuracy",
    "n",
    "correct",
    "ci95",
    "unparsed",
    "truncated",
    "aggregate",
    "disagreements",
    "unparsed_rate",
    "truncated_rate",
    "disagreement_rate",
    "unclosed_thinking",
    "reasoning_tokens_per_item",
    "methods",
    "method_rates",
    "weakest_fallback_rate",
]
ACCOUNTING = ["tokens_per_item", "requests_per_item", "cost_usd", "cost_per_item",
              "cost_per_correct"]  # fmt: skip
COST = ("cost_usd", "cost_per_item", "cost_per_correct")


def _stored(store: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(store)) as db:
        return dict(db.execute("SELECT run_id, summary FROM runs"))


def _same(a: object, b: object) -> bool:
    """Equal values with the same keys in the same order, at every depth."""
    return json.dumps(a) == json.dumps(b)


@pytest.mark.parametrize(
    ("task", "extra", "middle"), RUNS, ids=[f"{t}{e[2:4]}" for t, e, _ in RUNS]
)
def test_real_runs_round_trip_through_the_store_as_typed_summaries(
    cli: Any,
    server: OpenAIStandIn,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    task: str,
    extra: tuple[str, ...],
    middle: list[str],
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"openai/stand-in": {"prompt": 1.5, "completion": 4.0}}}')
    monkeypatch.setenv("COTHUB_PRICES", str(prices))  # the rescore below prices the same way
    store, out = tmp_path / "s.db", tmp_path / "out.json"
    r = cli("run", task, "--model", "openai/stand-in", "--base-url", server.base_url,
            "--data-dir", data_dir, "--store", store, "--json", out, *extra)  # fmt: skip
    assert r.code == 0, r.err
    doc = json.loads(out.read_text())
    tasks: dict[str, Any] = doc["tasks"]
    assert list(tasks[task]) == HEAD + middle + ACCOUNTING  # the --json shape, pinned
    assert all(list(v) == HEAD for k, v in tasks.items() if k != task)  # subsets
    assert _same(json.loads(_stored(store)[doc["run_id"]]), tasks)  # --json is what is stored
    for d in tasks.values():
        assert _same(TaskSummary.from_json(d).as_json(), d)

    with contextlib.closing(Store(store, readonly=True)) as db:
        typed = db.run(doc["run_id"]).summary
    assert typed is not None and _same({k: v.as_json() for k, v in typed.items()}, tasks)
    head = typed[task]
    assert head.extraction is not None and head.extraction.methods is not None
    assert sum(c for _, c in head.extraction.methods) == head.n
    assert isinstance(head.accounting, Accounting) and head.accounting.cost_usd
    assert head.accounting.cost_per_item == pytest.approx(head.accounting.cost_usd / head.n)
    assert not head.unknown
    subsets = [v for k, v in typed.items() if k.startswith(f"{task}/")]
    if head.aggregate == "macro":
        assert head.subsets == len(subsets) and head.micro_accuracy is not None
        assert head.accuracy == pytest.approx(sum(s.accuracy for s in subsets) / len(subsets))
    elif subsets:
        assert head.macro_accuracy == pytest.approx(sum(s.accuracy for s in subsets) / len(subsets))
    for b in head.breakdowns:  # every item carries the tag: the groups partition the items
        assert sum(s.n for _, s in b.groups) == head.n
        assert sum(s.correct for _, s in b.groups) == head.correct
    if task in ("math", "mmlu"):
        assert [b.tag for b in head.breakdowns] == ["level" if task == "math" else "category"]
    if "--strategy" in extra:
        [(key, section)] = head.sections
        assert isinstance(section, StoredSection)  # the store does not import strategies
        assert key == extra[extra.index("--strategy") + 1].split(":")[0].replace("-", "_")
        assert section.as_json() == tasks[task][key]
    else:
        assert not head.sections

    # Re-grading with unchanged graders rebuilds every part and writes the same summary.
    report = rescore(doc["run_id"], store)
    assert not report.changed
    again = {k: v.as_json() for k, v in report.result.summaries.items()}
    assert [list(v) for v in again.values()] == [list(v) for v in tasks.values()]
    for k, v in tasks.items():  # the rescore sums costs in store order, the run in dataset order
        cost = {c: pytest.approx(v[c], rel=1e-12) for c in COST if v.get(c) is not None}
        assert again[k] == {**v, **cost}
    if any(e.startswith("self-consistency") for e in extra):
        curve = report.result.summaries[task].section("self_consistency")
        assert isinstance(curve, VoteCurve) and curve.k == (1, 2, 3)


def test_summaries_of_the_released_cothub_read_back_typed_and_write_out_the_same(
    tmp_path: Path,
) -> None:
    store = legacy_store(tmp_path)
    stored = {k: json.loads(v) for k, v in _stored(store).items()}
    assert sorted(stored) == sorted(LEGACY_IDS)
    with contextlib.closing(Store(store, readonly=True)) as db:
        typed = {run_id: db.run(run_id).summary for run_id in stored}
    for run_id, doc in stored.items():
        summary = typed[run_id]
        assert summary is not None and _same({k: v.as_json() for k, v in summary.items()}, doc)
        head = summary["gsm8k"]
        # 0.1.0 did not count extraction methods: none is invented, none is written.
        assert head.extraction is not None and head.extraction.methods is None
        assert head.extraction.weakest_fallback_rate is None and not head.unknown
    assert typed["c62400c06423"] is not None and typed["c62400c06423"]["gsm8k"].accounting is None
    sc = typed["b75119e1c4dd"]
    assert sc is not None
    acct = sc["gsm8k"].accounting
    assert acct is not None and acct.requests_per_item == 1.0 and acct.cost_usd is None
    assert acct.tokens_per_item.completion == 42.0
    section = sc["gsm8k"].section("self_consistency")
    assert isinstance(section, StoredSection) and section.as_json()["k"] == [1, 2, 3]


def test_keys_this_build_does_not_know_are_kept_in_place() -> None:
    d = {
        "accuracy": 0.5, "n": 2, "correct": 1, "ci95": [0.1, 0.9], "unparsed": 0,
        "truncated": 0, "aggregate": "micro", "macro_accuracy": 0.25,
        "by_level": {"1": {"accuracy": 1.0, "n": 1, "correct": 1, "ci95": [0.2, 1.0],
                           "unparsed": 0, "truncated": 0, "aggregate": "micro"}},
        "some_strategy": {"rounds": [1, 2]}, "future_metric": 3,
    }  # fmt: skip
    s = TaskSummary.from_json(d)
    assert _same(s.as_json(), d)
    assert s.extraction is None and s.accounting is None and s.macro_accuracy == 0.25
    level = s.breakdown("level")
    assert level is not None and level.get("1") == TaskSummary(1.0, 1, 1, (0.2, 1.0))
    assert s.unknown == (("future_metric", 3),)
    assert s.section("some_strategy") == StoredSection((("rounds", [1, 2]),))


def test_a_damaged_stored_summary_is_one_line_that_names_the_fix(cli: Any, tmp_path: Path) -> None:
    store = legacy_store(tmp_path)
    with contextlib.closing(sqlite3.connect(store)) as db:
        db.execute(
            "UPDATE runs SET summary=? WHERE run_id='e06c666c7145'",
            ('{"gsm8k": {"n": 6, "ci95": [0, 1]}}',),
        )
        db.commit()
    r = cli("runs", "--store", store)
    assert r.code != 0 and r.err.count("\n") == 1
    assert "damaged run row 'e06c666c7145' (summary: no 'accuracy')" in r.err
    assert "DELETE FROM runs WHERE run_id='e06c666c7145'" in r.err
