"""``cothub report``: one self-contained HTML file (styles, script, data and plots inlined).

The file opens offline from ``file://``: it references nothing outside itself. Its
Content-Security-Policy allows only its own style and script (by sha256 hash) and no network at
all, so even a completion that escaped the escaping could not run. Every text from the store is
escaped with :func:`html.escape`; the data behind the tables is embedded as JSON in a
``<script type="application/json">`` block (never executed) with ``<`` written as ``\\u003c``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from cothub.modelinfo import ModelInfo
from cothub.report import plots
from cothub.report.views import (
    HUB_COLUMNS,
    Disagreement,
    PublishedRow,
    RunView,
    benchmarks,
    safe,
    secret_scope,
)

CSS = """
:root{--ink:#1d2330;--mute:#5b6472;--line:#dde1e7;--bg:#f7f8fa;--acc:#2c5cc5}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);margin:0;
background:var(--bg)}
header.top{background:#1d2330;color:#fff;padding:14px 28px}
header.top h1{margin:0;font-size:19px;font-weight:600}
header.top .sub{color:#b9c1cf;font-size:12.5px}
header.top a{color:#cfe0ff}
main{padding:18px 28px;max-width:1500px}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:14px 18px;
margin:0 0 18px}
h2{font-size:16px;margin:0 0 10px}
h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12.5px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600;white-space:nowrap}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th.asc::after{content:" \\25B2";font-size:9px}
table.sortable th.desc::after{content:" \\25BC";font-size:9px}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.cell .acc{font-weight:600;font-size:13.5px}
.cell .ci,.cell .meta{color:var(--mute);font-size:11.5px;display:block}
tr.published td{background:#fbf8ef}
.badge{display:inline-block;font-size:10.5px;padding:1px 6px;border-radius:9px;
background:#e8edf7;color:#2c4a8a;margin-left:4px}
.badge.pub{background:#f3e6c2;color:#6b4d00}
.badge.ok{background:#dcf1e1;color:#1f6b33}.badge.bad{background:#fde2dd;color:#8c2a17}
.badge.trunc{background:#fbefcf;color:#7a5600}
.src{color:var(--mute);font-size:11px;max-width:520px}
.plots{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.plots figure{margin:0}
.plots figcaption{font-size:12px;color:var(--mute)}
svg.plot{border:1px solid var(--line);border-radius:4px;max-width:100%;height:auto}
dl.prov{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;font-size:12.5px}
dl.prov dt{color:var(--mute)}dl.prov dd{margin:0;font-family:ui-monospace,monospace;
word-break:break-all}
.note{color:var(--mute);font-size:12px}
.noplot{color:var(--mute);font-style:italic}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f7f9;border:1px solid var(--line);
border-radius:4px;padding:8px 10px;font:12.5px/1.45 ui-monospace,monospace;margin:4px 0}
mark.span{background:#ffe58a;outline:1px solid #d9b600}
details>summary{cursor:pointer;color:var(--acc)}
nav.bar a{margin-right:14px}
form.filters{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;margin-bottom:10px}
form.filters label{font-size:12.5px}
input[type=search],select{font:inherit;padding:3px 6px}
.pager{margin:10px 0}.pager a{margin-right:10px}
ins{background:#dcf1e1;text-decoration:none}del{background:#fde2dd}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:14px}
a{color:var(--acc)}
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('thead th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var asc=!th.classList.contains('asc');
      t.querySelectorAll('thead th').forEach(function(o){o.classList.remove('asc','desc');});
      th.classList.add(asc?'asc':'desc');
      t.querySelectorAll('tbody').forEach(function(tb){
        var rows=Array.prototype.slice.call(tb.rows);
        rows.sort(function(a,b){
          var x=a.cells[i],y=b.cells[i];
          var u=x?x.getAttribute('data-v'):null,v=y?y.getAttribute('data-v'):null;
          var p=parseFloat(u),q=parseFloat(v);
          var c=(!isNaN(p)&&!isNaN(q))?p-q:(isNaN(p)?1:(isNaN(q)?-1:0));
          if(isNaN(p)&&isNaN(q)){c=(x?x.textContent:'').localeCompare(y?y.textContent:'');}
          return asc?c:-c;
        });
        rows.forEach(function(r){tb.appendChild(r);});
      });
    });
  });
});
"""


def e(text: object) -> str:
    """Escaped for HTML text and attribute values (quotes too)."""
    return escape(safe(text), quote=True)


def csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def json_block(element_id: str, data: object) -> str:
    """Data for the page, never executed: ``</script>`` cannot end it (``<`` is ``\\u003c``)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/json" id="{e(element_id)}">{text}</script>'


def pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def usd(x: float | None) -> str:
    if x is None:
        return "-"
    if x <= 0:
        return "$0"
    import math

    return f"${x:.{max(2, 2 - math.floor(math.log10(x)))}f}"


# ---- sections shared by the report and the view ---------------------------------------------


def leaderboard_table(
    views: Sequence[RunView], published: Sequence[PublishedRow], run_link: str | None = None
) -> str:
    """Benchmarks as columns, configurations (runs) as rows, then the published rows, marked.
    ``run_link``: a format string with ``{run_id}`` for a link per run (the view)."""
    benches = benchmarks(views)
    for col in HUB_COLUMNS:  # a published benchmark the user never ran still gets its column
        if col not in benches and any(col in p.scores for p in published):
            benches.append(col)
    benches.sort(key=lambda t: (HUB_COLUMNS.index(t) if t in HUB_COLUMNS else 9, t))
    head = "".join(f"<th>{e(b.upper() if b in HUB_COLUMNS else b)}</th>" for b in benches)
    out = [
        '<table class="sortable leaderboard" id="leaderboard"><thead><tr><th>configuration</th>'
        f"<th>type</th><th>size</th><th>run</th>{head}<th>cost</th></tr></thead><tbody>"
    ]
    for v in views:
        rid = v.run.run_id
        link = f'<a href="{e(run_link.format(run_id=rid))}">{e(rid)}</a>' if run_link else e(rid)
        row = [
            f'<tr class="own" data-run="{e(rid)}"><td data-v="{e(v.label)}">{e(v.label)}'
            f'<span class="badge">{e(v.run.status)}</span></td>{_info_cells(v.info)}<td>{link}</td>'
        ]
        for b in benches:
            c = v.cells.get(b)
            if c is None:
                row.append('<td class="num" data-v="">-</td>')
                continue
            done = c.completed_accuracy
            tok = "-" if c.tokens_per_item is None else f"{c.tokens_per_item:,.0f}"
            row.append(
                f'<td class="num cell" data-v="{c.accuracy:.6f}" data-bench="{e(b)}">'
                f'<span class="acc">{pct(c.accuracy)}</span>'
                f'<span class="ci">[{pct(c.ci95[0])}, {pct(c.ci95[1])}] n={c.n}</span>'
                f'<span class="meta">unparsed {c.unparsed_pct:.1f}% · truncated '
                f"{c.truncated_pct:.1f}%</span>"
                f'<span class="meta">completed-only {pct(done)}</span>'
                f'<span class="meta">{tok} tok · {usd(c.cost_per_item)}/item</span></td>'
            )
        cost = v.cost_usd
        row.append(
            f'<td class="num" data-v="{"" if cost is None else f"{cost:.6f}"}">'
            f"{usd(cost)}</td></tr>"
        )
        out.append("".join(row))
    out.append("</tbody>")
    if published:
        out.append('<tbody class="published">')
        for p in published:
            paper = p.source.split(" — via ")[0]
            origin = f" · from {e(p.origin)}" if p.origin else ""
            row = [
                f'<tr class="published"><td data-v="{e(p.model)}">{e(p.model)}'
                '<span class="badge pub">published</span>'
                f'<div class="src" title="{e(p.source)}">source: {e(_short(paper))}{origin}</div>'
                f"</td>{_info_cells(p.info)}<td>-</td>"
            ]
            for b in benches:
                s = p.scores.get(b)
                row.append(
                    f'<td class="num" data-v="{"" if s is None else f"{s:.6f}"}">'
                    f'<span class="acc">{pct(s)}</span></td>'
                )
            out.append("".join(row) + "<td>-</td></tr>")
        out.append("</tbody>")
    out.append("</table>")
    out.append(
        '<p class="note">Accuracy % with its 95% CI and n; unparsed = no answer extracted; '
        "truncated = cut off by the token limit; completed-only = accuracy on the items that were "
        "not truncated; tokens (prompt + completion) and $ per item, priced with the price table "
        "(- = unpriced). BBH headline: mean over its tasks. Rows marked "
        '<span class="badge pub">published</span> are the Chain-of-Thought Hub\'s own numbers, '
        "read from its leaderboard, not runs in this store. Click a header to sort.</p>"
    )
    return "".join(out)


def _info_cells(info: ModelInfo) -> str:
    """Type and size cells; the size sorts by its parameter count (8x7B as 56B)."""
    params = "" if info.params is None else f"{info.params:.6g}"
    return (
        f'<td data-v="{e(info.type)}">{e(info.type or "-")}</td>'
        f'<td class="num" data-v="{params}">{e(info.size or "-")}</td>'
    )


def _short(text: str, keep: int = 90) -> str:
    """A published row's source on one or two lines (the whole of it in the tooltip)."""
    return text if len(text) <= keep else text[: keep - 1] + "…"


def _fig(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{e(caption)}</figcaption></figure>"


def plots_section(views: Sequence[RunView], published: Sequence[PublishedRow]) -> str:
    """Every plot of the report, each group under its own heading."""
    benches = benchmarks(views)
    out = ['<section id="plots"><h2>Plots</h2>']
    out += _accuracy_plot(views, published, benches)
    out += _subtask_heatmaps(views, benches)
    out += _level_heatmaps(views)
    out += _vote_curves(views)
    out += _pareto_plots(views, benches)
    out += _length_histograms(views)
    out.append("</section>")
    return "".join(out)


def _accuracy_plot(
    views: Sequence[RunView], published: Sequence[PublishedRow], benches: Sequence[str]
) -> list[str]:
    series = [(v.label, {b: (c.accuracy, c.ci95) for b, c in v.cells.items()}) for v in views]
    pub = [(p.model, {b: s for b, s in p.scores.items() if b in benches}) for p in published]
    pub = [p for p in pub if p[1]]
    figure = _fig(
        plots.ci_dots(benches, series, pub),
        "dots: runs in this store; hollow diamonds: published Chain-of-Thought Hub numbers",
    )
    return ['<h3>Accuracy per benchmark (95% CI)</h3><div class="plots">', figure, "</div>"]


def _subtask_heatmaps(views: Sequence[RunView], benches: Sequence[str]) -> list[str]:
    """Per benchmark with sub-tasks: rows = sub-tasks, columns = configurations."""
    out = []
    for b in benches:
        subs = sorted({s for v in views for s in v.subtasks.get(b, {})})
        if len(subs) < 2:
            continue
        cols = [f"{i + 1}. {v.label}" for i, v in enumerate(views)]
        vals = {
            (s, cols[i]): v.subtasks[b][s]
            for i, v in enumerate(views)
            for s in v.subtasks.get(b, {})
        }
        out.append(f"<h3>{e(b.upper() if b in HUB_COLUMNS else b)} per subtask</h3>")
        out.append(plots.heatmap(f"{b} accuracy per subtask", subs, cols, vals, f"heatmap-{b}"))
    return out


def _level_heatmaps(views: Sequence[RunView]) -> list[str]:
    """MATH: subject x level, per run."""
    out = []
    for i, v in enumerate(views):
        if not v.levels:
            continue
        subjects = sorted({s for s, _ in v.levels})
        lv = sorted({lvl for _, lvl in v.levels}, key=lambda x: (len(x), x))
        cols = [f"level {x}" for x in lv]
        vals = {(s, f"level {x}"): got for (s, x), got in v.levels.items()}
        out.append(f"<h3>MATH subject × level — {i + 1}. {e(v.label)}</h3>")
        out.append(
            plots.heatmap(
                f"subject x level, {v.label}", subjects, cols, vals, f"levels-{v.run.run_id}"
            )
        )
    return out


def _vote_curves(views: Sequence[RunView]) -> list[str]:
    """Self-consistency runs: maj@k and pass@k against k, per benchmark."""
    curves = [(v, b, c) for v in views for b, c in v.curves.items()]
    if not curves:
        return []
    out = ['<h3>Self-consistency: maj@k and pass@k</h3><div class="plots">']
    for b in sorted({b for _, b, _ in curves}):
        ser = []
        for v, bb, c in curves:
            if bb == b:
                ser.append((f"{v.label} maj@k", c.get("maj@k", []), False))
                ser.append((f"{v.label} pass@k", c.get("pass@k", []), True))
        title = f"{b}: maj@k (solid), pass@k (dashed)"
        out.append(_fig(plots.lines(title, ser, "k", "accuracy %", True, f"curves-{b}"), ""))
    out.append("</div>")
    return out


def _pareto_plots(views: Sequence[RunView], benches: Sequence[str]) -> list[str]:
    """Accuracy against tokens and dollars per item, with the Pareto frontier."""
    out = ['<h3>Accuracy against cost, with the Pareto frontier</h3><div class="plots">']
    for b in benches:
        cells = [(v.label, cell) for v in views if (cell := v.cells.get(b)) is not None]
        tok = [(label, c.tokens_per_item or 0.0, c.accuracy) for label, c in cells]
        usd = [(label, c.cost_per_item or 0.0, c.accuracy) for label, c in cells]
        title = f"{b}: accuracy vs tokens per item"
        out.append(_fig(plots.pareto(title, tok, "tokens per item", f"pareto-tokens-{b}"), ""))
        title = f"{b}: accuracy vs $ per item"
        out.append(_fig(plots.pareto(title, usd, "$ per item", f"pareto-usd-{b}"), ""))
    out.append("</div>")
    return out


def _length_histograms(views: Sequence[RunView]) -> list[str]:
    """Completion length by outcome, per run and benchmark."""
    out = ['<h3>Completion length by outcome</h3><div class="plots">']
    for v in views:
        for b, vals in v.lengths.items():
            trunc = sum(1 for _, k in vals if k == "truncated")
            out.append(
                _fig(
                    plots.histogram(f"{b} — {v.label}", vals, name=f"lengths-{v.run.run_id}-{b}"),
                    f"{trunc} of {len(vals)} truncated",
                )
            )
    out.append("</div>")
    return out


# ---- studies (``cothub report --study RESULT.json``) ----------------------------------------


def _num(v: object) -> float | None:
    """A finite number from study JSON, else None (the file is the user's: trust no value)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if f == f and abs(f) != float("inf") else None


def _pair(v: object) -> tuple[float, float] | None:
    if isinstance(v, list | tuple) and len(v) == 2:
        a, b = _num(v[0]), _num(v[1])
        if a is not None and b is not None:
            return (a, b)
    return None


def _dicts(study: dict[str, object], key: str) -> list[dict[str, object]]:
    raw = study.get(key)
    return [x for x in raw if isinstance(x, dict)] if isinstance(raw, list) else []


def _delta_ci(d: dict[str, object]) -> tuple[float, float] | None:
    """95% Wald interval of a paired difference of proportions from its discordant counts:
    delta +- z * sqrt(b + c - (b - c)^2 / n) / n."""
    from cothub.scoring.stats import Z95

    n, b, c, delta = _num(d.get("n")), _num(d.get("b")), _num(d.get("c")), _num(d.get("delta"))
    if not n or b is None or c is None or delta is None:
        return None
    half = Z95 * max(0.0, b + c - (b - c) ** 2 / n) ** 0.5 / n
    return (max(-1.0, delta - half), min(1.0, delta + half))


def _label(*parts: object) -> str:
    return safe(" · ".join(str(p) for p in parts if p not in (None, "")))


def _study_deltas(study: dict[str, object], title: str) -> str:
    rows = []
    for d in _dicts(study, "deltas"):
        v = _num(d.get("delta"))
        if v is None:
            continue
        star = " *" if d.get("significant") is True else ""
        rows.append(
            (_label(d.get("contrast"), d.get("task"), d.get("model")) + star, v, _delta_ci(d))
        )
    return _fig(
        plots.intervals(
            title, rows, (-1.0, 1.0), "paired delta, points (95% CI)", "study-deltas", True
        ),
        f"treatment minus control on the items both graded; * significant after "
        f"{safe(study.get('correction', 'holm'))} correction",
    )


def _study_points(study: dict[str, object], title: str, bounds: bool = False) -> str:
    rows = []
    for pt in _dicts(study, "points"):
        v = _num(pt.get("accuracy"))
        if v is None:
            continue
        lo, hi = _num(pt.get("lower")), _num(pt.get("upper"))
        ci = (lo, hi) if bounds and lo is not None and hi is not None else _pair(pt.get("ci95"))
        rows.append((_label(pt.get("cell"), pt.get("task"), pt.get("model")), v, ci))
    what = "bounds: every truncated reply wrong / right" if bounds else "whiskers: 95% CI"
    return _fig(plots.intervals(title, rows, name="study-points"), what)


def _study_curves(study: dict[str, object]) -> str:
    figs = []
    for c in _dicts(study, "curves"):
        pts = _dicts(c, "points")
        maj = [
            (k, m) for p in pts if (k := _num(p.get("k"))) and (m := _num(p.get("maj"))) is not None
        ]
        pas = [
            (k, m)
            for p in pts
            if (k := _num(p.get("k"))) and (m := _num(p.get("pass"))) is not None
        ]
        name = _label(c.get("model"), c.get("cell"), c.get("task"))
        series = [(f"maj@k {name}", maj, False), (f"pass@k {name}", pas, True)]
        figs.append(
            _fig(
                plots.lines(
                    f"{name}: maj@k and pass@k",
                    series,
                    "k (chains)",
                    "accuracy %",
                    name="study-curves",
                ),
                "solid: majority vote of k chains; dashed: any of k chains right",
            )
        )
    return "".join(figs) or plots.empty("no curves in this study")


def _study_scaling(study: dict[str, object]) -> str:
    figs = []
    points = _dicts(study, "points")
    for task in dict.fromkeys(str(p.get("task")) for p in points):
        pts = []
        for p in points:
            size, acc = _num(p.get("size_b")), _num(p.get("accuracy"))
            if str(p.get("task")) == task and size and acc is not None:
                pts.append((_label(p.get("model")), size, acc, False))
        figs.append(
            _fig(
                plots.scatter(
                    f"{safe(task)}: accuracy against model size",
                    pts,
                    "parameters (B)",
                    "accuracy %",
                    True,
                    "study-scaling",
                ),
                "models whose name gives no size are left out of the plot",
            )
        )
    return "".join(figs) or plots.empty("no sized models in this study")


def _study_code(study: dict[str, object]) -> str:
    from cothub.study.analysis import CODE, MEAN, benchmark_of

    scores: dict[str, dict[str, list[float]]] = {}
    for p in _dicts(study, "points"):
        acc, n = _num(p.get("correct")), _num(p.get("n"))
        if acc is None or not n:
            continue
        bench = benchmark_of(str(p.get("task")))
        got = scores.setdefault(str(p.get("model")), {}).setdefault(bench, [0.0, 0.0])
        got[0] += acc
        got[1] += n
    pooled = {m: {b: c / n for b, (c, n) in by.items()} for m, by in scores.items()}
    hub: dict[str, dict[str, float]] = {}
    for r in _dicts(study, "published"):
        acc = _num(r.get("accuracy"))
        if acc is not None:
            hub.setdefault(str(r.get("model")), {})[str(r.get("task"))] = acc
    reasoning = sorted({b for s in pooled.values() for b in s} - {CODE})

    def y_of(s: dict[str, float]) -> float | None:
        got = [s[b] for b in reasoning if b in s]
        return sum(got) / len(got) if got and len(got) == len(reasoning) else None

    pts = []
    for group, hollow in ((pooled, False), (hub, True)):
        for m, s in group.items():
            y = y_of(s)
            if CODE in s and y is not None:
                pts.append((_label(m), s[CODE], y, hollow))
    rho = [c for c in _dicts(study, "correlations") if c.get("y") == MEAN]
    note = "; ".join(
        f"{safe(c.get('scope'))}: rho {rh:+.2f}"
        for c in rho
        if (rh := _num(c.get("rho"))) is not None
    )
    return _fig(
        plots.scatter(
            f"HumanEval pass@1 against {MEAN} ({', '.join(reasoning)})",
            pts,
            "HumanEval pass@1 %",
            "reasoning accuracy %",
            name="study-code-reasoning",
            note=f"Spearman {note}" if note else "",
        ),
        "filled: this study's runs; hollow: published Chain-of-Thought Hub rows",
    )


def study_section(studies: Sequence[dict[str, object]]) -> str:
    """One block per study result (``cothub study --json``), each with its plot."""
    if not studies:
        return ""
    out = ['<section id="studies"><h2>Studies</h2>']
    for i, st in enumerate(studies):
        name, analysis = safe(st.get("study", f"study {i + 1}")), str(st.get("analysis", "paired"))
        out.append(f'<h3>{e(name)}: {e(st.get("description", ""))}</h3><div class="plots">')
        if analysis == "consistency":
            out.append(_study_curves(st))
        elif analysis == "budget":
            out.append(_study_points(st, f"{name}: accuracy with censoring bounds", bounds=True))
        elif analysis == "scaling":
            out.append(_study_scaling(st))
        elif analysis == "code-reasoning":
            out.append(_study_code(st))
        elif analysis == "complexity":
            out.append(_study_points(st, f"{name}: accuracy per exemplar set and vote"))
        if _dicts(st, "deltas"):
            out.append(_study_deltas(st, f"{name}: paired deltas"))
        out.append("</div>")
        raw = st.get("summary")
        lines = [x for x in raw if isinstance(x, str)] if isinstance(raw, list) else []
        if lines:
            out.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>")
    out.append("</section>")
    return "".join(out)


def read_study(path: object) -> dict[str, object]:
    """A study result file (``cothub study --json``); a wrong file is one line."""
    from pathlib import Path

    from cothub.errors import CothubError

    p = Path(str(path))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise CothubError(f"cannot read study result {p}: {err.strerror}") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise CothubError(f"{p} is not JSON: {err}") from None
    if not isinstance(data, dict) or "study" not in data or "points" not in data:
        raise CothubError(f"{p} is not a study result (write one with `cothub study ... --json`)")
    return data


def grader_panel(views: Sequence[RunView], sample_link: str | None = None) -> str:
    """Rule agreement (share of samples where every alternative extraction and check agreed)
    and the list of disagreements."""
    out = ['<section id="grader"><h2>Grader panel</h2>']
    agree = []
    for v in views:
        for b, c in v.cells.items():
            agree.append((f"{b} · {v.label}", 1 - v.n_disagreements.get(b, 0) / max(1, c.n)))
    out.append('<div class="plots">')
    out.append(
        _fig(
            plots.bars("rule agreement", agree, "agreement"),
            "share of samples on which every alternative extraction rule and check "
            "gives the same verdict",
        )
    )
    out.append("</div>")
    for v in views:
        meth = "; ".join(
            f"{b}: " + ", ".join(f"{m} {n}" for m, n in sorted(ms.items()))
            for b, ms in v.methods.items()
        )
        total = sum(v.n_disagreements.values())
        out.append(
            f"<h3>{e(v.label)} <span class='badge'>{e(v.run.run_id)}</span></h3>"
            f'<p class="note">extraction methods: {e(meth)}</p>'
        )
        for line in v.judges:
            out.append(f'<p class="judge-line">{e(line.text())}</p>')
        if v.judges:
            out.append(
                '<p class="note">judge accuracy: the rule verdicts with the judge\'s in their '
                "place on judged items only (a second number, never the headline); agreement: "
                "on judged items where the rule found an answer</p>"
            )
        if not total:
            out.append('<p class="note">no disagreements</p>')
        else:
            shown = len(v.disagreements)
            opened = " open" if shown <= 20 else ""
            out.append(
                f'<details class="disagreements"{opened}><summary>{total} disagreement'
                f"{'s' if total != 1 else ''}"
                f"{f' (first {shown} listed)' if shown < total else ''}</summary>"
            )
            out.append(_item_table("disagreements", v, v.disagreements, sample_link))
            out.append("</details>")
        if v.n_judged_unparsed:
            shown = len(v.judged_unparsed)
            n = v.n_judged_unparsed
            out.append(
                f'<details class="judged-unparsed"{" open" if shown <= 20 else ""}><summary>'
                f"{n} judged unparsed item{'s' if n != 1 else ''}"
                f"{f' (first {shown} listed)' if shown < n else ''}</summary>"
            )
            out.append(_item_table("judged-unparsed", v, v.judged_unparsed, sample_link))
            out.append("</details>")
    out.append("</section>")
    return "".join(out)


def _item_table(
    cls: str, v: RunView, items: Sequence[Disagreement], sample_link: str | None
) -> str:
    """Disagreeing or unparsed items with the rule verdict and, for a judged run, the judge's."""
    judge_th = "<th>judge</th>" if v.judges else ""
    out = [
        f'<table class="sortable {cls}"><thead><tr><th>task</th><th>item</th>'
        "<th>answer</th><th>gold</th><th>method</th><th>check</th><th>verdict</th>"
        f"{judge_th}</tr></thead><tbody>"
    ]
    for d in items:
        item = e(d.item_id)
        if sample_link:
            href = sample_link.format(
                run_id=quote(v.run.run_id, safe=""),
                task=quote(d.task, safe=""),
                item=quote(d.item_id, safe=""),
            )
            item = f'<a href="{e(href)}">{item}</a>'
        verdict = "correct" if d.correct else "wrong"
        judge = ""
        if v.judges:
            says = "; ".join(f"{who}: {what}" for who, what in d.judged) or "-"
            judge = f'<td class="judge">{e(says)}</td>'
        out.append(
            f"<tr><td>{e(d.task)}</td><td>{item}</td><td>{e(repr(d.answer))}</td>"
            f"<td>{e(d.gold)}</td><td>{e(d.method)}</td><td>{e(d.check)}</td>"
            f"<td>{verdict}</td>{judge}</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def provenance_section(views: Sequence[RunView]) -> str:
    out = ['<section id="provenance"><h2>Provenance</h2><div class="cols">']
    for i, v in enumerate(views):
        rows = "".join(f"<dt>{e(k)}</dt><dd>{e(val)}</dd>" for k, val in v.provenance)
        out.append(
            f'<div class="prov" data-run="{e(v.run.run_id)}"><h3>{i + 1}. {e(v.label)}'
            f'</h3><dl class="prov">{rows}</dl></div>'
        )
    out.append("</div></section>")
    return "".join(out)


def report_data(views: Sequence[RunView], published: Sequence[PublishedRow]) -> dict[str, object]:
    """What the tables show, as data (embedded in the file for tools and tests)."""
    return {
        "runs": [
            {
                "run_id": v.run.run_id,
                "label": v.label,
                "model": safe(v.run.model),
                "provenance": dict(v.provenance),
                "cells": {b: c.as_json() for b, c in v.cells.items()},
                "cost_usd": v.cost_usd,
                "disagreements": sum(v.n_disagreements.values()),
                "judges": [
                    {"judge": j.judge, "prompt_version": j.prompt_version, **j.summary.as_json()}
                    for j in v.judges
                ],
            }
            for v in views
        ],
        "published": [
            {"model": p.model, "scores": p.scores, "source": p.source} for p in published
        ],
    }


def report_document(
    views: Sequence[RunView],
    published: Sequence[PublishedRow],
    published_note: str,
    title: str = "cothub report",
    studies: Sequence[dict[str, object]] = (),
) -> str:
    """The whole self-contained report file; ``studies``: study results (``cothub study
    --json``), each drawn in a Studies section."""
    with secret_scope():
        return _document(views, published, published_note, title, studies)


def _document(
    views: Sequence[RunView],
    published: Sequence[PublishedRow],
    published_note: str,
    title: str,
    studies: Sequence[dict[str, object]] = (),
) -> str:
    from cothub import __version__

    policy = (
        "default-src 'none'; img-src data:; "
        f"style-src {csp_hash(CSS)}; script-src {csp_hash(SORT_JS)}; "
        "base-uri 'none'; form-action 'none'"
    )
    made = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runs = ", ".join(v.run.run_id for v in views) or "none"
    body = [
        '<header class="top"><h1>' + e(title) + "</h1>"
        f'<div class="sub">{len(views)} run{"s" if len(views) != 1 else ""} ({e(runs)}) · '
        f"generated {made} by cothub {e(__version__)} · {e(published_note)}</div></header><main>",
        '<section id="board"><h2>Leaderboard</h2>',
        leaderboard_table(views, published),
        "</section>",
        plots_section(views, published),
        study_section(studies),
        grader_panel(views),
        provenance_section(views),
        "</main>",
        json_block("cothub-data", report_data(views, published)),
        f"<script>{SORT_JS}</script>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )
