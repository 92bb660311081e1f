"""The task registry, and the one syntax that names a task on the command line.

A task argument is ``NAME[/SUB-TASK][:key=value,key=value...]``: ``gsm8k``, ``bbh/navigate``,
``gsm8k:prompt_file=complex``, ``math:levels=4,5`` (a comma that is not followed by ``key=``
continues the value). A user's own task is a file: ``jsonl:PATH`` (or just ``PATH.jsonl``),
``toml:PATH`` (or ``PATH.toml``) and ``py:PATH`` (or ``PATH.py``), parameters after the path in
the same way (``jsonl:qa.jsonl:answer_type=exact``); see :mod:`cothub.tasks.custom`.

Parameters every task takes: ``prompt_file`` (that task's ``--prompt-file``) and one filter per
breakdown tag, named by the tag's plural (``math:levels=4,5``, ``mmlu:categories=STEM``). A task
may take its own by implementing :class:`Configurable`. The run manifest records a task's
parameters only when it has some, so every run without them keeps the id it always had.

Built-in tasks are listed here by reference and imported on first use; other packages add theirs
with :func:`register_task` or the ``cothub.tasks`` entry-point group (see :mod:`cothub._registry`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar, runtime_checkable

from cothub._registry import Registry
from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.prompts.format import PromptFormat
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.types import Answer, Grade, Sample

__all__ = [
    "GROUPS",
    "HUB",
    "TASKS",
    "Configurable",
    "Loaded",
    "PromptOptions",
    "Prompter",
    "Task",
    "TaskSpec",
    "parse_task_spec",
    "register_task",
    "resolve_task",
    "task_params",
]

TaskT = TypeVar("TaskT", bound="Task | type[Task]")


def _as_task(name: str, obj: Any) -> Task:
    """A registered object as a task: an instance, a class (instantiated) or a factory."""
    task = obj() if isinstance(obj, type) or (callable(obj) and not isinstance(obj, Task)) else obj
    if not isinstance(task, Task):
        raise CothubError(
            f"task {name!r} is a {type(task).__name__}, not a cothub.Task; register a Task "
            "subclass, an instance of one, or a function returning one"
        )
    if task.name != name:
        raise CothubError(
            f"task registered as {name!r} is named {task.name!r}; register it under its own name"
        )
    return task


TASKS: Registry[Task] = Registry("task", "cothub.tasks", _as_task)
TASKS.register("gsm8k", "cothub.tasks.gsm8k:GSM8K")
TASKS.register("math", "cothub.tasks.math_task:MATH")
TASKS.register("mmlu", "cothub.tasks.mmlu:MMLU")
TASKS.register("bbh", "cothub.tasks.bbh:BBH")
TASKS.register("humaneval", "cothub.tasks.humaneval:HumanEval")
TASKS.register("bbeh", "cothub.tasks.bbeh:BBEH")
TASKS.register("theoremqa", "cothub.tasks.theoremqa:TheoremQA")
TASKS.register("musr", "cothub.tasks.musr:MuSR")
TASKS.register("ceval", "cothub.tasks.ceval:CEval")
TASKS.register("cmmlu", "cothub.tasks.ceval:CMMLU")
TASKS.register("math500", "cothub.tasks.math500:MATH500")
TASKS.register("mmlu-pro", "cothub.tasks.mmlu_pro:MMLUPro")
TASKS.register("gsm8k-platinum", "cothub.tasks.hub_sets:GSM8KPlatinum")
TASKS.register("aime2024", "cothub.tasks.hub_sets:aime2024")
TASKS.register("aime2025", "cothub.tasks.hub_sets:aime2025")
TASKS.register("aime2026", "cothub.tasks.hub_sets:aime2026")
TASKS.register("gpqa-diamond", "cothub.tasks.hub_sets:GPQADiamond")

HUB = ("gsm8k", "math", "mmlu", "bbh")
"""``cothub run hub``: the four headline benchmarks of Chain-of-Thought Hub (the leaderboard shows
them first, in this order)."""

HUB_2026 = ("math500", "bbeh", "mmlu-pro", "theoremqa")
"""``cothub run hub-2026``: the harder successors of the hub's benchmarks."""

GROUPS: dict[str, tuple[str, ...]] = {"hub": HUB, "hub-2026": HUB_2026}
"""Names that stand for several tasks on the command line (``cothub run hub-2026``)."""


def register_task(task: TaskT) -> TaskT:
    """Register a task under its ``name``; usable as a class decorator (the class is instantiated
    with no arguments) or called with an instance. Returns its argument."""
    instance = task() if isinstance(task, type) else task
    TASKS.register(instance.name, instance, origin=type(instance).__module__)
    return task


@runtime_checkable
class Configurable(Protocol):
    """A task with parameters of its own (beyond ``prompt_file`` and the tag filters)."""

    parameters: Mapping[str, str]
    """Parameter name -> a one-line description (``cothub tasks`` shows them)."""

    def configure(self, params: Mapping[str, str]) -> Task:
        """The task with ``params`` applied (only its own keys); raise CothubError on a bad
        value, naming the key and the fix."""
        ...


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A task argument, parsed: ``bbh/navigate``, ``math:levels=4,5``, ``jsonl:qa.jsonl``."""

    name: str
    """A registered name (lower case), or ``SCHEME:PATH`` for a task file (path as written)."""
    subset: str = ""
    """The sub-task after ``/`` (registered tasks only); empty for all."""
    params: tuple[tuple[str, str], ...] = ()
    """``key=value`` pairs in the order given (keys with ``-`` written as ``_``)."""


FILE_SCHEMES = {"jsonl": ".jsonl", "toml": ".toml", "py": ".py"}
_PARAMS_START = re.compile(r":(?=[A-Za-z_][\w-]*=)")
_KEY = re.compile(r"[A-Za-z_][\w-]*=")


def parse_task_spec(text: str) -> TaskSpec:
    """Split a task argument into name, sub-task and parameters (nothing is looked up)."""
    spec = text.strip()
    if not spec:
        raise CothubError("a task name is empty; e.g. gsm8k, bbh/navigate, jsonl:my_data.jsonl")
    head, params = spec, tuple[tuple[str, str], ...]()
    found = _PARAMS_START.search(spec)
    if found is not None:
        head, params = spec[: found.start()], _parse_params(spec, spec[found.end() :])
    scheme, colon, path = head.partition(":")
    if colon:
        if scheme.lower() not in FILE_SCHEMES or not path:
            raise CothubError(
                f"task {spec!r}: {head!r} is neither NAME[/SUB-TASK] nor a task file "
                f"({', '.join(s + ':PATH' for s in FILE_SCHEMES)}); parameters follow as "
                "NAME:key=value"
            )
        return TaskSpec(f"{scheme.lower()}:{path}", "", params)
    for scheme, suffix in FILE_SCHEMES.items():
        if head.lower().endswith(suffix) and head.lower() not in TASKS:
            return TaskSpec(f"{scheme}:{head}", "", params)
    base, _, subset = head.lower().partition("/")
    return TaskSpec(base, subset, params)


def _parse_params(spec: str, text: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for part in text.split(","):
        if _KEY.match(part.strip()) or not out:
            key, eq, value = part.strip().partition("=")
            if not eq or not key:
                raise CothubError(f"task {spec!r}: {part!r} is not key=value; e.g. gsm8k:k=v")
            key = key.replace("-", "_")
            if any(k == key for k, _ in out):
                raise CothubError(f"task {spec!r}: {key} is given twice; give it once")
            out.append((key, value.strip()))
        else:  # "levels=4,5": the comma continues the value
            key, value = out[-1]
            out[-1] = (key, f"{value},{part.strip()}")
    return tuple(out)


def resolve_task(name: str) -> tuple[Task, str]:
    """A task argument -> (task, sub-task): ``gsm8k`` -> (task, ""), ``bbh/date_understanding``
    -> (task, "date_understanding"), ``math:levels=5`` -> (MATH with the filter applied, "").

    A task file is read and checked here, before anything is sent to a model."""
    spec = parse_task_spec(name)
    consumed: frozenset[str] = frozenset()
    if ":" in spec.name:
        from cothub.tasks.custom import PARAMETERS, load_task_file

        own = {k: v for k, v in spec.params if k in PARAMETERS}
        task, consumed = load_task_file(spec.name, own), frozenset(own)
    else:
        found = TASKS.get(spec.name)
        if found is None:
            raise CothubError(
                f"unknown task {spec.name!r}; known tasks: {', '.join(TASKS)} (`cothub tasks`), "
                "or a file of your own: jsonl:PATH, toml:PATH, py:PATH"
            )
        task = found
    if spec.subset and spec.subset not in task.subsets:
        hint = f"{task.name}/{task.subsets[0]}" if task.subsets else task.name
        raise CothubError(
            f"{task.name} has no sub-task {spec.subset!r}; e.g. {hint} (`cothub tasks` lists them)"
        )
    return (with_params(task, spec.params, consumed) if spec.params else task), spec.subset


def task_params(task: Task) -> dict[str, str]:
    """The parameters a resolved task was given (empty for a plain one): the manifest's record."""
    return dict(task.params) if isinstance(task, _Variant) else {}


def filter_key(tag: str) -> str:
    """The parameter that filters on a breakdown tag: its plural (``levels``, ``categories``)."""
    return tag[:-1] + "ies" if tag.endswith("y") else tag + "s"


def parameters(task: Task) -> dict[str, str]:
    """Every parameter ``task`` takes -> a one-line description."""
    own = dict(task.parameters) if isinstance(task, Configurable) else {}
    generic = {"prompt_file": "its exemplar file or named set (as --prompt-file)"}
    generic.update(
        {filter_key(t): f"keep items whose {t} is one of these" for t in task.breakdowns}
    )
    return {**own, **generic}


def with_params(
    task: Task, params: Sequence[tuple[str, str]], consumed: frozenset[str] = frozenset()
) -> Task:
    """``task`` with ``params`` applied; an unknown key or a bad value is one line naming it.

    ``consumed`` keys were already applied (a task file's settings); they are only recorded."""
    known = parameters(task)
    for key, value in params:
        if key in consumed:
            continue
        if key not in known:
            raise CothubError(
                f"task {task.name} has no parameter {key!r}; it takes "
                f"{', '.join(known)} (e.g. {task.name}:{next(iter(known))}=VALUE)"
            )
        if not value:
            raise CothubError(f"task {task.name}: {key}= has no value; give {key}=VALUE")
    given = dict(params)
    base = task
    if isinstance(task, Configurable):
        own = {k: v for k, v in given.items() if k in task.parameters and k not in consumed}
        if own:
            base = task.configure(own)
    filters = {
        t: frozenset(v.strip() for v in given[filter_key(t)].split(","))
        for t in task.breakdowns
        if filter_key(t) in given
    }
    return _Variant(base, given, given.get("prompt_file"), filters)


class _Variant(Task):
    """A task with parameters applied: its own exemplar file, tag filters, its own settings.

    Everything else is the task's own: the variant copies its attributes and delegates every
    method (also those a later ``Task`` gains, through ``__init__``'s loop)."""

    def __init__(
        self,
        base: Task,
        params: Mapping[str, str],
        prompt_file: str | None,
        filters: Mapping[str, frozenset[str]],
    ) -> None:
        self.base = base
        self.params = dict(params)
        self._prompt_file = prompt_file
        self._filters = dict(filters)
        for attr in [*getattr(Task, "__annotations__", {}), *vars(Task)]:
            if attr.startswith("_") or attr in vars(_Variant):
                continue
            if hasattr(base, attr):
                setattr(self, attr, getattr(base, attr))

    def max_tokens(self, fmt: PromptFormat | str) -> int:
        return self.base.max_tokens(fmt)

    def load(self, data: DataSource, subsets: Sequence[str]) -> Loaded:
        loaded = self.base.load(data, subsets)
        samples = loaded.samples
        for tag, values in self._filters.items():
            seen = {dict(s.tags).get(tag, "") for s in samples}
            missing = sorted(values - seen)
            if missing:
                raise CothubError(
                    f"task {self.name}: no item has {tag} {', '.join(map(repr, missing))}; "
                    f"{filter_key(tag)} are {', '.join(sorted(seen - {''}))}"
                )
            samples = [s for s in samples if dict(s.tags).get(tag) in values]
        return replace(loaded, samples=samples)

    def prompter(
        self, data: DataSource, fmt: PromptFormat | str, options: PromptOptions
    ) -> Prompter:
        if self._prompt_file is not None:
            options = replace(options, prompt_file=self._prompt_file)
        return self.base.prompter(data, fmt, options)

    def equivalent(self, a: str, b: str) -> bool:
        return self.base.equivalent(a, b)

    def choices(self, sample: Sample, fmt: PromptFormat | str) -> list[str] | None:
        return self.base.choices(sample, fmt)

    def extract_answer(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Answer:
        return self.base.extract_answer(sample, text, fmt)

    def score(self, sample: Sample, answer: Answer, fmt: PromptFormat | str = "") -> Grade:
        return self.base.score(sample, answer, fmt)

    def grade(self, sample: Sample, text: str, fmt: PromptFormat | str = "") -> Grade:
        return self.base.grade(sample, text, fmt)
