"""Kill -9 in the middle of a run, re-run the same command: only missing requests are sent and
the final results equal those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import scripted_gsm8k
from cothub.testing.openai_server import running_server


def command(base_url: str, data: Path, store: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "cothub", "run", "gsm8k", "--model", "openai/stand-in",
        "--base-url", base_url, "--data-dir", str(data), "--store", str(store),
        "--json", str(out), "--limit", "300", "--concurrency", "8",
    ]  # fmt: skip


def stored(store: Path) -> int:
    try:
        with sqlite3.connect(store) as db:
            return int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_kill_9_then_resume_equals_uninterrupted(data_dir: Path, tmp_path: Path) -> None:
    script = scripted_gsm8k(data_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with running_server(script, latency_ms=20) as srv:
        store, out = tmp_path / "killed.db", tmp_path / "killed.json"
        proc = subprocess.Popen(command(srv.base_url, data_dir, store, out), env=env)
        deadline = time.monotonic() + 60
        while stored(store) < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert not out.exists()
        done = stored(store)
        assert 100 <= done < 300
        sent_before = srv.stats.completion_requests

        subprocess.run(command(srv.base_url, data_dir, store, out), env=env, check=True)
        resent = srv.stats.completion_requests - sent_before
        # Only the missing ones; requests in flight at the kill were never answered to us.
        assert resent == 300 - done

        ref_store, ref_out = tmp_path / "ref.db", tmp_path / "ref.json"
        subprocess.run(command(srv.base_url, data_dir, ref_store, ref_out), env=env, check=True)

    resumed, reference = json.loads(out.read_text()), json.loads(ref_out.read_text())
    assert resumed["tasks"] == reference["tasks"]
    assert resumed["run_id"] == reference["run_id"]
    assert resumed["usage"]["cached"] == done and resumed["usage"]["requests"] == 300 - done
    cols = "item_id, answer, correct, completion, finish_reason"
    q = f"SELECT {cols} FROM samples ORDER BY item_id"
    with sqlite3.connect(store) as a, sqlite3.connect(ref_store) as b:
        assert a.execute(q).fetchall() == b.execute(q).fetchall()
