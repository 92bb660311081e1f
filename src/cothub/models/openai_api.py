"""Any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, SGLang, TGI) via the openai SDK.

Only translation lives here. The SDK's own retries are off (``max_retries=0``): the runner owns
retries so that every backend backs off the same way and every attempt is counted.

Reasoning models: ``--reasoning-effort`` goes out as ``reasoning_effort``. The token limit is sent
as ``max_completion_tokens`` to OpenAI's own chat endpoint (its documented field, the only one its
o-series and gpt-5 models accept; it bounds thinking plus answer) and as ``max_tokens`` to every
other server, which is the field all OpenAI-compatible servers read. Thinking a server returns
apart (``reasoning_content``) becomes :attr:`Completion.reasoning`; inline ``<think>`` blocks
stay in the text, which is kept raw, and are copied into ``reasoning`` for display. (A model whose
chat template opens ``<think>`` in the prompt, served without a reasoning parser, returns a block
that never closed as plain text: serve it with vLLM's ``--reasoning-parser``.)
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from urllib.parse import urlsplit

from cothub.errors import BackendError, CothubError
from cothub.models.base import Retryable, RetryKind
from cothub.models.sdk_errors import (
    count,
    error_message,
    json_body,
    malformed,
    obj,
    opt_str,
    public_url,
    retry_after,
    split_credentials,
    transport_failure,
)
from cothub.types import ApiStyle, Completion, FinishReason, GenerateConfig, Prompt

OPENAI_HOST = "api.openai.com"
_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length", "eos": "stop"}
_ABORTED = frozenset({"abort", "error"})
"""vLLM and SGLang finish reasons of a reply cut short by the server: a fault, not an answer."""


class OpenAIBackend:
    """Chat or text completions against one model on one endpoint."""

    def __init__(self, model: str, style: ApiStyle, base_url: str | None) -> None:
        base_url, key, headers = check_endpoint(base_url)
        parts = urlsplit(base_url)
        self._model = model
        self._style: ApiStyle = style
        self._url = public_url(base_url)
        import openai

        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url,
            max_retries=0,
            http_client=_http_client(openai),
            default_headers=headers or None,
        )
        self._path = "/chat/completions" if style == "chat" else "/completions"
        official = parts.hostname == OPENAI_HOST and style == "chat"
        self._max_field = "max_completion_tokens" if official else "max_tokens"

    @property
    def identity(self) -> dict[str, object]:
        return {
            "provider": "openai",
            "model": self._model,
            "base_url": self._url,
            "api": self._style,
        }

    @property
    def style(self) -> ApiStyle:
        return self._style

    async def aclose(self) -> None:
        await self._client.close()

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        body: dict[str, Any] = {
            "model": self._model,
            self._max_field: config.max_tokens,
            "temperature": config.temperature,
        }
        if config.reasoning_effort is not None:
            body["reasoning_effort"] = config.reasoning_effort
        if config.n != 1:
            body["n"] = config.n
        if config.top_p is not None:
            body["top_p"] = config.top_p
        if config.seed is not None:
            body["seed"] = config.seed
        if prompt.stop:
            body["stop"] = list(prompt.stop)
        if self._style == "chat":
            body["messages"] = [{"role": m.role, "content": m.content} for m in prompt.messages]
        else:
            body["prompt"] = prompt.text
        start = time.perf_counter()
        try:
            # ``--timeout`` bounds the whole exchange: the SDK's own timeout is per read, so a
            # server dripping a body byte by byte would hold a request for ever.
            async with asyncio.timeout(config.timeout_s):
                # The SDK's generic ``post`` (its documented way to send a raw body): same client
                # and errors as ``create``, without re-walking every message through the SDK's
                # TypedDict transform (~8 ms of CPU per few-shot request, which capped throughput
                # at ~150 requests/s). The body comes back as bytes (``cast_to=bytes``) and is
                # decoded here, strictly: whatever its Content-Type, invalid UTF-8 is a fault.
                raw: Any = await self._client.post(
                    self._path, cast_to=bytes, body=body, options={"timeout": config.timeout_s}
                )
        except TimeoutError as e:
            raise Retryable(
                "timeout", f"no complete reply within --timeout {config.timeout_s:g} s"
            ) from e
        except Exception as e:
            raise _translate(e) from e
        return _completions(json_body(raw), self._style, config.n, time.perf_counter() - start)


def check_endpoint(base_url: str | None) -> tuple[str, str, dict[str, str]]:
    """The endpoint (without credentials), the API key and extra headers, or one line saying
    what is missing; no connection is made, so every ``--model`` is checked before the first
    request.

    Credentials in the URL (``http://user:pw@host/v1``) go out as HTTP basic auth, which takes
    the ``Authorization`` header where the SDK would send the key; with ``OPENAI_API_KEY`` set
    too, one of the two would be dropped, so that is refused.
    """
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or f"https://{OPENAI_HOST}/v1"
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CothubError(
            f"--base-url {public_url(base_url)!r} is not an http(s) URL; "
            "e.g. --base-url http://localhost:8000/v1"
        )
    base_url, headers = split_credentials(base_url)
    key = os.environ.get("OPENAI_API_KEY")
    if headers and key:
        raise CothubError(
            f"--base-url {public_url(base_url)!r} holds credentials (sent as HTTP basic auth) "
            "and OPENAI_API_KEY is set (sent as a bearer token): both need the Authorization "
            "header; drop one of them"
        )
    if not key:
        if parts.hostname == OPENAI_HOST and not headers:
            raise CothubError(
                "OPENAI_API_KEY is not set; export it, or pass --base-url for a local server"
            )
        key = "not-needed"  # local servers ignore it, the SDK insists on one
    return base_url, key, headers


def _http_client(openai: Any) -> Any:
    """The SDK's aiohttp transport when installed (the ``openai[aiohttp]`` extra): it costs
    about half the client CPU per request of the default httpx transport, which is what bounds
    throughput against a fast local server. None means the SDK default."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return None
    return openai.DefaultAioHttpClient()


def _completions(resp: Any, style: ApiStyle, n: int, latency: float) -> list[Completion]:
    """Read the response body (a plain dict: the SDK's typed models cost CPU we do not need).

    Strictly: a reply of any other shape is a server fault (:class:`Retryable` ``malformed``),
    retried and never cached or graded. Only a well-formed choice whose text is empty is an
    (empty) answer. Absent usage counts as zero tokens; present, it must be whole numbers.
    """
    if not isinstance(resp, dict):
        raise malformed(f"body is a JSON {type(resp).__name__}, not an object")
    if "choices" not in resp and isinstance(resp.get("error"), dict | str):
        # Some servers answer 200 with an error object (an overloaded vLLM, a proxy).
        raise Retryable("server_error", f"error in a 200 reply: {_error_text(resp['error'])}")
    choices = resp.get("choices")
    if not isinstance(choices, list) or not choices:
        raise malformed("no choices" if not choices else "choices is not a list")
    if len(choices) != n:
        raise malformed(f"{len(choices)} choices for n={n}")
    if not all(isinstance(ch, dict) for ch in choices):
        raise malformed("a choice is not an object")
    indexes = [ch.get("index", i) for i, ch in enumerate(choices)]
    whole = [i if isinstance(i, int) and not isinstance(i, bool) else -1 for i in indexes]
    if sorted(whole) != list(range(n)):
        raise malformed(f"choice indexes {indexes!r}")
    usage = obj(resp.get("usage"), "usage")
    prompt_tokens = count(usage.get("prompt_tokens"), "usage.prompt_tokens")
    completion_tokens = count(usage.get("completion_tokens"), "usage.completion_tokens")
    details = obj(usage.get("completion_tokens_details"), "usage.completion_tokens_details")
    reasoning_tokens = count(details.get("reasoning_tokens"), "usage.reasoning_tokens")
    out = []
    for i, ch in enumerate(sorted(choices, key=lambda c: c.get("index", 0))):
        reasoning: str | None = None
        if style == "chat":
            msg = obj(ch.get("message"), "choice.message", optional=False)
            text = opt_str(msg.get("content"), "message.content")
            if text is None:
                # A refusal is the model's answer (content is null beside it); content null
                # otherwise (tool calls we never asked for, or nothing) is no answer at all.
                text = opt_str(msg.get("refusal"), "message.refusal")
                if text is None:
                    raise malformed("message.content is null")
            apart = opt_str(msg.get("reasoning_content"), "message.reasoning_content")
            reasoning = apart or opt_str(msg.get("reasoning"), "message.reasoning") or None
        else:
            text = opt_str(ch.get("text"), "choice.text")
            if text is None:
                raise malformed("choice.text is missing")
        finish = opt_str(ch.get("finish_reason"), "finish_reason")
        if finish in _ABORTED:
            raise Retryable("server_error", f"the server cut the reply short ({finish})")
        # Usage is per request: the first choice carries it, so sums over choices stay exact.
        out.append(
            Completion(
                text=text,
                finish_reason=_FINISH.get(str(finish), "other"),
                reasoning=reasoning,
                prompt_tokens=prompt_tokens if i == 0 else 0,
                completion_tokens=completion_tokens if i == 0 else 0,
                reasoning_tokens=reasoning_tokens if i == 0 else 0,
                latency_s=latency,
            )
        )
    return out


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        error = error.get("message", error)
    return " ".join(str(error).split())[:120]


def _translate(e: Exception) -> Exception:
    """SDK exception -> Retryable (try again) or BackendError (stop the run)."""
    import openai

    if isinstance(e, openai.APIStatusError):
        status = e.status_code
        if status == 429 or status >= 500 or status == 408:
            kind: RetryKind = "rate_limited" if status == 429 else "server_error"
            return Retryable(kind, f"HTTP {status}", retry_after(e.response.headers))
        if status in (401, 403):
            return BackendError(
                f"the server refused the API key (HTTP {status}); check OPENAI_API_KEY"
            )
        if status == 404:
            return BackendError(
                f"HTTP 404 from the server: {error_message(e)}; check the model name and --base-url"
            )
        return BackendError(f"the server rejected the request (HTTP {status}): {error_message(e)}")
    return transport_failure(e, openai) or e
