"""The Starlette app behind ``cothub view``.

Lists and counts are SQL over the store's ``samples`` table (one indexed query per page, paged
with LIMIT/OFFSET, only the short columns read), so a 100,000-sample run pages as fast as a small
one; a sample's drill-down reads its one row and turns it into the typed
:class:`~cothub.types.SampleRecord` the store's own read path builds. A run's summary (the
report's plots) is computed once per run and kept while the run is unchanged.
"""

from __future__ import annotations

import bisect
import datetime
import difflib
import itertools
import json
import operator
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from cothub.cost import PriceTable, load_prices
from cothub.errors import CothubError
from cothub.report.html import (
    CSS,
    SORT_JS,
    e,
    grader_panel,
    leaderboard_table,
    pct,
    plots_section,
    provenance_section,
    usd,
)
from cothub.report.views import (
    PublishedRow,
    RunView,
    default_published_path,
    read_published,
    run_view,
    secret_scope,
)
from cothub.store import RunRow, Store
from cothub.store.browse import (
    judge_stamp,
    judge_verdicts,
    list_rows,
    sample_counts,
    sample_index,
    sample_record,
    search_texts,
)
from cothub.store.sqlite import Judgement
from cothub.types import GradedStep, SampleRecord

PAGE = 50
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class RunIndex:
    """A run's samples as short columns in memory, in stored order (task, then as committed):
    every list page, filter, count and comparison is a pass over these, never a scan of the
    store's wide rows. Built with one query on first use; texts for search load on the first
    search."""

    def __init__(self, store: Store, run_id: str) -> None:
        rows = sample_index(store, run_id)
        self.run_id = run_id
        self.rowid = [r.rowid for r in rows]
        self.task = [r.task for r in rows]
        self.item = [r.item_id for r in rows]
        self.subset = [r.subset for r in rows]
        self.correct = bytes(r.correct for r in rows)
        self.unparsed = bytes(r.unparsed for r in rows)
        self.truncated = bytes(r.truncated for r in rows)
        self.disagreement = bytes(r.disagreement for r in rows)
        self.check = [r.check for r in rows]
        self.verdict = judge_verdicts(store, run_id)
        """rowid -> the verdict of the sample's latest judgement (judged samples only)."""
        says = [self.verdict.get(r) for r in self.rowid]
        self.judged = bytes(v is not None for v in says)
        self.judge_correct = bytes(v == "correct" for v in says)
        self.judge_wrong = bytes(v in ("incorrect", "no-answer") for v in says)
        self.position = {
            (t, i): n for n, (t, i) in enumerate(zip(self.task, self.item, strict=True))
        }
        self._wrong = bytes(1 - c for c in self.correct)
        self._masks: dict[tuple[str, str], bytes] = {}
        self._blob: str | None = None
        self._starts: list[int] = []
        self._store = store
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.rowid)

    def search(self, query: str) -> list[int]:
        """Positions whose item id, question or completion contain ``query`` (any case).

        The texts, lower-cased, are read on the first search and kept as one string with a
        separator that no query holds; one ``str.find`` pass over it answers a search."""
        with self._lock:
            if self._blob is None:
                got = search_texts(self._store, self.run_id)
                texts = [got.get(r, "").replace("\0", " ") for r in self.rowid]
                starts, at = [], 0
                for t in texts:
                    starts.append(at)
                    at += len(t) + 1
                self._blob, self._starts = "\0".join(texts) + "\0", starts
            blob, starts = self._blob, self._starts
        q = query.lower().replace("\0", " ")
        out: list[int] = []
        at = blob.find(q)
        while at >= 0:
            n = bisect.bisect_right(starts, at) - 1
            out.append(n)
            nxt = starts[n + 1] if n + 1 < len(starts) else len(blob)
            at = blob.find(q, nxt)
        return out

    def _mask(self, name: str, value: str) -> bytes:
        """1 where column ``name`` equals ``value`` (kept: menus ask the same values again)."""
        key = (name, value)
        with self._lock:
            got = self._masks.get(key)
        if got is None:
            col = {"task": self.task, "subset": self.subset, "check": self.check}[name]
            got = bytes(v == value for v in col)
            with self._lock:
                self._masks[key] = got
        return got

    def select(self, f: dict[str, str]) -> list[int]:
        """Positions of the samples that pass the filters, in stored order."""
        masks: list[bytes] = [self._mask(k, f[k]) for k in ("task", "subset", "check") if f.get(k)]
        if f.get("outcome") == "correct":
            masks.append(self.correct)
        elif f.get("outcome") == "wrong":
            masks.append(self._wrong)
        judge = {"judged": self.judged, "judge-correct": self.judge_correct,
                 "judge-wrong": self.judge_wrong}.get(f.get("judge", ""))  # fmt: skip
        if judge is not None:
            masks.append(judge)
        for flags, key in (
            (self.unparsed, "unparsed"),
            (self.truncated, "truncated"),
            (self.disagreement, "disagreement"),
        ):
            if f.get(key):
                masks.append(flags)
        everything = range(len(self))
        if not masks:
            out = list(everything)
        else:
            acc = masks[0]
            for m in masks[1:]:
                acc = bytes(map(operator.and_, acc, m))
            out = list(itertools.compress(everything, acc))
        if f.get("q"):
            hits = self.search(f["q"])
            if masks:
                keep = set(out)
                hits = [n for n in hits if n in keep]
            out = hits
        return out


_Stamp = tuple[float, int, float]
"""A run's update time, judgement count and last judgement time (see :meth:`_Ctx.stamp`)."""


class _Ctx:
    """Per-app state: the store path, one read-only store per thread, cached run summaries."""

    def __init__(self, store: Path, prices: PriceTable, published: list[PublishedRow]) -> None:
        self.path = store
        self.prices = prices
        self.published = published
        self._local = threading.local()
        self._lock = threading.Lock()
        self._views: dict[str, tuple[_Stamp, RunView]] = {}
        self._facets: dict[str, tuple[_Stamp, dict[str, list[str]]]] = {}
        self._index: dict[str, tuple[_Stamp, RunIndex]] = {}
        self._summary: dict[str, tuple[_Stamp, str]] = {}
        self._counts: tuple[tuple[tuple[str, float], ...], dict[str, int]] | None = None
        self._pairs: dict[tuple[str, float, str, float, str], dict[str, list[tuple[int, int]]]] = {}

    def stamp(self, run: RunRow) -> _Stamp:
        """What a kept page part of a run depends on: the run's last update and its judgements
        (judging a run adds judgements without touching the run)."""
        return (run.updated_at, *judge_stamp(self.store(), run.run_id))

    def index(self, run: RunRow) -> RunIndex:
        stamp = self.stamp(run)
        with self._lock:
            got = self._index.get(run.run_id)
        if got is not None and got[0] == stamp:
            return got[1]
        idx = RunIndex(self.store(), run.run_id)
        with self._lock:
            self._index[run.run_id] = (stamp, idx)
        return idx

    def pairs(self, ra: RunRow, rb: RunRow, task: str) -> dict[str, list[tuple[int, int]]]:
        """The items both runs graded, by verdict pair: (position in A, position in B)."""
        key = (ra.run_id, ra.updated_at, rb.run_id, rb.updated_at, task)
        with self._lock:
            got = self._pairs.get(key)
        if got is not None:
            return got
        ia, ib = self.index(ra), self.index(rb)
        groups: dict[str, list[tuple[int, int]]] = {k: [] for k in _WHICH}
        where = ib.position
        for n, k in enumerate(zip(ia.task, ia.item, strict=True)):
            if task and k[0] != task:
                continue
            m = where.get(k)
            if m is None:
                continue
            groups[_KEYS[ia.correct[n], ib.correct[m]]].append((n, m))
            groups["all"].append((n, m))
        with self._lock:
            if len(self._pairs) > 16:
                self._pairs.clear()
            self._pairs[key] = groups
        return groups

    def counts(self, runs: Sequence[RunRow]) -> dict[str, int]:
        """Samples per run (kept while no run changed)."""
        key = tuple((r.run_id, r.updated_at) for r in runs)
        with self._lock:
            if self._counts is not None and self._counts[0] == key:
                return self._counts[1]
        got = sample_counts(self.store())
        with self._lock:
            self._counts = (key, got)
        return got

    def rows(self, rowids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
        """The list columns of these samples, by rowid."""
        return list_rows(self.store(), rowids)

    def summary_html(self, run: RunRow, render: Any) -> str:
        stamp = self.stamp(run)
        with self._lock:
            got = self._summary.get(run.run_id)
        if got is not None and got[0] == stamp:
            return got[1]
        html: str = render()
        with self._lock:
            self._summary[run.run_id] = (stamp, html)
        return html

    def store(self) -> Store:
        s: Store | None = getattr(self._local, "store", None)
        if s is None:
            s = Store(self.path, readonly=True)
            self._local.store = s
        return s

    def run(self, run_id: str) -> RunRow:
        return self.store().run(run_id)

    def view(self, run: RunRow) -> RunView:
        stamp = self.stamp(run)
        with self._lock:
            got = self._views.get(run.run_id)
        if got is not None and got[0] == stamp:
            return got[1]
        v = run_view(self.store(), run, self.prices)
        with self._lock:
            self._views[run.run_id] = (stamp, v)
        return v

    def facets(self, run: RunRow) -> dict[str, list[str]]:
        """Distinct tasks, subsets and checks of a run (for the filter menus)."""
        stamp = self.stamp(run)
        with self._lock:
            got = self._facets.get(run.run_id)
        if got is not None and got[0] == stamp:
            return got[1]
        idx = self.index(run)
        out = {
            name: sorted({str(v) for v in col if v not in (None, "")})
            for name, col in (("task", idx.task), ("subset", idx.subset), ("check", idx.check))
        }
        with self._lock:
            self._facets[run.run_id] = (stamp, out)
        return out

    def record(self, run_id: str, task: str, item: str) -> SampleRecord | None:
        return sample_record(self.store(), run_id, task, item)

    def judgements(self, run_id: str, task: str, item: str) -> list[Judgement]:
        return self.store().judgements(run_id, task=task, item_id=item)


# ---- layout ------------------------------------------------------------------------------------


def page(title: str, body: str, crumbs: Sequence[tuple[str, str]] = ()) -> HTMLResponse:
    nav = " › ".join(f'<a href="{e(h)}">{e(t)}</a>' for t, h in (("runs", "/"), *crumbs))
    html = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{e(title)} · cothub</title><link rel="stylesheet" href="/static/style.css">'
        '<link rel="icon" href="data:,">'
        '</head><body><header class="top"><h1>cothub view</h1>'
        f'<div class="sub"><nav class="bar">{nav}</nav></div></header><main>'
        f'<h2 id="title">{e(title)}</h2>{body}</main>'
        '<script src="/static/sort.js"></script></body></html>'
    )
    return HTMLResponse(html, headers=HEADERS)


def _q(**params: object) -> str:
    return "?" + urlencode({k: str(v) for k, v in params.items() if v not in (None, "", False)})


def _verdict(correct: bool, finish: str, answer: object) -> str:
    out = (
        '<span class="badge ok">correct</span>'
        if correct
        else '<span class="badge bad">wrong</span>'
    )
    if finish == "length":
        out += '<span class="badge trunc">truncated</span>'
    if answer is None:
        out += '<span class="badge">unparsed</span>'
    return out


_JUDGE_FILTERS = {
    "judged": "any judge verdict",
    "judge-correct": "judge says correct",
    "judge-wrong": "judge says incorrect or no answer",
}
"""The sample list's ``judge`` filter: on the latest judgement of each sample."""


def _sample_href(run_id: str, task: str, item: str) -> str:
    return f"/runs/{run_id}/sample" + _q(task=task, item=item)


# ---- pages -------------------------------------------------------------------------------------


def _index(ctx: _Ctx, request: Request) -> Response:
    runs = ctx.store().runs()
    counts = ctx.counts(runs)
    rows = []
    for r in runs:
        heads = " ".join(
            f"{t} {pct(s.accuracy)}%" for t, s in (r.summary or {}).items() if "/" not in t
        )
        when = datetime.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M")
        strat = r.manifest.strategy.spec() if r.manifest.strategy else "import"
        rows.append(
            f'<tr data-run="{e(r.run_id)}"><td><a href="/runs/{e(r.run_id)}">{e(r.run_id)}</a>'
            f"</td><td>{e(when)}</td><td>{e(r.model)}</td><td>{e(strat)}</td>"
            f"<td>{e(', '.join(r.tasks))}</td><td>{e(r.status)}</td>"
            f'<td class="num" data-v="{counts.get(r.run_id, 0)}">{counts.get(r.run_id, 0):,}</td>'
            f"<td>{e(heads)}</td></tr>"
        )
    options = "".join(
        f'<option value="{e(r.run_id)}">{e(r.run_id)} · {e(r.model)}</option>' for r in runs
    )
    body = (
        '<table class="sortable" id="runs"><thead><tr><th>run</th><th>created</th><th>model</th>'
        "<th>strategy</th><th>tasks</th><th>status</th><th>samples</th><th>headline</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
        '<section><h2>Compare two runs</h2><form class="filters" action="/compare" method="get">'
        f'<label>A <select name="a">{options}</select></label>'
        f'<label>B <select name="b">{options}</select></label>'
        '<button type="submit">compare</button></form></section>'
    )
    if not runs:
        body = f'<p class="note">no runs in {e(ctx.path)}</p>'
    return page(f"{len(runs)} runs in {ctx.path.name}", body)


def _run(ctx: _Ctx, request: Request) -> Response:
    run = ctx.run(request.path_params["run_id"])
    rid = run.run_id

    def render() -> str:
        v = ctx.view(run)
        return (
            f'<p><a href="/runs/{e(rid)}/samples">browse its {v.n_samples:,} samples</a> · '
            f'<a href="/runs/{e(rid)}/samples?outcome=wrong">wrong</a> · '
            f'<a href="/runs/{e(rid)}/samples?disagreement=1">disagreements</a>'
            + (f' · <a href="/runs/{e(rid)}/samples?judge=judged">judged</a>' if v.judges else "")
            + "</p>"
            '<section id="board"><h2>Summary</h2>'
            + leaderboard_table([v], ctx.published, "/runs/{run_id}")
            + "</section>"
            + plots_section([v], ctx.published)
            + grader_panel([v], "/runs/{run_id}/sample?task={task}&item={item}")
            + provenance_section([v])
        )

    body = ctx.summary_html(run, render)
    return page(f"run {rid} · {run.model}", body, [(f"run {rid}", f"/runs/{rid}")])


def _filters(request: Request) -> dict[str, str]:
    keys = (
        "task",
        "subset",
        "outcome",
        "judge",
        "unparsed",
        "truncated",
        "disagreement",
        "check",
        "q",
    )
    return {k: request.query_params.get(k, "") for k in keys}


def _page_no(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


def _pager(n: int, page_no: int, params: dict[str, str]) -> str:
    last = max(1, -(-n // PAGE))
    out = [f'<div class="pager">page {page_no} of {last:,} ({n:,} samples) ']
    if page_no > 1:
        out.append(f'<a rel="prev" href="{e(_q(**params, page=page_no - 1))}">‹ previous</a>')
    if page_no < last:
        out.append(f'<a rel="next" href="{e(_q(**params, page=page_no + 1))}">next ›</a>')
    return "".join(out) + "</div>"


def _select(
    name: str, values: Sequence[str], chosen: str, label: str, names: dict[str, str] | None = None
) -> str:
    opts = [f'<option value="">{e(label)}: all</option>']
    for v in values:
        sel = " selected" if v == chosen else ""
        opts.append(f'<option value="{e(v)}"{sel}>{e((names or {}).get(v, v))}</option>')
    return f'<label><select name="{e(name)}">{"".join(opts)}</select></label>'


def _check(name: str, on: str, label: str) -> str:
    checked = " checked" if on else ""
    return f'<label><input type="checkbox" name="{e(name)}" value="1"{checked}> {e(label)}</label>'


def _samples(ctx: _Ctx, request: Request) -> Response:
    run = ctx.run(request.path_params["run_id"])
    f = _filters(request)
    page_no = _page_no(request)
    idx = ctx.index(run)
    chosen = idx.select(f)
    n = len(chosen)
    ids = [idx.rowid[i] for i in chosen[(page_no - 1) * PAGE : page_no * PAGE]]
    got = ctx.rows(ids)
    rows = [got[r] for r in ids if r in got]
    facets = ctx.facets(run)
    form = (
        '<form class="filters" id="filters" method="get">'
        + _select("task", facets["task"], f["task"], "task")
        + _select("subset", facets["subset"], f["subset"], "subset")
        + _select("outcome", ["correct", "wrong"], f["outcome"], "verdict")
        + _select("judge", list(_JUDGE_FILTERS), f["judge"], "judge", _JUDGE_FILTERS)
        + _select("check", facets["check"], f["check"], "check")
        + _check("unparsed", f["unparsed"], "unparsed")
        + _check("truncated", f["truncated"], "truncated")
        + _check("disagreement", f["disagreement"], "disagreement")
        + f'<input type="search" name="q" value="{e(f["q"])}" placeholder="search text or id">'
        '<button type="submit">apply</button></form>'
    )
    trs = []
    for rowid, (task, item, subset, correct, answer, finish, dis, check, ctok, head, _) in zip(
        [r for r in ids if r in got], rows, strict=True
    ):
        href = _sample_href(run.run_id, task, item)
        flag = '<span class="badge">disagreement</span>' if dis else ""
        said = idx.verdict.get(rowid)
        if said is not None:
            flag += f'<span class="badge judge">judge: {e(said)}</span>'
        trs.append(
            f'<tr class="sample" data-item="{e(item)}"><td>{e(task)}</td>'
            f'<td><a href="{e(href)}">{e(item)}</a></td><td>{e(subset)}</td>'
            f"<td>{_verdict(bool(correct), finish, answer)}{flag}</td>"
            f"<td>{e(repr(answer))}</td><td>{e(check)}</td>"
            f'<td class="num" data-v="{ctok}">{ctok:,}</td><td>{e(head)}</td></tr>'
        )
    body = (
        form
        + _pager(n, page_no, f)
        + '<table class="sortable" id="samples"><thead><tr><th>task</th><th>item</th>'
        "<th>subset</th><th>verdict</th><th>answer</th><th>check</th><th>tokens</th>"
        f"<th>completion (start)</th></tr></thead><tbody>{''.join(trs)}</tbody></table>"
        + _pager(n, page_no, f)
    )
    rid = run.run_id
    return page(
        f"samples of run {rid}",
        body,
        [(f"run {rid}", f"/runs/{rid}"), ("samples", f"/runs/{rid}/samples")],
    )


def _highlight(text: str, span: tuple[int, int] | None) -> str:
    if span is None or not (0 <= span[0] < span[1] <= len(text)):
        return e(text)
    a, b = span
    return e(text[:a]) + f'<mark class="span">{e(text[a:b])}</mark>' + e(text[b:])


def _prompt_html(rec: SampleRecord) -> str:
    p = rec.prompt
    if p.style == "completions":
        return (
            f"<details><summary>prompt ({p.n_exemplars} few-shot exemplars, "
            f"{len(p.text):,} characters)</summary><pre>{e(p.text)}</pre></details>"
        )
    msgs = list(p.messages)
    last = len(msgs) - 1
    shots = "".join(
        f'<div class="turn"><b>{e(m.role)}</b><pre>{e(m.content)}</pre></div>' for m in msgs[:last]
    )
    out = ""
    if shots:
        out += (
            f"<details><summary>few-shot turns ({last} messages, {p.n_exemplars} "
            f"exemplars)</summary>{shots}</details>"
        )
    if msgs:
        out += f"<b>{e(msgs[-1].role)}</b><pre>{e(msgs[-1].content)}</pre>"
    return out


def _votes_html(rec: SampleRecord) -> str:
    stats = rec.stats.as_json() if rec.stats is not None else {}
    answers = stats.get("answers")
    correct = stats.get("correct")
    if not isinstance(answers, list) or not isinstance(correct, list) or not answers:
        return ""
    tally: dict[str, list[int]] = {}
    for a, c in zip(answers, correct, strict=False):
        t = tally.setdefault(repr(a), [0, int(bool(c))])
        t[0] += 1
    rows = "".join(
        f"<tr><td>{e(a)}</td><td class='num'>{n}</td><td>{'correct' if ok else 'wrong'}</td></tr>"
        for a, (n, ok) in sorted(tally.items(), key=lambda kv: -kv[1][0])
    )
    return (
        f'<h3>votes ({len(answers)} chains)</h3><table id="votes"><thead><tr><th>answer</th>'
        f"<th>votes</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _steps_html(rec: SampleRecord) -> str:
    if not rec.steps:
        return ""
    out = [f"<h3>strategy steps ({len(rec.steps)})</h3>"]
    for i, st in enumerate(rec.steps):
        d = st.as_json()
        kind = d.get("kind", "option")
        text = d.get("text") or d.get("code") or ""
        meta = ", ".join(
            f"{k}={v!r}" for k, v in d.items() if k not in ("text", "code", "stdout", "stderr")
        )
        extra = ""
        if isinstance(st, GradedStep):
            extra = " ✓" if st.correct else " ✗"
        out.append(
            f"<details><summary>{i + 1}. {e(kind)}{extra} — {e(meta)}</summary>"
            f"<pre>{e(text)}</pre></details>"
        )
    return "".join(out)


def _judgements_html(found: Sequence[Judgement]) -> str:
    """The judge's second opinions on a sample, beside (never in place of) its rule verdict."""
    if not found:
        return ""
    rows = "".join(
        f'<tr class="judgement"><td>{e(j.judge)}</td><td>{e(j.prompt_version)}</td>'
        f"<td>{e(j.reason)}</td><td><b>{e(j.verdict)}</b></td>"
        f'<td class="num">{j.prompt_tokens:,}+{j.completion_tokens:,}</td>'
        f"<td>{usd(j.cost_usd)}</td><td><pre>{e(j.raw)}</pre></td></tr>"
        for j in found
    )
    return (
        f'<section id="judgements"><h3>judge verdicts ({len(found)})</h3>'
        "<table><thead><tr><th>judge</th><th>prompt</th><th>asked because</th><th>verdict</th>"
        "<th>tokens</th><th>cost</th><th>reply</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _sample(ctx: _Ctx, request: Request) -> Response:
    run = ctx.run(request.path_params["run_id"])
    task = request.query_params.get("task", "")
    item = request.query_params.get("item", "")
    rec = ctx.record(run.run_id, task, item)
    if rec is None:
        raise CothubError(f"no sample {task}/{item} in run {run.run_id}")
    s, c, g = rec.sample, rec.completion, rec.grade
    price = ctx.prices.lookup(run.model)
    cost = (
        None
        if price is None
        else price.cost(c.prompt_tokens, c.completion_tokens, c.reasoning_tokens)
    )
    link = _sample_href(run.run_id, task, item)
    facts = [
        (
            "verdict",
            _verdict(g.correct, c.finish_reason, g.answer)
            + ('<span class="badge">disagreement</span>' if g.disagreement else ""),
        ),
        ("answer", e(repr(g.answer))),
        ("gold", e(s.gold)),
        ("method", e(g.method)),
        ("check", e(g.check)),
        ("finish reason", e(c.finish_reason)),
        (
            "tokens",
            f"prompt {c.prompt_tokens:,} · completion {c.completion_tokens:,} · "
            f"reasoning {c.reasoning_tokens:,}",
        ),
        ("latency", f"{c.latency_s:.2f} s"),
        ("cost", usd(cost)),
        ("requests", "-" if rec.requests is None else str(rec.requests)),
        ("subset", e(s.subset or "-")),
        ("tags", e(", ".join(f"{k}={v}" for k, v in s.tags))),
        ("permalink", f'<a id="permalink" href="{e(link)}">{e(link)}</a>'),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    thinking = ""
    if c.reasoning:
        thinking = (
            f'<details class="thinking"><summary>thinking ({c.reasoning_tokens:,} '
            f"tokens)</summary><pre>{e(c.reasoning)}</pre></details>"
        )
    body = (
        f'<section><dl class="prov">{dl}</dl></section>'
        f"<section><h3>question</h3><pre>{e(s.question)}</pre>"
        f"<h3>prompt</h3>{_prompt_html(rec)}</section>"
        f'<section><h3>completion</h3>{thinking}<pre id="completion">'
        f"{_highlight(c.text, g.span)}</pre>"
        f"{_votes_html(rec)}{_steps_html(rec)}</section>"
        + _judgements_html(ctx.judgements(run.run_id, task, item))
    )
    rid = run.run_id
    return page(
        f"{task} {item}",
        body,
        [(f"run {rid}", f"/runs/{rid}"), ("samples", f"/runs/{rid}/samples")],
    )


_WHICH = ("a_right_b_wrong", "b_right_a_wrong", "both_right", "both_wrong", "all")
_KEYS = {
    (1, 0): "a_right_b_wrong",
    (0, 1): "b_right_a_wrong",
    (1, 1): "both_right",
    (0, 0): "both_wrong",
}


def _compare(ctx: _Ctx, request: Request) -> Response:
    ra = ctx.run(request.query_params.get("a", ""))
    rb = ctx.run(request.query_params.get("b", ""))
    task = request.query_params.get("task", "")
    which = request.query_params.get("which", "a_right_b_wrong")
    if which not in _WHICH:
        which = "a_right_b_wrong"
    page_no = _page_no(request)
    ia, ib = ctx.index(ra), ctx.index(rb)
    groups = ctx.pairs(ra, rb, task)
    shared, a_only, b_only = (
        len(groups["all"]),
        len(groups["a_right_b_wrong"]),
        len(groups["b_right_a_wrong"]),
    )
    both, neither = len(groups["both_right"]), len(groups["both_wrong"])
    pairs = groups[which][(page_no - 1) * PAGE : page_no * PAGE]
    got_a = ctx.rows([ia.rowid[n] for n, _ in pairs])
    got_b = ctx.rows([ib.rowid[m] for _, m in pairs])
    rows = []
    for n, m in pairs:
        ra_row, rb_row = got_a[ia.rowid[n]], got_b[ib.rowid[m]]
        rows.append(
            (ia.task[n], ia.item[n], ra_row[4], rb_row[4], ra_row[10], ia.correct[n], ib.correct[m])
        )
    params = {"a": ra.run_id, "b": rb.run_id, "task": task}
    tabs = []
    for key, label, n in (
        ("a_right_b_wrong", "A right / B wrong", a_only),
        ("b_right_a_wrong", "B right / A wrong", b_only),
        ("both_right", "both right", both),
        ("both_wrong", "both wrong", neither),
        ("all", "all shared", shared),
    ):
        cls = ' class="current"' if key == which else ""
        tabs.append(
            f'<a{cls} id="tab-{key}" href="{e(_q(**params, which=key))}">{e(label)} '
            f'<span class="count">{n:,}</span></a>'
        )
    trs = []
    for t, item, ans_a, ans_b, gold, ok_a, ok_b in rows:
        href = "/compare/item" + _q(a=ra.run_id, b=rb.run_id, task=t, item=item)
        trs.append(
            f'<tr class="pair" data-item="{e(item)}"><td>{e(t)}</td>'
            f'<td><a href="{e(href)}">{e(item)}</a></td><td>{e(gold)}</td>'
            f"<td>{e(repr(ans_a))} {'✓' if ok_a else '✗'}</td>"
            f"<td>{e(repr(ans_b))} {'✓' if ok_b else '✗'}</td></tr>"
        )
    which_n = {
        "a_right_b_wrong": a_only,
        "b_right_a_wrong": b_only,
        "both_right": both,
        "both_wrong": neither,
        "all": shared,
    }[which]
    body = (
        f'<p>A = <a href="/runs/{e(ra.run_id)}">{e(ra.run_id)}</a> {e(ra.model)} · '
        f'B = <a href="/runs/{e(rb.run_id)}">{e(rb.run_id)}</a> {e(rb.model)} · '
        f"{shared:,} items graded by both</p>"
        f'<nav class="bar" id="which">{"".join(tabs)}</nav>'
        + _pager(which_n, page_no, {**params, "which": which})
        + '<table class="sortable" id="pairs"><thead><tr><th>task</th><th>item</th><th>gold</th>'
        f"<th>A answer</th><th>B answer</th></tr></thead><tbody>{''.join(trs)}</tbody></table>"
    )
    return page(f"compare {ra.run_id} vs {rb.run_id}", body, [("compare", _q(**params))])


def word_diff(a: str, b: str) -> tuple[str, str]:
    """Both texts as HTML with the words only A has in ``<del>`` and only B has in ``<ins>``."""
    ta, tb = re.findall(r"\s+|\S+", a), re.findall(r"\s+|\S+", b)
    sm = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    left, right = [], []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        x, y = e("".join(ta[i1:i2])), e("".join(tb[j1:j2]))
        if op == "equal":
            left.append(x)
            right.append(y)
            continue
        if x:
            left.append(f"<del>{x}</del>")
        if y:
            right.append(f"<ins>{y}</ins>")
    return "".join(left), "".join(right)


def _compare_item(ctx: _Ctx, request: Request) -> Response:
    ra = ctx.run(request.query_params.get("a", ""))
    rb = ctx.run(request.query_params.get("b", ""))
    task = request.query_params.get("task", "")
    item = request.query_params.get("item", "")
    a, b = ctx.record(ra.run_id, task, item), ctx.record(rb.run_id, task, item)
    if a is None or b is None:
        raise CothubError(f"sample {task}/{item} is not in both runs")
    da, db_ = word_diff(a.completion.text, b.completion.text)
    cols = []
    for name, run, rec, diff in (("A", ra, a, da), ("B", rb, b, db_)):
        g = rec.grade
        href = _sample_href(run.run_id, task, item)
        cols.append(
            f'<div class="side" id="side-{name.lower()}"><h3>{name}: {e(run.model)} '
            f'<a href="{e(href)}">{e(run.run_id)}</a></h3>'
            f"<p>{_verdict(g.correct, rec.completion.finish_reason, g.answer)} answer "
            f"{e(repr(g.answer))} · gold {e(rec.sample.gold)}</p><pre>{diff}</pre></div>"
        )
    body = (
        f"<section><h3>question</h3><pre>{e(a.sample.question)}</pre></section>"
        "<section><h3>completions (word diff: <del>only A</del> <ins>only B</ins>)</h3>"
        f'<div class="cols">{"".join(cols)}</div></section>'
    )
    back = "/compare" + _q(a=ra.run_id, b=rb.run_id)
    return page(f"{task} {item}: A vs B", body, [("compare", back)])


def _warm(ctx: _Ctx) -> None:
    try:
        with secret_scope():
            runs = ctx.store().runs()
            for run in runs:
                ctx.index(run)
            for run in runs:
                ctx.view(run)
    except Exception:  # a damaged run: its page shows the error when it is visited
        return


# ---- the app -----------------------------------------------------------------------------------


def create_app(
    store: Path, prices: Path | None = None, published: Path | None = None, warm: bool = True
) -> Starlette:
    """The app over ``store``. ``warm``: build every run's sample index, then its summary, in a
    background thread from the start, so that the first visit to a large run does not wait."""
    if not store.is_file():
        raise CothubError(f"no store at {store}; run `cothub run` first or pass --store")
    path = published or default_published_path()
    rows = read_published(path) if path is not None else []
    ctx = _Ctx(store, load_prices(prices), rows)
    if warm:
        threading.Thread(target=_warm, args=(ctx,), daemon=True, name="cothub-view-warm").start()

    def wrap(fn: Any) -> Any:
        def endpoint(request: Request) -> Response:
            try:
                with secret_scope():
                    resp: Response = fn(ctx, request)
                return resp
            except CothubError as ex:
                r = page("not found", f'<p class="note">{e(str(ex))}</p>')
                r.status_code = 404
                return r

        return endpoint

    def css(request: Request) -> Response:
        return PlainTextResponse(CSS + _VIEW_CSS, media_type="text/css", headers=HEADERS)

    def js(request: Request) -> Response:
        return PlainTextResponse(SORT_JS, media_type="text/javascript", headers=HEADERS)

    def api_runs(request: Request) -> Response:
        data = [
            {"run_id": r.run_id, "model": r.model, "status": r.status, "tasks": r.tasks}
            for r in ctx.store().runs()
        ]
        return Response(json.dumps(data), media_type="application/json", headers=HEADERS)

    routes = [
        Route("/", wrap(_index)),
        Route("/runs/{run_id}", wrap(_run)),
        Route("/runs/{run_id}/samples", wrap(_samples)),
        Route("/runs/{run_id}/sample", wrap(_sample)),
        Route("/compare", wrap(_compare)),
        Route("/compare/item", wrap(_compare_item)),
        Route("/api/runs", api_runs),
        Route("/static/style.css", css),
        Route("/static/sort.js", js),
        Route("/favicon.ico", lambda request: Response(status_code=204, headers=HEADERS)),
    ]
    return Starlette(routes=routes)


_VIEW_CSS = """
#which a{padding:4px 10px;border:1px solid var(--line);border-radius:4px;text-decoration:none}
#which a.current{background:var(--acc);color:#fff}
#which .count{font-weight:600}
.turn{margin:4px 0}
"""
