"""The execute loop: plan -> manifest -> items -> solved, graded and committed as they arrive.

Every completion is graded and committed the moment it arrives, so a crash loses at most the
requests in flight, and the same command resumes with exactly the missing ones. Requests go
through the layered backend of :mod:`cothub.run.layers` (pacing, retries, budget, fan-out);
this module schedules them, serves the cache, holds leases and records failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from cothub.cost import Budget, BudgetReached, ItemUsage, check_priced, load_prices, total_cost
from cothub.errors import BackendError, CothubError
from cothub.models import Backend, check_settings
from cothub.models.base import Scorer
from cothub.ratelimit import Limiter
from cothub.run.layers import Cached, native_n, stack
from cothub.run.manifest import cache_key, run_manifest, score_key
from cothub.run.plan import TaskPlan
from cothub.run.spec import ItemFailed, NoProgress, Progress, RunConfig, RunResult, Usage, warn
from cothub.store import Claim, Store, clean_completion
from cothub.store.shards import record_shard
from cothub.strategies.base import SolveContext
from cothub.strategies.single import Single
from cothub.types import (
    Completion,
    GenerateConfig,
    Grade,
    OptionStep,
    Prompt,
    Sample,
    SampleRecord,
    TaskSummary,
)


@dataclass(slots=True)
class _Item:
    plan: TaskPlan
    sample: Sample
    prompt: Prompt
    key: str
    options: tuple[str, ...] = ()
    """``--scoring loglikelihood``: the continuations scored."""


class _Feed:
    """The single path's work: request groups queued as blocks of items are prepared."""

    def __init__(self) -> None:
        self.queue: deque[list[_Item]] = deque()
        """Groups not sent yet; a group is the items sharing one prompt (one request)."""
        self.groups: dict[str, list[_Item]] = {}
        """Key -> its group while queued, waiting or in flight (later items join it)."""
        self.done: dict[str, list[Completion]] = {}
        """Key -> the completions its request got (later items with it are served from it)."""
        self.carried: set[str] = set()
        """Keys of cache hits already served once (only the first item counts the request)."""
        self.waiting: list[list[_Item]] = []
        """Groups in flight in another process."""
        self.finished = False
        """Every block is queued."""
        self._more = asyncio.Event()
        self.sent = asyncio.Event()
        """Set as a worker sends a request: the next block is prepared while it is in flight."""

    async def until_sent(self, timeout_s: float = 0.05) -> None:
        """Until a queued request was sent (or ``timeout_s``: it may wait on another process)."""
        self.sent.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.sent.wait(), timeout_s)

    def wake(self) -> None:
        self._more.set()

    async def wait(self) -> None:
        self._more.clear()
        await self._more.wait()

    def close(self, key: str, completions: list[Completion] | None) -> list[_Item]:
        """The group of ``key``, as it is now; later items with it are served ``completions``
        (None: it failed, a later item asks again)."""
        group = self.groups.pop(key)
        if completions is not None:
            self.done[key] = completions
        return group


_CLAIM_AHEAD = 32
"""Requests leased per claim: fewer transactions, and concurrent runs split the work in blocks."""


class Runner:
    """Runs planned tasks against one backend, writing to one store."""

    def __init__(
        self, backend: Backend, store: Store, config: RunConfig, progress: Progress | None = None
    ) -> None:
        self.backend = backend
        self.store = store
        self.config = config
        self.progress = progress or NoProgress()
        self.usage = Usage(min_concurrency=config.concurrency)
        self._limiter = Limiter(config.limits, config.concurrency)
        self._records: list[SampleRecord] = []
        self._failure: BaseException | None = None
        self._model = str(backend.identity["model"])
        self._hits: dict[str, list[Completion]] = {}
        prices = config.prices or load_prices()
        priced_as = f"{backend.identity.get('provider')}/{self._model}"
        self._price = prices.lookup(priced_as)
        if config.max_cost is not None:  # refused before the run is recorded or anything is sent
            check_priced(prices, [priced_as])
        self._budget: Budget | None = None
        self._stopped = False
        self._failed: list[dict[str, object]] = []
        self._streak = 0
        """Requests failed in a row with no success between: a dead server stops the run."""
        self.warn: Callable[[str], None] = warn
        """Says one line to the user (stderr by default)."""
        self._poll_lock = asyncio.Lock()  # one worker at a time polls for others' requests
        self._claims: dict[str, asyncio.Future[Claim]] = {}  # key -> the claim that covers it
        self._generate, self._retrying = stack(
            backend, self._limiter, None, config.retry, self.usage, self._say
        )

    def _say(self, line: str) -> None:
        self.warn(line)

    async def run(self, plans: Sequence[TaskPlan]) -> RunResult:
        started = time.perf_counter()
        run_id, model = self._begin(plans)
        chosen = self._held(run_id, plans)
        status = "failed"
        self.store.clear_failures(run_id)  # this invocation tries them again
        try:
            await self._execute(run_id, chosen)
            await self._flushed()
            status = "stopped" if self._stopped else "incomplete" if self._failed else "complete"
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        finally:
            summaries = self._finish(run_id, status, plans)
        self._total_usage()
        return RunResult(
            run_id,
            model,
            summaries,
            {p.task.name: p.fmt for p in plans},
            self.usage,
            time.perf_counter() - started,
            self.config.strategy.describe(),
            status,
            tuple(self._failed),
        )

    def _begin(self, plans: Sequence[TaskPlan]) -> tuple[str, str]:
        """Refuse what cannot run, record the run (manifest, start time), set up the budget;
        (run id, ``provider/model``)."""
        if self.config.scoring == "loglikelihood" and not isinstance(self.backend, Scorer):
            raise CothubError(
                f"--scoring loglikelihood needs a model that scores text, such as hf/MODEL; "
                f"{self.backend.identity.get('provider')}/ models only generate"
            )
        for p in plans:  # refused before the run is recorded or anything is sent
            check_settings(str(self.backend.identity.get("provider")), p.config)
        # Cache entries older releases made of malformed replies are dropped, once per store.
        self.store.repair_poisoned()
        man = run_manifest(plans, self.backend, self.config)
        run_id = man.run_id
        model = man.model.name
        # Timed: this invocation's wall time is saved as it goes, so a killed one keeps it.
        self.store.begin_run(
            run_id, model, [p.task.name for p in plans],
            replace(man, started_at=time.time()).as_json(), timed=True,
        )  # fmt: skip
        if self.config.max_cost is not None and self._price is not None:
            # What earlier invocations of this run already spent counts against the same budget.
            stored = [r.usage for r in self.store.sample_usage(run_id)]
            spent = total_cost(stored, self._price) or 0.0
            self._budget = Budget(self.config.max_cost, self._price, spent)
            self._generate, self._retrying = stack(
                self.backend, self._limiter, self._budget, self.config.retry, self.usage, self._say
            )
        return run_id, model

    def _held(self, run_id: str, plans: Sequence[TaskPlan]) -> list[tuple[TaskPlan, Sample]]:
        """The items this invocation runs: all of them, or the ones its ``--shard`` holds."""
        shard = self.config.shard
        chosen = [
            (p, s) for p in plans for s in p.samples if not shard or shard.keeps(p.task.name, s.id)
        ]
        if shard is not None:  # the items this shard holds: `cothub merge` names missing ones
            held = [(p.task.name, s.id) for p, s in chosen]
            record_shard(self.store, run_id, shard.index, shard.count, held)
        return chosen

    def _finish(
        self, run_id: str, status: str, plans: Sequence[TaskPlan]
    ) -> dict[str, TaskSummary]:
        """The summaries, stored with the run's status."""
        summaries = self._summarize(plans)
        try:
            self.store.finish_run(
                run_id, status, {k: v.as_json() for k, v in summaries.items()} or None
            )
        except CothubError:
            # A store that failed (full disk, lock never released) cannot take the status
            # either; with the first error on its way, the run reads as interrupted (no live
            # process holds it) and the same command resumes it.
            if status in ("complete", "stopped", "incomplete"):
                raise
        finally:
            self.progress.stop()
        return summaries

    def _total_usage(self) -> None:
        for r in self._records:
            self.usage.prompt_tokens += r.completion.prompt_tokens
            self.usage.completion_tokens += r.completion.completion_tokens
            self.usage.reasoning_tokens += r.completion.reasoning_tokens
        self.usage.cost_usd = total_cost(map(ItemUsage.of, self._records), self._price)

    def _summarize(self, plans: Sequence[TaskPlan]) -> dict[str, TaskSummary]:
        from cothub.run.summary import summaries  # metrics: not needed before the first request

        return summaries(plans, self._records, self.config.strategy, self._price)

    def _item(self, p: TaskPlan, s: Sample, prompt: Prompt) -> _Item:
        if self.config.scoring == "generate":
            return _Item(p, s, prompt, cache_key(self.backend, prompt, p.config))
        options = tuple(p.task.choices(s, p.fmt) or ())
        return _Item(p, s, prompt, score_key(self.backend, prompt, options), options)

    async def _execute(self, run_id: str, chosen: list[tuple[TaskPlan, Sample]]) -> None:
        if self.config.scoring == "generate" and isinstance(self.config.strategy, Single):
            await self._execute_single(run_id, chosen)
            return
        items = [self._item(p, s, p.prompter.render(s)) for p, s in chosen]
        if self.config.scoring == "loglikelihood":
            await self._execute_loglikelihood(run_id, items)
        else:
            await self._execute_strategy(run_id, items)

    async def _pool(self, work: Callable[[], Coroutine[Any, Any, None]], n: int) -> None:
        """``n`` workers; the first backend failure stops new work, finished work stays saved."""
        workers = [asyncio.create_task(work()) for _ in range(min(self.config.concurrency, n))]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
        if self._failure is not None:
            raise self._failure

    async def _execute_strategy(self, run_id: str, items: list[_Item]) -> None:
        """Any strategy: each item is solved on its own; every request is cached as it arrives."""
        strategy = self.config.strategy
        first = [
            cache_key(self.backend, it.prompt, strategy.first_config(it.plan.config))
            for it in items
        ]
        self._hits = self.store.cached(list(set(first)))
        queue = deque(zip(items, first, strict=True))
        self.progress.start(len(items), 0, 0)
        await self._pool(lambda: self._solver(run_id, queue), len(queue))

    async def _solver(self, run_id: str, queue: deque[tuple[_Item, str]]) -> None:
        deferred: set[str] = set()
        while queue and self._failure is None:
            it, key = queue.popleft()
            if key not in self._hits and key not in deferred:
                # Another process is on this item: do the others first, this one comes back.
                claim = await self._claim([key])
                if claim.theirs:
                    deferred.add(key)
                    queue.append((it, key))
                    continue
            layer = self._cached(run_id)

            async def grade(text: str, it: _Item = it) -> Grade:
                task = it.plan.task
                if task.slow_grader:
                    return await asyncio.to_thread(task.grade, it.sample, text, it.plan.fmt)
                return task.grade(it.sample, text, it.plan.fmt)

            try:
                ctx = SolveContext(
                    it.sample, it.prompt, it.plan.config, layer.generate, grade,
                    it.plan.task.equivalent,
                )  # fmt: skip
                outcome = await self.config.strategy.solve(ctx)
            except ItemFailed as e:  # its finished requests are cached for the resume
                self._item_failed(group=[it], e=e, run_id=run_id, key=key)
                continue
            except BackendError as e:
                self._failure = self._failure or e
                return
            except BudgetReached:  # the item's finished requests are cached for the resume
                self._stopped = True
                return
            self._streak = 0
            rec = SampleRecord(
                task=it.plan.task.name,
                sample=it.sample,
                prompt=it.prompt,
                completion=outcome.completion,
                grade=outcome.grade,
                cache_key=key,
                cached=layer.sent == 0,
                steps=outcome.steps,
                stats=outcome.stats,
                requests=sum(layer.asked.values()),
            )
            self.usage.cached += layer.sent == 0
            self._write(self.store.record_nowait(run_id, [rec]))
            self._records.append(rec)
            self.progress.advance(1, int(rec.grade.correct))

    def _cached(self, run_id: str) -> Cached:
        """One item's view of the layered backend through the completion cache."""

        async def lookup(key: str) -> list[Completion] | None:
            hit = self._hits.get(key) or self.store.cached([key]).get(key)
            if hit is None:  # in flight in another process: wait for its answer
                hit = await self._lease(key)
            if hit is not None:
                self._hits[key] = hit
            return hit

        def record(key: str, out: list[Completion]) -> None:
            self._hits[key] = out
            self._write(self.store.record_nowait(run_id, [], {key: out}, model=self._model))

        def key_of(prompt: Prompt, config: GenerateConfig) -> str:
            return cache_key(self.backend, prompt, config)

        return Cached(self._generate, key_of, lookup, record, not native_n(self.backend))

    async def _execute_loglikelihood(self, run_id: str, items: list[_Item]) -> None:
        """``--scoring loglikelihood``: one scoring call per item, its options' log-likelihoods
        cached (committed before the sample) and the most likely option graded as the answer."""
        hits = self.store.cached_scores(list({it.key for it in items}))
        served = [self._pick(it, hits[it.key], cached=True) for it in items if it.key in hits]
        self.usage.cached = len(served)
        self._write(self.store.record_nowait(run_id, served))
        self._records.extend(served)
        self.progress.start(len(items), len(served), sum(r.grade.correct for r in served))
        queue = deque(it for it in items if it.key not in hits)
        await self._pool(lambda: self._scorer(run_id, queue), len(queue))

    async def _scorer(self, run_id: str, queue: deque[_Item]) -> None:
        assert isinstance(self.backend, Scorer)
        while queue and self._failure is None:
            it = queue.popleft()
            try:
                scores = await self.backend.loglikelihood(
                    [(it.prompt.text, option) for option in it.options]
                )
            except BackendError as e:
                self._failure = self._failure or e
                return
            self.usage.requests += 1
            self._write(self.store.record_scores_nowait(it.key, scores, model=self._model))
            rec = self._pick(it, scores)
            self._write(self.store.record_nowait(run_id, [rec]))
            self._records.append(rec)
            self.progress.advance(1, int(rec.grade.correct))

    def _pick(self, it: _Item, scores: Sequence[float], cached: bool = False) -> SampleRecord:
        """The most likely option (the first on a tie) as the completion; every option's score
        in ``steps``."""
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        record = self._grade(it, Completion(it.options[best], "stop"), cached=cached)
        steps = tuple(OptionStep(o, s) for o, s in zip(it.options, scores, strict=True))
        return replace(record, steps=steps)

    async def _execute_single(self, run_id: str, chosen: list[tuple[TaskPlan, Sample]]) -> None:
        """The common case, kept lean: prompts rendered and keyed a block at a time while the
        first requests are in flight, cache hits served a block at a time, identical prompts
        sent once, and each completion committed together with its samples in one transaction."""
        feed = _Feed()
        producer = asyncio.create_task(self._produce(run_id, chosen, feed))
        try:
            await self._pool(lambda: self._worker(run_id, feed), len(chosen))
        finally:
            producer.cancel()

    async def _produce(
        self, run_id: str, chosen: list[tuple[TaskPlan, Sample]], feed: _Feed
    ) -> None:
        """Blocks of items into ``feed``: a first one the size of the pool, so that requests go
        out before the rest is even rendered, then larger ones."""
        try:
            start, size = 0, max(8, self.config.concurrency)
            while start < len(chosen):
                block = chosen[start : start + size]
                items = [self._item(p, s, p.prompter.render(s)) for p, s in block]
                served = await self._serve_hits(run_id, items, feed)
                if start == 0:
                    correct = sum(r.grade.correct for r in served)
                    self.progress.start(len(chosen), len(served), correct)
                elif served:
                    self.progress.advance(len(served), sum(r.grade.correct for r in served))
                feed.wake()
                start, size = start + size, min(size * 2, 1024)
                if feed.queue:  # requests go out before the next block is rendered
                    await feed.until_sent()
        except Exception as e:  # a prompt that cannot be rendered, a store that failed
            self._failure = self._failure or e
        finally:
            feed.finished = True
            feed.wake()

    async def _serve_hits(self, run_id: str, items: list[_Item], feed: _Feed) -> list[SampleRecord]:
        """Grade and store the items the cache answers; queue the others, one group per prompt."""
        hits = self.store.cached(list({it.key for it in items if it.key not in feed.groups}))
        fast, slow, late = self._sort_block(items, hits, feed)

        def grade(part: list[tuple[_Item, int]]) -> list[SampleRecord]:
            return [self._grade(it, hits[it.key][0], cached=True, requests=n) for it, n in part]

        served = grade(fast)
        # Symbolic graders (MATH) run in worker processes: grade cached answers in parallel
        # threads instead of one by one on the event loop.
        chunks = [slow[i::4] for i in range(4) if slow[i::4]]
        for part in await asyncio.gather(*(asyncio.to_thread(grade, c) for c in chunks)):
            served.extend(part)
        self.usage.cached += len(served)
        # Items whose prompt an earlier block's request answered: graded as its group's were.
        served.extend(self._grade(it, feed.done[it.key][0], requests=0) for it in late)
        if served:
            self._write(self.store.record_nowait(run_id, served))
        self._records.extend(served)
        return served

    @staticmethod
    def _sort_block(
        items: list[_Item], hits: dict[str, list[Completion]], feed: _Feed
    ) -> tuple[list[tuple[_Item, int]], list[tuple[_Item, int]], list[_Item]]:
        """(cache hits graded on the loop, hits for a slow grader, answered in this run); the
        rest joins its group or is queued as a new one."""
        fast: list[tuple[_Item, int]] = []
        slow: list[tuple[_Item, int]] = []
        late: list[_Item] = []
        for it in items:
            if it.key in feed.groups:  # queued or in flight: graded with its group
                feed.groups[it.key].append(it)
            elif it.key in feed.done:
                late.append(it)
            elif it.key in hits:
                first = it.key not in feed.carried  # one request served all: the first counts
                feed.carried.add(it.key)
                (slow if it.plan.task.slow_grader else fast).append((it, int(first)))
            else:
                feed.groups[it.key] = [it]
                feed.queue.append(feed.groups[it.key])
        return fast, slow, late

    async def _worker(self, run_id: str, feed: _Feed) -> None:
        # A worker takes the next request the moment its last one finished: N stay in flight.
        queue, waiting = feed.queue, feed.waiting
        while self._failure is None:
            if not queue:
                if not feed.finished:
                    await feed.wait()
                    continue
                if not waiting:
                    return
                await self._await_others(run_id, queue, waiting, feed)
                continue
            group = queue.popleft()
            first = group[0]
            # Leased before it is sent: a request in flight in another process is not sent again.
            claim = await self._claim_ahead(first.key, queue)
            if first.key in claim.theirs:
                waiting.append(group)
                continue
            if first.key in claim.done:
                await self._serve(
                    run_id, feed.close(first.key, claim.done[first.key]), claim.done[first.key]
                )
                continue
            try:
                feed.sent.set()
                completions = await self._generate.generate(first.prompt, first.plan.config)
            except ItemFailed as e:
                self._item_failed(feed.close(first.key, None), e, run_id, first.key)
                continue
            except BackendError as e:
                self._failure = self._failure or e
                return
            except BudgetReached:
                self._stopped = True
                return
            self._streak = 0
            # Any text the server sent is stored, and graded as stored (lone surrogates too).
            completions = [clean_completion(c) for c in completions]
            group = feed.close(first.key, completions)
            if first.plan.task.slow_grader:
                recs = await asyncio.to_thread(self._grade_all, group, completions[0])
            else:
                recs = self._grade_all(group, completions[0])
            self._write(
                self.store.record_nowait(run_id, recs, {first.key: completions}, model=self._model)
            )
            self._records.extend(recs)
            self.progress.advance(len(recs), sum(r.grade.correct for r in recs))

    # ---- the store: leases and writes off the event loop ------------------------------------

    def _write(self, done: Future[None]) -> None:
        """A write queued in the store's writer thread; its failure (full disk, a lock never
        released) stops new work and is what the run reports."""

        def check(f: Future[None]) -> None:  # in the writer thread: no wake-up of the loop
            if not f.cancelled() and f.exception() is not None and self._failure is None:
                self._failure = f.exception()

        done.add_done_callback(check)

    async def _flushed(self) -> None:
        """Every queued write committed, or the first failure raised."""
        await asyncio.wrap_future(self.store.flush())
        if self._failure is not None:
            raise self._failure

    async def _claim(self, keys: list[str]) -> Claim:
        claim: Claim = await asyncio.wrap_future(self.store.claim(keys))
        return claim

    async def _claim_ahead(self, key: str, queue: deque[list[_Item]]) -> Claim:
        """The claim covering ``key``: made with the next keys of the queue (one transaction
        for many requests), so that the lease of a request is already held when it is sent."""
        pending = self._claims.get(key)
        if pending is None:
            keys = [key]
            for group in queue:
                if len(keys) >= _CLAIM_AHEAD:
                    break
                if group[0].key not in self._claims:
                    keys.append(group[0].key)
            pending = asyncio.ensure_future(self._claim(keys))
            for k in keys:
                self._claims[k] = pending
        return await asyncio.shield(pending)

    async def _lease(self, key: str) -> list[Completion] | None:
        """None once ``key`` is leased to us (send it); another process's completions for it if
        it finishes first. A dead process's lease is taken over at once, an expired one too."""
        delay = 0.02
        while True:
            claim = await self._claim([key])
            if key in claim.done:
                return claim.done[key]
            if claim.mine:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    async def _await_others(
        self, run_id: str, queue: deque[list[_Item]], waiting: list[list[_Item]], feed: _Feed
    ) -> None:
        """All that is left is in flight elsewhere: serve it from the cache as it lands, and
        take over what a dead or silent process leased (polling with backoff, one worker)."""
        async with self._poll_lock:
            delay = 0.02
            while waiting and not queue and self._failure is None:
                claim = await self._claim([g[0].key for g in waiting])
                still = []
                for group in waiting:
                    key = group[0].key
                    if key in claim.done:
                        await self._serve(run_id, feed.close(key, claim.done[key]), claim.done[key])
                    elif key in claim.mine:
                        self._claims[key] = asyncio.get_running_loop().create_future()
                        self._claims[key].set_result(claim)
                        queue.append(group)
                    else:
                        still.append(group)
                waiting[:] = still
                if queue or not waiting:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 0.5)

    async def _serve(self, run_id: str, group: list[_Item], completions: list[Completion]) -> None:
        """Items whose request another process sent: graded and stored as cache hits."""

        def grade() -> list[SampleRecord]:
            return [
                self._grade(it, completions[0], cached=True, requests=int(i == 0))
                for i, it in enumerate(group)
            ]

        recs = await asyncio.to_thread(grade) if group[0].plan.task.slow_grader else grade()
        self.usage.cached += len(recs)
        self._write(self.store.record_nowait(run_id, recs))
        self._records.extend(recs)
        self.progress.advance(len(recs), sum(r.grade.correct for r in recs))

    def _item_failed(self, group: list[_Item], e: ItemFailed, run_id: str, key: str) -> None:
        """Record ``group`` (items sharing the request ``key``) as failed: no sample, nothing
        cached. As many failures in a row as requests in flight, with no success between: the
        server is taken for dead and the run stops (the same command resumes it)."""
        rows: list[dict[str, object]] = [
            {
                "task": it.plan.task.name,
                "item_id": it.sample.id,
                "kind": e.kind,
                "reason": e.reason,
                "attempts": e.attempts,
            }
            for it in group
        ]
        self._failed.extend(rows)
        self._write(self.store.record_failures_nowait(run_id, [(key, row) for row in rows]))
        self._streak += 1
        if self._streak >= max(4, self.config.concurrency) and self._failure is None:
            where = self.backend.identity.get("base_url", "")
            self._failure = BackendError(
                f"gave up on the model server {where}: {self._streak} requests in a row failed "
                f"after {e.attempts} attempts ({e.reason}); finished samples are saved, re-run "
                "the same command to resume"
            )

    def _grade_all(self, group: list[_Item], completion: Completion) -> list[SampleRecord]:
        return [self._grade(it, completion, requests=int(i == 0)) for i, it in enumerate(group)]

    def _grade(
        self, it: _Item, completion: Completion, cached: bool = False, requests: int = 1
    ) -> SampleRecord:
        grade = it.plan.task.grade(it.sample, completion.text, it.plan.fmt)
        return SampleRecord(
            task=it.plan.task.name,
            sample=it.sample,
            prompt=it.prompt,
            completion=completion,
            grade=grade,
            cache_key=it.key,
            cached=cached,
            requests=requests,
        )
