"""The programmatic entry points behind the CLI: evaluate a model, grade one completion."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.models import check_settings, make_backend, parse_model
from cothub.runner import Progress, RunConfig, Runner, RunResult, plan
from cothub.store import open_store
from cothub.tasks import resolve_task
from cothub.types import Grade, Sample


def evaluate(
    config: RunConfig,
    model: str,
    base_url: str | None = None,
    data_dir: str | Path | None = None,
    store_path: Path | None = None,
    json_path: Path | None = None,
    show_progress: bool = False,
) -> RunResult:
    """Run ``config`` against ``model``; samples land in the store as they complete."""
    spec = parse_model(model)
    data = DataSource.resolve(data_dir)
    plans = plan(config, data, config.options.style)
    for p in plans:  # before a backend loads anything (a local model takes minutes)
        check_settings(spec.provider, p.config)
    backend = make_backend(spec, config.options.style, base_url)
    store = open_store(store_path)
    progress: Progress | None = None
    if show_progress:
        from cothub.report.progress import RichProgress

        progress = RichProgress(str(spec))

    async def go() -> RunResult:
        try:
            return await Runner(backend, store, config, progress).run(plans)
        finally:
            await backend.aclose()

    try:
        result = asyncio.run(go())
    finally:
        store.close()
    if json_path is not None:
        write_json(json_path, result.as_json())
    return result


def parse_models(specs: list[str]) -> list[str]:
    """Check every ``--model`` up front, so a typo in the third model is caught before the first
    one spends anything; duplicates are dropped."""
    seen: list[str] = []
    for spec in specs:
        parse_model(spec)
        if spec not in seen:
            seen.append(spec)
    return seen


def write_json(path: Path, payload: object) -> None:
    """Write atomically, so a reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise CothubError(f"cannot write {path}: {e.strerror}; choose another --json path") from e


def grade(task: str, completion: str, gold: str, question: str = "", fmt: str = "") -> Grade:
    """Judge one completion against a gold answer exactly as a run would.

    ``task`` is a task or sub-task name (``gsm8k``, ``math``, ``bbh/date_understanding``,
    ``mmlu/anatomy``); ``question`` helps multiple-choice graders map option text to letters;
    ``fmt`` names the prompt format (``fewshot-direct`` ...) when it matters to the grader.
    """
    t, subset = resolve_task(task)
    return t.grade(Sample(id="", question=question, gold=gold, subset=subset), completion, fmt)
