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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cothub.errors import CothubError
from cothub.modelinfo import MODEL_TYPES, ModelInfo
from cothub.store import RunRow
from cothub.tasks import HUB
from cothub.types import TaskManifest

if TYPE_CHECKING:
    from cothub.report.views import PublishedRow

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
class Row:
    """A model's row: its cells from runs in the store, or a published row's scores."""

    model: str
    cells: dict[tuple[str, str], Cell]
    info: ModelInfo = field(default_factory=ModelInfo)
    """What the model is (type, size): stored with ``--model-type``/``--model-size`` or
    ``cothub models set``; a published row's own."""
    scores: dict[tuple[str, str], float] = field(default_factory=dict)
    """A published row's accuracies, in the columns of the hub's setting."""
    source: str = ""
    """A published row's source (paper, site, and the repository and commit read); ``""``: a
    row of runs in this store."""

    @property
    def published(self) -> bool:
        return bool(self.source)

    def accuracy(self, col: tuple[str, str]) -> float | None:
        cell = self.cells.get(col)
        return cell.accuracy if cell is not None else self.scores.get(col)


GROUPS = ("type",)
"""What ``--group-by`` groups rows by."""
SORTS = ("size", "type", "model")
"""``--sort`` keys besides a benchmark (``gsm8k``) or a column (``gsm8k:zeroshot-cot``)."""


@dataclass(frozen=True, slots=True)
class Leaderboard:
    columns: list[tuple[str, str]]
    """(benchmark, setting) in display order; the setting is the format, the task's parameters
    and the strategy when it is not a single completion."""
    rows: list[Row]
    """Ranked by ``sort`` (the first GSM8K column unless said), within ``group_by`` groups."""
    left_out: int = 0
    """Partial runs (subsets) left out because ``include_partial`` was not given."""
    include_partial: bool = False
    group_by: str | None = None
    sort: str = "gsm8k"


def build(
    runs: Sequence[RunRow],
    *,
    include_partial: bool = False,
    models: Mapping[str, ModelInfo] | None = None,
    published: Sequence[PublishedRow] = (),
    group_by: str | None = None,
    sort: str | None = None,
) -> Leaderboard:
    """A cell is one evaluation: model x benchmark x format (and task parameters) x strategy x
    selection. A full-set run always wins its cell; runs of a subset (``--limit``, ``--where``,
    partial imports) are left out unless ``include_partial``, and even then only fill a cell no
    full-set run holds. Among several candidates: the most items, then the most recent.

    ``models``: each model's type and size (``Store.model_info``); ``published``: the hub's
    rows, put in the column of each benchmark's own setting (its default format) beside the
    measured ones; ``group_by`` (``type``) and ``sort`` (``size``, ``type``, ``model``, a
    benchmark or a ``benchmark:setting`` column; default GSM8K) order them all alike."""
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
    info = models or {}
    rows = [Row(model, cells, info.get(model, ModelInfo())) for model, cells in best.items()]
    rows += [_published_row(p) for p in published]
    columns = sorted(
        set(columns) | {k for r in rows for k in r.scores},
        key=lambda k: (HUB.index(k[0]) if k[0] in HUB else len(HUB), k[0], k[1]),
    )
    if group_by is not None and group_by not in GROUPS:
        raise CothubError(f"--group-by {group_by!r}: use one of {', '.join(GROUPS)}")
    key = _sort_key(sort or "gsm8k", columns, explicit=sort is not None)
    ordered = sorted(rows, key=key)
    if group_by == "type":  # stable: each group keeps the sort's order
        ordered.sort(key=lambda r: _type_rank(r.info.type))
    return Leaderboard(columns, ordered, left_out, include_partial, group_by, sort or "gsm8k")


def _type_rank(t: str) -> int:
    return MODEL_TYPES.index(t) if t in MODEL_TYPES else len(MODEL_TYPES)


def _sort_key(sort: str, columns: Sequence[tuple[str, str]], explicit: bool) -> Any:
    """Accuracies high to low, sizes big to small, types in the order base, sft, rlhf, names
    A to Z; what a row lacks goes last; ties by model name."""
    if sort == "size":
        return lambda r: (r.info.params is None, -(r.info.params or 0.0), r.model, r.source)
    if sort == "type":
        return lambda r: (_type_rank(r.info.type), r.model, r.source)
    if sort == "model":
        return lambda r: (r.model.lower(), r.model, r.source)
    bench, _, setting = sort.partition(":")
    match = [c for c in columns if c[0] == bench.lower() and (not setting or c[1] == setting)]
    if not match and explicit:
        names = list(SORTS) + list(dict.fromkeys(c[0] for c in columns))
        raise CothubError(
            f"--sort {sort!r}: no such column on this leaderboard; use one of {', '.join(names)} "
            "(or BENCHMARK:SETTING)"
        )
    col = match[0] if match else None

    def key(r: Row) -> tuple[bool, float, str, str]:
        acc = r.accuracy(col) if col else None
        return (acc is None, -(acc or 0.0), r.model, r.source)

    return key


def _published_row(p: PublishedRow) -> Row:
    """The hub's numbers in the columns of each benchmark's own setting (GSM8K few-shot CoT,
    MMLU few-shot direct ...), so that they sit beside the runs made the same way."""
    from cothub.tasks import resolve_task

    scores: dict[tuple[str, str], float] = {}
    for bench, score in p.scores.items():
        try:
            setting = str(resolve_task(bench)[0].prompt_format(""))
        except CothubError:
            setting = "published"
        scores[(bench, setting)] = score
    return Row(p.model, {}, p.info, scores, p.source or "published")


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


def _group(row: Row, board: Leaderboard) -> str | None:
    if board.group_by == "type":
        return row.info.type or "type not said"
    return None


def to_markdown(board: Leaderboard) -> str:
    if not board.rows:  # an empty table says nothing: say why, and what to do
        if board.left_out:
            return (
                f"No full-set runs to show: {board.left_out} run(s) on a subset left out; "
                "--include-partial shows them."
            )
        return "No complete runs in this store yet: `cothub run TASK --model MODEL` makes one."
    sources = list(dict.fromkeys(r.source for r in board.rows if r.published))
    head = ["model", "type", "size", *(_title(c) for c in board.columns)]
    if sources:
        head.append("source")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    group: str | None = None
    for r in board.rows:
        g = _group(r, board)
        if g is not None and g != group:
            group = g
            lines.append("| " + " | ".join([f"**{g}**"] + [""] * (len(head) - 1)) + " |")
        if r.published:
            name = f"{r.model} (published)"
            cells = [_score_text(r.scores.get(c)) for c in board.columns]
        else:
            name, cells = r.model, [_cell_text(r.cells.get(c)) for c in board.columns]
        row = [name, r.info.type or "-", r.info.size or "-", *cells]
        if sources:
            row.append(f"published [{sources.index(r.source) + 1}]" if r.published else "run")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    order = "ranked by GSM8K" if board.sort == "gsm8k" else f"sorted by {board.sort}"
    if board.group_by:
        order += f", grouped by {board.group_by}"
    lines.append(
        "Accuracy % ± half-width of the 95% CI [run id]; *n of N = a run on a subset (--limit, "
        "--where, a partial import), never chosen over a full-set run; † = not comparable with "
        "the column's other cells (different n or grader version); (+k runs) = k other runs of "
        "the same cell, passed over for this one (full set first, then the most items, then the "
        f"latest); {order}; BBH is the unweighted mean over its 27 tasks, MMLU item-weighted. "
        "type: base, sft (instruction-tuned) or rlhf, and size: set with --model-type / "
        "--model-size or `cothub models set`."
    )
    if sources:
        lines.append(
            "Rows marked (published) are the Chain-of-Thought Hub's own numbers, read from its "
            "leaderboard (not runs in this store), in each benchmark's own setting:"
        )
        lines += [f"[{i}] {src}" for i, src in enumerate(sources, 1)]
    if board.left_out:
        lines.append(f"{board.left_out} run(s) on a subset left out; --include-partial shows them.")
    return "\n".join(lines)


def _score_text(score: float | None) -> str:
    return "-" if score is None else f"{100 * score:.1f}"


_CSV_FIELDS = ("accuracy", "ci_low", "ci_high", "n", "run_id", "N", "partial", "incomparable",
               "grader", "other_runs")  # fmt: skip


def to_csv(board: Leaderboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["model", "type", "size", "params", "published", "source"]
    for bench, fmt in board.columns:
        header += [f"{bench}:{fmt}:{f}" for f in _CSV_FIELDS]
    writer.writerow(header)
    for r in board.rows:
        params = r.info.params
        row: list[Any] = [r.model, r.info.type, r.info.size, "" if params is None else params,
                          int(r.published), r.source]  # fmt: skip
        for col in board.columns:
            c = r.cells.get(col)
            score = r.scores.get(col)
            if c is not None:
                row += [c.accuracy, c.ci95[0], c.ci95[1], c.n, c.run_id, c.total or "",
                        int(c.partial), int(c.incomparable), c.grader, c.others]  # fmt: skip
            elif score is not None:
                row += [score] + [""] * (len(_CSV_FIELDS) - 1)
            else:
                row += [""] * len(_CSV_FIELDS)
        writer.writerow(row)
    return out.getvalue()


def _cell_json(c: Cell) -> dict[str, object]:
    return {
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


def to_json(board: Leaderboard) -> str:
    rows = []
    for r in board.rows:
        cells: dict[str, object] = {f"{b}:{f}": _cell_json(c) for (b, f), c in r.cells.items()}
        cells.update(
            {f"{b}:{f}": {"accuracy": v, "published": True} for (b, f), v in r.scores.items()}
        )
        rows.append(
            {
                "model": r.model,
                **r.info.as_json(),
                "published": r.published,
                "source": r.source or None,
                "group": _group(r, board),
                "cells": cells,
            }
        )
    return json.dumps(
        {
            "columns": [{"benchmark": b, "format": f} for b, f in board.columns],
            "rows": rows,
            "group_by": board.group_by,
            "sort": board.sort,
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
