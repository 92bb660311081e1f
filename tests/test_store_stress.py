"""The store under stress: concurrent processes on one store never send a request twice, and a
damaged, locked, full or read-only store gives one line (exit 2), never a traceback."""

from __future__ import annotations

import contextlib
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

from conftest import said, scripted_gsm8k
from cothub.errors import CothubError
from cothub.store import Store, clean_text
from cothub.store.sqlite import SCHEMA_VERSION
from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def run_cmd(srv: OpenAIStandIn, data: Path, store: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run", "gsm8k", "--model", "openai/stand-in", "--base-url", srv.base_url,
        "--data-dir", str(data), "--store", str(store), "--json", str(out), *extra,
    ]  # fmt: skip


def cothub(*args: str) -> list[str]:
    return [sys.executable, "-m", "cothub", *args]


def assert_one_line(r: Any, *needles: str) -> str:
    code = r.code if hasattr(r, "code") else r.returncode
    err = r.err if hasattr(r, "err") else r.stderr
    out = r.out if hasattr(r, "out") else r.stdout
    assert code == 2, (code, out, err)
    lines = said(err)  # a run that started said so first
    assert len(lines) == 1, err
    assert "Traceback" not in err + out
    for n in needles:
        assert n in lines[0], lines[0]
    return str(lines[0])


def count(store: Path, table: str = "samples") -> int:
    try:
        with contextlib.closing(sqlite3.connect(store, timeout=30)) as db:
            return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.Error:
        return 0


def digest(path: Path) -> dict[str, str]:
    """The bytes of a store and its side files (a reading command must change none)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.parent.glob(path.name + "*"))
        # The WAL index is shared memory, not data; an empty WAL holds nothing.
        if not p.name.endswith("-shm") and p.stat().st_size > 0
    }


@pytest.fixture
def small_run(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> tuple[Path, str, str]:
    """A store with two finished 5-item runs: (store path, run id, other run id)."""
    store, ids = tmp_path / "s.db", []
    for seed in ("1", "0"):
        out = tmp_path / "o.json"
        r = cli(*run_cmd(gsm8k_server, data_dir, store, out, "--limit", "5", "--seed", seed))
        assert r.code == 0, r.err
        ids.append(json.loads(out.read_text())["run_id"])
    return store, ids[1], ids[0]


# ---- the same work never done twice -------------------------------------------------------


@pytest.mark.parametrize("n", [2, 4])
def test_identical_runs_at_once_send_each_request_once(
    data_dir: Path, tmp_path: Path, n: int
) -> None:
    store = tmp_path / "s.db"
    with running_server(scripted_gsm8k(data_dir), latency_ms=20, record=False) as srv:
        extra = ("--limit", "200", "--concurrency", "16")
        procs = [
            subprocess.Popen(
                cothub(*run_cmd(srv, data_dir, store, tmp_path / f"o{i}.json", *extra)),
                env=ENV,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(n)
        ]
        errs = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * n, errs
        assert srv.stats.completion_requests == 200  # was 2x and 3.9x the items
    outs = [json.loads((tmp_path / f"o{i}.json").read_text()) for i in range(n)]
    assert all(o["tasks"] == outs[0]["tasks"] and o["run_id"] == outs[0]["run_id"] for o in outs)
    assert sum(o["usage"]["requests"] for o in outs) == 200
    assert all(o["usage"]["requests"] + o["usage"]["cached"] == 200 for o in outs)
    assert outs[0]["tasks"]["gsm8k"]["n"] == 200
    assert count(store) == 200 and count(store, "leases") == 0


def test_killed_process_leases_do_not_block_and_wall_time_is_what_was_spent(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    store, out = tmp_path / "s.db", tmp_path / "o.json"
    with running_server(scripted_gsm8k(data_dir), latency_ms=100) as srv:
        args = run_cmd(srv, data_dir, store, out, "--limit", "120", "--concurrency", "4")
        spawned = time.monotonic()
        proc = subprocess.Popen(cothub(*args), env=ENV, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        wall = 0.0
        while time.monotonic() < deadline:
            if count(store) >= 30:
                with contextlib.closing(sqlite3.connect(store, timeout=30)) as db:
                    wall = db.execute("SELECT wall_s FROM runs").fetchone()[0] or 0.0
                if wall > 0:
                    break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        lived = time.monotonic() - spawned
        done = count(store)
        assert 30 <= done < 120
        db = sqlite3.connect(store, isolation_level=None)
        leases = db.execute("SELECT key, owner FROM leases WHERE key NOT LIKE 'run:%'").fetchall()
        assert leases and all(o.startswith(f"{proc.pid}@") for _, o in leases)
        # One lease passes to a live-looking owner elsewhere whose lease has expired.
        db.execute(
            "UPDATE leases SET owner='1@elsewhere#0', expires_at=? WHERE key=?",
            (time.time() - 1, leases[0][0]),
        )
        killed_wall = db.execute("SELECT wall_s FROM runs").fetchone()[0]
        # Saved as it went: what it spent, to within the last second, and never more.
        assert 0 < killed_wall <= lived
        runs = cli("runs", "--store", store)
        assert "interrupted" in runs.out and "running" not in runs.out

        sent = srv.stats.completion_requests
        started = time.monotonic()
        r = cli(*args)
        took = time.monotonic() - started
        assert r.code == 0, r.err
        assert took < 20  # the dead process's leases (30 s) did not hold anything up
        assert srv.stats.completion_requests - sent == 120 - done
    result = json.loads(out.read_text())
    assert result["usage"]["requests"] == 120 - done and result["tasks"]["gsm8k"]["n"] == 120
    total = db.execute("SELECT wall_s FROM runs").fetchone()[0]
    assert killed_wall + 0.9 * result["wall_s"] <= total <= killed_wall + took + 0.5
    assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


# ---- a write lock held by another process -------------------------------------------------

LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
while True:
    try:
        if db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] >= int(sys.argv[2]):
            break
    except sqlite3.Error:
        pass
    time.sleep(0.005)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
db.execute("COMMIT")
"""


@contextlib.contextmanager
def locker(store: Path, after: int, hold_s: float) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(store), str(after), str(hold_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_write_lock_held_by_another_process_stalls_no_request(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    store, out = tmp_path / "s.db", tmp_path / "o.json"
    with running_server(scripted_gsm8k(data_dir), latency_ms=50) as srv:
        Store(store).close()
        with locker(store, 10, 2.5) as lock:
            r = cli(*run_cmd(srv, data_dir, store, out, "--limit", "60", "--concurrency", "4"))
            assert lock.stdout is not None and lock.stdout.readline() == "locked\n"
        assert r.code == 0, r.err
    result = json.loads(out.read_text())
    assert result["tasks"]["gsm8k"]["n"] == 60 and result["usage"]["requests"] == 60
    assert result["wall_s"] > 2.5
    # Requests in flight while the store was locked were answered and read at once: writes wait
    # in their own thread, not on the event loop (which used to freeze for the whole lock).
    with contextlib.closing(sqlite3.connect(store)) as db:
        (slowest,) = db.execute("SELECT MAX(latency_s) FROM samples").fetchone()
    assert slowest < 1.5


def test_write_lock_never_released_is_one_line_naming_the_holder_then_resumes(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, out = tmp_path / "s.db", tmp_path / "o.json"
    monkeypatch.setenv("COTHUB_STORE_LOCK_TIMEOUT", "1")
    with running_server(scripted_gsm8k(data_dir), latency_ms=20) as srv:
        args = run_cmd(srv, data_dir, store, out, "--limit", "60", "--concurrency", "4")
        Store(store).close()
        with locker(store, 10, 60) as lock:
            r = cli(*args)
            line = assert_one_line(r, "is locked for more than 1 s by", f"process {lock.pid}")
            assert "re-run the same command" in line
        done = count(store)
        assert 10 <= done < 60
        sent = srv.stats.completion_requests
        again = cli(*args)
        assert again.code == 0, again.err
        assert srv.stats.completion_requests - sent == 60 - done  # the resume is exact
    assert json.loads(out.read_text())["tasks"]["gsm8k"]["n"] == 60


# ---- a full disk -----------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()!r}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_full_disk_is_one_line_the_run_is_not_left_running_and_the_resume_is_exact(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "disk", "256k") as disk:
        store, out = disk / "s.db", tmp_path / "o.json"
        args = run_cmd(gsm8k_server, data_dir, store, out, "--limit", "200", "--concurrency", "8")
        r = cli(*args)
        assert_one_line(r, "is full", "free some space", "re-run the same command")
        done = count(store)
        assert 0 < done < 200
        runs = cli("runs", "--store", store)
        assert runs.code == 0 and "interrupted" in runs.out and "running" not in runs.out

        subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
        sent = gsm8k_server.stats.completion_requests
        again = cli(*args)
        assert again.code == 0, again.err
        assert gsm8k_server.stats.completion_requests - sent == 200 - done
        resumed = json.loads(out.read_text())
        assert resumed["usage"]["cached"] == done
        ref = cli(*run_cmd(gsm8k_server, data_dir, tmp_path / "ref.db", out, "--limit", "200"))
        assert ref.code == 0, ref.err
        assert json.loads(out.read_text())["tasks"] == resumed["tasks"]
        assert "complete" in cli("runs", "--store", store).out


# ---- damaged stores: one line, exit 2, store unchanged ---------------------------------------


def sql(store: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(store, isolation_level=None)) as db:
        for s in statements:
            db.execute(s)


READING = ("runs", "leaderboard")


@pytest.mark.parametrize(
    ("damage", "commands", "needles"),
    [
        (
            ["UPDATE completions SET choices='{not json'"],
            ["run"],
            ["damaged cached completion", "DELETE FROM completions"],
        ),
        (
            ["UPDATE completions SET choices='[{\"text\": null}]'"],
            ["run"],
            ["damaged cached completion"],
        ),
        (["UPDATE runs SET tasks='[oops'"], ["runs", "leaderboard", "show"], ["damaged run row"]),
        (["UPDATE runs SET manifest='null'"], ["runs", "show"], ["damaged run row", "manifest"]),
        (["UPDATE runs SET summary='[1, 2]'"], ["leaderboard", "show"], ["damaged run row"]),
        (
            ["UPDATE samples SET prompt_tokens='many'"],
            ["compare"],
            ["damaged sample", "prompt_tokens"],
        ),
        (["UPDATE samples SET steps='{'"], ["show-wrong"], ["damaged sample", "steps"]),
        (
            ["UPDATE meta SET value='three' WHERE key='schema_version'"],
            ["runs", "leaderboard", "show", "compare", "run"],
            ["damaged schema version", "'three'"],
        ),
        (
            ["UPDATE meta SET value='99' WHERE key='schema_version'"],
            ["runs", "run"],
            ["schema version 99", "newer cothub"],
        ),
    ],
)
def test_damaged_rows_are_one_line_and_leave_the_store_unchanged(
    cli: Any,
    gsm8k_server: OpenAIStandIn,
    data_dir: Path,
    tmp_path: Path,
    small_run: tuple[Path, str, str],
    damage: list[str],
    commands: list[str],
    needles: list[str],
) -> None:
    store, run_id, other = small_run
    if "run" not in commands:
        sql(store, "UPDATE samples SET correct=0")  # so that show --wrong lists them
    sql(store, *damage)
    before = digest(store)
    for command in commands:
        args = {
            "run": run_cmd(gsm8k_server, data_dir, store, tmp_path / "o.json", "--limit", "5"),
            "show": ["show", run_id, "--store", str(store)],
            "show-wrong": ["show", run_id, "--wrong", "--store", str(store)],
            "compare": ["compare", run_id, other, "--store", str(store)],
        }.get(command, [command, "--store", str(store)])
        sent = gsm8k_server.stats.completion_requests
        assert_one_line(cli(*args), str(store), *needles)
        assert gsm8k_server.stats.completion_requests == sent
        if command != "run":  # reading commands change nothing at all
            assert digest(store) == before, command


@pytest.mark.parametrize("kind", ["not-sqlite", "truncated", "folder", "under-a-file"])
def test_unusable_store_paths_are_one_line(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path, kind: str
) -> None:
    store = tmp_path / "s.db"
    needles = {
        "not-sqlite": ["damaged or not a cothub store"],
        "truncated": ["damaged or not a cothub store"],
        "folder": ["is a folder"],
        "under-a-file": [f"{tmp_path / 'f'} is a file, not a folder"],
    }[kind]
    if kind == "not-sqlite":
        store.write_bytes(b"this is not a database\n" * 300)
    elif kind == "truncated":
        r = cli(*run_cmd(gsm8k_server, data_dir, store, tmp_path / "o.json", "--limit", "3"))
        assert r.code == 0, r.err
        data = store.read_bytes()
        store.write_bytes(data[:100] + b"\xff" * 3000 + data[3100:])
    elif kind == "folder":
        store.mkdir()
    else:
        (tmp_path / "f").write_text("a file")
        store = tmp_path / "f" / "sub" / "s.db"
    before = digest(store) if store.is_file() else {}
    run = run_cmd(gsm8k_server, data_dir, store, tmp_path / "o.json", "--limit", "3")
    for args in (["runs", "--store", str(store)], ["leaderboard", "--store", str(store)], run):
        assert_one_line(cli(*args), *needles)
    if before:
        assert digest(store) == before


# ---- read-only media -----------------------------------------------------------------------


@pytest.fixture
def read_only_copy(small_run: tuple[Path, str, str], tmp_path: Path) -> Iterator[Path]:
    """The small run's store on read-only media (a tmpfs remounted read-only as root; a folder
    without write permission otherwise): no WAL index can be created next to it."""
    store = small_run[0]
    src = store.read_bytes()
    where = tmp_path / "ro"
    if os.geteuid() == 0:
        with tmpfs(where, "4m"):
            (where / "s.db").write_bytes(src)
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
            yield where / "s.db"
    else:
        where.mkdir()
        (where / "s.db").write_bytes(src)
        (where / "s.db").chmod(0o444)
        where.chmod(0o555)
        try:
            yield where / "s.db"
        finally:
            where.chmod(0o755)


def test_reading_commands_work_on_read_only_media(
    cli: Any,
    gsm8k_server: OpenAIStandIn,
    data_dir: Path,
    tmp_path: Path,
    small_run: tuple[Path, str, str],
    read_only_copy: Path,
) -> None:
    _, run_id, other = small_run
    store = read_only_copy
    for args in (
        ["runs"],
        ["show", run_id, "--wrong"],
        ["leaderboard", "--format", "json", "--include-partial"],  # both runs are --limit
        ["compare", run_id, other],
    ):
        r = cli(*args, "--store", store)
        assert r.code == 0, (args, r.err)
        assert run_id in r.out or "gsm8k" in r.out, (args, r.out)
    assert sorted(p.name for p in store.parent.iterdir()) == ["s.db"]
    r = cli(*run_cmd(gsm8k_server, data_dir, store, tmp_path / "o.json", "--limit", "5"))
    line = assert_one_line(r, str(store))
    assert "read-only" in line or "not writable" in line
    with pytest.raises(CothubError, match="is read-only here; pass --store with a writable"):
        Store(store)  # past the CLI's own check too (cothub.api)


def test_a_missing_store_reads_as_empty_and_is_not_created(cli: Any, tmp_path: Path) -> None:
    store = tmp_path / "none" / "s.db"
    assert cli("runs", "--store", store).code == 0
    assert cli("leaderboard", "--store", store).code == 0
    assert_one_line(cli("show", "abc", "--store", store), "no run 'abc'")
    assert not (tmp_path / "none").exists()


def test_a_store_written_before_leases_serves_the_same_command_with_no_request(
    cli: Any, gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    store, out = tmp_path / "s.db", tmp_path / "o.json"
    args = run_cmd(gsm8k_server, data_dir, store, out, "--limit", "20")
    assert cli(*args).code == 0
    first = json.loads(out.read_text())
    # As today's released cothub (schema 3) leaves a store: no leases table.
    sql(store, "DROP TABLE leases", "UPDATE meta SET value='3' WHERE key='schema_version'")
    assert "gsm8k" in cli("runs", "--store", store).out  # read as it is
    sent = gsm8k_server.stats.completion_requests
    r = cli(*args)
    assert r.code == 0, r.err
    again = json.loads(out.read_text())
    assert gsm8k_server.stats.completion_requests == sent
    assert again["usage"] == {**first["usage"], "requests": 0, "cached": 20}
    assert again["tasks"] == first["tasks"] and again["run_id"] == first["run_id"]
    with contextlib.closing(sqlite3.connect(store)) as db:
        version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)


# ---- any text the server sends ---------------------------------------------------------------


def test_a_lone_surrogate_from_the_server_is_stored_and_graded(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    store, out = tmp_path / "s.db", tmp_path / "o.json"
    # JSON "\ud800": the stand-in escapes it (ensure_ascii), as a server may.
    script = Script(responder=lambda _: [Choice("Let's think.\ud800 The answer is \ud800 18.")])
    with running_server(script) as srv:
        args = run_cmd(srv, data_dir, store, out, "--limit", "4")
        r = cli(*args)
        assert r.code == 0, r.err
        first = json.loads(out.read_text())
        assert first["tasks"]["gsm8k"]["n"] == 4 and srv.stats.completion_requests == 4
        again = cli(*args)
        assert again.code == 0, again.err
        assert srv.stats.completion_requests == 4
        assert json.loads(out.read_text())["tasks"] == first["tasks"]
        shown = cli("show", first["run_id"], "--wrong", "--store", store)
        assert shown.code == 0, shown.err
    with contextlib.closing(sqlite3.connect(store)) as db:
        rows = db.execute("SELECT completion, answer FROM samples").fetchall()
    assert {c for c, _ in rows} == {"Let's think.\ufffd The answer is \ufffd 18."}
    assert {a for _, a in rows} == {"18"}


def test_importing_a_lone_surrogate_is_stored(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "a.jsonl"
    q = json.loads((data_dir / "gsm8k" / "test.jsonl").open().readline())["question"]
    f.write_text(json.dumps({"question": q, "completion": "Half: \ud800. The answer is 18."}))
    r = cli("import", "gsm8k", f, "--model-name", "m", "--data-dir", data_dir,
            "--store", tmp_path / "s.db", "--question-field", "question")  # fmt: skip
    assert r.code == 0, r.err
    with contextlib.closing(sqlite3.connect(tmp_path / "s.db")) as db:
        assert db.execute("SELECT completion, correct FROM samples").fetchall() == [
            ("Half: \ufffd. The answer is 18.", 1)
        ]


def test_clean_text_joins_pairs_and_replaces_lone_surrogates() -> None:
    assert clean_text("plain ü") == "plain ü"
    assert clean_text("a\ud83d\ude00b") == "a\U0001f600b"
    assert clean_text("\ud800x\udfff") == "\ufffdx\ufffd"
    assert clean_text("\ude00\ud83d") == "\ufffd\ufffd"


def test_a_lease_blocks_other_owners_until_its_owner_is_gone_or_it_expires(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    a, b = Store(path), Store(path)
    try:
        assert a.claim(["k1", "k2"]).result().mine == ["k1", "k2"]
        assert b.claim(["k1", "k3"]).result().theirs == ["k1"]  # a is alive: b waits
        assert a.claim(["k1"]).result().mine == ["k1"]  # renewing one's own lease
        a.record_nowait("r", [], {"k1": []}, model="m").result()  # done: its lease goes with it
        claim = b.claim(["k1", "k2"]).result()
        assert claim.done == {"k1": []} and claim.theirs == ["k2"]
        sql(path, "INSERT INTO leases VALUES ('k4', '1@elsewhere#x', 9e99)")
        sql(path, "INSERT INTO leases VALUES ('k5', '1@elsewhere#x', 0)")
        claim = b.claim(["k4", "k5"]).result()
        assert claim.mine == ["k5"]  # expired
        assert claim.theirs == ["k4"]  # another host's, unexpired: its owner may be alive
        a.close()
        assert b.claim(["k2"]).result().mine == ["k2"]  # a closed: its leases are dead at once
    finally:
        b.close()
        with contextlib.suppress(Exception):
            a.close()


@pytest.mark.parametrize("timeout_s", [5.0, 0.5])
def test_a_lock_held_while_the_store_opens_is_waited_out(tmp_path: Path, timeout_s: float) -> None:
    """Another process creating or migrating the store holds its lock for a moment (longer on a
    loaded machine): opening waits for it up to the lock timeout, as writes do, then says so
    in one line. Before, an open gave up after 1 s whatever the timeout."""
    import threading

    path = tmp_path / "s.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("PRAGMA journal_mode=DELETE")  # as a store is before its first open
    other.execute("CREATE TABLE t(x)")
    other.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(1.5, lambda: other.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    try:
        if timeout_s > 1.5:
            Store(path, lock_timeout_s=timeout_s).close()
            assert 1.4 < time.monotonic() - started < timeout_s
        else:
            with pytest.raises(CothubError, match="is locked for more than 0 s by"):
                Store(path, lock_timeout_s=timeout_s)
    finally:
        release.join()
        other.close()
