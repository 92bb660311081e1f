"""What cothub prints is safe: no known secret (a server echoing the key, credentials in a URL),
no terminal escape sequence from model text, and ``show`` copes with a 5 MB completion."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import said
from cothub.errors import harmless, redact
from cothub.testing.openai_server import OpenAIStandIn, _HttpError, serve_in_thread

KEY = "sk-test-Zq8Vb0nS3cr3tK3y-0123456789"
GOOD = {"question": "What is 1 + 1?", "answer": "1 + 1 = 2\n#### 2"}


class EchoingServer(OpenAIStandIn):
    """A careless server: its 400 error repeats the request's Authorization header."""

    def _route(self, req: Any, path: str, endpoint: str, body: Any) -> Any:
        if endpoint.endswith("completions"):
            auth = req.headers.get("authorization")
            raise _HttpError(400, f"Incorrect API key provided: {KEY} (header {auth!r})")
        return super()._route(req, path, endpoint, body)


@pytest.fixture
def echoing() -> Iterator[EchoingServer]:
    with serve_in_thread(EchoingServer()) as srv:
        yield srv


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    (tmp_path / "d" / "gsm8k").mkdir(parents=True)
    (tmp_path / "d" / "gsm8k" / "test.jsonl").write_text(json.dumps(GOOD) + "\n")
    return tmp_path / "d"


def store_text(path: Path) -> str:
    """Every byte of the store (and its WAL), decoded leniently, to search for a key."""
    out = ""
    for p in path.parent.glob(path.name + "*"):
        out += p.read_bytes().decode("utf-8", errors="replace")
    return out


def test_a_key_echoed_by_the_server_is_redacted(
    cli: Any,
    echoing: EchoingServer,
    mini: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    r = cli(
        "run",
        "gsm8k",
        "-m",
        "openai/x",
        "--base-url",
        echoing.base_url,
        "--data-dir",
        mini,
        "--format",
        "zeroshot-cot",
        "--store",
        tmp_path / "s.db",
        "--max-retries",
        "0",
    )
    assert r.code == 2, (r.out, r.err)
    assert echoing.stats.authorizations == [f"Bearer {KEY}"]  # the key was sent ...
    assert KEY not in r.err + r.out  # ... and never printed
    assert "***" in r.err, r.err
    assert len(said(r.err)) == 1, r.err
    assert KEY not in store_text(tmp_path / "s.db")


@pytest.mark.parametrize(
    "url", ["ftp://alice:pw-Zq8Vb0nS3cr3t@example.com/v1", "http://alice:pw-Zq8Vb0nS3cr3t@[::1"]
)
def test_credentials_in_a_bad_base_url_are_redacted(
    cli: Any, mini: Path, tmp_path: Path, url: str
) -> None:
    r = cli(
        "run",
        "gsm8k",
        "-m",
        "openai/x",
        "--base-url",
        url,
        "--data-dir",
        mini,
        "--store",
        tmp_path / "s.db",
    )
    assert r.code == 2, (r.out, r.err)
    assert "--base-url" in r.err and "***@" in r.err, r.err
    assert "pw-Zq8Vb0nS3cr3t" not in r.err + r.out, r.err


def test_redact_masks_known_secrets_and_header_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ant-KEY-abcdef")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-12345678")
    text = redact(
        "bad key ant-KEY-abcdef; token tok-12345678; Authorization: Bearer sk-abc123def456ghi; "
        "x-api-key: zzz; http://bob:hunter2@host:8000/v1; the bearer of bad news"
    )
    for secret in ("ant-KEY-abcdef", "tok-12345678", "sk-abc123def456ghi", "zzz", "hunter2"):
        assert secret not in text, text
    assert "http://***@host:8000/v1" in text
    assert "the bearer of bad news" in text  # prose is not a header


def test_harmless_shows_escapes_and_keeps_layout() -> None:
    evil = "a\x1b[2J\x1b]0;pwned\x07b\x9b31m\rc\x08d\u202ee\tf\ng\r\nh"
    shown = harmless(evil)
    assert not any(ord(c) < 0x20 and c not in "\t\n" for c in shown)
    assert not any(0x7F <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E for c in shown)
    assert "\\x1b[2J" in shown and "\\x07" in shown and "\\x9b" in shown and "\\u202e" in shown
    assert "\tf\ng\nh" in shown  # tabs and newlines kept, CRLF is a newline


ESCAPES = "\x1b[31mred\x1b[0m \x1b]8;;http://evil\x07link\x1b]8;;\x07 \x9b2J gone\rover\x08"


def test_show_renders_model_text_harmless(cli: Any, mini: Path, tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    completion = f"Step one\n\tindented [/INST] [bold]x[/bold]\n{ESCAPES}\nThe answer is 3."
    records.write_text(json.dumps({"question": GOOD["question"], "completion": completion}) + "\n")
    store = tmp_path / "s.db"
    r = cli(
        "import",
        "gsm8k",
        records,
        "--model-name",
        "m",
        "--format",
        "zeroshot-cot",
        "--data-dir",
        mini,
        "--store",
        store,
    )
    assert r.code == 0, r.err
    run_id = sqlite3.connect(store).execute("SELECT run_id FROM runs").fetchone()[0]
    r = cli("show", run_id, "--wrong", "--store", store)
    assert r.code == 0, r.err
    for c in "\x1b\x07\x9b\x08\r":
        assert c not in r.out + r.err, repr(c)
    assert "\\x1b[31mred" in r.out and "\\x9b2J" in r.out
    assert "Step one\n\tindented [/INST] [bold]x[/bold]\n" in r.out  # text as written, not markup


def test_show_prints_a_5_mb_completion(cli: Any, mini: Path, tmp_path: Path) -> None:
    """Once 14.5 s (rich laid the text out); the report gives the figure, not this test."""
    line = "Step: add [bold]carefully[/bold], 3 + 4 = 7.\n"
    completion = line * (5_000_000 // len(line)) + "The answer is 3."
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps({"question": GOOD["question"], "completion": completion}) + "\n")
    store = tmp_path / "s.db"
    r = cli(
        "import",
        "gsm8k",
        records,
        "--model-name",
        "m",
        "--format",
        "zeroshot-cot",
        "--data-dir",
        mini,
        "--store",
        store,
    )
    assert r.code == 0, r.err
    run_id = sqlite3.connect(store).execute("SELECT run_id FROM runs").fetchone()[0]
    r = cli("show", run_id, "--wrong", "--store", store)
    assert r.code == 0, r.err
    assert completion in r.out
