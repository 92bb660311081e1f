"""How completions are produced for one sample: the strategy interface and its shared helpers.

A strategy's ``solve`` gets one :class:`SolveContext` from the runner (the sample, its rendered
prompt, the run's generation settings and the capabilities ``generate``, cached, retried and
counted; ``grade``, the task's grader; ``equal``, the task's answer equivalence; ``score``, the
log-likelihoods of the task's ``options`` where the run scores them) and returns an
:class:`Outcome`: the final completion and grade, every intermediate request as a typed step of
:mod:`cothub.types` (which the store keeps), and the strategy's own per-sample stats record,
which its ``summary`` aggregates over the run. A strategy that also changes how prompts are
built implements :class:`ShapesPrompts` as well.

The helpers strategies share live here, once: :func:`vote` (majority over extracted answers),
:func:`no_answer` (the verdict when there is nothing to grade), :func:`same_answer` and
:func:`total_usage` (one sample's tokens over all its requests).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from cothub.scoring.stats import mean_ci, wilson
from cothub.types import (
    Completion,
    GenerateConfig,
    Grade,
    Prompt,
    Sample,
    Step,
    StrategyStats,
)

if TYPE_CHECKING:
    from cothub.tasks.base import PromptOptions

Generate = Callable[[Prompt, GenerateConfig], Awaitable[list[Completion]]]
"""One request: every completion it returned (``config.n`` of them)."""
GradeFn = Callable[[str], Awaitable[Grade]]
"""The task's grader on a completion text."""
EqualFn = Callable[[str, str], bool]
"""The task's equivalence of two extracted answers."""
ScoreFn = Callable[[Sequence[str]], Awaitable[list[float]]]
"""One scoring call: each option's log-likelihood as the continuation of the task's prompt."""

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class SolveContext:
    """Everything a strategy may use for one sample, built by the runner per sample."""

    sample: Sample
    """The item; a strategy that writes its own requests reads its question."""
    prompt: Prompt
    """The task's rendered prompt for the item."""
    config: GenerateConfig
    """The run's resolved generation settings (a strategy derives its own from them)."""
    generate: Generate
    """Sends one request (cached, retried, counted by the runner)."""
    grade: GradeFn
    """The task's grader."""
    equal: EqualFn
    """The task's answer equivalence."""
    options: tuple[str, ...] = ()
    """``--scoring loglikelihood``: the item's options as continuations of the prompt (see
    ``Task.choices``); empty when the run generates."""
    score: ScoreFn | None = None
    """``--scoring loglikelihood``: scores options (cached and counted by the runner); None
    when the run generates."""

    async def complete(
        self, prompt: Prompt | None = None, config: GenerateConfig | None = None
    ) -> Completion:
        """The first completion of one request: ``prompt`` (default: the task's) with ``config``
        (default: the run's settings)."""
        chosen = self.prompt if prompt is None else prompt
        return (await self.generate(chosen, self.config if config is None else config))[0]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a strategy concluded for one sample."""

    completion: Completion
    """The completion whose answer is final (for a vote: the first of the winning group), with
    the usage of every request the sample took."""
    grade: Grade
    steps: tuple[Step, ...] = ()
    """Every intermediate completion with its extracted answer and verdict, for the store."""
    stats: StrategyStats | None = None
    """Strategy-specific per-sample numbers its summary aggregates (e.g. per-chain verdicts)."""


class StrategySummary(Protocol):
    """A strategy's run-level numbers, one section of a task's summary JSON."""

    def as_json(self) -> dict[str, object]: ...


class Strategy(Protocol):
    """Produces an :class:`Outcome` for one sample."""

    name: str

    def describe(self) -> dict[str, object]:
        """Its settings, recorded in the run manifest (they move the numbers)."""
        ...

    def summary(self, stats: Sequence[StrategyStats]) -> dict[str, StrategySummary]:
        """Run-level sections (by summary key) from the samples' ``Outcome.stats``; empty when
        there are none. :func:`own_stats` narrows ``stats`` to the strategy's own record."""
        ...

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        """Generation settings of its first request (the runner prefetches those from the cache)."""
        ...

    async def solve(self, ctx: SolveContext) -> Outcome:
        """Run the strategy for one sample."""
        ...


@runtime_checkable
class ShapesPrompts(Protocol):
    """Optional: a strategy that also changes how the task builds prompts (e.g. which exemplars
    complexity-based prompting shows). ``runner.plan`` applies it before any prompt is rendered.

    A separate protocol rather than a method every strategy must carry: most strategies only
    consume the prompt, and an ``isinstance`` check keeps the hook typed, unlike ``getattr``.
    """

    def prompt_options(self, options: PromptOptions) -> PromptOptions:
        """The prompt options this strategy's runs use, given the user's."""
        ...


@runtime_checkable
class Replays(Protocol):
    """Optional: a strategy whose completions exist already (``cothub import``). It sends no
    request, so the runner looks nothing up, leases nothing and caches nothing for its items,
    and stores each sample under the key the strategy names (its source record)."""

    def source_key(self, sample: Sample) -> str:
        """The key ``sample``'s stored row names."""
        ...


# ---- shared helpers ------------------------------------------------------------------------------


def own_stats(stats: Sequence[StrategyStats], kind: type[S]) -> list[S]:
    """``stats`` as the strategy's own record type: a summary gets back what its solve made."""
    out: list[S] = [s for s in stats if isinstance(s, kind)]
    if len(out) != len(stats):
        raise TypeError(f"expected {kind.__name__} stats only")
    return out


@dataclass(frozen=True, slots=True)
class Estimate:
    """An accuracy with its 95% interval, as summaries report it."""

    accuracy: float
    ci95: tuple[float, float]

    @classmethod
    def of_counts(cls, correct: int, n: int) -> Estimate:
        """A proportion with its Wilson interval."""
        return cls(correct / n, wilson(correct, n))

    @classmethod
    def of_mean(cls, values: Sequence[float]) -> Estimate:
        """A mean of per-item scores with its normal interval."""
        return cls(*mean_ci(values))

    def as_json(self) -> dict[str, object]:
        return {"accuracy": self.accuracy, "ci95": list(self.ci95)}


def vote(answers: Sequence[str | None], equal: EqualFn) -> tuple[int | None, list[int]]:
    """(index of the first chain of the winning answer, group id per chain; -1 = no answer).

    Groups are formed in order of first appearance; the largest wins and a tie goes to the group
    that appeared first.
    """
    reps: list[int] = []
    sizes: list[int] = []
    group_of: list[int] = []
    for i, a in enumerate(answers):
        if a is None:
            group_of.append(-1)
            continue
        found = next((g for g, r in enumerate(reps) if equal(answers[r] or "", a)), None)
        if found is None:
            reps.append(i)
            sizes.append(0)
            found = len(reps) - 1
        sizes[found] += 1
        group_of.append(found)
    if not reps:
        return None, group_of
    best = max(range(len(reps)), key=lambda g: (sizes[g], -g))
    return reps[best], group_of


def no_answer(method: str, check: str = "") -> Grade:
    """The verdict when there is no answer to grade (no chain voted, no program ran): wrong."""
    return Grade(correct=False, answer=None, method=method, check=check)


def same_answer(a: str | None, b: str | None, equal: EqualFn) -> bool:
    """Answer identity by the task's equivalence; "no answer" equals only "no answer"."""
    if a is None or b is None:
        return a is b
    return equal(a, b)


def total_usage(final: Completion, used: Sequence[Completion], *, parallel: bool) -> Completion:
    """``final``'s text with the tokens of every request in ``used``, so a sample's cost stays
    exact; latency is the longest request's when they ran at once (``parallel``), else the sum."""
    latency = max(c.latency_s for c in used) if parallel else sum(c.latency_s for c in used)
    return replace(
        final,
        prompt_tokens=sum(c.prompt_tokens for c in used),
        completion_tokens=sum(c.completion_tokens for c in used),
        reasoning_tokens=sum(c.reasoning_tokens for c in used),
        latency_s=latency,
    )
