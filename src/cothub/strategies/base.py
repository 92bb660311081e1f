"""How completions are produced for one sample: the strategy interface.

A strategy gets the item and its rendered prompt and three capabilities from the runner:
``generate`` (cached, retried, counted), ``grade`` (the task's grader) and ``equal`` (the task's
answer equivalence). It returns the final completion and grade plus every intermediate step,
which the store keeps. A strategy that also changes how prompts are built implements
:class:`ShapesPrompts` as well.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cothub.types import Completion, GenerateConfig, Grade, Prompt, Sample

if TYPE_CHECKING:
    from cothub.tasks.base import PromptOptions

Generate = Callable[[Prompt, GenerateConfig], Awaitable[list[Completion]]]
GradeFn = Callable[[str], Awaitable[Grade]]
EqualFn = Callable[[str, str], bool]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a strategy concluded for one sample."""

    completion: Completion
    """The completion whose answer is final (for a vote: the first of the winning group)."""
    grade: Grade
    steps: tuple[dict[str, Any], ...] = ()
    """Every intermediate completion with its extracted answer and verdict, for the store."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Strategy-specific per-sample numbers the metrics aggregate (e.g. per-chain correctness)."""


class Strategy(Protocol):
    """Produces an :class:`Outcome` for one sample."""

    name: str

    def describe(self) -> dict[str, Any]:
        """Its settings, recorded in the run manifest (they move the numbers)."""
        ...

    def summary(self, stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Run-level numbers from the samples' ``Outcome.stats`` (empty when none)."""
        ...

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        """Generation settings of its first request (the runner prefetches those from the cache)."""
        ...

    async def solve(
        self,
        sample: Sample,
        prompt: Prompt,
        base: GenerateConfig,
        generate: Generate,
        grade: GradeFn,
        equal: EqualFn,
    ) -> Outcome:
        """Run the strategy for one sample; ``prompt`` is the task's rendered prompt for it (a
        strategy that writes its own requests reads the question from ``sample``)."""
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
