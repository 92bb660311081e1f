"""How completions are produced for one sample: the strategy interface.

A strategy gets the rendered prompt and three capabilities from the runner: ``generate`` (cached,
retried, counted), ``grade`` (the task's grader) and ``equal`` (the task's answer equivalence).
It returns the final completion and grade plus every intermediate step, which the store keeps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cothub.types import Completion, GenerateConfig, Grade, Prompt

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
        prompt: Prompt,
        base: GenerateConfig,
        generate: Generate,
        grade: GradeFn,
        equal: EqualFn,
    ) -> Outcome:
        """Run the strategy for one sample."""
        ...
