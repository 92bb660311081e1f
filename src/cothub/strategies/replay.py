"""``cothub import``'s strategy: each item's completion is the record matched to it, replayed.

An import runs through the same plan, manifest and execute loop as any run; only how an item's
completion is produced differs. It is a strategy, not a backend, because a backend sees only a
prompt, and two items may share one prompt yet hold different recorded completions (BBH repeats
inputs; records matched by id); a strategy sees the sample. It sends no request, so the runner
looks nothing up, leases nothing and caches nothing for it (:class:`Replays`), and each sample
is stored under its source record's key (``import:<file sha256>#<index>``).

Not a ``--strategy`` choice: it exists only with the records an import matched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from cothub.strategies.base import Outcome, SolveContext, StrategySummary
from cothub.types import Completion, GenerateConfig, Grade, Sample, StrategyStats


@dataclass(frozen=True, slots=True)
class Recorded:
    """One item's completion as a file recorded it."""

    completion: Completion
    """Its text as graded (stop sequences cut, lone surrogates replaced)."""
    key: str
    """The key its stored sample names: the source file's hash and the record's position."""
    answer: str | None = None
    """The record's ``--answer-field`` value (None: none, or null/empty)."""
    has_answer: bool = False
    """Whether that answer is graded instead of the completion text."""


class Replay:
    """Replays recorded completions, graded by the task's grader (or from their answer field)."""

    name = "replay"

    def __init__(self, recorded: Mapping[str, Recorded]) -> None:
        self._recorded = recorded
        """Sample id -> its record."""

    def describe(self) -> dict[str, object]:
        # One completion per item, graded as it is: what ``single`` does (and what an import's
        # ``--json`` always said); the manifest records the files, not a strategy.
        return {"name": "single"}

    def summary(self, stats: Sequence[StrategyStats]) -> dict[str, StrategySummary]:
        return {}

    def first_config(self, base: GenerateConfig) -> GenerateConfig:
        return base

    def source_key(self, sample: Sample) -> str:
        return self._recorded[sample.id].key

    async def solve(self, ctx: SolveContext) -> Outcome:
        r = self._recorded[ctx.sample.id]
        return Outcome(r.completion, await _grade(ctx, r))


async def _grade(ctx: SolveContext, r: Recorded) -> Grade:
    """The task's grade of the completion, or of the record's ``--answer-field`` answer.

    An answer field is graded as a structured answer (``{"answer": ...}``, which every task's
    extractor reads first), so the task's own normalisation and equivalence apply; its method
    is ``answer-field`` and it has no span in the completion. A null/empty one is unparsed.
    """
    if not r.has_answer:
        return await ctx.grade(r.completion.text)
    if r.answer is None:
        return Grade(False, None, "answer-field-empty")
    return as_answer_field(await ctx.grade(answer_field_text(r.answer)))


def answer_field_text(answer: str) -> str:
    """An ``--answer-field`` answer as the structured reply every task's extractor reads first."""
    return json.dumps({"answer": answer})


def as_answer_field(graded: Grade) -> Grade:
    """The grade of :func:`answer_field_text` as an answer-field grade: no span in the
    completion, method ``answer-field`` (or ``answer-field-unparsed`` when no answer was read).
    Also how ``cothub rescore`` re-grades such an import."""
    method = "answer-field" if graded.answer is not None else "answer-field-unparsed"
    return replace(graded, method=method, span=None)
