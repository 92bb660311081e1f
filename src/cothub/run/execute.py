"""The execute loop: plan -> manifest -> items -> solved by the strategy, graded and committed.

One loop for every run: items are rendered and keyed a block at a time (their first requests
looked up in the cache in one query) while the first requests are in flight, and each worker
asks the run's strategy to solve the next item: ``single``, ``--scoring loglikelihood``'s option
scoring and every ``--strategy`` alike. What a strategy asks for goes through
:mod:`cothub.run.cache` (memory, identical requests shared, the store, leases of concurrent
runs) and the layered backend of :mod:`cothub.run.layers` (pacing, retries, budget, fan-out).
Each item is committed with the fresh completions behind it in one write the moment it is
solved, so a crash loses at most the requests in flight, and the same command resumes with
exactly the missing ones. This module schedules, records failures and stops the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from cothub.cost import Budget, BudgetReached, ItemUsage, check_priced, load_prices, total_cost
from cothub.errors import BackendError, CothubError
from cothub.models import Backend, check_settings
from cothub.models.base import Scorer
from cothub.ratelimit import Limiter
from cothub.run.cache import ItemRequests, RunCache
from cothub.run.layers import stack
from cothub.run.manifest import cache_key, run_manifest, score_key
from cothub.run.plan import TaskPlan
from cothub.run.spec import ItemFailed, NoProgress, Progress, RunConfig, RunResult, Usage, warn
from cothub.store import Store
from cothub.store.shards import record_shard
from cothub.strategies.base import Outcome, Replays, SolveContext, Strategy
from cothub.types import (
    GenerateConfig,
    Grade,
    Prompt,
    RunManifest,
    Sample,
    SampleRecord,
    TaskSummary,
)


@dataclass(slots=True)
class _Item:
    plan: TaskPlan
    sample: Sample
    prompt: Prompt
    first: GenerateConfig
    """The settings of the strategy's first request."""
    key: str
    """The first request's key (its cache key, or its ``score_key`` when options are scored)."""
    options: tuple[str, ...] = ()
    """``--scoring loglikelihood``: the continuations scored."""


class _Feed:
    """The loop's work: items queued a block at a time as they are rendered."""

    def __init__(self) -> None:
        self.queue: deque[_Item] = deque()
        """Items not started yet."""
        self.waiting: list[_Item] = []
        """Items whose first request is in flight in another process."""
        self.finished = False
        """Every block is queued."""
        self._more = asyncio.Event()
        self.sent = asyncio.Event()
        """Set as a request is sent: the next block is prepared while it is in flight."""

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


LOOP_THRESHOLDS = (7_000, 10, 10)
"""The cyclic collector's thresholds while the loop runs: Python's defaults with a young
generation 10 times larger."""


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """:data:`LOOP_THRESHOLDS` while the loop runs (what was set before is restored after, and
    whatever start-up set is undone meanwhile). Each request in flight holds a few dozen
    containers (coroutines of the layers, futures, queued writes) that outlive the default 700
    allocations, so with hundreds in flight the collector ran every few requests and promoted
    them, and full collections (each a walk over every loaded sample and record) came 3-4 times
    as often: seconds of CPU in a 0 ms run. The loop makes no cyclic garbage of note, so memory
    is unchanged."""
    before = gc.get_threshold()
    gc.set_threshold(*LOOP_THRESHOLDS)
    # What start-up made (modules, the SDK's classes, samples) is not walked again; a process
    # that freezes objects itself (a pre-fork server) is left to manage its own.
    ours = gc.get_freeze_count() == 0
    if ours:
        gc.freeze()
    try:
        yield
    finally:
        if ours:
            gc.unfreeze()
        if gc.get_threshold() == LOOP_THRESHOLDS:  # nobody else changed it meanwhile
            gc.set_threshold(*before)


def execution_strategy(config: RunConfig) -> Strategy:
    """What solves each item of a run: ``--strategy``, or option scoring for ``--scoring
    loglikelihood``."""
    if config.scoring == "loglikelihood":
        from cothub.strategies.loglikelihood import LogLikelihood

        return LogLikelihood()
    return config.strategy


class Runner:
    """Runs planned tasks against one backend, writing to one store."""

    def __init__(
        self, backend: Backend, store: Store, config: RunConfig, progress: Progress | None = None
    ) -> None:
        self.backend = backend
        self.store = store
        self.config = config
        self.progress = progress or NoProgress()
        self._limiter = Limiter(config.limits, config.concurrency)
        self._records: list[SampleRecord] = []
        self._failure: BaseException | None = None
        self._model = str(backend.identity["model"])
        self._strategy = execution_strategy(config)  # the manifest records config's, as ever
        self._replays = isinstance(self._strategy, Replays)
        """Completions recorded elsewhere (``cothub import``): nothing is sent, looked up,
        leased or cached, nothing is accounted, and each item is keyed by its source."""
        # No request is ever in flight in a replay: its fewest allowed is 0, as imports said.
        self.usage = Usage(min_concurrency=0 if self._replays else config.concurrency)
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
        self._counted: ItemFailed | None = None
        """The failure last counted in the streak (items sharing one request count it once)."""
        self._cache: RunCache
        """The run's responses and leases (made as the loop starts)."""
        self._poll_lock = asyncio.Lock()  # one worker at a time polls for others' requests
        self._generate, self._retrying = stack(
            backend, self._limiter, None, config.retry, self.usage, self._say
        )

    def _say(self, line: str) -> None:
        self.warn(line)

    async def run(
        self, plans: Sequence[TaskPlan], manifest: RunManifest | None = None
    ) -> RunResult:
        """Run every item of ``plans`` (what the store already holds is served from it, not
        sent again) and summarise the run.

        ``manifest``: what the run records of itself, when its maker knows more than the plans
        say (an import's source files); None: the manifest of ``plans`` and the config.
        """
        started = time.perf_counter()
        run_id, model = self._begin(plans, manifest)
        chosen = self._held(run_id, plans)
        self.progress.begun(run_id, [p.task.name for p, _ in chosen], self._records)
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

    def _begin(
        self, plans: Sequence[TaskPlan], given: RunManifest | None = None
    ) -> tuple[str, str]:
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
        man = given or run_manifest(plans, self.backend, self.config)
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

        return summaries(
            plans, self._records, self.config.strategy, self._price, accounted=not self._replays
        )

    def _item(self, p: TaskPlan, s: Sample) -> _Item:
        prompt = p.prompter.render(s)
        first = self._strategy.first_config(p.config)
        if isinstance(self._strategy, Replays):
            return _Item(p, s, prompt, first, self._strategy.source_key(s))
        if self.config.scoring == "generate":
            return _Item(p, s, prompt, first, cache_key(self.backend, prompt, first))
        options = tuple(p.task.choices(s, p.fmt) or ())
        return _Item(p, s, prompt, first, score_key(self.backend, prompt, options), options)

    async def _execute(self, run_id: str, chosen: list[tuple[TaskPlan, Sample]]) -> None:
        """The one loop: items rendered and keyed a block at a time while the first requests
        are in flight, each solved by the strategy as a worker is free."""
        feed = _Feed()
        self._cache = RunCache(
            self.store, self.backend, self._generate, self.usage, self._write, feed.sent.set
        )
        self.progress.start(len(chosen), 0, 0)
        producer = asyncio.create_task(self._produce(chosen, feed))
        try:
            with _fewer_collections():
                await self._pool(lambda: self._worker(run_id, feed), len(chosen))
        finally:
            producer.cancel()

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

    async def _produce(self, chosen: list[tuple[TaskPlan, Sample]], feed: _Feed) -> None:
        """Blocks of items into ``feed``, their first requests looked up in the cache in one
        query: a first block the size of the pool, so that requests go out before the rest is
        even rendered, then larger ones."""
        prefetch: Callable[[Iterator[str]], bool] = (
            (lambda keys: False) if self._replays
            else self._cache.prefetch if self.config.scoring == "generate"
            else self._cache.prefetch_scores
        )  # fmt: skip
        try:
            start, size = 0, max(8, self.config.concurrency)
            while start < len(chosen):
                items = [self._item(p, s) for p, s in chosen[start : start + size]]
                missing = prefetch(it.key for it in items)
                feed.queue.extend(items)
                feed.wake()
                start, size = start + size, min(size * 2, 1024)
                if missing:  # requests go out before the next block is rendered
                    await feed.until_sent()
        except Exception as e:  # a prompt that cannot be rendered, a store that failed
            self._failure = self._failure or e
        finally:
            feed.finished = True
            feed.wake()

    async def _worker(self, run_id: str, feed: _Feed) -> None:
        # A worker takes the next item the moment its last one finished: N stay in flight.
        queue, waiting, cache = feed.queue, feed.waiting, self._cache
        leases = self.config.scoring == "generate" and not self._replays
        while self._failure is None:
            if not queue:
                if not feed.finished:
                    await feed.wait()
                    continue
                if not waiting:
                    return
                await self._await_others(queue, waiting)
                continue
            it = queue.popleft()
            if leases and it.key not in cache.hits:
                # Leased before it is sent: a request in flight in another process is not
                # sent again.
                claim = await cache.claim_ahead(it.key, (q.key for q in queue))
                if it.key in claim.theirs and it.key not in cache.hits:
                    waiting.append(it)
                    continue
            if not await self._solve(run_id, it):
                return

    async def _solve(self, run_id: str, it: _Item) -> bool:
        """One item through the strategy; False when the run stops (backend down, budget
        spent)."""
        requests = ItemRequests(self._cache, it.prompt, it.first, it.key, it.options)
        try:
            outcome = await self._strategy.solve(self._context(it, requests))
        except BaseException as e:
            requests.flush()  # the item's finished requests are cached for the resume
            return self._unsolved(run_id, it, e)
        self._streak = 0
        self._commit(run_id, it, outcome, requests)
        return True

    def _unsolved(self, run_id: str, it: _Item, e: BaseException) -> bool:
        """An item that failed after every retry is recorded and the run goes on (True); a
        server that is down or a budget spent stops it; anything else is raised."""
        if isinstance(e, ItemFailed):
            self._item_failed(it, e, run_id)
            return True
        if isinstance(e, BackendError):
            self._failure = self._failure or e
        elif isinstance(e, BudgetReached):
            self._stopped = True
        else:
            raise e
        return False

    @staticmethod
    def _context(it: _Item, requests: ItemRequests) -> SolveContext:
        task = it.plan.task

        async def grade(text: str) -> Grade:
            if task.slow_grader:  # symbolic graders (MATH): off the event loop
                return await asyncio.to_thread(task.grade, it.sample, text, it.plan.fmt)
            return task.grade(it.sample, text, it.plan.fmt)

        return SolveContext(
            it.sample, it.prompt, it.plan.config, requests.generate, grade, task.equivalent,
            it.options, requests.score if it.options else None,
        )  # fmt: skip

    def _commit(self, run_id: str, it: _Item, outcome: Outcome, requests: ItemRequests) -> None:
        """The item's sample, stored with the fresh completions behind it in one write."""
        rec = SampleRecord(
            task=it.plan.task.name,
            sample=it.sample,
            prompt=it.prompt,
            completion=outcome.completion,
            grade=outcome.grade,
            cache_key=it.key,
            cached=requests.cached,
            steps=outcome.steps,
            stats=outcome.stats,
            # A replayed completion took requests elsewhere, how many is not known.
            requests=None if self._replays else requests.requests,
        )
        self.usage.cached += rec.cached
        self._write(
            self.store.record_nowait(run_id, [rec], requests.pending or None, model=self._model)
        )
        self._records.append(rec)
        self.progress.advance(1, int(rec.grade.correct))

    # ---- the store: writes off the event loop, others' requests ------------------------------

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

    async def _await_others(self, queue: deque[_Item], waiting: list[_Item]) -> None:
        """All that is left is in flight elsewhere: queue it again as it lands in the cache,
        and take over what a dead or silent process leased (polling with backoff, one worker)."""
        cache = self._cache
        async with self._poll_lock:
            delay = 0.02
            while waiting and not queue and self._failure is None:
                claim = await cache.claim([it.key for it in waiting])
                still = []
                for it in waiting:
                    if it.key in claim.done or it.key in claim.mine:
                        cache.claimed(it.key, claim)
                        queue.append(it)
                    else:
                        still.append(it)
                waiting[:] = still
                if queue or not waiting:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 0.5)

    def _item_failed(self, it: _Item, e: ItemFailed, run_id: str) -> None:
        """Record the item as failed: no sample, nothing cached. As many failures in a row as
        requests in flight, with no success between: the server is taken for dead and the run
        stops (the same command resumes it)."""
        row: dict[str, object] = {
            "task": it.plan.task.name,
            "item_id": it.sample.id,
            "kind": e.kind,
            "reason": e.reason,
            "attempts": e.attempts,
        }
        self._failed.append(row)
        self._write(self.store.record_failures_nowait(run_id, [(it.key, row)]))
        if e is not self._counted:
            self._counted = e
            self._streak += 1
        if self._streak >= max(4, self.config.concurrency) and self._failure is None:
            where = self.backend.identity.get("base_url", "")
            self._failure = BackendError(
                f"gave up on the model server {where}: {self._streak} requests in a row failed "
                f"after {e.attempts} attempts ({e.reason}); finished samples are saved, re-run "
                "the same command to resume"
            )
