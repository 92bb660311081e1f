"""``cothub study NAME``: the questions of the reasoning literature, one command each.

    cothub study formats gsm8k mmlu --model openai/gpt-4o-mini --limit 200 --json formats.json

A study is data (:class:`StudySpec`: a grid of :class:`Cell` and the paired :class:`Contrast`
between them); every cell is an ordinary cached, resumable run in the store, so a re-run sends
nothing and an interrupted study resumes. The analysis pairs every delta on the items both
cells graded, tests it with the exact McNemar test and Holm-corrects over the whole study.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from cothub.study.analysis import CORRECTION, Curve, CurvePoint, Delta, Point, StudyResult, analyse
from cothub.study.execute import CellRun, StudySettings, run_grid
from cothub.study.spec import (
    STUDIES,
    Cell,
    Contrast,
    StudyOptions,
    StudySpec,
    builtin,
    load_spec,
    spec_from_dict,
)

__all__ = [
    "CORRECTION",
    "STUDIES",
    "Cell",
    "CellRun",
    "Contrast",
    "Curve",
    "CurvePoint",
    "Delta",
    "Point",
    "StudyOptions",
    "StudyResult",
    "StudySettings",
    "StudySpec",
    "analyse",
    "builtin",
    "load_spec",
    "run_grid",
    "run_study",
    "spec_from_dict",
]


def run_study(spec: StudySpec, settings: StudySettings, progress: bool = False) -> StudyResult:
    """Run (or resume, or read back) every cell of ``spec``, then analyse the cells; scaling
    studies get the published hub rows of their models beside them, where they match."""
    runs = run_grid(spec, settings, progress)
    sizes = _recorded_sizes(runs, settings.store_path) if spec.analysis == "scaling" else None
    result = analyse(spec, runs, sizes)
    if spec.analysis == "scaling":
        result = replace(result, published=tuple(_published(settings)))
    if spec.analysis == "code-reasoning":
        from cothub.study.analysis import code_reasoning

        rho, rows, lines = code_reasoning(result.points, _hub_with_code(), settings.seed)
        result = replace(
            result,
            correlations=tuple(rho),
            published=tuple(rows),
            summary=(*lines, *result.summary),
        )
    return result


def _recorded_sizes(runs: Sequence[CellRun], store_path: Path | None) -> dict[str, float]:
    """Parameters in billions by the cells' models, where ``--model-size`` or ``cothub models
    set`` recorded them (keyed in the store by the name its runs carry)."""
    from cothub.store import open_store

    store = open_store(store_path, readonly=True)
    try:
        info = store.model_info()
        out = {}
        for r in runs:
            known = info.get(store.run(r.run_id).model)
            if known is not None and known.params is not None:
                out[r.model] = known.params / 1e9
        return out
    finally:
        store.close()


HUB_CODE_COLUMNS = ("humaneval", "gsm8k", "math", "mmlu", "bbh")


def _hub_with_code() -> list[tuple[str, dict[str, float], str]]:
    """The published leaderboard's rows with their HumanEval column (read where the report
    finds the CSV); a model published at several sizes is named with its size."""
    import csv

    try:
        from cothub.report.views import default_published_path, safe
    except ImportError:
        return []
    path = default_published_path()
    if path is None:
        return []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            raw = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    out = []
    for r in raw:
        scores: dict[str, float] = {}
        for col in HUB_CODE_COLUMNS:
            try:
                scores[col] = float((r.get(col) or "").strip()) / 100
            except ValueError:
                continue
        name = (r.get("model") or "").strip()
        if not name or not scores:
            continue
        size = (r.get("params") or "").strip()
        label = f"{name} ({size})" if size and size != "?" else name
        source = r.get("sources") or "Chain-of-Thought Hub"
        out.append((safe(label), scores, safe(source)))
    return out


def _published(settings: StudySettings) -> list[dict[str, object]]:
    from cothub.study.analysis import published_rows

    try:
        from cothub.report.views import default_published_path, read_published
    except ImportError:  # the report package is optional to a study
        return []
    path = default_published_path()
    if path is None:
        return []
    rows = [(r.model, r.scores, r.source) for r in read_published(path)]
    tasks = [t.split("/", 1)[0].split(":", 1)[0].lower() for t in settings.tasks]
    return published_rows(settings.models, tasks, rows)
