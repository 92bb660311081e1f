"""The tables tell the truth: leaderboard cells, paired compare deltas, `runs`/`show` listings.

Each test drives the real CLI against the loopback OpenAI stand-in on real GSM8K data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cothub.testing.openai_server import OpenAIStandIn


def run_args(srv: OpenAIStandIn, data: Path, tmp: Path, *extra: str) -> list[str]:
    return [
        "run", "gsm8k", "--model", "openai/stand-in", "--base-url", srv.base_url,
        "--data-dir", str(data), "--store", str(tmp / "store.db"), "--json", str(tmp / "out.json"),
        *extra,
    ]  # fmt: skip


def _run(cli: Any, srv: OpenAIStandIn, data: Path, tmp: Path, *extra: str) -> str:
    r = cli(*run_args(srv, data, tmp, "--concurrency", "16", *extra))
    assert r.code == 0, r.err
    return str(json.loads((tmp / "out.json").read_text())["run_id"])


def test_a_limit_run_never_replaces_the_full_cell(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    full = _run(cli, gsm8k_server, data_dir, tmp_path)
    smoke = _run(cli, gsm8k_server, data_dir, tmp_path, "--limit", "3")
    board = cli("leaderboard", "--store", tmp_path / "store.db", "--format", "json")
    assert board.code == 0, board.err
    cells = json.loads(board.out)["rows"][0]["cells"]
    print(json.dumps(cells, indent=1))
    ids = [c["run_id"] for c in cells.values()]
    assert full in ids and smoke not in ids


def test_subset_runs_of_one_cell_the_bigger_wins_and_is_marked(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    """The reported failure: a 300-item cell replaced by a later 3-item smoke run."""
    big = _run(cli, gsm8k_server, data_dir, tmp_path, "--limit", "300")
    smoke = _run(cli, gsm8k_server, data_dir, tmp_path, "--limit", "3")
    store = tmp_path / "store.db"
    default = cli("leaderboard", "--store", store)
    assert default.code == 0, default.err
    assert big not in default.out and smoke not in default.out
    assert "2 run(s) on a subset left out" in default.out
    md = cli("leaderboard", "--store", store, "--include-partial")
    assert big in md.out and smoke not in md.out
    assert "*300 of ?" in md.out and "(+1 runs)" in md.out
    full = _run(cli, gsm8k_server, data_dir, tmp_path)
    md = cli("leaderboard", "--store", store, "--include-partial")
    assert full in md.out and big not in md.out and "(+2 runs)" in md.out


def test_compare_delta_is_paired_and_says_when_items_differ(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    """The reported failure: "-9.0 pts" beside "p=1 (-0/+0 of 30)"."""
    full = _run(cli, gsm8k_server, data_dir, tmp_path, "--limit", "300")
    small = _run(cli, gsm8k_server, data_dir, tmp_path, "--limit", "30")
    store = tmp_path / "store.db"
    res = cli("compare", full, small, "--store", store, "--format", "json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    first, second = data["tasks"]["gsm8k"]
    p = second["paired"]
    assert p["shared"] == 30 and first["graded"] == 300 and second["graded"] == 30
    # the same model on the same items: same verdicts, so no change, whatever the headlines say
    assert p["lost"] == p["gained"] == 0 and second["delta_pts"] == 0
    assert first["accuracy"] != second["accuracy"]  # the headlines alone would show a "gain"
    assert second["same_items"] is False and "cover different items" in data["notes"]["gsm8k"]
    md = cli("compare", full, small, "--store", store)
    row = next(ln for ln in md.out.splitlines() if ln.startswith(f"| {small}"))
    assert "+0.0 pts on 30 shared" in row and "p=1 (-0/+0 of 30)" in row
    assert "cover different items" in md.out


def test_runs_lists_format_strategy_n_of_n_status_cost_unabridged(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    full = _run(cli, gsm8k_server, data_dir, tmp_path)
    smoke = _run(cli, gsm8k_server, data_dir, tmp_path, "--limit", "3")
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"models": {"openai/stand-in": {"prompt": 1.0, "completion": 2.0}}})
    )
    r = cli("runs", "--store", tmp_path / "store.db", "--prices", prices)
    assert r.code == 0, r.err
    header = next(ln for ln in r.out.splitlines() if "run" in ln and "status" in ln)
    for col in ("format", "strategy", "n/N", "status", "cost"):
        assert col in header, header
    rows = {ln.split()[1]: ln for ln in r.out.splitlines() if full in ln or smoke in ln}
    assert "1319/1319" in rows[full] and "3/1319" in rows[smoke]
    for row in rows.values():  # one line per run, nothing cut to 80 columns
        assert "fewshot-cot" in row and "single" in row and "complete" in row and "$" in row
        assert "…" not in row


def test_show_prints_settings_prompt_and_marked_span(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    rid = _run(cli, gsm8k_server, data_dir, tmp_path, "--limit", "3")
    r = cli("show", rid, "--store", tmp_path / "store.db", "--all", "--prompt")
    assert r.code == 0, r.err
    for label in ("model openai/stand-in", "task gsm8k", "format fewshot-cot", "--limit 3",
                  "strategy single", "grader"):  # fmt: skip
        assert label in r.out, label
    assert r.out.count("prompt (chat)") == 3 and "<user>" in r.out
    assert r.out.count("extracted chars ") == 3 and r.out.count("⟦") == 3 and "gold" in r.out


def test_runs_says_interrupted_for_a_run_whose_process_died(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from conftest import scripted_gsm8k
    from cothub.testing.openai_server import running_server

    store = tmp_path / "store.db"

    def stored() -> int:
        try:
            with sqlite3.connect(store) as db:
                return int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
        except sqlite3.Error:
            return 0

    with running_server(scripted_gsm8k(data_dir), latency_ms=20) as srv:
        args = [
            sys.executable,
            "-m",
            "cothub",
            *run_args(srv, data_dir, tmp_path, "--limit", "300"),
        ]
        proc = subprocess.Popen(args, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 60
        while stored() < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = stored()
    r = cli("runs", "--store", store)
    assert r.code == 0, r.err
    row = next(ln for ln in r.out.splitlines() if "openai/stand-in" in ln)
    assert "interrupted" in row and f"{done}/" in row


def test_strategy_is_part_of_the_cell_and_unlike_cells_are_marked(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    """The reported failure: a later 40-item self-refine run took the single-completion cell."""
    store = tmp_path / "store.db"

    def run(model: str, *extra: str) -> str:
        out = tmp_path / "o.json"
        r = cli("run", "gsm8k", "--model", model, "--data-dir", str(data_dir), "--store",
                str(store), "--json", str(out), *extra)  # fmt: skip
        assert r.code == 0, r.err
        return str(json.loads(out.read_text())["run_id"])

    model = "fake/repeat:The answer is 18."
    full = run(model)
    refine = run(model, "--limit", "40", "--strategy", "self-refine")
    board = json.loads(cli("leaderboard", "--store", store, "--format", "json").out)
    assert board["rows"][0]["cells"]["gsm8k:fewshot-cot"]["run_id"] == full
    assert board["partial_left_out"] == 1
    md = cli("leaderboard", "--store", store, "--include-partial").out
    header = md.splitlines()[0]
    assert "GSM8K (fewshot-cot)" in header and "GSM8K (fewshot-cot self-refine" in header
    assert full in md and refine in md and "*40 of 1319" in md
    # another model on 40 items in the single column: not like for like, and marked so
    run("fake/repeat:The answer is 7.", "--limit", "40")
    board = json.loads(cli("leaderboard", "--store", store, "--format", "json",
                           "--include-partial").out)  # fmt: skip
    cells = {r["model"]: r["cells"]["gsm8k:fewshot-cot"] for r in board["rows"]}
    assert cells[model]["incomparable"] is False
    assert cells["fake/repeat:The answer is 7."]["incomparable"] is True
    assert " †" in cli("leaderboard", "--store", store, "--include-partial").out
