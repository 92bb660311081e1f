"""The one narrow interface every model backend implements.

A backend only translates: a :class:`Prompt` and a resolved :class:`GenerateConfig` in, completions
out. It never picks its own temperature or token limit, and it never retries: failures are raised
as :class:`Retryable` (the runner backs off and tries again) or :class:`BackendError` (give up).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cothub.errors import BackendError
from cothub.types import ApiStyle, Completion, GenerateConfig, Prompt

__all__ = ["Backend", "BackendError", "Retryable", "Scorer"]


class Retryable(Exception):
    """A failure that may pass: rate limit, 5xx, timeout, dropped connection, garbled body."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
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
