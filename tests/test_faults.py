"""Fault injection: a malformed or broken reply must never become a wrong answer.

Against :mod:`faultserver` (raw sockets, independent of ``cothub.testing``), every fault kind is
injected alone (the first attempt of every prompt) and in a seeded 30 % mix of all kinds, for
OpenAI chat, OpenAI text completions and Anthropic messages; each run's final stored samples
(prompt, completion, answer, verdict, finish reason, tokens) and cache must equal a clean run's.
Then: retries exhausted (items recorded as failed, run resumable), a dead server, the whole-request
timeout, poisoned cache entries from older releases, Retry-After beyond the cap, typed kinds.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import gold_of, gsm8k_items, planned, question_of, said
from cothub.api import evaluate
from cothub.errors import BackendError
from cothub.models import make_backend, parse_model
from cothub.models.base import Retryable, RetryKind
from cothub.runner import RetryPolicy, RunConfig, RunResult
from cothub.store import Store
from cothub.strategies import parse_strategy
from cothub.tasks import PromptOptions
from cothub.types import GenerateConfig, Message, Prompt
from faultserver import (
    ANTHROPIC_SHAPES,
    COMMON,
    OPENAI_SHAPES,
    TIMING_KINDS,
    Alone,
    Always,
    FaultServer,
    Mix,
    Plan,
    Reply,
    fault_server,
    kinds,
)

APIS = ("chat", "completions", "anthropic")
N_ALONE = 8
N_MIX = 40
ACCEPTED = frozenset({"wrong_content_type"})
"""Not a fault once read strictly: a valid body whatever its label. Served at the first try."""

# What every kind must be classified as (the runner decides by this, never by a message).
EXPECTED: dict[str, RetryKind | frozenset[RetryKind]] = {
    **{k: "server_error" for k in ("http500", "http502", "http503", "http504", "http408",
                                    "http529", "http502_html", "http503_retry_after_ms",
                                    "error_in_200", "finish_reason_abort")},
    "http429": "rate_limited", "http429_retry_after": "rate_limited",
    **{k: "dropped" for k in ("reset_before_headers", "close_before_headers", "reset_mid_body",
                              "content_length_too_long", "garbage_status_line",
                              "broken_chunked", "gzip_garbage")},
    # Read as the Content-Length says: truncated JSON; or the rest breaks the connection.
    "content_length_too_short": frozenset({"malformed", "dropped"}),
    "gzip_truncated": "malformed",  # framing intact, the decoded JSON cut short
    "drip_body": "timeout", "hang_before_headers": "timeout",
}  # fmt: skip


def expected_kind(kind: str) -> frozenset[RetryKind]:
    want = EXPECTED.get(kind, "malformed")
    return want if isinstance(want, frozenset) else frozenset({want})


# ---- the scripted model, a run, its stored samples ---------------------------------------------


class Model:
    """GSM8K answers known in advance per item: right, wrong, unparsed or truncated."""

    def __init__(self, data: Path) -> None:
        self.items = gsm8k_items(data)
        self.index = {it["question"].split("\n")[0]: i for i, it in enumerate(self.items)}
        self.overrides: dict[int, str] = {}

    def __call__(self, request: dict[str, Any]) -> Reply:
        i = self.index[question_of(request)]
        if i in self.overrides:
            return [(self.overrides[i], "stop")]
        gold = gold_of(self.items[i]).replace(",", "")
        kind = planned(i)
        if kind == "unparsed":
            return [("Let's think step by step\nI cannot solve this.", "stop")]
        if kind == "truncated":
            return [("Let's think step by step\nFirst we", "length")]
        answer = gold if kind == "right" else str(int(gold) + 1)
        return [(f"Let's think step by step\nSome working: 3 + 4 = 7.\nThe answer is {answer}.",
                 "stop")]  # fmt: skip


@dataclass
class Env:
    srv: FaultServer
    model: Model
    data: Path

    def url(self, api: str) -> str:
        return self.srv.anthropic_url if api == "anthropic" else self.srv.openai_url

    def run(
        self,
        api: str,
        store: Path,
        limit: int,
        plan: Plan | None = None,
        timeout: float = 10.0,
        retries: int = 6,
        concurrency: int = 64,
        retry_after_cap: float = 600.0,
        strategy: str = "single",
    ) -> RunResult:
        self.srv.reset(plan)
        config = RunConfig(
            tasks=("gsm8k",),
            format=None,
            options=PromptOptions(style="completions" if api == "completions" else "chat"),
            limit=limit,
            seed=0,
            max_tokens=None,
            temperature=0.0,
            concurrency=concurrency,
            timeout_s=timeout,
            retry=RetryPolicy(max_retries=retries, base_s=0.01, retry_after_cap_s=retry_after_cap),
            strategy=parse_strategy(strategy),
        )
        model = "anthropic/claude-x" if api == "anthropic" else "openai/m"
        return evaluate(config, model, base_url=self.url(api), data_dir=self.data,
                        store_path=store)  # fmt: skip


COLUMNS = ("item_id", "prompt", "completion", "reasoning", "finish_reason", "answer", "method",
           "correct", "prompt_tokens", "completion_tokens", "reasoning_tokens",
           "cache_key")  # fmt: skip


def samples(store: Path) -> dict[str, tuple[Any, ...]]:
    db = sqlite3.connect(store)
    try:
        rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM samples").fetchall()
    finally:
        db.close()
    return {r[0]: r[1:] for r in rows}


def cache(store: Path) -> dict[str, list[str]]:
    db = sqlite3.connect(store)
    try:
        rows = db.execute("SELECT key, choices FROM completions").fetchall()
    finally:
        db.close()
    return {k: [c["text"] for c in json.loads(v)] for k, v in rows}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from conftest import DATA

    if not (DATA / "gsm8k" / "test.jsonl").is_file():
        pytest.skip(f"benchmark data not found at {DATA}")
    model = Model(DATA)
    with fault_server(model) as srv:
        yield Env(srv, model, DATA)


_REFERENCE: dict[tuple[str, int], tuple[Path, dict[str, Any], dict[str, Any]]] = {}


def reference(env: Env, api: str, limit: int, tmp: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A clean run's samples and cache (computed once per API and size)."""
    return _reference(env, api, limit, tmp)[1:]  # type: ignore[return-value]


def _reference(
    env: Env, api: str, limit: int, tmp: Path
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    if (api, limit) not in _REFERENCE:
        store = tmp / f"ref-{api}-{limit}.db"
        result = env.run(api, store, limit)
        assert result.status == "complete" and env.srv.requests == limit
        _REFERENCE[api, limit] = (store, samples(store), cache(store))
    return _REFERENCE[api, limit]


@pytest.fixture(autouse=True)
def _anthropic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)


# ---- every kind alone, then all of them mixed -----------------------------------------------


def _cases() -> list[tuple[str, str]]:
    shapes = {"chat": OPENAI_SHAPES, "completions": OPENAI_SHAPES, "anthropic": ANTHROPIC_SHAPES}
    out = [(api, k) for api in ("chat", "anthropic") for k in {**COMMON, **shapes[api]}]
    # Text completions share the transport with chat: their own body shapes suffice.
    return out + [("completions", k) for k in OPENAI_SHAPES]


@pytest.mark.parametrize(("api", "kind"), _cases())
def test_each_fault_kind_alone(env: Env, tmp_path: Path, api: str, kind: str) -> None:
    ref_samples, ref_cache = reference(env, api, N_ALONE, tmp_path)
    timeout = 1.0 if kind in TIMING_KINDS else 10.0
    start = time.perf_counter()
    result = env.run(api, tmp_path / "s.db", N_ALONE, Alone(kind), timeout=timeout)
    wall = time.perf_counter() - start
    assert env.srv.injected[kind] == N_ALONE  # every prompt's first attempt got it
    assert result.status == "complete" and not result.failed, result.failure_line
    assert samples(tmp_path / "s.db") == ref_samples, kind
    assert cache(tmp_path / "s.db") == ref_cache, kind
    faults = 0 if kind in ACCEPTED else N_ALONE
    # A connection the server closed after a fault can fail once more when reused: >=.
    assert result.usage.retries >= faults and result.usage.requests == N_ALONE
    assert env.srv.requests == N_ALONE + faults
    # Decided by the typed kind: only 429s count as rate limiting (and lower the concurrency).
    assert result.usage.rate_limited == (N_ALONE if "rate_limited" in expected_kind(kind) else 0)
    if kind in TIMING_KINDS:  # the whole request is bounded, not each read
        assert wall < 8 * timeout, wall


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("seed", [1, 2])
def test_thirty_percent_mix_of_all_kinds(env: Env, tmp_path: Path, api: str, seed: int) -> None:
    ref_samples, ref_cache = reference(env, api, N_MIX, tmp_path)
    everything = sorted(kinds(api))
    result = env.run(api, tmp_path / "s.db", N_MIX, Mix(everything, 0.3, seed), timeout=1.0,
                     retries=10)  # fmt: skip
    injected = sum(env.srv.injected.values())
    assert injected >= 5 and len(env.srv.injected) >= 5, env.srv.injected
    assert result.status == "complete" and not result.failed, result.failure_line
    assert samples(tmp_path / "s.db") == ref_samples
    assert cache(tmp_path / "s.db") == ref_cache
    assert env.srv.requests == N_MIX + result.usage.retries


def test_mix_covers_every_kind(env: Env) -> None:
    """The mixed runs draw from all kinds: over these seeds each kind is injected somewhere."""
    for api in APIS:
        everything = sorted(kinds(api))
        assert len(everything) >= 30
        drawn = set()
        for seed in (1, 2):
            plan = Mix(everything, 0.3, seed)
            for q in range(N_MIX * 4):
                for attempt in range(4):
                    k = plan.fault(f"probe{q}", attempt)
                    if k:
                        drawn.add(k)
        assert len(drawn) >= 30


# ---- retries exhausted: failed, not wrong; resumable ----------------------------------------


@dataclass
class Some(Plan):
    """``kind`` on every attempt of the prompts whose key holds one of ``needles``."""

    kind: str
    needles: tuple[str, ...]

    def fault(self, key: str, attempt: int) -> str | None:
        return self.kind if any(n in key for n in self.needles) else None


def _needles(env: Env, store: Path, n: int) -> tuple[str, ...]:
    db = sqlite3.connect(store)
    ids = [r[0] for r in db.execute("SELECT item_id FROM samples ORDER BY item_id LIMIT ?", (n,))]
    db.close()
    return tuple(env.model.items[int(i.split("/")[1])]["question"].split("\n")[0] for i in ids)


@pytest.mark.parametrize("api", ["chat", "anthropic"])
def test_items_failing_every_retry_are_failed_not_wrong_and_resume(
    env: Env, tmp_path: Path, api: str
) -> None:
    ref_samples, ref_cache = reference(env, api, N_ALONE, tmp_path)
    needles = _needles(env, _reference(env, api, N_ALONE, tmp_path)[0], 3)
    store = tmp_path / "s.db"
    kind = "text_null" if api != "anthropic" else "block_null"
    result = env.run(api, store, N_ALONE, Some(kind, needles), retries=2)
    assert result.status == "incomplete"
    assert len(result.failed) == 3 and {f["kind"] for f in result.failed} == {"malformed"}
    assert all(f["attempts"] == 3 for f in result.failed)
    assert result.failure_line.startswith(f"run {result.run_id}: 3 items failed after 2 retries")
    assert "malformed responses from the server" in result.failure_line
    assert "re-run the same command" in result.failure_line
    got = samples(store)
    assert len(got) == N_ALONE - 3 and all(ref_samples[k] == v for k, v in got.items())
    assert len(cache(store)) == N_ALONE - 3  # nothing malformed was cached
    assert result.summaries["gsm8k"].n == N_ALONE - 3  # not graded: neither right nor wrong
    db = Store(store)
    try:
        assert len(db.failures(result.run_id)) == 3
        assert db.run(result.run_id).status == "incomplete"
    finally:
        db.close()
    assert json.loads(json.dumps(result.as_json()))["failed"][0]["kind"] == "malformed"

    again = env.run(api, store, N_ALONE)  # a healthy server: exactly the failed ones are sent
    assert env.srv.requests == 3 and again.usage.requests == 3
    assert again.status == "complete" and not again.failed
    assert samples(store) == ref_samples and cache(store) == ref_cache
    db = Store(store)
    try:
        assert db.failures(again.run_id) == []
    finally:
        db.close()


def test_strategy_items_failing_every_retry_are_failed_and_resume(env: Env, tmp_path: Path) -> None:
    sc = "self-consistency:k=3,temperature=0.7"
    ref = tmp_path / "ref.db"
    assert env.run("chat", ref, N_ALONE, strategy=sc).status == "complete"
    needles = _needles(env, ref, 2)
    store = tmp_path / "s.db"
    result = env.run("chat", store, N_ALONE, Some("choices_empty", needles), retries=1,
                     strategy=sc)  # fmt: skip
    assert result.status == "incomplete" and len(result.failed) == 2
    assert len(samples(store)) == N_ALONE - 2
    again = env.run("chat", store, N_ALONE, strategy=sc)
    assert again.status == "complete" and again.usage.requests == 2
    assert samples(store) == samples(ref)


def test_a_dead_server_stops_the_run_with_one_error(env: Env, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"gave up on the model server .*re-run the same"):
        env.run("chat", tmp_path / "s.db", N_ALONE, Always("http500"), retries=1, concurrency=4)
    assert env.srv.requests <= 2 * N_ALONE


# ---- the whole-request timeout ------------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "anthropic"])
def test_dripping_body_is_bounded_by_timeout(env: Env, api: str) -> None:
    """Before: each request was held for the whole drip (~30 s here) against a 0.5 s timeout."""
    env.srv.reset(Always("drip_body"))
    backend = make_backend(parse_model("openai/m" if api != "anthropic" else "anthropic/c"),
                           "chat", env.url(api))  # fmt: skip
    prompt = Prompt("chat", messages=(Message("user", env.model.items[0]["question"]),))

    async def go() -> float:
        start = time.perf_counter()
        try:
            with pytest.raises(Retryable) as caught:
                await backend.generate(prompt, GenerateConfig(max_tokens=8, timeout_s=0.5))
            assert caught.value.kind == "timeout" and "--timeout 0.5 s" in caught.value.reason
        finally:
            await backend.aclose()
        return time.perf_counter() - start

    assert asyncio.run(go()) < 2.0


# ---- every kind's typed classification ------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "completions", "anthropic"])
def test_every_kind_is_classified_by_a_typed_kind(env: Env, api: str) -> None:
    provider = parse_model("anthropic/c" if api == "anthropic" else "openai/m")
    style = "completions" if api == "completions" else "chat"
    question = env.model.items[0]["question"]
    if api == "completions":
        prompt = Prompt("completions", text=f"Question: {question}\nAnswer:")
    else:
        prompt = Prompt("chat", messages=(Message("user", question),))
    got: dict[str, str] = {}

    async def go() -> None:
        for kind in kinds(api):
            env.srv.reset(Always(kind))
            timeout = 0.5 if kind in TIMING_KINDS else 10.0
            # A fresh client each time: a connection a fault closed is not reused by the next.
            backend = make_backend(provider, style, env.url(api))
            try:
                await backend.generate(prompt, GenerateConfig(max_tokens=8, timeout_s=timeout))
                got[kind] = "answer"
            except Retryable as e:
                got[kind] = e.kind
            finally:
                await backend.aclose()

    asyncio.run(go())
    wrong = {
        k: got[k]
        for k in kinds(api)
        if ((got[k] != "answer") if k in ACCEPTED else (got[k] not in expected_kind(k)))
    }
    assert wrong == {}


# ---- replies that are answers ---------------------------------------------------------------


def test_well_formed_empty_reply_is_an_empty_answer(env: Env, tmp_path: Path) -> None:
    ref_samples, _ = reference(env, "chat", N_ALONE, tmp_path)
    first = sorted(ref_samples)[0]
    i = int(first.split("/")[1])
    env.model.overrides[i] = ""
    try:
        result = env.run("chat", tmp_path / "s.db", N_ALONE)
        assert result.status == "complete" and result.usage.retries == 0
        row = samples(tmp_path / "s.db")[first]
        assert row[COLUMNS.index("completion") - 1] == "" and row[COLUMNS.index("correct") - 1] == 0
        again = env.run("chat", tmp_path / "s.db", N_ALONE)  # cached like any answer
        assert again.usage.requests == 0 and env.srv.requests == 0
    finally:
        env.model.overrides.clear()


def test_refusal_beside_null_content_is_the_answer() -> None:
    from cothub.models.openai_api import _completions

    body = {"choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": None,
                                     "refusal": "I can't help with that."}}]}  # fmt: skip
    (c,) = _completions(body, "chat", 1, 0.0)
    assert c.text == "I can't help with that."
    body["choices"][0]["message"] = {"role": "assistant", "content": None}  # type: ignore[index]
    with pytest.raises(Retryable) as caught:
        _completions(body, "chat", 1, 0.0)
    assert caught.value.kind == "malformed"


# ---- poisoned cache entries from older releases ---------------------------------------------


def _poison(store: Path, n: int) -> list[str]:
    """Make ``store`` look as older releases left it after malformed replies: ``n`` cached
    completions empty (the choice had no message), their samples graded wrong, no repair mark."""
    db = sqlite3.connect(store)
    keys = [r[0] for r in db.execute("SELECT key FROM completions ORDER BY key LIMIT ?", (n,))]
    for k in keys:
        (raw,) = db.execute("SELECT choices FROM completions WHERE key=?", (k,)).fetchone()
        choices = json.loads(raw)
        for c in choices:
            c["text"], c["reasoning"] = "", None
        db.execute("UPDATE completions SET choices=? WHERE key=?", (json.dumps(choices), k))
        db.execute(
            "UPDATE samples SET completion='', answer=NULL, method='none', correct=0 "
            "WHERE cache_key=?",
            (k,),
        )
    db.execute("DELETE FROM meta WHERE key='poisoned_cache_repaired'")
    db.commit()
    db.close()
    return keys


def test_poisoned_cache_from_older_releases_is_repaired(env: Env, tmp_path: Path) -> None:
    ref_samples, ref_cache = reference(env, "chat", N_ALONE, tmp_path)
    store = tmp_path / "s.db"
    env.run("chat", store, N_ALONE)
    _poison(store, 3)
    assert samples(store) != ref_samples
    result = env.run("chat", store, N_ALONE)  # the next run drops them and asks again
    assert env.srv.requests == 3 and result.usage.requests == 3 and result.usage.cached == 5
    assert samples(store) == ref_samples and cache(store) == ref_cache
    # Once repaired, empty answers are trusted: a later run sends nothing.
    assert env.run("chat", store, N_ALONE).usage.requests == 0


def test_repair_marks_affected_runs_incomplete(env: Env, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    run_id = env.run("chat", store, N_ALONE).run_id
    _poison(store, 2)
    db = Store(store)
    try:
        assert db.repair_poisoned() == 2
        assert db.repair_poisoned() == 0  # once per store
        assert db.run(run_id).status == "incomplete"
        assert len(list(db.records(run_id))) == N_ALONE - 2
    finally:
        db.close()


# ---- Retry-After beyond the cap ------------------------------------------------------------


def test_retry_after_is_honoured_up_to_the_cap_and_said_once(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert RetryPolicy().delay(0, 3600) == 600 and RetryPolicy().delay(0, 7) == 7
    result = env.run("chat", tmp_path / "s.db", N_ALONE, Alone("http429_retry_after_long"),
                     retry_after_cap=0.01)  # fmt: skip
    assert result.status == "complete" and result.usage.rate_limited == N_ALONE
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "cothub: warning: the server asked to wait 3600 s before retrying (Retry-After); "
        "cothub waits at most 0.01 s"
    ]


# ---- through the CLI ----------------------------------------------------------------------


def test_cli_says_failed_items_in_one_line_exits_2_and_resumes(
    env: Env, tmp_path: Path, cli: Any
) -> None:
    needles = _needles(env, _reference(env, "chat", N_ALONE, tmp_path)[0], 3)
    args = ["run", "gsm8k", "--model", "openai/m", "--base-url", env.srv.openai_url,
            "--data-dir", env.data, "--store", tmp_path / "s.db", "--json", tmp_path / "o.json",
            "--limit", N_ALONE, "--max-retries", "2", "--backoff", "0.01"]  # fmt: skip
    env.srv.reset(Some("message_null", needles))
    r = cli(*args)
    assert r.code == 2, r.err
    lines = said(r.err)  # besides the run's start line
    assert len(lines) == 1 and "Traceback" not in r.err + r.out, r.err
    assert "3 items failed after 2 retries (malformed responses from the server)" in lines[0]
    assert "re-run the same command to resume" in lines[0]
    out = json.loads((tmp_path / "o.json").read_text())
    assert out["status"] == "incomplete" and len(out["failed"]) == 3
    assert out["tasks"]["gsm8k"]["n"] == N_ALONE - 3
    env.srv.reset()
    again = cli(*args)
    assert again.code == 0 and said(again.err) == [] and env.srv.requests == 3
    assert json.loads((tmp_path / "o.json").read_text())["status"] == "complete"
