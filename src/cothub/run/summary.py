"""A run's per-task summaries: metrics, the strategy's sections and cost accounting, joined once.

Each producer returns its own part (``summarize`` the accuracy record, the strategy its typed
sections, ``accounting`` the usage means); the headline is built from them with ``replace``,
never by mutating a summary another stage handed over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cothub.cost import ItemUsage, Price, accounting
from cothub.run.plan import TaskPlan
from cothub.scoring.metrics import summarize
from cothub.strategies import Strategy
from cothub.types import SampleRecord, TaskSummary


def summaries(
    plans: Sequence[TaskPlan], records: Sequence[SampleRecord], strategy: Strategy,
    price: Price | None, accounted: bool = True,
) -> dict[str, TaskSummary]:  # fmt: skip
    """``{task: headline, "task/subset": ..., ...}`` for every task with records; ``accounted``:
    with token and cost accounting (not for imports, whose records carry no usage)."""
    by_task: dict[str, list[SampleRecord]] = {}
    for r in records:
        by_task.setdefault(r.task, []).append(r)
    out: dict[str, TaskSummary] = {}
    for p in plans:
        if p.task.name in by_task:
            out.update(_task_summaries(p, by_task[p.task.name], strategy, price, accounted))
    return out


def _task_summaries(
    p: TaskPlan, records: list[SampleRecord], strategy: Strategy, price: Price | None,
    accounted: bool,
) -> dict[str, TaskSummary]:  # fmt: skip
    # Dataset order, not arrival order: float sums must not depend on timing.
    order = {s.id: i for i, s in enumerate(p.samples)}
    recs = sorted(records, key=lambda r: order[r.sample.id])
    part = summarize(p.task.name, recs, p.task.aggregate, p.task.breakdowns)
    sections = strategy.summary([r.stats for r in recs if r.stats is not None])
    part[p.task.name] = replace(
        part[p.task.name],
        sections=tuple(sections.items()),
        accounting=accounting([ItemUsage.of(r) for r in recs], price) if accounted else None,
    )
    return part
