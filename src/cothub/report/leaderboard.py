"""The leaderboard: models as rows, a column per task the store holds (the hub's four first).

Each cell is one stored run's headline accuracy with its 95% CI and the run id it came from, so
every number can be traced to its samples. The prompt format is part of a column's key: a
few-shot CoT number and a zero-shot number never share a column.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
    total: int | None = None
    """N: the items the whole benchmark holds (None where no run or import recorded it)."""
    grader: str = ""
    """The release whose graders made the verdicts."""
    others: int = 0
    """Other stored runs of the same cell that this one was chosen over."""
    incomparable: bool = False
    """Its n or grader differs from the column's other cells: not like for like."""


@dataclass(frozen=True, slots=True)
class Leaderboard:
    columns: list[tuple[str, str]]
    """(benchmark, setting) in display order; the setting is the format, the task's parameters
    and the strategy when it is not a single completion."""
    rows: list[tuple[str, dict[tuple[str, str], Cell]]]
    """(model, cells), ranked by the first GSM8K column."""
    left_out: int = 0
    """Partial runs (subsets) left out because ``include_partial`` was not given."""
    include_partial: bool = False


def build(runs: Sequence[RunRow], *, include_partial: bool = False) -> Leaderboard:
    """A cell is one evaluation: model x benchmark x format (and task parameters) x strategy x
    selection. A full-set run always wins its cell; runs of a subset (``--limit``, ``--where``,
    partial imports) are left out unless ``include_partial``, and even then only fill a cell no
    full-set run holds. Among several candidates: the most items, then the most recent."""
    candidates: dict[tuple[str, tuple[str, str]], list[tuple[tuple[int, int, float], Cell]]] = {}
    totals: dict[tuple[str, str], int] = {}  # (benchmark, params) -> N, from full-set runs
    pending: list[tuple[RunRow, str, TaskManifest, bool]] = []
    for run in runs:
        if run.status != "complete" or not run.summary:
            continue
        for bench, spec in run.manifest.tasks:
            if run.summary.get(bench) is None or spec.subsets:
                continue  # a run of chosen sub-tasks is not a benchmark headline
            partial = _is_partial(run, spec)
            if not partial:
                totals[(bench, _params(spec))] = run.summary[bench].n
            pending.append((run, bench, spec, partial))
    left_out = 0
    for run, bench, spec, partial in pending:
        if partial and not include_partial:
            left_out += 1
            continue
        head = (run.summary or {})[bench]
        total = totals.get((bench, _params(spec))) if partial else head.n
        if total is None and spec.dataset_items:
            total = spec.dataset_items
        grader = run.manifest.grader_version or run.manifest.grader
        cell = Cell(head.accuracy, head.ci95, head.n, run.run_id, partial, total, grader)
        rank = (0 if partial else 1, head.n, run.created_at)
        candidates.setdefault((run.model, (bench, _setting(run, spec))), []).append((rank, cell))
    best: dict[str, dict[tuple[str, str], Cell]] = {}
    for (model, key), found in candidates.items():
        found.sort(key=lambda rc: rc[0], reverse=True)
        best.setdefault(model, {})[key] = replace(found[0][1], others=len(found) - 1)
    columns = sorted(
        {k for cells in best.values() for k in cells},
        key=lambda k: (HUB.index(k[0]) if k[0] in HUB else len(HUB), k[0], k[1]),
    )
    for col in columns:  # mark the cells whose n or grader differs from the column's usual one
        shape = Counter((c[col].n, c[col].grader) for c in best.values() if col in c)
        if len(shape) > 1:
            usual = max(shape, key=lambda k: (shape[k], k[0]))  # ties: the bigger n
            for cells in best.values():
                c = cells.get(col)
                if c is not None and (c.n, c.grader) != usual:
                    cells[col] = replace(c, incomparable=True)
    gsm = next((c for c in columns if c[0] == "gsm8k"), None)

    def rank_key(item: tuple[str, dict[tuple[str, str], Cell]]) -> tuple[float, str]:
        cell = item[1].get(gsm) if gsm else None
        return (-(cell.accuracy if cell else -1.0), item[0])

    return Leaderboard(columns, sorted(best.items(), key=rank_key), left_out, include_partial)


def _is_partial(run: RunRow, spec: TaskManifest) -> bool:
    """A subset: a --limit, a tag filter, or an import that matched fewer items than it holds."""
    sel = run.manifest.selection
    if (sel is not None and sel[0] is not None) or bool(spec.where):
        return True
    return spec.dataset_items is not None and spec.items < spec.dataset_items


def _params(spec: TaskManifest) -> str:
    return "".join(f" {k}={v}" for k, v in sorted(spec.params or ()))


def _setting(run: RunRow, spec: TaskManifest) -> str:
    """A column's setting: the format, the task's parameters when it had any
    (``fewshot-cot levels=4,5``) and the strategy unless it was one completion per item
    (``fewshot-cot self-refine:rounds=2``): a differently configured run never shares a column."""
    strat = run.manifest.strategy
    how = "" if strat is None or strat.name == "single" else " " + strat.spec()
    return (spec.format or "?") + _params(spec) + how


def _title(col: tuple[str, str]) -> str:
    name = col[0].upper() if col[0] in HUB else col[0]
    return f"{name} ({col[1]})"


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    half = 100 * (cell.ci95[1] - cell.ci95[0]) / 2
    marks = ""
    if cell.partial:
        marks += f" *{cell.n} of {cell.total if cell.total is not None else '?'}"
    if cell.incomparable:
        marks += " †"
    if cell.others:
        marks += f" (+{cell.others} runs)"
    return f"{100 * cell.accuracy:.1f} ±{half:.1f}{marks} [{cell.run_id}]"


def to_markdown(board: Leaderboard) -> str:
    if not board.rows:  # an empty table says nothing: say why it is empty and what to do
        if board.left_out:
            return (
                f"No full-set runs to show: {board.left_out} run(s) on a subset left out; "
                "--include-partial shows them."
            )
        return "No complete runs in this store yet: `cothub run TASK --model MODEL` makes one."
    head = ["model", *(_title(c) for c in board.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, cells in board.rows:
        row = [model, *(_cell_text(cells.get(c)) for c in board.columns)]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        "Accuracy % ± half-width of the 95% CI [run id]; *n of N = a run on a subset (--limit, "
        "--where, a partial import), never chosen over a full-set run; † = not comparable with "
        "the column's other cells (different n or grader version); (+k runs) = k other runs of "
        "the same cell, passed over for this one (full set first, then the most items, then the "
        "latest); ranked by GSM8K; BBH is the unweighted mean over its 27 tasks, MMLU "
        "item-weighted."
    )
    if board.left_out:
        lines.append(f"{board.left_out} run(s) on a subset left out; --include-partial shows them.")
    return "\n".join(lines)


_CSV_FIELDS = ("accuracy", "ci_low", "ci_high", "n", "run_id", "N", "partial", "incomparable",
               "grader", "other_runs")  # fmt: skip


def to_csv(board: Leaderboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["model"]
    for bench, fmt in board.columns:
        header += [f"{bench}:{fmt}:{f}" for f in _CSV_FIELDS]
    writer.writerow(header)
    for model, cells in board.rows:
        row: list[Any] = [model]
        for col in board.columns:
            c = cells.get(col)
            row += (
                [
                    c.accuracy,
                    c.ci95[0],
                    c.ci95[1],
                    c.n,
                    c.run_id,
                    c.total or "",
                    int(c.partial),
                    int(c.incomparable),
                    c.grader,
                    c.others,
                ]
                if c
                else [""] * len(_CSV_FIELDS)
            )
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
                            "N": c.total,
                            "grader": c.grader,
                            "incomparable": c.incomparable,
                            "other_runs": c.others,
                        }
                        for (b, f), c in cells.items()
                    },
                }
                for model, cells in board.rows
            ],
            "partial_left_out": board.left_out,
            "include_partial": board.include_partial,
        },
        indent=2,
    )


def full_sizes(runs: Sequence[RunRow]) -> dict[tuple[str, str], int]:
    """(benchmark, task parameters) -> N, the items a full-set run of it evaluated."""
    out: dict[tuple[str, str], int] = {}
    for run in runs:
        for bench, spec in run.manifest.tasks:
            if spec.subsets or _is_partial(run, spec) or run.status != "complete":
                continue
            head = (run.summary or {}).get(bench)
            out[(bench, _params(spec))] = head.n if head is not None else spec.items
    return out


def n_of_n(
    run: RunRow,
    bench: str,
    spec: TaskManifest,
    sizes: dict[tuple[str, str], int],
    done: int | None = None,
) -> str:
    """``3/1319``: the items a run evaluated of the benchmark's; ``?`` where N is not known;
    ``done``: the samples stored so far, shown for a run that has no summary yet."""
    head = (run.summary or {}).get(bench)
    n = head.n if head is not None else (done if done is not None else spec.items)
    if not _is_partial(run, spec) and not spec.subsets and run.status == "complete":
        return f"{n}/{n}"
    total = sizes.get((bench, _params(spec))) or spec.dataset_items
    return f"{n}/{total if total else '?'}"
