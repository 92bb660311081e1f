"""The Anthropic backend over real HTTP against the loopback Messages API stand-in.

Backend-level tests pin the request translation and error mapping; CLI tests run GSM8K end to
end (retries, thinking kept apart from the graded text, key handling).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import gold_of, gsm8k_items, planned, question_of, said, scripted_gsm8k
from cothub.errors import BackendError, CothubError
from cothub.models import make_backend, parse_model
from cothub.models.anthropic_api import AnthropicBackend
from cothub.models.base import Retryable
from cothub.testing.anthropic_server import AnthropicStandIn, running_server
from cothub.testing.openai_server import Choice, FaultPlan, Faults, Rule, Script
from cothub.types import Completion, GenerateConfig, Message, Prompt


@pytest.fixture(autouse=True)
def _no_anthropic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)


def generate(
    base_url: str, prompt: Prompt, config: GenerateConfig, thinking_budget: int | None = None
) -> list[Completion]:
    async def go() -> list[Completion]:
        backend = AnthropicBackend("claude-x", prompt.style, base_url, thinking_budget)
        try:
            return await backend.generate(prompt, config)
        finally:
            await backend.aclose()

    return asyncio.run(go())


CHAT = Prompt(
    "chat",
    messages=(
        Message("system", "Answer briefly."),
        Message("user", "Q: 1+1?"),
        Message("assistant", "2"),
        Message("user", "Q: 2+2?"),
    ),
    stop=("\n\n", " ", "\nQ:"),
)


# ---- request translation ----------------------------------------------------------------------


def test_chat_prompt_becomes_system_param_turns_and_sampling() -> None:
    with running_server(Script(rules=[Rule("2+2", ["The answer is 4.\nQ: next one"])])) as srv:
        cfg = GenerateConfig(max_tokens=64, temperature=0.7, top_p=0.9, seed=3)
        (c,) = generate(srv.base_url, CHAT, cfg)
        assert srv.stats.bodies == [
            {
                "model": "claude-x",
                "max_tokens": 64,
                "system": "Answer briefly.",
                "messages": [
                    {"role": "user", "content": "Q: 1+1?"},
                    {"role": "assistant", "content": "2"},
                    {"role": "user", "content": "Q: 2+2?"},
                ],
                "stop_sequences": ["\nQ:"],  # whitespace-only ones are rejected by the API
                "temperature": 0.7,
                "top_p": 0.9,
            }  # no n, no seed: the API has neither
        ]
        assert c.text == "The answer is 4." and c.finish_reason == "stop"
        assert c.reasoning is None
        assert (c.prompt_tokens, c.completion_tokens) == (7, 4)  # the stand-in counts words

        generate(srv.base_url, CHAT, GenerateConfig(max_tokens=8))
        greedy = srv.stats.bodies[-1]
        assert greedy["temperature"] == 0.0 and "top_p" not in greedy


def test_completion_prompt_is_one_user_message() -> None:
    text = "Q: 1+1?\nA: 2\n\nQ: 2+2?\nA:"
    prompt = Prompt("completions", text=text, stop=("\n\n",))
    with running_server(Script(rules=[Rule("2+2", ["4"])])) as srv:
        (c,) = generate(srv.base_url, prompt, GenerateConfig(max_tokens=16))
        body = srv.stats.bodies[0]
        assert body["messages"] == [{"role": "user", "content": text}]
        assert "system" not in body and "stop_sequences" not in body
        assert c.text == "4"


@pytest.mark.parametrize(
    ("choice", "max_tokens", "text", "finish"),
    [
        (Choice("one two three"), 10, "one two three", "stop"),  # end_turn
        (Choice("one two\nQ: three"), 10, "one two", "stop"),  # stop_sequence
        (Choice("one two three four"), 2, "one two", "length"),  # max_tokens
        (Choice("one", finish_reason="length"), 10, "one", "length"),
        (Choice("I can't help", finish_reason="refusal"), 10, "I can't help", "other"),
    ],
)
def test_stop_reasons(choice: Choice, max_tokens: int, text: str, finish: str) -> None:
    with running_server(Script(responder=lambda _: [choice])) as srv:
        (c,) = generate(srv.base_url, CHAT, GenerateConfig(max_tokens=max_tokens))
    assert (c.text, c.finish_reason) == (text, finish)


def test_n_completions_are_n_requests() -> None:
    calls: list[int] = []

    def respond(_: dict[str, Any]) -> list[Choice]:
        calls.append(1)
        return [Choice(f"answer {len(calls)}")]

    with running_server(Script(responder=respond)) as srv:
        out = generate(srv.base_url, CHAT, GenerateConfig(max_tokens=8, temperature=1.0, n=3))
        assert srv.stats.completion_requests == 3
        assert all("n" not in b for b in srv.stats.bodies)
    assert sorted(c.text for c in out) == ["answer 1", "answer 2", "answer 3"]
    assert [c.completion_tokens for c in out] == [2, 2, 2]  # each request's own usage


def test_system_turn_after_the_first_is_refused_before_sending() -> None:
    late = Prompt("chat", messages=(Message("user", "hi"), Message("system", "be nice")))
    with running_server() as srv:
        with pytest.raises(BackendError, match="system prompt only before the first turn"):
            generate(srv.base_url, late, GenerateConfig(max_tokens=8))
        assert srv.stats.completion_requests == 0


# ---- extended thinking ------------------------------------------------------------------------

THINKER = Script(rules=[Rule("2+2", ["The answer is 4."], reasoning="two and two make four")])


def test_thinking_blocks_go_to_reasoning_not_text() -> None:
    with running_server(THINKER) as srv:
        (c,) = generate(srv.base_url, CHAT, GenerateConfig(max_tokens=64))
    assert c.text == "The answer is 4." and c.finish_reason == "stop"
    assert c.reasoning == "two and two make four"
    assert (c.completion_tokens, c.reasoning_tokens) == (9, 5)


def test_thinking_that_fills_max_tokens_is_truncated_without_text() -> None:
    with running_server(THINKER) as srv:
        (c,) = generate(srv.base_url, CHAT, GenerateConfig(max_tokens=3))
    assert c.text == "" and c.reasoning == "two and two"
    assert c.finish_reason == "length"


def test_thinking_budget_is_sent_and_temperature_left_to_the_api() -> None:
    cfg = GenerateConfig(max_tokens=4096, temperature=1.0)
    with running_server(THINKER) as srv:
        (c,) = generate(srv.base_url, CHAT, cfg, thinking_budget=2048)
        body = srv.stats.bodies[0]
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
        assert "temperature" not in body
        assert c.reasoning == "two and two make four" and c.text == "The answer is 4."

        with pytest.raises(BackendError, match="--temperature 1"):
            generate(srv.base_url, CHAT, GenerateConfig(max_tokens=4096), thinking_budget=2048)
        with pytest.raises(BackendError, match="below --max-tokens"):
            generate(
                srv.base_url, CHAT, GenerateConfig(4096, temperature=1.0), thinking_budget=4096
            )
        assert srv.stats.completion_requests == 1  # refused before sending
    with pytest.raises(CothubError, match="minimum of 1024"):
        AnthropicBackend("claude-x", "chat", srv.base_url, thinking_budget=100)
    plain = AnthropicBackend("claude-x", "chat", srv.base_url)
    deep = AnthropicBackend("claude-x", "chat", srv.base_url, thinking_budget=2048)
    assert plain.identity == {
        "provider": "anthropic",
        "model": "claude-x",
        "base_url": srv.base_url,
        "api": "messages",
    }
    assert deep.identity == {**plain.identity, "thinking_budget": 2048}  # another cache key


# ---- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "needle"),
    [
        ("429", Retryable, "HTTP 429"),
        ("529", Retryable, "overloaded"),
        ("500", Retryable, "HTTP 500"),
        ("503", Retryable, "HTTP 503"),
        ("drop", Retryable, "dropped connection"),
        ("malformed", Retryable, "malformed response"),
        ("hang", Retryable, "timeout"),
        ("400", BackendError, "HTTP 400): Bad request (injected)."),
        ("401", BackendError, "check ANTHROPIC_API_KEY"),
    ],
)
def test_failures_are_translated(kind: str, error: type[Exception], needle: str) -> None:
    faults = Faults(fail_all=kind, retry_after=7, hang_seconds=5)
    with running_server(faults=faults) as srv, pytest.raises(error) as caught:
        generate(srv.base_url, CHAT, GenerateConfig(max_tokens=8, timeout_s=0.3))
    assert needle in str(caught.value)
    if kind == "429":
        assert isinstance(caught.value, Retryable) and caught.value.retry_after == 7


def test_404_names_the_base_url_mistake() -> None:
    bad = r"HTTP 404 .*--base-url \(without /v1"
    with running_server() as srv, pytest.raises(BackendError, match=bad):
        generate(srv.base_url + "/v1", CHAT, GenerateConfig(max_tokens=8))


def test_base_url_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_server(api_key="sk-ant-env") as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
        backend = make_backend(parse_model("anthropic/claude-x"), "chat", None)
        assert backend.identity["base_url"] == srv.base_url

        async def go() -> None:
            await backend.generate(CHAT, GenerateConfig(max_tokens=8))
            await backend.aclose()

        asyncio.run(go())
        assert srv.api_keys == ["sk-ant-env"]


# ---- through the CLI on GSM8K -----------------------------------------------------------------


def run_args(srv: AnthropicStandIn, data: Path, tmp: Path, *extra: str) -> list[str]:
    return [
        "run", "gsm8k", "--model", "anthropic/claude-x", "--base-url", srv.base_url,
        "--data-dir", str(data), "--store", str(tmp / "store.db"), "--json", str(tmp / "out.json"),
        "--limit", "5", *extra,
    ]  # fmt: skip


def stored(tmp: Path, *columns: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(tmp / "store.db")
    try:
        return db.execute(f"SELECT {', '.join(('item_id', *columns))} FROM samples").fetchall()
    finally:
        db.close()


def assert_one_line(r: Any, *needles: str) -> None:
    assert r.code == 2, (r.code, r.out, r.err)
    lines = said(r.err)  # a run that started said so first
    assert len(lines) == 1 and "Traceback" not in r.err + r.out, r.err
    for n in needles:
        assert n in lines[0], lines[0]


def test_cli_retries_through_429_529_500(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    script = scripted_gsm8k(data_dir)
    with running_server(script) as clean:
        assert cli(*run_args(clean, data_dir, tmp_path / "ref")).code == 0
    reference = json.loads((tmp_path / "ref" / "out.json").read_text())["tasks"]["gsm8k"]
    kinds = [planned(int(item.split("/")[1])) for (item,) in stored(tmp_path / "ref")]
    assert reference["n"] == 5
    assert reference["correct"] == kinds.count("right")
    assert reference["truncated"] == kinds.count("truncated")
    assert reference["unparsed"] == kinds.count("unparsed") + kinds.count("truncated")
    for kind in ("429", "529", "500"):
        with running_server(script, faults=Faults(fail_first=FaultPlan(kind, 2))) as srv:
            tmp = tmp_path / kind
            r = cli(*run_args(srv, data_dir, tmp, "--backoff", "0.01"))
            assert r.code == 0, (kind, r.err)
            out = json.loads((tmp / "out.json").read_text())
            assert out["tasks"]["gsm8k"] == reference, kind
            assert out["usage"]["requests"] == 5 and out["usage"]["retries"] == 10, kind
            assert srv.stats.completion_requests == 15, kind
            assert srv.stats.by_status == {kind: 10, "200": 5}, kind


def test_cli_grades_the_text_and_stores_the_thinking_apart(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    items = gsm8k_items(data_dir)
    index = {it["question"].split("\n")[0]: i for i, it in enumerate(items)}

    def respond(request: dict[str, Any]) -> list[Choice]:
        i = index[question_of(request)]
        gold = gold_of(items[i]).replace(",", "")
        if i % 2 == 0:  # right answer in the text, a wrong one in the thinking
            return [Choice(f"The answer is {gold}.", reasoning="The answer is 123456789.")]
        # the right answer only in the thinking: nothing to grade
        return [Choice("I am not sure.", reasoning=f"The answer is {gold}.")]

    with running_server(Script(responder=respond)) as srv:
        r = cli(*run_args(srv, data_dir, tmp_path))
        assert r.code == 0, r.err
    rows = stored(tmp_path, "completion", "reasoning", "correct", "answer")
    assert len(rows) == 5
    for item, completion, reasoning, correct, answer in rows:
        i = int(item.split("/")[1])
        gold = gold_of(items[i]).replace(",", "")
        if i % 2 == 0:
            assert (completion, reasoning) == (f"The answer is {gold}.", "The answer is 123456789.")
            assert correct == 1 and answer == gold
        else:
            assert (completion, reasoning) == ("I am not sure.", f"The answer is {gold}.")
            assert correct == 0 and answer is None
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["usage"]["reasoning_tokens"] > 0


def test_cli_key_is_sent_but_never_stored(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-ant-test-DO-NOT-STORE-0123456789"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    with running_server(scripted_gsm8k(data_dir), api_key=secret) as srv:
        r = cli(*run_args(srv, data_dir, tmp_path))
        assert r.code == 0, r.err
        assert srv.api_keys == [secret] * 5
    for f in tmp_path.iterdir():
        assert secret.encode() not in f.read_bytes(), f
    assert secret not in r.out + r.err
    manifest = json.loads(
        sqlite3.connect(tmp_path / "store.db").execute("SELECT manifest FROM runs").fetchone()[0]
    )
    assert manifest["model"] == {
        "provider": "anthropic",
        "model": "claude-x",
        "base_url": srv.base_url,
        "api": "messages",
    }


def test_cli_rejected_key_is_one_line(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")
    with running_server(scripted_gsm8k(data_dir), api_key="sk-ant-right") as srv:
        r = cli(*run_args(srv, data_dir, tmp_path))
        assert srv.stats.by_status.get("401", 0) >= 1 and srv.stats.completion_requests == 0
    assert_one_line(r, "HTTP 401", "ANTHROPIC_API_KEY")
    assert "sk-ant-wrong" not in r.err


def test_cli_real_host_needs_a_key(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    r = cli("run", "gsm8k", "-m", "anthropic/claude-x", "--data-dir", data_dir,
            "--store", tmp_path / "s.db", "--limit", "1")  # fmt: skip
    assert_one_line(r, "ANTHROPIC_API_KEY is not set", "--base-url")


def test_cli_unreachable_server_fails_fast(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli("run", "gsm8k", "-m", "anthropic/claude-x", "--base-url", f"http://127.0.0.1:{port}",
            "--data-dir", data_dir, "--store", tmp_path / "s.db", "--limit", "3")  # fmt: skip
    assert_one_line(r, "cannot reach the model server", "--base-url")
