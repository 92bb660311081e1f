"""A study's grid as ordinary runs: every cell goes through :func:`cothub.api.evaluate`, so it is
cached, resumable and in the store like any ``cothub run``; re-running a study sends nothing.

The per-item verdicts are then read back from the store (the records the runs wrote), so the
analysis sees exactly what ``cothub show`` would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from cothub.study.spec import Cell, StudySpec
from cothub.types import ApiStyle

if TYPE_CHECKING:
    from cothub.run import RunConfig


@dataclass(frozen=True, slots=True)
class StudySettings:
    """What the study command was given, shared by every cell (a cell overrides some)."""

    models: tuple[str, ...]
    tasks: tuple[str, ...]
    style: ApiStyle = "chat"
    """``--api``: chat turns, or one completion string (base models)."""
    limit: int | None = None
    seed: int = 0
    temperature: float = 0.0
    max_tokens: int | None = None
    concurrency: int = 32
    timeout_s: float = 120.0
    base_url: str | None = None
    data_dir: Path | None = None
    store_path: Path | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """One graded item of one cell, as the store holds it."""

    correct: bool
    truncated: bool
    """The reply hit the token limit (``finish_reason == "length"``): censored, not wrong."""
    prompt_tokens: int
    completion_tokens: int
    stats: dict[str, object] | None = None
    """The strategy's per-item numbers (each chain's verdict for self-consistency)."""


@dataclass(frozen=True, slots=True)
class CellRun:
    """One cell for one model: its run id and its items by (task, item id)."""

    model: str
    cell: Cell
    run_id: str
    items: dict[tuple[str, str], Item] = field(default_factory=dict)
    requests: int = 0
    """Requests this invocation sent (0 on a re-run: every answer came from the store)."""
    cached: int = 0

    def tasks(self) -> list[str]:
        return sorted({t for t, _ in self.items})

    def of_task(self, task: str) -> dict[str, Item]:
        return {i: it for (t, i), it in self.items.items() if t == task}


def cell_config(cell: Cell, settings: StudySettings) -> RunConfig:
    """The :class:`RunConfig` of one cell: the command's settings, the cell's overrides."""
    from cothub.run import RunConfig
    from cothub.strategies import parse_strategy
    from cothub.tasks import PromptOptions

    options = PromptOptions(
        style=settings.style,
        prompt_file=cell.prompt_file,
        seed=settings.seed,
        perturb=cell.perturb,
    )
    if cell.selection is not None:
        options = replace(options, selection=cell.selection)
    temperature = settings.temperature if cell.temperature is None else cell.temperature
    if cell.thinking_budget is not None and cell.temperature is None:
        temperature = 1.0  # extended thinking samples at temperature 1 (an API rule)
    return RunConfig(
        tasks=settings.tasks,
        format=cell.format,
        options=options,
        limit=settings.limit,
        seed=settings.seed,
        max_tokens=cell.max_tokens or settings.max_tokens,
        temperature=temperature,
        concurrency=settings.concurrency,
        timeout_s=settings.timeout_s,
        reasoning_effort=cell.reasoning_effort,
        thinking_budget=cell.thinking_budget,
        strategy=parse_strategy(cell.strategy),
    )


def grid(spec: StudySpec, settings: StudySettings) -> Iterator[tuple[str, Cell]]:
    """Every (model, cell) of the study, models outermost."""
    for model in settings.models:
        for cell in spec.cells:
            yield model, cell


def run_grid(spec: StudySpec, settings: StudySettings, progress: bool = False) -> list[CellRun]:
    """Run (or resume, or read from the store) every cell; one :class:`CellRun` each."""
    from cothub.api import evaluate, preflight

    configs = [(m, c, cell_config(c, settings)) for m, c in grid(spec, settings)]
    for model, _, config in configs:  # every cell checked before the first one spends
        preflight(config, [model], settings.base_url, None, settings.data_dir)
    out = []
    for model, cell, config in configs:
        result = evaluate(
            config,
            model=model,
            base_url=settings.base_url,
            data_dir=settings.data_dir,
            store_path=settings.store_path,
            show_progress=progress,
        )
        items = read_items(result.run_id, settings.store_path)
        out.append(
            CellRun(model, cell, result.run_id, items, result.usage.requests, result.usage.cached)
        )
    return out


def read_items(run_id: str, store_path: Path | None) -> dict[tuple[str, str], Item]:
    """A stored run's items: verdict, truncation, tokens and strategy numbers."""
    from cothub.store import open_store

    store = open_store(store_path, readonly=True)
    try:
        items = {}
        for rec in store.records(run_id):
            c = rec.completion
            items[(rec.task, rec.sample.id)] = Item(
                correct=rec.grade.correct,
                truncated=c.finish_reason == "length",
                prompt_tokens=c.prompt_tokens,
                completion_tokens=c.completion_tokens,
                stats=None if rec.stats is None else rec.stats.as_json(),
            )
        return items
    finally:
        store.close()
