"""--shard I/N, cothub merge and cothub plan, end to end against the loopback stand-in server."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cothub.errors import CothubError
from cothub.scale.shard import Shard, parse_shard, shard_of
from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server

TASKS = ("gsm8k", "bbh/navigate", "bbh/date_understanding")


def respond(request: dict[str, Any]) -> list[Choice]:
    """A model whose answer depends on the question alone: right, wrong or no answer."""
    text = json.dumps(request.get("messages") or request.get("prompt"))
    h = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    if "(A)" not in text:
        return [Choice(f"Let's think step by step.\nThe answer is {h % 7}.")]
    return [Choice(f"Let's think step by step.\nSo the answer is ({'ABC'[h % 3]}).")]


@pytest.fixture
def server() -> Iterator[OpenAIStandIn]:
    with running_server(Script(responder=respond)) as srv:
        yield srv


def args(srv: OpenAIStandIn, data: Path, store: Path, *extra: str) -> list[str]:
    return [
        "run", *TASKS, "--model", "openai/stand-in", "--base-url", srv.base_url,
        "--data-dir", str(data), "--store", str(store), "--limit", "8", "--concurrency", "4",
        *extra,
    ]  # fmt: skip


def items_of(store: Path) -> dict[tuple[str, str], tuple[str, str | None, int]]:
    """(task, item) -> (completion, answer, correct) of the one run in ``store``."""
    db = sqlite3.connect(store)
    rows = db.execute("SELECT task, item_id, completion, answer, correct FROM samples").fetchall()
    db.close()
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def runs_of(store: Path) -> list[tuple[str, str, dict[str, Any]]]:
    db = sqlite3.connect(store)
    rows = db.execute("SELECT run_id, status, summary FROM runs").fetchall()
    db.close()
    return [(r[0], r[1], json.loads(r[2]) if r[2] else {}) for r in rows]


def headline(summary: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (v["n"], v["accuracy"]) for k, v in summary.items()}


# ---- shard arithmetic ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("0/4", {}, Shard(0, 4)),
        ("3/4", {}, Shard(3, 4)),
        (" 1 / 2 ", {}, Shard(1, 2)),
        ("auto/4", {"SLURM_ARRAY_TASK_ID": "2"}, Shard(2, 4)),
        ("auto/4", {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1"}, Shard(3, 4)),
        ("auto/3", {"JOB_COMPLETION_INDEX": "0"}, Shard(0, 3)),
        ("AUTO/3", {"JOB_COMPLETION_INDEX": "2"}, Shard(2, 3)),
    ],
)
def test_parse_shard(text: str, env: dict[str, str], expected: Shard) -> None:
    assert parse_shard(text, env) == expected


@pytest.mark.parametrize(
    ("text", "env", "says"),
    [
        ("4/4", {}, "outside 0..3"),
        ("1", {}, "not I/N"),
        ("1/0", {}, "not I/N"),
        ("x/2", {}, "whole number"),
        ("auto/2", {}, "SLURM_ARRAY_TASK_ID"),
        ("auto/2", {"SLURM_ARRAY_TASK_ID": "2"}, "outside 0..1"),
        ("auto/2", {"JOB_COMPLETION_INDEX": "one"}, "not a whole number"),
    ],
)
def test_parse_shard_refuses(text: str, env: dict[str, str], says: str) -> None:
    with pytest.raises(CothubError, match=says):
        parse_shard(text, env)


def test_shard_of_is_stable_and_partitions() -> None:
    # Pinned: a change here re-partitions every sharded run in flight.
    assert [shard_of("gsm8k", f"gsm8k/{i}", 4) for i in range(8)] == PINNED
    keys = [("bbh", f"navigate/{i}") for i in range(200)]
    owners = [[Shard(i, 3).keeps(t, k) for i in range(3)] for t, k in keys]
    assert all(sum(o) == 1 for o in owners)
    sizes = [sum(o[i] for o in owners) for i in range(3)]
    assert min(sizes) > 40  # roughly even


PINNED = [3, 0, 2, 3, 1, 0, 3, 1]


# ---- sharded runs, merge -------------------------------------------------------------------


def test_three_shards_merge_to_the_unsharded_run(
    cli: Any, server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.db"
    r = cli(*args(server, data_dir, whole))
    assert r.code == 0, r.err
    expected = items_of(whole)
    assert len(expected) == 24
    ((run_id, _, summary),) = runs_of(whole)

    shard_paths = [tmp_path / f"shard{i}.db" for i in range(3)]
    # shard 1 is killed (SIGKILL) mid-run, then resumed by the same command
    server.latency_ms = 150
    cmd = [
        sys.executable,
        "-m",
        "cothub",
        *args(server, data_dir, shard_paths[1], "--shard", "1/3"),
    ]
    cmd[cmd.index("--concurrency") + 1] = "1"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _count(shard_paths[1]) < 2:
            time.sleep(0.05)
        assert _count(shard_paths[1]) >= 2, "the shard never started"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    server.latency_ms = 0
    partial = _count(shard_paths[1])
    for i in range(3):
        r = cli(*args(server, data_dir, shard_paths[i], "--shard", f"{i}/3"))
        assert r.code == 0, r.err
    assert 0 < partial < len(items_of(shard_paths[1]))
    sizes = [len(items_of(p)) for p in shard_paths]
    assert sum(sizes) == 24 and all(sizes)
    assert {runs_of(p)[0][0] for p in shard_paths} == {run_id}  # the shard is not in the id

    out = tmp_path / "merged.db"
    # a partial merge first: shard 2 missing, reported by index and item
    r = cli("merge", out, shard_paths[0], shard_paths[1], "--json", tmp_path / "m.json")
    assert r.code == 1
    rep = json.loads((tmp_path / "m.json").read_text())
    assert rep["missing_shards"] == ["2/3"] and rep["status"] == "incomplete"

    r = cli("merge", out, *shard_paths, "--json", tmp_path / "m.json")
    assert r.code == 0, r.out + r.err
    rep = json.loads((tmp_path / "m.json").read_text())
    assert rep["missing_items"] == [] and rep["missing_shards"] == [] and not rep["conflicts"]
    assert items_of(out) == expected
    ((m_id, m_status, m_summary),) = runs_of(out)
    assert (m_id, m_status) == (run_id, "complete")
    assert headline(m_summary) == headline(summary)

    before = sqlite3.connect(out).execute("SELECT count(*) FROM completions").fetchone()
    r = cli("merge", out, *reversed(shard_paths), "--json", tmp_path / "m2.json")  # idempotent
    assert r.code == 0
    again = json.loads((tmp_path / "m2.json").read_text())
    assert again["added"] == {"samples": 0, "completions": 0}
    assert items_of(out) == expected and runs_of(out)[0][1] == "complete"
    assert sqlite3.connect(out).execute("SELECT count(*) FROM completions").fetchone() == before

    # the merged store serves the unsharded command from its cache: nothing is sent
    server.stats.reset()
    r = cli(*args(server, data_dir, out))
    assert r.code == 0 and server.stats.completion_requests == 0
    assert items_of(out) == expected


def _count(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        db = sqlite3.connect(store, timeout=5)
        n = db.execute("SELECT count(*) FROM samples").fetchone()[0]
        db.close()
        return int(n)
    except sqlite3.OperationalError:
        return 0


def test_merge_refuses_another_run_and_reports_missing_items(
    cli: Any, server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert cli(*args(server, data_dir, a, "--shard", "0/2")).code == 0
    assert cli(*args(server, data_dir, b, "--shard", "1/2", "--seed", "1")).code == 0
    r = cli("merge", tmp_path / "out.db", a, b)
    assert r.code == 2 and "different run manifests" in r.err and "selection" in r.err

    # a shard store with a sample deleted (as if killed before it): named in the report
    db = sqlite3.connect(a)
    task, item = db.execute("SELECT task, item_id FROM samples LIMIT 1").fetchone()
    db.execute("DELETE FROM samples WHERE item_id=?", (item,))
    db.commit()
    db.close()
    r = cli("merge", tmp_path / "out2.db", a, "--json", tmp_path / "r.json")
    assert r.code == 1
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["missing_items"] == [{"task": task, "item_id": item}]
    assert rep["missing_shards"] == ["1/2"]
    assert f"{task}/{item}" in r.out


def test_merge_copies_judgements_and_model_info(
    cli: Any, server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    """A judge's verdicts made on a shard store, and what the model is (type, size), arrive in
    the merged store with the run; merging again adds neither twice."""
    from cothub.store import Store
    from cothub.store.sqlite import Judgement

    a, b, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "out.db"
    assert cli(*args(server, data_dir, a, "--shard", "0/2")).code == 0
    assert cli(*args(server, data_dir, b, "--shard", "1/2", "--model-type", "sft")).code == 0
    db = Store(b)
    (run,) = db.runs()
    record = next(iter(db.records(run.run_id)))
    verdict = Judgement(
        run.run_id, record.task, record.sample.id, "openai/judge", "v1", "disagreement",
        "correct", "VERDICT: correct", 10, 2, 0, None, "k" * 16,
    )  # fmt: skip
    db.record_judgements([verdict])
    db.close()
    db = Store(a)
    db.set_model_info(run.model, size="7B")  # said later, on the other shard
    db.close()

    for _ in range(2):
        r = cli("merge", out, a, b)
        assert r.code == 0, r.out + r.err
        merged = Store(out, readonly=True)
        assert merged.judgements(run.run_id) == [verdict]
        info = merged.model_info()[run.model]
        merged.close()
        assert (info.size, info.type) == ("7B", "sft")  # one shard said the size, one the type


def test_plan_sends_nothing_and_counts_cache_hits(
    cli: Any, server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "s.db"
    plan_args = args(server, data_dir, store)[1:]
    r = cli("plan", *plan_args, "--json", tmp_path / "p.json")
    assert r.code == 0, r.err
    assert server.stats.completion_requests == 0 and "nothing was sent" in r.out
    est = {e["task"]: e for e in json.loads((tmp_path / "p.json").read_text())["plan"]}
    assert est["gsm8k"]["items"] == 8 and est["bbh"]["items"] == 16
    assert est["gsm8k"]["requests"] == 8 and est["gsm8k"]["cache_hits"] == 0
    assert est["gsm8k"]["prompt_tokens"] > 0
    assert est["gsm8k"]["completion_tokens_max"] >= est["gsm8k"]["completion_tokens"] > 0
    assert est["gsm8k"]["cost_usd"] is None  # the stand-in has no price ...
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"openai/stand-in": {"prompt": 10.0, "completion": 20.0}}}')
    r = cli("plan", *plan_args, "--prices", prices, "--json", tmp_path / "p.json")
    g = next(
        e for e in json.loads((tmp_path / "p.json").read_text())["plan"] if e["task"] == "gsm8k"
    )
    cost = (g["prompt_tokens"] * 10.0 + g["completion_tokens_max"] * 20.0) / 1e6
    assert g["cost_usd_max"] == pytest.approx(cost) and 0 < g["cost_usd"] <= g["cost_usd_max"]

    assert cli(*args(server, data_dir, store, "--shard", "0/2")).code == 0
    done = len(items_of(store))
    r = cli("plan", *plan_args, "--json", tmp_path / "p.json")
    est = {e["task"]: e for e in json.loads((tmp_path / "p.json").read_text())["plan"]}
    assert est["gsm8k"]["cache_hits"] + est["bbh"]["cache_hits"] == done
    assert est["gsm8k"]["requests"] + est["bbh"]["requests"] == 24 - done
    r = cli("plan", *plan_args, "--shard", "0/2", "--json", tmp_path / "p.json")
    est = {e["task"]: e for e in json.loads((tmp_path / "p.json").read_text())["plan"]}
    assert est["gsm8k"]["requests"] + est["bbh"]["requests"] == 0
    assert server.stats.completion_requests == done  # only the shard run sent anything


def test_ray_missing_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from cothub.scale.ray_backend import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(CothubError, match=r"cothub\[ray\]"):
        import_ray()
