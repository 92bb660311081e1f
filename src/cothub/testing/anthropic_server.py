"""Scriptable stand-in for Anthropic's Messages API (loopback HTTP/1.1, pure stdlib asyncio).

Serves ``POST /v1/messages`` (the ``/v1`` prefix is optional) with Anthropic's JSON shapes:
``content`` blocks, ``stop_reason``/``stop_sequence``, ``usage`` with ``input_tokens`` and
``output_tokens``, and ``{"type": "error", "error": {...}}`` bodies. ``/health``, ``/stats`` and
``/stats/reset`` work as on the OpenAI stand-in, whose HTTP plumbing, counters, :class:`Script`,
:class:`Rule`, :class:`Choice` and :class:`Faults` this module reuses: a test drives both servers
the same way. Rules match the last user message; a choice's ``reasoning`` comes back as a
``thinking`` block before the text (unless the request disabled thinking), and its
``finish_reason`` maps ``stop`` -> ``end_turn``, ``length`` -> ``max_tokens`` (others pass).

It checks what the real API rejects, so a backend that breaks those rules fails here too: unknown
top-level fields (e.g. OpenAI's ``n``, ``seed``, ``stop``), a ``system`` role inside
``messages``, whitespace-only stop sequences, a missing ``max_tokens``, and with thinking enabled
a temperature other than 1 or a budget outside ``[1024, max_tokens)``. Thinking counts toward
``max_tokens`` as it does on the API. Streaming is not offered. With ``api_key`` set, a request
whose ``x-api-key`` (or bearer token) differs is answered 401.

In-process use::

    with running_server(Script(rules=[Rule("2+2", ["4"], reasoning="2 and 2")])) as srv:
        client = AsyncAnthropic(base_url=srv.base_url, api_key="x")
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cothub.testing.openai_server import (
    Choice,
    Faults,
    OpenAIStandIn,
    Script,
    _dumps,
    _http,
    _HttpError,
    _Plan,
    _Request,
    apply_limits,
    count_tokens,
    prompt_key,
    serve_in_thread,
)

__all__ = ["AnthropicStandIn", "running_server"]

_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "thinking",
        "metadata",
        "stream",
        "service_tier",
    }
)
"""Top-level request fields the stand-in knows; the API answers others with 400."""

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


class AnthropicStandIn(OpenAIStandIn):
    """Loopback Messages API server; ``await start()`` then point a client at :attr:`base_url`.

    ``latency_ms``, ``slots``, ``faults``, ``record`` and :attr:`stats` behave as on
    :class:`OpenAIStandIn`; ``api_key``, if set, is the only key accepted.
    """

    _MALFORMED = b'{"id": "msg_broken", "type": "message", "content": [{"ty'

    def __init__(
        self,
        script: Script | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        slots: int | None = None,
        faults: Faults | None = None,
        api_key: str | None = None,
        record: bool = True,
    ) -> None:
        super().__init__(
            script,
            host=host,
            port=port,
            latency_ms=latency_ms,
            slots=slots,
            faults=faults,
            record=record,
        )
        self.api_key = api_key

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the Anthropic SDK appends ``/v1/messages`` itself."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_keys(self) -> list[str | None]:
        """The key each recorded request carried (``x-api-key``, else a bearer token)."""
        return [r.api_key or _bearer(r.authorization) for r in self.stats.requests]

    def _endpoint(self, path: str) -> str:
        return "/v1/messages" if path == "/messages" else "unknown"

    @staticmethod
    def _error_body(status: int, message: str, code: str | None = None) -> bytes:
        error = {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}
        return _dumps({"type": "error", "error": error, "request_id": "req_stand_in"})

    def _fault_body(self, status: int) -> bytes:
        message = {
            400: "Bad request (injected).",
            401: "invalid x-api-key (injected)",
            429: "Number of request tokens has exceeded your rate limit (injected).",
            500: "Internal server error (injected).",
            503: "Service unavailable (injected).",
            529: "Overloaded (injected).",
        }[status]
        return self._error_body(status, message)

    def _route(self, req: _Request, path: str, endpoint: str, body: Any) -> tuple[str, _Plan]:
        if endpoint == "unknown":
            raise _HttpError(404, f"Not found: {req.method} {req.path}")
        if req.method != "POST":
            raise _HttpError(405, f"method {req.method} not allowed on {req.path}")
        if self.api_key is not None:
            sent = req.headers.get("x-api-key") or _bearer(req.headers.get("authorization"))
            if sent != self.api_key:
                raise _HttpError(401, "invalid x-api-key")
        messages, max_tokens, stops = _validate(body)
        st = self.stats
        key = prompt_key(messages)
        with st._lock:
            st.completion_requests += 1
            st._count(st.by_prompt, key)
            attempt, request_no = st.by_prompt[key], st.completion_requests
        fault = self.faults.pick(attempt, request_no)
        if fault is not None:
            return self._fault(fault)
        last_user = next((m for m in reversed(messages) if m["role"] == "user"), messages[-1])
        choice = self.script.choices(body, _text(last_user["content"]), 1)[0]
        thinking = body.get("thinking")
        if isinstance(thinking, Mapping) and thinking.get("type") == "disabled":
            choice = Choice(choice.text, choice.finish_reason)
        content, stop_reason, stop_sequence = _answer(choice, stops, max_tokens)
        thought = sum(count_tokens(b.get("thinking")) for b in content)
        prompt_tokens = count_tokens(_text(body.get("system"))) + sum(
            count_tokens(_text(m["content"])) for m in messages
        )
        usage: dict[str, Any] = {
            "input_tokens": prompt_tokens,
            "output_tokens": thought + sum(count_tokens(b.get("text")) for b in content),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        if choice.reasoning is not None:
            usage["output_tokens_details"] = {"thinking_tokens": thought}
        reply = {
            "id": f"msg_stand_in_{next(self._ids):08d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": usage,
        }
        delay = self.latency_ms / 1000.0
        return "200", _Plan(_http(200, _dumps(reply)), delay=delay, use_slot=True)


def _validate(body: Any) -> tuple[list[dict[str, Any]], int, list[str]]:
    """The request's messages, ``max_tokens`` and stop sequences, or a 400 as the API gives it."""
    if not isinstance(body, dict):
        raise _HttpError(400, "request body must be a JSON object")
    for name in body:
        if name not in _FIELDS:
            raise _HttpError(400, f"{name}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _HttpError(400, "model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _HttpError(400, "max_tokens: Field required (an integer >= 1)")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _HttpError(400, "messages: at least one message is required")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise _HttpError(
                400,
                f"messages.{i}.role: Input should be 'user' or 'assistant' (a system prompt "
                "goes in the top-level `system` parameter)",
            )
        if not isinstance(m.get("content"), (str, list)):
            raise _HttpError(400, f"messages.{i}.content: Field required")
    stops = body.get("stop_sequences") or []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _HttpError(400, "stop_sequences: Input should be a list of strings")
    if any(not s.strip() for s in stops):
        raise _HttpError(400, "stop_sequences: each stop sequence must contain non-whitespace")
    if body.get("stream"):
        raise _HttpError(400, "stream: the stand-in does not stream")
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or not 1024 <= budget < max_tokens:
            raise _HttpError(
                400, "thinking.budget_tokens: must be >= 1024 and less than max_tokens"
            )
        if body.get("temperature", 1) != 1:
            raise _HttpError(400, "`temperature` may only be set to 1 when thinking is enabled")
        if "top_k" in body:
            raise _HttpError(400, "`top_k` is not allowed when thinking is enabled")
    return messages, max_tokens, stops


def _answer(
    choice: Choice, stops: Sequence[str], max_tokens: int
) -> tuple[list[dict[str, Any]], str, str | None]:
    """Content blocks, stop reason and the matched stop sequence for one choice.

    Thinking spends the shared ``max_tokens`` first; what is left bounds the text.
    """
    blocks: list[dict[str, Any]] = []
    left = max_tokens
    if choice.reasoning is not None:
        thought = apply_limits(Choice(choice.reasoning), None, max_tokens)
        signature = hashlib.blake2b(thought.text.encode(), digest_size=16).hexdigest()
        blocks.append({"type": "thinking", "thinking": thought.text, "signature": signature})
        left -= count_tokens(thought.text)
        if thought.finish_reason == "length":
            return blocks, "max_tokens", None
    text = choice.text
    reason = _STOP_REASONS.get(choice.finish_reason, choice.finish_reason)
    hits = [(i, s) for s in stops if (i := text.find(s)) >= 0]
    matched = min(hits)[1] if hits else None
    if matched is not None:
        text, reason = text[: text.find(matched)], "stop_sequence"
    limited = apply_limits(Choice(text), None, left)
    if limited.finish_reason == "length":
        text, reason, matched = limited.text, "max_tokens", None
    if text:
        blocks.append({"type": "text", "text": text})
    return blocks, reason, matched


def _text(content: object) -> str:
    """The text of a message ``content`` or ``system`` value: a string or a list of blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(b.get("text", ""))
            for b in content
            if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:]
    return None


@contextlib.contextmanager
def running_server(
    script: Script | None = None,
    *,
    latency_ms: float = 0.0,
    slots: int | None = None,
    faults: Faults | None = None,
    api_key: str | None = None,
    record: bool = True,
) -> Iterator[AnthropicStandIn]:
    """Run an :class:`AnthropicStandIn` on its own event loop in a daemon thread."""
    server = AnthropicStandIn(
        script, latency_ms=latency_ms, slots=slots, faults=faults, api_key=api_key, record=record
    )
    with serve_in_thread(server) as srv:
        yield srv
