"""A run whose output is not a terminal (a pipe, a log, CI) says one line when it starts and one
per task as it finishes, over real HTTP; a terminal keeps its progress bar."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import scripted_gsm8k
from cothub.report.progress import LineProgress, RichProgress, progress_for
from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server

ANSWER = "Let's think step by step\n3 + 4 = 7.\nThe answer is 7."
START = re.compile(r"^cothub: run (\S+) started · model (\S+) · tasks (.+) · (\d+) items$")
DONE = re.compile(
    r"^cothub: run (\S+) · (\S+) done · n (\d+) · correct ([\d.]+)% \((\d+)/(\d+)\) · "
    r"unparsed (\d+) · truncated (\d+) · cached (\d+) · [\d.]+s$"
)


def progress_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if START.match(ln) or DONE.match(ln)]


def mixed(data: Path) -> Script:
    """GSM8K items answered as the conftest plan says (right, wrong, unparsed, truncated),
    anything else (BBH) with a fixed answer."""
    gsm8k = scripted_gsm8k(data).responder
    assert gsm8k is not None

    def respond(request: dict[str, Any]) -> list[Choice]:
        try:
            return gsm8k(request)
        except KeyError:  # not a GSM8K question
            return [Choice(ANSWER)]

    return Script(responder=respond)


def test_piped_run_prints_a_start_line_then_one_line_per_task(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    with running_server(mixed(data_dir)) as srv:
        _check_lines(cli, srv, data_dir, tmp_path)


def _check_lines(cli: Any, srv: OpenAIStandIn, data_dir: Path, tmp_path: Path) -> None:
    args = [
        "run", "gsm8k", "bbh/date_understanding", "--model", "openai/stand-in",
        "--base-url", srv.base_url, "--data-dir", data_dir, "--limit", 26,
        "--store", tmp_path / "s.db", "--json", tmp_path / "o.json",
    ]  # fmt: skip
    r = cli(*args)
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "o.json").read_text())
    lines = progress_lines(r.err)
    assert len(lines) == 3, r.err
    start = START.match(lines[0])
    assert start is not None, lines
    run_id, model, tasks, n = start.groups()
    assert run_id == out["run_id"] and model == "openai/stand-in"
    assert tasks == "gsm8k, bbh" and int(n) == 52
    stored = sqlite3.connect(tmp_path / "s.db").execute("SELECT run_id FROM runs").fetchall()
    assert [row[0] for row in stored] == [run_id]
    done = {m.group(2): m for m in map(DONE.match, lines[1:]) if m is not None}
    assert set(done) == {"gsm8k", "bbh"}
    for task, m in done.items():
        summary = out["tasks"][task]
        assert m.group(1) == run_id
        assert int(m.group(3)) == summary["n"] == 26
        assert int(m.group(5)) == summary["correct"]
        assert float(m.group(4)) == round(100 * summary["correct"] / 26, 1)
        assert int(m.group(7)) == summary["unparsed"]
        assert int(m.group(8)) == summary["truncated"]
        assert int(m.group(9)) == 0  # nothing cached on the first run
    assert 0 < int(done["gsm8k"].group(5)) < 26  # the scripted plan: some right, some not
    assert not progress_lines(r.out)  # stdout keeps the summary table only
    assert out["run_id"] in r.out

    before = srv.stats.completion_requests
    again = cli(*args)
    assert again.code == 0, again.err
    assert srv.stats.completion_requests == before
    lines = progress_lines(again.err)
    assert len(lines) == 3 and lines[0] == progress_lines(r.err)[0]
    for m in map(DONE.match, lines[1:]):
        assert m is not None and int(m.group(9)) == 26  # every item served from the cache


def test_killed_piped_run_leaves_its_start_line_written_before_the_first_request(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    """A real process logging to a file gets SIGKILL mid-run (no handler, no final flush):
    the start line was in the log when the first request arrived, and names a run the store
    has, so ``cothub show`` works on it."""
    log = tmp_path / "run.log"
    seen_at_first: list[str] = []

    def respond(request: dict[str, Any]) -> list[Choice]:
        if not seen_at_first:
            seen_at_first.append(log.read_text() if log.exists() else "")
        return [Choice(ANSWER)]

    with running_server(Script(responder=respond), latency_ms=200) as srv:
        args = [
            sys.executable, "-m", "cothub", "run", "gsm8k", "--model", "openai/m",
            "--base-url", srv.base_url, "--data-dir", str(data_dir), "--limit", "40",
            "--concurrency", "2", "--store", str(tmp_path / "s.db"),
        ]  # fmt: skip
        with log.open("w") as f:
            proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 60
                while srv.stats.completion_requests < 4:
                    assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.05)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
    assert proc.returncode == -signal.SIGKILL
    first = seen_at_first[0].splitlines()
    assert len(first) == 1, seen_at_first
    m = START.match(first[0])
    assert m is not None and m.group(3) == "gsm8k" and m.group(4) == "40", first
    assert log.read_text().splitlines()[0] == first[0]
    run_id = m.group(1)
    shown = cli("show", run_id, "--store", tmp_path / "s.db")
    assert shown.code == 0 and run_id in shown.out, shown.err


def test_a_terminal_gets_the_bar_and_anything_else_gets_lines() -> None:
    primary, replica = os.openpty()
    try:
        with os.fdopen(replica, "w", closefd=False) as tty:
            assert isinstance(progress_for("openai/m", tty), RichProgress)
    finally:
        os.close(primary)
        os.close(replica)
    buf = io.StringIO()
    progress = progress_for("openai/m", buf)
    assert isinstance(progress, LineProgress)
    progress.begun("abc123", ["gsm8k", "gsm8k"], [])
    progress.start(2, 0, 0)
    progress.stop()  # a task never finished prints no done line
    assert buf.getvalue() == "cothub: run abc123 started · model openai/m · tasks gsm8k · 2 items\n"
