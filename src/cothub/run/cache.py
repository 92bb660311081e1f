"""Where an item's requests are answered from: the run's responses, keyed as the store keys them.

A request is served from memory (this run already has its response), from an identical request
in flight (identical requests are sent once, whichever items ask), from the store (an earlier
run, or another process that finished it first), or sent once this process holds the key's
lease, so that concurrent runs never send one request twice. Each item asks through its own
:class:`ItemRequests`, which the runner hands to the strategy as ``SolveContext.generate`` and
``SolveContext.score``, and which counts what the item used: a request counts for the first item
of the run that used it (the others count 0), and an item is ``cached`` when none of its
requests was sent by this run.

Option log-likelihoods (``--scoring loglikelihood``) are served from the store or scored, one
call per item, as they always were; they take no lease.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future

from cothub.extract.reasoning import with_thinking
from cothub.models import Backend
from cothub.models.base import Scorer
from cothub.run.layers import Generator, native_n
from cothub.run.manifest import cache_key, score_key
from cothub.run.spec import Usage
from cothub.store import Claim, Store, clean_completion
from cothub.types import Completion, GenerateConfig, Prompt

CLAIM_AHEAD = 32
"""Requests leased per claim: fewer transactions, and concurrent runs split the work in blocks."""

Write = Callable[[Future[None]], None]
"""Hands a queued store write to the runner, which watches it for failure."""


class RunCache:
    """Every response one run uses, with the leases that keep concurrent runs from sending one
    request twice. Lives on the event loop; the store is read on it and written off it."""

    def __init__(
        self, store: Store, backend: Backend, inner: Generator, usage: Usage, write: Write,
        on_send: Callable[[], None],
    ) -> None:  # fmt: skip
        self.store, self.backend, self.inner, self.usage = store, backend, inner, usage
        self.write, self.on_send = write, on_send
        self.model = str(backend.identity["model"])
        self.per_request = not native_n(backend)
        """An API without ``n``: a request of ``n`` completions is ``n`` HTTP requests."""
        self.hits: dict[str, list[Completion]] = {}
        """Key -> its completions, from the store, another process or this run."""
        self.scores: dict[str, list[float]] = {}
        """Key -> option log-likelihoods found in the store."""
        self.fresh: set[str] = set()
        """Keys this run sent."""
        self.counted: set[str] = set()
        """Keys an item of this run already counts among its requests."""
        self.leased: set[str] = set()
        """Keys leased to this process and not answered yet: send them."""
        self.claims: dict[str, asyncio.Future[Claim]] = {}
        """Key -> the claim that covers it (made a block of keys at a time)."""
        self._inflight: dict[str, asyncio.Future[list[Completion]]] = {}

    def prefetch(self, keys: Iterable[str]) -> bool:
        """Read a block's first requests from the store in one query; whether any is missing."""
        todo = list({k for k in keys if k not in self.hits})
        if todo:
            self.hits.update(self.store.cached(todo))
        return any(k not in self.hits for k in todo)

    def prefetch_scores(self, keys: Iterable[str]) -> bool:
        todo = list({k for k in keys if k not in self.scores})
        if todo:
            self.scores.update(self.store.cached_scores(todo))
        return any(k not in self.scores for k in todo)

    async def fetch(
        self, key: str, prompt: Prompt, config: GenerateConfig, before_send: Callable[[], None]
    ) -> tuple[list[Completion], bool]:
        """The completions for ``key`` and whether this call sent the request (calling
        ``before_send`` first). Items asking for ``key`` meanwhile wait for this answer (or this
        failure): nothing is looked up, leased or sent twice in one process."""
        hit = self.hits.get(key)
        if hit is not None:
            return hit, False
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending), False
        shared: asyncio.Future[list[Completion]] = asyncio.get_running_loop().create_future()
        self._inflight[key] = shared
        try:
            out, sent = await self._obtain(key, prompt, config, before_send)
        except BaseException as e:
            del self._inflight[key]
            if isinstance(e, asyncio.CancelledError):
                shared.cancel()
            else:
                shared.set_exception(e)
                shared.exception()  # retrieved: nobody may be waiting on it
            raise
        del self._inflight[key]
        self.hits[key] = out
        if sent:
            self.fresh.add(key)
            self.leased.discard(key)
        shared.set_result(out)
        return out, sent

    async def _obtain(
        self, key: str, prompt: Prompt, config: GenerateConfig, before_send: Callable[[], None]
    ) -> tuple[list[Completion], bool]:
        if key not in self.leased:
            hit = self.store.cached([key]).get(key)
            if hit is None:  # in flight in another process: wait for its answer
                hit = await self._lease(key)
            if hit is not None:
                return hit, False
        before_send()
        self.on_send()
        # Any text the server sent is stored, and graded as stored (lone surrogates too); inline
        # thinking is copied apart for reading here, once, whichever backend sent it.
        got = await self.inner.generate(prompt, config)
        return [with_thinking(clean_completion(c)) for c in got], True

    async def score(self, key: str, prompt: Prompt, options: Sequence[str]) -> list[float]:
        """One scoring call, its log-likelihoods committed (before the sample that uses them)."""
        assert isinstance(self.backend, Scorer)
        scores = await self.backend.loglikelihood([(prompt.text, o) for o in options])
        self.usage.requests += 1
        self.write(self.store.record_scores_nowait(key, scores, model=self.model))
        return scores

    # ---- leases ------------------------------------------------------------------------------

    async def claim(self, keys: list[str]) -> Claim:
        """Lease what is neither cached nor leased by another live process (one transaction)."""
        claim: Claim = await asyncio.wrap_future(self.store.claim(keys))
        self.leased.update(claim.mine)
        self.hits.update(claim.done)
        return claim

    async def claim_ahead(self, key: str, upcoming: Iterable[str]) -> Claim:
        """The claim covering ``key``: made with the next keys not yet claimed (one transaction
        for many requests), so that a request's lease is already held when it is sent."""
        pending = self.claims.get(key)
        if pending is None:
            keys = [key]
            for k in upcoming:
                if len(keys) >= CLAIM_AHEAD:
                    break
                if k not in self.claims and k not in self.hits and k not in keys:
                    keys.append(k)
            pending = asyncio.ensure_future(self.claim(keys))
            for k in keys:
                self.claims[k] = pending
        return await asyncio.shield(pending)

    def claimed(self, key: str, claim: Claim) -> None:
        """``key`` is covered by ``claim`` from now on (a lease taken over while polling)."""
        done: asyncio.Future[Claim] = asyncio.get_running_loop().create_future()
        done.set_result(claim)
        self.claims[key] = done

    async def _lease(self, key: str) -> list[Completion] | None:
        """None once ``key`` is leased to us (send it); another process's completions for it if
        it finishes first. A dead process's lease is taken over at once, an expired one too."""
        delay = 0.02
        while True:
            claim = await self.claim([key])
            if key in claim.done:
                return claim.done[key]
            if key in claim.mine:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)


class ItemRequests:
    """One item's requests through the run's cache. Fresh completions wait here until the item's
    sample is stored with them in one transaction (or until the item asks for more)."""

    def __init__(
        self, cache: RunCache, prompt: Prompt, first: GenerateConfig, key: str,
        options: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.cache, self.prompt, self.first, self.key, self.options = (
            cache, prompt, first, key, options,
        )  # fmt: skip
        self.pending: dict[str, list[Completion]] = {}
        """Fresh completions not handed to the store yet."""
        self.requests = 0
        """Requests this item counts (see the module docstring)."""
        self._asked: set[str] = set()
        self._scored = False
        """A scoring call was sent for it."""
        self._scores_read = False
        """Option scores were asked for (sent or served)."""

    @property
    def cached(self) -> bool:
        """Every request this item used was answered without being sent by this run (False
        when it used none: a replayed import was never served from the cache)."""
        used = bool(self._asked) or self._scores_read
        return used and not self._scored and self.cache.fresh.isdisjoint(self._asked)

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        """``SolveContext.generate``: served, or sent once and kept for the store."""
        cache = self.cache
        if prompt is self.prompt and (config is self.first or config == self.first):
            key = self.key  # the item's first request: keyed once, when it was queued
        else:
            key = cache_key(cache.backend, prompt, config)
        # Earlier fresh completions are committed before another request is sent.
        out, sent = await cache.fetch(key, prompt, config, self.flush)
        if sent:
            self.pending[key] = out
        if key not in self._asked:
            self._asked.add(key)
            if key not in cache.counted:
                cache.counted.add(key)
                self.requests += config.n if cache.per_request else 1
        return out

    async def score(self, options: Sequence[str]) -> list[float]:
        """``SolveContext.score``: the options' log-likelihoods after the item's prompt."""
        cache = self.cache
        chosen = tuple(options)
        key = self.key if chosen == self.options else score_key(cache.backend, self.prompt, chosen)
        self.requests += 1
        self._scores_read = True
        hit = cache.scores.get(key)
        if hit is not None:
            return hit
        self._scored = True
        return await cache.score(key, self.prompt, chosen)

    def flush(self) -> None:
        """Queue the fresh completions for the store on their own (before another request, or
        when the item failed: its finished requests are cached for the resume)."""
        if self.pending:
            self.cache.write(
                self.cache.store.record_nowait("", [], self.pending, model=self.cache.model)
            )
            self.pending = {}
