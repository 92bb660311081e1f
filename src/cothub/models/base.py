"""The one narrow interface every model backend implements.

A backend only translates: a :class:`Prompt` and a resolved :class:`GenerateConfig` in, completions
out. It never picks its own temperature or token limit, and it never retries: failures are raised
as :class:`Retryable` (the runner backs off and tries again) or :class:`BackendError` (give up).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from cothub.errors import BackendError
from cothub.types import ApiStyle, Completion, GenerateConfig, Prompt

__all__ = ["Backend", "BackendError", "RetryKind", "Retryable", "Scorer"]

RetryKind = Literal["rate_limited", "server_error", "timeout", "connection", "dropped", "malformed"]
"""Why a request may pass on a later try; the runner decides by this, never by the message.

- ``rate_limited``: HTTP 429 (the runner also lowers the requests in flight);
- ``server_error``: HTTP 408, 5xx, 529, or a 200 that says it is an error or was aborted;
- ``timeout``: no complete reply within ``--timeout`` (headers or a body that never ends);
- ``connection``: nobody listening (refused, unresolvable): a server never reached fails fast;
- ``dropped``: the connection closed or reset mid-exchange, or the HTTP framing was broken;
- ``malformed``: a complete reply whose body is not a well-formed answer (not JSON, wrong
  shape, text that is not a string, nonsense token counts). Never cached, never graded.
"""


class Retryable(Exception):
    """A failure that may pass: rate limit, 5xx, timeout, dropped connection, garbled body."""

    def __init__(self, kind: RetryKind, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.kind: RetryKind = kind
        self.reason = reason
        """One line for people (logs, the final error); code reads :attr:`kind`."""
        self.retry_after = retry_after
        """Seconds the server asked us to wait (``Retry-After``), if it said."""


class Backend(Protocol):
    """A model that turns prompts into completions."""

    @property
    def identity(self) -> dict[str, object]:
        """What determines its responses besides the prompt: provider, model, endpoint (no keys).

        Part of the cache key and the run manifest.
        """
        ...

    @property
    def style(self) -> ApiStyle:
        """The API style it speaks (chat messages or text completions)."""
        ...

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        """``config.n`` completions for one prompt, or raise Retryable / BackendError."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class Scorer(Protocol):
    """A backend that can also score text (local models): ``--scoring loglikelihood`` needs one."""

    async def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        """Per (context, continuation): the summed log-probability of the continuation's tokens
        given the context; raise BackendError when it cannot."""
        ...
