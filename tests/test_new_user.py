"""What a new user meets first, each point reproduced through the real CLI (in process, or as a
subprocess where the exit code or a signal matters) against loopback stand-in servers.

- ``cothub`` alone, ``--version``, ``cothub tasks bbh``;
- every ``--model`` (key, script, model folder) and the ``--json`` path checked before the
  first request;
- Ctrl-C: exit code 130 and the line that says how to resume;
- credentials in ``--base-url`` sent as HTTP basic auth, never stored; a run that is not
  complete never exits 0;
- offline with no data: one line at once, no retries; an import in the wrong format names
  ``--format``;
- every backend's requests counted and paced where they are sent (``usage`` against the
  stand-in's count, the measured rate against ``--rpm``).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cothub.testing.anthropic_server import running_server as anthropic_server
from cothub.testing.openai_server import Choice, Faults, Script, running_server

REPO = Path(__file__).resolve().parents[1]
ANSWER = "Let's think step by step\n3 + 4 = 7.\nThe answer is 7."


def cothub(
    *args: object, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it (its own process, exit code and streams)."""
    return subprocess.run(
        [sys.executable, "-m", "cothub", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


class Arrivals:
    """A stand-in script that answers every request and notes when each one arrived."""

    def __init__(self, text: str = ANSWER) -> None:
        self.times: list[float] = []
        self._lock = threading.Lock()
        self._text = text

    def __call__(self, request: dict[str, Any]) -> list[Choice]:
        with self._lock:
            self.times.append(time.monotonic())
        return [Choice(self._text)] * int(request.get("n", 1))

    def rate_per_minute(self) -> float:
        """Requests per minute between the first and the last arrival."""
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span * 60


# ---- the first commands ------------------------------------------------------------------------


def test_cothub_alone_prints_the_help_laid_out() -> None:
    """Before: the whole help squashed onto one ``cothub: error:`` line, exit 2."""
    r = cothub()
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Usage: cothub")
    assert "Commands:" in lines and any(ln.strip().startswith("run ") for ln in lines)
    assert "error" not in r.stdout


def test_version() -> None:
    """Before: ``--version`` was an unknown option."""
    from cothub import __version__

    r = cothub("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"cothub {__version__}"


def test_vllm_hint_is_the_source_install() -> None:
    """Before: ``pip install cothub[vllm]``, but the project is installed from source."""
    from cothub.models.vllm_offline import INSTALL_HINT

    assert 'pip install -e ".[vllm]"' in INSTALL_HINT and "cothub[vllm]" not in INSTALL_HINT


def test_tasks_lists_sub_tasks_formats_and_defaults(cli: Any) -> None:
    """Before: ``cothub tasks bbh`` was refused (no argument); the list named one sub-task."""
    r = cli("tasks", "bbh")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "bbh: formats fewshot-cot (default), fewshot-direct, zeroshot-cot, " \
        "zeroshot-direct"  # fmt: skip
    assert "default format: fewshot-cot" in lines
    subs = [ln.strip() for ln in lines if ln.startswith("  bbh/")]
    assert len(subs) == 27 and "bbh/navigate" in subs and "bbh/web_of_lies" in subs
    r = cli("tasks", "mmlu")
    assert "default format: fewshot-direct" in r.out and "  mmlu/anatomy" in r.out
    r = cli("tasks", "no-such-task")
    assert r.code == 2 and "unknown task 'no-such-task'" in one_line(r.err)


# ---- checks that come before the first request --------------------------------------------------


@pytest.mark.parametrize(
    "second, named",
    [
        ("anthropic/claude-haiku-4-5", "ANTHROPIC_API_KEY is not set"),
        ("fake/script:no-such-script.json", "fake script 'no-such-script.json' not found"),
        ("hf/./no-such-model-folder", "hf model folder './no-such-model-folder' does not exist"),
        ("openai/m2", None),  # control: a second model that is fine runs after the first
    ],
)
def test_every_model_is_checked_before_the_first_request(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second: str,
    named: str | None,
) -> None:  # fmt: skip
    """Before: the second model's missing key, script or folder was found after the first
    model's whole run, and then no ``--json`` was written."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    if second.startswith("hf/"):
        pytest.importorskip("transformers")
    out = tmp_path / "r.json"
    with running_server(Script(default=ANSWER)) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)  # the first model's endpoint only
        r = cli(
            "run", "gsm8k", "--model", "openai/m", "--model", second, "--data-dir", data_dir,
            "--limit", 3, "--store", tmp_path / "s.db", "--json", out,
        )  # fmt: skip
        sent = srv.stats.completion_requests
    if named is None:
        assert r.code == 0, r.err
        assert len(json.loads(out.read_text())["runs"]) == 2
        return
    assert r.code == 2 and named in one_line(r.err), r.err
    assert sent == 0  # nothing reached the server for the first model either
    assert not out.exists()


@pytest.mark.parametrize("bad", ["/proc/cothub-results.json", "/proc/no/such/results.json"])
def test_unwritable_json_path_is_refused_before_the_first_request(
    cli: Any, data_dir: Path, tmp_path: Path, bad: str
) -> None:
    """Before: a --json path that cannot be written was reported after the whole run."""
    with running_server(Script(default=ANSWER)) as srv:
        r = cli(
            "run", "gsm8k", "--model", "openai/m", "--base-url", srv.base_url,
            "--data-dir", data_dir, "--limit", 2, "--store", tmp_path / "s.db", "--json", bad,
        )  # fmt: skip
        sent = srv.stats.completion_requests
    line = one_line(r.err)
    assert r.code == 2 and line.startswith(f"cothub: error: --json {bad}: /proc is not writable"), (
        line
    )
    assert sent == 0


# ---- Ctrl-C -----------------------------------------------------------------------------------


def _wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_ctrl_c_exits_130_with_the_resume_line(data_dir: Path, tmp_path: Path) -> None:
    """Before: exit 130 and nothing else (typer turned Ctrl-C into 130 before cothub's line).
    A real process gets SIGINT mid-run against a slow server; the same command then resumes."""
    with running_server(Script(default=ANSWER), latency_ms=150) as srv:
        args = [
            sys.executable, "-m", "cothub", "run", "gsm8k", "--model", "openai/m",
            "--base-url", srv.base_url, "--data-dir", str(data_dir), "--limit", "40",
            "--concurrency", "2", "--store", str(tmp_path / "s.db"),
        ]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: srv.stats.completion_requests >= 6)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1] == (
            "cothub: interrupted; finished samples are saved, re-run the same command to resume"
        ), err
        assert "Traceback" not in err
        done = sqlite3.connect(tmp_path / "s.db").execute("SELECT COUNT(*) FROM samples")
        saved = int(done.fetchone()[0])
        assert saved >= 4
        before = srv.stats.completion_requests
        srv.latency_ms = 0
        again = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert srv.stats.completion_requests - before <= 40 - saved  # finished ones not re-sent


# ---- credentials in the base URL; a run that did not finish ------------------------------------


def test_credentials_in_base_url_go_out_as_basic_auth_and_are_never_stored(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    """Before: 40 s of retries, "malformed response" and an unclosed-session warning; later,
    nothing reached the server and the run ended ``incomplete`` with exit 0 and no message."""
    with running_server(Script(default=ANSWER)) as srv:
        url = srv.base_url.replace("http://", "http://gw-user:s3cr%40t@")
        out = tmp_path / "r.json"
        r = cli(
            "run", "gsm8k", "--model", "openai/m", "--base-url", url, "--data-dir", data_dir,
            "--limit", 3, "--store", tmp_path / "s.db", "--json", out,
        )  # fmt: skip
        auths = srv.stats.authorizations
    assert r.code == 0, r.err
    assert "Unclosed" not in r.err and "malformed" not in r.err
    token = base64.b64encode(b"gw-user:s3cr@t").decode()
    assert auths == [f"Basic {token}"] * 3
    result = json.loads(out.read_text())
    assert result["status"] == "complete" and result["usage"]["requests"] == 3
    stored = (tmp_path / "s.db").read_bytes() + out.read_bytes()
    for secret in (b"s3cr", b"gw-user", token.encode()):
        assert secret not in stored


def test_credentials_in_base_url_with_an_openai_key_are_refused_at_once(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    with running_server(Script(default=ANSWER)) as srv:
        url = srv.base_url.replace("http://", "http://u:p@")
        r = cli(
            "run", "gsm8k", "--model", "openai/m", "--base-url", url, "--data-dir", data_dir,
            "--limit", 2, "--store", tmp_path / "s.db",
        )  # fmt: skip
        sent = srv.stats.total
    line = one_line(r.err)
    assert r.code == 2 and "holds credentials" in line and "OPENAI_API_KEY" in line
    assert ":p@" not in line and sent == 0


def test_anthropic_credentials_in_base_url_go_out_as_basic_auth(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    # The stand-in accepts only this key (in x-api-key): the run passes only if it arrived.
    with anthropic_server(Script(default=ANSWER), api_key="sk-ant-test") as srv:
        url = srv.base_url.replace("http://", "http://u:pw@")
        r = cli(
            "run", "gsm8k", "--model", "anthropic/claude-test", "--base-url", url,
            "--data-dir", data_dir, "--limit", 2, "--store", tmp_path / "s.db",
        )  # fmt: skip
        auths = srv.stats.authorizations
    assert r.code == 0, r.err
    assert auths == ["Basic " + base64.b64encode(b"u:pw").decode()] * 2


def test_a_run_where_every_request_failed_never_exits_0(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    with running_server(Script(default=ANSWER), faults=Faults(fail_all="500")) as srv:
        r = cli(
            "run", "gsm8k", "--model", "openai/m", "--base-url", srv.base_url,
            "--data-dir", data_dir, "--limit", 2, "--store", tmp_path / "s.db",
            "--max-retries", 0, "--json", tmp_path / "r.json",
        )  # fmt: skip
    assert r.code == 2
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "incomplete"
    assert "re-run the same command" in r.err


# ---- data: offline, and the import that needs --format ----------------------------------------


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on: connecting is refused at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    yield port


@pytest.mark.parametrize(
    "command",
    [
        ["run", "gsm8k", "--model", "fake/repeat:7", "--limit", "2"],
        ["import", "gsm8k", "@FILE", "--model-name", "x", "--id-field", "@index"],
    ],
)
def test_offline_without_data_says_so_at_once(
    tmp_path: Path, closed_port: int, command: list[str]
) -> None:
    """Before: the Hub was tried, 25-49 s of retry noise, then exit 2."""
    (tmp_path / "f.jsonl").write_text('{"completion": "The answer is 7."}\n')
    args = [str(tmp_path / "f.jsonl") if a == "@FILE" else a for a in command]
    env = {
        "HF_ENDPOINT": f"http://127.0.0.1:{closed_port}",  # unreachable, like an offline laptop
        "HF_HOME": str(tmp_path / "hf"),
        "COTHUB_STORE": str(tmp_path / "s.db"),
    }
    env_clear = {k: v for k, v in os.environ.items() if k != "COTHUB_DATA_DIR"}
    started = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "cothub", *args], capture_output=True, text=True, timeout=60,
        env={**env_clear, **env}, cwd=tmp_path,
    )  # fmt: skip
    took = time.monotonic() - started
    line = one_line(r.stderr)
    assert r.returncode == 2
    assert "not reachable" in line and "--data-dir" in line and "../shared/data" in line
    assert "Retrying" not in r.stderr
    assert took < 15, took


BBH_DIRECT = "bbh-code-davinci-002-outputs/code-davinci-002-outputs/code-davinci-002-direct"


def test_bbh_direct_import_without_format_names_format(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    """Before: "import it as TASK/SUB-TASK", the wrong fix; the right one is --format."""
    folder = data_dir.parent / "reference" / BBH_DIRECT
    if not folder.is_dir():
        pytest.skip(f"reference outputs not found at {folder}")
    files = sorted(folder.glob("*.json"))
    r = cli(
        "import", "bbh", *files, "--model-name", "cd2", "--id-field", "@index",
        "--data-dir", data_dir, "--store", tmp_path / "s.db",
    )  # fmt: skip
    assert r.code == 2 and "--format fewshot-direct" in one_line(r.err)
    r = cli(
        "import", "bbh", *files, "--model-name", "cd2", "--id-field", "@index",
        "--data-dir", data_dir, "--store", tmp_path / "s.db", "--format", "fewshot-direct",
        "--json", tmp_path / "r.json",
    )  # fmt: skip
    assert r.code == 0, r.err
    acc = json.loads((tmp_path / "r.json").read_text())["tasks"]["bbh"]["accuracy"]
    assert round(100 * acc, 2) == 52.76


# ---- every backend's requests counted and paced where they are sent ----------------------------

RPM = 1200.0
"""50 ms between requests: a short window, yet far above what timing noise can fake."""


def _check_rate(arrivals: Arrivals, rpm: float = RPM) -> None:
    rate = arrivals.rate_per_minute()
    assert rate <= rpm * 1.15, (rate, rpm)
    assert rate >= rpm * 0.4, (rate, rpm)  # paced, not stalled


@pytest.mark.parametrize("strategy, per_item", [("single", 1), ("self-consistency:k=4", 4)])
def test_anthropic_requests_are_counted_and_paced_as_sent(
    cli: Any, data_dir: Path, tmp_path: Path, strategy: str, per_item: int
) -> None:
    """Before: self-consistency (k requests per item, the Messages API has no ``n``) reported
    one request per item (server 20, cothub 4) and went out k times faster than --rpm."""
    arrivals = Arrivals()
    out = tmp_path / "r.json"
    with anthropic_server(Script(responder=arrivals)) as srv:
        r = cli(
            "run", "gsm8k", "--model", "anthropic/claude-test", "--base-url", srv.base_url,
            "--data-dir", data_dir, "--limit", 5, "--store", tmp_path / "s.db", "--json", out,
            "--strategy", strategy, "--rpm", RPM, "--concurrency", 8,
        )  # fmt: skip
        received = srv.stats.completion_requests
    assert r.code == 0, r.err
    result = json.loads(out.read_text())
    assert received == 5 * per_item == result["usage"]["requests"]
    assert result["tasks"]["gsm8k"]["requests_per_item"] == per_item
    _check_rate(arrivals)


@pytest.mark.parametrize(
    "strategy, per_item",
    [("single", 1), ("self-consistency:k=4", 1), ("self-consistency:k=3,batch=false", 3)],
)
def test_openai_requests_are_counted_and_paced_as_sent(
    cli: Any, data_dir: Path, tmp_path: Path, strategy: str, per_item: int
) -> None:
    arrivals = Arrivals()
    out = tmp_path / "r.json"
    with running_server(Script(responder=arrivals)) as srv:
        r = cli(
            "run", "gsm8k", "--model", "openai/m", "--base-url", srv.base_url,
            "--data-dir", data_dir, "--limit", 6, "--store", tmp_path / "s.db", "--json", out,
            "--strategy", strategy, "--rpm", RPM, "--concurrency", 8,
        )  # fmt: skip
        received = srv.stats.completion_requests
    assert r.code == 0, r.err
    result = json.loads(out.read_text())
    assert received == 6 * per_item == result["usage"]["requests"]
    assert result["tasks"]["gsm8k"]["requests_per_item"] == per_item
    _check_rate(arrivals)


# ---- controls lm-eval and Inspect users reach for first ----------------------------------------


def _run_manifest(db: Path) -> dict[str, Any]:
    row = sqlite3.connect(db).execute("SELECT manifest FROM runs").fetchone()
    return dict(json.loads(row[0]))


def _task_extra(db: Path) -> dict[str, Any]:
    tasks = _run_manifest(db)["tasks"]
    entry = tasks["gsm8k"] if isinstance(tasks, dict) else dict(tasks)["gsm8k"]
    return {k: entry[k] for k in ("shots", "system_prompt") if k in entry}


def test_system_prompt_and_shots(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    """Before: neither existed. ``--system-prompt TEXT|@FILE`` and ``--shots N`` are options of
    the prompt stage: every task, chat and text prompts, recorded only when set."""
    (tmp_path / "sys.txt").write_text("You are a careful grader.\n")
    common = ["run", "gsm8k", "--data-dir", data_dir, "--limit", 2, "--model", "openai/m"]
    with running_server(Script(default=ANSWER)) as srv:
        plain = cli(*common, "--base-url", srv.base_url, "--store", tmp_path / "a.db")
        assert plain.code == 0, plain.err
        assert _task_extra(tmp_path / "a.db") == {}  # unset: manifest and run id as before
        default = srv.stats.bodies[-1]["messages"]
        assert default[0]["role"] == "user" and len(default) == 17  # 8 exemplars, 2 turns each

        srv.stats.reset()
        r = cli(
            *common, "--base-url", srv.base_url, "--store", tmp_path / "b.db",
            "--system-prompt", f"@{tmp_path / 'sys.txt'}", "--shots", 2,
        )  # fmt: skip
        assert r.code == 0, r.err
        for body in srv.stats.bodies:
            assert body["messages"][0] == {"role": "system", "content": "You are a careful grader."}
            assert len(body["messages"]) == 1 + 2 * 2 + 1
        assert _task_extra(tmp_path / "b.db") == {
            "shots": 2, "system_prompt": "You are a careful grader.",
        }  # fmt: skip

        srv.stats.reset()
        r = cli(
            *common, "--base-url", srv.base_url, "--store", tmp_path / "c.db", "--api",
            "completions", "--system-prompt", "Answer briefly.", "--shots", 0,
        )  # fmt: skip
        assert r.code == 0, r.err
        for body in srv.stats.bodies:
            assert body["prompt"].startswith("Answer briefly.\n\nQuestion: ")
            assert body["prompt"].count("Question: ") == 1  # no exemplar left

        srv.stats.reset()
        for bad, needle in [
            (["--shots", 9], "--shots 9: gsm8k in this format has 8 exemplars here"),
            (["--shots", 1, "--format", "zeroshot-cot"], "takes no exemplars"),
            (["--system-prompt", "@/no/such/file.txt"], "no file /no/such/file.txt"),
            (["--system-prompt", " "], "--system-prompt is empty"),
        ]:
            r = cli(*common, "--base-url", srv.base_url, "--store", tmp_path / "d.db", *bad)
            assert r.code == 2 and needle in one_line(r.err), r.err
        assert srv.stats.total == 0


def test_system_prompt_reaches_anthropic_as_its_system_parameter(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    with anthropic_server(Script(default=ANSWER)) as srv:
        r = cli(
            "run", "bbh/navigate", "--model", "anthropic/claude-test", "--base-url",
            srv.base_url, "--data-dir", data_dir, "--limit", 2, "--store", tmp_path / "s.db",
            "--system-prompt", "Think, then answer.",
        )  # fmt: skip
        bodies = srv.stats.bodies
    assert r.code == 0, r.err
    assert [b["system"] for b in bodies] == ["Think, then answer."] * 2
