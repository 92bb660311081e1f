"""A new report is one function over the typed read path: no SQL, no change to cothub.

The report here (accuracy per sub-task beside the items a model got wrong, the shape of a
"where does it fail" page) is written the way a user or a new ``report/`` module writes one: it
lists runs with ``Store.runs()`` and reads ``SampleRecord``s with ``Store.records`` and a
``SampleFilter``. It is checked against the summary the run stored, over a real BBH import of
records this test writes.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from cothub.store import SampleFilter, Store, open_store
from cothub.types import SampleRecord


def failure_report(store: Store, run_id: str) -> dict[str, Any]:
    """Per sub-task: accuracy, and each wrong item with the answer the model committed to."""
    row = store.run(run_id)
    n, right = Counter[str](), Counter[str]()
    for r in store.records(run_id):
        n[r.sample.subset] += 1
        right[r.sample.subset] += r.grade.correct
    wrong: list[SampleRecord] = list(store.records(run_id, SampleFilter(wrong=True)))
    return {
        "model": row.model,
        "format": {name: t.format for name, t in row.manifest.tasks},
        "accuracy": {s: right[s] / n[s] for s in sorted(n)},
        "wrong": [(r.sample.id, r.grade.answer, r.sample.gold) for r in wrong],
    }


def test_a_report_of_ones_own_reads_typed_records_and_agrees_with_the_run(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    records = []
    for sub, answers in (("boolean_expressions", ["True", "False", "True"]),
                         ("sports_understanding", ["yes", "no"])):  # fmt: skip
        for i, a in enumerate(answers):
            records.append({"id": f"{sub}/{i}", "completion": f"So the answer is {a}."})
    f = tmp_path / "out.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    r = cli("import", "bbh", f, "--model-name", "m", "--data-dir", data_dir,
            "--store", tmp_path / "s.db", "--json", tmp_path / "o.json")  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "o.json").read_text())
    store = open_store(tmp_path / "s.db", readonly=True)
    try:
        (run,) = store.runs()
        report = failure_report(store, run.run_id)
    finally:
        store.close()
    assert report["model"] == "import/m" and report["format"] == {"bbh": "fewshot-cot"}
    for sub, acc in report["accuracy"].items():  # the same numbers the run stored
        assert acc == out["tasks"][f"bbh/{sub}"]["accuracy"], sub
    stored_wrong = sum(t["n"] - t["correct"] for k, t in out["tasks"].items() if "/" in k)
    assert len(report["wrong"]) == stored_wrong and stored_wrong > 0
    assert all(answer != gold for _, answer, gold in report["wrong"])
