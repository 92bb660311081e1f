"""Reasoning models over real HTTP: thinking is stored apart and never graded, unclosed thinking and
token-limit cuts are counted as truncated, and --reasoning-effort / --thinking-budget reach the
request body (and only backends that can honour them) without moving any existing cache key."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openai
import pytest

from conftest import gold_of, gsm8k_items, question_of
from cothub.errors import CothubError
from cothub.extract.reasoning import (
    inline_thinking,
    open_thinking_tail,
    unclosed_thinking,
    with_thinking,
)
from cothub.models import check_settings
from cothub.models.openai_api import OpenAIBackend
from cothub.runner import cache_key
from cothub.testing import anthropic_server
from cothub.testing.openai_server import Choice, Rule, Script, running_server
from cothub.types import Completion, GenerateConfig, Message, Prompt

PROMPT = Prompt("chat", messages=(Message("user", "Q: 2+2?"),), stop=("\n\n",))


_Identity = SimpleNamespace(
    identity={"provider": "openai", "model": "m", "base_url": "http://x/v1", "api": "chat"}
)


# ---- cache keys -------------------------------------------------------------------------------


def test_cache_keys_of_runs_without_reasoning_flags_are_unchanged() -> None:
    # Computed with the code before the reasoning fields existed: every stored completion of an
    # earlier run must still be found.
    plain = GenerateConfig(max_tokens=256)
    sampled = GenerateConfig(max_tokens=512, temperature=0.7, top_p=0.9, seed=3, n=4)
    assert cache_key(_Identity, PROMPT, plain) == (
        "cbc0e1d7be2cb78949242e9fb1d7a21f437c09603c172972e55503076093e4f4"
    )
    assert cache_key(_Identity, PROMPT, sampled) == (
        "c28d9ccc606dd5ee06c12a09bbeb2d25ffc4e58df813bab0ff1c58833ccd1c6e"
    )
    assert "reasoning_effort" not in plain.as_json() and "thinking_budget" not in plain.as_json()
    effort = GenerateConfig(max_tokens=256, reasoning_effort="high")
    budget = GenerateConfig(max_tokens=256, thinking_budget=2048)
    assert effort.as_json()["reasoning_effort"] == "high"
    assert budget.as_json()["thinking_budget"] == 2048
    keys = {cache_key(_Identity, PROMPT, c) for c in (plain, effort, budget)}
    assert len(keys) == 3  # a different setting is a different completion


# ---- the thinking parsers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "thinking", "unclosed"),
    [
        ("The answer is 4.", None, False),
        ("<think>2 and 2</think>The answer is 4.", "2 and 2", False),
        ("2 and 2</think>The answer is 4.", "2 and 2", False),  # template opened it
        ("<think>2 and 2, so 4", "2 and 2, so 4", True),
        ("<THINKING>a</THINKING>b", "a", False),
    ],
)
def test_inline_thinking_and_unclosed(text: str, thinking: str | None, unclosed: bool) -> None:
    assert inline_thinking(text) == thinking
    assert unclosed_thinking(text) is unclosed


@pytest.mark.parametrize(
    ("rendered", "tail"),
    [
        ("<|user|>Q<|assistant|><think>\n", "<think>\n"),
        ("<|user|>Q<|assistant|><think>\n\n</think>\n\n", ""),  # thinking switched off
        ("<|user|>Q<|assistant|>", ""),
    ],
)
def test_open_thinking_tail_of_a_rendered_prompt(rendered: str, tail: str) -> None:
    assert open_thinking_tail(rendered) == tail


# ---- OpenAI-compatible: backend level ---------------------------------------------------------


def generate(backend: OpenAIBackend, config: GenerateConfig) -> list[Completion]:
    async def go() -> list[Completion]:
        try:
            return await backend.generate(PROMPT, config)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_openai_reasoning_content_and_inline_think_are_kept_apart_from_the_text() -> None:
    script = Script(
        rules=[Rule("2+2", ["The answer is 4."], reasoning="two and two, not 5")],
    )
    with running_server(script) as srv:
        (c,) = generate(OpenAIBackend("m", "chat", srv.base_url), GenerateConfig(max_tokens=64))
        assert (c.text, c.reasoning) == ("The answer is 4.", "two and two, not 5")
        assert (c.completion_tokens, c.reasoning_tokens) == (9, 5)
        srv.script.rules = [Rule("2+2", ["<think>two and two, not 5</think>The answer is 4."])]
        (c,) = generate(OpenAIBackend("m", "chat", srv.base_url), GenerateConfig(max_tokens=64))
    assert c.text == "<think>two and two, not 5</think>The answer is 4."  # raw text kept
    assert c.reasoning is None and c.reasoning_tokens == 0  # the backend only translates
    # Copied apart for reading once, as the run receives any backend's reply.
    assert with_thinking(c).reasoning == "two and two, not 5" and with_thinking(c).text == c.text


def test_openai_reasoning_effort_and_token_field_in_the_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = GenerateConfig(max_tokens=64, reasoning_effort="low")
    with running_server(Script(default="4")) as srv:
        generate(OpenAIBackend("m", "chat", srv.base_url), cfg)
        generate(OpenAIBackend("m", "chat", srv.base_url), GenerateConfig(max_tokens=64))
        # OpenAI's own endpoint (reached here through a loopback client): max_completion_tokens
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        official = OpenAIBackend("o4-mini", "chat", "https://api.openai.com/v1")
        asyncio.run(official._client.close())
        official._client = openai.AsyncOpenAI(
            api_key="sk-test", base_url=srv.base_url, max_retries=0
        )
        generate(official, cfg)
        generic, plain, openai_body = srv.stats.bodies
    assert generic["reasoning_effort"] == "low" and generic["max_tokens"] == 64
    assert "max_completion_tokens" not in generic
    assert "reasoning_effort" not in plain
    assert openai_body["max_completion_tokens"] == 64 and "max_tokens" not in openai_body
    assert openai_body["reasoning_effort"] == "low"


# ---- OpenAI-compatible: a whole GSM8K run -----------------------------------------------------

KINDS = ("thought-gold", "inline-gold", "unclosed-stop", "cut", "right")


def reasoning_model(data: Path, log: dict[str, str]) -> Script:
    """Per item: the gold only in the thinking (two ways), thinking that never closed (finish
    "stop"), a reply cut at the token limit, or right; ``log`` records which item got what."""
    items = gsm8k_items(data)
    index = {it["question"].split("\n")[0]: i for i, it in enumerate(items)}

    def respond(request: dict[str, Any]) -> list[Choice]:
        i = index[question_of(request)]
        gold = gold_of(items[i]).replace(",", "")
        kind = KINDS[i % len(KINDS)]
        log[f"test/{i}"] = kind
        wrong = str(int(gold) + 1)
        long_thought = "Let me check. " * 200 + f"The answer is {gold}."
        if kind == "thought-gold":
            return [Choice(f"The answer is {wrong}.", reasoning=long_thought)]
        if kind == "inline-gold":
            return [Choice(f"<think>The answer is {gold}.</think>The answer is {wrong}.")]
        if kind == "unclosed-stop":
            return [Choice(f"<think>So it is {gold}, I think. Wait, let me recount")]
        if kind == "cut":
            return [Choice("<think>Counting one by one", "length", reasoning=None)]
        return [Choice(f"The answer is {gold}.", reasoning="Add them up.")]

    return Script(responder=respond)


def openai_args(url: str, data: Path, tmp: Path, *extra: str) -> list[str]:
    return [
        "run", "gsm8k", "--model", "openai/r1", "--base-url", url, "--data-dir", str(data),
        "--store", str(tmp / "store.db"), "--json", str(tmp / "out.json"), "--limit", "20",
        *extra,
    ]  # fmt: skip


def samples(tmp: Path) -> dict[str, tuple[Any, ...]]:
    db = sqlite3.connect(tmp / "store.db")
    try:
        rows = db.execute(
            "SELECT item_id, completion, reasoning, answer, correct, finish_reason, "
            "reasoning_tokens FROM samples"
        ).fetchall()
    finally:
        db.close()
    return {r[0]: r[1:] for r in rows}


def test_thinking_is_never_graded_and_unclosed_or_cut_replies_are_truncated(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    log: dict[str, str] = {}
    with running_server(reasoning_model(data_dir, log)) as srv:
        r = cli(*openai_args(srv.base_url, data_dir, tmp_path, "--reasoning-effort", "high"))
        assert r.code == 0, r.err
        assert all(b["reasoning_effort"] == "high" for b in srv.stats.bodies)
    kinds = list(log.values())
    assert set(kinds) == set(KINDS)  # the seeded subset covers every behaviour
    rows = samples(tmp_path)
    for item, kind in log.items():
        completion, reasoning, answer, correct, finish, _ = rows[item]
        assert correct == (kind == "right"), (item, kind, answer)  # gold in thinking: wrong
        if kind == "inline-gold":
            assert completion.startswith("<think>") and reasoning.startswith("The answer is")
        if kind in ("unclosed-stop", "cut"):
            assert answer is None and reasoning  # the unclosed block is kept for reading
        assert finish == ("length" if kind == "cut" else "stop")
    out = json.loads((tmp_path / "out.json").read_text())
    task = out["tasks"]["gsm8k"]
    assert task["correct"] == kinds.count("right")
    assert task["unclosed_thinking"] == kinds.count("unclosed-stop") + kinds.count("cut")
    assert task["truncated"] == kinds.count("unclosed-stop") + kinds.count("cut")
    assert task["unparsed"] == kinds.count("unclosed-stop") + kinds.count("cut")
    thought = 200 * 3 + 4  # words of long_thought, counted by the stand-in as reasoning tokens
    reasoning_total = thought * kinds.count("thought-gold") + 3 * kinds.count("right")
    assert out["usage"]["reasoning_tokens"] == reasoning_total
    assert task["reasoning_tokens_per_item"] == pytest.approx(reasoning_total / len(kinds))
    # named under the table, apart from the other truncated replies
    assert f"truncated in unclosed thinking: gsm8k {task['unclosed_thinking']}" in r.out

    shown = cli("show", out["run_id"], "--wrong", "--limit", "50", "--store", tmp_path / "store.db")
    assert shown.code == 0, shown.err
    labels = [
        words[0]
        for words in (line.split() for line in shown.out.splitlines())
        if words and words[0] in ("question", "reasoning", "completion")
    ]
    wrong = len(kinds) - kinds.count("right")
    assert labels == ["question", "reasoning", "completion"] * wrong  # thinking above the text
    flat = " ".join(shown.out.split())  # rich wraps long lines
    assert re.search(r"\[\.\.\. [\d,]+ characters \.\.\.\]", flat)  # long thinking shortened
    assert "(the thinking never closed: no answer)" in shown.out


def test_reasoning_effort_changes_the_run_and_its_cache(
    cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    with running_server(reasoning_model(data_dir, {})) as srv:
        base = openai_args(srv.base_url, data_dir, tmp_path, "--limit", "3")
        assert cli(*base).code == 0
        assert cli(*base, "--reasoning-effort", "low").code == 0  # not served from the cache
        assert cli(*base).code == 0  # the plain run again: all cached
        assert srv.stats.completion_requests == 6
    db = sqlite3.connect(tmp_path / "store.db")
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


# ---- Anthropic: thinking blocks and --thinking-budget ------------------------------------------


def anthropic_args(url: str, data: Path, tmp: Path, *extra: str) -> list[str]:
    return [
        "run", "gsm8k", "--model", "anthropic/claude-x", "--base-url", url, "--data-dir",
        str(data), "--store", str(tmp / "store.db"), "--json", str(tmp / "out.json"),
        "--limit", "10", *extra,
    ]  # fmt: skip


def test_anthropic_thinking_budget_reaches_the_request_and_thinking_is_not_graded(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    log: dict[str, str] = {}
    with anthropic_server.running_server(reasoning_model(data_dir, log)) as srv:
        flags = ("--thinking-budget", "2048", "--max-tokens", "4096")
        refused = cli(*anthropic_args(srv.base_url, data_dir, tmp_path, *flags))
        assert refused.code == 2 and "--temperature 1" in refused.err
        assert len(refused.err.strip().splitlines()) == 1
        assert srv.stats.completion_requests == 0  # refused before sending
        r = cli(*anthropic_args(srv.base_url, data_dir, tmp_path, *flags, "--temperature", "1"))
        assert r.code == 0, r.err
        bodies = srv.stats.bodies
    assert all(b["thinking"] == {"type": "enabled", "budget_tokens": 2048} for b in bodies)
    assert all("temperature" not in b for b in bodies)  # the API's rule: left at 1
    rows = samples(tmp_path)
    for item, kind in log.items():
        assert rows[item][3] == (kind == "right"), (item, kind)
        if kind in ("thought-gold", "right"):
            assert rows[item][1] and rows[item][5] > 0  # thinking block stored, tokens counted
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["usage"]["reasoning_tokens"] == sum(r[5] for r in rows.values()) > 0


# ---- settings a backend cannot honour ---------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "flag", "value"),
    [
        ("anthropic", "--reasoning-effort", "high"),
        ("openai", "--thinking-budget", "2048"),
        ("vllm", "--reasoning-effort", "low"),
    ],
)
def test_a_setting_the_backend_cannot_send_is_one_line_before_anything_runs(
    cli: Any,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    flag: str,
    value: str,
) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # vllm/ must fail on the flag, not the import
    with running_server(Script(default="4")) as srv:
        url = () if provider == "vllm" else ("--base-url", srv.base_url)
        r = cli(
            "run", "gsm8k", "--model", f"{provider}/m", *url, "--data-dir", data_dir,
            "--store", tmp_path / "store.db", "--limit", "2", flag, value,
        )  # fmt: skip
        assert srv.stats.completion_requests == 0
    assert r.code == 2 and "Traceback" not in r.err
    (line,) = r.err.strip().splitlines()
    assert f"{flag} cannot be sent to {provider}/ models" in line
    assert not (tmp_path / "store.db").exists()  # nothing recorded either


def test_check_settings_refuses_unknown_providers_and_accepts_the_takers() -> None:
    check_settings("openai", GenerateConfig(64, reasoning_effort="high"))
    check_settings("anthropic", GenerateConfig(64, thinking_budget=2048))
    check_settings("hf", GenerateConfig(64))  # nothing asked, nothing refused
    with pytest.raises(CothubError, match="applies to anthropic/ models only"):
        check_settings("hf", GenerateConfig(64, thinking_budget=2048))


def test_anthropic_budget_from_the_config_is_checked_before_sending() -> None:
    from cothub.models.anthropic_api import AnthropicBackend

    def send(constructor_budget: int | None, config: GenerateConfig) -> list[Completion]:
        async def go() -> list[Completion]:
            b = AnthropicBackend("claude-x", "chat", srv.base_url, constructor_budget)
            try:
                return await b.generate(PROMPT, config)
            finally:
                await b.aclose()

        return asyncio.run(go())

    think = GenerateConfig(4096, temperature=1.0, thinking_budget=2048)
    with anthropic_server.running_server(Script(default="4")) as srv:
        with pytest.raises(CothubError, match="below the API's minimum of 1024"):
            send(None, GenerateConfig(4096, temperature=1.0, thinking_budget=100))
        with pytest.raises(CothubError, match="contradicts this backend's thinking budget"):
            send(3000, think)
        assert srv.stats.completion_requests == 0
        send(2048, think)  # both set and equal: fine
        send(None, think)
        assert [b["thinking"]["budget_tokens"] for b in srv.stats.bodies] == [2048, 2048]
