"""What the Stainless-generated SDKs (openai, anthropic) share: how their failures read.

Both SDKs raise the same exception shapes, so a refused connection, a timeout, a dropped
connection or a garbled body means the same thing for every backend, and so does a server's
Retry-After.
"""

from __future__ import annotations

import json
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


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """``http://user:pw@host/v1`` -> (``http://host/v1``, an ``Authorization: Basic`` header).

    Gateways that take credentials in the URL expect HTTP basic auth, as curl and browsers send
    it; the transports the SDKs use refuse to combine credentials in a URL with their own
    ``Authorization`` header, so they are taken out of the URL and sent as that header. Percent
    escapes in them are decoded first. Nothing else of the URL changes; no credentials, no header.
    """
    import base64
    from urllib.parse import unquote

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, {}
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    bare = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return bare, {"Authorization": f"Basic {token}"}


def transport_failure(e: Exception, sdk: ModuleType) -> Retryable | None:
    """A failure below HTTP status level as Retryable, or None when ``e`` is something else."""
    if isinstance(e, sdk.APIConnectionError):  # timeouts are a subclass
        if nobody_listening(e):
            return Retryable("connection", f"connection error: {e.__cause__ or e}")
        if isinstance(e, sdk.APITimeoutError) and not _dropped(e):
            return Retryable("timeout", "timeout")
        return Retryable("dropped", f"dropped connection: {type(e.__cause__ or e).__name__}")
    if isinstance(e, TimeoutError):
        return Retryable("timeout", "timeout")
    if isinstance(e, (sdk.APIResponseValidationError, ValueError)):
        # The SDKs let a 200 with an invalid JSON body escape as a bare JSONDecodeError.
        return Retryable("malformed", f"malformed response: {type(e).__name__}")
    if type(e).__module__.split(".")[0] in ("aiohttp", "httpx", "httpcore", "h11"):
        # Broken framing (a bad status line or chunk size, a lying Content-Length, undecodable
        # gzip) escapes some transports unwrapped: the exchange broke, the server may recover.
        return Retryable("dropped", f"broken HTTP response: {type(e).__name__}")
    return None


_DROPS = frozenset(
    {"ServerDisconnectedError", "ClientOSError", "ClientPayloadError", "RemoteProtocolError"}
)


def _dropped(e: BaseException) -> bool:
    """A "timeout" some transports report for a connection that was closed or reset (the
    aiohttp transport turns a server disconnect into ``ConnectTimeout``)."""
    seen: BaseException | None = e
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ConnectionError) or type(seen).__name__ in _DROPS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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


def json_body(raw: object) -> Any:
    """A 200's body as JSON, strictly: bytes must be UTF-8 (no replacement characters slipping
    into a graded text), whatever the Content-Type says."""
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise Retryable("malformed", "malformed response: body is not UTF-8") from e
    elif isinstance(raw, str):
        text = raw
    else:
        return raw
    try:
        return json.loads(text)
    except ValueError as e:
        what = "empty body" if not text.strip() else "body is not JSON"
        raise Retryable("malformed", f"malformed response: {what}") from e


def malformed(what: str) -> Retryable:
    return Retryable("malformed", f"malformed response: {what}")


def count(value: object, name: str) -> int:
    """A token count: absent or null is 0; anything but a non-negative whole number is a fault."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed(f"{name} is {type(value).__name__}, not a number")
    if value != value or value < 0 or value != int(value) or value > 1e12:
        raise malformed(f"{name} is {value!r}, not a token count")
    return int(value)


def obj(value: object, name: str, optional: bool = True) -> dict[str, Any]:
    """A JSON object (absent or null: empty when ``optional``)."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise malformed(f"{name} is {type(value).__name__}, not an object")
    return value


def opt_str(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise malformed(f"{name} is {type(value).__name__}, not text")
