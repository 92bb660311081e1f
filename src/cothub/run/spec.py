"""What a run was asked for and what it gives back: the records at both ends of a run."""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cothub.cost import PriceTable
from cothub.models import Retryable
from cothub.models.base import RetryKind
from cothub.ratelimit import RateLimits
from cothub.scale.shard import Shard
from cothub.strategies import Strategy
from cothub.strategies.single import Single
from cothub.tasks import PromptOptions
from cothub.types import SampleRecord, TaskSummary

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
    shard: Shard | None = None
    """``--shard I/N``: only this deterministic slice of the items (not part of the manifest: the
    shards of a run share its run id, and ``cothub merge`` unions their stores)."""


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


def warn(line: str) -> None:
    print(f"cothub: warning: {line}", file=sys.stderr, flush=True)


class Progress(Protocol):
    """Live feedback; the CLI shows a bar on a terminal and plain lines otherwise."""

    def begun(self, run_id: str, tasks: Sequence[str], records: Sequence[SampleRecord]) -> None:
        """The run is recorded and nothing is sent yet. ``tasks``: each item's task, in this
        invocation; ``records``: the samples graded so far, a list the runner extends before
        each ``start`` and ``advance``."""

    def start(self, total: int, done: int, correct: int) -> None: ...

    def advance(self, n: int, correct: int) -> None: ...

    def stop(self) -> None: ...


class NoProgress:
    def begun(self, run_id: str, tasks: Sequence[str], records: Sequence[SampleRecord]) -> None:
        pass

    def start(self, total: int, done: int, correct: int) -> None:
        pass

    def advance(self, n: int, correct: int) -> None:
        pass

    def stop(self) -> None:
        pass
