"""A study as data: the grid of cells it runs and the paired contrasts it reports.

Every built-in study (``cothub study NAME``) is one :class:`StudySpec` built here; a user's own
grid is the same record read from a TOML file (``cothub study --spec my.toml``)::

    name = "cot-vs-direct"
    analysis = "paired"            # or consistency, budget, complexity, scaling
    tasks = ["gsm8k"]              # optional: the command line's tasks win
    [[cells]]
    label = "cot"
    format = "fewshot-cot"
    [[cells]]
    label = "direct"
    format = "fewshot-direct"
    [[contrasts]]
    name = "CoT gain"
    treatment = "cot"
    control = "direct"
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from cothub.errors import CothubError
from cothub.prompts.perturb import PERTURBATIONS

Analysis = Literal["paired", "consistency", "budget", "complexity", "scaling", "code-reasoning"]


@dataclass(frozen=True, slots=True)
class Cell:
    """One point of a study's grid: an ordinary ``cothub run`` with these settings (unset fields
    take the study command's own)."""

    label: str
    """The cell's name in tables, contrasts and ``--json``."""
    format: str | None = None
    """Prompt format (``fewshot-cot`` ...); None: each task's default."""
    perturb: str | None = None
    """An exemplar transform (:mod:`cothub.prompts.perturb`); None: exemplars as chosen."""
    strategy: str = "single"
    """A ``--strategy`` spec (``self-consistency:k=8``)."""
    temperature: float | None = None
    reasoning_effort: str | None = None
    thinking_budget: int | None = None
    prompt_file: str | None = None
    """An exemplar file or named set (``prompt_easy.txt``, ``complex``)."""
    selection: Literal["random", "complexity"] | None = None
    """Exemplars from the pool by a seeded draw or by most reasoning steps."""
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Contrast:
    """One paired comparison: treatment minus control, on the items both cells graded."""

    name: str
    treatment: str
    """A cell label."""
    control: str
    family: str = ""
    """What the summary line groups by (``cot``: the CoT gains of the ``formats`` study)."""


@dataclass(frozen=True, slots=True)
class StudySpec:
    """A study: its grid, its contrasts and which analysis reads the cells."""

    name: str
    description: str
    cells: tuple[Cell, ...]
    contrasts: tuple[Contrast, ...] = ()
    analysis: Analysis = "paired"
    tasks: tuple[str, ...] = ()
    """Default tasks when the command names none."""
    alpha: float = 0.05
    """Family-wise error rate of the Holm correction over every contrast of the study."""

    def cell(self, label: str) -> Cell:
        for c in self.cells:
            if c.label == label:
                return c
        raise CothubError(f"study {self.name}: no cell {label!r}; cells: " + self.labels)

    @property
    def labels(self) -> str:
        return ", ".join(c.label for c in self.cells)

    def check(self) -> StudySpec:
        """Refuse a spec whose contrasts name unknown cells or whose labels repeat."""
        if not self.cells:
            raise CothubError(f"study {self.name}: no cells; add at least one [[cells]]")
        seen = [c.label for c in self.cells]
        if len(set(seen)) != len(seen):
            raise CothubError(f"study {self.name}: cell labels repeat ({self.labels})")
        for k in self.contrasts:
            self.cell(k.treatment)
            self.cell(k.control)
        for c in self.cells:
            if c.perturb is not None and c.perturb not in PERTURBATIONS:
                raise CothubError(
                    f"study {self.name}: cell {c.label} has unknown perturbation {c.perturb!r}; "
                    "choose one of " + ", ".join(PERTURBATIONS)
                )
        return self


@dataclass(frozen=True, slots=True)
class StudyOptions:
    """The knobs of a built-in study that the command line sets."""

    k: int = 8
    """Chains per item (``consistency``, ``complexity`` voting)."""
    temperatures: tuple[float, ...] = (0.7,)
    """``consistency``: one self-consistency cell per temperature."""
    efforts: tuple[str, ...] = ("low", "medium", "high")
    """``budget``: reasoning efforts, one cell each (unless ``budgets`` is given)."""
    budgets: tuple[int, ...] = ()
    """``budget``: thinking budgets in tokens, one cell each."""
    perturbations: tuple[str, ...] = tuple(PERTURBATIONS)
    """``perturb``: the transforms run against the unperturbed prompt."""
    format: str | None = None
    """``perturb``/``complexity``/``budget``/``scaling``: the prompt format (default few-shot CoT
    where exemplars matter, else the task default)."""
    tasks: tuple[str, ...] = field(default=())


def _formats() -> StudySpec:
    cells = tuple(Cell(f, format=f) for f in _FORMATS)
    contrasts = (
        Contrast("CoT gain (few-shot)", "fewshot-cot", "fewshot-direct", "cot"),
        Contrast("CoT gain (zero-shot)", "zeroshot-cot", "zeroshot-direct", "cot"),
        Contrast("few-shot gain (CoT)", "fewshot-cot", "zeroshot-cot", "fewshot"),
        Contrast("few-shot gain (answer-only)", "fewshot-direct", "zeroshot-direct", "fewshot"),
    )
    return StudySpec(
        "formats",
        "the four prompt formats on each task: CoT gain and few-shot gain, paired",
        cells,
        contrasts,
    )


_FORMATS = ("fewshot-cot", "fewshot-direct", "zeroshot-cot", "zeroshot-direct")


def _perturb(o: StudyOptions) -> StudySpec:
    fmt = o.format or "fewshot-cot"
    base = Cell("unperturbed", format=fmt)
    cells = (base, *(Cell(p, format=fmt, perturb=p) for p in o.perturbations))
    contrasts = tuple(Contrast(p, p, base.label, "perturb") for p in o.perturbations)
    return StudySpec(
        "perturb",
        "few-shot exemplars transformed, each against the unperturbed prompt",
        cells,
        contrasts,
    )


def _consistency(o: StudyOptions) -> StudySpec:
    cells = tuple(
        Cell(f"T={t:g}", format=o.format, strategy=f"self-consistency:k={o.k},temperature={t:g}")
        for t in o.temperatures
    )
    return StudySpec(
        "consistency",
        f"maj@k and pass@k for k = 1..{o.k} from one batched run per temperature",
        cells,
        analysis="consistency",
    )


def _budget(o: StudyOptions) -> StudySpec:
    if o.budgets:
        cells = tuple(Cell(f"budget={b}", format=o.format, thinking_budget=b) for b in o.budgets)
    else:
        cells = tuple(Cell(f"effort={e}", format=o.format, reasoning_effort=e) for e in o.efforts)
    contrasts = tuple(
        Contrast(f"{b.label} vs {a.label}", b.label, a.label, "budget")
        for a, b in itertools.pairwise(cells)
    )
    return StudySpec(
        "budget",
        "accuracy against thinking budget, truncated replies censored (bounds)",
        cells,
        contrasts,
        analysis="budget",
    )


# The hub's GSM8K exemplar sets by reasoning steps (Fu et al. 2023): simple, medium, complex.
_GSM8K_BY_STEPS = (
    ("simple", "prompt_easy.txt"),
    ("medium", "prompt_mid.txt"),
    ("complex", "prompt_hard.txt"),
)


def _complexity(o: StudyOptions) -> StudySpec:
    fmt = o.format or "fewshot-cot"
    if o.tasks and all(t.lower().startswith("gsm8k") for t in o.tasks):
        cells: tuple[Cell, ...] = tuple(
            Cell(label, format=fmt, prompt_file=f) for label, f in _GSM8K_BY_STEPS
        )
    else:  # exemplars drawn from the train split: a seeded draw vs the most steps
        cells = (
            Cell("random", format=fmt, selection="random"),
            Cell("complex", format=fmt, selection="complexity"),
        )
    voting = Cell("voting", format=fmt, strategy=f"complexity:k={o.k}")
    contrasts = tuple(
        Contrast(f"{c.label} vs {cells[0].label}", c.label, cells[0].label, "complexity")
        for c in cells[1:]
    )
    return StudySpec(
        "complexity",
        "exemplars ordered by reasoning steps; complexity-based voting vs majority",
        (*cells, voting),
        contrasts,
        analysis="complexity",
    )


def _scaling(o: StudyOptions) -> StudySpec:
    return StudySpec(
        "scaling",
        "several models on the same tasks: accuracy against size (log axis)",
        (Cell("default", format=o.format),),
        analysis="scaling",
    )


CODE_TASK = "humaneval"
REASONING_TASKS = ("gsm8k", "math", "bbh")
"""``code-reasoning``: the reasoning tasks HumanEval is set against when the command names none."""


def _code_reasoning(o: StudyOptions) -> StudySpec:
    """HumanEval pass@1 (greedy) and the reasoning tasks per model, one ordinary run each; the
    analysis ranks the models on both and correlates the ranks (Spearman)."""
    chosen = o.tasks or REASONING_TASKS
    tasks = chosen if any(_is_code(t) for t in chosen) else (CODE_TASK, *chosen)
    return StudySpec(
        "code-reasoning",
        "HumanEval pass@1 against reasoning accuracy across models (Spearman rank correlation)",
        (Cell("default", format=o.format),),
        analysis="code-reasoning",
        tasks=tuple(tasks),
    )


def _is_code(task: str) -> bool:
    return task.split("/", 1)[0].split(":", 1)[0].lower() == CODE_TASK


def builtin(name: str, options: StudyOptions | None = None) -> StudySpec:
    """The built-in study ``name`` with the command line's knobs."""
    o = options or StudyOptions()
    makers = {
        "formats": lambda: _formats(),
        "perturb": lambda: _perturb(o),
        "consistency": lambda: _consistency(o),
        "budget": lambda: _budget(o),
        "complexity": lambda: _complexity(o),
        "scaling": lambda: _scaling(o),
        "code-reasoning": lambda: _code_reasoning(o),
    }
    make = makers.get(name.strip().lower())
    if make is None:
        raise CothubError(
            f"unknown study {name!r}; choose one of {', '.join(STUDIES)}, or --spec FILE.toml"
        )
    return make().check()


STUDIES = (
    "formats",
    "perturb",
    "consistency",
    "budget",
    "complexity",
    "scaling",
    "code-reasoning",
)
"""The built-in studies, in the order ``cothub study --help`` lists them."""


def load_spec(path: Path) -> StudySpec:
    """A user's study from a TOML file (see the module docstring)."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CothubError(f"cannot read study spec {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise CothubError(f"{path} is not valid TOML: {e}") from e
    return spec_from_dict(data, str(path))


def spec_from_dict(data: dict[str, Any], origin: str) -> StudySpec:
    """A :class:`StudySpec` from plain data (a TOML document), every key checked."""
    analysis = data.get("analysis", "paired")
    if analysis not in get_args(Analysis):
        raise CothubError(
            f"{origin}: analysis {analysis!r} is not one of {', '.join(get_args(Analysis))}"
        )
    cells = tuple(
        _record(Cell, c, f"{origin}: cells[{i}]")
        for i, c in enumerate(_list(data, "cells", origin))
    )
    contrasts = tuple(
        _record(Contrast, c, f"{origin}: contrasts[{i}]")
        for i, c in enumerate(_list(data, "contrasts", origin))
    )
    spec = StudySpec(
        name=str(data.get("name", Path(origin).stem)),
        description=str(data.get("description", f"the grid of {origin}")),
        cells=cells,
        contrasts=contrasts,
        analysis=analysis,
        tasks=tuple(str(t) for t in data.get("tasks", ())),
        alpha=float(data.get("alpha", 0.05)),
    )
    return spec.check()


def _list(data: dict[str, Any], key: str, origin: str) -> list[dict[str, Any]]:
    raw = data.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise CothubError(f"{origin}: {key} must be an array of tables ([[{key}]])")
    return raw


def _record(cls: Any, raw: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise CothubError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
    try:
        return cls(**raw)
    except TypeError as e:
        raise CothubError(f"{where}: {e}") from e


def with_tasks(spec: StudySpec, tasks: tuple[str, ...]) -> StudySpec:
    """The spec with the command line's tasks, when it names any."""
    return replace(spec, tasks=tasks) if tasks else spec
