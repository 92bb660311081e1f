"""A study's result as terminal tables: accuracy per cell, then the paired deltas."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from cothub.study.analysis import Curve, StudyResult


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}"


def print_result(result: StudyResult, console: Console) -> None:
    """The accuracy table, the curves, the deltas with their tests, and the summary lines."""
    console.print(_accuracy_table(result))
    for c in result.curves:
        console.print(_curve_table(c))
    if result.deltas:
        console.print(_delta_table(result))
    if result.published and result.analysis == "code-reasoning":
        _print_hub_code(result, console)
    elif result.published:
        console.print(_published_table(result))
    if result.correlations:
        console.print(_correlation_table(result))
    for line in result.summary:
        console.print(line, markup=False, highlight=False)


def _accuracy_table(result: StudyResult) -> Table:
    """One row per (model, cell, task); a budget study adds its censoring columns, a scaling
    study the model size."""
    budget = result.analysis == "budget"
    acc = Table(title=f"study {result.name}: {result.description}")
    for col in ("model", "cell", "task", "n", "accuracy %", "95% CI"):
        acc.add_column(col, justify="right" if col in ("n", "accuracy %", "95% CI") else "left")
    if budget:
        for col in ("truncated %", "completed acc %", "bounds %", "tokens"):
            acc.add_column(col, justify="right")
    if result.analysis == "scaling":
        acc.add_column("size (B)", justify="right")
    for p in result.points:
        row = [
            p.model,
            p.cell,
            p.task,
            str(p.n),
            _pct(p.accuracy),
            f"{_pct(p.ci95[0])}-{_pct(p.ci95[1])}",
        ]
        if budget:
            e = p.censoring  # every point of a budget study has one
            row += ["-"] * 4 if e is None else [
                _pct(e.truncation_rate),
                _pct(e.accuracy_completed),
                f"{_pct(e.lower)}-{_pct(e.upper)}",
                f"{e.completion_tokens:.0f}",
            ]  # fmt: skip
        if result.analysis == "scaling":
            size = p.size.billions if p.size else None
            row.append("?" if size is None else f"{size:g}")
        acc.add_row(*row)
    return acc


def _curve_table(c: Curve) -> Table:
    t = Table(title=f"{c.model} · {c.cell} · {c.task}: maj@k and pass@k")
    for col in ("k", "maj@k %", "95% CI", "pass@k %", "tokens/item"):
        t.add_column(col, justify="right")
    for q in c.points:
        t.add_row(
            str(q.k),
            _pct(q.maj),
            f"{_pct(q.maj_ci95[0])}-{_pct(q.maj_ci95[1])}",
            _pct(q.pass_at),
            f"{q.tokens:.0f}",
        )
    return t


def _delta_table(result: StudyResult) -> Table:
    d = Table(title=f"paired deltas (exact McNemar, {result.correction}-corrected)")
    for col in ("contrast", "model", "task", "pairs", "delta", "b/c", "p", "p adj", "sig"):
        d.add_column(col, justify="left" if col in ("contrast", "model", "task") else "right")
    for x in result.deltas:
        d.add_row(
            x.contrast,
            x.model,
            x.task,
            str(x.n),
            f"{x.delta * 100:+.1f}",
            f"{x.b}/{x.c}",
            f"{x.p:.3g}",
            f"{x.p_adjusted:.3g}",
            "*" if x.significant else "",
        )
    return d


def _published_table(result: StudyResult) -> Table:
    pub = Table(title="published Chain-of-Thought Hub rows of these models")
    for col in ("model", "published as", "task", "accuracy %", "source"):
        pub.add_column(col)
    for r in result.published:
        pub.add_row(
            str(r["model"]),
            str(r["published_as"]),
            str(r["task"]),
            _pct(float(str(r["accuracy"]))),
            str(r["source"])[:60],
        )
    return pub


def _correlation_table(result: StudyResult) -> Table:
    rho = Table(title="HumanEval pass@1 against reasoning: Spearman rank correlation")
    for col in ("reasoning", "scope", "models", "rho", "95% CI (bootstrap)", "p (permutation)"):
        rho.add_column(col, justify="left" if col in ("reasoning", "scope") else "right")
    for cor in result.correlations:
        rh, ci, pv = cor.get("rho"), cor.get("ci95"), cor.get("p")
        rho.add_row(
            str(cor["y"]),
            str(cor["scope"]),
            str(cor["n"]),
            "-" if rh is None else f"{float(str(rh)):+.2f}",
            f"{ci[0]:+.2f} to {ci[1]:+.2f}" if isinstance(ci, list) else "-",
            "-" if pv is None else f"{float(str(pv)):.3g} ({cor['p_method']})",
        )
    return rho


def _print_hub_code(result: StudyResult, console: Console) -> None:
    """The hub's rows with a HumanEval number: one row a model, HumanEval beside the others."""
    cols = list(dict.fromkeys(str(r["task"]) for r in result.published))
    rows: dict[str, dict[str, float]] = {}
    for r in result.published:
        rows.setdefault(str(r["model"]), {})[str(r["task"])] = float(str(r["accuracy"]))
    t = Table(title="published Chain-of-Thought Hub rows with HumanEval (%)")
    t.add_column("model")
    for c in cols:
        t.add_column(c, justify="right")
    for model, scores in rows.items():
        t.add_row(model, *(_pct(scores.get(c)) for c in cols))
    console.print(t)
