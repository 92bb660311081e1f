"""Accuracy with confidence intervals, per subset and per benchmark headline."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from cothub.extract.reasoning import unclosed_thinking
from cothub.types import SampleRecord, TaskSummary

_Z95 = 1.959963984540054


def wilson(correct: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval: well-behaved at 0%, 100% and small n, unlike the normal one."""
    if n == 0:
        return (0.0, 0.0)
    p = correct / n
    denom = 1 + _Z95**2 / n
    centre = (p + _Z95**2 / (2 * n)) / denom
    half = _Z95 * math.sqrt(p * (1 - p) / n + _Z95**2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize_items(records: Sequence[SampleRecord]) -> TaskSummary:
    """Accuracy plus the extraction-failure accounting behind it.

    ``unparsed`` (no answer found), ``truncated`` (hit the token limit) and ``disagreements``
    (the strict published rule and the lenient extractor, or two equivalence checks, would give
    different verdicts) are what silently move published numbers; each is reported as a count
    and a rate, and ``cothub show --disagreements`` lists the samples.

    A reply whose ``<think>`` block never closed has no answer and counts as truncated even when
    the server said ``stop``; ``unclosed_thinking`` counts those replies under their own name.
    ``reasoning_tokens_per_item`` is the mean thinking length (0 where a server reports none).
    """
    n = len(records)
    correct = sum(r.grade.correct for r in records)
    unparsed = sum(r.grade.answer is None for r in records)
    unclosed = [unclosed_thinking(r.completion.text) for r in records]
    truncated = sum(
        r.completion.finish_reason == "length" or cut
        for r, cut in zip(records, unclosed, strict=True)
    )
    disagreements = sum(r.grade.disagreement for r in records)
    reasoning_tokens = sum(r.completion.reasoning_tokens for r in records)
    return TaskSummary(
        accuracy=correct / n if n else 0.0,
        n=n,
        correct=correct,
        ci95=wilson(correct, n),
        unparsed=unparsed,
        truncated=truncated,
        extra={
            "disagreements": disagreements,
            "unparsed_rate": unparsed / n if n else 0.0,
            "truncated_rate": truncated / n if n else 0.0,
            "disagreement_rate": disagreements / n if n else 0.0,
            "unclosed_thinking": sum(unclosed),
            "reasoning_tokens_per_item": reasoning_tokens / n if n else 0.0,
        },
    )


def macro(parts: Sequence[TaskSummary], whole: TaskSummary) -> TaskSummary:
    """Unweighted mean over subsets, CI from the subsets' binomial variances."""
    k = len(parts)
    mean = sum(p.accuracy for p in parts) / k
    var = sum(p.accuracy * (1 - p.accuracy) / p.n for p in parts if p.n) / (k * k)
    half = _Z95 * math.sqrt(var)
    return TaskSummary(
        accuracy=mean,
        n=whole.n,
        correct=whole.correct,
        ci95=(max(0.0, mean - half), min(1.0, mean + half)),
        unparsed=whole.unparsed,
        truncated=whole.truncated,
        aggregate="macro",
        extra={**whole.extra, "micro_accuracy": whole.accuracy, "subsets": k},
    )


def summarize(
    task: str, records: Sequence[SampleRecord], aggregate: str, breakdowns: Sequence[str] = ()
) -> dict[str, TaskSummary]:
    """``{task: headline, "task/subset": ..., ...}`` for one benchmark's records.

    Tag breakdowns (MATH level, MMLU category) go into the headline's ``by_<tag>`` field.
    """
    by_subset: dict[str, list[SampleRecord]] = defaultdict(list)
    for r in records:
        if r.sample.subset:
            by_subset[r.sample.subset].append(r)
    out: dict[str, TaskSummary] = {}
    whole = summarize_items(records)
    parts = {f"{task}/{s}": summarize_items(rs) for s, rs in sorted(by_subset.items())}
    head = macro(list(parts.values()), whole) if aggregate == "macro" and parts else whole
    if aggregate == "micro" and parts:  # the subset mean beside an item-weighted headline
        head.extra["macro_accuracy"] = sum(p.accuracy for p in parts.values()) / len(parts)
    for tag in breakdowns:
        groups: dict[str, list[SampleRecord]] = defaultdict(list)
        for r in records:
            value = dict(r.sample.tags).get(tag)
            if value is not None:
                groups[value].append(r)
        head.extra[f"by_{tag}"] = {
            v: summarize_items(rs).as_json() for v, rs in sorted(groups.items())
        }
    out[task] = head
    out.update(parts)
    return out
