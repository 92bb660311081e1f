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

import os
import time
from typing import Any
from urllib.parse import urlsplit

from cothub.errors import BackendError, CothubError
from cothub.extract.reasoning import inline_thinking
from cothub.models.base import Retryable
from cothub.models.sdk_errors import error_message, public_url, retry_after, transport_failure
from cothub.types import ApiStyle, Completion, FinishReason, GenerateConfig, Prompt

OPENAI_HOST = "api.openai.com"
_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length", "eos": "stop"}


class OpenAIBackend:
    """Chat or text completions against one model on one endpoint."""

    def __init__(self, model: str, style: ApiStyle, base_url: str | None) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or f"https://{OPENAI_HOST}/v1"
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CothubError(
                f"--base-url {public_url(base_url)!r} is not an http(s) URL; "
                "e.g. --base-url http://localhost:8000/v1"
            )
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            if parts.hostname == OPENAI_HOST:
                raise CothubError(
                    "OPENAI_API_KEY is not set; export it, or pass --base-url for a local server"
                )
            key = "not-needed"  # local servers ignore it, the SDK insists on one
        self._model = model
        self._style: ApiStyle = style
        self._url = public_url(base_url)
        import openai

        self._client = openai.AsyncOpenAI(
            api_key=key, base_url=base_url, max_retries=0, http_client=_http_client(openai)
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
            # The SDK's generic ``post`` (its documented way to send a raw body): same client
            # and errors as ``create``, without re-walking every message through the SDK's
            # TypedDict transform (~8 ms of CPU per few-shot request, which capped throughput
            # at ~150 requests/s) and with the body as a plain dict (``cast_to=object``).
            resp: Any = await self._client.post(
                self._path, cast_to=object, body=body, options={"timeout": config.timeout_s}
            )
        except Exception as e:
            raise _translate(e) from e
        return _completions(resp, self._style, time.perf_counter() - start)


def _http_client(openai: Any) -> Any:
    """The SDK's aiohttp transport when installed (the ``openai[aiohttp]`` extra): it costs
    about half the client CPU per request of the default httpx transport, which is what bounds
    throughput against a fast local server. None means the SDK default."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return None
    return openai.DefaultAioHttpClient()


def _completions(resp: Any, style: ApiStyle, latency: float) -> list[Completion]:
    """Read the response body (a plain dict: the SDK's typed models cost CPU we do not need)."""
    choices = resp.get("choices") if isinstance(resp, dict) else None
    if not choices or not isinstance(choices, list):
        raise Retryable("response without choices")
    usage = resp.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or 0)
    details = usage.get("completion_tokens_details") or {}
    reasoning_tokens = int(details.get("reasoning_tokens") or 0)
    out = []
    for i, ch in enumerate(sorted(choices, key=lambda c: c.get("index") or 0)):
        if style == "chat":
            msg = ch.get("message") or {}
            text = msg.get("content") or ""
            reasoning = msg.get("reasoning_content") or msg.get("reasoning")
        else:
            text, reasoning = ch.get("text") or "", None
        if not isinstance(text, str):
            raise Retryable("malformed response: content is not text")
        if not isinstance(reasoning, str):
            reasoning = inline_thinking(text)
        # Usage is per request: the first choice carries it, so sums over choices stay exact.
        out.append(
            Completion(
                text=text,
                finish_reason=_FINISH.get(str(ch.get("finish_reason")), "other"),
                reasoning=reasoning,
                prompt_tokens=prompt_tokens if i == 0 else 0,
                completion_tokens=completion_tokens if i == 0 else 0,
                reasoning_tokens=reasoning_tokens if i == 0 else 0,
                latency_s=latency,
            )
        )
    return out


def _translate(e: Exception) -> Exception:
    """SDK exception -> Retryable (try again) or BackendError (stop the run)."""
    import openai

    if isinstance(e, openai.APIStatusError):
        status = e.status_code
        if status == 429 or status >= 500 or status == 408:
            return Retryable(f"HTTP {status}", retry_after(e.response.headers))
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
