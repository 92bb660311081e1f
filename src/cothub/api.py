"""The programmatic entry points behind the CLI: evaluate a model, grade one completion."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.models import Backend, ModelSpec, check_settings, parse_model
from cothub.models.replicas import check_replicas, make_replicated
from cothub.prompts.fit import counting_with
from cothub.run import Progress, RunConfig, Runner, RunResult, plan
from cothub.store import open_store
from cothub.tasks import resolve_task
from cothub.types import GenerateConfig, Grade, Sample


def evaluate(
    config: RunConfig,
    model: str,
    base_url: str | None = None,
    data_dir: str | Path | None = None,
    store_path: Path | None = None,
    json_path: Path | None = None,
    show_progress: bool = False,
    model_args: dict[str, str] | None = None,
    replica_urls: Sequence[str] = (),
) -> RunResult:
    """Run ``config`` against ``model``; samples land in the store as they complete.

    ``show_progress``: a bar on a terminal, else a line at start and one per task done (on
    stderr). ``model_args`` (``--model-arg``) are load settings of ``hf/`` models: ``revision``,
    ``dtype``, ``device``, ``peft`` and ``trust_remote_code``. ``replica_urls``
    (``--replica-url``): more endpoints of the same model, sharing the requests; the run id and
    cache keys stay ``base_url``'s (:mod:`cothub.models.replicas`)."""
    spec = parse_model(model)
    preflight(config, [model], base_url, model_args, data_dir)
    check_replicas(spec, replica_urls)
    data = DataSource.resolve(data_dir)
    # A local model counts prompt tokens with its tokenizer, known once it is loaded: until
    # then prompts are not fitted (the characters / 4 estimate could refuse one that fits).
    tokenized = spec.provider == "hf" and config.max_context is not None
    plans = plan(
        replace(config, max_context=None) if tokenized else config, data, config.options.style
    )
    for p in plans:  # before a backend loads anything (a local model takes minutes)
        check_settings(spec.provider, p.config)
    if model_args:
        from cothub.models.hf import HFBackend, load_options

        backend: Backend = HFBackend(
            spec.name, config.options.style, options=load_options(model_args)
        )
    else:
        backend = make_replicated(spec, config.options.style, base_url, replica_urls)
    store = open_store(store_path)
    progress: Progress | None = None
    if show_progress:  # a bar on a terminal, plain lines in a log
        from cothub.report.progress import progress_for

        progress = progress_for(str(spec))

    async def go() -> RunResult:
        try:
            return await Runner(backend, store, config, progress).run(plans)
        finally:
            await backend.aclose()

    counter = getattr(backend, "count_tokens", None)
    try:
        with counting_with(counter if callable(counter) else None):
            if tokenized:  # fitted now, every prompt counted in the model's own tokens
                plans = plan(config, data, config.options.style)
            result = asyncio.run(go())
    finally:
        store.close()
    if json_path is not None:
        write_json(json_path, result.as_json())
    return result


def preflight(
    config: RunConfig,
    models: list[str],
    base_url: str | None = None,
    model_args: dict[str, str] | None = None,
    data_dir: str | Path | None = None,
) -> list[str]:
    """Check every ``--model`` against everything that can be known without a request (the spec,
    the key, a script file, a local model folder, an SDK or engine installed, settings the
    backend cannot send), so that a mistake in the second model is caught before the first one
    spends anything. Returns the specs, duplicates dropped."""
    specs = parse_models(models)
    DataSource.resolve(data_dir)  # a data folder that is not there is named first
    from cothub.tasks import GROUPS

    for given in config.tasks:  # then the tasks, sub-tasks and format (nothing is loaded)
        for name in GROUPS.get(given.lower(), [given]):
            task, _ = resolve_task(name)
            task.prompt_format(config.format or "")
    for text in specs:
        spec = parse_model(text)
        check_settings(
            spec.provider,
            GenerateConfig(
                max_tokens=1,
                reasoning_effort=config.reasoning_effort,
                thinking_budget=config.thinking_budget,
            ),
        )
        if model_args and spec.provider != "hf":
            raise CothubError(
                f"--model-arg applies to hf/ models only, not {spec}; drop it or run that model "
                "in its own command"
            )
        _check_backend(spec, config, base_url, model_args or {})
    return specs


def _check_backend(
    spec: ModelSpec, config: RunConfig, base_url: str | None, model_args: dict[str, str]
) -> None:
    """What the provider's backend would refuse at construction, without building it (a local
    model takes minutes to load, a client opens connections)."""
    if spec.provider == "openai":
        from cothub.models.openai_api import check_endpoint

        check_endpoint(base_url)
    elif spec.provider == "anthropic":
        from cothub.models.anthropic_api import MIN_THINKING_BUDGET
        from cothub.models.anthropic_api import check_endpoint as check_anthropic

        check_anthropic(base_url)
        budget = config.thinking_budget
        if budget is not None and budget < MIN_THINKING_BUDGET:
            raise CothubError(
                f"--thinking-budget {budget} is below the API's minimum of "
                f"{MIN_THINKING_BUDGET} tokens; raise it"
            )
        if budget is not None and config.temperature != 1.0:
            raise CothubError(
                f"extended thinking samples at temperature 1 (an API rule), but the run asks for "
                f"{config.temperature:g}; pass --temperature 1"
            )
    elif spec.provider == "fake":
        from cothub.models.fake import FakeBackend

        FakeBackend(spec.name, config.options.style)  # reads and checks a script file
    elif spec.provider == "hf":
        from cothub.models.hf import preflight as check_hf

        if base_url is not None:
            raise CothubError(
                "--base-url does not apply to hf/ models (they run in this process); drop it"
            )
        check_hf(spec.name, model_args)
    elif spec.provider == "vllm":
        from cothub.models.vllm_offline import INSTALL_HINT

        if base_url is not None:
            raise CothubError(
                "--base-url does not apply to vllm/ models (they run in this process); drop it, "
                "or use openai/MODEL --base-url URL for a vLLM server"
            )
        if not installed("vllm"):
            raise CothubError(f"vllm/ models need the vllm package: {INSTALL_HINT}")


def installed(package: str) -> bool:
    """Importable, without importing it (vllm takes seconds); a module set to None in
    ``sys.modules`` (blocked) is not."""
    import importlib.util
    import sys

    if package in sys.modules:
        return sys.modules[package] is not None
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


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
    from cothub.extract.choice import parse_choices  # not imported by a run that needs none

    choices = parse_choices(question)  # once, as a task's adapter reads them
    sample = Sample(id="", question=question, gold=gold, subset=subset, choices=choices)
    return t.grade(sample, completion, fmt)
