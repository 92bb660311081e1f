"""``cothub rescore RUN_ID``: re-grade a stored run with today's graders; nothing calls a model.

Every stored completion of the run is graded again by its task's current grader and the result is
stored as a new run, whose manifest is the old one plus ``rescored_from`` (the run it came from)
and ``grader_version`` (the release that re-graded it); the items whose answer or verdict changed
are listed. Runs stored by older releases (schema 3 onwards) can be rescored.

How each kind of run is re-graded:

* one completion per item (``single``, ``--scoring loglikelihood``, imports): the stored completion
  text is graded as a live run grades it (inline thinking skipped by the grader); an import graded
  from ``--answer-field`` re-grades the stored answer the same way the importer did;
* voting and multi-step strategies (self-consistency, complexity, self-refine, least-to-most):
  the strategy itself is replayed with a ``generate`` that only reads the completion cache, so each
  chain is re-graded and the vote (by the task's equivalence), the revision rounds or the final
  answer are recomputed exactly as a live run would, with the per-sample stats behind maj@k;
* program-aided: the program is not run again; the answer its stored run printed is re-graded;
* an item whose replay asks for a completion the cache lacks (the new verdicts changed the
  strategy's path, or the entry is gone): its final completion is re-graded, and so is every graded
  step; its stored stats are kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cothub import __version__
from cothub.cost import ItemUsage, accounting, load_prices
from cothub.errors import CothubError
from cothub.run import RunResult, Usage, cache_key_of
from cothub.scoring.metrics import summarize
from cothub.store import RunRow, Store, open_store
from cothub.strategies import STRATEGIES, parse_strategy
from cothub.strategies.base import SolveContext, Strategy
from cothub.strategies.replay import answer_field_text, as_answer_field
from cothub.tasks import Task, resolve_task, with_params
from cothub.types import (
    Completion,
    GenerateConfig,
    Grade,
    GradedStep,
    ProgramStep,
    Prompt,
    RunManifest,
    SampleRecord,
    StrategyId,
    TaskManifest,
    TaskSummary,
)

GRADER = "cothub/" + __version__
"""The graders this release applies (recorded as a rescore's ``grader_version``)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One item whose extracted answer or verdict differs after re-grading."""

    task: str
    item_id: str
    old_answer: str | None
    new_answer: str | None
    old_correct: bool
    new_correct: bool

    def as_json(self) -> dict[str, object]:
        return {"task": self.task, "item_id": self.item_id, "old_answer": self.old_answer,
                "new_answer": self.new_answer, "old_correct": self.old_correct,
                "new_correct": self.new_correct}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RescoreReport:
    """What :func:`rescore` did."""

    result: RunResult
    """The new run (its summaries; no request, so zero usage)."""
    manifest: RunManifest
    """The new run's manifest (``rescored_from``, ``grader_version``)."""
    items: int
    """Stored items re-graded."""
    changed: tuple[Change, ...]
    """Items whose answer or verdict changed, in stored order."""
    replayed: int = 0
    """Strategy items whose strategy was replayed over the cache."""
    fallback: int = 0
    """Strategy items whose replay lacked a cached completion (final completion re-graded)."""

    def as_json(self) -> dict[str, object]:
        """``cothub run --json``'s shape, plus what the rescore is and what changed."""
        return {
            **self.result.as_json(),
            "rescored_from": self.manifest.rescored_from,
            "grader_version": self.manifest.grader_version,
            "items": self.items,
            "replayed": self.replayed,
            "fallback": self.fallback,
            "changed": [c.as_json() for c in self.changed],
        }


def rescore(
    run_id: str, store_path: Path | None = None, json_path: Path | None = None
) -> RescoreReport:
    """Re-grade every stored completion of run ``run_id`` (or a unique prefix) with the current
    graders and store the result as a new run; sends no request. ``json_path`` receives
    :meth:`RescoreReport.as_json`."""
    started = time.perf_counter()
    store = open_store(store_path)
    try:
        old = store.run(run_id)
        report = _rescore(store, old, started)
    finally:
        store.close()
    if json_path is not None:
        from cothub.api import write_json

        write_json(json_path, report.as_json())
    return report


def _rescore(store: Store, old: RunRow, started: float) -> RescoreReport:
    man = old.manifest
    if old.status == "running":
        raise CothubError(f"run {old.run_id} is running now; rescore it once it has ended")
    tasks = {name: _task(name, entry) for name, entry in man.tasks}
    records = list(store.records(old.run_id))
    if not records:
        raise CothubError(f"run {old.run_id} has no stored samples to rescore")
    regrader = _Regrader(store, man, tasks)
    try:
        if regrader.strategy is None and any(t.slow_grader for t in tasks.values()):
            # Symbolic graders (MATH) take milliseconds to seconds: in threads, as a run does.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(4) as pool:
                new_records = list(pool.map(regrader.regrade, records))
        else:
            new_records = [regrader.regrade(r) for r in records]
    finally:
        regrader.close()
    new_man = replace(
        man, grader=GRADER, rescored_from=old.run_id, grader_version=GRADER, started_at=time.time()
    )
    new_id = new_man.run_id
    summaries = _summaries(man, tasks, new_records, regrader.strategy, old)
    status = "complete" if old.status == "complete" else "incomplete"
    store.begin_run(new_id, old.model, old.tasks, new_man)
    store.record(new_id, new_records)
    wall = time.perf_counter() - started
    store.finish_run(new_id, status, {k: v.as_json() for k, v in summaries.items()}, wall)
    changed = tuple(
        Change(
            a.task, a.sample.id, a.grade.answer, b.grade.answer, a.grade.correct, b.grade.correct
        )
        for a, b in zip(records, new_records, strict=True)
        if (a.grade.answer, a.grade.correct) != (b.grade.answer, b.grade.correct)
    )
    strategy: dict[str, object] = (
        man.strategy.as_json() if man.strategy is not None else {"name": "single"}
    )
    formats = {name: entry.format for name, entry in man.tasks}
    result = RunResult(new_id, old.model, summaries, formats, Usage(), wall, strategy, status)
    return RescoreReport(result, new_man, len(records), changed, regrader.replayed,
                         regrader.fallback)  # fmt: skip


def _task(name: str, entry: TaskManifest) -> Task:
    """The task a manifest names, with the parameters it was run with, as registered today."""
    try:
        task, _ = resolve_task(name)
    except CothubError as e:
        raise CothubError(f"cannot rescore: {e}") from None
    return with_params(task, entry.params) if entry.params else task


class _Miss(Exception):
    """The replay asked for a completion the cache does not hold."""


class _Regrader:
    """Re-grades one stored record at a time (see the module docstring for how)."""

    def __init__(self, store: Store, man: RunManifest, tasks: dict[str, Task]) -> None:
        self.store = store
        self.man = man
        self.tasks = tasks
        self.formats = {name: entry.format for name, entry in man.tasks}
        self.configs = {name: entry.generation for name, entry in man.tasks}
        self.strategy = _strategy(man)
        self.replayed = 0
        self.fallback = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def regrade(self, r: SampleRecord) -> SampleRecord:
        task, fmt = self.tasks[r.task], self.formats[r.task]
        if self.man.is_import and r.grade.method.startswith("answer-field"):
            return replace(r, grade=_answer_field(task, r, fmt))
        if self.man.strategy is None or self.man.strategy.name == "single":
            return replace(r, grade=task.grade(r.sample, r.completion.text, fmt))
        if self.man.strategy.name == "program":
            return self._program(r, task, fmt)
        config = self.configs[r.task]
        if self.strategy is not None and config is not None:
            try:
                out = self._replay(r, task, fmt, config, self.strategy)
                self.replayed += 1
                return out
            except _Miss:
                pass
        self.fallback += 1
        return self._final_and_steps(r, task, fmt)

    def _replay(
        self, r: SampleRecord, task: Task, fmt: str, config: GenerateConfig, strategy: Strategy
    ) -> SampleRecord:
        identity = self.man.model.as_json()
        store = self.store

        async def generate(prompt: Prompt, cfg: GenerateConfig) -> list[Completion]:
            key = cache_key_of(identity, prompt, cfg)
            hit = store.cached([key]).get(key)
            if hit is None:
                raise _Miss(key)
            return hit

        async def grade(text: str) -> Grade:
            return task.grade(r.sample, text, fmt)

        ctx = SolveContext(r.sample, r.prompt, config, generate, grade, task.equivalent)
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        outcome = self._loop.run_until_complete(strategy.solve(ctx))
        return replace(r, completion=outcome.completion, grade=outcome.grade,
                       steps=outcome.steps, stats=outcome.stats, cached=True)  # fmt: skip

    def _program(self, r: SampleRecord, task: Task, fmt: str) -> SampleRecord:
        """The stored program's printed answer, re-graded as the strategy grades it."""
        steps = list(r.steps)
        for i, st in enumerate(steps):
            if isinstance(st, ProgramStep) and st.status == "ok" and st.answer is not None:
                verdict = replace(
                    task.grade(r.sample, f"The answer is {st.answer}.", fmt), span=None
                )
                steps[i] = replace(st, correct=verdict.correct)
                return replace(r, grade=verdict, steps=tuple(steps))
        return r  # no program ran: no answer to grade, the verdict stands (wrong)

    def _final_and_steps(self, r: SampleRecord, task: Task, fmt: str) -> SampleRecord:
        steps = list(r.steps)
        for i, st in enumerate(steps):
            if isinstance(st, GradedStep):
                g = task.grade(r.sample, st.text, fmt)
                steps[i] = replace(st, answer=g.answer, correct=g.correct)
        grade = task.grade(r.sample, r.completion.text, fmt)
        return replace(r, grade=grade, steps=tuple(steps))

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()


def _strategy(man: RunManifest) -> Strategy | None:
    """The run's strategy rebuilt from its manifest; None when today's build of it would not
    describe itself the same way (then items are re-graded without a replay)."""
    if man.strategy is None or man.strategy.name in ("single", "program"):
        return None
    cls = STRATEGIES.get(man.strategy.name)
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    # ``describe()`` also records what follows from the settings (a prompt file's hash): only
    # the settings are parsed back; the rebuilt strategy must then describe itself the same way.
    known = {f.name for f in dataclasses.fields(cls)}
    settings = tuple((k, v) for k, v in man.strategy.settings if k in known)
    try:
        built = parse_strategy(StrategyId(man.strategy.name, settings).spec())
    except CothubError:
        return None
    return built if StrategyId.from_json(built.describe()) == man.strategy else None


def _answer_field(task: Task, r: SampleRecord, fmt: str) -> Grade:
    """An import graded from its ``--answer-field``: the stored answer re-graded as the importer
    grades it (a structured answer), since the completion text does not hold it."""
    if r.grade.answer is None:
        return r.grade
    return as_answer_field(task.grade(r.sample, answer_field_text(r.grade.answer), fmt))


def _kept(head: TaskSummary, stored: TaskSummary) -> TaskSummary:
    """``head`` plus what the stored summary holds and this rescore did not recompute (a
    strategy's sections without a replay, an older release's keys)."""
    keys = {k for k, _ in head.sections}
    tags = {b.tag for b in head.breakdowns}
    have = set(head.as_json())
    return replace(
        head,
        macro_accuracy=head.macro_accuracy if head.macro_accuracy is not None
        else stored.macro_accuracy,
        micro_accuracy=head.micro_accuracy if head.micro_accuracy is not None
        else stored.micro_accuracy,
        subsets=head.subsets if head.subsets is not None else stored.subsets,
        breakdowns=head.breakdowns + tuple(b for b in stored.breakdowns if b.tag not in tags),
        sections=head.sections + tuple((k, v) for k, v in stored.sections if k not in keys),
        accounting=head.accounting if head.accounting is not None else stored.accounting,
        unknown=head.unknown + tuple((k, v) for k, v in stored.unknown if k not in have),
    )  # fmt: skip


def _summaries(
    man: RunManifest,
    tasks: dict[str, Task],
    records: Sequence[SampleRecord],
    strategy: Strategy | None,
    old: RunRow,
) -> dict[str, TaskSummary]:
    price = None if man.is_import else load_prices().lookup(old.model)
    out: dict[str, TaskSummary] = {}
    for name, task in tasks.items():
        recs = [r for r in records if r.task == name]
        if not recs:
            continue
        part = summarize(name, recs, task.aggregate, task.breakdowns)
        head = part[name]
        if strategy is not None:
            try:
                sections = strategy.summary([r.stats for r in recs if r.stats is not None])
                head = replace(head, sections=tuple(sections.items()))
            except TypeError:  # some items kept their stored stats: keep the stored sections
                pass
        if not man.is_import:
            head = replace(head, accounting=accounting([ItemUsage.of(r) for r in recs], price))
        stored = (old.summary or {}).get(name)
        part[name] = head if stored is None else _kept(head, stored)
        out.update(part)
    return out
