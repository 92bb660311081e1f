"""Anthropic's Messages API via the official ``anthropic`` SDK.

Only translation lives here, as in :mod:`cothub.models.openai_api`: the SDK's own retries are off
(``max_retries=0``) because the runner owns retries, and SDK failures become :class:`Retryable`
or :class:`BackendError`. Where the Messages API differs from OpenAI's:

- A leading system message becomes the ``system`` parameter (the API has no system role); a
  system message later in a conversation cannot be expressed and is an error.
- A completion-style prompt (``--api completions``) goes out as one user message holding the
  whole text: the API has no raw text completion, so a base-model prompt is read by a chat model.
- Whitespace-only stop sequences are dropped: the API rejects them with HTTP 400, and a chat
  model ends its turn by itself where a base model needed a blank line to stop.
- ``n`` > 1 is sent as ``n`` concurrent requests (the API has no ``n``); each completion carries
  its own request's usage, so sums stay exact. ``seed`` is not sent: the API has none.
- ``temperature`` and ``top_p`` go in ``extra_body``: this SDK's ``create`` no longer lists them,
  but the API takes them, and a backend must not fall back on a server default (some newer
  models refuse ``temperature``; their 400 then names the cause).
- Extended thinking (``--thinking-budget``, i.e. ``GenerateConfig.thinking_budget``, or the
  constructor's ``thinking_budget`` for programmatic use; the two must agree when both are set)
  samples at temperature 1 by the API's rules, so the run must ask for ``temperature`` 1 (it is
  then omitted) rather than have it silently changed;
  thinking counts toward ``max_tokens``, so the budget must stay below it. ``thinking`` blocks
  become :attr:`Completion.reasoning` (never graded), ``text`` blocks the graded text;
  ``redacted_thinking`` holds only ciphertext and is dropped.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from urllib.parse import urlsplit

from cothub.errors import BackendError, CothubError
from cothub.models.base import Retryable, RetryKind

# Shared with the OpenAI backend: URL scrubbing, Retry-After parsing, error-body messages and
# "nobody listening" detection do not depend on the API spoken.
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
from cothub.types import ApiStyle, Completion, FinishReason, GenerateConfig, Message, Prompt

ANTHROPIC_HOST = "api.anthropic.com"
MIN_THINKING_BUDGET = 1024
"""The API's smallest ``budget_tokens``."""

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",  # cut off by the context window: truncated too
}


class AnthropicBackend:
    """Messages API calls for one model on one endpoint."""

    def __init__(
        self,
        model: str,
        style: ApiStyle,
        base_url: str | None,
        thinking_budget: int | None = None,
    ) -> None:
        base_url, key, headers = check_endpoint(base_url)
        if thinking_budget is not None and thinking_budget < MIN_THINKING_BUDGET:
            raise CothubError(
                f"a thinking budget of {thinking_budget} tokens is below the API's minimum of "
                f"{MIN_THINKING_BUDGET}; raise it"
            )
        self._model = model
        self._style: ApiStyle = style
        self._url = public_url(base_url)
        self._thinking = thinking_budget
        import anthropic

        self._client: Any = anthropic.AsyncAnthropic(
            api_key=key, base_url=base_url, max_retries=0, default_headers=headers or None
        )

    native_n = False
    """The Messages API has no ``n``: the runner sends (counts and paces) ``n`` requests."""

    @property
    def identity(self) -> dict[str, object]:
        out: dict[str, object] = {
            "provider": "anthropic",
            "model": self._model,
            "base_url": self._url,
            "api": "messages",
        }
        if self._thinking is not None:  # it changes the answers, so it belongs in the cache key
            out["thinking_budget"] = self._thinking
        return out

    @property
    def style(self) -> ApiStyle:
        return self._style

    async def aclose(self) -> None:
        await self._client.close()

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        request = self._request(prompt, config)
        if config.n == 1:
            return [await self._one(request, config.timeout_s)]
        calls = [asyncio.create_task(self._one(request, config.timeout_s)) for _ in range(config.n)]
        try:
            return list(await asyncio.gather(*calls))
        except BaseException:
            for call in calls:  # one failed: the runner retries the whole prompt anyway
                call.cancel()
            raise

    def _request(self, prompt: Prompt, config: GenerateConfig) -> dict[str, Any]:
        """Keyword arguments for ``messages.create``."""
        if prompt.style == "chat":
            system, messages = _split_system(prompt.messages)
        else:
            system, messages = "", [{"role": "user", "content": prompt.text}]
        request: dict[str, Any] = {
            "model": self._model,
            "max_tokens": config.max_tokens,
            "messages": messages,
        }
        if system:
            request["system"] = system
        stops = [s for s in prompt.stop if s.strip()]
        if stops:
            request["stop_sequences"] = stops
        sampling: dict[str, Any] = {}
        budget = self._budget(config)
        if budget is None:
            sampling["temperature"] = config.temperature
        else:
            if config.temperature != 1.0:
                raise BackendError(
                    f"extended thinking samples at temperature 1 (an API rule), but the run asks "
                    f"for {config.temperature:g}; pass --temperature 1"
                )
            if budget >= config.max_tokens:
                raise BackendError(
                    f"the thinking budget ({budget} tokens) must be below --max-tokens "
                    f"({config.max_tokens}), which also bounds the thinking; raise --max-tokens"
                )
            request["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if config.top_p is not None:
            sampling["top_p"] = config.top_p
        if sampling:
            request["extra_body"] = sampling
        return request

    def _budget(self, config: GenerateConfig) -> int | None:
        """The thinking budget of this request: the run's setting, else the constructor's."""
        budget = config.thinking_budget
        if budget is None:
            return self._thinking
        if self._thinking is not None and budget != self._thinking:
            raise BackendError(
                f"--thinking-budget {budget} contradicts this backend's thinking budget of "
                f"{self._thinking} tokens; set one of them"
            )
        if budget < MIN_THINKING_BUDGET:
            raise BackendError(
                f"--thinking-budget {budget} is below the API's minimum of "
                f"{MIN_THINKING_BUDGET} tokens; raise it"
            )
        return budget

    async def _one(self, request: dict[str, Any], timeout_s: float) -> Completion:
        start = time.perf_counter()
        try:
            # ``--timeout`` bounds the whole exchange: the SDK's own timeout is per read, so a
            # server dripping a body would hold the request for ever. The raw body is read here,
            # strictly, rather than through the SDK's lenient (unvalidated) models.
            async with asyncio.timeout(timeout_s):
                raw = await self._client.messages.with_raw_response.create(
                    **request, timeout=timeout_s
                )
                body = raw.http_response.content
        except TimeoutError as e:
            raise Retryable("timeout", f"no complete reply within --timeout {timeout_s:g} s") from e
        except Exception as e:
            raise _translate(e, self._model, self._url) from e
        return _completion(json_body(body), time.perf_counter() - start)


def check_endpoint(base_url: str | None) -> tuple[str, str, dict[str, str]]:
    """The endpoint (without credentials), the API key and extra headers, or one line saying
    what is missing; no connection is made. Credentials in the URL go out as HTTP basic auth in
    the ``Authorization`` header; the key, which the SDK would put there too, then travels in
    ``x-api-key`` (the API reads either), so neither is dropped."""
    base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or f"https://{ANTHROPIC_HOST}"
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CothubError(
            f"--base-url {public_url(base_url)!r} is not an http(s) URL; "
            "e.g. --base-url http://localhost:8080"
        )
    base_url, headers = split_credentials(base_url)
    key = os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        if parts.hostname == ANTHROPIC_HOST:
            raise CothubError(
                "ANTHROPIC_API_KEY is not set; export it, or pass --base-url for a local server"
            )
        # Local servers ignore it; passing one also keeps the SDK from hunting for profile
        # files or other credentials on its own.
        key = "not-needed"
    elif headers:
        headers["X-Api-Key"] = key
    return base_url, key, headers


def _split_system(turns: tuple[Message, ...]) -> tuple[str, list[dict[str, str]]]:
    """Leading system turns -> the ``system`` text; the rest -> API messages."""
    head = 0
    while head < len(turns) and turns[head].role == "system":
        head += 1
    if any(m.role == "system" for m in turns[head:]):
        raise BackendError(
            "the Messages API takes a system prompt only before the first turn, and this prompt "
            "has one later; use a prompt format whose system message comes first"
        )
    system = "\n\n".join(m.content for m in turns[:head])
    return system, [{"role": m.role, "content": m.content} for m in turns[head:]]


def _completion(resp: Any, latency: float) -> Completion:
    """One Messages API reply (the JSON body), validated: any other shape is a server fault
    (:class:`Retryable` ``malformed``), retried and never cached or graded. A well-formed reply
    without text blocks (e.g. thinking used up ``max_tokens``) is an empty answer."""
    if not isinstance(resp, dict):
        raise malformed(f"body is a JSON {type(resp).__name__}, not an object")
    kind = resp.get("type", "message")
    if kind == "error":  # an error object in a 200 (a proxy, or a stream-style error)
        error = obj(resp.get("error"), "error")
        raise Retryable("server_error", f"error in a 200 reply: {error.get('type', '?')}")
    if kind != "message":
        raise malformed(f"type {kind!r}, not a message")
    content = resp.get("content")
    if not isinstance(content, list):
        raise malformed("no content blocks")
    texts: list[str] = []
    thoughts: list[str] = []
    for block in content:
        block = obj(block, "content block", optional=False)
        block_type = block.get("type")
        if not isinstance(block_type, str):
            raise malformed("content block without a type")
        if block_type == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise malformed(f"text block holds {type(text).__name__}, not text")
            texts.append(text)
        elif block_type == "thinking":
            thought = opt_str(block.get("thinking"), "thinking block")
            thoughts.append(thought or "")
    stop = opt_str(resp.get("stop_reason"), "stop_reason")
    usage = obj(resp.get("usage"), "usage")
    # Prompt tokens read from the prompt cache are billed apart but are still prompt tokens.
    prompt_tokens = sum(
        count(usage.get(name), f"usage.{name}")
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    details = obj(usage.get("output_tokens_details"), "usage.output_tokens_details")
    return Completion(
        text="".join(texts),
        # A reply whose thinking used up max_tokens has no text and stop_reason max_tokens:
        # "length", i.e. truncated, not an unparsed answer.
        finish_reason=_FINISH.get(str(stop), "other"),
        reasoning="\n\n".join(thoughts) if thoughts else None,
        prompt_tokens=prompt_tokens,
        completion_tokens=count(usage.get("output_tokens"), "usage.output_tokens"),
        reasoning_tokens=count(details.get("thinking_tokens"), "usage.thinking_tokens"),
        latency_s=latency,
    )


def _translate(e: Exception, model: str, url: str) -> Exception:
    """SDK exception -> Retryable (try again) or BackendError (stop the run)."""
    import anthropic

    if isinstance(e, anthropic.APIStatusError):
        status = e.status_code
        message = " ".join(error_message(e).split())  # the CLI shows one line
        if status == 529:
            return Retryable(
                "server_error", "HTTP 529 (overloaded)", retry_after(e.response.headers)
            )
        if status in (408, 429) or status >= 500:
            kind: RetryKind = "rate_limited" if status == 429 else "server_error"
            return Retryable(kind, f"HTTP {status}", retry_after(e.response.headers))
        if status == 401:
            return BackendError(f"{url} refused the API key (HTTP 401); check ANTHROPIC_API_KEY")
        if status == 403:
            return BackendError(
                f"the API key may not use {model} (HTTP 403): {message}; check ANTHROPIC_API_KEY "
                "and the model name"
            )
        if status == 404:
            hint = " (without /v1: the SDK adds it)" if url.endswith("/v1") else ""
            return BackendError(
                f"HTTP 404 from {url}: {message}; check the model name and --base-url{hint}"
            )
        return BackendError(f"the server rejected the request (HTTP {status}): {message}")
    return transport_failure(e, anthropic) or e
