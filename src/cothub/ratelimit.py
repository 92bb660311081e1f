"""Client-side rate limits: requests and tokens per minute, and concurrency that yields on 429s.

Providers enforce per-minute request and token quotas; hitting them costs retries and wall time.
Pacing requests to the quota avoids most 429s; the ones that still come (shared keys, bursts)
halve the number of requests allowed in flight, which then grows back one at a time as requests
succeed (additive increase, multiplicative decrease, as in TCP congestion control).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimits:
    """What the user allows per model (``--rpm``, ``--tpm``); None means unlimited."""

    rpm: float | None = None
    tpm: float | None = None


class _Pace:
    """Spaces out work so that ``per_minute`` units pass per minute, with no burst beyond one."""

    def __init__(self, per_minute: float) -> None:
        self._interval = 60.0 / per_minute
        self._next = 0.0

    def reserve(self, units: float) -> float:
        """Book ``units`` and return how long to wait before they may go."""
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + units * self._interval
        return start - now


class Limiter:
    """Gate every request through ``async with limiter.request(tokens):``."""

    def __init__(self, limits: RateLimits, concurrency: int) -> None:
        self._rpm = _Pace(limits.rpm) if limits.rpm else None
        self._tpm = _Pace(limits.tpm) if limits.tpm else None
        self.max_concurrency = concurrency
        self.allowed = concurrency
        """Requests allowed in flight now; shrinks on 429 and grows back on success."""
        self.in_flight = 0
        self._successes = 0
        self._cond = asyncio.Condition()
        self._waiting = 0
        """Requests waiting for a slot (they go first: a newcomer never overtakes them)."""

    def request(self, est_tokens: int) -> _Slot:
        return _Slot(self, est_tokens)

    async def _enter(self, est_tokens: int) -> None:
        if self.in_flight < self.allowed and not self._waiting:
            self.in_flight += 1  # a free slot and nobody before us: no lock round trip
        else:
            self._waiting += 1
            try:
                async with self._cond:
                    await self._cond.wait_for(lambda: self.in_flight < self.allowed)
                    self.in_flight += 1
            finally:
                self._waiting -= 1
        wait = 0.0
        if self._rpm is not None:
            wait = max(wait, self._rpm.reserve(1))
        if self._tpm is not None:
            wait = max(wait, self._tpm.reserve(max(1, est_tokens)))
        if wait > 0:
            await asyncio.sleep(wait)

    async def _exit(self) -> None:
        self.in_flight -= 1
        if self._waiting:
            async with self._cond:
                self._cond.notify_all()

    def rate_limited(self) -> None:
        """A 429: halve what may be in flight (never below one)."""
        self.allowed = max(1, self.allowed // 2)
        self._successes = 0

    def succeeded(self) -> None:
        """Grow back by one after as many successes as are currently allowed in flight."""
        if self.allowed >= self.max_concurrency:
            return
        self._successes += 1
        if self._successes >= self.allowed:
            self.allowed += 1
            self._successes = 0


class _Slot:
    def __init__(self, limiter: Limiter, est_tokens: int) -> None:
        self._limiter = limiter
        self._tokens = est_tokens

    async def __aenter__(self) -> None:
        await self._limiter._enter(self._tokens)

    async def __aexit__(self, *exc: object) -> None:
        await self._limiter._exit()
