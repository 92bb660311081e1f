"""Summary tables, rendered from the same JSON shape that ``--json`` writes and the store keeps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cothub.types import TaskSummary


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def summary_table(
    title: str, summaries: Mapping[str, TaskSummary] | Mapping[str, Mapping[str, Any]]
) -> Any:
    """Accuracy with 95% CI, n, unparsed and truncated, one row per task and sub-task (from the
    stored records, or the ``--json`` shape a run just wrote)."""
    from rich.table import Table

    tasks: dict[str, Mapping[str, Any]] = {
        k: v.as_json() if isinstance(v, TaskSummary) else v for k, v in summaries.items()
    }

    table = Table(title=title, title_justify="left")
    table.add_column("task")
    table.add_column("accuracy %", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("n", justify="right")
    table.add_column("unparsed", justify="right")
    table.add_column("truncated", justify="right")
    table.add_column("disagree", justify="right")
    # Truncated replies whose thinking never closed, named under the table when there are any
    # (a column would squeeze the CI out of an 80-column terminal).
    unclosed = [
        f"{k} {s['unclosed_thinking']}"
        for k, s in tasks.items()
        if s.get("unclosed_thinking") and "/" not in k  # headlines only; subsets sum to them
    ]
    if unclosed:
        table.caption = "truncated in unclosed thinking: " + ", ".join(unclosed)
        table.caption_justify = "left"
    for name, s in tasks.items():
        label = name if "/" in name else f"[bold]{name}[/bold]"
        if s.get("aggregate") in ("macro", "harmonic"):
            label += f" ({s['aggregate']})"
        lo, hi = s["ci95"]
        table.add_row(
            label,
            pct(s["accuracy"]),
            f"{pct(lo)}-{pct(hi)}",
            str(s["n"]),
            str(s["unparsed"]),
            str(s["truncated"]),
            str(s.get("disagreements", 0)),
        )
    return table


def shorten(text: str, keep: int = 600) -> str:
    """Head and tail of a long text with the middle elided (how it began and what it concluded)."""
    text = text.strip()
    if len(text) <= 2 * keep + 40:
        return text
    cut = len(text) - 2 * keep
    return f"{text[:keep]} [... {cut:,} characters ...] {text[-keep:]}"


def usage_line(usage: Mapping[str, Any], wall_s: float | None) -> str:
    parts = [
        f"requests {usage.get('requests', 0)}",
        f"cached {usage.get('cached', 0)}",
        f"retries {usage.get('retries', 0)}",
        f"prompt tokens {usage.get('prompt_tokens', 0):,}",
        f"completion tokens {usage.get('completion_tokens', 0):,}",
    ]
    if usage.get("reasoning_tokens"):
        parts.append(f"of which reasoning {usage['reasoning_tokens']:,}")
    if "cost_usd" in usage:  # None: the model has no price (local, fake), which is not $0
        cost = usage["cost_usd"]
        parts.append("cost unpriced" if cost is None else f"cost ${cost:,.4f}")
    if wall_s is not None:
        parts.append(f"wall {wall_s:.1f} s")
    return " · ".join(parts)


def print_table(console: Any, table: Any) -> None:
    """A table at its full width when the output is not a terminal (a pipe, a file, a test): no
    cell is cut to 80 columns or wrapped into an ellipsis; a terminal lays it out as usual."""
    if console.is_terminal:
        console.print(table)
        return
    from rich.console import Console
    from rich.measure import Measurement

    need = Measurement.get(console, console.options.update_width(100_000), table).maximum
    wide = Console(file=console.file, width=max(need, console.width), no_color=console.no_color)
    wide.print(table, crop=False)


def mark_span(text: str, span: tuple[int, int] | None, context: int = 80) -> str | None:
    """Where the extracted answer sits in the completion: ``chars 40-52: ...so ⟦18⟧.``, its
    characters between ``⟦`` and ``⟧`` with ``context`` characters either side; None: no span."""
    if span is None:
        return None
    lo, hi = span
    if not 0 <= lo <= hi <= len(text):
        return None
    head = ("…" if lo > context else "") + text[max(0, lo - context) : lo]
    tail = text[hi : hi + context] + ("…" if hi + context < len(text) else "")
    return f"chars {lo}-{hi}: {head}⟦{text[lo:hi]}⟧{tail}"


def prompt_text(prompt: Any) -> str:
    """A stored prompt as it was sent: the completion-style string, or the chat turns."""
    if prompt.style != "chat":
        return str(prompt.text)
    return "\n".join(f"<{m.role}>\n{m.content}" for m in prompt.messages)
