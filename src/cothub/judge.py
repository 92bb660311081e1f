"""``--judge MODEL``: a second opinion, from any cothub backend, where the rules are unsure.

Only samples the rules are unsure of are sent: no answer found (``unparsed``) or two rules that
would give different verdicts (``disagreement``). The judge sees a short fixed prompt
(:data:`PROMPT`, versioned by :data:`PROMPT_VERSION` and recorded with every judgement): the
question, the reference answer and the model's reply with its thinking removed, and must answer
with exactly one line ``VERDICT: correct|incorrect|no-answer``. Anything else is recorded as
``judge-unparsed``, never guessed.

A judgement is stored beside the sample's rule verdict (the ``judgements`` table), never in place
of it: the headline stays the rule accuracy. :func:`summarize` reports, per task, the rule
accuracy, a judge-adjusted accuracy (the rule verdict, replaced by the judge's on judged items
only; a separate number, never the headline) and how often the judge agrees with the rule on
judged items where the rule found an answer.

Judge requests go through the completion cache under the same key function as runs
(:func:`cothub.run.cache_key_of`: the judge backend's identity, the prompt, the settings), so
judging a run again sends nothing; failures of a ``Retryable`` kind are retried with backoff;
tokens are priced by the price table (an unpriced judge costs None, not 0).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cothub.cost import PriceTable, load_prices
from cothub.errors import CothubError
from cothub.extract.reasoning import strip_thinking
from cothub.models import Backend, Retryable, make_backend, parse_model
from cothub.run import RetryPolicy, cache_key_of
from cothub.store import SampleFilter, Store, open_store
from cothub.store.sqlite import Judgement
from cothub.types import Completion, GenerateConfig, Message, Prompt, SampleRecord

__all__ = [
    "CONFIG",
    "PROMPT",
    "PROMPT_VERSION",
    "JudgeOptions",
    "JudgeReport",
    "JudgeSummary",
    "judge_prompt",
    "judge_run",
    "parse_verdict",
    "reason_of",
    "summaries_of",
    "summarize",
    "tally",
]

PROMPT_VERSION = "judge-v1"
"""Recorded with every judgement; change it whenever :data:`PROMPT` or :data:`CONFIG` changes."""

PROMPT = """You are checking one answer to a question against its reference answer.

Question:
{question}

Reference answer:
{reference}

The model's reply:
{reply}

Does the reply's final answer match the reference answer? Answer with exactly one line and nothing
else, one of:
VERDICT: correct
VERDICT: incorrect
VERDICT: no-answer
(no-answer: the reply commits to no final answer)"""

CONFIG = GenerateConfig(max_tokens=16, temperature=0.0)
"""Greedy and short: the one verdict line needs a few tokens."""

VERDICTS = ("correct", "incorrect", "no-answer")
UNPARSED = "judge-unparsed"
_LINE = re.compile(r"VERDICT: (correct|incorrect|no-answer)")


def reason_of(r: SampleRecord) -> str | None:
    """Why a sample goes to the judge (``unparsed``, ``disagreement``), or None: it does not."""
    if r.grade.unparsed:
        return "unparsed"
    if r.grade.disagreement:
        return "disagreement"
    return None


def judge_prompt(r: SampleRecord) -> Prompt:
    """The fixed judge prompt for one stored sample (its reply without the thinking)."""
    reply = strip_thinking(r.completion.text)
    reference = r.sample.gold
    if r.sample.choices:
        options = "\n".join(f"({chr(65 + i)}) {c}" for i, c in enumerate(r.sample.choices))
        reference = f"{reference}\nOptions:\n{options}"
    text = PROMPT.format(
        question=r.sample.question.strip(),
        reference=reference.strip(),
        reply=(reply or "").strip() or "(empty)",
    )
    return Prompt("chat", messages=(Message("user", text),))


def parse_verdict(text: str) -> str:
    """``correct``, ``incorrect`` or ``no-answer`` when the reply (thinking removed) is exactly
    one ``VERDICT: ...`` line; else ``judge-unparsed``. Strict: nothing is guessed."""
    answer = strip_thinking(text)
    if answer is None:
        return UNPARSED
    found = _LINE.fullmatch(answer.strip())
    return found.group(1) if found else UNPARSED


@dataclass(frozen=True, slots=True)
class JudgeOptions:
    """How to reach the judge and what its requests may take."""

    judge: str
    """``provider/model`` of the judge (any cothub backend)."""
    base_url: str | None = None
    """``--judge-base-url``: the judge's endpoint (default: its provider's environment
    variable, e.g. ``$OPENAI_BASE_URL``; never the judged run's ``--base-url``)."""
    concurrency: int = 8
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = 120.0
    prices: PriceTable | None = None
    """None: the built-in table under ``$COTHUB_PRICES``."""


@dataclass(frozen=True, slots=True)
class JudgeSummary:
    """Rule and judge-adjusted accuracy of one task (or ``all``) of a judged run."""

    n: int
    rule_correct: int
    judged: int
    """Samples with a judgement (unparsed or disagreement)."""
    judge_unparsed: int
    """Judged samples whose judge reply was not one verdict line (the rule verdict stays)."""
    adjusted_correct: int
    agree: int
    compared: int
    """Judged samples where the rule found an answer and the judge gave a verdict."""
    reasons: dict[str, int]
    verdicts: dict[str, int]

    @property
    def rule_accuracy(self) -> float | None:
        return self.rule_correct / self.n if self.n else None

    @property
    def adjusted_accuracy(self) -> float | None:
        """The rule verdicts with the judge's in place of them on judged items only: a second
        number beside the headline, never the headline."""
        return self.adjusted_correct / self.n if self.n else None

    @property
    def agreement(self) -> float | None:
        return self.agree / self.compared if self.compared else None

    def brief(self) -> str:
        """``k items judged, judge accuracy x% vs rule y%, agreement z%`` (judge accuracy: the
        judge-adjusted one), for ``show``, the report and the view."""
        return (
            f"{self.judged} item{'s' if self.judged != 1 else ''} judged, judge accuracy "
            f"{_pct(self.adjusted_accuracy)} vs rule {_pct(self.rule_accuracy)}, agreement "
            f"{_pct(self.agreement)} (of {self.compared})"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "n": self.n,
            "rule_accuracy": self.rule_accuracy,
            "rule_correct": self.rule_correct,
            "judge_adjusted_accuracy": self.adjusted_accuracy,
            "judge_adjusted_correct": self.adjusted_correct,
            "judged": self.judged,
            "judge_unparsed": self.judge_unparsed,
            "agreement": self.agreement,
            "agreement_n": self.compared,
            "reasons": dict(self.reasons),
            "verdicts": dict(self.verdicts),
        }


@dataclass(frozen=True, slots=True)
class JudgeReport:
    """What one judge pass over a run did and found."""

    run_id: str
    judge: str
    prompt_version: str
    summaries: dict[str, JudgeSummary]
    """Task -> its numbers, plus ``all`` over every task when there are several."""
    requests: int
    """Judge requests sent now (0 when every one came from the cache)."""
    cached: int
    failed: int
    """Items whose judge request failed after every retry (not stored; judge again to retry)."""
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    """Of every judgement of the run by this judge, at list price; None: the judge is unpriced."""

    def as_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "judge": self.judge,
            "prompt_version": self.prompt_version,
            "tasks": {k: v.as_json() for k, v in self.summaries.items()},
            "usage": {
                "requests": self.requests,
                "cached": self.cached,
                "failed": self.failed,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost_usd": self.cost_usd,
            },
        }

    def lines(self) -> list[str]:
        """One line per task, and one of usage, for the CLI."""
        out = []
        for task, s in self.summaries.items():
            out.append(
                f"judge {self.judge} on {task}: rule accuracy {_pct(s.rule_accuracy)} (headline)"
                f" · judge-adjusted {_pct(s.adjusted_accuracy)} · agreement "
                f"{_pct(s.agreement)} of {s.compared} · judged {s.judged} of {s.n} "
                f"({_counts(s.reasons)}), judge-unparsed {s.judge_unparsed}"
            )
        cost = "unpriced" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        failed = f", {self.failed} failed (judge again to retry)" if self.failed else ""
        out.append(
            f"judge {self.judge} ({self.prompt_version}): {self.requests} requests sent, "
            f"{self.cached} cached{failed}, {self.prompt_tokens}+{self.completion_tokens} tokens, "
            f"cost {cost}"
        )
        return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"


def summarize(
    store: Store, run_id: str, judge: str, prompt_version: str = PROMPT_VERSION
) -> dict[str, JudgeSummary]:
    """Per task (and ``all`` for several): rule accuracy, judge-adjusted accuracy, agreement."""
    verdicts = {
        (j.task, j.item_id): j
        for j in store.judgements(run_id, judge)
        if j.prompt_version == prompt_version
    }
    unsure = {
        (r.task, r.sample.id): r.grade.answer is not None
        for r in store.records(run_id, SampleFilter(unparsed=True, disagreement=True))
    }
    tasks: dict[str, list[tuple[bool, Judgement | None, bool]]] = {}
    for u in store.sample_usage(run_id):
        j = verdicts.get((u.task, u.item_id))
        parsed = unsure.get((u.task, u.item_id), True)
        tasks.setdefault(u.task, []).append((u.usage.correct, j, parsed))
    out = {task: tally(rows) for task, rows in tasks.items()}
    if len(out) > 1:
        out["all"] = tally([row for rows in tasks.values() for row in rows])
    return out


def summaries_of(
    rows: Iterable[tuple[str, str, bool, bool]], judgements: Sequence[Judgement]
) -> dict[tuple[str, str], JudgeSummary]:
    """Per (judge, prompt version) present in ``judgements``, the summary over every sample of
    ``rows`` (task, item id, rule verdict correct, rule found an answer): for views that
    already read a run's samples once and must not read them again."""
    by: dict[tuple[str, str], dict[tuple[str, str], Judgement]] = {}
    for j in judgements:
        by.setdefault((j.judge, j.prompt_version), {})[(j.task, j.item_id)] = j
    if not by:
        return {}
    samples = list(rows)
    return {
        key: tally([(ok, got.get((task, item)), parsed) for task, item, ok, parsed in samples])
        for key, got in sorted(by.items())
    }


def tally(rows: Sequence[tuple[bool, Judgement | None, bool]]) -> JudgeSummary:
    """The summary of samples given as (rule verdict correct, its judgement or None, the rule
    found an answer)."""
    rule = adjusted = judged = unparsed = agree = compared = 0
    reasons: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    for correct, j, rule_parsed in rows:
        rule += correct
        if j is None:
            adjusted += correct
            continue
        judged += 1
        reasons[j.reason] = reasons.get(j.reason, 0) + 1
        verdicts[j.verdict] = verdicts.get(j.verdict, 0) + 1
        if j.verdict == UNPARSED:
            unparsed += 1
            adjusted += correct  # no verdict from the judge: the rule's stays
            continue
        says = j.verdict == "correct"
        adjusted += says
        if rule_parsed:
            compared += 1
            agree += says == correct
    return JudgeSummary(len(rows), rule, judged, unparsed, adjusted, agree, compared,
                        reasons, verdicts)  # fmt: skip


class _Asker:
    """Judge requests, each retried by its ``Retryable`` kind (never by its message) with the
    run's backoff; a server that never answered at all fails fast, in one line."""

    def __init__(self, backend: Backend, policy: RetryPolicy, where: str) -> None:
        self.backend, self.policy, self.where = backend, policy, where
        self.any_success = False

    async def ask(self, prompt: Prompt, config: GenerateConfig) -> list[Completion] | None:
        """The completions, or None once every retry failed."""
        attempt = 0
        while True:
            try:
                out = await self.backend.generate(prompt, config)
                self.any_success = True
                return out
            except Retryable as e:
                attempt += 1
                if e.kind == "connection" and not self.any_success and attempt >= 2:
                    raise CothubError(
                        f"cannot reach the judge server {self.where} after {attempt} attempts "
                        f"({e.reason}); check that it is running and --judge-base-url"
                    ) from None
                if attempt > self.policy.max_retries:
                    return None
                await asyncio.sleep(self.policy.delay(attempt - 1, e.retry_after))


async def _judge(
    store: Store, run_id: str, backend: Backend, opts: JudgeOptions
) -> tuple[int, int, int]:
    """Judge the run's unsure samples; returns (requests sent, served from cache, failed)."""
    spec = str(parse_model(opts.judge))
    table = opts.prices if opts.prices is not None else load_prices()
    price = table.lookup(spec)
    config = GenerateConfig(CONFIG.max_tokens, CONFIG.temperature, timeout_s=opts.timeout_s)
    todo: list[tuple[SampleRecord, str, Prompt, str]] = []
    for r in store.records(run_id, SampleFilter(unparsed=True, disagreement=True)):
        reason = reason_of(r)
        if reason is not None:
            prompt = judge_prompt(r)
            todo.append((r, reason, prompt, cache_key_of(backend.identity, prompt, config)))
    hits = store.cached([key for *_, key in todo])
    gate = asyncio.Semaphore(opts.concurrency)
    asker = _Asker(backend, opts.retry, str(backend.identity.get("base_url", "")))
    sent = failed = 0

    async def one(r: SampleRecord, reason: str, prompt: Prompt, key: str) -> Judgement | None:
        nonlocal sent, failed
        got = hits.get(key)
        if got is None:
            async with gate:
                got = await asker.ask(prompt, config)
            if got is None:
                failed += 1
                return None
            sent += 1
            # into the completion cache before it is used (the writer thread commits it)
            await asyncio.wrap_future(store.record_nowait(run_id, [], {key: got}, model=spec))
        c = got[0]
        cost = None if price is None else price.cost(
            c.prompt_tokens, c.completion_tokens, c.reasoning_tokens
        )  # fmt: skip
        return Judgement(run_id, r.task, r.sample.id, spec, PROMPT_VERSION, reason,
                         parse_verdict(c.text), c.text, c.prompt_tokens, c.completion_tokens,
                         c.reasoning_tokens, cost, key)  # fmt: skip

    made = await asyncio.gather(*(one(*t) for t in todo))
    store.record_judgements([j for j in made if j is not None])
    return sent, len(todo) - sent - failed, failed


def judge_run(run_id: str, opts: JudgeOptions, store_path: Path | None = None) -> JudgeReport:
    """Ask ``opts.judge`` about every unparsed or disagreeing sample of a stored run (by id or
    unique prefix); store the judgements beside the rule verdicts; report both accuracies."""
    spec = parse_model(opts.judge)
    store = open_store(store_path)
    try:
        run = store.run(run_id)
        backend = make_backend(spec, "chat", opts.base_url)

        async def go() -> tuple[int, int, int]:
            try:
                return await _judge(store, run.run_id, backend, opts)
            finally:
                await backend.aclose()

        sent, cached, failed = asyncio.run(go())
        mine = [
            j for j in store.judgements(run.run_id, str(spec)) if j.prompt_version == PROMPT_VERSION
        ]
        table = opts.prices if opts.prices is not None else load_prices()
        price = table.lookup(str(spec))
        cost = None
        if price is not None:  # priced now, as a run's usage is; unpriced: None, never 0
            cost = sum(
                price.cost(j.prompt_tokens, j.completion_tokens, j.reasoning_tokens) for j in mine
            )
        return JudgeReport(
            run_id=run.run_id,
            judge=str(spec),
            prompt_version=PROMPT_VERSION,
            summaries=summarize(store, run.run_id, str(spec)),
            requests=sent,
            cached=cached,
            failed=failed,
            prompt_tokens=sum(j.prompt_tokens for j in mine),
            completion_tokens=sum(j.completion_tokens for j in mine),
            cost_usd=cost,
        )
    finally:
        store.close()


def add_to_json(path: Path, report: JudgeReport) -> None:
    """Add ``report`` as ``"judge"`` to a command's ``--json`` file (into the entry of its run
    when the file holds several); a file that is not there yet gets the report alone."""
    import json

    from cothub.api import write_json

    doc: object = None
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = None
    if not isinstance(doc, dict):
        write_json(path, report.as_json())
        return
    runs = doc.get("runs")
    if isinstance(runs, list):
        for entry in runs:
            if isinstance(entry, dict) and entry.get("run_id") == report.run_id:
                entry["judge"] = report.as_json()
    else:
        doc["judge"] = report.as_json()
    write_json(path, doc)
