"""A loopback model server that misbehaves on purpose, for the fault-injection suite.

Written from raw sockets (asyncio streams in a background thread), independent of
:mod:`cothub.testing.openai_server`: it can reset a connection, lie in ``Content-Length``, drip a
body byte by byte, send broken gzip or chunked framing, or answer 200 with a body of the wrong
shape, none of which an HTTP framework lets a handler do.

It speaks OpenAI chat and text completions (``/v1/chat/completions``, ``/v1/completions``) and
Anthropic messages (``/v1/messages``). What it answers comes from ``responder(request)``: the
completion texts and finish reasons of a healthy server. Which attempt gets which fault comes from
a :class:`Plan`: per distinct prompt, the n-th attempt either gets a fault kind or the clean reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gzip
import json
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

Reply = list[tuple[str, str]]
"""(text, finish) per choice; finish is ``stop`` or ``length``."""
Responder = Callable[[dict[str, Any]], Reply]

DRIP_INTERVAL_S = 0.1
"""Between bytes of a dripped body: well under any per-read timeout, so only a whole-request
bound stops it."""


@dataclass
class Action:
    """What the server does with one request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/json"
    content_length: int | None = None
    """None: the body's length; otherwise sent as is (a lie, for framing faults)."""
    raw: bytes | None = None
    """Sent instead of a response; then the connection closes (``reset``: with RST)."""
    reset: bool = False
    close: bool = False
    """Close after sending (after a framing lie nothing else can follow on the connection)."""
    drip: bool = False
    hang: bool = False
    chunked_garbage: bool = False


# ---- fault kinds -------------------------------------------------------------------------------


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _status(code: int, headers: dict[str, str] | None = None, html: bool = False) -> Any:
    def make(api: str, clean: dict[str, Any]) -> Action:
        if html:
            return Action(code, b"<html><body>upstream broke</body></html>", headers or {},
                          "text/html")  # fmt: skip
        err = {"type": "error", "error": {"type": "api_error", "message": f"injected {code}"}}
        return Action(code, _json(err), headers or {})

    return make


def _shape(mutate: Callable[[str, dict[str, Any]], Any]) -> Any:
    """A 200 whose JSON body is the clean one mutated (return None: mutated in place)."""

    def make(api: str, clean: dict[str, Any]) -> Action:
        doc = copy.deepcopy(clean)
        out = mutate(api, doc)
        return Action(200, _json(doc if out is None else out))

    return make


def _body(body: bytes, content_type: str | None = "application/json") -> Any:
    return lambda api, clean: Action(200, body, content_type=content_type)


def _choice(api: str, doc: dict[str, Any]) -> dict[str, Any]:
    if api == "anthropic":
        return doc
    return dict(doc["choices"][0])


def _set(path: str, value: Any) -> Callable[[str, dict[str, Any]], None]:
    """Set (or, with value ``...``, delete) a dotted path like ``choices.0.message.content``."""

    def mutate(api: str, doc: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = doc
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        key: Any = int(last) if last.isdigit() else last
        if value is ...:
            del node[key]
        else:
            node[key] = value

    return mutate


def _text_path(api: str) -> str:
    return {
        "chat": "choices.0.message.content",
        "completions": "choices.0.text",
        "anthropic": "content.0.text",
    }[api]


def _per_api(
    **by_api: Callable[[str, dict[str, Any]], Any],
) -> Callable[[str, dict[str, Any]], Any]:
    def mutate(api: str, doc: dict[str, Any]) -> Any:
        fn = by_api.get(api) or by_api["default"]
        return fn(api, doc)

    return mutate


def _clean_bytes(api: str, clean: dict[str, Any]) -> bytes:
    return _json(clean)


def _truncated(api: str, clean: dict[str, Any]) -> Action:
    body = _clean_bytes(api, clean)
    return Action(200, body[: len(body) // 2])


def _invalid_utf8(api: str, clean: dict[str, Any]) -> Action:
    """Bytes that are not UTF-8 inside the completion text (a lenient decoder would grade
    replacement characters)."""
    body = _clean_bytes(api, clean)
    at = body.index(b'"text": "' if api != "chat" else b'"content": "') + len(b'"content": "')
    return Action(200, body[:at] + b"\xff\xfe" + body[at:])


def _gzip_garbage(api: str, clean: dict[str, Any]) -> Action:
    return Action(200, b"this is not gzip at all", {"Content-Encoding": "gzip"})


def _gzip_truncated(api: str, clean: dict[str, Any]) -> Action:
    z = gzip.compress(_clean_bytes(api, clean))
    return Action(200, z[: len(z) // 2], {"Content-Encoding": "gzip"}, close=True)


def _cl_long(api: str, clean: dict[str, Any]) -> Action:
    body = _clean_bytes(api, clean)
    return Action(200, body, content_length=len(body) + 64, close=True)


def _cl_short(api: str, clean: dict[str, Any]) -> Action:
    body = _clean_bytes(api, clean)
    return Action(200, body, content_length=len(body) - 25, close=True)


def _reset_mid_body(api: str, clean: dict[str, Any]) -> Action:
    body = _clean_bytes(api, clean)
    return Action(200, body[: len(body) // 3], content_length=len(body), reset=True)


def _drip(api: str, clean: dict[str, Any]) -> Action:
    return Action(200, _clean_bytes(api, clean), drip=True)


def _wrong_content_type(api: str, clean: dict[str, Any]) -> Action:
    """A valid body labelled text/plain: still the server's answer, so it must be read."""
    return Action(200, _clean_bytes(api, clean), content_type="text/plain")


def _error_in_200(api: str, doc: dict[str, Any]) -> Any:
    if api == "anthropic":
        return {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    return {"error": {"message": "the engine is overloaded", "type": "server_error"}}


def _extra_choice(api: str, doc: dict[str, Any]) -> Any:
    if api == "anthropic":  # a second text block of another reply: not one answer any more
        doc["type"] = "completion"
        return None
    wrong = copy.deepcopy(doc["choices"][0])
    wrong["index"] = 1
    doc["choices"].append(wrong)
    return None


COMMON: dict[str, Callable[[str, dict[str, Any]], Action]] = {
    # HTTP status faults
    "http500": _status(500),
    "http502": _status(502),
    "http503": _status(503),
    "http504": _status(504),
    "http408": _status(408),
    "http429": _status(429),
    "http429_retry_after": _status(429, {"Retry-After": "0"}),
    "http503_retry_after_ms": _status(503, {"retry-after-ms": "5"}),
    "http529": _status(529),
    "http502_html": _status(502, html=True),
    # transport faults
    "reset_before_headers": lambda api, clean: Action(raw=b"", reset=True),
    "close_before_headers": lambda api, clean: Action(raw=b""),
    "reset_mid_body": _reset_mid_body,
    "content_length_too_long": _cl_long,
    "content_length_too_short": _cl_short,
    "drip_body": _drip,
    "hang_before_headers": lambda api, clean: Action(hang=True),
    "garbage_status_line": lambda api, clean: Action(raw=b"HELLO THERE\r\n\r\n"),
    "broken_chunked": lambda api, clean: Action(chunked_garbage=True),
    "gzip_garbage": _gzip_garbage,
    "gzip_truncated": _gzip_truncated,
    # bodies that are not a JSON reply
    "empty_body": _body(b""),
    "non_json_text": _body(b"upstream error, try later", "text/plain"),
    "html_200": _body(b"<!doctype html><html><body>502 Bad Gateway</body></html>", "text/html"),
    "truncated_json": _truncated,
    "invalid_utf8": _invalid_utf8,
    "json_array": _shape(lambda api, doc: [doc]),
    "json_string": _shape(lambda api, doc: "ok"),
    "json_null": _body(b"null"),
    "error_in_200": _shape(_error_in_200),
    "wrong_content_type": _wrong_content_type,
}

OPENAI_SHAPES: dict[str, Callable[[str, dict[str, Any]], Action]] = {
    "no_choices": _shape(_set("choices", ...)),
    "choices_null": _shape(_set("choices", None)),
    "choices_empty": _shape(_set("choices", [])),
    "choices_object": _shape(lambda api, doc: {**doc, "choices": doc["choices"][0]}),
    "choice_null": _shape(_set("choices.0", None)),
    "choice_string": _shape(_set("choices.0", "The answer is 7.")),
    "extra_choice": _shape(_extra_choice),
    "text_null": _shape(lambda api, doc: _set(_text_path(api), None)(api, doc)),
    "text_missing": _shape(lambda api, doc: _set(_text_path(api), ...)(api, doc)),
    "text_number": _shape(lambda api, doc: _set(_text_path(api), 42)(api, doc)),
    "text_list": _shape(
        lambda api, doc: _set(_text_path(api), [{"type": "text", "text": "The answer is 7."}])(
            api, doc
        )
    ),
    "message_missing": _shape(
        _per_api(chat=_set("choices.0.message", ...), default=_set("choices.0.text", ...))
    ),
    "message_null": _shape(
        _per_api(chat=_set("choices.0.message", None), default=_set("choices.0.text", None))
    ),
    "finish_reason_number": _shape(_set("choices.0.finish_reason", 3)),
    "finish_reason_abort": _shape(_set("choices.0.finish_reason", "abort")),
    "usage_list": _shape(_set("usage", [1, 2, 3])),
    "usage_string": _shape(_set("usage", "12 tokens")),
    "usage_tokens_string": _shape(_set("usage.prompt_tokens", "abc")),
    "usage_tokens_negative": _shape(_set("usage.completion_tokens", -5)),
    "usage_tokens_fraction": _shape(_set("usage.completion_tokens", 12.5)),
    "usage_details_string": _shape(_set("usage.completion_tokens_details", "none")),
}

ANTHROPIC_SHAPES: dict[str, Callable[[str, dict[str, Any]], Action]] = {
    "content_missing": _shape(_set("content", ...)),
    "content_null": _shape(_set("content", None)),
    "content_string": _shape(_set("content", "The answer is 7.")),
    "content_object": _shape(lambda api, doc: {**doc, "content": doc["content"][0]}),
    "block_null": _shape(_set("content.0", None)),
    "block_type_missing": _shape(_set("content.0.type", ...)),
    "block_type_number": _shape(_set("content.0.type", 1)),
    "text_null": _shape(_set("content.0.text", None)),
    "text_missing": _shape(_set("content.0.text", ...)),
    "text_number": _shape(_set("content.0.text", 42)),
    "text_list": _shape(_set("content.0.text", ["The answer is 7."])),
    "message_type_wrong": _shape(_extra_choice),
    "stop_reason_number": _shape(_set("stop_reason", 3)),
    "usage_list": _shape(_set("usage", [1, 2, 3])),
    "usage_string": _shape(_set("usage", "12 tokens")),
    "usage_tokens_string": _shape(_set("usage.input_tokens", "abc")),
    "usage_tokens_negative": _shape(_set("usage.output_tokens", -5)),
    "usage_tokens_fraction": _shape(_set("usage.output_tokens", 12.5)),
}


EXTRA: dict[str, Callable[[str, dict[str, Any]], Action]] = {
    "http429_retry_after_long": _status(429, {"Retry-After": "3600"}),
}
"""Kinds kept out of the mix (a real wait would follow)."""


def kinds(api: str) -> dict[str, Callable[[str, dict[str, Any]], Action]]:
    """Every fault kind the server can inject for ``api`` (chat, completions or anthropic)."""
    return {**COMMON, **(ANTHROPIC_SHAPES if api == "anthropic" else OPENAI_SHAPES)}


def fault(api: str, kind: str) -> Callable[[str, dict[str, Any]], Action]:
    return kinds(api).get(kind) or EXTRA[kind]


TIMING_KINDS = frozenset({"drip_body", "hang_before_headers"})
"""Kinds that only a timeout ends: runs with them use a short ``--timeout``."""


# ---- which attempt gets which fault ------------------------------------------------------------


class Plan:
    """Per distinct prompt, the fault (or None: clean) of its n-th attempt."""

    def fault(self, key: str, attempt: int) -> str | None:
        return None


class Clean(Plan):
    pass


@dataclass
class Alone(Plan):
    """The first ``times`` attempts of every prompt get ``kind``."""

    kind: str
    times: int = 1

    def fault(self, key: str, attempt: int) -> str | None:
        return self.kind if attempt < self.times else None


@dataclass
class Mix(Plan):
    """Each attempt gets a fault with probability ``rate``, its kind drawn uniformly; seeded by
    (seed, prompt, attempt) so a run is reproducible whatever the arrival order."""

    kinds: list[str]
    rate: float = 0.3
    seed: int = 0

    def fault(self, key: str, attempt: int) -> str | None:
        rng = random.Random(f"{self.seed}:{key}:{attempt}")
        return rng.choice(self.kinds) if rng.random() < self.rate else None


@dataclass
class Always(Plan):
    kind: str

    def fault(self, key: str, attempt: int) -> str | None:
        return self.kind


# ---- the server --------------------------------------------------------------------------------


def _prompt_key(request: dict[str, Any]) -> str:
    return json.dumps(
        [request.get("messages"), request.get("prompt"), request.get("system")], sort_keys=True
    )


def clean_body(api: str, request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    model = request.get("model", "m")
    prompt_tokens = len(json.dumps(request)) // 4
    tokens = [max(1, len(text) // 4) for text, _ in reply]
    if api == "anthropic":
        (text, finish), = reply  # fmt: skip
        return {
            "id": "msg_fault", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "max_tokens" if finish == "length" else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": tokens[0]},
        }  # fmt: skip
    if api == "chat":
        choices = [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": fin}
            for i, (text, fin) in enumerate(reply)
        ]
    else:
        choices = [
            {"index": i, "text": text, "finish_reason": fin, "logprobs": None}
            for i, (text, fin) in enumerate(reply)
        ]
    return {
        "id": "cmpl-fault", "object": "chat.completion" if api == "chat" else "text_completion",
        "created": 0, "model": model, "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": sum(tokens),
                  "total_tokens": prompt_tokens + sum(tokens)},
    }  # fmt: skip


_REASONS = {200: "OK", 408: "Request Timeout", 429: "Too Many Requests", 500: "Internal Server "
            "Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
            529: "Overloaded"}  # fmt: skip


class FaultServer:
    """Serve ``responder``'s replies on 127.0.0.1, with the faults ``plan`` says."""

    def __init__(self, responder: Responder, plan: Plan | None = None) -> None:
        self.responder = responder
        self.plan: Plan = plan or Clean()
        self.requests = 0
        self.injected: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self, plan: Plan | None = None) -> None:
        """A new plan, counters at zero (applied in the server's thread before returning)."""

        async def go() -> None:
            self.plan = plan or Clean()
            self.requests = 0
            self.injected.clear()
            self.attempts.clear()

        asyncio.run_coroutine_threadsafe(go(), self._loop).result(10)

    def start(self) -> FaultServer:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def go() -> None:
            assert self._server is not None
            self._server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(go(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                _, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self._respond(path, json.loads(body), reader, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _respond(
        self,
        path: str,
        request: dict[str, Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer one request; False: the connection is done."""
        api = (
            "anthropic" if path.endswith("/messages")
            else "chat" if path.endswith("/chat/completions") else "completions"
        )  # fmt: skip
        self.requests += 1
        key = _prompt_key(request)
        attempt = self.attempts[key]
        self.attempts[key] += 1
        reply = self.responder(request)
        clean = clean_body(api, request, reply * int(request.get("n", 1)))
        kind = self.plan.fault(key, attempt)
        if kind is None:
            act = Action(200, _json(clean))
        else:
            self.injected[kind] += 1
            act = fault(api, kind)(api, clean)
        return await self._send(act, reader, writer)

    async def _send(
        self, act: Action, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if act.hang:
            with contextlib.suppress(TimeoutError):  # until the client gives up (EOF) or 30 s
                await asyncio.wait_for(reader.read(), 30)
            return False
        if act.raw is not None:
            writer.write(act.raw)
            await writer.drain()
            if act.reset:
                _abort(writer)
            return False
        head = [f"HTTP/1.1 {act.status} {_REASONS.get(act.status, 'Status')}"]
        if act.content_type:
            head.append(f"Content-Type: {act.content_type}")
        head += [f"{k}: {v}" for k, v in act.headers.items()]
        if act.chunked_garbage:
            head.append("Transfer-Encoding: chunked")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + b"zz\r\nnonsense\r\n")
            await writer.drain()
            writer.close()
            return False
        length = len(act.body) if act.content_length is None else act.content_length
        head.append(f"Content-Length: {length}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        if act.drip:
            for i in range(len(act.body)):
                writer.write(act.body[i : i + 1])
                await writer.drain()
                await asyncio.sleep(DRIP_INTERVAL_S)
                if reader.at_eof():
                    return False
            return True
        writer.write(act.body)
        await writer.drain()
        if act.reset:
            _abort(writer)
            return False
        if act.close:
            writer.close()
            return False
        return True


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextmanager
def fault_server(responder: Responder, plan: Plan | None = None) -> Iterator[FaultServer]:
    srv = FaultServer(responder, plan).start()
    try:
        yield srv
    finally:
        srv.stop()
