"""Scriptable stand-in for an OpenAI-compatible server (loopback HTTP/1.1, pure stdlib asyncio).

Serves ``POST /v1/chat/completions``, ``POST /v1/completions`` (the ``/v1`` prefix is optional),
``GET /v1/models``, ``GET /v1/models/{id}``, ``GET /health``, ``GET /stats`` (JSON counters) and
``POST /stats/reset``. Replies use OpenAI's JSON shapes; ``"stream": true`` is answered with one
SSE chunk per choice. Token counts are whitespace-split words: ``prompt_tokens`` counts the
prompt (or all message texts), ``completion_tokens`` counts content plus reasoning of every choice,
and ``completion_tokens_details.reasoning_tokens`` (sent when a choice has reasoning) the latter.

What to answer comes from a :class:`Script`; capacity from ``latency_ms``/``slots``; failures from
:class:`Faults`. Injected faults apply to the two completion endpoints only and are answered at
once (no latency, no slot), except ``hang``. ``/stats``, ``/stats/reset`` and ``/health`` are not
counted.

In-process use::

    with running_server(Script(rules=[Rule("2+2", ["4"])])) as srv:
        client = OpenAI(base_url=srv.base_url, api_key="x")

Separate process (prints ``PORT <n>`` once listening, serves until SIGTERM/SIGINT)::

    python -m cothub.testing.openai_server --port 0 --latency-ms 200 --slots 64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import signal
import sys
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cothub.testing.script import Choice, Rule, Script, apply_limits, count_tokens

__all__ = [
    "FAULT_KINDS",
    "Choice",
    "FaultPlan",
    "Faults",
    "OpenAIStandIn",
    "RecordedRequest",
    "Rule",
    "Script",
    "Stats",
    "apply_limits",
    "count_tokens",
    "main",
    "prompt_key",
    "running_server",
    "serve_in_thread",
]

FAULT_KINDS = frozenset({"429", "500", "503", "529", "400", "401", "drop", "malformed", "hang"})
"""Injectable fault kinds."""

_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024
_REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultPlan:
    """The first ``times`` attempts for each distinct prompt fail with ``kind``."""

    kind: str
    times: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _check_kind(self.kind))


@dataclass
class Faults:
    """Deterministic fault injection (completion endpoints only).

    Precedence: ``fail_all``; then ``fail_first`` (plans consumed in order per prompt, so
    ``[FaultPlan("429", 2), FaultPlan("500", 1)]`` fails attempts 1-2 with 429, attempt 3 with
    500, then succeeds); then ``fail_every=(kind, k)``, which fails the k-th, 2k-th, ...
    completion request counted since the last reset. ``retry_after`` is the ``Retry-After``
    value (seconds, fractional ok) sent with 429; ``hang_seconds`` is how long ``hang`` stalls
    before closing the connection.
    """

    fail_first: FaultPlan | Sequence[FaultPlan] | None = None
    fail_all: str | None = None
    fail_every: tuple[str, int] | None = None
    retry_after: float = 0.0
    hang_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.fail_all is not None:
            self.fail_all = _check_kind(self.fail_all)
        if self.fail_every is not None:
            kind, k = self.fail_every
            if k < 1:
                raise ValueError("fail_every period must be >= 1")
            self.fail_every = (_check_kind(kind), k)

    @property
    def plans(self) -> tuple[FaultPlan, ...]:
        """``fail_first`` as a tuple."""
        if self.fail_first is None:
            return ()
        if isinstance(self.fail_first, FaultPlan):
            return (self.fail_first,)
        return tuple(self.fail_first)

    def pick(self, attempt: int, request_no: int) -> str | None:
        """Fault kind for this prompt's ``attempt`` (1-based) and global ``request_no``."""
        if self.fail_all is not None:
            return self.fail_all
        seen = 0
        for plan in self.plans:
            seen += plan.times
            if attempt <= seen:
                return plan.kind
        if self.fail_every is not None and request_no % self.fail_every[1] == 0:
            return self.fail_every[0]
        return None


def _check_kind(kind: object) -> str:
    text = str(kind)
    if text not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {text!r}; expected one of {sorted(FAULT_KINDS)}")
    return text


# --------------------------------------------------------------------------- observability


@dataclass
class RecordedRequest:
    """What the client sent (header names are lower-cased)."""

    method: str
    path: str
    header_names: tuple[str, ...]
    authorization: str | None
    body: Any
    api_key: str | None = None
    """The ``x-api-key`` header (how Anthropic-style clients send their key)."""


def prompt_key(prompt: str | Sequence[Any]) -> str:
    """Stable short hash of a completions prompt or a chat ``messages`` list."""
    data = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)
    return hashlib.blake2b(data.encode("utf-8"), digest_size=8).hexdigest()


class Stats:
    """Counters and recorded requests; thread-safe snapshot via :meth:`to_dict`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.completion_requests = 0
        self.by_endpoint: dict[str, int] = {}
        self.by_status: dict[str, int] = {}
        self.by_prompt: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.active = 0
        self.max_active = 0
        self.requests: list[RecordedRequest] = []

    def reset(self) -> None:
        """Zero all counters (also restarts fault schedules) and forget recorded requests."""
        with self._lock:
            self.total = 0
            self.completion_requests = 0
            self.by_endpoint = {}
            self.by_status = {}
            self.by_prompt = {}
            self.max_in_flight = self.in_flight
            self.max_active = self.active
            self.requests = []

    def attempts(self, prompt: str | Sequence[Any]) -> int:
        """How many requests carried this prompt (string or chat ``messages``)."""
        return self.by_prompt.get(prompt_key(prompt), 0)

    @property
    def bodies(self) -> list[Any]:
        """Recorded JSON bodies, in arrival order."""
        return [r.body for r in self.requests]

    @property
    def authorizations(self) -> list[str | None]:
        """Recorded ``Authorization`` header values, in arrival order."""
        return [r.authorization for r in self.requests]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counters (recorded bodies excluded)."""
        with self._lock:
            return {
                "total": self.total,
                "completion_requests": self.completion_requests,
                "by_endpoint": dict(self.by_endpoint),
                "by_status": dict(self.by_status),
                "by_prompt": dict(self.by_prompt),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "active": self.active,
                "max_active": self.max_active,
                "recorded": len(self.requests),
            }

    def _count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


# --------------------------------------------------------------------------- HTTP plumbing


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


@dataclass(slots=True)
class _Plan:
    """A decided reply: ``response`` bytes (``None`` = drop) after ``delay`` seconds."""

    response: bytes | None
    delay: float = 0.0
    use_slot: bool = False
    keep_alive: bool = True


def _http(
    status: int,
    body: bytes,
    *,
    keep_alive: bool = True,
    content_type: str = "application/json",
    extra: str = "",
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
        f"content-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\n"
        f"connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        f"{extra}\r\n"
    )
    return head.encode("latin-1") + body


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _error_body(status: int, message: str, code: str | None = None) -> bytes:
    kind = {
        400: "invalid_request_error",
        401: "invalid_request_error",
        404: "invalid_request_error",
        405: "invalid_request_error",
        413: "invalid_request_error",
        429: "rate_limit_exceeded",
    }.get(status, "server_error")
    return _dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def _parse_chunked(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """Decode a chunked body starting at ``pos``; ``None`` while incomplete."""
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _HttpError(400, "bad chunk size") from None
        pos = eol + 2
        if size == 0:
            while True:  # optional trailers, then an empty line
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return b"".join(parts), eol + 2
                pos = eol + 2
        if len(buf) < pos + size + 2:
            return None
        parts.append(bytes(buf[pos : pos + size]))
        pos += size + 2


class _Connection(asyncio.Protocol):
    """One keep-alive connection; requests are answered in order (pipelining-safe)."""

    def __init__(self, server: OpenAIStandIn) -> None:
        self._srv = server
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._continue_sent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._srv._conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._srv._conns.discard(self)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._task is None:
            self._process()

    def abort(self) -> None:
        """Close at once (server shutdown)."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._transport is not None:
            self._transport.abort()

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def _process(self) -> None:
        srv = self._srv
        while self._task is None and not self._closing:
            try:
                req = self._parse()
            except _HttpError as exc:
                assert self._transport is not None
                self._transport.write(
                    _http(exc.status, _error_body(exc.status, str(exc)), keep_alive=False)
                )
                self._close()
                return
            if req is None:
                return
            plan = srv._handle(req)
            if plan.delay <= 0 and not (plan.use_slot and srv._slot_busy()):
                if plan.use_slot:
                    srv._enter_active()
                    srv._leave_active()
                self._finish(plan)
            else:
                self._task = asyncio.get_running_loop().create_task(self._deferred(plan))

    async def _deferred(self, plan: _Plan) -> None:
        try:
            await self._srv._wait(plan)
        except asyncio.CancelledError:
            self._srv._request_done()
            raise
        self._task = None
        self._finish(plan)
        if not self._closing:
            self._process()

    def _finish(self, plan: _Plan) -> None:
        self._srv._request_done()
        if self._closing or self._transport is None:
            return
        if plan.response is None:
            self._close()
            return
        self._transport.write(plan.response)
        if not plan.keep_alive:
            self._close()

    def _parse(self) -> _Request | None:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD:
                raise _HttpError(400, "request head too large")
            return None
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise _HttpError(400, "bad request line") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            decoded = _parse_chunked(buf, start)
            if decoded is None:
                self._maybe_continue(headers)
                return None
            body, stop = decoded
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _HttpError(400, "bad content-length") from None
            if length < 0 or length > _MAX_BODY:
                raise _HttpError(413, "body too large")
            stop = start + length
            if len(buf) < stop:
                self._maybe_continue(headers)
                return None
            body = bytes(buf[start:stop])
        del buf[:stop]
        self._continue_sent = False
        conn = headers.get("connection", "").lower()
        keep_alive = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
        return _Request(method, target.split("?", 1)[0], headers, body, keep_alive)

    def _maybe_continue(self, headers: dict[str, str]) -> None:
        if not self._continue_sent and headers.get("expect", "").lower() == "100-continue":
            self._continue_sent = True
            assert self._transport is not None
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")


# --------------------------------------------------------------------------- the server


def _message_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type", "text") == "text"
        )
    return ""


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class OpenAIStandIn:
    """Loopback OpenAI-compatible server; ``await start()`` then use :attr:`base_url`.

    ``latency_ms`` is slept per completion request; with ``slots`` set, at most that many
    requests sleep at once (the rest queue), emulating a server with N decode slots.
    ``script``, ``faults`` and ``latency_ms`` may be reassigned while running; ``slots`` may not.
    With ``record=False`` bodies are not kept (counters still are).
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        slots: int | None = None,
        faults: Faults | None = None,
        models: Sequence[str] = ("stand-in",),
        record: bool = True,
    ) -> None:
        if slots is not None and slots < 1:
            raise ValueError("slots must be >= 1")
        self.script = script if script is not None else Script()
        self.host = host
        self.latency_ms = latency_ms
        self.slots = slots
        self.faults = faults if faults is not None else Faults()
        self.models = list(models) or ["stand-in"]
        self.record = record
        self.stats = Stats()
        self._want_port = port
        self._port: int | None = None
        self._server: asyncio.Server | None = None
        self._sem: asyncio.Semaphore | None = None
        self._conns: set[_Connection] = set()
        self._ids = itertools.count(1)

    # -- lifecycle

    async def start(self) -> None:
        """Bind and start listening."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._sem = asyncio.Semaphore(self.slots) if self.slots else None
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self._want_port, backlog=2048
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every open connection (pending replies are cancelled)."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for conn in list(self._conns):
            conn.abort()
        await server.wait_closed()

    async def __aenter__(self) -> OpenAIStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """Bound TCP port (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, ready for ``OpenAI(base_url=...)``."""
        return f"http://{self.host}:{self.port}/v1"

    def reset(self) -> None:
        """Reset counters, recorded requests and fault schedules."""
        self.stats.reset()

    # -- request handling (runs on the event loop)

    def _slot_busy(self) -> bool:
        return self._sem is not None and self._sem.locked()

    def _enter_active(self) -> None:
        st = self.stats
        st.active += 1
        if st.active > st.max_active:
            st.max_active = st.active

    def _leave_active(self) -> None:
        self.stats.active -= 1

    def _request_done(self) -> None:
        self.stats.in_flight -= 1

    async def _wait(self, plan: _Plan) -> None:
        if plan.use_slot and self._sem is not None:
            async with self._sem:
                self._enter_active()
                try:
                    await asyncio.sleep(plan.delay)
                finally:
                    self._leave_active()
        else:
            await asyncio.sleep(plan.delay)

    def _handle(self, req: _Request) -> _Plan:
        path = req.path.rstrip("/") or "/"
        if path.startswith("/v1/"):
            path = path[3:]
        st = self.stats
        if path in ("/stats", "/stats/reset", "/health"):
            st.in_flight += 1  # balanced by _request_done
            if path == "/health":
                return _Plan(_http(200, b'{"status":"ok"}'), keep_alive=req.keep_alive)
            if path == "/stats/reset" and req.method == "POST":
                self.reset()
            return _Plan(_http(200, _dumps(st.to_dict())), keep_alive=req.keep_alive)
        endpoint = self._endpoint(path)
        body: Any = None
        if req.body:
            try:
                body = json.loads(req.body)
            except ValueError:
                body = None
        with st._lock:
            st.total += 1
            st.in_flight += 1
            if st.in_flight > st.max_in_flight:
                st.max_in_flight = st.in_flight
            st._count(st.by_endpoint, endpoint)
            if self.record:
                st.requests.append(
                    RecordedRequest(
                        req.method,
                        req.path,
                        tuple(req.headers),
                        req.headers.get("authorization"),
                        body,
                        req.headers.get("x-api-key"),
                    )
                )
        try:
            status, plan = self._route(req, path, endpoint, body)
        except _HttpError as exc:
            status = str(exc.status)
            plan = _Plan(_http(exc.status, self._error_body(exc.status, str(exc))))
        except Exception as exc:  # e.g. a failing responder
            status = "500"
            plan = _Plan(_http(500, self._error_body(500, f"stand-in error: {exc!r}")))
        with st._lock:
            st._count(st.by_status, status)
        plan.keep_alive = plan.keep_alive and req.keep_alive
        if plan.response is not None and not plan.keep_alive:
            plan.response = plan.response.replace(
                b"connection: keep-alive\r\n", b"connection: close\r\n", 1
            )
        return plan

    def _endpoint(self, path: str) -> str:
        """The stats name of a ``/v1``-less path; ``unknown`` is answered with 404."""
        endpoint = "/v1" + path if path in ("/chat/completions", "/completions") else path
        if path.startswith("/models"):
            return "/v1/models"
        return endpoint if endpoint in ("/v1/chat/completions", "/v1/completions") else "unknown"

    @staticmethod
    def _error_body(status: int, message: str, code: str | None = None) -> bytes:
        """An error reply in this API's JSON shape (subclasses speaking another API override)."""
        return _error_body(status, message, code)

    def _route(self, req: _Request, path: str, endpoint: str, body: Any) -> tuple[str, _Plan]:
        if endpoint == "/v1/models":
            if req.method != "GET":
                raise _HttpError(405, f"method {req.method} not allowed on {req.path}")
            if path == "/models":
                data = {"object": "list", "data": [self._model_card(m) for m in self.models]}
                return "200", _Plan(_http(200, _dumps(data)))
            return "200", _Plan(_http(200, _dumps(self._model_card(path[len("/models/") :]))))
        if endpoint == "unknown":
            raise _HttpError(404, f"Invalid URL ({req.method} {req.path})")
        if req.method != "POST":
            raise _HttpError(405, f"method {req.method} not allowed on {req.path}")
        if not isinstance(body, dict):
            raise _HttpError(400, "request body must be a JSON object")
        chat = endpoint == "/v1/chat/completions"
        if chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise _HttpError(400, "'messages' must be a non-empty list")
            prompts = [
                next(
                    (
                        _message_text(m.get("content"))
                        for m in reversed(messages)
                        if isinstance(m, dict) and m.get("role") == "user"
                    ),
                    "",
                )
            ]
            key = prompt_key(messages)
            prompt_tokens = sum(
                count_tokens(_message_text(m.get("content")))
                for m in messages
                if isinstance(m, dict)
            )
        else:
            raw = body.get("prompt")
            if isinstance(raw, str):
                prompts = [raw]
            elif isinstance(raw, list) and raw and all(isinstance(p, str) for p in raw):
                prompts = list(raw)
            else:
                raise _HttpError(400, "'prompt' must be a string or a list of strings")
            key = prompt_key(raw)
            prompt_tokens = sum(count_tokens(p) for p in prompts)
        st = self.stats
        with st._lock:
            st.completion_requests += 1
            st._count(st.by_prompt, key)
            attempt, request_no = st.by_prompt[key], st.completion_requests
        fault = self.faults.pick(attempt, request_no)
        if fault is not None:
            return self._fault(fault)

        n = body.get("n", 1)
        if n is None:
            n = 1
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
            raise _HttpError(400, "'n' must be an integer between 1 and 128")
        max_tokens = body.get("max_completion_tokens") if chat else None
        if max_tokens is None:
            max_tokens = body.get("max_tokens")
        stop = body.get("stop")
        choices = [
            apply_limits(c, stop, max_tokens)
            for p in prompts
            for c in self.script.choices(body, p, n)
        ]
        completion_tokens = sum(count_tokens(c.text) + count_tokens(c.reasoning) for c in choices)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if any(c.reasoning is not None for c in choices):  # as OpenAI reports its o-series
            thought = sum(count_tokens(c.reasoning) for c in choices)
            usage["completion_tokens_details"] = {"reasoning_tokens": thought}
        model = body.get("model") or self.models[0]
        rid = f"{'chatcmpl' if chat else 'cmpl'}-{next(self._ids)}"
        created = int(time.time())
        if body.get("stream"):
            payload = self._stream(chat, rid, created, model, choices, usage, body)
            response = _http(200, payload, content_type="text/event-stream")
        else:
            response = _http(200, _dumps(self._full(chat, rid, created, model, choices, usage)))
        delay = self.latency_ms / 1000.0
        return "200", _Plan(response, delay=delay, use_slot=True)

    @staticmethod
    def _model_card(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 0, "owned_by": "cothub"}

    @staticmethod
    def _full(
        chat: bool,
        rid: str,
        created: int,
        model: str,
        choices: list[Choice],
        usage: dict[str, Any],
    ) -> dict[str, Any]:
        out: list[dict[str, Any]] = []
        for i, c in enumerate(choices):
            if chat:
                message: dict[str, Any] = {"role": "assistant", "content": c.text}
                if c.reasoning is not None:
                    message["reasoning_content"] = c.reasoning
                out.append(
                    {
                        "index": i,
                        "message": message,
                        "finish_reason": c.finish_reason,
                        "logprobs": None,
                    }
                )
            else:
                out.append(
                    {"index": i, "text": c.text, "finish_reason": c.finish_reason, "logprobs": None}
                )
        return {
            "id": rid,
            "object": "chat.completion" if chat else "text_completion",
            "created": created,
            "model": model,
            "choices": out,
            "usage": usage,
        }

    @staticmethod
    def _stream(
        chat: bool,
        rid: str,
        created: int,
        model: str,
        choices: list[Choice],
        usage: dict[str, Any],
        body: dict[str, Any],
    ) -> bytes:
        obj = "chat.completion.chunk" if chat else "text_completion"
        base = {"id": rid, "object": obj, "created": created, "model": model}
        events: list[dict[str, Any]] = []
        for i, c in enumerate(choices):
            if chat:
                delta: dict[str, Any] = {"role": "assistant", "content": c.text}
                if c.reasoning is not None:
                    delta["reasoning_content"] = c.reasoning
                events.append({**base, "choices": [{"index": i, "delta": delta}]})
                events.append(
                    {
                        **base,
                        "choices": [{"index": i, "delta": {}, "finish_reason": c.finish_reason}],
                    }
                )
            else:
                first = {"index": i, "text": c.text, "finish_reason": None, "logprobs": None}
                last = {"index": i, "text": "", "finish_reason": c.finish_reason, "logprobs": None}
                events.append({**base, "choices": [first]})
                events.append({**base, "choices": [last]})
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            events.append({**base, "choices": [], "usage": usage})
        parts = [b"data: " + _dumps(e) + b"\n\n" for e in events]
        parts.append(b"data: [DONE]\n\n")
        return b"".join(parts)

    _MALFORMED = b'{"id": "chatcmpl-broken", "choices": [{"ind'
    """The body of a ``malformed`` fault: cut off mid-JSON."""

    def _fault(self, kind: str) -> tuple[str, _Plan]:
        if kind == "drop":
            return "drop", _Plan(None)
        if kind == "hang":
            return "hang", _Plan(None, delay=self.faults.hang_seconds)
        if kind == "malformed":
            return "malformed", _Plan(_http(200, self._MALFORMED))
        status = int(kind)
        extra = f"retry-after: {self.faults.retry_after:g}\r\n" if status == 429 else ""
        return kind, _Plan(_http(status, self._fault_body(status), extra=extra))

    def _fault_body(self, status: int) -> bytes:
        """The error body of an injected HTTP fault."""
        message, code = {
            400: ("Bad request (injected).", "invalid_request"),
            401: ("Incorrect API key provided (injected).", "invalid_api_key"),
            429: ("Rate limit reached (injected).", "rate_limit_exceeded"),
            500: ("The server had an error while processing your request (injected).", None),
            503: ("The server is overloaded or not ready yet (injected).", None),
            529: ("The server is overloaded (injected).", None),
        }[status]
        return self._error_body(status, message, code)


# --------------------------------------------------------------------------- threads & CLI


@contextlib.contextmanager
def running_server(
    script: Script | None = None,
    *,
    latency_ms: float = 0.0,
    slots: int | None = None,
    faults: Faults | None = None,
    models: Sequence[str] = ("stand-in",),
    record: bool = True,
) -> Iterator[OpenAIStandIn]:
    """Run an :class:`OpenAIStandIn` on its own event loop in a daemon thread."""
    server = OpenAIStandIn(
        script, latency_ms=latency_ms, slots=slots, faults=faults, models=models, record=record
    )
    with serve_in_thread(server) as srv:
        yield srv


_S = TypeVar("_S", bound=OpenAIStandIn)


@contextlib.contextmanager
def serve_in_thread(server: _S) -> Iterator[_S]:
    """Start ``server`` (a stand-in of any API) on its own event loop in a daemon thread."""
    loop = _new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(server.start())
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()
            loop.run_until_complete(server.stop())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=type(server).__name__, daemon=True)
    thread.start()
    ready.wait()
    if failure:
        thread.join()
        raise failure[0]
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def _kind_count(text: str) -> tuple[str, int]:
    kind, _, count = text.partition(":")
    return _check_kind(kind), int(count or "1")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cothub.testing.openai_server",
        description="Loopback OpenAI-compatible stand-in server. Prints 'PORT <n>' when ready.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--slots", type=int, default=None)
    p.add_argument("--script", type=Path, default=None, help="JSON rules file")
    p.add_argument("--default", default=None, help="default response text")
    p.add_argument("--model", action="append", default=None, help="model id (repeatable)")
    p.add_argument("--fail-all", default=None, metavar="KIND")
    p.add_argument(
        "--fail-first",
        action="append",
        default=[],
        metavar="KIND[:TIMES]",
        help="first TIMES attempts per prompt fail with KIND (repeatable, applied in order)",
    )
    p.add_argument("--fail-every", default=None, metavar="KIND:K")
    p.add_argument("--retry-after", type=float, default=0.0, help="Retry-After seconds for 429")
    p.add_argument("--hang-seconds", type=float, default=3600.0)
    p.add_argument("--no-record", action="store_true", help="do not keep request bodies")
    return p


async def _serve(args: argparse.Namespace) -> None:
    script = Script.load(args.script) if args.script else Script()
    if args.default is not None:
        script.default = args.default
    faults = Faults(
        fail_first=[FaultPlan(*_kind_count(x)) for x in args.fail_first] or None,
        fail_all=args.fail_all,
        fail_every=_kind_count(args.fail_every) if args.fail_every else None,
        retry_after=args.retry_after,
        hang_seconds=args.hang_seconds,
    )
    server = OpenAIStandIn(
        script,
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        slots=args.slots,
        faults=faults,
        models=args.model or ("stand-in",),
        record=not args.no_record,
    )
    await server.start()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, done.set)
    sys.stdout.write(f"PORT {server.port}\n")
    sys.stdout.flush()
    try:
        await done.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    args = _build_parser().parse_args(argv)
    loop = _new_event_loop()
    coro: Coroutine[Any, Any, None] = _serve(args)
    try:
        loop.run_until_complete(coro)
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
