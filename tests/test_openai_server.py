"""The OpenAI stand-in server, exercised through the real ``openai`` SDK over loopback sockets."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from openai import OpenAI

from cothub.testing.openai_server import (
    Choice,
    FaultPlan,
    Faults,
    OpenAIStandIn,
    Rule,
    Script,
    prompt_key,
    running_server,
)

SCRIPT = Script(
    rules=[
        Rule("vote", ["A", "B", "C"]),
        Rule("think", ["The answer is 42."], reasoning="six times seven"),
        Rule("long", ["one two three four five six. END seven"]),
        Rule("cut", ["truncated here"], finish_reason="length"),
    ],
    default="default answer",
)


@pytest.fixture(scope="module")
def shared() -> Iterator[OpenAIStandIn]:
    with running_server(SCRIPT) as server:
        yield server


@pytest.fixture
def srv(shared: OpenAIStandIn) -> OpenAIStandIn:
    shared.script = SCRIPT
    shared.faults = Faults()
    shared.latency_ms = 0.0
    shared.reset()
    return shared


@pytest.fixture
def client(srv: OpenAIStandIn) -> Iterator[OpenAI]:
    with OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0, timeout=5) as c:
        yield c


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


# --------------------------------------------------------------------------- shapes


def test_chat_shape_usage_and_recorded_auth(srv: OpenAIStandIn, client: OpenAI) -> None:
    r = client.chat.completions.create(
        model="my-model",
        messages=[{"role": "system", "content": "be brief"}, *user("hello there")],
    )
    assert r.object == "chat.completion"
    assert r.model == "my-model"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "default answer"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    # Tokens are whitespace-split words: "be brief" + "hello there" / "default answer".
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (4, 2, 6)
    (rec,) = srv.stats.requests
    assert rec.method == "POST" and rec.path == "/v1/chat/completions"
    assert rec.authorization == "Bearer sk-test"
    assert "content-type" in rec.header_names
    assert rec.body["model"] == "my-model"
    assert srv.stats.authorizations == ["Bearer sk-test"]


def test_completions_shape_with_and_without_v1(srv: OpenAIStandIn, client: OpenAI) -> None:
    r = client.completions.create(model="m", prompt="say something")
    assert r.object == "text_completion"
    assert r.choices[0].text == "default answer"
    assert r.usage is not None and r.usage.prompt_tokens == 2
    bare = f"http://127.0.0.1:{srv.port}"
    with OpenAI(base_url=bare, api_key="x", max_retries=0) as c:
        assert c.completions.create(model="m", prompt="vote").choices[0].text == "A"
        assert c.chat.completions.create(model="m", messages=user("x")).choices[0].message.content
    assert srv.stats.by_endpoint == {"/v1/completions": 2, "/v1/chat/completions": 1}


def test_n_choices_cycle_responses(client: OpenAI) -> None:
    r = client.chat.completions.create(model="m", messages=user("please vote"), n=5)
    assert [c.message.content for c in r.choices] == ["A", "B", "C", "A", "B"]
    assert [c.index for c in r.choices] == [0, 1, 2, 3, 4]
    assert r.usage is not None and r.usage.completion_tokens == 5
    t = client.completions.create(model="m", prompt="vote", n=2)
    assert [c.text for c in t.choices] == ["A", "B"]


def test_rules_first_match_last_user_message_and_default(client: OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "vote"},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "now think"},
    ]
    r = client.chat.completions.create(model="m", messages=messages)
    assert r.choices[0].message.content == "The answer is 42."
    r = client.chat.completions.create(model="m", messages=user("think then vote"))
    assert r.choices[0].message.content == "A"  # first matching rule wins
    r = client.chat.completions.create(model="m", messages=user("nothing matches"))
    assert r.choices[0].message.content == "default answer"
    r = client.chat.completions.create(model="m", messages=user("cut"))
    assert r.choices[0].finish_reason == "length"  # scripted finish_reason


def test_reasoning_content(client: OpenAI) -> None:
    r = client.chat.completions.create(model="m", messages=user("think"))
    msg = r.choices[0].message
    assert getattr(msg, "reasoning_content", None) == "six times seven"
    assert r.usage is not None and r.usage.completion_tokens == 4 + 3  # content + reasoning
    plain = client.chat.completions.create(model="m", messages=user("hi")).choices[0].message
    assert getattr(plain, "reasoning_content", None) is None


def test_stop_and_max_tokens(client: OpenAI) -> None:
    r = client.chat.completions.create(model="m", messages=user("long"), stop=["END", "six"])
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == (
        "one two three four five ",
        "stop",
    )
    r = client.chat.completions.create(model="m", messages=user("long"), max_tokens=3)
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == (
        "one two three",
        "length",
    )
    assert r.usage is not None and r.usage.completion_tokens == 3
    r = client.chat.completions.create(model="m", messages=user("long"), max_completion_tokens=2)
    assert r.choices[0].message.content == "one two"
    # The stop string comes before the token limit: stop wins.
    t = client.completions.create(model="m", prompt="long", stop="three", max_tokens=5)
    assert (t.choices[0].text, t.choices[0].finish_reason) == ("one two ", "stop")
    t = client.completions.create(model="m", prompt="long", stop="END", max_tokens=4)
    assert (t.choices[0].text, t.choices[0].finish_reason) == ("one two three four", "length")
    t = client.completions.create(model="m", prompt="long", max_tokens=50)
    assert t.choices[0].finish_reason == "stop"


def test_responder_hook(srv: OpenAIStandIn, client: OpenAI) -> None:
    seen: list[dict[str, Any]] = []

    def responder(request: dict[str, Any]) -> list[Choice] | None:
        seen.append(request)
        if request.get("temperature") == 0:
            return None  # fall back to rules/default
        return [Choice("x", reasoning="r"), Choice("y", finish_reason="length")]

    srv.script = Script(responder=responder, default="fallback")
    r = client.chat.completions.create(model="m", messages=user("q"), n=3, temperature=1)
    assert [(c.message.content, c.finish_reason) for c in r.choices] == [
        ("x", "stop"),
        ("y", "length"),
        ("x", "stop"),
    ]
    r = client.chat.completions.create(model="m", messages=user("q"), temperature=0)
    assert r.choices[0].message.content == "fallback"
    assert seen[0]["n"] == 3


def test_script_from_json_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    rules = [{"match": "2+2", "responses": ["4", "5"], "finish_reason": "length"}]
    path.write_text(json.dumps({"default": "dunno", "rules": rules}))
    script = Script.load(path)
    assert script.default == "dunno"
    assert script.rules == [Rule("2+2", ["4", "5"], "length")]


def test_streaming(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="m",
        messages=user("vote"),
        n=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts: dict[int, str] = {}
    finish: dict[int, str | None] = {}
    usage = None
    for chunk in stream:
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
            finish[c.index] = c.finish_reason or finish.get(c.index)
        usage = chunk.usage or usage
    assert texts == {0: "A", 1: "B"} and finish == {0: "stop", 1: "stop"}
    assert usage is not None and usage.completion_tokens == 2


def test_models_stats_and_404(srv: OpenAIStandIn, client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["stand-in"]
    with pytest.raises(openai.NotFoundError) as info:
        client.post("/nope", cast_to=object, body={})
    assert info.value.status_code == 404
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    stats = httpx2.get(f"http://127.0.0.1:{srv.port}/stats").json()
    assert stats["by_endpoint"] == {"/v1/models": 1, "unknown": 1}
    assert stats["by_status"] == {"200": 1, "404": 1}
    httpx2.post(f"http://127.0.0.1:{srv.port}/stats/reset")
    assert srv.stats.total == 0 and srv.stats.requests == []


def test_chunked_request_body_and_pipelining(srv: OpenAIStandIn) -> None:
    payload = json.dumps({"model": "m", "prompt": "vote"}).encode()

    def chunks() -> Iterator[bytes]:
        yield payload[:7]
        yield payload[7:]

    r = httpx2.post(f"{srv.base_url}/completions", content=chunks())
    assert r.status_code == 200 and r.json()["choices"][0]["text"] == "A"
    # Two pipelined requests in a single write are answered in order.
    req = (
        f"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(req + req)
        data = b""
        while data.count(b"text_completion") < 2:
            data += sock.recv(65536)
    assert data.count(b"HTTP/1.1 200 OK") == 2


# --------------------------------------------------------------------------- faults


def test_fault_429_with_retry_after(srv: OpenAIStandIn, client: OpenAI) -> None:
    srv.faults = Faults(fail_all="429", retry_after=0.5)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=user("q"))
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "0.5"
    assert info.value.code == "rate_limit_exceeded"


@pytest.mark.parametrize("kind", ["500", "503"])
def test_fault_5xx(srv: OpenAIStandIn, client: OpenAI, kind: str) -> None:
    srv.faults = Faults(fail_all=kind)
    with pytest.raises(openai.InternalServerError) as info:
        client.completions.create(model="m", prompt="q")
    assert info.value.status_code == int(kind)


def test_fault_400_is_bad_request(srv: OpenAIStandIn, client: OpenAI) -> None:
    srv.faults = Faults(fail_all="400")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=user("q"))


def test_fault_drop_is_connection_error(srv: OpenAIStandIn, client: OpenAI) -> None:
    srv.faults = Faults(fail_all="drop")
    with pytest.raises(openai.APIConnectionError) as info:
        client.chat.completions.create(model="m", messages=user("q"))
    assert not isinstance(info.value, openai.APITimeoutError)
    assert isinstance(info.value.__cause__, httpx2.RemoteProtocolError)
    assert srv.stats.by_status == {"drop": 1}  # httpx2 does not silently resend


def test_fault_hang_is_timeout(srv: OpenAIStandIn, client: OpenAI) -> None:
    srv.faults = Faults(fail_all="hang")
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(model="m", messages=user("q"))
    assert time.monotonic() - start < 2
    deadline = time.monotonic() + 2  # the server notices the disconnect and cancels the hang
    while srv.stats.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.stats.in_flight == 0


def test_fault_malformed_raises_json_decode_error(srv: OpenAIStandIn, client: OpenAI) -> None:
    # A 200 with an invalid JSON body is not wrapped by openai 3.x: the SDK lets
    # json.JSONDecodeError (a ValueError, *not* an openai.OpenAIError) escape.
    srv.faults = Faults(fail_all="malformed")
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="m", messages=user("q"))
    assert srv.stats.by_status == {"malformed": 1}


def test_fail_first_per_prompt_then_success(srv: OpenAIStandIn, client: OpenAI) -> None:
    srv.faults = Faults(fail_first=[FaultPlan("429", 2), FaultPlan("500", 1)])
    for prompt in ("p1", "p2"):
        with pytest.raises(openai.RateLimitError):
            client.completions.create(model="m", prompt=prompt)
    with pytest.raises(openai.RateLimitError):
        client.completions.create(model="m", prompt="p1")
    with pytest.raises(openai.InternalServerError):
        client.completions.create(model="m", prompt="p1")
    assert client.completions.create(model="m", prompt="p1").choices[0].text == "default answer"
    assert srv.stats.attempts("p1") == 4 and srv.stats.attempts("p2") == 1
    assert srv.stats.by_prompt[prompt_key("p1")] == 4
    # Chat prompts are keyed by the whole messages list.
    srv.faults = Faults(fail_first=FaultPlan("503", 1))
    srv.reset()
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=user("c"))
    client.chat.completions.create(model="m", messages=user("c"))
    assert srv.stats.attempts(user("c")) == 2


def test_sdk_retries_recover_from_fail_first(srv: OpenAIStandIn) -> None:
    srv.faults = Faults(fail_first=FaultPlan("429", 2), retry_after=0.01)
    with OpenAI(base_url=srv.base_url, api_key="x", max_retries=2) as c:
        r = c.chat.completions.create(model="m", messages=user("vote"))
    assert r.choices[0].message.content == "A"
    assert srv.stats.by_status == {"429": 2, "200": 1}


def test_fail_every(srv: OpenAIStandIn, client: OpenAI) -> None:
    srv.faults = Faults(fail_every=("500", 3))
    outcomes = []
    for i in range(6):
        try:
            client.completions.create(model="m", prompt=f"q{i}")
            outcomes.append("ok")
        except openai.InternalServerError:
            outcomes.append("500")
    assert outcomes == ["ok", "ok", "500", "ok", "ok", "500"]


def test_unknown_fault_kind_rejected() -> None:
    with pytest.raises(ValueError):
        Faults(fail_all="418")


# --------------------------------------------------------------------------- capacity


def test_latency_and_slots_bound_concurrency() -> None:
    async def burst(base_url: str) -> float:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as c:
            start = time.monotonic()
            await asyncio.gather(
                *(c.completions.create(model="m", prompt=f"q{i}") for i in range(8))
            )
            return time.monotonic() - start

    with running_server(latency_ms=50, slots=2) as server:
        elapsed = asyncio.run(burst(server.base_url))
        assert server.stats.max_active == 2
        assert server.stats.max_in_flight == 8
    assert elapsed >= 4 * 0.05 * 0.9  # 8 requests through 2 slots of 50 ms


# --------------------------------------------------------------------------- CLI


def test_cli_process(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"default": "d", "rules": [{"match": "hi", "responses": ["yo"]}]}))
    cmd = [sys.executable, "-m", "cothub.testing.openai_server", "--port", "0"]
    cmd += ["--script", str(rules), "--fail-first", "500:1"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("PORT ")
            base_url = f"http://127.0.0.1:{int(line.split()[1])}/v1"
            with OpenAI(base_url=base_url, api_key="x", max_retries=0) as c:
                with pytest.raises(openai.InternalServerError):
                    c.chat.completions.create(model="m", messages=user("hi"))
                r = c.chat.completions.create(model="m", messages=user("hi"))
                assert r.choices[0].message.content == "yo"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
