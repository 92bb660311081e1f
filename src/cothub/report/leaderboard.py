"""The leaderboard: models as rows, a column per task the store holds (the hub's four first).

Each cell is one stored run's headline accuracy with its 95% CI and the run id it came from, so
every number can be traced to its samples. The prompt format is part of a column's key: a
few-shot CoT number and a zero-shot number never share a column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cothub.store import RunRow
from cothub.tasks import HUB
from cothub.types import TaskManifest

# Columns are the tasks the store holds (user and plugin tasks too): the hub's four first, in its
# order and upper case (GSM8K, MATH, ...), then the others by name, as they are named.


@dataclass(frozen=True, slots=True)
class Cell:
    """One benchmark headline of one model, from one run."""

    accuracy: float
    ci95: tuple[float, float]
    n: int
    run_id: str
    partial: bool
    """True when the run evaluated a --limit subset or a tag filter, not the whole benchmark."""


@dataclass(frozen=True, slots=True)
class Leaderboard:
    columns: list[tuple[str, str]]
    """(benchmark, format) in display order."""
    rows: list[tuple[str, dict[tuple[str, str], Cell]]]
    """(model, cells), ranked by the first GSM8K column."""


def build(runs: Sequence[RunRow]) -> Leaderboard:
    """Pick, per (model, benchmark, format), the most complete and then most recent run."""
    best: dict[str, dict[tuple[str, str], Cell]] = {}
    order: dict[tuple[str, tuple[str, str]], tuple[int, float]] = {}
    for run in runs:
        if run.status != "complete" or not run.summary:
            continue
        for bench, spec in run.manifest.tasks:
            head = run.summary.get(bench)
            if head is None or spec.subsets:
                continue  # a run of chosen sub-tasks is not a benchmark headline
            sel = run.manifest.selection
            partial = (sel is not None and sel[0] is not None) or bool(spec.where)
            key = (bench, _setting(spec))
            rank = (0 if partial else 1, run.created_at)
            if order.get((run.model, key), (-1, 0.0)) >= rank:
                continue
            order[(run.model, key)] = rank
            best.setdefault(run.model, {})[key] = Cell(
                head.accuracy, head.ci95, head.n, run.run_id, partial
            )
    columns = sorted(
        {k for cells in best.values() for k in cells},
        key=lambda k: (HUB.index(k[0]) if k[0] in HUB else len(HUB), k[0], k[1]),
    )
    gsm = next((c for c in columns if c[0] == "gsm8k"), None)

    def rank_key(item: tuple[str, dict[tuple[str, str], Cell]]) -> tuple[float, str]:
        cell = item[1].get(gsm) if gsm else None
        return (-(cell.accuracy if cell else -1.0), item[0])

    return Leaderboard(columns, sorted(best.items(), key=rank_key))


def _setting(spec: TaskManifest) -> str:
    """A column's setting: the format, and the task's parameters when it had any
    (``fewshot-cot levels=4,5``): a differently configured task never shares a column."""
    extra = "".join(f" {k}={v}" for k, v in sorted(spec.params or ()))
    return (spec.format or "?") + extra


def _title(col: tuple[str, str]) -> str:
    name = col[0].upper() if col[0] in HUB else col[0]
    return f"{name} ({col[1]})"


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    half = 100 * (cell.ci95[1] - cell.ci95[0]) / 2
    mark = "*" if cell.partial else ""
    return f"{100 * cell.accuracy:.1f} ±{half:.1f}{mark} [{cell.run_id}]"


def to_markdown(board: Leaderboard) -> str:
    head = ["model", *(_title(c) for c in board.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, cells in board.rows:
        row = [model, *(_cell_text(cells.get(c)) for c in board.columns)]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        "Accuracy % ± half-width of the 95% CI [run id]; * = a --limit subset or filtered run; "
        "ranked by GSM8K; BBH is the unweighted mean over its 27 tasks, MMLU item-weighted."
    )
    return "\n".join(lines)


def to_csv(board: Leaderboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["model"]
    for bench, fmt in board.columns:
        header += [f"{bench}:{fmt}:{f}" for f in ("accuracy", "ci_low", "ci_high", "n", "run_id")]
    writer.writerow(header)
    for model, cells in board.rows:
        row: list[Any] = [model]
        for col in board.columns:
            c = cells.get(col)
            row += [c.accuracy, c.ci95[0], c.ci95[1], c.n, c.run_id] if c else [""] * 5
        writer.writerow(row)
    return out.getvalue()


def to_json(board: Leaderboard) -> str:
    return json.dumps(
        {
            "columns": [{"benchmark": b, "format": f} for b, f in board.columns],
            "rows": [
                {
                    "model": model,
                    "cells": {
                        f"{b}:{f}": {
                            "accuracy": c.accuracy,
                            "ci95": list(c.ci95),
                            "n": c.n,
                            "run_id": c.run_id,
                            "partial": c.partial,
                        }
                        for (b, f), c in cells.items()
                    },
                }
                for model, cells in board.rows
            ],
        },
        indent=2,
    )
