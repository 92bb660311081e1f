"""``cothub compare``: stored runs of the same benchmark side by side, with what each gain cost.

One table per benchmark the runs share, one row per run: the headline accuracy with its 95% CI,
tokens, requests and dollars per item and per correct answer, wall time, and, against the first
run, the accuracy change in points for the token multiple it took and the exact McNemar test on
the items both runs graded. The change in points is paired: it is measured on the items both runs
graded (what the McNemar test tests), never between headlines over different item sets, and a
table whose runs cover different items says so. Tokens and requests are what producing the samples
took originally (a resumed or cached run is not cheaper); dollars price those tokens with today's
price table.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from cothub.cost import Price, PriceTable, accounting
from cothub.errors import CothubError
from cothub.scoring.paired import Paired, paired
from cothub.scoring.stats import wilson
from cothub.store import RunRow, SampleUsage
from cothub.types import StrategyId


@dataclass(frozen=True, slots=True)
class Row:
    """One run's numbers on one benchmark."""

    run_id: str
    model: str
    strategy: str
    format: str
    accuracy: float
    ci95: tuple[float, float]
    n: int
    prompt_per_item: float | None
    completion_per_item: float | None
    requests_per_item: float | None
    """None when some sample's request count was never recorded (imports, older stores)."""
    cost_per_item: float | None
    """None when the model has no price."""
    cost_per_correct: float | None
    wall_s: float | None
    """The whole run's wall time (all its benchmarks), summed over its invocations."""
    delta_pts: float | None
    """Accuracy minus the first run's on the items both graded, in percentage points
    ((gained - lost) / shared); None on the first row or when they share no item."""
    token_multiple: float | None
    """(Prompt + completion) tokens per item over the first run's, on the shared items; None if
    not comparable."""
    paired: Paired | None
    """McNemar test against the first run on the shared items; None on the first row."""
    graded: int = 0
    """Items this run graded (its samples of the task)."""
    same_items: bool = True
    """False when this run and the first did not grade exactly the same items."""


@dataclass(frozen=True, slots=True)
class Comparison:
    tasks: dict[str, list[Row]]
    """Benchmark -> rows, the first run first."""

    def coverage_note(self, task: str) -> str | None:
        """``the runs cover different items: ...`` when any row's items differ from the first's."""
        rows = self.tasks[task]
        odd = [r for r in rows[1:] if not r.same_items]
        if not odd:
            return None
        parts = [f"{rows[0].run_id} graded {rows[0].graded}"] + [
            f"{r.run_id} graded {r.graded}, {r.paired.shared if r.paired else 0} shared"
            for r in odd
        ]
        return (
            "the runs cover different items (" + "; ".join(parts) + "): accuracy is each run's "
            "own headline; vs first and McNemar are on the shared items only"
        )


def build(
    runs: Sequence[RunRow],
    usage: Mapping[str, Sequence[SampleUsage]],
    prices: PriceTable,
) -> Comparison:
    """Compare ``runs`` (the first is the baseline); ``usage`` is ``Store.sample_usage`` by run."""
    if len(runs) < 2:
        raise CothubError("compare needs at least two runs; `cothub runs` lists stored runs")
    ids = [r.run_id for r in runs]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup is not None:
        raise CothubError(f"run {dup} is given twice; compare distinct runs")
    shared = [t for t in runs[0].tasks if all(t in r.tasks for r in runs[1:])]
    if not shared:
        listing = "; ".join(f"{r.run_id}: {', '.join(r.tasks)}" for r in runs)
        raise CothubError(f"the runs share no task ({listing}); compare runs of one benchmark")
    out: dict[str, list[Row]] = {}
    for task in shared:
        rows: list[Row] = []
        first_samples: list[SampleUsage] = []
        for run in runs:
            samples = [s for s in usage.get(run.run_id, ()) if s.task == task]
            row = _row(run, task, samples, prices)
            if rows:
                row = _versus_first(row, first_samples, samples, prices.lookup(run.model),
                                    prices.lookup(runs[0].model))  # fmt: skip
            else:
                first_samples = samples
            rows.append(row)
        out[task] = rows
    return Comparison(out)


def _versus_first(
    row: Row,
    first: Sequence[SampleUsage],
    mine: Sequence[SampleUsage],
    price: Price | None,
    first_price: Price | None,
) -> Row:
    """The paired columns: accuracy change, token multiple and McNemar on the shared items."""
    a = {s.item_id: s for s in first}
    b = {s.item_id: s for s in mine}
    shared = a.keys() & b.keys()
    test = paired({k: a[k].usage.correct for k in a}, {k: b[k].usage.correct for k in b})
    delta = 100 * (test.gained - test.lost) / test.shared if test.shared else None
    multiple = None
    if shared:
        ta = accounting([a[k].usage for k in shared], first_price).tokens_per_item
        tb = accounting([b[k].usage for k in shared], price).tokens_per_item
        base, mine_total = ta.sent_and_received, tb.sent_and_received
        if base is not None and mine_total is not None:
            multiple = mine_total / base if base else None
    return replace(
        row,
        delta_pts=delta,
        token_multiple=multiple,
        paired=test,
        same_items=a.keys() == b.keys(),
    )


def _row(run: RunRow, task: str, samples: Sequence[SampleUsage], prices: PriceTable) -> Row:
    items = [s.usage for s in samples]
    acct = accounting(items, prices.lookup(run.model))
    head = (run.summary or {}).get(task)
    if head is not None:  # the task's own headline (BBH: the mean over its 27 tasks)
        accuracy, ci95, n = head.accuracy, head.ci95, head.n
    else:  # a run that ended before writing a summary: item-weighted from its samples
        correct = sum(i.correct for i in items)
        n = len(items)
        accuracy, ci95 = (correct / n if n else 0.0), wilson(correct, n)
    per = acct.tokens_per_item
    spec = run.manifest.task(task)
    return Row(
        run_id=run.run_id,
        model=run.model,
        strategy=_strategy(run.manifest.strategy),
        format=spec.format if spec is not None else "?",
        accuracy=accuracy,
        ci95=ci95,
        n=n,
        prompt_per_item=per.prompt,
        completion_per_item=per.completion,
        requests_per_item=acct.requests_per_item,
        cost_per_item=acct.cost_per_item,
        cost_per_correct=acct.cost_per_correct,
        wall_s=run.wall_s,
        delta_pts=None,
        token_multiple=None,
        paired=None,
        graded=len(items),
    )


def _strategy(described: StrategyId | None) -> str:
    """``self-consistency`` with k=8, ... -> ``self-consistency:k=8,...``; ``-`` for imports."""
    if described is None:
        return "-"
    settings = ",".join(f"{k}={v}" for k, v in described.settings if v is not None)
    return described.name + (f":{settings}" if settings else "")


# ---- rendering ----------------------------------------------------------------------------------


def _num(x: float | None, spec: str = ",.1f") -> str:
    return "-" if x is None else format(x, spec)


def usd(x: float | None) -> str:
    """Three significant digits, never in exponent form: ``$0.0000773``, ``$1.23``."""
    if x is None:
        return "-"
    if x <= 0:
        return "$0"
    return f"${x:.{max(2, 2 - math.floor(math.log10(x)))}f}"


def versus(row: Row) -> str:
    """``+6.1 pts for 8.0x tokens`` (or ``baseline`` on the first row)."""
    if row.paired is None:
        return "baseline"
    if row.delta_pts is None:
        return "no shared item"
    text = f"{row.delta_pts:+.1f} pts"
    if not row.same_items:
        text += f" on {row.paired.shared} shared"
    return text + (f" for {row.token_multiple:.1f}x tokens" if row.token_multiple else "")


def _mcnemar(row: Row) -> str:
    p = row.paired
    if p is None:
        return "-"
    return f"p={p.p_value:.3g} (-{p.lost}/+{p.gained} of {p.shared})"


_HEAD = (
    "run", "model", "strategy", "format", "accuracy % [95% CI]", "n", "prompt tok/item",
    "completion tok/item", "requests/item", "$/item", "$/correct", "wall s", "vs first",
    "McNemar vs first",
)  # fmt: skip


def to_markdown(c: Comparison) -> str:
    lines: list[str] = []
    for task, rows in c.tasks.items():
        lines += [f"## {task}", "", "| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
        for r in rows:
            cells = [
                r.run_id,
                r.model,
                r.strategy,
                r.format,
                f"{100 * r.accuracy:.2f} [{100 * r.ci95[0]:.1f}-{100 * r.ci95[1]:.1f}]",
                str(r.n),
                _num(r.prompt_per_item),
                _num(r.completion_per_item),
                _num(r.requests_per_item, ".2f"),
                usd(r.cost_per_item),
                usd(r.cost_per_correct),
                _num(r.wall_s),
                versus(r),
                _mcnemar(r),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        note = c.coverage_note(task)
        if note:
            lines += ["", f"Note: {note}."]
        lines.append("")
    lines.append(
        "Tokens and requests per item are what producing the samples took; $ prices them with "
        "the price table (informational; - = no price). vs first: accuracy change in points on the "
        "items both runs graded (paired), for the multiple of prompt+completion tokens per item "
        "on those items. McNemar: exact two-sided test on the "
        "items both runs graded; -lost/+gained = items only the first / only this run got right."
    )
    return "\n".join(lines)


_CSV_HEAD = (
    "task", "run_id", "model", "strategy", "format", "accuracy", "ci_low", "ci_high", "n",
    "prompt_tokens_per_item", "completion_tokens_per_item", "requests_per_item", "cost_per_item",
    "cost_per_correct", "wall_s", "delta_pts", "token_multiple", "paired_n", "lost", "gained",
    "p_value", "graded", "same_items",
)  # fmt: skip


def to_csv(c: Comparison) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_HEAD)
    for task, rows in c.tasks.items():
        for r in rows:
            p = r.paired
            values: list[Any] = [
                task, r.run_id, r.model, r.strategy, r.format, r.accuracy, r.ci95[0], r.ci95[1],
                r.n, r.prompt_per_item, r.completion_per_item, r.requests_per_item,
                r.cost_per_item, r.cost_per_correct, r.wall_s, r.delta_pts, r.token_multiple,
                *((p.shared, p.lost, p.gained, p.p_value) if p else (None,) * 4),
                r.graded, int(r.same_items),
            ]  # fmt: skip
            writer.writerow(["" if v is None else v for v in values])
    return out.getvalue()


def to_json(c: Comparison) -> str:
    return json.dumps(
        {
            "tasks": {t: [_row_json(r) for r in rows] for t, rows in c.tasks.items()},
            "notes": {t: n for t in c.tasks if (n := c.coverage_note(t))},
        },
        indent=2,
    )


def _row_json(r: Row) -> dict[str, Any]:
    out = asdict(r)
    out["ci95"] = list(r.ci95)
    out["versus"] = versus(r)
    return out
