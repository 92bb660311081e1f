"""Plots as inline SVG, drawn in Python: no plotting engine, no script, nothing to fetch.

An SVG string renders the same from ``file://``, in the browser view, in a mail attachment and
under a Content-Security-Policy that allows no script at all; every label is escaped with
:func:`html.escape`, so a model or task name can never become markup. Each function returns one
``<svg class="plot">`` element (or a short note when there is nothing to draw).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

PALETTE = (
    "#4269d0",
    "#efb118",
    "#ff725c",
    "#6cc5b0",
    "#3ca951",
    "#ff8ab7",
    "#a463f2",
    "#97bbf5",
    "#9c6b4e",
    "#9498a0",
)
OUTCOME_COLORS = {"correct": "#3ca951", "wrong": "#ff725c", "truncated": "#efb118"}
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _open(width: float, height: float, name: str, title: str) -> str:
    return (
        f'<svg class="plot" data-plot="{_e(name)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="{_e(title)}" {FONT}><title>{_e(title)}</title>'
        f'<rect width="100%" height="100%" fill="#fff"/>'
    )


def empty(note: str) -> str:
    return f'<p class="noplot">{_e(note)}</p>'


def _text(x: float, y: float, s: object, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{_e(s)}</text>'


def _clip(s: str, n: int = 38) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + 1e-12:
        out.append(round(v, 10))
        v += step
    return out


def _percent_frame(
    svg: tuple[float, float, str, str],
    left: float,
    pw: float,
    py: Callable[[float], float],
    y_range: tuple[float, float],
    *,
    title_y: int,
    clip: int,
) -> list[str]:
    """The opening of a chart with a 0-100 % y axis: svg header, title, grid lines and labels."""
    width, height, name, title = svg
    out = [
        _open(width, height, name, title),
        _text(left, title_y, _clip(title, clip), extra='font-weight="600"'),
    ]
    for t in _ticks(*y_range):
        out.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>'
        )
        out.append(_text(left - 4, py(t) + 4, f"{100 * t:.0f}", "end"))
    return out


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


def ci_dots(
    benchmarks: Sequence[str],
    series: Sequence[tuple[str, Mapping[str, tuple[float, tuple[float, float] | None]]]],
    published: Sequence[tuple[str, Mapping[str, float]]] = (),
) -> str:
    """Per benchmark, each configuration's accuracy as a dot with its 95% CI whisker; published
    numbers as hollow diamonds (no CI is published)."""
    if not benchmarks or not series:
        return empty("no benchmark results")
    rows = len(series) + (1 if published else 0)
    band = max(40, 16 * rows + 16)
    left, width, top = 150, 680, 30
    legend_y = top + band * len(benchmarks) + 52
    height = legend_y + 15 * (len(series) + (1 if published else 0))
    plot_w = width - left - 20
    out = [_open(width, height, "accuracy-ci", "accuracy per benchmark with 95% CI")]

    def x(v: float) -> float:
        return left + plot_w * max(0.0, min(1.0, v))

    for t in _ticks(0, 1, 10):
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" '
            f'y2="{top + band * len(benchmarks)}" stroke="#eee"/>'
        )
        out.append(_text(x(t), top + band * len(benchmarks) + 14, f"{100 * t:.0f}", "middle"))
    out.append(
        _text(left + plot_w / 2, top + band * len(benchmarks) + 30, "accuracy % (95% CI)", "middle")
    )
    for bi, bench in enumerate(benchmarks):
        y0 = top + band * bi
        if bi:
            out.append(f'<line x1="10" x2="{width - 10}" y1="{y0}" y2="{y0}" stroke="#ccc"/>')
        out.append(_text(10, y0 + band / 2 + 4, bench.upper(), extra='font-weight="600"'))
        for si, (_, cells) in enumerate(series):
            got = cells.get(bench)
            if got is None:
                continue
            acc, ci = got
            y = y0 + 12 + 16 * si
            if ci is not None:
                out.append(
                    f'<line x1="{x(ci[0]):.1f}" x2="{x(ci[1]):.1f}" y1="{y}" y2="{y}" '
                    f'stroke="{color(si)}" stroke-width="2"/>'
                )
            out.append(
                f'<circle cx="{x(acc):.1f}" cy="{y}" r="4" fill="{color(si)}">'
                f"<title>{_e(series[si][0])}: {100 * acc:.1f}%</title></circle>"
            )
        for name, scores in published:
            if bench not in scores:
                continue
            y = y0 + 12 + 16 * len(series)  # every published number on one line (hover: name)
            cx = x(scores[bench])
            out.append(
                f'<path d="M{cx:.1f},{y - 5} l5,5 l-5,5 l-5,-5 z" fill="none" '
                f'stroke="#555" stroke-width="1.5"><title>published: {_e(name)} '
                f"{100 * scores[bench]:.1f}%</title></path>"
            )
            if len(published) <= 3:
                out.append(_text(cx + 8, y + 4, _clip(name, 24), extra='fill="#777"'))
    out.append(
        _legend(
            [n for n, _ in series],
            10,
            legend_y,
            "◇ published (Chain-of-Thought Hub; hover for the model)" if published else "",
        )
    )
    out.append("</svg>")
    return "".join(out)


def _legend(names: Sequence[str], x0: float, y: float, note: str = "") -> str:
    """One entry a line, from ``y`` down."""
    out = []
    for i, name in enumerate(names):
        yy = y + 15 * i
        out.append(f'<rect x="{x0:.0f}" y="{yy - 9}" width="10" height="10" fill="{color(i)}"/>')
        out.append(_text(x0 + 14, yy, _clip(name, 90)))
    if note:
        out.append(_text(x0, y + 15 * len(names), note, extra='fill="#555"'))
    return "".join(out)


def heatmap(
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    values: Mapping[tuple[str, str], tuple[float, int]],
    name: str = "heatmap",
) -> str:
    """Accuracy per (row, column) cell; cells show the percentage, the tooltip adds n."""
    if not rows or not cols:
        return empty(f"{title}: nothing to show")
    label_w = min(260, 20 + 6.4 * max(len(_clip(r, 40)) for r in rows))
    cw = max(34, min(70, (900 - label_w) / len(cols)))
    ch = 18
    head = min(140, 14 + 6 * max(len(_clip(c, 24)) for c in cols))
    width = label_w + cw * len(cols) + 20 + 0.77 * head
    height = head + ch * len(rows) + 30
    out = [_open(width, height, name, title)]
    for ci, c in enumerate(cols):
        cx = label_w + cw * ci + cw / 2
        out.append(
            f'<text transform="translate({cx:.1f},{head - 6}) rotate(-40)">'
            f"{_e(_clip(c, 24))}</text>"
        )
    for ri, r in enumerate(rows):
        y = head + ch * ri
        out.append(_text(label_w - 6, y + 13, _clip(r, 40), "end"))
        for ci, c in enumerate(cols):
            got = values.get((r, c))
            x = label_w + cw * ci
            if got is None:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{cw - 1:.1f}" height="{ch - 1}" '
                    'fill="#f4f4f4"/>'
                )
                continue
            acc, n = got
            fill, ink = _ramp(acc)
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{cw - 1:.1f}" height="{ch - 1}" '
                f'fill="{fill}"><title>{_e(r)} / {_e(c)}: {100 * acc:.1f}% of {n}'
                "</title></rect>"
            )
            out.append(_text(x + cw / 2, y + 13, f"{100 * acc:.0f}", "middle", f'fill="{ink}"'))
    out.append(_text(10, height - 8, "cell: accuracy % (hover for n)", extra='fill="#555"'))
    out.append("</svg>")
    return "".join(out)


def _ramp(v: float) -> tuple[str, str]:
    """White-to-blue for accuracy in [0, 1], and a legible ink for the number on it."""
    v = max(0.0, min(1.0, v))
    r, g, b = (int(247 + (c - 247) * v) for c in (33, 102, 172))
    return f"#{r:02x}{g:02x}{b:02x}", ("#fff" if v > 0.55 else "#222")


def lines(
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[float, float]], bool]],
    xlabel: str,
    ylabel: str,
    log_x: bool = False,
    name: str = "lines",
) -> str:
    """Curves (name, points, dashed): maj@k and pass@k against k."""
    pts = [p for _, s, _ in series for p in s]
    if not pts:
        return empty(f"{title}: nothing to show")
    width, left, bottom, top = 520, 50, 50 + 15 * len(series), 24
    height = 250 + bottom
    xs = [p[0] for p in pts]
    fx = (lambda v: math.log2(v)) if log_x else (lambda v: v)
    x_lo, x_hi = fx(min(xs)), fx(max(xs))
    if x_hi == x_lo:
        x_hi = x_lo + 1
    y_lo = max(0.0, math.floor(10 * min(p[1] for p in pts)) / 10 - 0.05)
    y_hi = min(1.0, math.ceil(10 * max(p[1] for p in pts)) / 10 + 0.02)
    if y_hi <= y_lo:
        y_hi = y_lo + 0.1
    pw, ph = width - left - 20, height - top - bottom

    def px(v: float) -> float:
        return left + pw * (fx(v) - x_lo) / (x_hi - x_lo)

    def py(v: float) -> float:
        return top + ph * (1 - (v - y_lo) / (y_hi - y_lo))

    out = _percent_frame(
        (width, height, name, title), left, pw, py, (y_lo, y_hi), title_y=14, clip=74
    )
    for k in sorted(set(xs)):
        out.append(_text(px(k), top + ph + 14, _fmt(k), "middle"))
    out.append(_text(left + pw / 2, top + ph + 30, xlabel, "middle"))
    out.append(
        f'<text transform="translate(12,{top + ph / 2}) rotate(-90)" '
        f'text-anchor="middle">{_e(ylabel)}</text>'
    )
    for i, (label, s, dashed) in enumerate(series):
        if not s:
            continue
        path = " ".join(
            f"{'M' if j == 0 else 'L'}{px(a):.1f},{py(b):.1f}" for j, (a, b) in enumerate(sorted(s))
        )
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        out.append(
            f'<path d="{path}" fill="none" stroke="{color(i // 2 if len(series) > 1 else i)}"'
            f' stroke-width="2"{dash}><title>{_e(label)}</title></path>'
        )
        for a, b in s:
            out.append(
                f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3" '
                f'fill="{color(i // 2 if len(series) > 1 else i)}"><title>{_e(label)} '
                f"k={_fmt(a)}: {100 * b:.1f}%</title></circle>"
            )
    x = left
    for i, (label, _, dashed) in enumerate(series):
        y = top + ph + 48 + 15 * i
        c = color(i // 2 if len(series) > 1 else i)
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        out.append(
            f'<line x1="{x}" x2="{x + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{c}" '
            f'stroke-width="2"{dash}/>'
        )
        out.append(_text(x + 22, y, _clip(label, 70)))
    out.append("</svg>")
    return "".join(out)


def pareto(
    title: str,
    points: Sequence[tuple[str, float, float]],
    xlabel: str,
    name: str = "pareto",
) -> str:
    """Accuracy (y) against a cost (x, log scale) per run; the frontier of runs that no other
    run beats on both is drawn as a step line."""
    pts = [(n, x, y) for n, x, y in points if x > 0]
    if not pts:
        return empty(f"{title}: no run has this cost recorded")
    width, height, left, bottom, top = 520, 300, 50, 44, 24
    lx = [math.log10(p[1]) for p in pts]
    x_lo, x_hi = min(lx) - 0.15, max(lx) + 0.15
    ys = [p[2] for p in pts]
    y_lo = max(0.0, math.floor(10 * min(ys)) / 10 - 0.05)
    y_hi = min(1.0, math.ceil(10 * max(ys)) / 10 + 0.02)
    if y_hi <= y_lo:
        y_hi = y_lo + 0.1
    pw, ph = width - left - 20, height - top - bottom

    def px(v: float) -> float:
        return left + pw * (math.log10(v) - x_lo) / (x_hi - x_lo)

    def py(v: float) -> float:
        return top + ph * (1 - (v - y_lo) / (y_hi - y_lo))

    out = _percent_frame(
        (width, height, name, title), left, pw, py, (y_lo, y_hi), title_y=14, clip=74
    )
    for e in range(math.floor(x_lo), math.ceil(x_hi) + 1):
        if x_lo <= e <= x_hi:
            out.append(_text(px(10.0**e), top + ph + 14, _fmt(10.0**e), "middle"))
    out.append(_text(left + pw / 2, height - 12, xlabel + " (log scale)", "middle"))
    out.append(
        f'<text transform="translate(12,{top + ph / 2}) rotate(-90)" '
        'text-anchor="middle">accuracy %</text>'
    )
    frontier = []
    best = -1.0
    for n, x, y in sorted(pts, key=lambda p: (p[1], -p[2])):
        if y > best:
            frontier.append((n, x, y))
            best = y
    if len(frontier) > 1:
        d = f"M{px(frontier[0][1]):.1f},{py(frontier[0][2]):.1f}"
        for _, x, y in frontier[1:]:
            d += f" H{px(x):.1f} V{py(y):.1f}"
        out.append(
            f'<path class="frontier" d="{d}" fill="none" stroke="#888" '
            'stroke-dasharray="4,3"><title>Pareto frontier</title></path>'
        )
    on = {id(p) for p in frontier}
    for i, p in enumerate(pts):
        n, x, y = p
        stroke = ' stroke="#000" stroke-width="1.5"' if id(p) in on else ""
        out.append(
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="5" fill="{color(i)}"{stroke}>'
            f"<title>{_e(n)}: {100 * y:.1f}% at {_fmt(x)}</title></circle>"
        )
    out.append(_text(width - 20, 14, "outlined: on the frontier", "end", 'fill="#555"'))
    out.append("</svg>")
    return "".join(out)


def histogram(
    title: str,
    values: Sequence[tuple[int, str]],
    bins: int = 24,
    name: str = "histogram",
) -> str:
    """Completion lengths (tokens) stacked by outcome: correct, wrong, truncated."""
    if not values:
        return empty(f"{title}: no samples")
    hi = max(v for v, _ in values)
    lo = min(v for v, _ in values)
    width_bin = max(1, math.ceil((hi - lo + 1) / bins))
    counts: dict[str, list[int]] = {k: [0] * bins for k in OUTCOME_COLORS}
    for v, kind in values:
        counts.setdefault(kind, [0] * bins)[min(bins - 1, (v - lo) // width_bin)] += 1
    top_n = max(sum(counts[k][i] for k in counts) for i in range(bins)) or 1
    width, height, left, bottom, top = 520, 260, 50, 46, 24
    pw, ph = width - left - 20, height - top - bottom
    bw = pw / bins
    out = [
        _open(width, height, name, title),
        _text(left, 14, _clip(title, 74), extra='font-weight="600"'),
    ]
    for t in _ticks(0, top_n, 4):
        y = top + ph * (1 - t / top_n)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(_text(left - 4, y + 4, _fmt(t), "end"))
    for i in range(bins):
        base: float = top + ph
        for kind, c in OUTCOME_COLORS.items():
            n = counts[kind][i]
            if not n:
                continue
            h = ph * n / top_n
            base -= h
            a, b = lo + i * width_bin, lo + (i + 1) * width_bin - 1
            out.append(
                f'<rect x="{left + i * bw:.1f}" y="{base:.1f}" width="{bw - 1:.1f}" '
                f'height="{h:.1f}" fill="{c}"><title>{kind}: {n} with {a}-{b} tokens'
                "</title></rect>"
            )
    for i in range(0, bins + 1, max(1, bins // 6)):
        out.append(_text(left + i * bw, top + ph + 14, _fmt(lo + i * width_bin), "middle"))
    out.append(_text(left + pw / 2, height - 16, "completion tokens", "middle"))
    x = left
    for kind, c in OUTCOME_COLORS.items():
        total = sum(counts[kind])
        out.append(f'<rect x="{x}" y="{height - 11}" width="10" height="10" fill="{c}"/>')
        out.append(_text(x + 14, height - 2, f"{kind} ({total})"))
        x += 110
    out.append("</svg>")
    return "".join(out)


def bars(
    title: str,
    values: Sequence[tuple[str, float]],
    name: str = "bars",
    unit: str = "%",
) -> str:
    """Horizontal bars in [0, 1] (rule agreement per task)."""
    if not values:
        return empty(f"{title}: nothing to show")
    left, width, bh = 280, 640, 20
    height = 30 + bh * len(values) + 24
    pw = width - left - 60
    out = [_open(width, height, name, title), _text(10, 14, title, extra='font-weight="600"')]
    for i, (label, v) in enumerate(values):
        y = 24 + bh * i
        out.append(_text(left - 6, y + 14, _clip(label, 44), "end"))
        out.append(
            f'<rect x="{left}" y="{y + 2}" width="{pw * max(0.0, min(1.0, v)):.1f}" '
            f'height="{bh - 5}" fill="{color(i)}"><title>{_e(label)}: {100 * v:.1f}'
            f"{unit}</title></rect>"
        )
        out.append(_text(left + pw * max(0.0, min(1.0, v)) + 4, y + 14, f"{100 * v:.1f}{unit}"))
    out.append("</svg>")
    return "".join(out)


def intervals(
    title: str,
    rows: Sequence[tuple[str, float, tuple[float, float] | None]],
    axis: tuple[float, float] = (0.0, 1.0),
    xlabel: str = "accuracy %",
    name: str = "intervals",
    signed: bool = False,
) -> str:
    """One row a (label, value, interval): a dot with its whisker on a shared axis in percent;
    ``signed`` draws the zero line and prints values with their sign (paired deltas)."""
    if not rows:
        return empty(f"{title}: nothing to show")
    lo, hi = axis
    left, width, rh, top = 300, 720, 18, 30
    height = top + rh * len(rows) + 44
    pw = width - left - 70

    def x(v: float) -> float:
        return left + pw * (max(lo, min(hi, v)) - lo) / ((hi - lo) or 1)

    out = [
        _open(width, height, name, title),
        _text(10, 16, _clip(title, 110), extra='font-weight="600"'),
    ]
    bottom = top + rh * len(rows)
    for t in _ticks(lo, hi, 8):
        stroke = "#999" if signed and abs(t) < 1e-12 else "#eee"
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{bottom}" stroke="{stroke}"/>'
        )
        out.append(
            _text(
                x(t), bottom + 14, f"{100 * t:+.0f}" if signed and t else f"{100 * t:.0f}", "middle"
            )
        )
    out.append(_text(left + pw / 2, bottom + 32, xlabel, "middle"))
    for i, (label, v, ci) in enumerate(rows):
        y = top + rh * i + rh / 2
        out.append(_text(left - 8, y + 4, _clip(label, 48), "end"))
        if ci is not None:
            out.append(
                f'<line x1="{x(ci[0]):.1f}" x2="{x(ci[1]):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{color(0)}" stroke-width="2"/>'
            )
        shown = f"{100 * v:+.1f}" if signed else f"{100 * v:.1f}"
        bounds = "" if ci is None else f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
        out.append(
            f'<circle cx="{x(v):.1f}" cy="{y:.1f}" r="4" fill="{color(0)}">'
            f"<title>{_e(label)}: {shown}{bounds}</title></circle>"
        )
        out.append(_text(width - 10, y + 4, shown, "end", 'fill="#555"'))
    out.append("</svg>")
    return "".join(out)


def scatter(
    title: str,
    points: Sequence[tuple[str, float, float, bool]],
    xlabel: str,
    ylabel: str,
    log_x: bool = False,
    name: str = "scatter",
    note: str = "",
) -> str:
    """(label, x, y, hollow) points: y in [0, 1] as percent; x on a log10 axis (model size) or
    in [0, 1] as percent; hollow points are the published ones. Each point is labelled."""
    pts = [p for p in points if not log_x or p[1] > 0]
    if not pts:
        return empty(f"{title}: nothing to show")
    width, height, left, bottom, top = 620, 340, 54, 52, 26
    pw, ph = width - left - 120, height - top - bottom
    if log_x:
        lx = [math.log10(p[1]) for p in pts]
        x_lo, x_hi = min(lx) - 0.2, max(lx) + 0.2
    else:
        x_lo = max(0.0, math.floor(10 * min(p[1] for p in pts)) / 10 - 0.05)
        x_hi = min(1.0, math.ceil(10 * max(p[1] for p in pts)) / 10 + 0.05)
        if x_hi <= x_lo:
            x_hi = x_lo + 0.1
    y_lo = max(0.0, math.floor(10 * min(p[2] for p in pts)) / 10 - 0.05)
    y_hi = min(1.0, math.ceil(10 * max(p[2] for p in pts)) / 10 + 0.05)
    if y_hi <= y_lo:
        y_hi = y_lo + 0.1

    def px(v: float) -> float:
        u = math.log10(v) if log_x else v
        return left + pw * (u - x_lo) / (x_hi - x_lo)

    def py(v: float) -> float:
        return top + ph * (1 - (v - y_lo) / (y_hi - y_lo))

    out = _percent_frame(
        (width, height, name, title), left, pw, py, (y_lo, y_hi), title_y=16, clip=90
    )
    if log_x:
        for e in range(math.floor(x_lo), math.ceil(x_hi) + 1):
            if x_lo <= e <= x_hi:
                out.append(_text(px(10.0**e), top + ph + 14, _fmt(10.0**e), "middle"))
    else:
        for t in _ticks(x_lo, x_hi):
            out.append(_text(px(t), top + ph + 14, f"{100 * t:.0f}", "middle"))
    out.append(
        _text(left + pw / 2, top + ph + 32, xlabel + (" (log scale)" if log_x else ""), "middle")
    )
    out.append(
        f'<text transform="translate(12,{top + ph / 2}) rotate(-90)" '
        f'text-anchor="middle">{_e(ylabel)}</text>'
    )
    for i, (label, xv, yv, hollow) in enumerate(pts):
        cx, cy = px(xv), py(yv)
        fill = 'fill="none" stroke="#555" stroke-width="1.5"' if hollow else f'fill="{color(i)}"'
        shown = _fmt(xv) if log_x else f"{100 * xv:.1f}%"
        out.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" {fill}><title>{_e(label)}: '
            f"{shown}, {100 * yv:.1f}%</title></circle>"
        )
        out.append(_text(cx + 7, cy + 4, _clip(label, 22), extra='fill="#444"'))
    if note:
        out.append(_text(left, height - 6, _clip(note, 100), extra='fill="#555"'))
    out.append("</svg>")
    return "".join(out)
