"""Accuracy with confidence intervals, per subset and per benchmark headline."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cothub.extract.reasoning import unclosed_thinking
from cothub.scoring.stats import Z95 as _Z95
from cothub.scoring.stats import wilson
from cothub.types import Breakdown, Extraction, SampleRecord, TaskSummary

WEAKEST_METHODS = frozenset({"last-number"})
"""Extraction rules that only guess (the last number of the text): their share is warned about."""
WARN_RATE = 0.05
"""A task whose unparsed or weakest-fallback share exceeds this gets a warning line."""


def method_counts(records: Sequence[SampleRecord]) -> dict[str, int]:
    """How many grades each extraction rule decided (``final-phrase``, ``json``, ``refusal``...),
    most frequent first."""
    counts = Counter(r.grade.method for r in records)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def extraction_warnings(
    summaries: Mapping[str, Mapping[str, Any]],
    advice: str = "check how the replies state their answer",
) -> list[str]:
    """Warning lines for a run's task summaries (``TaskSummary.as_json()`` by name): one for
    each benchmark headline with more than 5 % of its items unparsed, and one for more than 5 %
    decided by the weakest fallback (the last number in the text). Empty when all is well.
    ``advice`` ends the unparsed line: what to do next, for a run or for an import."""
    out = []
    for name, summary in summaries.items():
        if "/" in name and name.split("/", 1)[0] in summaries:
            continue  # a subset: its benchmark's headline speaks for it
        n = int(summary.get("n", 0) or 0)
        if not n:
            continue
        unparsed = int(summary.get("unparsed", 0) or 0) / n
        if unparsed > WARN_RATE:
            methods = summary.get("methods") or {}
            why = ", ".join(f"{m} {c:,}" for m, c in methods.items() if m in _NO_ANSWER_METHODS)
            out.append(
                f"warning: {name}: {100 * unparsed:.1f}% of {n:,} items have no committed answer"
                + (f" ({why})" if why else "")
                + f"; {advice}"
            )
        weak = float(summary.get("weakest_fallback_rate", 0.0) or 0.0)
        if weak > WARN_RATE:
            out.append(
                f"warning: {name}: {100 * weak:.1f}% of {n:,} items were decided by the weakest "
                "fallback (the last number in the text), not by a committed final answer"
            )
    return out


_NO_ANSWER_METHODS = frozenset(
    {
        "none",
        "unparsed",
        "refusal",
        "hedge",
        "several",
        "ambiguous",
        "repetition",
        "cut-unanswered",
        "json-null",
        "json-unparsed",
        "empty-boxed",
        "unclosed-boxed",
        "unclosed-think",
        "no-code",
    }
)
"""Methods of a grade with no answer: each says why (see :mod:`cothub.extract.numeric`)."""


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
    methods = method_counts(records)
    weakest = sum(c for m, c in methods.items() if m in WEAKEST_METHODS)
    return TaskSummary(
        accuracy=correct / n if n else 0.0,
        n=n,
        correct=correct,
        ci95=wilson(correct, n),
        unparsed=unparsed,
        truncated=truncated,
        extraction=Extraction(
            disagreements=disagreements,
            unparsed_rate=unparsed / n if n else 0.0,
            truncated_rate=truncated / n if n else 0.0,
            disagreement_rate=disagreements / n if n else 0.0,
            unclosed_thinking=sum(unclosed),
            reasoning_tokens_per_item=reasoning_tokens / n if n else 0.0,
            # Which rule decided each grade, and the rates: a shift from committed answers to
            # fallbacks is how a grader fails silently.
            methods=tuple(methods.items()),
            method_rates=tuple((m, c / n) for m, c in methods.items()),
            weakest_fallback_rate=weakest / n if n else 0.0,
        ),
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
        extraction=whole.extraction,
        micro_accuracy=whole.accuracy,
        subsets=k,
    )


def harmonic(parts: Sequence[TaskSummary], whole: TaskSummary) -> TaskSummary:
    """BIG-Bench Extra Hard's headline (Kazemi et al. 2025): the harmonic mean of the subsets'
    accuracies in percent, each raised by one point first so that a 0 % task does not force the
    mean to 0 (their "adjusted" harmonic mean); the plain mean and the item-weighted mean beside
    it. The CI is the plain mean's (no closed form is published for the adjusted mean)."""
    k = len(parts)
    mean = sum(p.accuracy for p in parts) / k
    adjusted = k / sum(1 / (100 * p.accuracy + 1) for p in parts) / 100
    plain = macro(parts, whole)
    return TaskSummary(
        accuracy=adjusted,
        n=whole.n,
        correct=whole.correct,
        ci95=plain.ci95,
        unparsed=whole.unparsed,
        truncated=whole.truncated,
        aggregate="harmonic",
        extraction=whole.extraction,
        macro_accuracy=mean,
        micro_accuracy=whole.accuracy,
        subsets=k,
    )


def summarize(
    task: str, records: Sequence[SampleRecord], aggregate: str, breakdowns: Sequence[str] = ()
) -> dict[str, TaskSummary]:
    """``{task: headline, "task/subset": ..., ...}`` for one benchmark's records.

    Tag breakdowns (MATH level, MMLU category) go into the headline's ``breakdowns``
    (``by_<tag>`` in its JSON).
    """
    by_subset: dict[str, list[SampleRecord]] = defaultdict(list)
    for r in records:
        if r.sample.subset:
            by_subset[r.sample.subset].append(r)
    out: dict[str, TaskSummary] = {}
    whole = summarize_items(records)
    parts = {f"{task}/{s}": summarize_items(rs) for s, rs in sorted(by_subset.items())}
    head = macro(list(parts.values()), whole) if aggregate == "macro" and parts else whole
    if aggregate == "harmonic" and parts:
        head = harmonic(list(parts.values()), whole)
    if aggregate == "micro" and parts:  # the subset mean beside an item-weighted headline
        head = replace(head, macro_accuracy=sum(p.accuracy for p in parts.values()) / len(parts))
    head = replace(head, breakdowns=tuple(breakdown(tag, records) for tag in breakdowns))
    out[task] = head
    out.update(parts)
    return out


def breakdown(tag: str, records: Sequence[SampleRecord]) -> Breakdown:
    """The records that carry ``tag``, summarized per value (sorted)."""
    groups: dict[str, list[SampleRecord]] = defaultdict(list)
    for r in records:
        value = dict(r.sample.tags).get(tag)
        if value is not None:
            groups[value].append(r)
    return Breakdown(tag, tuple((v, summarize_items(rs)) for v, rs in sorted(groups.items())))
