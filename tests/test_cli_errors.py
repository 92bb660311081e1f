"""Bad input: one clear line naming the problem and the fix, exit code 2, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from conftest import said
from cothub.testing.openai_server import OpenAIStandIn


def assert_one_line(r: Any, *needles: str) -> None:
    assert r.code == 2, (r.code, r.out, r.err)
    lines = said(r.err)  # a run that started said so first
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.err + r.out
    for n in needles:
        assert n in lines[0], lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def base(gsm8k_server: OpenAIStandIn, data_dir: Path, tmp_path: Path) -> list[str]:
    return ["--base-url", gsm8k_server.base_url, "--data-dir", str(data_dir),
            "--store", str(tmp_path / "s.db")]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", "gsm9k", "-m", "openai/x"], ["unknown task 'gsm9k'", "cothub tasks"]),
        (["run", "gsm8k/foo", "-m", "openai/x"], ["no sub-task"]),
        (
            ["run", "gsm8k", "-m", "openai/x", "--format", "fewshot-pot"],
            ["no format", "fewshot-cot"],
        ),
        (["run", "gsm8k", "-m", "gpt-4o"], ["PROVIDER/MODEL", "openai/gpt-4o-mini"]),
        (["run", "gsm8k", "-m", "acme/x"], ["unknown model provider 'acme'"]),
        (["run", "gsm8k", "-m", "openai/x", "--limit", "0"], ["--limit"]),
        (["run", "gsm8k", "-m", "openai/x", "--concurrency", "many"], ["--concurrency"]),
        (["run", "gsm8k", "-m", "openai/x", "--temperature", "-1"], ["--temperature"]),
        (["run", "gsm8k", "-m", "openai/x", "--api", "grpc"], ["--api"]),
        (["run", "gsm8k", "-m", "openai/x", "--bogus"], ["--bogus"]),
        (["run", "gsm8k", "-m", "openai/x", "--prompt-file", "nope.txt"], ["nope.txt"]),
        (["run", "gsm8k"], ["--model"]),
    ],
)
def test_bad_input_is_one_line(
    cli: Any, base: list[str], args: list[str], needles: list[str]
) -> None:
    assert_one_line(cli(*args, *base), *needles)


def test_missing_data_dir(cli: Any, tmp_path: Path) -> None:
    r = cli("run", "gsm8k", "-m", "fake/repeat:1", "--data-dir", tmp_path / "nowhere")
    assert_one_line(r, "does not exist", "--data-dir")


def test_data_dir_without_gsm8k(cli: Any, tmp_path: Path) -> None:
    r = cli("run", "gsm8k", "-m", "fake/repeat:1", "--data-dir", tmp_path)
    assert_one_line(r, "gsm8k", "missing", "--data-dir")


def test_malformed_data_file(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(
        '{"question": "q", "answer": "#### 1"}\n{"question": "broken\n'
    )
    r = cli("run", "gsm8k", "-m", "fake/repeat:1", "--data-dir", tmp_path, "--store",
            tmp_path / "s.db", "--format", "zeroshot-cot")  # fmt: skip
    assert_one_line(r, "test.jsonl:2", "not valid JSON")


def test_unreachable_server_fails_fast(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    r = cli("run", "gsm8k", "-m", "openai/x", "--base-url", f"http://127.0.0.1:{free_port()}/v1",
            "--data-dir", data_dir, "--store", tmp_path / "s.db", "--limit", "3")  # fmt: skip
    assert_one_line(r, "cannot reach the model server", "--base-url")


def test_openai_host_needs_a_key(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    r = cli("run", "gsm8k", "-m", "openai/gpt-4o-mini", "--data-dir", data_dir,
            "--store", tmp_path / "s.db")  # fmt: skip
    assert_one_line(r, "OPENAI_API_KEY")


def test_non_retryable_server_error_names_the_cause(
    cli: Any, gsm8k_server: OpenAIStandIn, base: list[str]
) -> None:
    from cothub.testing.openai_server import Faults

    gsm8k_server.faults = Faults(fail_all="400")
    r = cli("run", "gsm8k", "-m", "openai/x", "--limit", "3", *base)
    assert_one_line(r, "HTTP 400")


def test_offline_hub_without_data_dir(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COTHUB_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    r = cli("run", "gsm8k", "-m", "fake/repeat:1", "--store", tmp_path / "s.db")
    assert_one_line(r, "Hugging Face Hub", "--data-dir")
