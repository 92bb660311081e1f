"""What wraps a backend during a run: pacing, retries, the budget, fan-out and the cache.

Each layer implements the same ``generate`` as :class:`cothub.models.Backend` and holds the next
one, the way httpx layers its client over one transport; :func:`stack` composes them once per
run, outermost first:

    FanOut -> Budgeted -> Retrying -> RateLimited -> the backend

so that a request of ``n`` completions to an API without ``n`` becomes ``n`` requests, each
checked against the budget once (its retries are not new requests), retried by its typed
``Retryable.kind``, and paced and counted per attempt. :mod:`cothub.run.cache` sits above the
stack: the store's completion cache, identical requests shared, and the leases of concurrent
runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from cothub.cost import Budget
from cothub.errors import BackendError
from cothub.models import Backend, Retryable
from cothub.prompts import estimate_tokens
from cothub.ratelimit import Limiter
from cothub.run.spec import ItemFailed, RetryPolicy, Usage
from cothub.types import Completion, GenerateConfig, Prompt


class Generator(Protocol):
    """The one method every layer has: ``config.n`` completions for one prompt."""

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]: ...


def estimate(prompt: Prompt, config: GenerateConfig) -> int:
    """What a request may count against a tokens-per-minute quota: providers count the prompt
    (the one estimate :func:`cothub.prompts.estimate_tokens`) and the completion budget."""
    return estimate_tokens(prompt) + config.max_tokens * config.n


class RateLimited:
    """Every attempt through the limiter; counts requests sent and 429s received (each halves
    the requests allowed in flight)."""

    def __init__(self, inner: Backend, limiter: Limiter, usage: Usage) -> None:
        self.inner, self.limiter, self.usage = inner, limiter, usage

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        try:
            async with self.limiter.request(estimate(prompt, config)):
                out = await self.inner.generate(prompt, config)
        except Retryable as e:
            if e.kind == "rate_limited":
                self.limiter.rate_limited()
                self.usage.rate_limited += 1
                self.usage.min_concurrency = min(self.usage.min_concurrency, self.limiter.allowed)
            raise
        self.limiter.succeeded()
        self.usage.requests += 1
        return out


class Retrying:
    """Backs off and tries again by :attr:`Retryable.kind` (never by its message); raises
    :class:`ItemFailed` after ``policy.max_retries``, and :class:`BackendError` at once for a
    server that was never reached."""

    def __init__(
        self, inner: Generator, policy: RetryPolicy, usage: Usage, where: str,
        warn: Callable[[str], None],
    ) -> None:  # fmt: skip
        self.inner, self.policy, self.usage, self.where, self.warn = (
            inner,
            policy,
            usage,
            where,
            warn,
        )
        self.any_success = False
        self._warned_retry_after = False

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        attempt = 0
        while True:
            try:
                out = await self.inner.generate(prompt, config)
                self.any_success = True
                return out
            except Retryable as e:
                attempt += 1
                self._give_up(e, attempt)
                self.usage.retries += 1
                self._warn_retry_after(e)
                await asyncio.sleep(self.policy.delay(attempt - 1, e.retry_after))

    def _give_up(self, e: Retryable, attempt: int) -> None:
        # A server that never answered at all is down, not flaky: say so quickly.
        unreachable = not self.any_success and e.kind == "connection"
        if unreachable and (attempt >= 2 or attempt > self.policy.max_retries):
            raise BackendError(
                f"cannot reach the model server {self.where} after {attempt} attempts "
                f"({e.reason}); finished samples are saved, re-run the same command to "
                "resume; check that the server is running and --base-url"
            ) from e
        if attempt > self.policy.max_retries:
            raise ItemFailed(e, attempt) from e

    def _warn_retry_after(self, e: Retryable) -> None:
        cap = self.policy.retry_after_cap_s
        if e.retry_after is not None and e.retry_after > cap and not self._warned_retry_after:
            self._warned_retry_after = True
            self.warn(
                f"the server asked to wait {e.retry_after:g} s before retrying "
                f"(Retry-After); cothub waits at most {cap:g} s"
            )


class Budgeted:
    """``--max-cost``: checked before each new request (raises ``BudgetReached``), charged with
    each response."""

    def __init__(self, inner: Generator, budget: Budget | None) -> None:
        self.inner, self.budget = inner, budget

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        if self.budget is None:
            return await self.inner.generate(prompt, config)
        self.budget.check()
        out = await self.inner.generate(prompt, config)
        self.budget.spend(out)
        return out


class FanOut:
    """An API without ``n`` (Anthropic's): ``n`` requests of one completion, each counted and
    paced as sent; one failing fails (or stops) the request as a whole."""

    def __init__(self, inner: Generator, native_n: bool) -> None:
        self.inner, self.native_n = inner, native_n

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        if config.n <= 1 or self.native_n:
            return await self.inner.generate(prompt, config)
        one = replace(config, n=1)
        calls = [asyncio.ensure_future(self.inner.generate(prompt, one)) for _ in range(config.n)]
        try:
            parts = await asyncio.gather(*calls)
        except BaseException:
            for call in calls:
                call.cancel()
            raise
        return [c for part in parts for c in part]


def stack(
    backend: Backend, limiter: Limiter, budget: Budget | None, policy: RetryPolicy, usage: Usage,
    warn: Callable[[str], None],
) -> tuple[FanOut, Retrying]:  # fmt: skip
    """The layered backend of a run (and its retry layer, which knows whether any succeeded)."""
    where = str(backend.identity.get("base_url", ""))
    retrying = Retrying(RateLimited(backend, limiter, usage), policy, usage, where, warn)
    return FanOut(Budgeted(retrying, budget), native_n(backend)), retrying


def native_n(backend: Backend) -> bool:
    """Whether one request returns ``n`` completions (else ``n`` requests are sent)."""
    return bool(getattr(backend, "native_n", True))
