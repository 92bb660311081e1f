"""Orchestration only: plan the run, serve what the cache holds, keep N requests in flight.

Every completion is graded and committed the moment it arrives, so a crash loses at most the
requests in flight, and the same command resumes with exactly the missing ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from cothub import __version__
from cothub.cost import (
    Budget,
    BudgetReached,
    ItemUsage,
    PriceTable,
    accounting,
    check_priced,
    load_prices,
    total_cost,
)
from cothub.data.source import DataSource, seeded_subset
from cothub.errors import BackendError, CothubError
from cothub.models import Backend, Retryable, check_settings
from cothub.models.base import RetryKind, Scorer
from cothub.prompts import estimate_tokens
from cothub.ratelimit import Limiter, RateLimits
from cothub.scoring.metrics import summarize
from cothub.store import Claim, Store, clean_completion
from cothub.strategies import ShapesPrompts, Strategy
from cothub.strategies.base import SolveContext
from cothub.strategies.single import Single
from cothub.tasks import HUB, Prompter, PromptOptions, Task, resolve_task, task_params
from cothub.types import (
    ApiStyle,
    Completion,
    GenerateConfig,
    Grade,
    OptionStep,
    Prompt,
    Sample,
    SampleRecord,
    TaskSummary,
)

Scoring = Literal["generate", "loglikelihood"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, up to ``cap_s``; a server's Retry-After wins when it
    gives one, honoured up to ``retry_after_cap_s`` (a longer wait asked for is cut to that, and
    the run says so in one line)."""

    max_retries: int = 6
    base_s: float = 1.0
    cap_s: float = 60.0
    retry_after_cap_s: float = 600.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap_s)
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


class ItemFailed(Exception):
    """A request still failing after every retry: its item is recorded as failed (never as a
    wrong answer, never cached) and the run goes on; the same command re-requests it."""

    def __init__(self, last: Retryable, attempts: int) -> None:
        super().__init__(last.reason)
        self.kind: RetryKind = last.kind
        self.reason = last.reason
        self.attempts = attempts


_KIND_WORDS: dict[str, str] = {
    "rate_limited": "rate limited",
    "server_error": "server errors",
    "timeout": "timeouts",
    "connection": "connection refused",
    "dropped": "dropped connections",
    "malformed": "malformed responses from the server",
}


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a ``cothub run`` was asked for, after the CLI validated it."""

    tasks: tuple[str, ...]
    format: str | None
    options: PromptOptions
    limit: int | None
    seed: int
    max_tokens: int | None
    temperature: float
    top_p: float | None = None
    concurrency: int = 32
    timeout_s: float = 120.0
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Keep only samples whose tag has one of these values, e.g. (("level", ("4", "5")),)."""
    max_context: int | None = None
    """The model's context window in tokens; prompts are fitted into it minus max_tokens."""
    reasoning_effort: str | None = None
    """``--reasoning-effort`` (low/medium/high), sent to backends that take it."""
    thinking_budget: int | None = None
    """``--thinking-budget`` in tokens (Anthropic extended thinking)."""
    strategy: Strategy = field(default_factory=Single)
    """How completions are produced per sample (``--strategy``)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    scoring: Scoring = "generate"
    """``loglikelihood``: multiple-choice items are answered by the most likely option
    (``--scoring``), with backends that score text."""
    limits: RateLimits = field(default_factory=RateLimits)
    """Requests and tokens per minute allowed (``--rpm``, ``--tpm``)."""
    max_cost: float | None = None
    """``--max-cost`` in USD: no new request once the run has cost this much (``cost.Budget``)."""
    prices: PriceTable | None = None
    """Prices per model (``--prices``); None: the built-in table under ``$COTHUB_PRICES``."""


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """One benchmark of the run: its samples, how they are prompted, and the settings used."""

    task: Task
    fmt: str
    samples: list[Sample]
    prompter: Prompter
    config: GenerateConfig
    provenance: dict[str, str]
    subsets: tuple[str, ...]


@dataclass(slots=True)
class Usage:
    """Run cost: requests sent now, answers served from the cache, tokens of all samples."""

    requests: int = 0
    cached: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None
    """What the run's samples cost at list price when they were made; None: model unpriced."""
    rate_limited: int = 0
    """429 answers received; each one halved the requests allowed in flight."""
    min_concurrency: int = 0
    """The fewest requests allowed in flight at any point (below --concurrency after 429s)."""

    def as_json(self) -> dict[str, int | float | None]:
        return {
            "rate_limited": self.rate_limited,
            "min_concurrency": self.min_concurrency,
            "requests": self.requests,
            "cached": self.cached,
            "retries": self.retries,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": self.cost_usd,
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    run_id: str
    model: str
    summaries: dict[str, TaskSummary]
    formats: dict[str, str]
    usage: Usage
    wall_s: float
    strategy: dict[str, object] = field(default_factory=lambda: {"name": "single"})
    status: str = "complete"
    """``complete``; ``stopped`` when ``--max-cost`` ended it with items left to do;
    ``incomplete`` when items failed after every retry (see :attr:`failed`)."""
    failed: tuple[dict[str, object], ...] = ()
    """Items whose request still failed after every retry: task, item id, kind, reason,
    attempts. Not graded (no sample row); the same command re-requests exactly these."""

    @property
    def failure_line(self) -> str:
        """One line for the end of the run ('' when nothing failed)."""
        if not self.failed:
            return ""
        kinds = sorted({str(f["kind"]) for f in self.failed})
        what = ", ".join(_KIND_WORDS.get(k, k) for k in kinds)
        attempts = max(int(str(f["attempts"])) for f in self.failed)
        n = len(self.failed)
        return (
            f"run {self.run_id}: {n} item{'s' if n != 1 else ''} failed after {attempts - 1} "
            f"retries ({what}), recorded as failed, not graded; finished samples are saved, "
            "re-run the same command to resume"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "status": self.status,
            "failed": list(self.failed),
            "tasks": {k: v.as_json() for k, v in self.summaries.items()},
            "formats": self.formats,
            "strategy": self.strategy,
            "usage": self.usage.as_json(),
            "wall_s": round(self.wall_s, 3),
        }


def _warn(line: str) -> None:
    print(f"cothub: warning: {line}", file=sys.stderr, flush=True)


class Progress(Protocol):
    """Live feedback; the CLI shows a bar on a terminal and nothing otherwise."""

    def start(self, total: int, done: int, correct: int) -> None: ...

    def advance(self, n: int, correct: int) -> None: ...

    def stop(self) -> None: ...


class NoProgress:
    def start(self, total: int, done: int, correct: int) -> None:
        pass

    def advance(self, n: int, correct: int) -> None:
        pass

    def stop(self) -> None:
        pass


def plan(config: RunConfig, data: DataSource, style: ApiStyle) -> list[TaskPlan]:
    """Resolve task names, load and select samples, and build prompt renderers."""
    chosen: dict[str, tuple[Task, list[str]]] = {}
    names = [n for name in config.tasks for n in (HUB if name.lower() == "hub" else [name])]
    for name in names:
        task, subset = resolve_task(name)
        if task.name in chosen and task_params(chosen[task.name][0]) != task_params(task):
            raise CothubError(
                f"{task.name} is given twice with different parameters; run one at a time"
            )
        entry = chosen.setdefault(task.name, (task, []))
        if subset and subset not in entry[1]:
            entry[1].append(subset)
        elif not subset:
            entry[1].clear()
            chosen[task.name] = (task, [])
    plans = []
    for task, subsets in chosen.values():
        fmt = task.prompt_format(config.format or "")  # a format of this task, or an error
        loaded = task.load(data, subsets)
        samples = _select(_where(task, loaded.samples, config.where), config.limit, config.seed)
        if config.scoring == "loglikelihood":
            _check_scorable(config, task, fmt.name, samples, style)
        gen = GenerateConfig(
            max_tokens=config.max_tokens or task.max_tokens(fmt),
            temperature=config.temperature,
            top_p=config.top_p,
            seed=config.seed if config.temperature > 0 else None,
            timeout_s=config.timeout_s,
            reasoning_effort=config.reasoning_effort,
            thinking_budget=config.thinking_budget,
        )
        options = config.options
        if isinstance(config.strategy, ShapesPrompts):  # e.g. complexity-based exemplars
            options = config.strategy.prompt_options(options)
        if config.max_context is not None:
            budget = config.max_context - gen.max_tokens
            if budget <= 0:
                raise CothubError(
                    f"--max-context {config.max_context} leaves no room for a prompt beside "
                    f"{gen.max_tokens} generated tokens; raise it or lower --max-tokens"
                )
            options = replace(options, max_prompt_tokens=budget)
        prompter = task.prompter(data, fmt, options)
        if options.max_prompt_tokens is not None:
            for s in samples:  # an item that cannot fit is refused before anything is recorded
                prompter.render(s)
        plans.append(
            TaskPlan(task, fmt.name, samples, prompter, gen, loaded.provenance, tuple(subsets))
        )
    return plans


def _check_scorable(
    config: RunConfig, task: Task, fmt: str, samples: list[Sample], style: ApiStyle
) -> None:
    """``--scoring loglikelihood`` scores options after a text prompt, one per item."""
    if not isinstance(config.strategy, Single):
        raise CothubError("--strategy does not combine with --scoring loglikelihood; drop one")
    if style != "completions":
        raise CothubError("--scoring loglikelihood scores a text prompt; use --api completions")
    for s in samples:
        if task.choices(s, fmt) is None:
            name = f"{task.name}/{s.subset}" if s.subset else task.name
            raise CothubError(
                f"{name} ({fmt}) has no options to score: --scoring loglikelihood needs "
                "multiple-choice items in an answer-only format (e.g. mmlu, or bbh/date_"
                "understanding --format fewshot-direct)"
            )


def _where(
    task: Task, samples: list[Sample], where: tuple[tuple[str, tuple[str, ...]], ...]
) -> list[Sample]:
    for tag, values in where:
        if tag not in task.breakdowns:
            raise CothubError(f"--{tag} does not apply to {task.name}; drop it for this task")
        samples = [s for s in samples if dict(s.tags).get(tag) in values]
    return samples


def _select(samples: list[Sample], limit: int | None, seed: int) -> list[Sample]:
    """``--limit`` per subset, so a limited BBH run still covers every sub-task."""
    if limit is None:
        return samples
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        groups.setdefault(s.subset, []).append(s)
    keep = {
        s.id
        for group in groups.values()
        for s in seeded_subset(group, [g.id for g in group], limit, seed)
    }
    return [s for s in samples if s.id in keep]


def task_entry(p: TaskPlan) -> dict[str, object]:
    """What a run's manifest records of one task: version, format, exemplars, data hashes."""
    entry: dict[str, object] = {
        "version": p.task.version,
        "citation": p.task.citation,
        "format": p.fmt,
        "subsets": list(p.subsets),
        "items": len(p.samples),
        "exemplars": {"source": p.prompter.exemplar_source, "sha256": p.prompter.exemplar_hash},
        "data": p.provenance,
    }
    params = task_params(p.task)
    if params:  # only then (``math:levels=5``): runs without any keep the ids they always had
        entry["params"] = params
    return entry


def manifest(plans: Sequence[TaskPlan], backend: Backend, config: RunConfig) -> dict[str, object]:
    """Everything that can move the numbers. Its hash (minus timestamps) is the run id."""
    where = {k: list(v) for k, v in config.where}
    man: dict[str, object] = {
        "model": backend.identity,
        "tasks": {
            p.task.name: {**task_entry(p), "where": where, "generation": p.config.as_json()}
            for p in plans
        },
        "selection": {"limit": config.limit, "seed": config.seed},
        "prompt_style": config.options.style,
        "strategy": config.strategy.describe(),
        "grader": "cothub/" + __version__,
    }
    if config.scoring != "generate":  # only then: other runs keep the ids they always had
        man["scoring"] = config.scoring
    return man


def run_id_of(man: dict[str, object]) -> str:
    core = {k: v for k, v in man.items() if k != "grader"}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:12]


def cache_key(backend: Backend, prompt: Prompt, config: GenerateConfig) -> str:
    """Everything that determines a response: model and endpoint, prompt, generation settings."""
    return cache_key_of(backend.identity, prompt, config)


def cache_key_of(identity: dict[str, object], prompt: Prompt, config: GenerateConfig) -> str:
    """:func:`cache_key` from a backend's identity as a manifest records it (rescoring)."""
    body = {"model": identity, "prompt": prompt.as_json(), "gen": config.as_json()}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def score_key(backend: Backend, prompt: Prompt, options: Sequence[str]) -> str:
    """What determines option log-likelihoods: model, prompt and the options scored."""
    body = {
        "model": backend.identity,
        "prompt": prompt.as_json(),
        "options": list(options),
        "scoring": "loglikelihood",
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(slots=True)
class _Item:
    plan: TaskPlan
    sample: Sample
    prompt: Prompt
    key: str
    options: tuple[str, ...] = ()
    """``--scoring loglikelihood``: the continuations scored."""


def _estimate_tokens(prompt: Prompt, config: GenerateConfig) -> int:
    """What a request may count against a tokens-per-minute quota: providers count the prompt
    (the one estimate :func:`cothub.prompts.estimate_tokens`) and the completion budget."""
    return estimate_tokens(prompt) + config.max_tokens * config.n


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
        self._any_success = False
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
        self._warned_retry_after = False
        self.warn: Callable[[str], None] = _warn
        """Says one line to the user (stderr by default)."""
        self._poll_lock = asyncio.Lock()  # one worker at a time polls for others' requests
        self._claims: dict[str, asyncio.Future[Claim]] = {}  # key -> the claim that covers it

    async def run(self, plans: Sequence[TaskPlan]) -> RunResult:
        started = time.perf_counter()
        if self.config.scoring == "loglikelihood" and not isinstance(self.backend, Scorer):
            raise CothubError(
                f"--scoring loglikelihood needs a model that scores text, such as hf/MODEL; "
                f"{self.backend.identity.get('provider')}/ models only generate"
            )
        for p in plans:  # refused before the run is recorded or anything is sent
            check_settings(str(self.backend.identity.get("provider")), p.config)
        # Cache entries older releases made of malformed replies are dropped, once per store.
        self.store.repair_poisoned()
        man = manifest(plans, self.backend, self.config)
        run_id = run_id_of(man)
        model = (
            str(self.backend.identity.get("provider")) + "/" + str(self.backend.identity["model"])
        )
        # Timed: this invocation's wall time is saved as it goes, so a killed one keeps it.
        self.store.begin_run(
            run_id,
            model,
            [p.task.name for p in plans],
            {**man, "started_at": time.time()},
            timed=True,
        )
        if self.config.max_cost is not None and self._price is not None:
            # What earlier invocations of this run already spent counts against the same budget.
            stored = [r.usage for r in self.store.sample_usage(run_id)]
            spent = total_cost(stored, self._price) or 0.0
            self._budget = Budget(self.config.max_cost, self._price, spent)
        items = [self._item(p, s, p.prompter.render(s)) for p in plans for s in p.samples]
        status = "failed"
        self.store.clear_failures(run_id)  # this invocation tries them again
        try:
            await self._execute(run_id, items)
            await self._flushed()
            status = "stopped" if self._stopped else "incomplete" if self._failed else "complete"
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        finally:
            summaries = self._summaries(plans)
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
        for r in self._records:
            self.usage.prompt_tokens += r.completion.prompt_tokens
            self.usage.completion_tokens += r.completion.completion_tokens
            self.usage.reasoning_tokens += r.completion.reasoning_tokens
        self.usage.cost_usd = total_cost(map(ItemUsage.of, self._records), self._price)
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

    def _summaries(self, plans: Sequence[TaskPlan]) -> dict[str, TaskSummary]:
        out: dict[str, TaskSummary] = {}
        for p in plans:
            # Dataset order, not arrival order: float sums must not depend on timing.
            order = {s.id: i for i, s in enumerate(p.samples)}
            recs = sorted(
                (r for r in self._records if r.task == p.task.name),
                key=lambda r: order[r.sample.id],
            )
            if recs:
                part = summarize(p.task.name, recs, p.task.aggregate, p.task.breakdowns)
                stats = [r.stats for r in recs if r.stats is not None]
                sections = self.config.strategy.summary(stats)
                part[p.task.name].extra.update({k: v.as_json() for k, v in sections.items()})
                usage = [ItemUsage.of(r) for r in recs]
                part[p.task.name].extra.update(accounting(usage, self._price))
                out.update(part)
        return out

    def _item(self, p: TaskPlan, s: Sample, prompt: Prompt) -> _Item:
        if self.config.scoring == "generate":
            return _Item(p, s, prompt, cache_key(self.backend, prompt, p.config))
        options = tuple(p.task.choices(s, p.fmt) or ())
        return _Item(p, s, prompt, score_key(self.backend, prompt, options), options)

    async def _execute(self, run_id: str, items: list[_Item]) -> None:
        if self.config.scoring == "loglikelihood":
            await self._execute_loglikelihood(run_id, items)
        elif isinstance(self.config.strategy, Single):
            await self._execute_single(run_id, items)
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
            sent = 0
            # Distinct requests the item needs, sent now or cached: a key -> the HTTP requests it
            # takes (n for an API without ``n``).
            asked: dict[str, int] = {}

            async def generate(
                prompt: Prompt, config: GenerateConfig, asked: dict[str, int] = asked
            ) -> list[Completion]:
                nonlocal sent
                k = cache_key(self.backend, prompt, config)
                asked[k] = 1 if getattr(self.backend, "native_n", True) else config.n
                hit = self._hits.get(k) or self.store.cached([k]).get(k)
                if hit is None:  # in flight in another process: wait for its answer
                    hit = await self._lease(k)
                if hit is not None:
                    self._hits[k] = hit
                    return hit
                out = [clean_completion(c) for c in await self._call(prompt, config)]
                sent += 1
                self._hits[k] = out
                self._write(self.store.record_nowait(run_id, [], {k: out}, model=self._model))
                return out

            async def grade(text: str, it: _Item = it) -> Grade:
                task = it.plan.task
                if task.slow_grader:
                    return await asyncio.to_thread(task.grade, it.sample, text, it.plan.fmt)
                return task.grade(it.sample, text, it.plan.fmt)

            try:
                ctx = SolveContext(
                    it.sample, it.prompt, it.plan.config, generate, grade, it.plan.task.equivalent
                )
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
                cached=sent == 0,
                steps=outcome.steps,
                stats=outcome.stats,
                requests=sum(asked.values()),
            )
            self.usage.cached += sent == 0
            self._write(self.store.record_nowait(run_id, [rec]))
            self._records.append(rec)
            self.progress.advance(1, int(rec.grade.correct))

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

    async def _execute_single(self, run_id: str, items: list[_Item]) -> None:
        """The common case, kept lean: cache hits served in one batch, identical prompts sent
        once, and each completion committed together with its samples in one transaction."""
        hits = self.store.cached(list({it.key for it in items}))
        pending: dict[str, list[_Item]] = {}
        fast: list[tuple[_Item, int]] = []
        slow: list[tuple[_Item, int]] = []
        carried: set[str] = set()  # one request served all items with this prompt: the first
        for it in items:
            if it.key in hits:
                first = it.key not in carried
                carried.add(it.key)
                (slow if it.plan.task.slow_grader else fast).append((it, int(first)))
            else:
                pending.setdefault(it.key, []).append(it)

        def grade(part: list[tuple[_Item, int]]) -> list[SampleRecord]:
            return [self._grade(it, hits[it.key][0], cached=True, requests=n) for it, n in part]

        served = grade(fast)
        # Symbolic graders (MATH) run in worker processes: grade cached answers in parallel
        # threads instead of one by one on the event loop.
        chunks = [slow[i::4] for i in range(4) if slow[i::4]]
        for part in await asyncio.gather(*(asyncio.to_thread(grade, c) for c in chunks)):
            served.extend(part)
        self.usage.cached = len(served)
        self._write(self.store.record_nowait(run_id, served))
        self._records.extend(served)
        self.progress.start(len(items), len(served), sum(r.grade.correct for r in served))
        queue = deque(pending.values())
        waiting: list[list[_Item]] = []  # in flight in another process
        await self._pool(lambda: self._worker(run_id, queue, waiting), len(queue))

    async def _worker(
        self, run_id: str, queue: deque[list[_Item]], waiting: list[list[_Item]]
    ) -> None:
        # A worker takes the next request the moment its last one finished: N stay in flight.
        while self._failure is None:
            if not queue:
                if not waiting:
                    return
                await self._await_others(run_id, queue, waiting)
                continue
            group = queue.popleft()
            first = group[0]
            # Leased before it is sent: a request in flight in another process is not sent again.
            claim = await self._claim_ahead(first.key, queue)
            if first.key in claim.theirs:
                waiting.append(group)
                continue
            if first.key in claim.done:
                await self._serve(run_id, group, claim.done[first.key])
                continue
            try:
                completions = await self._call(first.prompt, first.plan.config)
            except ItemFailed as e:
                self._item_failed(group, e, run_id, first.key)
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
        self, run_id: str, queue: deque[list[_Item]], waiting: list[list[_Item]]
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
                        await self._serve(run_id, group, claim.done[key])
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

    async def _call(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        if config.n > 1 and not getattr(self.backend, "native_n", True):
            # An API without ``n`` (Anthropic's): n requests, each counted and paced as sent.
            return await self._fan_out(prompt, config)
        policy = self.config.retry
        attempt = 0
        if self._budget is not None:
            self._budget.check()  # before each new request; its retries are not new requests
        while True:
            try:
                async with self._limiter.request(_estimate_tokens(prompt, config)):
                    out = await self.backend.generate(prompt, config)
                self._limiter.succeeded()
                self.usage.requests += 1
                if self._budget is not None:
                    self._budget.spend(out)
                self._any_success = True
                return out
            except Retryable as e:
                attempt += 1
                # A server that never answered at all is down, not flaky: say so quickly.
                unreachable = not self._any_success and e.kind == "connection"
                if unreachable and (attempt >= 2 or attempt > policy.max_retries):
                    where = self.backend.identity.get("base_url", "")
                    raise BackendError(
                        f"cannot reach the model server {where} after {attempt} attempts "
                        f"({e.reason}); finished samples are saved, re-run the same command to "
                        "resume; check that the server is running and --base-url"
                    ) from e
                if attempt > policy.max_retries:
                    raise ItemFailed(e, attempt) from e
                if e.kind == "rate_limited":
                    self._limiter.rate_limited()
                    self.usage.rate_limited += 1
                    low = min(self.usage.min_concurrency, self._limiter.allowed)
                    self.usage.min_concurrency = low
                self.usage.retries += 1
                if (
                    e.retry_after is not None
                    and e.retry_after > policy.retry_after_cap_s
                    and not self._warned_retry_after
                ):
                    self._warned_retry_after = True
                    self.warn(
                        f"the server asked to wait {e.retry_after:g} s before retrying "
                        f"(Retry-After); cothub waits at most {policy.retry_after_cap_s:g} s"
                    )
                await asyncio.sleep(policy.delay(attempt - 1, e.retry_after))

    async def _fan_out(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        one = replace(config, n=1)
        calls = [asyncio.ensure_future(self._call(prompt, one)) for _ in range(config.n)]
        try:
            parts = await asyncio.gather(*calls)
        except BaseException:
            for call in calls:  # one failed: the item fails (or stops) as a whole
                call.cancel()
            raise
        return [c for part in parts for c in part]

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
