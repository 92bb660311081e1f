"""``single``: one completion per item, graded as it is. The default, and the baseline."""

from __future__ import annotations

from collections.abc import Sequence

from cothub.strategies.base import Outcome, SolveContext, StrategySummary
from cothub.types import GenerateConfig, StrategyStats


class Single:
    name = "single"

    def describe(self) -> dict[str, object]:
        return {"name": self.name}

    def summary(self, stats: Sequence[StrategyStats]) -> dict[str, StrategySummary]:
        return {}

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        return base

    async def solve(self, ctx: SolveContext) -> Outcome:
        completion = await ctx.complete()
        return Outcome(completion, await ctx.grade(completion.text))
