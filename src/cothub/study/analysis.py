"""What a study's cells say: accuracy with a 95% interval per cell and task, and every contrast
paired on the items both cells graded, with the exact McNemar test and the Holm correction over
the study's whole grid (:mod:`cothub.scoring.stats`). Pure functions of :class:`CellRun` lists.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from cothub.scoring.stats import holm, mcnemar_exact, mean_ci, pass_at_k, wilson
from cothub.study.execute import CellRun, Item
from cothub.study.spec import Contrast, StudySpec

CORRECTION = "holm"
"""The multiple-comparison correction every study applies, named in its output."""


@dataclass(frozen=True, slots=True)
class Censoring:
    """Budget: a truncated reply is censored, not wrong; the accuracy on the completed items and
    the bounds if every truncated one were wrong (``lower``) or right (``upper``)."""

    completed: int
    truncation_rate: float
    accuracy_completed: float | None
    """None when no reply completed."""
    ci95_completed: tuple[float, float]
    lower: float
    upper: float
    completion_tokens: float
    """Mean completion tokens per item."""

    def items(self) -> Iterator[tuple[str, object]]:
        yield "completed", self.completed
        yield "truncation_rate", self.truncation_rate
        yield "accuracy_completed", self.accuracy_completed
        yield "ci95_completed", list(self.ci95_completed)
        yield "lower", self.lower
        yield "upper", self.upper
        yield "completion_tokens", self.completion_tokens


@dataclass(frozen=True, slots=True)
class ModelSize:
    """Scaling: parameters in billions, as the store records them (``--model-size``) or else
    read from the model name; None when neither says."""

    billions: float | None


@dataclass(frozen=True, slots=True)
class Point:
    """One cell's accuracy on one task for one model."""

    model: str
    cell: str
    task: str
    n: int
    correct: int
    accuracy: float
    ci95: tuple[float, float]
    truncated: int = 0
    censoring: Censoring | None = None
    """The budget analysis's bounds; None elsewhere (and not written)."""
    size: ModelSize | None = None
    """The scaling analysis's model size; None elsewhere (and not written)."""

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "model": self.model,
            "cell": self.cell,
            "task": self.task,
            "n": self.n,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "ci95": list(self.ci95),
            "truncated": self.truncated,
        }
        if self.censoring is not None:
            out.update(self.censoring.items())
        if self.size is not None:
            out["size_b"] = self.size.billions
        return out


@dataclass(frozen=True, slots=True)
class Delta:
    """Treatment minus control on the items both graded, with its exact test."""

    contrast: str
    family: str
    model: str
    task: str
    n: int
    """Items both cells graded (the pairs)."""
    treatment: float
    control: float
    delta: float
    b: int
    """Pairs the treatment got right and the control wrong."""
    c: int
    """Pairs the control got right and the treatment wrong."""
    p: float
    """Exact two-sided McNemar p-value."""
    p_adjusted: float = 1.0
    """Holm-adjusted over every delta of the study."""
    significant: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "contrast": self.contrast,
            "family": self.family,
            "model": self.model,
            "task": self.task,
            "n": self.n,
            "treatment": self.treatment,
            "control": self.control,
            "delta": self.delta,
            "b": self.b,
            "c": self.c,
            "p": self.p,
            "p_adjusted": self.p_adjusted,
            "significant": self.significant,
        }


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One k of a self-consistency curve."""

    k: int
    maj: float
    maj_ci95: tuple[float, float]
    pass_at: float
    pass_ci95: tuple[float, float]
    tokens: float
    """Mean tokens per item that k chains cost (prompt once, as a batched request pays it)."""

    def as_json(self) -> dict[str, object]:
        return {
            "k": self.k,
            "maj": self.maj,
            "maj_ci95": list(self.maj_ci95),
            "pass": self.pass_at,
            "pass_ci95": list(self.pass_ci95),
            "tokens": self.tokens,
        }


@dataclass(frozen=True, slots=True)
class Curve:
    model: str
    cell: str
    task: str
    points: tuple[CurvePoint, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "cell": self.cell,
            "task": self.task,
            "points": [p.as_json() for p in self.points],
        }


@dataclass(frozen=True, slots=True)
class StudyResult:
    """A study's findings: what the table prints, ``--json`` writes and a plot reads."""

    name: str
    description: str
    analysis: str
    points: tuple[Point, ...]
    deltas: tuple[Delta, ...] = ()
    curves: tuple[Curve, ...] = ()
    summary: tuple[str, ...] = ()
    """Plain-language lines (which tasks CoT helps significantly ...)."""
    runs: tuple[dict[str, object], ...] = ()
    """Each cell's run: model, cell, run id, requests sent now, cached answers."""
    alpha: float = 0.05
    correction: str = CORRECTION
    published: tuple[dict[str, object], ...] = ()
    """Scaling: the published Chain-of-Thought Hub rows of the study's models and tasks;
    code-reasoning: every hub row with a HumanEval number, each benchmark beside it."""
    correlations: tuple[dict[str, object], ...] = ()
    """Code-reasoning: Spearman's rho of HumanEval against each reasoning score, per scope
    (:class:`cothub.study.correlation.RankCorrelation` as JSON)."""

    def as_json(self) -> dict[str, object]:
        return {
            "study": self.name,
            "description": self.description,
            "analysis": self.analysis,
            "correction": self.correction,
            "alpha": self.alpha,
            "points": [p.as_json() for p in self.points],
            "deltas": [d.as_json() for d in self.deltas],
            "curves": [c.as_json() for c in self.curves],
            "summary": list(self.summary),
            "runs": list(self.runs),
            "published": list(self.published),
            "correlations": list(self.correlations),
        }


# ---- the pieces ----------------------------------------------------------------------------


def point(model: str, cell: str, task: str, items: dict[str, Item]) -> Point:
    n = len(items)
    correct = sum(it.correct for it in items.values())
    truncated = sum(it.truncated for it in items.values())
    return Point(
        model, cell, task, n, correct, correct / n if n else 0.0, wilson(correct, n), truncated
    )


def paired(
    contrast: Contrast,
    model: str,
    task: str,
    treatment: dict[str, Item],
    control: dict[str, Item],
    censored: bool = False,
) -> Delta | None:
    """The paired delta on the items both cells graded (``censored``: and both completed);
    None when there is no such item."""
    both = sorted(
        i
        for i in treatment.keys() & control.keys()
        if not (censored and (treatment[i].truncated or control[i].truncated))
    )
    if not both:
        return None
    t = [treatment[i].correct for i in both]
    c = [control[i].correct for i in both]
    b = sum(x and not y for x, y in zip(t, c, strict=True))
    cc = sum(y and not x for x, y in zip(t, c, strict=True))
    n = len(both)
    return Delta(
        contrast.name,
        contrast.family,
        model,
        task,
        n,
        sum(t) / n,
        sum(c) / n,
        (sum(t) - sum(c)) / n,
        b,
        cc,
        mcnemar_exact(b, cc),
    )


def corrected(deltas: Sequence[Delta], alpha: float) -> list[Delta]:
    """Every delta with its Holm-adjusted p-value over the whole family."""
    from dataclasses import replace

    adjusted = holm([d.p for d in deltas])
    return [
        replace(d, p_adjusted=a, significant=a < alpha)
        for d, a in zip(deltas, adjusted, strict=True)
    ]


def _by(runs: Sequence[CellRun]) -> dict[tuple[str, str], CellRun]:
    return {(r.model, r.cell.label): r for r in runs}


def _contrasts(spec: StudySpec, runs: Sequence[CellRun], censored: bool = False) -> list[Delta]:
    by = _by(runs)
    models = list(dict.fromkeys(r.model for r in runs))
    out = []
    for k in spec.contrasts:
        for m in models:
            t, c = by.get((m, k.treatment)), by.get((m, k.control))
            if t is None or c is None:
                continue
            for task in sorted(set(t.tasks()) & set(c.tasks())):
                d = paired(k, m, task, t.of_task(task), c.of_task(task), censored)
                if d is not None:
                    out.append(d)
    return out


def _points(runs: Sequence[CellRun]) -> list[Point]:
    return [point(r.model, r.cell.label, t, r.of_task(t)) for r in runs for t in r.tasks()]


def _run_rows(runs: Sequence[CellRun]) -> tuple[dict[str, object], ...]:
    return tuple(
        {
            "model": r.model,
            "cell": r.cell.label,
            "run_id": r.run_id,
            "requests": r.requests,
            "cached": r.cached,
        }
        for r in runs
    )


# ---- the analyses --------------------------------------------------------------------------


def analyse(
    spec: StudySpec, runs: Sequence[CellRun], sizes: Mapping[str, float] | None = None
) -> StudyResult:
    """The study's result from its cells' runs, by the spec's analysis; ``sizes``: parameters
    in billions by model where the store records them (``--model-size``), which a scaling study
    prefers to a size read from the model's name."""
    points = _points(runs)
    curves: list[Curve] = []
    extra: list[Delta] = []
    censored = spec.analysis == "budget"
    if spec.analysis == "budget":
        points = [
            _censoring(p, r)
            for r in runs
            for p in points
            if (p.model, p.cell) == (r.model, r.cell.label)
        ]
    elif spec.analysis == "consistency":
        curves = [_curve(r, t) for r in runs for t in r.tasks()]
    elif spec.analysis == "complexity":
        more, extra = _voting(runs)
        points += more
    elif spec.analysis == "scaling":
        points = [_sized(p, sizes or {}) for p in points]
        extra = _adjacent_sizes(points, runs)
    deltas = corrected(_contrasts(spec, runs, censored) + extra, spec.alpha)
    return StudyResult(
        spec.name,
        spec.description,
        spec.analysis,
        tuple(points),
        tuple(deltas),
        tuple(curves),
        tuple(_summary(spec, deltas)),
        _run_rows(runs),
        spec.alpha,
    )


def _summary(spec: StudySpec, deltas: Sequence[Delta]) -> list[str]:
    lines: list[str] = []
    if spec.analysis == "code-reasoning":  # its findings are rank correlations, not tests
        return lines
    where = f"{CORRECTION}-corrected p < {spec.alpha:g} over {len(deltas)} paired tests"
    if spec.name == "formats":
        cot = [d for d in deltas if d.family == "cot"]
        helps = sorted({d.task for d in cot if d.significant and d.delta > 0})
        rest = sorted({d.task for d in cot} - set(helps))
        lines.append(
            "reasoning vs knowledge: CoT helps significantly on "
            + (", ".join(helps) or "no task")
            + "; not on "
            + (", ".join(rest) or "any other")
            + f" ({where})"
        )
        return lines
    sig = [d for d in deltas if d.significant]
    if not sig:
        lines.append(f"no significant difference ({where})")
    for d in sig:
        lines.append(
            f"{d.contrast} on {d.task} ({d.model}): {d.delta * 100:+.1f} points, "
            f"p = {d.p_adjusted:.2g} ({where})"
        )
    return lines


def _censoring(p: Point, run: CellRun) -> Point:
    """Budget: a truncated reply is censored, not wrong: the accuracy on completed items, and
    the bounds if every truncated item were wrong (lower) or right (upper)."""
    items = run.of_task(p.task)
    done = [it for it in items.values() if not it.truncated]
    right_done = sum(it.correct for it in done)
    n = p.n or 1
    censoring = Censoring(
        completed=len(done),
        truncation_rate=p.truncated / n,
        accuracy_completed=right_done / len(done) if done else None,
        ci95_completed=wilson(right_done, len(done)),
        lower=right_done / n,
        upper=(right_done + p.truncated) / n,
        completion_tokens=sum(it.completion_tokens for it in items.values()) / n,
    )
    return replace(p, censoring=censoring)


def _curve(run: CellRun, task: str) -> Curve:
    """maj@k and pass@k for k = 1..K from the chains of one batched run (no extra requests)."""
    items = [it for it in run.of_task(task).values() if it.stats]
    chains = [_chains(it) for it in items]
    big_k = min((len(c) for c, _ in chains), default=0)
    rng = random.Random(0)
    from cothub.strategies.self_consistency import expected_majority

    prompt = sum(it.prompt_tokens for it in items) / (len(items) or 1)
    per_chain = sum(it.completion_tokens for it in items) / ((len(items) * big_k) or 1)
    points = []
    for k in range(1, big_k + 1):
        maj = [expected_majority(g, c, k, rng) for c, g in ((c, g) for c, g in chains)]
        pas = [pass_at_k(len(c), sum(c), k) for c, _ in chains]
        m, mci = mean_ci(maj)
        pa, pci = mean_ci(pas)
        points.append(CurvePoint(k, m, mci, pa, pci, prompt + k * per_chain))
    return Curve(run.model, run.cell.label, task, tuple(points))


def _chains(it: Item) -> tuple[list[bool], list[int]]:
    s = it.stats or {}
    correct = [bool(x) for x in _seq(s.get("correct"))]
    group = [int(str(x)) for x in _seq(s.get("group"))]
    return correct, group


def _seq(v: object) -> list[object]:
    return list(v) if isinstance(v, list | tuple) else []


def _voting(runs: Sequence[CellRun]) -> tuple[list[Point], list[Delta]]:
    """Complexity-based voting vs plain majority, from the chains of the ``voting`` cell."""
    points, deltas = [], []
    for r in runs:
        if not r.cell.strategy.startswith("complexity"):
            continue
        for task in r.tasks():
            items = r.of_task(task)
            votes = {
                name: {
                    i: Item(bool((it.stats or {}).get(key)), it.truncated, 0, 0)
                    for i, it in items.items()
                    if it.stats
                }
                for name, key in (
                    ("complexity-vote", "complexity_correct"),
                    ("majority-vote", "majority_correct"),
                )
            }
            for name, v in votes.items():
                points.append(point(r.model, name, task, v))
            k = Contrast("complexity vote vs majority", "complexity-vote", "majority-vote", "vote")
            d = paired(k, r.model, task, votes["complexity-vote"], votes["majority-vote"])
            if d is not None:
                deltas.append(d)
    return points, deltas


_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])")


def model_size(model: str) -> float | None:
    """Parameters in billions from a model name (``llama-3-8b`` -> 8.0, ``350m`` -> 0.35)."""
    found = _SIZE.findall(model.rsplit("/", 1)[-1])
    if not found:
        return None
    value, unit = found[-1]
    return float(value) / (1000 if unit.lower() == "m" else 1)


def _sized(p: Point, recorded: Mapping[str, float]) -> Point:
    size = recorded.get(p.model)
    return replace(p, size=ModelSize(size if size is not None else model_size(p.model)))


def _adjacent_sizes(points: Sequence[Point], runs: Sequence[CellRun]) -> list[Delta]:
    """Scaling: each model against the next smaller one, paired per task."""
    sizes = {p.model: p.size.billions if p.size else None for p in points}
    order = sorted({r.model for r in runs}, key=lambda m: (sizes.get(m) is None, sizes.get(m) or 0))
    by_model = {r.model: r for r in runs}
    out = []
    for small, big in itertools.pairwise(order):
        k = Contrast(f"{big} vs {small}", big, small, "scaling")
        a, b = by_model[big], by_model[small]
        for task in sorted(set(a.tasks()) & set(b.tasks())):
            d = paired(k, big, task, a.of_task(task), b.of_task(task))
            if d is not None:
                out.append(d)
    return out


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", name.rsplit("/", 1)[-1].lower())


def published_rows(
    models: Sequence[str], tasks: Sequence[str], rows: Sequence[tuple[str, dict[str, float], str]]
) -> list[dict[str, object]]:
    """The published (model, scores, source) rows whose model name matches a study model (case,
    provider and punctuation ignored) on the study's tasks, beside that model."""
    wanted = {_key(m): m for m in models}
    out: list[dict[str, object]] = []
    for name, scores, source in rows:
        model = wanted.get(_key(name))
        if model is None:
            continue
        for task in tasks:
            if task in scores:
                out.append(
                    {
                        "model": model,
                        "published_as": name,
                        "task": task,
                        "accuracy": scores[task],
                        "source": source,
                    }
                )
    return out


# ---- code-reasoning ------------------------------------------------------------------------

CODE = "humaneval"
MEAN = "reasoning (mean)"
"""The y of the summary correlation: each model's mean over the study's reasoning benchmarks."""


def benchmark_of(task: str) -> str:
    """``bbh/boolean_expressions`` -> ``bbh``; ``humaneval:timeout=10`` -> ``humaneval``."""
    return task.split("/", 1)[0].split(":", 1)[0].lower()


def model_scores(points: Sequence[Point]) -> dict[str, dict[str, float]]:
    """Each model's accuracy per benchmark, subtasks pooled (every graded item counts once)."""
    tally: dict[str, dict[str, list[int]]] = {}
    for p in points:
        got = tally.setdefault(p.model, {}).setdefault(benchmark_of(p.task), [0, 0])
        got[0] += p.correct
        got[1] += p.n
    return {m: {b: c / n for b, (c, n) in by.items() if n} for m, by in tally.items()}


def _with_mean(scores: dict[str, float], reasoning: Sequence[str]) -> dict[str, float]:
    if reasoning and all(b in scores for b in reasoning):
        return {**scores, MEAN: sum(scores[b] for b in reasoning) / len(reasoning)}
    return scores


def code_reasoning(
    points: Sequence[Point],
    hub: Sequence[tuple[str, dict[str, float], str]] = (),
    seed: int = 0,
) -> tuple[list[dict[str, object]], list[dict[str, object]], list[str]]:
    """(correlations, published rows, summary lines): Spearman's rho between HumanEval pass@1
    and each reasoning benchmark (and their mean) across the study's models (``own``), the hub's
    published rows (``published``) and both together (``all``: hub rows of other models)."""
    from cothub.study.correlation import correlate

    own = model_scores(points)
    reasoning = sorted({b for s in own.values() for b in s} - {CODE})
    own = {m: _with_mean(s, reasoning) for m, s in own.items()}
    keys = {_key(m) for m in own}
    published: list[dict[str, object]] = []
    hub_scores: dict[str, dict[str, float]] = {}
    for name, scores, source in hub:
        if CODE not in scores:
            continue
        hub_scores[name] = _with_mean(scores, reasoning)
        for b in (CODE, *reasoning):
            if b in scores:
                published.append(
                    {
                        "model": name,
                        "published_as": name,
                        "task": b,
                        "accuracy": scores[b],
                        "source": source,
                    }
                )
    others = {m: s for m, s in hub_scores.items() if _key(m) not in keys}
    scopes = (("own", own), ("published", hub_scores), ("all", {**others, **own}))
    out: list[dict[str, object]] = []
    lines: list[str] = []
    for y in (*reasoning, MEAN):
        for scope, table in scopes:
            rows = [(m, s[CODE], s[y]) for m, s in table.items() if CODE in s and y in s]
            if len(rows) < 2 or (
                scope == "all"
                and len(rows) == len([m for m in own if CODE in own[m] and y in own[m]])
            ):
                continue
            c = correlate(CODE, y, rows, scope, seed)
            out.append(c.as_json())
            if y == MEAN or len(reasoning) == 1:
                lines.append(_rho_line(c.as_json()))
    return out, published, lines


def _rho_line(c: dict[str, object]) -> str:
    rho, p, ci = c["rho"], c["p"], c["ci95"]
    if rho is None:
        return f"HumanEval vs {c['y']} ({c['scope']}, {c['n']} models): rho undefined (a tie)"
    interval = ""
    if isinstance(ci, list):
        interval = f", bootstrap 95% CI {ci[0]:+.2f} to {ci[1]:+.2f}"
    return (
        f"HumanEval vs {c['y']} ({c['scope']}, {c['n']} models): Spearman rho = "
        f"{float(str(rho)):+.2f}, {c['p_method']} permutation p = {float(str(p)):.3g}{interval}"
    )
