"""Summary tables, rendered from the same JSON shape that ``--json`` writes and the store keeps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def summary_table(title: str, tasks: Mapping[str, Mapping[str, Any]]) -> Any:
    """Accuracy with 95% CI, n, unparsed and truncated, one row per task and sub-task."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("task")
    table.add_column("accuracy %", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("n", justify="right")
    table.add_column("unparsed", justify="right")
    table.add_column("truncated", justify="right")
    table.add_column("disagree", justify="right")
    for name, s in tasks.items():
        label = name if "/" in name else f"[bold]{name}[/bold]"
        if s.get("aggregate") == "macro":
            label += " (macro)"
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


def usage_line(usage: Mapping[str, int], wall_s: float | None) -> str:
    parts = [
        f"requests {usage.get('requests', 0)}",
        f"cached {usage.get('cached', 0)}",
        f"retries {usage.get('retries', 0)}",
        f"prompt tokens {usage.get('prompt_tokens', 0):,}",
        f"completion tokens {usage.get('completion_tokens', 0):,}",
    ]
    if wall_s is not None:
        parts.append(f"wall {wall_s:.1f} s")
    return " · ".join(parts)
