"""Gathering concurrent calls into batches, for backends that run a model in this process.

The runner keeps ``--concurrency`` calls in flight; a local model is fastest when those calls reach
it together. Each call leaves a job (carrying its own future) here; one worker task hands the
pending jobs, in batches the backend chooses, to a blocking model call and settles the futures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar


class Job(Protocol):
    @property
    def future(self) -> asyncio.Future[Any]: ...


J = TypeVar("J", bound=Job)


class Gatherer(Generic[J]):
    """Queue of jobs and the worker that serves them in batches.

    ``take(pending)`` picks the next batch from the pending jobs (oldest first), ``call(batch)``
    runs it and returns one result per job, and ``recover(error, batch)`` turns a failure into
    the exception every caller of the batch gets, or None to put the batch back and try again
    (a smaller batch after running out of GPU memory).
    """

    def __init__(
        self,
        take: Callable[[list[J]], list[J]],
        call: Callable[[list[J]], Awaitable[Sequence[Any]]],
        recover: Callable[[Exception, list[J]], BaseException | None],
    ) -> None:
        self._take = take
        self._call = call
        self._recover = recover
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[J] = []
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    def submit(self, jobs: Sequence[J]) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first call in this event loop: a fresh queue and worker
            self._loop, self._pending, self._wake = loop, [], asyncio.Event()
            self._worker = loop.create_task(self._serve())
        self._pending.extend(jobs)
        self._wake.set()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    async def _serve(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await asyncio.sleep(0)  # callers woken by the last batch queue their next call
                # A caller that gave up (cancelled) needs no model time.
                self._pending = [j for j in self._pending if not j.future.done()]
                if not self._pending:
                    break
                batch = self._take(self._pending)
                taken = {id(j) for j in batch}
                self._pending = [j for j in self._pending if id(j) not in taken]
                try:
                    results = await self._call(batch)
                except Exception as e:
                    error = self._recover(e, batch)
                    if error is None:
                        self._pending[:0] = batch
                        continue
                    for j in batch:
                        if not j.future.done():
                            j.future.set_exception(error)
                    continue
                for j, r in zip(batch, results, strict=True):
                    if not j.future.done():
                        j.future.set_result(r)
