"""What the Stainless-generated SDKs (openai, anthropic) share: how their failures read.

Both SDKs raise the same exception shapes, so a refused connection, a timeout, a dropped
connection or a garbled body means the same thing for every backend, and so does a server's
Retry-After.
"""

from __future__ import annotations

import socket
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cothub.models.base import Retryable


def public_url(url: str) -> str:
    """The URL without user:password or query string, fit for the store and logs."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def transport_failure(e: Exception, sdk: ModuleType) -> Retryable | None:
    """A failure below HTTP status level as Retryable, or None when ``e`` is something else."""
    if isinstance(e, sdk.APIConnectionError):  # timeouts are a subclass
        if nobody_listening(e):
            return Retryable(f"connection error: {e.__cause__ or e}")
        if isinstance(e, sdk.APITimeoutError):
            return Retryable("timeout")
        return Retryable(f"dropped connection: {type(e.__cause__ or e).__name__}")
    if isinstance(e, (sdk.APIResponseValidationError, ValueError)):
        # The SDKs let a 200 with an invalid JSON body escape as a bare JSONDecodeError.
        return Retryable(f"malformed response: {type(e).__name__}")
    return None


def nobody_listening(e: BaseException) -> bool:
    """A refused or unresolvable connect somewhere in the cause chain (transports wrap it
    differently: httpx as ConnectError, the aiohttp transport even as ConnectTimeout)."""
    seen: BaseException | None = e
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, (ConnectionRefusedError, socket.gaierror)):
            return True
        if type(seen).__name__ == "ClientConnectorError":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_after(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue  # an HTTP date; fall back to our own backoff
    return None


def error_message(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        msg = body.get("message") or (body.get("error") or {}).get("message")
        if msg:
            return str(msg)[:200]
    return str(getattr(e, "message", e))[:200]
