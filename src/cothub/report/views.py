"""What the HTML report and the browser view show, read from the typed store API.

One pass over a run's :class:`~cothub.types.SampleRecord` stream (``Store.records``) gives every
number a plot needs: per-benchmark cells (accuracy, CI, n, unparsed %, truncated %, accuracy on
completed items, tokens and $ per item), per-subtask accuracies, MATH subject x level, the
completion-length distribution by outcome, maj@k / pass@k curves from stored vote stats, and the
grader's disagreements. Nothing here parses a terminal table.

The published Chain-of-Thought Hub rows are read at run time from a CSV (``--published PATH``,
default ``$COTHUB_REFERENCE_DIR/cot-hub-leaderboard.csv``); they are never shipped in the package.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cothub.cost import ItemUsage, Price, PriceTable, accounting
from cothub.errors import CothubError, harmless, redact, secrets
from cothub.modelinfo import ModelInfo, published_info
from cothub.store import RunRow, Store
from cothub.types import SampleRecord

if TYPE_CHECKING:
    from _hashlib import HASH

    from cothub.judge import JudgeSummary
    from cothub.store.sqlite import Judgement

REFERENCE_ENV = "COTHUB_REFERENCE_DIR"
PUBLISHED_FILE = "cot-hub-leaderboard.csv"
HUB_COLUMNS = ("gsm8k", "math", "mmlu", "bbh")

MAX_DISAGREEMENTS = 200
"""Disagreements listed per run (the count is always exact)."""


_SCOPE: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "cothub_report_secrets", default=None
)


@contextlib.contextmanager
def secret_scope() -> Iterator[None]:
    """Read the known secrets once for a whole page or report (not once per text)."""
    token = _SCOPE.set(tuple(secrets()))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def safe(text: object) -> str:
    """Text as the report and the view show it: secrets masked, control characters visible."""
    return harmless(redact(str(text), _SCOPE.get()))


@dataclass(slots=True)
class Cell:
    """One benchmark (or subtask) of one run."""

    accuracy: float
    ci95: tuple[float, float]
    n: int
    correct: int
    unparsed: int
    truncated: int
    tokens_per_item: float | None
    cost_per_item: float | None

    @property
    def unparsed_pct(self) -> float:
        return 100 * self.unparsed / self.n if self.n else 0.0

    @property
    def truncated_pct(self) -> float:
        return 100 * self.truncated / self.n if self.n else 0.0

    @property
    def completed_accuracy(self) -> float | None:
        """Accuracy on the items that were not cut off by the token limit."""
        done = self.n - self.truncated
        return self.correct_completed / done if done > 0 else None

    correct_completed: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
            "ci95": list(self.ci95),
            "n": self.n,
            "correct": self.correct,
            "unparsed": self.unparsed,
            "truncated": self.truncated,
            "unparsed_pct": self.unparsed_pct,
            "truncated_pct": self.truncated_pct,
            "completed_accuracy": self.completed_accuracy,
            "tokens_per_item": self.tokens_per_item,
            "cost_per_item": self.cost_per_item,
        }


@dataclass(slots=True)
class Disagreement:
    task: str
    item_id: str
    answer: str | None
    gold: str
    method: str
    check: str
    correct: bool
    judged: tuple[tuple[str, str], ...] = ()
    """(judge, verdict) of each judgement of the sample (``cothub judge``), where present."""


@dataclass(frozen=True, slots=True)
class JudgeLine:
    """One judge (at one prompt version) over a whole run: what the grader panel says of it."""

    judge: str
    prompt_version: str
    summary: JudgeSummary

    def text(self) -> str:
        """``judge MODEL: k items judged, judge accuracy x% vs rule y%, agreement z%``."""
        return f"judge {self.judge} ({self.prompt_version}): {self.summary.brief()}"


@dataclass(slots=True)
class RunView:
    """Everything the report and the view show of one run."""

    run: RunRow
    label: str
    """``model · strategy`` (a configuration)."""
    provenance: list[tuple[str, str]]
    cells: dict[str, Cell]
    """Benchmark -> its headline cell."""
    subtasks: dict[str, dict[str, tuple[float, int]]]
    """Benchmark -> subset -> (accuracy, n)."""
    levels: dict[tuple[str, str], tuple[float, int]]
    """(MATH subject, level) -> (accuracy, n)."""
    lengths: dict[str, list[tuple[int, str]]]
    """Benchmark -> (completion tokens, ``correct``/``wrong``/``truncated``) per item."""
    curves: dict[str, dict[str, list[tuple[int, float]]]]
    """Benchmark -> ``maj@k``/``pass@k`` -> (k, accuracy)."""
    methods: dict[str, dict[str, int]]
    """Benchmark -> extraction method -> samples."""
    disagreements: list[Disagreement]
    n_disagreements: dict[str, int]
    cost_usd: float | None
    n_samples: int = 0
    info: ModelInfo = field(default_factory=ModelInfo)
    """The model's type and size, as the store records them (``cothub models``)."""
    judges: list[JudgeLine] = field(default_factory=list)
    """Each judge that gave second opinions on the run (``cothub judge``); none: empty."""
    judged_unparsed: list[Disagreement] = field(default_factory=list)
    """Samples with no answer that a judge gave a verdict on (at most MAX_DISAGREEMENTS)."""
    n_judged_unparsed: int = 0


def _strategy(run: RunRow) -> str:
    s = run.manifest.strategy
    return s.spec() if s is not None else "import"


def _label(run: RunRow) -> str:
    return f"{run.model} · {_strategy(run)}"


def outcome(rec: SampleRecord) -> str:
    if rec.completion.finish_reason == "length":
        return "truncated"
    return "correct" if rec.grade.correct else "wrong"


def _provenance(run: RunRow, prompt_sha: str, cost: float | None) -> list[tuple[str, str]]:
    import datetime

    from cothub import __version__

    m = run.manifest
    out: list[tuple[str, str]] = [
        ("run", run.run_id),
        ("model", m.model.name),
        ("endpoint", m.model.base_url or "(local / none)"),
        ("api", m.model.api or m.prompt_style),
        ("strategy", _strategy(run)),
        ("status", run.status),
    ]
    if m.scoring:
        out.append(("scoring", m.scoring))
    if m.selection is not None:
        limit, seed = m.selection
        out.append(("selection", f"limit={limit if limit is not None else 'all'} seed={seed}"))
    for name, t in m.tasks:
        out.append((f"{name}: format", f"{t.format} (task version {t.version})"))
        out.append((f"{name}: exemplars", f"{t.exemplars[0]} sha256:{t.exemplars[1] or '-'}"))
        for file, digest in t.data:
            out.append((f"{name}: dataset", f"{file} sha256:{digest}"))
        if t.generation is not None:
            gen = ", ".join(f"{k}={v}" for k, v in t.generation.as_json().items())
            out.append((f"{name}: generation", gen))
        if t.params:
            out.append((f"{name}: params", ", ".join(f"{k}={v}" for k, v in t.params)))
        if t.subsets:
            out.append((f"{name}: subsets", ", ".join(t.subsets)))
    out.append(("prompts sha256", prompt_sha))
    out.append(("grader", m.grader or "-"))
    if m.rescored_from:
        out.append(("rescored from", f"{m.rescored_from} with {m.grader_version}"))
    out.append(("report by", f"cothub {__version__}"))
    when = datetime.datetime.fromtimestamp(run.created_at, datetime.timezone.utc)
    out.append(("date", when.strftime("%Y-%m-%d %H:%M UTC")))
    if run.wall_s is not None:
        out.append(("wall time", f"{run.wall_s:.1f} s"))
    out.append(("cost", "unpriced" if cost is None else f"${cost:.4f}"))
    return [(safe(k), safe(v)) for k, v in out]


def _vote_curve(stats: list[dict[str, object]]) -> dict[str, list[tuple[int, float]]]:
    from cothub.strategies.self_consistency import VoteStats, curve

    votes = []
    for d in stats:
        answers, correct, group = d.get("answers"), d.get("correct"), d.get("group")
        if not (isinstance(answers, list) and isinstance(correct, list)):
            continue
        if not isinstance(group, list) or len(group) != len(correct) or not correct:
            continue
        votes.append(
            VoteStats(tuple(answers), tuple(bool(c) for c in correct), tuple(int(g) for g in group))
        )
    if not votes or len({len(v.correct) for v in votes}) != 1 or len(votes[0].correct) < 2:
        return {}
    c = curve(votes)
    return {
        "maj@k": [(k, e.accuracy) for k, e in zip(c.k, c.maj, strict=True)],
        "pass@k": [(k, e.accuracy) for k, e in zip(c.k, c.pass_at, strict=True)],
    }


@dataclass
class _Tally:
    """What one pass over a run's stored samples counts, per task (see :func:`run_view`)."""

    judged: dict[tuple[str, str], list[Judgement]]
    """(task, item id) -> the judges' verdicts on it."""
    usage: dict[str, list[ItemUsage]] = field(default_factory=dict)
    counts: dict[str, list[int]] = field(default_factory=dict)
    """Task -> [correct, unparsed, truncated, correct and completed, n]."""
    subsets: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    levels: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    lengths: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    votes: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    methods: dict[str, dict[str, int]] = field(default_factory=dict)
    disagreements: list[Disagreement] = field(default_factory=list)
    n_disagreements: dict[str, int] = field(default_factory=dict)
    verdict_rows: list[tuple[str, str, bool, bool]] = field(default_factory=list)
    """Only kept when a judge gave any."""
    judged_unparsed: list[Disagreement] = field(default_factory=list)
    n_judged_unparsed: int = 0
    n: int = 0
    digest: HASH = field(default_factory=hashlib.sha256)
    """Of every prompt, in stored order (the report's provenance)."""

    def add(self, rec: SampleRecord) -> None:
        self.n += 1
        self.digest.update(json.dumps(rec.prompt.as_json(), sort_keys=True).encode())
        task, g, c = rec.task, rec.grade, rec.completion
        self.usage.setdefault(task, []).append(ItemUsage.of(rec))
        k = self.counts.setdefault(task, [0, 0, 0, 0, 0])
        trunc = c.finish_reason == "length"
        k[0] += g.correct
        k[1] += g.answer is None
        k[2] += trunc
        k[3] += g.correct and not trunc
        k[4] += 1
        if rec.sample.subset:
            _count(self.subsets, (task, rec.sample.subset), g.correct)
            level = dict(rec.sample.tags).get("level")
            if level is not None:
                _count(self.levels, (rec.sample.subset, str(level)), g.correct)
        self.lengths.setdefault(task, []).append((c.completion_tokens, outcome(rec)))
        m = self.methods.setdefault(task, {})
        m[g.method] = m.get(g.method, 0) + 1
        if rec.stats is not None:
            self.votes.setdefault(task, []).append(rec.stats.as_json())
        self._disagreement(rec)

    def _disagreement(self, rec: SampleRecord) -> None:
        """A disagreement is listed (up to :data:`MAX_DISAGREEMENTS`, counted always); so is an
        unparsed item a judge gave a verdict on, with that verdict."""
        task, g, smp = rec.task, rec.grade, rec.sample
        mine = self.judged.get((task, smp.id), ())
        if self.judged:
            self.verdict_rows.append((task, smp.id, g.correct, g.answer is not None))
        listed = None
        if g.disagreement or (mine and g.answer is None):
            says = tuple((j.judge, j.verdict) for j in mine)
            listed = Disagreement(
                task, smp.id, g.answer, smp.gold, g.method, g.check, g.correct, says
            )
        if g.disagreement:
            self.n_disagreements[task] = self.n_disagreements.get(task, 0) + 1
            if listed is not None and len(self.disagreements) < MAX_DISAGREEMENTS:
                self.disagreements.append(listed)
        elif listed is not None:  # judged, no answer: the panel lists it with the judge's verdict
            self.n_judged_unparsed += 1
            if len(self.judged_unparsed) < MAX_DISAGREEMENTS:
                self.judged_unparsed.append(listed)

    def cells(self, run: RunRow, price: Price | None) -> tuple[dict[str, Cell], float | None]:
        """Per task: the headline cell (the stored summary's accuracy and CI where there is
        one); and the run's total cost (None: unpriced)."""
        from cothub.scoring.stats import wilson

        cells: dict[str, Cell] = {}
        total_cost: float | None = 0.0 if price is not None else None
        for task, items in self.usage.items():
            acct = accounting(items, price)
            correct, unparsed, truncated, done_ok, count = self.counts[task]
            head = (run.summary or {}).get(task)
            acc, ci = (
                (head.accuracy, head.ci95) if head else (correct / count, wilson(correct, count))
            )
            tokens = acct.tokens_per_item.sent_and_received
            cells[task] = Cell(
                acc, ci, count, correct, unparsed, truncated, tokens, acct.cost_per_item, done_ok
            )
            if total_cost is not None and acct.cost_usd is not None:
                total_cost += acct.cost_usd
        return cells, total_cost

    def subtasks(self) -> dict[str, dict[str, tuple[float, int]]]:
        out: dict[str, dict[str, tuple[float, int]]] = {}
        for (task, subset), (ok, cnt) in sorted(self.subsets.items()):
            out.setdefault(task, {})[subset] = (ok / cnt, cnt)
        return out


def _count(table: dict[tuple[str, str], list[int]], key: tuple[str, str], correct: bool) -> None:
    """One more item (and one more right, when ``correct``) under ``key``: [right, n]."""
    row = table.setdefault(key, [0, 0])
    row[0] += correct
    row[1] += 1


def run_view(store: Store, run: RunRow, prices: PriceTable) -> RunView:
    """One pass over the run's stored samples."""
    price = prices.lookup(run.model)
    judgements = store.judgements(run.run_id)
    judged: dict[tuple[str, str], list[Judgement]] = {}
    for j in judgements:
        judged.setdefault((j.task, j.item_id), []).append(j)
    tally = _Tally(judged)
    for rec in store.records(run.run_id):
        tally.add(rec)
    cells, total_cost = tally.cells(run, price)
    lines: list[JudgeLine] = []
    if judgements:
        from cothub.judge import summaries_of  # only for judged runs: it loads the backends

        lines = [
            JudgeLine(safe(judge), safe(version), summary)
            for (judge, version), summary in summaries_of(tally.verdict_rows, judgements).items()
        ]
    return RunView(
        run=run,
        label=safe(_label(run)),
        provenance=_provenance(run, tally.digest.hexdigest(), total_cost),
        cells=cells,
        subtasks=tally.subtasks(),
        levels={k: (ok / cnt, cnt) for k, (ok, cnt) in tally.levels.items()},
        lengths=tally.lengths,
        curves={t: cv for t, v in tally.votes.items() if (cv := _vote_curve(v))},
        methods=tally.methods,
        disagreements=tally.disagreements,
        n_disagreements=tally.n_disagreements,
        cost_usd=total_cost,
        n_samples=tally.n,
        info=store.model_info().get(run.model, ModelInfo()),
        judges=lines,
        judged_unparsed=tally.judged_unparsed,
        n_judged_unparsed=tally.n_judged_unparsed,
    )


def collect(store: Store, run_ids: Sequence[str], prices: PriceTable) -> list[RunView]:
    """Views of the given runs (ids or unique prefixes); none given: every stored run."""
    runs = [store.run(r) for r in run_ids] if run_ids else store.runs()
    seen: set[str] = set()
    out = []
    for run in runs:
        if run.run_id in seen:
            continue
        seen.add(run.run_id)
        out.append(run_view(store, run, prices))
    return out


# ---- the published Chain-of-Thought Hub rows -------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishedRow:
    model: str
    scores: dict[str, float]
    """Benchmark (gsm8k, math, mmlu, bbh) -> accuracy in [0, 1]."""
    source: str
    """Where the numbers come from (paper, website) and the repository and commit read."""
    origin: str = ""
    """The repository, commit and file the row was read from."""
    info: ModelInfo = field(default_factory=ModelInfo)
    """The model's type (the hub's Base / SIFT / RLHF) and size, where the row gives them."""


def default_published_path() -> Path | None:
    """``$COTHUB_REFERENCE_DIR/cot-hub-leaderboard.csv``, else the development layout's
    ``../shared/reference`` next to the checkout; None when neither exists."""
    env = os.environ.get(REFERENCE_ENV)
    candidates = [Path(env).expanduser() / PUBLISHED_FILE] if env else []
    candidates.append(Path(__file__).resolve().parents[4] / "shared" / "reference" / PUBLISHED_FILE)
    return next((p for p in candidates if p.is_file()), None)


def read_published(path: Path) -> list[PublishedRow]:
    """The published leaderboard CSV (columns model, gsm8k, math, mmlu, bbh, sources, repo,
    commit, ...; scores in percent)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CothubError(f"cannot read the published leaderboard {path}: {e}") from None
    out = []
    for r in rows:
        scores: dict[str, float] = {}
        for col in HUB_COLUMNS:
            value = (r.get(col) or "").strip()
            try:
                scores[col] = float(value) / 100
            except ValueError:
                continue
        if not scores or not r.get("model"):
            continue
        where = ", ".join(
            x for x in (r.get("repo"), (r.get("commit") or "")[:12], r.get("path")) if x
        )
        source = (
            f"{r.get('sources') or 'Chain-of-Thought Hub'} — via {where}"
            if where
            else (r.get("sources") or "Chain-of-Thought Hub")
        )
        info = published_info(r.get("type") or "", r.get("params") or r.get("size") or "")
        out.append(PublishedRow(safe(r["model"]), scores, safe(source), safe(where), info))
    return out


def benchmarks(views: Iterable[RunView]) -> list[str]:
    """Benchmarks in display order: the hub's four first, then the rest by name."""
    names = {t for v in views for t in v.cells}
    return sorted(names, key=lambda t: (HUB_COLUMNS.index(t) if t in HUB_COLUMNS else 9, t))
