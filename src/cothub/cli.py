"""Command line: argument parsing and pretty errors only.

Heavy modules (the openai SDK, datasets, rich tables) are imported inside commands, so that
``cothub --help`` answers instantly.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

try:  # typer >= 0.22 vendors click; older releases use the click package itself
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc  # type: ignore[no-redef]

from cothub.errors import CothubError

app = typer.Typer(
    name="cothub",
    help="Evaluate LLM reasoning (GSM8K, MATH, MMLU, BBH) faithfully, fast, and crash-safe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


@app.command()
def run(
    tasks: Annotated[
        list[str], typer.Argument(help="Tasks, e.g. gsm8k bbh/navigate, or hub for all four.")
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
    limit: Annotated[
        int | None, typer.Option(min=1, help="Seeded, stable subset of N items (per sub-task).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for --limit, exemplar draws, sampling.")] = 0,
    concurrency: Annotated[
        int, typer.Option(min=1, max=4096, help="Requests kept in flight.")
    ] = 32,
    max_tokens: Annotated[
        int | None, typer.Option(min=1, help="Token limit per completion (task default if unset).")
    ] = None,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0, help="0 = greedy.")] = 0.0,
    top_p: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    reasoning_effort: Annotated[
        Effort | None,
        typer.Option(help="Reasoning effort sent to reasoning models (openai/ backends)."),
    ] = None,
    thinking_budget: Annotated[
        int | None,
        typer.Option(min=1, help="Thinking tokens (anthropic/ extended thinking, temperature 1)."),
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
) -> None:
    """Evaluate a model on tasks; every sample is stored, cached and resumable.

    Exit codes: 0 done, 2 bad input or an unusable server, 3 stopped by --max-cost.
    """
    from cothub.api import evaluate
    from cothub.cost import check_priced, load_prices
    from cothub.ratelimit import RateLimits
    from cothub.runner import RetryPolicy, RunConfig
    from cothub.strategies import parse_strategy
    from cothub.tasks import PromptOptions

    # Options are scored after one text prompt, as the original MMLU evaluation did.
    style = api or (Api.completions if scoring is Scoring.loglikelihood else Api.chat)
    price_table = load_prices(prices)  # a malformed price file fails before anything runs
    config = RunConfig(
        tasks=tuple(tasks),
        format=fmt,
        options=PromptOptions(style=style.value, prompt_file=prompt_file, seed=seed),
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
    )
    from rich.console import Console

    from cothub.api import parse_models, write_json
    from cothub.report.tables import summary_table, usage_line

    specs = parse_models(models)  # every spec checked before the first model runs
    if max_cost is not None:
        check_priced(price_table, specs)
    console = Console()
    results = []
    for spec in specs:
        result = evaluate(
            config,
            model=spec,
            base_url=base_url,
            data_dir=data_dir,
            store_path=store,
            json_path=json_path if len(specs) == 1 else None,
            show_progress=sys.stderr.isatty(),
        )
        results.append(result)
        out = result.as_json()
        console.print(summary_table(f"run {result.run_id} · {result.model}", out["tasks"]))  # type: ignore[arg-type]
        console.print(usage_line(result.usage.as_json(), result.wall_s))
    if json_path is not None and len(specs) > 1:
        # Several models: one entry per model, each of the single-model shape.
        write_json(json_path, {"runs": [r.as_json() for r in results]})
    stopped = [r for r in results if r.status == "stopped"]
    if stopped:
        spent = ", ".join(f"run {r.run_id} has cost ${r.usage.cost_usd or 0:.4f}" for r in stopped)
        typer.echo(
            f"cothub: --max-cost ${max_cost:g} reached ({spent}); finished samples are saved, "
            "re-run with a higher --max-cost to resume",
            err=True,
        )
        raise SystemExit(3)


@app.command()
def runs(store: StoreOpt = None) -> None:
    """List stored runs."""
    import datetime

    from rich.console import Console
    from rich.table import Table

    from cothub.report.tables import pct
    from cothub.store import open_store

    table = Table()
    for col in ("run", "created", "model", "tasks", "status", "headline %"):
        table.add_column(col)
    for r in open_store(store).runs():
        summary = r.summary or {}
        heads = [f"{t} {pct(summary[t]['accuracy'])}" for t in r.tasks if t in summary]
        when = datetime.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M")
        table.add_row(r.run_id, when, r.model, ",".join(r.tasks), r.status, " ".join(heads))
    Console().print(table)


class BoardFormat(str, Enum):
    md = "md"
    csv = "csv"
    json = "json"


@app.command()
def leaderboard(
    store: StoreOpt = None,
    fmt: Annotated[BoardFormat, typer.Option("--format", help="md, csv or json.")] = BoardFormat.md,
) -> None:
    """Models as rows, GSM8K / MATH / MMLU / BBH as columns, each cell with its CI and run."""
    from cothub.report import leaderboard as lb
    from cothub.store import open_store

    board = lb.build(open_store(store).runs())
    render = {"md": lb.to_markdown, "csv": lb.to_csv, "json": lb.to_json}[fmt.value]
    typer.echo(render(board))


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

    table = load_prices(prices)
    db = open_store(store)
    runs = [db.run(r) for r in run_ids]
    result = cmp.build(runs, {r.run_id: db.sample_usage(r.run_id) for r in runs}, table)
    render = {"md": cmp.to_markdown, "csv": cmp.to_csv, "json": cmp.to_json}[fmt.value]
    typer.echo(render(result))


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
    limit: Annotated[int, typer.Option(min=1, help="Samples to list at most.")] = 20,
    store: StoreOpt = None,
) -> None:
    """Print a run's summary and, on request, the samples behind its numbers."""
    from rich.console import Console

    from cothub.report.tables import summary_table
    from cothub.store import open_store

    db = open_store(store)
    r = db.run(run_id)
    console = Console()
    console.print(summary_table(f"run {r.run_id} · {r.model} · {r.status}", r.summary or {}))
    wheres = []
    if wrong:
        wheres.append("correct = 0")
    if unparsed:
        wheres.append("answer IS NULL")
    if disagreements:
        wheres.append("disagreement = 1")
    if not wheres:
        return
    for s in db.samples(r.run_id, " OR ".join(wheres), limit):
        console.rule(f"{s['task']} {s['item_id']}")
        console.print("[bold]question[/bold]", s["question"], markup=True, highlight=False)
        _print_completion(console, s["completion"], s.get("reasoning"))
        console.print(
            f"[bold]answer[/bold] {s['answer']!r} ({s['method']}) · [bold]gold[/bold] "
            f"{s['gold']!r} · {'correct' if s['correct'] else 'wrong'} · {s['finish_reason']}",
            highlight=False,
        )
        if s.get("steps"):
            steps = json.loads(s["steps"])
            # Log-likelihood steps hold an option and its score rather than an answer.
            answers = ", ".join(
                repr(st["answer"])
                if "answer" in st
                else f"{st.get('option')!r}={st.get('loglikelihood')}"
                for st in steps
            )
            console.print(f"[bold]{len(steps)} steps[/bold] answers: {answers}", highlight=False)


def _print_completion(console: Any, text: str, reasoning: str | None) -> None:
    """The thinking (shortened: it can run to thousands of words) above the answer text; an
    inline ``<think>`` block is shown once, as the thinking, not again inside the completion.
    Model text is escaped: a ``[/INST]`` in it is not rich markup."""
    from rich.markup import escape

    from cothub.extract.reasoning import split_thinking
    from cothub.report.tables import shorten

    answer, inline = split_thinking(text)
    shown = reasoning or inline  # rows stored before inline thinking was copied have none
    if shown:
        console.print(f"[bold]reasoning[/bold] {escape(shorten(shown))}", highlight=False)
    if inline and answer is None:
        text = "(the thinking never closed: no answer)"
    elif inline and answer is not None:
        text = answer.strip()
    console.print(f"[bold]completion[/bold] {escape(text)}", highlight=False)


@app.command("tasks")
def list_tasks() -> None:
    """List tasks, their formats and sub-tasks."""
    from cothub.tasks import TASKS

    for t in TASKS.values():
        formats = ", ".join(f + (" (default)" if f == t.default_format else "") for f in t.formats)
        line = f"{t.name:8} formats: {formats}"
        if t.subsets:
            line += f"; {len(t.subsets)} sub-tasks ({t.name}/{t.subsets[0]}, ...)"
        typer.echo(line)


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
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write machine-readable results here.")
    ] = None,
    store: StoreOpt = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Local data folder (default $COTHUB_DATA_DIR, else the Hub)."),
    ] = None,
) -> None:
    """Score completions produced elsewhere (no model calls) and store them as a run."""
    from rich.console import Console

    from cothub.importer import Fields, ImportConfig, import_completions
    from cothub.report.tables import summary_table, usage_line

    fields = Fields(
        completion=completion_field, prompt=prompt_field, question=question_field, id=id_field
    )
    config = ImportConfig(task, tuple(files), model_name, fmt, fields)
    report = import_completions(config, data_dir=data_dir, store_path=store, json_path=json_path)
    result = report.result
    for line in report.lines():
        typer.echo(f"cothub: {line}", err=True)
    out = result.as_json()
    console = Console()
    console.print(summary_table(f"run {result.run_id} · {result.model}", out["tasks"]))  # type: ignore[arg-type]
    console.print(usage_line(result.usage.as_json(), result.wall_s))


def _fail(message: str) -> NoReturn:
    typer.echo(f"cothub: error: {message}", err=True)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: every user error becomes one line on stderr and exit code 2."""
    command = typer.main.get_command(app)
    try:
        return command.main(args=argv, prog_name="cothub", standalone_mode=False)
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None
    except click_exc.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
        _fail(e.format_message().replace("\n", " ") + hint)
    except typer.Abort:
        _fail("interrupted; finished samples are saved, re-run the same command to resume")
    except CothubError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted; finished samples are saved, re-run the same command to resume")
