"""Command line: argument parsing and pretty errors only.

Heavy modules (the openai SDK, datasets, rich tables) are imported inside commands, so that
``cothub --help`` answers instantly.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

try:  # typer >= 0.22 vendors click; older releases use the click package itself
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc  # type: ignore[no-redef]

from cothub.errors import CothubError, harmless, redact

if TYPE_CHECKING:
    from cothub.run import RunConfig, RunResult

app = typer.Typer(
    name="cothub",
    help="Evaluate LLM reasoning (GSM8K, MATH, MMLU, BBH) faithfully, fast, and crash-safe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from cothub import __version__

        typer.echo(f"cothub {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Evaluate LLM reasoning (GSM8K, MATH, MMLU, BBH) faithfully, fast, and crash-safe."""


class Api(str, Enum):
    chat = "chat"
    completions = "completions"


class Scoring(str, Enum):
    generate = "generate"
    loglikelihood = "loglikelihood"


class Effort(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"


_MAX_TOKENS = 10_000_000
"""Upper bound of the token options: far above any model's limit, far below an overflow."""

StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="SQLite store (default: $COTHUB_STORE, else cothub.db in the user data directory).",
    ),
]
PricesOpt = Annotated[
    Path | None,
    typer.Option(
        "--prices",
        help="Price file (JSON, USD per million tokens) consulted before the built-in table "
        "(default $COTHUB_PRICES).",
    ),
]
JudgeOpt = Annotated[
    str | None,
    typer.Option(
        "--judge",
        help="PROVIDER/MODEL asked for a second opinion on unparsed and disagreeing items "
        "after the run; stored beside the rule verdicts, which stay the headline.",
    ),
]
JudgeUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--judge-base-url",
        help="The judge's endpoint (default its provider's $..._BASE_URL; never --base-url).",
    ),
]

ModelTypeOpt = Annotated[
    str | None,
    typer.Option(
        "--model-type",
        help="What the model is, for the leaderboard's grouping: base, sft (instruction-tuned) "
        "or rlhf. Describes the model, not the run (no effect on the run id or the cache); "
        "change it later with `cothub models set`.",
    ),
]
ModelSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--model-size",
        help="The model's parameter count (7B, 1.5B, 70B, 8x7B), for the leaderboard's sorting; "
        "like --model-type, not part of the run.",
    ),
]


@app.command()
def run(
    tasks: Annotated[
        list[str],
        typer.Argument(
            help="Tasks, e.g. gsm8k bbh/navigate math:levels=4,5, or hub for all four; your own: "
            "jsonl:PATH, PATH.toml, PATH.py (`cothub tasks`)."
        ),
    ],
    models: Annotated[
        list[str],
        typer.Option(
            "--model", "-m", help="PROVIDER/MODEL, e.g. openai/gpt-4o-mini; repeat for several."
        ),
    ],
    base_url: Annotated[
        str | None,
        typer.Option(
            help="Endpoint (default $OPENAI_BASE_URL / $ANTHROPIC_BASE_URL, else the vendor's)."
        ),
    ] = None,
    replica_url: Annotated[
        list[str] | None,
        typer.Option(
            "--replica-url",
            help="Another server of the same model as --base-url (repeatable): requests spread "
            "over all of them (with --ray, one per worker); run id and cache stay --base-url's.",
        ),
    ] = None,
    api: Annotated[
        Api | None,
        typer.Option(
            help="chat messages (default) or text completions (the default with --scoring "
            "loglikelihood)."
        ),
    ] = None,
    scoring: Annotated[
        Scoring,
        typer.Option(
            help="generate answers, or loglikelihood: pick the most likely option of each "
            "multiple-choice item (hf/ models)."
        ),
    ] = Scoring.generate,
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="Prompt format (task default if unset).")
    ] = None,
    prompt_file: Annotated[
        str | None, typer.Option(help="Exemplar file or named set (original, complex).")
    ] = None,
    perturb: Annotated[
        str | None,
        typer.Option(
            help="Transform the few-shot exemplars, seeded by --seed and recorded in the "
            "manifest: wrong-answers, invalid-rationale, shuffled-steps, no-rationale, "
            "irrelevant-rationale, random-labels."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Seeded, stable subset of N items (per sub-task).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for --limit, exemplar draws, sampling.")] = 0,
    concurrency: Annotated[
        int, typer.Option(min=1, max=4096, help="Requests kept in flight.")
    ] = 32,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            min=1, max=_MAX_TOKENS, help="Token limit per completion (task default if unset)."
        ),
    ] = None,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0, help="0 = greedy.")] = 0.0,
    top_p: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    reasoning_effort: Annotated[
        Effort | None,
        typer.Option(help="Reasoning effort sent to reasoning models (openai/ backends)."),
    ] = None,
    thinking_budget: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=_MAX_TOKENS,
            help="Thinking tokens (anthropic/ extended thinking, temperature 1).",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request attempt.")] = 120.0,
    max_retries: Annotated[int, typer.Option(min=0, help="Retries per request.")] = 6,
    rpm: Annotated[
        float | None, typer.Option(min=0.001, help="Requests per minute allowed, per model.")
    ] = None,
    tpm: Annotated[
        float | None, typer.Option(min=1.0, help="Tokens per minute allowed, per model.")
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            help="single, self-consistency:k=K[,temperature=T,top_p=P,batch=B], "
            "self-refine:rounds=R[,max_feedback_tokens=N], "
            "complexity:k=K[,m=M,temperature=T,select=complexity|random,batch=B], "
            "least-to-most[:max_subquestions=N], "
            "or program[:timeout=S,memory_mb=M,site_packages=B]."
        ),
    ] = "single",
    level: Annotated[
        list[int] | None, typer.Option(min=1, max=5, help="MATH difficulty level(s) to keep.")
    ] = None,
    max_context: Annotated[
        int | None,
        typer.Option(min=1, help="Model context in tokens; few-shot prompts are fitted into it."),
    ] = None,
    backoff: Annotated[
        float, typer.Option(min=0.0, help="First retry delay in seconds (doubles, jittered).")
    ] = 1.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Local data folder (default $COTHUB_DATA_DIR, else the Hub)."),
    ] = None,
    store: StoreOpt = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write machine-readable results here.")
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Budget in USD per model's run: no new request once it is spent (exit code 3); "
            "re-run with a higher one to resume.",
        ),
    ] = None,
    prices: PricesOpt = None,
    system_prompt: Annotated[
        str | None,
        typer.Option(
            "--system-prompt",
            help="System prompt put in front of every prompt (a system turn in chat, the head "
            "of a text prompt): TEXT, or @FILE to read it from a UTF-8 file.",
        ),
    ] = None,
    shots: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Few-shot exemplars to keep, at most what the format has (0: none); default: "
            "the format's own number.",
        ),
    ] = None,
    model_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--model-arg",
            help="KEY=VALUE load setting of hf/ models (repeatable): revision, dtype "
            "(auto, float32, float16, bfloat16), device (cpu, cuda, cuda:N, mps), peft (an "
            "adapter folder or Hub id), trust_remote_code (false unless set true).",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="I/N: only shard I (from 0) of N, by a stable hash of each item, into its own "
            "--store; auto/N takes I from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX. "
            "`cothub merge` unions the shard stores.",
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run requests as Ray tasks (pip install 'cothub[ray]'): a cluster address, "
            "auto (the cluster this machine is in) or local (start one here).",
        ),
    ] = None,
    plan_only: Annotated[bool, typer.Option("--plan-only", hidden=True)] = False,
    judge: JudgeOpt = None,
    judge_base_url: JudgeUrlOpt = None,
    model_type: ModelTypeOpt = None,
    model_size: ModelSizeOpt = None,
) -> None:
    """Evaluate a model on tasks; every sample is stored, cached and resumable.

    Exit codes: 0 done, 2 bad input, an unusable server or items that failed every retry
    (re-run the same command to resume), 3 stopped by --max-cost.
    """
    from cothub.cost import check_priced, load_prices
    from cothub.ratelimit import RateLimits
    from cothub.run import RetryPolicy, RunConfig
    from cothub.scale.shard import parse_shard
    from cothub.strategies import parse_strategy
    from cothub.tasks import PromptOptions

    _finite(
        temperature=temperature, top_p=top_p, timeout=timeout, rpm=rpm, tpm=tpm,
        backoff=backoff, max_cost=max_cost,
    )  # fmt: skip
    _check_names(tasks, "task", "e.g. cothub run gsm8k (see `cothub tasks`)")
    _check_names(models, "--model", "e.g. --model openai/gpt-4o-mini")
    _check_base_urls(base_url, models)
    _check_replicas(replica_url or [], models)
    _check_format(fmt)
    _check_output(json_path, "--json", write=True)
    _check_output(_store_path(store), "--store", write=True)
    _check_judge(judge, judge_base_url)
    described = _model_info(model_type, model_size)
    # Options are scored after one text prompt, as the original MMLU evaluation did.
    style = api or (Api.completions if scoring is Scoring.loglikelihood else Api.chat)
    price_table = load_prices(prices)  # a malformed price file fails before anything runs
    config = RunConfig(
        tasks=tuple(tasks),
        format=fmt,
        options=PromptOptions(
            style=style.value,
            prompt_file=prompt_file,
            seed=seed,
            perturb=_perturb_name(perturb),
            shots=shots,
            system_prompt=_system_prompt(system_prompt),
        ),
        limit=limit,
        seed=seed,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        concurrency=concurrency,
        timeout_s=timeout,
        retry=RetryPolicy(max_retries=max_retries, base_s=backoff),
        limits=RateLimits(rpm=rpm, tpm=tpm),
        where=(("level", tuple(str(v) for v in level)),) if level else (),
        max_context=max_context,
        reasoning_effort=reasoning_effort.value if reasoning_effort else None,
        thinking_budget=thinking_budget,
        strategy=parse_strategy(strategy),
        max_cost=max_cost,
        prices=price_table,
        scoring=scoring.value,
        shard=parse_shard(shard) if shard is not None else None,
    )
    if plan_only:  # `cothub plan RUN-ARGS`: what would be sent, nothing sent
        from cothub.api import preflight as check
        from cothub.scale.plan import plan_lines, plan_run

        checked = check(config, models, base_url, _model_args(model_arg or []), data_dir)
        estimates = plan_run(config, checked, base_url, data_dir, store)
        for line in plan_lines(estimates):
            typer.echo(line)
        if json_path is not None:
            from cothub.api import write_json

            write_json(json_path, {"plan": [e.as_json() for e in estimates]})
        return
    from cothub.api import preflight
    from cothub.models import parse_model

    model_args = _model_args(model_arg or [])
    # Every model checked (spec, key, script, model folder, settings) before the first runs.
    specs = preflight(config, models, base_url, model_args, data_dir)
    if max_cost is not None:
        check_priced(price_table, specs)
    # The model's, not the run's (no run id changes), named as its runs are: provider/name.
    _describe(store, [str(parse_model(s)) for s in specs], described)
    results = _evaluate_each(
        config, specs, base_url, data_dir, store, json_path, model_args, replica_url or [], ray
    )
    for r in results if judge is not None else []:  # a second opinion, beside the headline
        _judge_pass(
            r.run_id, str(judge), judge_base_url, store, prices, json_path, timeout_s=timeout,
            concurrency=concurrency, retry=RetryPolicy(max_retries=max_retries, base_s=backoff),
        )  # fmt: skip
    _exit_for(results, max_cost)


def _evaluate_each(
    config: RunConfig,
    specs: list[str],
    base_url: str | None,
    data_dir: Path | None,
    store: Path | None,
    json_path: Path | None,
    model_args: dict[str, str],
    replica_urls: list[str],
    ray: str | None,
) -> list[RunResult]:
    """Each model's run in turn, its table, usage line and extraction warnings printed as it
    ends; ``--json`` gets one run's shape, or ``{"runs": [...]}`` for several models."""
    from cothub.api import evaluate as evaluate_here
    from cothub.api import write_json

    results = []
    if ray is not None:  # requests as Ray tasks; this process alone writes the store
        from cothub.scale.ray_backend import on_ray

        evaluate = on_ray(ray)
    else:
        evaluate = evaluate_here
    for spec in specs:
        result = evaluate(
            config,
            model=spec,
            base_url=base_url,
            data_dir=data_dir,
            store_path=store,
            json_path=json_path if len(specs) == 1 else None,
            show_progress=True,  # a bar on a terminal, plain lines in a log (local or --ray)
            model_args=model_args,
            replica_urls=replica_urls,
        )
        results.append(result)
        # rich is imported here, once a run has ended: nothing before the first request waits
        # for it.
        from rich.console import Console

        from cothub.report.tables import summary_table, usage_line

        console = Console()
        out = result.as_json()
        console.print(summary_table(f"run {result.run_id} · {result.model}", out["tasks"]))  # type: ignore[arg-type]
        console.print(usage_line(result.usage.as_json(), result.wall_s))
        if result.status != "stopped":  # a partial run's rates say nothing yet
            _print_extraction_warnings(out["tasks"], result.run_id, store)
    if json_path is not None and len(specs) > 1:
        # Several models: one entry per model, each of the single-model shape.
        write_json(json_path, {"runs": [r.as_json() for r in results]})
    return results


def _exit_for(results: list[RunResult], max_cost: float | None) -> None:
    """Exit 0 only when every run is complete: 2 for failed items or an unfinished run (the same
    command resumes), 3 when --max-cost stopped one; one line says which and what to do."""
    stopped = [r for r in results if r.status == "stopped"]
    failed = [r for r in results if r.failed]
    unfinished = [r for r in results if r.status not in ("complete", "stopped") and not r.failed]
    if unfinished:  # a run that is not complete never exits 0, with or without failed items
        typer.echo(
            "cothub: "
            + "; ".join(f"run {r.run_id} ended {r.status}" for r in unfinished)
            + "; finished samples are saved, re-run the same command to resume",
            err=True,
        )
        if not stopped and not failed:
            raise SystemExit(2)
    if failed:  # items that failed every retry: not graded; the same command re-requests them
        typer.echo("cothub: " + "; ".join(r.failure_line for r in failed), err=True)
        if not stopped:
            raise SystemExit(2)
    if stopped:
        spent = ", ".join(f"run {r.run_id} has cost ${r.usage.cost_usd or 0:.4f}" for r in stopped)
        typer.echo(
            f"cothub: --max-cost ${max_cost or 0:g} reached ({spent}); finished samples are "
            "saved, re-run with a higher --max-cost to resume",
            err=True,
        )
        raise SystemExit(3)


@app.command()
def study(
    name: Annotated[
        str | None,
        typer.Argument(
            help="formats, perturb, consistency, budget, complexity, scaling or code-reasoning "
            "(omit with --spec)."
        ),
    ] = None,
    tasks: Annotated[
        list[str] | None,
        typer.Argument(help="Tasks (default: gsm8k; code-reasoning: humaneval + gsm8k math bbh)."),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="PROVIDER/MODEL; repeat for several (scaling)."),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option(help="A study of your own: a TOML file of cells and contrasts.")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the requests, tokens and dollars it would take; send nothing."
        ),
    ] = False,
    base_url: Annotated[str | None, typer.Option(help="Endpoint (as for `cothub run`).")] = None,
    api: Annotated[
        Api, typer.Option(help="chat (instruction-tuned) or completions (base models).")
    ] = Api.chat,
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="Prompt format of single-format studies.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Seeded subset of N items.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --limit, exemplars, perturbations.")] = 0,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.0,
    max_tokens: Annotated[int | None, typer.Option(min=1, max=_MAX_TOKENS)] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=4096)] = 32,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request attempt.")] = 120.0,
    k: Annotated[int, typer.Option(min=1, help="Chains per item (consistency, complexity).")] = 8,
    temperatures: Annotated[
        str, typer.Option(help="consistency: comma-separated sampling temperatures.")
    ] = "0.7",
    efforts: Annotated[
        str, typer.Option(help="budget: comma-separated reasoning efforts.")
    ] = "low,medium,high",
    budgets: Annotated[
        str | None, typer.Option(help="budget: comma-separated thinking budgets (tokens).")
    ] = None,
    perturbations: Annotated[
        str | None, typer.Option(help="perturb: comma-separated transforms (default: all).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Local data folder.")] = None,
    store: StoreOpt = None,
    prices: PricesOpt = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the study's findings here.")
    ] = None,
) -> None:
    """Run a study's grid (cached, resumable runs) and print its paired analysis."""
    from cothub.study.command import StudyArgs, study_command

    _check_output(json_path, "--json", write=True)
    args = StudyArgs(
        name=name,
        tasks=tuple(tasks or ()),
        models=tuple(models or ()),
        spec=spec,
        dry_run=dry_run,
        base_url=base_url,
        style=api.value,
        format=fmt,
        limit=limit,
        seed=seed,
        temperature=temperature,
        max_tokens=max_tokens,
        concurrency=concurrency,
        timeout_s=timeout,
        k=k,
        temperatures=temperatures,
        efforts=efforts,
        budgets=budgets,
        perturbations=perturbations,
        data_dir=data_dir,
        store=store,
        prices=prices,
        json_path=json_path,
    )
    study_command(args)


@app.command()
def runs(store: StoreOpt = None, prices: PricesOpt = None) -> None:
    """List stored runs: format, strategy, items evaluated of the benchmark's (n/N), status (a run
    whose process died reads ``interrupted``), headline and cost (priced with the price table)."""
    import datetime
    from collections import Counter

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from cothub.cost import load_prices, total_cost
    from cothub.report import leaderboard as lb
    from cothub.report.compare import usd
    from cothub.report.tables import pct, print_table
    from cothub.store import open_store

    _check_output(_store_path(store), "--store")
    db = open_store(store, readonly=True)
    table_prices = load_prices(prices)
    stored = db.runs()
    sizes = lb.full_sizes(stored)
    table = Table()
    for col in ("run", "created", "model", "tasks", "format", "strategy", "n/N", "status",
                "headline %", "cost"):  # fmt: skip
        table.add_column(col)
    for r in stored:
        summary = r.summary or {}
        heads = [f"{t} {pct(summary[t].accuracy)}" for t in r.tasks if t in summary]
        when = datetime.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M")
        formats = ",".join(dict.fromkeys(spec.format or "?" for _, spec in r.manifest.tasks))
        strat = r.manifest.strategy.spec() if r.manifest.strategy is not None else "-"
        used = db.sample_usage(r.run_id)
        done = Counter(u.task for u in used)
        counts = ",".join(lb.n_of_n(r, t, spec, sizes, done[t]) for t, spec in r.manifest.tasks)
        cost = total_cost([u.usage for u in used], table_prices.lookup(r.model))
        cells = (r.run_id, when, r.model, ",".join(r.tasks), formats, strat, counts, r.status,
                 " ".join(heads), "unpriced" if cost is None else usd(cost))  # fmt: skip
        table.add_row(*(Text(harmless(c)) for c in cells))
    print_table(Console(), table)


class BoardFormat(str, Enum):
    md = "md"
    csv = "csv"
    json = "json"


@app.command()
def leaderboard(
    store: StoreOpt = None,
    fmt: Annotated[BoardFormat, typer.Option("--format", help="md, csv or json.")] = BoardFormat.md,
    include_partial: Annotated[
        bool,
        typer.Option(
            "--include-partial",
            help="Also show runs on a subset (--limit, --where, partial imports), marked n of N, "
            "in cells no full-set run holds.",
        ),
    ] = False,
    published: Annotated[
        Path | None,
        typer.Option(
            "--published",
            help="The published Chain-of-Thought Hub leaderboard CSV (e.g. "
            "$COTHUB_REFERENCE_DIR/cot-hub-leaderboard.csv): its rows beside yours, marked "
            "published with their source.",
        ),
    ] = None,
    group_by: Annotated[
        str | None,
        typer.Option("--group-by", help="type: base, sft and rlhf models in groups."),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="size (largest first), type, model, or a benchmark (gsm8k, math, ...; best "
            "first) or one of its columns (gsm8k:zeroshot-cot); default gsm8k.",
        ),
    ] = None,
) -> None:
    """Models as rows, a column per task, format and strategy the store holds (GSM8K, MATH, MMLU,
    BBH first, then user and plugin tasks), each cell with its CI and run, and each model's type
    and size. A full-set run always wins its cell; runs on a subset are left out unless
    --include-partial."""
    from cothub.report import leaderboard as lb
    from cothub.store import open_store

    _check_output(_store_path(store), "--store")
    _check_output(published, "--published")
    rows = []
    if published is not None:
        from cothub.report.views import read_published

        rows = read_published(published)
    db = open_store(store, readonly=True)
    board = lb.build(
        db.runs(), include_partial=include_partial, models=db.model_info(), published=rows,
        group_by=group_by, sort=sort,
    )  # fmt: skip
    render = {"md": lb.to_markdown, "csv": lb.to_csv, "json": lb.to_json}[fmt.value]
    typer.echo(harmless(render(board)))


models_app = typer.Typer(
    help="What each model is (type base/sft/rlhf, size): list them, or set them after the fact.",
    no_args_is_help=False,
    rich_markup_mode=None,
)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models_list(ctx: typer.Context, store: StoreOpt = None) -> None:
    """List the store's models with their type, size and number of runs."""
    if ctx.invoked_subcommand is not None:
        return
    from collections import Counter

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from cothub.report.tables import print_table
    from cothub.store import open_store

    _check_output(_store_path(store), "--store")
    db = open_store(store, readonly=True)
    runs = Counter(r.model for r in db.runs())
    info = db.model_info()
    if not runs and not info:
        typer.echo("No models in this store yet: `cothub run TASK --model MODEL` makes a run.")
        return
    table = Table()
    for col in ("model", "type", "size", "runs"):
        table.add_column(col)
    for model in sorted(set(runs) | set(info)):
        got = info.get(model)
        cells = (model, got.type if got and got.type else "-",
                 got.size if got and got.size else "-", str(runs[model]))  # fmt: skip
        table.add_row(*(Text(harmless(c)) for c in cells))
    print_table(Console(), table)


@models_app.command("set")
def models_set(
    model: Annotated[
        str, typer.Argument(help="The model as its runs name it (see `cothub models`).")
    ],
    model_type: Annotated[
        str | None, typer.Option("--type", help="base, sft (instruction-tuned) or rlhf.")
    ] = None,
    size: Annotated[
        str | None, typer.Option("--size", help="Parameters: 7B, 1.5B, 70B, 8x7B.")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Set a model's type and/or size (what the leaderboard groups and sorts by); its runs,
    run ids and cached completions are not touched."""
    from cothub.modelinfo import check_size, check_type
    from cothub.store import open_store

    if model_type is None and size is None:
        _fail("give --type and/or --size, e.g. cothub models set openai/gpt-4o --type rlhf")
    kind = None if model_type is None else check_type(model_type, "--type")
    params = None if size is None else check_size(size, "--size")
    _check_output(_store_path(store), "--store", write=True)
    db = open_store(store)
    try:
        known = sorted({r.model for r in db.runs()} | set(db.model_info()))
        if model not in known:
            hint = f"; the store's models: {', '.join(known[:8])}" if known else ""
            _fail(f"no run of model {model!r} in this store{hint} (see `cothub models`)")
        now = db.set_model_info(model, kind, params)
    finally:
        db.close()
    typer.echo(harmless(f"{model}: type {now.type or '-'}, size {now.size or '-'}"))


@app.command()
def compare(
    run_ids: Annotated[
        list[str],
        typer.Argument(help="Two or more run ids (or unique prefixes); the first is the baseline."),
    ],
    store: StoreOpt = None,
    fmt: Annotated[BoardFormat, typer.Option("--format", help="md, csv or json.")] = BoardFormat.md,
    prices: PricesOpt = None,
) -> None:
    """Runs of the same benchmark side by side: accuracy, tokens, requests and cost per item,
    and each run against the first (accuracy change for the token multiple, McNemar test)."""
    from cothub.cost import load_prices
    from cothub.report import compare as cmp
    from cothub.store import open_store

    _check_output(_store_path(store), "--store")
    table = load_prices(prices)
    db = open_store(store, readonly=True)
    runs = [db.run(r) for r in run_ids]
    result = cmp.build(runs, {r.run_id: db.sample_usage(r.run_id) for r in runs}, table)
    render = {"md": cmp.to_markdown, "csv": cmp.to_csv, "json": cmp.to_json}[fmt.value]
    typer.echo(harmless(render(result)))


@app.command()
def rescore(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix) to re-grade.")],
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write the new run's summary and the changed items here."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Changed items to list at most.")] = 50,
    store: StoreOpt = None,
    judge: JudgeOpt = None,
    judge_base_url: JudgeUrlOpt = None,
) -> None:
    """Re-grade every stored completion of a run with today's graders (no request is sent);
    stored as a new run that records the run it came from; lists the items whose answer or
    verdict changed."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from cothub.report.tables import summary_table
    from cothub.rescoring import rescore as regrade

    _check_output(json_path, "--json", write=True)
    _check_output(_store_path(store), "--store", write=True)
    _check_judge(judge, judge_base_url)
    report = regrade(run_id, store, json_path)
    r = report.result
    console = Console()
    console.print(summary_table(harmless(f"run {r.run_id} · {r.model} · {r.status}"), r.summaries))
    if judge is not None:
        _judge_pass(r.run_id, judge, judge_base_url, store, None, json_path)
    n = len(report.changed)
    typer.echo(
        f"rescored run {report.manifest.rescored_from} as {r.run_id} with "
        f"{report.manifest.grader_version}: {report.items} items re-graded, {n} changed, "
        "0 requests sent"
    )
    if not n:
        return
    table = Table(title=f"changed items ({min(n, limit)} of {n})", title_justify="left")
    for col in ("task", "item", "old answer", "new answer", "old", "new"):
        table.add_column(col)
    for c in report.changed[:limit]:
        old_v, new_v = ("correct" if v else "wrong" for v in (c.old_correct, c.new_correct))
        cells = (c.task, c.item_id, repr(c.old_answer), repr(c.new_answer), old_v, new_v)
        table.add_row(*(Text(harmless(x)) for x in cells))
    console.print(table)


@app.command("judge")
def judge_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix) to judge.")],
    judge: Annotated[
        str, typer.Option("--judge", "--model", "-m", help="The judge, PROVIDER/MODEL.")
    ],
    judge_base_url: JudgeUrlOpt = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=4096, help="Judge requests kept in flight.")
    ] = 8,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request attempt.")] = 120.0,
    max_retries: Annotated[int, typer.Option(min=0, help="Retries per request.")] = 6,
    backoff: Annotated[
        float, typer.Option(min=0.0, help="First retry delay in seconds (doubles, jittered).")
    ] = 1.0,
    prices: PricesOpt = None,
    store: StoreOpt = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the judge's summary here.")
    ] = None,
) -> None:
    """Ask a judge model (any backend) about a stored run's unparsed and disagreeing items only,
    with a short fixed prompt; its verdicts are stored beside the rule verdicts (the headline
    stays the rule accuracy) and cached: judging again sends nothing."""
    from cothub.run import RetryPolicy

    _finite(timeout=timeout, backoff=backoff)
    _check_output(json_path, "--json", write=True)
    _check_output(_store_path(store), "--store", write=True)
    _check_judge(judge, judge_base_url)
    report = _judge_pass(
        run_id, judge, judge_base_url, store, prices, None, concurrency=concurrency,
        timeout_s=timeout, retry=RetryPolicy(max_retries=max_retries, base_s=backoff),
    )  # fmt: skip
    if json_path is not None:
        from cothub.api import write_json

        write_json(json_path, report.as_json())


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    wrong: Annotated[bool, typer.Option("--wrong", help="List wrong samples.")] = False,
    unparsed: Annotated[
        bool, typer.Option("--unparsed", help="List samples with no answer.")
    ] = False,
    disagreements: Annotated[
        bool, typer.Option("--disagreements", help="List samples where checks disagree.")
    ] = False,
    every: Annotated[
        bool, typer.Option("--all", help="List every sample (up to --limit).")
    ] = False,
    prompt: Annotated[
        bool, typer.Option("--prompt", help="With each listed sample, the prompt as sent.")
    ] = False,
    judged: Annotated[
        bool, typer.Option("--judged", help="List only samples a judge model gave a verdict on.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="Samples to list at most.")] = 20,
    store: StoreOpt = None,
) -> None:
    """Print a run's settings and summary and, on request, the samples behind its numbers: the
    question, the prompt as sent (--prompt), thinking, the completion with the extracted answer
    marked, gold, verdict, the judge's verdicts (`cothub judge`) and the strategy's steps."""
    from rich.console import Console
    from rich.text import Text

    from cothub.report.tables import mark_span, print_table, prompt_text, shorten, summary_table
    from cothub.store import SampleFilter, open_store

    _check_output(_store_path(store), "--store")
    db = open_store(store, readonly=True)
    r = db.run(run_id)
    console = Console()
    title = harmless(f"run {r.run_id} · {r.model} · {r.status}")
    for label, value in _run_settings(r):
        _print_text(console, label, value)
    print_table(console, summary_table(title, r.summary or {}))
    if r.manifest.rescored_from:
        _print_text(console, "rescored", f"from run {r.manifest.rescored_from} with "
                    f"{r.manifest.grader_version}")  # fmt: skip
    verdicts: dict[tuple[str, str], list[Any]] = {}
    for j in db.judgements(r.run_id):
        verdicts.setdefault((j.task, j.item_id), []).append(j)
    if verdicts:
        from cothub.judge import summarize

        for judge, version in sorted({(j.judge, j.prompt_version) for js in verdicts.values()
                                      for j in js}):  # fmt: skip
            for task, summary in summarize(db, r.run_id, judge, version).items():
                _print_text(console, f"judge {judge} ({version}) on {task}", summary.brief())
    if not (wrong or unparsed or disagreements or every or prompt or judged):
        return
    asked = SampleFilter(
        wrong=wrong, unparsed=unparsed, disagreement=disagreements, judged=judged, limit=limit
    )
    for rec in db.records(r.run_id, asked):
        s, c, g = rec.sample, rec.completion, rec.grade
        console.rule(Text(harmless(f"{rec.task} {s.id}")))
        _print_text(console, "question", s.question)
        if prompt:
            _print_text(console, f"prompt ({rec.prompt.style})", prompt_text(rec.prompt))
        _print_completion(console, c.text, c.reasoning)
        marked = mark_span(c.text, g.span)
        if marked is not None:
            _print_text(console, "extracted", marked)
        verdict = "correct" if g.correct else "wrong"
        _print_text(
            console,
            "answer",
            f"{g.answer!r} ({g.method}) · gold {s.gold!r} · {verdict} · {c.finish_reason}",
        )
        if g.check.startswith("tests: "):  # a judged program's failure
            _print_text(console, "tests", g.check.removeprefix("tests: "))
        for j in verdicts.get((rec.task, s.id), []):  # a second opinion, beside the rule's
            reply = shorten(" ".join(j.raw.split()), 100)
            _print_text(console, f"judge {j.judge} ({j.prompt_version})",
                        f"{j.verdict} · asked: {j.reason} · reply {reply!r}")  # fmt: skip
        if rec.steps:
            answers = ", ".join(st.brief() for st in rec.steps)
            _print_text(console, f"{len(rec.steps)} steps", f"answers: {answers}")
            for i, st in enumerate(rec.steps, 1):
                _print_text(console, f"  step {i} {getattr(st, 'kind', 'option')}", st.brief())


def _run_settings(r: Any) -> list[tuple[str, str]]:
    """What ``show`` prints of a run's manifest: everything that can move its numbers."""
    m = r.manifest
    out = [("model", f"{r.model} ({m.prompt_style})")]
    for name, spec in m.tasks:
        bits = [f"format {spec.format or '?'}", f"version {spec.version}", f"{spec.items} items"]
        if spec.params:
            bits.append("params " + ",".join(f"{k}={v}" for k, v in spec.params))
        if spec.subsets:
            bits.append("subsets " + ",".join(spec.subsets))
        if spec.where:
            bits.append("where " + ";".join(f"{k}={','.join(v)}" for k, v in spec.where))
        if spec.exemplars[0] != "none":
            bits.append(f"exemplars {spec.exemplars[0]}")
        if spec.generation is not None:
            gen = spec.generation.as_json().items()
            bits.append("generation " + ",".join(f"{k}={v}" for k, v in gen if v is not None))
        out.append((f"task {name}", " · ".join(bits)))
    if m.selection is not None:
        limit, seed = m.selection
        out.append(("selection", f"{'all items' if limit is None else f'--limit {limit}'}, "
                                 f"seed {seed}"))  # fmt: skip
    out.append(("strategy", m.strategy.spec() if m.strategy is not None else "- (import)"))
    if m.scoring:
        out.append(("scoring", m.scoring))
    out.append(("grader", m.grader_version or m.grader or "?"))
    return out


def _print_completion(console: Any, text: str, reasoning: str | None) -> None:
    """The thinking (shortened: it can run to thousands of words) above the answer text; an
    inline ``<think>`` block is shown once, as the thinking, not again inside the completion."""
    from cothub.extract.reasoning import split_thinking
    from cothub.report.tables import shorten

    answer, inline = split_thinking(text)
    shown = reasoning or inline  # rows stored before inline thinking was copied have none
    if shown:
        _print_text(console, "reasoning", shorten(shown))
    if inline and answer is None:
        text = "(the thinking never closed: no answer)"
    elif inline and answer is not None:
        text = answer.strip()
    _print_text(console, "completion", text)


def _print_text(console: Any, label: str, text: str) -> None:
    """A bold label and model text, which is never markup (a ``[/INST]`` in it is shown) and
    never a terminal command (escape sequences are shown as ``\\x1b``...).

    The text is written as it is, not laid out by rich: wrapping a 5 MB completion cell by
    cell took rich 15 s; the terminal wraps long lines itself.
    """
    from rich.text import Text

    console.print(Text(label, style="bold"), end=" ")
    console.file.write(harmless(text) + "\n")
    console.file.flush()


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def plan(ctx: typer.Context) -> None:
    """What `cothub run RUN-ARGS` would send: items, requests, cache hits, estimated tokens
    and dollars; nothing is sent (--json PATH writes it)."""
    run_cmd = typer.main.get_command(app).get_command(ctx, "run")  # type: ignore[attr-defined]
    args = list(ctx.args)
    if "--help" in args or not args:
        typer.echo("Usage: cothub plan TASKS... --model M [any `cothub run` option]")
        return
    sub = run_cmd.make_context("cothub plan", [*args, "--plan-only"], parent=ctx)
    run_cmd.invoke(sub)


@app.command()
def merge(
    out: Annotated[Path, typer.Argument(help="The store to merge into (made if missing).")],
    shards: Annotated[list[Path], typer.Argument(help="Shard stores of one run.")],
    run_id: Annotated[
        str | None, typer.Option("--run", help="The run to merge, where a store holds several.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the merge report here.")
    ] = None,
) -> None:
    """Union shard stores of one run (`cothub run ... --shard I/N`) into OUT; idempotent.

    Exit codes: 0 the merged run is complete, 1 items or shards are still missing, 2 bad input.
    """
    from cothub.scale.merge import merge as merge_stores

    report = merge_stores(out, shards, run_id)
    for line in report.lines():
        typer.echo(line)
    if json_path is not None:
        from cothub.api import write_json

        write_json(json_path, report.as_json())
    if report.status != "complete":
        raise SystemExit(1)


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


@app.command()
def report(
    run_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Run ids (or unique prefixes); none: every stored run."),
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    board: Annotated[
        bool,
        typer.Option(
            "--leaderboard",
            help="Without run ids: the leaderboard's runs (the most complete, most recent run per "
            "model, benchmark and format) instead of every run.",
        ),
    ] = False,
    published: Annotated[
        Path | None,
        typer.Option(
            "--published",
            help="The published Chain-of-Thought Hub leaderboard CSV shown beside your runs "
            "(default $COTHUB_REFERENCE_DIR/cot-hub-leaderboard.csv).",
        ),
    ] = None,
    studies: Annotated[
        list[Path] | None,
        typer.Option(
            "--study",
            help="A study result (`cothub study ... --json FILE`) to draw in a Studies section; "
            "repeat for several.",
        ),
    ] = None,
    store: StoreOpt = None,
    prices: PricesOpt = None,
) -> None:
    """Write one self-contained HTML report (opens offline): provenance, the leaderboard with
    the published rows, plots (and each --study's plot) and the grader panel."""
    from cothub.cost import load_prices
    from cothub.report import html as report_html
    from cothub.report import views as rv
    from cothub.store import open_store

    _check_output(_store_path(store), "--store")
    _check_output(output, "-o", write=True)
    results = [report_html.read_study(p) for p in studies or ()]
    db = open_store(store, readonly=True)
    ids = list(run_ids or [])
    if not ids and board:
        from cothub.report import leaderboard as lb

        chosen = lb.build(db.runs(), include_partial=True)  # subsets never beat full sets
        ids = sorted({c.run_id for row in chosen.rows for c in row.cells.values()})
    views = rv.collect(db, ids, load_prices(prices))
    path = published or rv.default_published_path()
    if path is not None:
        rows, note = rv.read_published(path), f"published rows from {path.name}"
    else:
        rows, note = [], "published rows: none (pass --published FILE or set $COTHUB_REFERENCE_DIR)"
    output.write_text(
        report_html.report_document(views, rows, note, studies=results), encoding="utf-8"
    )
    more = f", {len(results)} studies" if results else ""
    typer.echo(f"wrote {output} ({len(views)} runs, {len(rows)} published rows{more})")
    if path is None:
        typer.echo(
            "no published leaderboard found: pass --published PATH/cot-hub-leaderboard.csv or "
            "set COTHUB_REFERENCE_DIR to the folder holding it",
            err=True,
        )


@app.command()
def view(
    store: StoreOpt = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Interface to listen on (default: this machine only).")
    ] = "127.0.0.1",
    published: Annotated[
        Path | None,
        typer.Option(
            "--published",
            help="The published Chain-of-Thought Hub leaderboard CSV shown beside your runs "
            "(default $COTHUB_REFERENCE_DIR/cot-hub-leaderboard.csv).",
        ),
    ] = None,
    prices: PricesOpt = None,
) -> None:
    """Browse a store in a local web app: runs, plots, samples with filters, two-run comparison
    (needs the view extra: pip install 'cothub[view]')."""
    from cothub.view import serve

    path = _store_path(store)
    _check_output(path, "--store")
    if not path.is_file():
        raise CothubError(f"no store at {path}; run `cothub run` first or pass --store")
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: serving {path} on {host}: anyone who can reach it reads it", err=True)
    typer.echo(f"cothub view of {path} on http://{host}:{port}/ (Ctrl-C stops it)")
    serve(path, host, port, prices, published)


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl, csv or parquet.")
    ] = ExportFormat.jsonl,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: stdout).")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Write every sample of a run with all its fields (schema: cothub.report.export)."""
    import sys

    from cothub.report.export import export as write
    from cothub.store import open_store

    _check_output(_store_path(store), "--store")
    _check_output(output, "-o", write=True)
    n = write(open_store(store, readonly=True), run_id, fmt.value, output, sys.stdout)
    if output is not None:
        typer.echo(f"wrote {n} samples to {output}")


@app.command("tasks")
def list_tasks(
    name: Annotated[
        str | None,
        typer.Argument(help="A task to show in full: every sub-task, format and parameter."),
    ] = None,
) -> None:
    """List tasks, their formats (the default marked) and sub-tasks; `cothub tasks bbh` lists
    every sub-task of one."""
    from cothub.tasks import TASKS, parameters

    if name is not None:
        _check_names([name], "task", "e.g. cothub tasks bbh")
        t = TASKS.get(name.strip().lower())
        if t is None:
            raise TASKS.unknown(name.strip(), " (see `cothub tasks`)")
        names = [getattr(f, "name", str(f)) for f in t.formats]
        default = getattr(t.default_format, "name", str(t.default_format))
        marked = [f + (" (default)" if f == default else "") for f in names]
        typer.echo(f"{t.name}: formats {', '.join(marked)}")
        typer.echo(f"default format: {default}")
        typer.echo(f"parameters: {', '.join(parameters(t)) or 'none'}")
        if t.subsets:
            typer.echo(f"{len(t.subsets)} sub-tasks (run one as {t.name}/NAME):")
            for sub in t.subsets:
                typer.echo(f"  {t.name}/{sub}")
        else:
            typer.echo("no sub-tasks")
        return
    for t in TASKS.values():
        formats = ", ".join(
            f"{f}" + (" (default)" if f == t.default_format else "") for f in t.formats
        )
        line = f"{t.name:8} formats: {formats}"
        if t.subsets:
            line += f"; {len(t.subsets)} sub-tasks ({t.name}/{t.subsets[0]}, ...)"
        line += f"; parameters: {', '.join(parameters(t))}"
        if TASKS.origin(t.name) != "cothub":
            line += f"; from {TASKS.origin(t.name)}"
        typer.echo(line)
    typer.echo(
        "Parameters: NAME:key=value,... (e.g. math:levels=4,5). Your own tasks: jsonl:PATH, "
        "PATH.toml or PATH.py (README, User-defined tasks)."
    )


@app.command("import")
def import_(
    task: Annotated[
        str, typer.Argument(help="Benchmark or sub-task answered, e.g. gsm8k, bbh, bbh/snarks.")
    ],
    files: Annotated[list[Path], typer.Argument(help="JSON / JSONL files of records.")],
    model_name: Annotated[str, typer.Option("--model-name", help="Model name to store.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="Prompt format answered (task default if unset)."),
    ] = None,
    prompt_field: Annotated[
        str | None, typer.Option(help="Dotted path of the prompt (default prompt, input).")
    ] = None,
    question_field: Annotated[
        str | None, typer.Option(help="Dotted path of the question (default question).")
    ] = None,
    id_field: Annotated[
        str | None,
        typer.Option(help="Dotted path of the item id, or @index for position (default id)."),
    ] = None,
    completion_field: Annotated[
        str | None,
        typer.Option(help="Dotted path of the completion (default completion, prediction, ...)."),
    ] = None,
    answer_field: Annotated[
        str | None,
        typer.Option(
            help="Dotted path of an answer the harness extracted or the model gave in a "
            "structured field; graded instead of the completion."
        ),
    ] = None,
    gold_field: Annotated[
        str | None,
        typer.Option(
            help="Dotted path of the record's own gold answer, graded against instead of the "
            "dataset's (outputs made on another revision of the data); recorded."
        ),
    ] = None,
    choices_field: Annotated[
        str | None,
        typer.Option(help="Dotted path of the record's own option list (with --gold-field)."),
    ] = None,
    stop: Annotated[
        list[str] | None,
        typer.Option(
            "--stop",
            help="Cut each completion at this text before grading (repeatable); default: the "
            "task's own stop sequences for its completion-style format.",
        ),
    ] = None,
    no_stop: Annotated[
        bool, typer.Option("--no-stop", help="Grade completions uncut (no stop sequences).")
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write machine-readable results here.")
    ] = None,
    store: StoreOpt = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Local data folder (default $COTHUB_DATA_DIR, else the Hub)."),
    ] = None,
    judge: JudgeOpt = None,
    judge_base_url: JudgeUrlOpt = None,
    model_type: ModelTypeOpt = None,
    model_size: ModelSizeOpt = None,
) -> None:
    """Score completions produced elsewhere (no model calls) and store them as a run."""
    from rich.console import Console

    from cothub.importer import Fields, ImportConfig, import_completions
    from cothub.report.tables import summary_table, usage_line

    _check_names([model_name], "--model-name", "e.g. --model-name gpt3-175b")
    _check_names([task], "task", "e.g. cothub import gsm8k FILE (see `cothub tasks`)")
    _check_format(fmt)
    _check_output(json_path, "--json", write=True)
    _check_output(_store_path(store), "--store", write=True)
    _check_judge(judge, judge_base_url)
    described = _model_info(model_type, model_size)
    fields = Fields(
        completion=completion_field,
        prompt=prompt_field,
        question=question_field,
        id=id_field,
        answer=answer_field,
        gold=gold_field,
        choices=choices_field,
    )
    if no_stop and stop:
        _fail("give --stop or --no-stop, not both")
    stops = () if no_stop else (tuple(_unescape(s) for s in stop) if stop else None)
    config = ImportConfig(task, tuple(files), model_name, fmt, fields, stops)
    report = import_completions(config, data_dir=data_dir, store_path=store, json_path=json_path)
    result = report.result
    _describe(store, [result.model], described)
    for line in report.lines():
        typer.echo(harmless(f"cothub: {line}"), err=True)
    out = result.as_json()
    console = Console()
    title = harmless(f"run {result.run_id} · {result.model}")
    console.print(summary_table(title, out["tasks"]))  # type: ignore[arg-type]
    console.print(usage_line(result.usage.as_json(), result.wall_s))
    _print_extraction_warnings(out["tasks"], result.run_id, store, imported=True)
    if judge is not None:
        _judge_pass(result.run_id, judge, judge_base_url, store, None, json_path)


def _model_info(model_type: str | None, model_size: str | None) -> tuple[str | None, str | None]:
    """--model-type and --model-size checked (one line naming what is allowed), before anything
    is sent or stored."""
    from cothub.modelinfo import check_size, check_type

    return (
        None if model_type is None else check_type(model_type),
        None if model_size is None else check_size(model_size),
    )


def _describe(store: Path | None, models: list[str], info: tuple[str | None, str | None]) -> None:
    """Record what the models are (type, size) in the store, beside their runs."""
    if info == (None, None):
        return
    from cothub.store import open_store

    db = open_store(store)
    try:
        for model in models:
            db.set_model_info(model, *info)
    finally:
        db.close()


def _unescape(text: str) -> str:
    r"""``--stop '\n\nQ:'``: the shell passes a backslash and an n; a stop means a newline."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


def _print_extraction_warnings(
    tasks: Any, run_id: str, store: Path | None, imported: bool = False
) -> None:
    """One stderr line per task whose answers are often unparsed or guessed (see metrics),
    saying how to look at those replies (and, for an import, how to read them differently)."""
    import shlex

    from cothub.scoring.metrics import extraction_warnings

    where = "" if store is None else f" --store {shlex.quote(str(store))}"
    advice = f"look at them with `cothub show {run_id} --unparsed{where}`"
    if imported:
        advice += "; --answer-field or --stop may read them (cothub import --help)"
    if isinstance(tasks, dict):
        for line in extraction_warnings(tasks, advice):
            typer.echo(harmless(f"cothub: {line}"), err=True)


# ---- checks made before anything is loaded or sent -------------------------------------------


def _finite(**values: float | None) -> None:
    """Float options: click's ranges let nan and inf through (nan fails no comparison)."""
    for name, value in values.items():
        if value is not None and not math.isfinite(value):
            flag = "--" + name.replace("_", "-")
            raise CothubError(f"{flag} must be a finite number, not {value}; e.g. {flag} 1")


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def _check_names(names: list[str], what: str, example: str) -> None:
    """Task and model names: not blank, no newlines or other control characters."""
    for name in names:
        if not name.strip():
            raise CothubError(f"{what} {name!r} is empty; {example}")
        if _has_control(name.strip()) and not name.startswith("fake/repeat:"):  # scripted text
            raise CothubError(
                f"{what} {name!r} holds a control character (newline, tab...); {example}"
            )
        provider, sep, rest = name.strip().partition("/")
        if what == "--model" and sep and provider and not rest.strip():
            raise CothubError(f"{what} {name!r} has an empty model name; {example}")


def _check_format(fmt: str | None) -> None:
    if fmt is not None and not fmt.strip():
        raise CothubError(
            "--format is empty; leave it out for the task's default (see `cothub tasks`)"
        )


_URL_EXAMPLE = "e.g. --base-url http://localhost:8000/v1"
_BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


def check_base_url(url: str, where: str = "--base-url") -> None:
    """An http(s) URL with a host and, if any, a port 1-65535; one clear line otherwise."""
    import ipaddress
    from urllib.parse import urlsplit

    shown = repr(url)
    if not url.strip():
        raise CothubError(f"{where} is empty; {_URL_EXAMPLE}")
    if any(c.isspace() for c in url) or _has_control(url):
        raise CothubError(f"{where} {shown} holds spaces or control characters; {_URL_EXAMPLE}")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as e:  # a bad IPv6 literal, a port out of range or not a number
        raise CothubError(f"{where} {shown} is not a valid URL ({e}); {_URL_EXAMPLE}") from None
    if parts.scheme not in ("http", "https"):
        raise CothubError(f"{where} {shown} must start with http:// or https://; {_URL_EXAMPLE}")
    if not host:
        raise CothubError(f"{where} {shown} names no host; {_URL_EXAMPLE}")
    if port == 0:
        raise CothubError(f"{where} {shown}: the port must be 1-65535; {_URL_EXAMPLE}")
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise CothubError(
                f"{where} {shown}: {host!r} is not an IPv6 address; {_URL_EXAMPLE}"
            ) from None


def _check_base_urls(base_url: str | None, models: list[str]) -> None:
    """``--base-url``, else each chosen provider's ``$..._BASE_URL``."""
    import os

    if base_url is not None:
        check_base_url(base_url)
        return
    providers = {m.strip().partition("/")[0] for m in models}
    for provider, env in _BASE_URL_ENV.items():
        value = os.environ.get(env)
        if provider in providers and value:
            check_base_url(value, f"${env}")


def _check_replicas(urls: list[str], models: list[str]) -> None:
    """``--replica-url``: each a URL, and only for models served at one."""
    from cothub.models import parse_model
    from cothub.models.replicas import check_replicas

    for url in urls:
        check_base_url(url, "--replica-url")
    for model in models if urls else []:
        check_replicas(parse_model(model), urls)


def _check_judge(judge: str | None, base_url: str | None) -> None:
    """``--judge`` and ``--judge-base-url``, checked before anything runs."""
    if judge is None:
        if base_url is not None:
            raise CothubError("--judge-base-url needs --judge MODEL; add it or drop the URL")
        return
    from cothub.models import parse_model

    parse_model(judge)
    if base_url is not None:
        check_base_url(base_url, "--judge-base-url")


def _judge_pass(
    run_id: str, judge: str, base_url: str | None, store: Path | None, prices: Path | None,
    json_path: Path | None, **options: Any,
) -> Any:  # fmt: skip
    """Ask the judge about a stored run's unsure items; print its lines; add it to --json."""
    from cothub.cost import load_prices
    from cothub.judge import JudgeOptions, add_to_json, judge_run

    opts = JudgeOptions(judge, base_url, prices=load_prices(prices), **options)
    report = judge_run(run_id, opts, store)
    for line in report.lines():
        typer.echo(harmless(line))
    if json_path is not None:
        add_to_json(json_path, report)
    return report


def _system_prompt(value: str | None) -> str | None:
    """``--system-prompt TEXT`` or ``@FILE`` (UTF-8, not empty); ``@@...`` is a text that
    starts with ``@``."""
    if value is None:
        return None
    if value.startswith("@@"):
        return value[1:]
    if value.startswith("@"):
        from cothub.data.source import read_text

        path = Path(value[1:]).expanduser()
        if not path.is_file():
            raise CothubError(
                f"--system-prompt {value}: no file {path}; give @FILE of a text file, or the text"
            )
        value = read_text(path, "--system-prompt", "give a UTF-8 text file").strip()
    if not value.strip():
        raise CothubError("--system-prompt is empty; give the text, or @FILE, or leave it out")
    return value


def _model_args(pairs: list[str]) -> dict[str, str]:
    """``--model-arg KEY=VALUE`` pairs; a key given twice is refused (which one would win?)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not key:
            raise CothubError(
                f"--model-arg {pair!r} is not KEY=VALUE; e.g. --model-arg dtype=bfloat16"
            )
        if key in out:
            raise CothubError(f"--model-arg {key} is given twice; keep one")
        out[key] = value.strip()
    return out


def _store_path(store: Path | None) -> Path:
    from cothub.store import default_store_path

    return store if store is not None else default_store_path()


def _check_output(path: Path | None, flag: str, write: bool = False) -> None:
    """A file cothub will write: not a folder, and no file where a folder must be; with
    ``write``, one this user may write (or create), found before any request is sent."""
    if path is None:
        return
    path = path.expanduser()
    if path.is_dir():
        raise CothubError(f"{flag} {path} is a folder; give a file path, e.g. {flag} {path}/out")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CothubError(
                    f"{flag} {path}: {parent} is a file, not a folder; choose another path"
                )
            if write:
                _probe_write(path, parent, flag)
            break


def _probe_write(path: Path, folder: Path, flag: str) -> None:
    """Try it: open an existing file for appending (nothing is written), else create and remove
    a scratch file in the nearest existing folder. Permission bits say nothing to root, nor
    about a read-only mount."""
    import os
    import tempfile

    try:
        if path.exists():
            with path.open("ab"):
                pass
        else:
            fd, scratch = tempfile.mkstemp(prefix=".cothub-probe-", dir=folder)
            os.close(fd)
            os.unlink(scratch)
    except OSError as e:
        where = path if path.exists() else folder
        raise CothubError(
            f"{flag} {path}: {where} is not writable ({e.strerror or e}); choose another path"
        ) from None


# ---- the entry point --------------------------------------------------------------------------


class _Redacting:
    """A text stream whose every write passes :func:`cothub.errors.redact`."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _redacting_output(entry: Callable[[list[str] | None], Any]) -> Callable[..., Any]:
    """Run ``entry`` with stdout and stderr redacted: nothing printed holds a known secret."""

    @functools.wraps(entry)
    def wrapped(argv: list[str] | None = None) -> Any:
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Redacting(out), _Redacting(err)
        try:
            return entry(argv)
        finally:
            sys.stdout, sys.stderr = out, err

    return wrapped


def _not_finite(e: Exception, argv: list[str]) -> str | None:
    """For ``--temperature nan``: click's range check says "should be less than or equal to
    2", which nan is not either; say what is wrong instead."""
    param = getattr(e, "param", None)
    flags = [f for f in getattr(param, "opts", ()) if f.startswith("--")]
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        if flag in flags and not eq and i + 1 < len(argv):
            value = argv[i + 1]
        elif flag not in flags:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if not math.isfinite(number):
            return f"{flag} must be a finite number, not {value!r}"
    return None


def _perturb_name(name: str | None) -> str | None:
    """``--perturb``: a known transform's name, checked before anything runs."""
    if name is None:
        return None
    from cothub.prompts.perturb import get_perturbation

    return get_perturbation(name).name


def _fail(message: str) -> NoReturn:
    line = " ".join(harmless(message).splitlines())
    typer.echo(redact(f"cothub: error: {line}"), err=True)
    raise SystemExit(2)


def _registered_help(command: Any, args: list[str]) -> None:
    """``run --help`` names every strategy registered now (plugins too); worked out only then,
    so that ``cothub --help`` imports no strategy."""
    if args[:1] != ["run"] or "--help" not in args:
        return
    from cothub.strategies import strategy_help

    for param in command.commands["run"].params:
        if param.name == "strategy":
            param.help = strategy_help()


@_redacting_output
def main(argv: list[str] | None = None) -> Any:
    """Entry point: every user error becomes one line on stderr and exit code 2."""
    command = typer.main.get_command(app)
    _registered_help(command, sys.argv[1:] if argv is None else argv)
    given = sys.argv[1:] if argv is None else argv
    try:
        code = command.main(args=argv, prog_name="cothub", standalone_mode=False)
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None
    except click_exc.NoArgsIsHelpError as e:  # plain ``cothub``: the help, as laid out
        typer.echo(e.ctx.get_help() if e.ctx else "Usage: cothub [OPTIONS] COMMAND [ARGS]...")
        raise SystemExit(0) from None
    except click_exc.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
        _fail((_not_finite(e, given) or e.format_message()) + hint)
    except typer.Abort:
        _interrupted(given)
    except CothubError as e:
        _fail(str(e))
    except OSError as e:  # a path that could not be read or written, named with the reason
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{e.strerror or e}; check that path (or pass another one)")
    except KeyboardInterrupt:
        _interrupted(given)
    if code == _SIGINT_EXIT:  # typer turns Ctrl-C into this exit code before we see it
        _interrupted(given)
    return code


_SIGINT_EXIT = 130
"""Exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it."""


def _interrupted(argv: list[str]) -> NoReturn:
    """Ctrl-C: one line, then exit code 130; a run says how to pick up where it stopped."""
    if argv[:1] == ["run"]:
        line = "interrupted; finished samples are saved, re-run the same command to resume"
    else:
        line = "interrupted"
    typer.echo(f"cothub: {line}", err=True)
    raise SystemExit(_SIGINT_EXIT)
