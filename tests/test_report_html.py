"""``cothub report``: one self-contained HTML file from real stores (no browser here; see
test_browser.py for Chromium), and ``cothub export``.

The stores are made the way a user makes them: ``cothub run`` against the loopback OpenAI
stand-in, two models on the same GSM8K items (each right where the other is wrong on some), one
self-consistency run; a hostile store is written through the store API with markup in every
text a model or a user controls.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import gold_of, gsm8k_items, question_of
from cothub.testing.openai_server import Choice, Script, running_server

# ---- stores (also used by test_view.py, test_browser.py and benchmarks/view_speed.py) --------

N_ITEMS = 40
PAYLOADS = (
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=2">',
    '<a href="javascript:window.__pwned=3">click</a>',
    "</script><script>window.__pwned=4</script>",
    '"><svg onload="window.__pwned=5">',
)
HOSTILE = " ".join(PAYLOADS)
SECRET = "sk-test-SECRET-0123456789abcdef0123"


def plan(model: str, i: int) -> str:
    """What model A (``stand-in``) or B (``stand-in-b``) does on GSM8K item ``i``."""
    if i % 10 == 0:
        return "unparsed"
    if i % 13 == 0:
        return "truncated"
    right = i % 2 == 0
    if model.endswith("-b") and i % 3 == 0:
        right = not right  # B is right on some items where A is wrong, and the reverse
    return "right" if right else "wrong"


def two_model_script(data: Path) -> Script:
    items = gsm8k_items(data)
    index = {it["question"].split("\n")[0]: i for i, it in enumerate(items)}

    def respond(request: dict[str, Any]) -> list[Choice]:
        i = index[question_of(request)]
        model = str(request.get("model", ""))
        gold = gold_of(items[i]).replace(",", "")
        n = int(request.get("n") or 1)
        kind = plan(model, i)
        think = f"thinking about item {i} carefully"
        if kind == "unparsed":
            return [Choice("Let's think step by step\nI cannot solve this.", reasoning=think)] * n
        if kind == "truncated":
            return [Choice("Let's think step by step\nFirst we", "length", think)] * n
        out = []
        for j in range(n):  # self-consistency: the chains differ a little
            ok = (kind == "right") != (n > 1 and j % 3 == 2)
            answer = gold if ok else str(int(gold) + 1)
            work = "3 + 4 = 7" if model.endswith("-b") else "4 + 3 = 7"
            out.append(
                Choice(
                    f"Let's think step by step\nSome working: {work}.\nThe answer is {answer}.",
                    reasoning=think,
                )
            )
        return out

    return Script(responder=respond)


@dataclass
class Stores:
    path: Path
    a: str
    """Run id of model A (single)."""
    b: str
    """Run id of model B (single)."""
    sc: str
    """Run id of model A with self-consistency k=4."""


def build_stores(cli: Any, data: Path, tmp: Path, n_items: int = N_ITEMS) -> Stores:
    store = tmp / "hub.db"
    ids = []
    with running_server(two_model_script(data), models=("stand-in", "stand-in-b")) as srv:
        for model, extra in (
            ("stand-in", ()),
            ("stand-in-b", ()),
            ("stand-in", ("--strategy", "self-consistency:k=4")),
        ):
            out = tmp / f"out-{len(ids)}.json"
            r = cli(
                "run",
                "gsm8k",
                "--model",
                f"openai/{model}",
                "--base-url",
                srv.base_url,
                "--data-dir",
                str(data),
                "--store",
                str(store),
                "--json",
                str(out),
                "--limit",
                str(n_items),
                *extra,
            )
            assert r.code == 0, r.err
            ids.append(json.loads(out.read_text())["run_id"])
    return Stores(store, *ids)


HOSTILE_JUDGE = f"openai/judge{PAYLOADS[0]}"
HOSTILE_REPLY = f"VERDICT: correct {HOSTILE}"


def hostile_judgement(run_id: str, task: str) -> Any:
    """A judge's second opinion on the hostile run's disagreeing item 2, markup in its judge
    name and its reply."""
    from cothub.store.sqlite import Judgement

    item = f"item2{PAYLOADS[3]}"
    return Judgement(run_id, task, item, HOSTILE_JUDGE, "judge-v1", "disagreement", "correct",
                     HOSTILE_REPLY, 5, 3, 0, None, "judge-key-2")  # fmt: skip


def hostile_store(path: Path) -> str:
    """A run whose model, task, subset, prompt, question, gold, completion and thinking all hold
    markup that would execute if a page ever let it through; returns its run id."""
    from cothub.store import Store
    from cothub.types import (
        Completion,
        Grade,
        Message,
        ModelId,
        Prompt,
        RunManifest,
        Sample,
        SampleRecord,
        TaskManifest,
    )

    task = "task<script>window.__pwned=9</script>"
    manifest = RunManifest(
        model=ModelId("openai", f"m{PAYLOADS[1]}", f"http://user:{SECRET}@127.0.0.1:9/v1", "chat"),
        tasks=((task, TaskManifest("1", f"fmt{PAYLOADS[0]}", items=3)),),
        grader="cothub/test",
    )
    run_id = manifest.run_id
    model = manifest.model.name
    store = Store(path)
    try:
        store.begin_run(run_id, model, [task], manifest)
        recs = []
        for i in range(3):
            text = f"Reasoning {HOSTILE} {SECRET} The answer is {i}."
            start = text.rindex(str(i))
            recs.append(
                SampleRecord(
                    task=task,
                    sample=Sample(
                        f"item{i}{PAYLOADS[3]}",
                        f"Q {HOSTILE}",
                        f"{i}{PAYLOADS[2]}",
                        f"sub{i}{PAYLOADS[4]}",
                        (("level", f"{i}{PAYLOADS[0]}"),),
                    ),
                    prompt=Prompt(
                        "chat",
                        messages=(
                            Message("user", f"shot {HOSTILE}"),
                            Message("assistant", f"A {HOSTILE}"),
                            Message("user", f"Q {HOSTILE}"),
                        ),
                    ),
                    completion=Completion(
                        text, "stop" if i else "length", f"think {HOSTILE}", 10, 20 + i, 5, 0.1
                    ),
                    grade=Grade(
                        i == 1,
                        str(i),
                        f"final{PAYLOADS[1]}",
                        (start, start + 1),
                        f"exact{PAYLOADS[2]}",
                        disagreement=i == 2,
                    ),
                    cache_key=f"k{i}",
                )
            )
        store.record(run_id, recs)
        store.record_judgements([hostile_judgement(run_id, task)])
        summary = {
            task: {
                "accuracy": 1 / 3,
                "n": 3,
                "correct": 1,
                "ci95": [0.06, 0.79],
                "unparsed": 0,
                "truncated": 1,
            }
        }
        store.finish_run(run_id, "complete", summary)
    finally:
        store.close()
    return run_id


PUBLISHED_CSV = (
    "model,params,type,gsm8k,math,mmlu,bbh,humaneval,sources,repo,commit,commit_date,path\n"
    "gpt-4,?,RLHF,92.0,42.5,86.4,,67.0,OpenAI website,FranxYao/chain-of-thought-hub,abc123,"
    "2023-06-14,readme.md\n"
    'evil<script>window.__pwned=7</script>,?,Base,50.0,,,,,"<img src=x onerror=alert(1)>",x,y,'
    "2023-06-14,readme.md\n"
)


def published_csv(tmp: Path) -> Path:
    """A small published-leaderboard file in the shipped CSV's shape (not its contents)."""
    p = tmp / "published.csv"
    p.write_text(PUBLISHED_CSV, encoding="utf-8")
    return p


def report_data(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="cothub-data">(.*?)</script>', html, re.S)
    assert m, "the report embeds its data"
    data: dict[str, Any] = json.loads(m.group(1))
    return data


@pytest.fixture
def stores(cli: Any, data_dir: Path, tmp_path: Path) -> Iterator[Stores]:
    yield build_stores(cli, data_dir, tmp_path)


# ---- the report --------------------------------------------------------------------------------


def test_report_is_self_contained_with_provenance_board_and_plots(
    cli: Any, stores: Stores, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    pub = published_csv(tmp_path)
    r = cli("report", "--store", str(stores.path), "-o", str(out), "--published", str(pub))
    assert r.code == 0, r.err
    html = out.read_text()
    # offline: nothing outside the file is referenced
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "@import" not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp and "default-src 'none'" in csp.group(1) and "unsafe-inline" not in csp.group(1)
    data = report_data(html)
    runs = {d["run_id"]: d for d in data["runs"]}
    assert set(runs) == {stores.a, stores.b, stores.sc}
    # the numbers are the stored ones
    from cothub.store import open_store

    db = open_store(stores.path, readonly=True)
    for rid in (stores.a, stores.b):
        head = db.run(rid).summary["gsm8k"]  # type: ignore[index]
        cell = runs[rid]["cells"]["gsm8k"]
        assert cell["accuracy"] == pytest.approx(head.accuracy)
        assert cell["n"] == head.n == N_ITEMS
        assert cell["truncated"] == head.truncated
        assert cell["tokens_per_item"] > 0
        recs = list(db.records(rid))
        assert cell["unparsed"] == sum(x.grade.answer is None for x in recs)
        done = [x for x in recs if x.completion.finish_reason != "length"]
        assert cell["completed_accuracy"] == pytest.approx(
            sum(x.grade.correct for x in done) / len(done)
        )
        assert f"{100 * head.accuracy:.1f}" in html
    prov = runs[stores.a]["provenance"]
    for key in (
        "model",
        "endpoint",
        "gsm8k: format",
        "gsm8k: exemplars",
        "gsm8k: dataset",
        "gsm8k: generation",
        "prompts sha256",
        "grader",
        "report by",
        "date",
        "cost",
    ):
        assert key in prov, key
    assert prov["model"] == "openai/stand-in" and "127.0.0.1" in prov["endpoint"]
    assert re.search(r"sha256:[0-9a-f]{64}", prov["gsm8k: dataset"])
    # plots: per-benchmark CI, curves for self-consistency, Pareto, histograms, agreement
    for name in ("accuracy-ci", "curves-gsm8k", "pareto-tokens-gsm8k", "lengths-", "agreement"):
        assert f'data-plot="{name}' in html, name
    # the published rows, marked, with their source
    assert data["published"][0]["model"] == "gpt-4"
    assert 'class="published"' in html and "OpenAI website" in html
    assert "92.0" in html


def test_report_of_chosen_runs_and_leaderboard(cli: Any, stores: Stores, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = cli(
        "report",
        stores.a,
        stores.b[:8],
        "--store",
        str(stores.path),
        "-o",
        str(out),
        "--published",
        str(published_csv(tmp_path)),
    )
    assert r.code == 0, r.err
    assert [d["run_id"] for d in report_data(out.read_text())["runs"]] == [stores.a, stores.b]
    r = cli(
        "report",
        "--leaderboard",
        "--store",
        str(stores.path),
        "-o",
        str(out),
        "--published",
        str(published_csv(tmp_path)),
    )
    assert r.code == 0, r.err
    ids = {d["run_id"] for d in report_data(out.read_text())["runs"]}
    assert ids == {stores.a, stores.b, stores.sc}  # one run per model, format and strategy


def test_report_without_published_file_says_how_to_point_at_it(
    cli: Any, stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COTHUB_REFERENCE_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setattr("cothub.report.views.default_published_path", lambda: None)
    out = tmp_path / "r.html"
    r = cli("report", stores.a, "--store", str(stores.path), "-o", str(out))
    assert r.code == 0, r.err
    assert "--published" in r.err and "COTHUB_REFERENCE_DIR" in r.err
    assert report_data(out.read_text())["published"] == []


def test_report_escapes_hostile_text_and_masks_secrets(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    store = tmp_path / "hostile.db"
    rid = hostile_store(store)
    out = tmp_path / "h.html"
    r = cli(
        "report", "--store", str(store), "-o", str(out), "--published", str(published_csv(tmp_path))
    )
    assert r.code == 0, r.err
    html = out.read_text()
    assert SECRET not in html
    body = html.split("<body>", 1)[1]
    # exactly one executable script: the report's own sort script (hash-pinned by the CSP)
    assert len(re.findall(r"<script(?![^>]*application/json)", body)) == 1
    for bad in ("<img", "<svg onload", '<a href="javascript'):
        assert bad not in body, bad
    assert "&lt;script&gt;window.__pwned=9&lt;/script&gt;" in html
    # the judge's name and verdict in the grader panel, escaped like every other text
    assert "openai/judge&lt;script&gt;window.__pwned=1&lt;/script&gt;: correct" in html
    assert "judge openai/judge&lt;script&gt;" in html
    assert 'data-plot="heatmap-task' in html and 'data-plot="levels-' in html  # 3 subsets
    assert rid in html


# ---- export ------------------------------------------------------------------------------------


def test_export_jsonl_csv_parquet(cli: Any, stores: Stores, tmp_path: Path) -> None:
    from cothub.report.export import FIELDS

    j = tmp_path / "s.jsonl"
    r = cli("export", stores.sc, "--format", "jsonl", "-o", str(j), "--store", str(stores.path))
    assert r.code == 0, r.err
    rows = [json.loads(line) for line in j.read_text().splitlines()]
    assert len(rows) == N_ITEMS and tuple(rows[0]) == FIELDS
    assert rows[0]["run_id"] == stores.sc and rows[0]["prompt"]["style"] == "chat"
    assert any(len(x["steps"]) == 4 for x in rows) and any(x["stats"] for x in rows)
    assert sum(x["truncated"] for x in rows) == sum(x["finish_reason"] == "length" for x in rows)
    c = tmp_path / "s.csv"
    r = cli("export", stores.a, "--format", "csv", "-o", str(c), "--store", str(stores.path))
    assert r.code == 0, r.err
    with c.open(newline="") as f:
        crows = list(csv.DictReader(f))
    assert len(crows) == N_ITEMS and tuple(crows[0]) == FIELDS
    assert {x["correct"] for x in crows} == {"True", "False"}
    pa = pytest.importorskip("pyarrow.parquet")
    p = tmp_path / "s.parquet"
    r = cli("export", stores.b, "--format", "parquet", "-o", str(p), "--store", str(stores.path))
    assert r.code == 0, r.err
    t = pa.read_table(p)
    assert t.num_rows == N_ITEMS and tuple(t.column_names) == FIELDS
