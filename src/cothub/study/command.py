"""``cothub study``: the command's options -> a spec and settings -> a table, ``--json``.

Kept out of ``cli.py`` (argument parsing only) and imported when the command runs, so that
``cothub --help`` stays instant.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from cothub.errors import CothubError
from cothub.study.execute import StudySettings
from cothub.study.spec import StudyOptions, StudySpec, builtin, load_spec, with_tasks
from cothub.types import ApiStyle

if TYPE_CHECKING:
    from rich.console import Console

    from cothub.study.dryrun import CellCost

DEFAULT_TASKS = ("gsm8k",)


@dataclass(frozen=True, slots=True)
class StudyArgs:
    """What ``cothub study`` was given, as parsed."""

    name: str | None
    tasks: tuple[str, ...]
    models: tuple[str, ...]
    spec: Path | None = None
    dry_run: bool = False
    base_url: str | None = None
    style: ApiStyle = "chat"
    format: str | None = None
    limit: int | None = None
    seed: int = 0
    temperature: float = 0.0
    max_tokens: int | None = None
    concurrency: int = 32
    timeout_s: float = 120.0
    k: int = 8
    temperatures: str = "0.7"
    efforts: str = "low,medium,high"
    budgets: str | None = None
    perturbations: str | None = None
    data_dir: Path | None = None
    store: Path | None = None
    prices: Path | None = None
    json_path: Path | None = None


def _split(text: str | None, what: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in (text or "").split(",") if p.strip())
    if text is not None and not parts:
        raise CothubError(f"{what} is empty; give a comma-separated list")
    return parts


def resolve(args: StudyArgs) -> tuple[StudySpec, StudySettings]:
    """The study to run and the settings every cell shares; a user error is one line."""
    tasks = args.tasks
    if args.spec is not None:
        if args.name is not None:  # with --spec, the first positional word is a task
            tasks = (args.name, *tasks)
        spec = load_spec(args.spec)
    elif args.name is None:
        raise CothubError("name a study (formats, perturb, ...) or give --spec FILE.toml")
    else:
        try:
            temps = tuple(float(t) for t in _split(args.temperatures, "--temperatures"))
            budgets = tuple(int(b) for b in _split(args.budgets, "--budgets"))
        except ValueError as e:
            raise CothubError(f"--temperatures / --budgets take numbers: {e}") from e
        from cothub.prompts.perturb import get_perturbation

        chosen = _split(args.perturbations, "--perturbations")
        options = StudyOptions(
            k=args.k,
            temperatures=temps,
            efforts=_split(args.efforts, "--efforts"),
            budgets=budgets,
            perturbations=tuple(get_perturbation(p).name for p in chosen)
            or StudyOptions().perturbations,
            format=args.format,
            tasks=tasks or DEFAULT_TASKS,
        )
        code = args.name.strip().lower() == "code-reasoning"
        if code:  # the command's tasks are the reasoning side; HumanEval is always run
            options = replace(options, tasks=tasks)
        spec = builtin(args.name, options)
        if code:
            tasks = ()
    spec = with_tasks(spec, tasks)
    if not args.models:
        raise CothubError("give --model PROVIDER/MODEL (repeat it for several, e.g. scaling)")
    if spec.analysis in ("scaling", "code-reasoning") and len(args.models) < 2:
        raise CothubError(f"the {spec.analysis} study needs two or more --model")
    settings = StudySettings(
        models=args.models,
        tasks=spec.tasks or DEFAULT_TASKS,
        style=args.style,
        limit=args.limit,
        seed=args.seed,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        concurrency=args.concurrency,
        timeout_s=args.timeout_s,
        base_url=args.base_url,
        data_dir=args.data_dir,
        store_path=args.store,
    )
    return spec, settings


def study_command(args: StudyArgs) -> None:
    """Run or cost the study, print its tables, write ``--json``."""
    from rich.console import Console

    from cothub.api import write_json

    spec, settings = resolve(args)
    console = Console()
    if args.dry_run:
        from cothub.cost import load_prices
        from cothub.study.dryrun import estimate

        costs = estimate(spec, settings, load_prices(args.prices))
        _print_costs(costs, console)
        if args.json_path is not None:
            write_json(args.json_path, {"study": spec.name, "cells": [c.as_json() for c in costs]})
        return
    from cothub.study import run_study
    from cothub.study.tables import print_result

    result = run_study(spec, settings, progress=sys.stderr.isatty())
    print_result(result, console)
    if args.json_path is not None:
        write_json(args.json_path, result.as_json())


def _print_costs(costs: list[CellCost], console: Console) -> None:
    from rich.table import Table

    t = Table(title="dry run: what the study still needs (cache hits excluded)")
    for col in ("model", "cell", "items", "stored", "requests", "prompt tok", "max compl tok", "$"):
        t.add_column(col, justify="left" if col in ("model", "cell") else "right")
    for c in costs:
        usd = "unpriced" if c.usd is None else f"{c.usd:.4f}"
        t.add_row(
            c.model,
            c.cell,
            str(c.items),
            str(c.stored),
            str(c.requests),
            f"{c.prompt_tokens:,}",
            f"{c.completion_tokens:,}",
            usd,
        )
    console.print(t)
    priced = [c.usd for c in costs if c.usd is not None]
    total = f"${sum(priced):.4f}" if len(priced) == len(costs) else "unpriced models present"
    requests = sum(c.requests for c in costs)
    tokens = sum(c.prompt_tokens + c.completion_tokens for c in costs)
    console.print(f"total: {requests} requests, at most {tokens:,} tokens, {total}")
