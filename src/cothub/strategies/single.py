"""``single``: one completion per item, graded as it is. The default, and the baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cothub.strategies.base import EqualFn, Generate, GradeFn, Outcome
from cothub.types import GenerateConfig, Prompt, Sample


class Single:
    name = "single"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def summary(self, stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {}

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        return base

    async def solve(
        self,
        sample: Sample,
        prompt: Prompt,
        base: GenerateConfig,
        generate: Generate,
        grade: GradeFn,
        equal: EqualFn,
    ) -> Outcome:
        completion = (await generate(prompt, base))[0]
        return Outcome(completion, await grade(completion.text))
