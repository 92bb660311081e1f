"""``cothub import``: score completions produced elsewhere and store them as a run.

Published model outputs (a JSON or JSONL file of records) are matched to dataset items; then
the import is an ordinary run (plan -> manifest -> the one execute loop -> summary) whose
strategy replays each item's record (:mod:`cothub.strategies.replay`): graded by the task's own
grader against the dataset's gold, stored like any run, re-scored and compared like one. No
model is called: this module reads files and matches records; nothing else.

Matching never guesses. A record matches an item by, in order: its prompt (equal to the task's
rendered completion-style prompt), its id (equal to the item id, or with ``@index`` its position
in the file, declared by the user), its question text (equal after stripping). Unmatched records
are reported and left out; two records for one item are an error.

    cothub import gsm8k solutions.jsonl --model-name gpt3-175b --completion-field 175b.solution
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn, get_args

from cothub import __version__
from cothub.api import write_json
from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.models.replay import RecordedModel
from cothub.run import RunConfig, Runner, RunResult, TaskPlan, plan, task_manifest
from cothub.store import clean_text, open_store
from cothub.strategies.replay import Recorded, Replay
from cothub.tasks import PromptOptions
from cothub.types import Completion, FinishReason, ModelId, Prompt, RunManifest, Sample

INDEX = "@index"
"""``--id-field @index``: a record's 0-based position in its file is its item index."""

DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "completion": ("completion", "prediction", "output", "response"),
    "prompt": ("prompt", "input"),
    "question": ("question",),
    "id": ("id", "task_id"),  # task_id: human-eval's samples files
}
"""Field names tried, in order, for each role the user left unset: the first one the file uses.
Records lacking a default prompt, question or id field match by the others."""

_FINISH: tuple[str, ...] = get_args(FinishReason)
_SHOW_UNMATCHED = 5


@dataclass(frozen=True, slots=True)
class Fields:
    """Field paths (dotted, e.g. ``175b_finetuning.solution``) the user chose; None: defaults."""

    completion: str | None = None
    prompt: str | None = None
    question: str | None = None
    id: str | None = None
    """A field path, or ``@index`` for the record's position in its file."""
    answer: str | None = None
    """The answer a harness extracted (or the model gave in a structured field), graded instead
    of the completion text; None: grade the completion."""
    gold: str | None = None
    """The record's own gold answer, graded against instead of the dataset's (outputs made on
    another revision of the data, e.g. MMLU-Pro's May-2024 one); None: the dataset's."""
    choices: str | None = None
    """The record's own option list (a list of text), replacing the item's ``choices`` for
    grading, with ``gold``; None: the dataset's."""


@dataclass(frozen=True, slots=True)
class ImportConfig:
    """Everything a ``cothub import`` was asked for."""

    task: str
    """A benchmark (``bbh``: matched across all sub-tasks) or one sub-task (``bbh/snarks``)."""
    files: tuple[Path, ...]
    model_name: str
    format: str | None = None
    """The prompt format the completions answered (task default if None)."""
    fields: Fields = field(default_factory=Fields)
    stop: tuple[str, ...] | None = None
    """Stop sequences cut from each completion before grading (imported completions were never
    cut, so a base model's invented next question is still in them); None: the task's own stop
    sequences for its completion-style prompt, () to cut nothing. Recorded in the manifest."""


@dataclass(frozen=True, slots=True)
class Record:
    """One imported record, its fields already looked up."""

    file: int
    """Position of its file in the command line."""
    index: int
    """0-based position in its file."""
    completion: str
    prompt: str | None
    question: str | None
    id: str | None
    finish_reason: FinishReason
    answer: str | None = None
    """The ``--answer-field`` value as text (None: no answer-field, or a null/empty value)."""
    has_answer: bool = False
    """Whether the record's answer is graded instead of its completion (``--answer-field``)."""
    gold: str | None = None
    """The ``--gold-field`` value (None: grade against the dataset's gold)."""
    choices: tuple[str, ...] | None = None
    """The ``--choices-field`` options (None: the dataset's)."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One input file: its bytes' hash, the field paths resolved for it, and its records."""

    number: int
    """Position in the command line."""
    path: Path
    label: str
    """How messages name the file: its name, or the path as given when names collide."""
    sha256: str
    fields: dict[str, str | None]
    records: list[Record]

    def where(self, index: int) -> str:
        return f"{self.label}#{index}"


@dataclass(frozen=True, slots=True)
class Match:
    """A record and the item it answers, with the rule that tied them."""

    record: Record
    sample: Sample
    method: str
    """``prompt``, ``id``, ``index`` or ``question``."""


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A record no rule tied to an item: it is reported, not scored."""

    record: Record
    where: str
    """``file.json#17``, for messages."""
    reason: str


@dataclass(frozen=True, slots=True)
class Matching:
    matches: list[Match]
    """In dataset order."""
    unmatched: list[Unmatched]
    """In file order."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    """The stored run plus what did and did not match."""

    result: RunResult
    records: int
    methods: dict[str, int]
    """Matched records per method."""
    unmatched: list[Unmatched]
    items: int
    """Items of the selected dataset."""
    uncovered: int
    """Dataset items with no record (absent from the run)."""

    def lines(self) -> list[str]:
        """The stderr report: match counts, the first unmatched records, uncovered items."""
        by = ", ".join(f"{m} {n:,}" for m, n in sorted(self.methods.items()))
        matched = sum(self.methods.values())
        out = [f"matched {matched:,} of {_n(self.records, 'record')} to items ({by})"]
        if self.unmatched:
            shown = self.unmatched[:_SHOW_UNMATCHED]
            more = f", first {len(shown)}" if len(self.unmatched) > len(shown) else ""
            out.append(f"{_n(len(self.unmatched), 'record')} matched no item, not scored{more}:")
            out += [f"  {u.where}: {u.reason}" for u in shown]
        if self.uncovered:
            out.append(
                f"{self.uncovered:,} of {_n(self.items, 'dataset item')} have no record "
                "(absent from the run)"
            )
        return out


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


# ---- reading files --------------------------------------------------------------------------


def lookup(record: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted path: ``a.b`` is ``record["a"]["b"]``, ``a.0`` a list item.

    A key that itself contains dots (``"a.b"``) is found when the whole path names it.
    """
    if path in record:
        return True, record[path]
    node: Any = record
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def parse_records(path: Path, raw: bytes) -> list[dict[str, Any]]:
    """Records of a JSONL file, a JSON list, or a JSON object holding exactly one list."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CothubError(f"{path}: not UTF-8 text ({e.reason}); give a JSON or JSONL file") from e
    if path.suffix.lower() in _TEXT_LOGS:
        rows = list(parse_qa_log(text))
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = _jsonl(path, text)
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            if e.msg != "Extra data":
                raise CothubError(
                    f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
                ) from e
            doc = _jsonl(path, text)  # several documents: JSON lines under another suffix
        rows = _one_list(path, doc)
    if not rows:
        raise CothubError(f"{path} holds no records")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise CothubError(f"{path}#{i}: a record must be a JSON object, not {_kind(row)}")
    return rows


_TEXT_LOGS = (".txt", ".log", ".md")
_QA_Q = re.compile(r"^(?:Q|Question):[ \t]?", re.MULTILINE)
_QA_A = re.compile(r"^(?:A|Answer):[ \t]?", re.MULTILINE)


def parse_qa_log(text: str) -> list[dict[str, Any]]:
    """Records of a plain-text log of ``Q: <question>`` / ``A: <completion>`` blocks.

    A line starting ``Q:`` (or ``Question:``) opens a record; the first line after it starting
    ``A:`` (or ``Answer:``) ends the question, and the completion runs to the next ``Q:`` line.
    Anything before the first ``Q:`` (a header) is ignored; a block without an ``A:`` line is
    a record with an empty completion (so it is reported, not silently dropped).
    """
    starts = list(_QA_Q.finditer(text))
    rows: list[dict[str, Any]] = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        a = _QA_A.search(text, m.end(), end)
        question = text[m.end() : a.start() if a else end].strip()
        completion = text[a.end() : end].rstrip() if a else ""
        rows.append({"question": question, "completion": completion})
    return rows


def _jsonl(path: Path, text: str) -> list[Any]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise CothubError(f"{path}:{lineno}: not valid JSON ({e.msg})") from e
    return rows


def _one_list(path: Path, doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        lists = [k for k, v in doc.items() if isinstance(v, list)]
        if len(lists) == 1:
            return list(doc[lists[0]])
        found = f"found {len(lists)}" + (f": {', '.join(lists)}" if lists else "")
        raise CothubError(
            f"{path}: a JSON object must hold exactly one list of records ({found}); "
            'give a list, JSON lines, or an object like {"outputs": [...]}'
        )
    raise CothubError(f"{path}: expected records (a list or JSON lines), not {_kind(doc)}")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else "a number, boolean or null"


def read_file(path: Path, file_no: int, fields: Fields, label: str = "") -> SourceFile:
    """Read one file and look up every record's fields; a missing field is an error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise CothubError(f"{path}: no such file") from e
    except OSError as e:
        raise CothubError(f"{path}: cannot read ({e.strerror})") from e
    rows = parse_records(path, raw)
    paths = _resolve_fields(path, rows, fields)
    named = {role for role in DEFAULT_FIELDS if getattr(fields, role) is not None}
    required = frozenset({"completion", *named})
    records = [_record(path, file_no, i, row, paths, required) for i, row in enumerate(rows)]
    digest = hashlib.sha256(raw).hexdigest()
    return SourceFile(file_no, path, label or path.name, digest, paths, records)


def _resolve_fields(
    path: Path, rows: Sequence[Mapping[str, Any]], fields: Fields
) -> dict[str, str | None]:
    """The field path for each role: the user's, else the first default the file uses."""
    chosen: dict[str, str | None] = {}
    for role, defaults in DEFAULT_FIELDS.items():
        given: str | None = getattr(fields, role)
        if given is not None:
            chosen[role] = given
            continue
        used = (d for d in defaults if any(lookup(row, d)[0] for row in rows))
        chosen[role] = next(used, None)
    if fields.answer is not None:  # only then: manifests of plain imports stay as they were
        chosen["answer"] = fields.answer
    if fields.gold is not None:
        chosen["gold"] = fields.gold
    if fields.choices is not None:
        chosen["choices"] = fields.choices
    if chosen["completion"] is None:
        tried = ", ".join(DEFAULT_FIELDS["completion"])
        raise CothubError(
            f"{path}: no completion field (tried {tried}; record keys: {_keys(rows[0])}); "
            "pass --completion-field PATH"
        )
    return chosen


def _keys(row: Mapping[str, Any]) -> str:
    keys = list(row)
    return ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")


def _record(
    path: Path,
    file_no: int,
    index: int,
    row: Mapping[str, Any],
    paths: Mapping[str, str | None],
    required: frozenset[str],
) -> Record:
    """The record's fields; a field the user named (and the completion) must be there."""

    def text(role: str, as_id: bool = False) -> str | None:
        name = paths[role]
        if name is None or (as_id and name == INDEX):
            return None
        found, value = lookup(row, name)
        if not found and role not in required:
            return None  # a default field some records lack: they match by other fields
        if not found:
            raise CothubError(
                f"{path}#{index}: no field {name!r} (record keys: {_keys(row)}); "
                f"pass --{role}-field PATH"
            )
        if as_id and isinstance(value, int | str) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise CothubError(
                f"{path}#{index}: field {name!r} is {_kind(value)}, expected a string; "
                f"pass --{role}-field PATH to a text field"
            )
        return value

    completion = text("completion")
    assert completion is not None  # resolved to a path, so present or an error above
    answer: str | None = None
    if paths.get("answer") is not None:
        answer = _answer_text(path, index, row, str(paths["answer"]))
    finish = row.get("finish_reason")
    return Record(
        file=file_no,
        index=index,
        completion=completion,
        prompt=text("prompt"),
        question=text("question"),
        id=text("id", as_id=True),
        finish_reason=finish if finish in _FINISH else "other",
        answer=answer,
        has_answer=paths.get("answer") is not None,
        gold=_gold_text(path, index, row, paths.get("gold")),
        choices=_choices(path, index, row, paths.get("choices")),
    )


def _gold_text(path: Path, index: int, row: Mapping[str, Any], name: str | None) -> str | None:
    """The ``--gold-field`` value as text (a string, or a number written out); None: unset."""
    if name is None:
        return None
    found, value = lookup(row, name)
    if not found or isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise CothubError(
            f"{path}#{index}: field {name!r} is {'missing' if not found else _kind(value)}, "
            "expected the gold answer as text; pass --gold-field PATH"
        )
    return str(value)


def _choices(
    path: Path, index: int, row: Mapping[str, Any], name: str | None
) -> tuple[str, ...] | None:
    """The ``--choices-field`` value: a list of option texts; None: unset."""
    if name is None:
        return None
    found, value = lookup(row, name)
    if not found or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CothubError(
            f"{path}#{index}: field {name!r} is {'missing' if not found else _kind(value)}, "
            "expected a list of option texts; pass --choices-field PATH"
        )
    return tuple(value)


def _answer_text(path: Path, index: int, row: Mapping[str, Any], name: str) -> str | None:
    """The ``--answer-field`` value as text: a string as is, a number or boolean written out, a
    one-item list (harnesses store ``"pred": ["5"]``) its item; null or empty is no answer."""
    found, value = lookup(row, name)
    if not found:
        raise CothubError(
            f"{path}#{index}: no field {name!r} (record keys: {_keys(row)}); "
            "pass --answer-field PATH"
        )
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | str):
        return str(value)
    raise CothubError(
        f"{path}#{index}: field {name!r} is {_kind(value)}, expected a string or number; "
        "pass --answer-field PATH to the extracted answer"
    )


# ---- matching -------------------------------------------------------------------------------


def match_records(
    files: Sequence[SourceFile],
    samples: Sequence[Sample],
    prompts: Mapping[str, Prompt],
    by_index: bool = False,
) -> Matching:
    """Tie records to items: by prompt, else by id (or ``@index``), else by question.

    Keys that fit several items (BBH has repeated inputs, some with different golds) are
    resolved only when as many records share the key and all carry the same completion: then
    which record goes to which item cannot change a verdict. Otherwise such records stay
    unmatched. Two records for one item raise :class:`CothubError`.
    """
    m = _Matcher(files, samples)
    m.by_key("prompt", lambda r: r.prompt, lambda s: prompts[s.id].text)
    if by_index:
        m.by_position()
    else:
        m.by_key("id", lambda r: r.id, lambda s: s.id)
    m.by_key("question", lambda r: r.question, lambda s: s.question)
    order = {s.id: i for i, s in enumerate(samples)}
    matches = sorted(m.taken.values(), key=lambda x: order[x.sample.id])
    unmatched = [
        Unmatched(r, m.where(r), "; ".join(m.reasons[r]) or "no prompt, id or question to match by")
        for r in m.pending
    ]
    return Matching(matches, unmatched)


class _Matcher:
    """The passes of :func:`match_records`; each takes what it can from ``pending``."""

    def __init__(self, files: Sequence[SourceFile], samples: Sequence[Sample]) -> None:
        self.files = files
        self.samples = samples
        self.pending = [r for f in files for r in f.records]
        self.taken: dict[str, Match] = {}
        self.reasons: dict[Record, list[str]] = {r: [] for r in self.pending}

    def take(self, record: Record, sample: Sample, method: str) -> None:
        if sample.id in self.taken:
            self._too_many([record], [sample], method)
        self.taken[sample.id] = Match(record, sample, method)

    def where(self, r: Record) -> str:
        return self.files[r.file].where(r.index)

    def by_key(
        self,
        method: str,
        record_key: Callable[[Record], str | None],
        sample_key: Callable[[Sample], str],
    ) -> None:
        index: dict[str, list[Sample]] = {}
        for s in self.samples:
            index.setdefault(sample_key(s).strip(), []).append(s)
        groups: dict[str, list[Record]] = {}
        for r in self.pending:
            key = record_key(r)
            if key is not None:
                groups.setdefault(key.strip(), []).append(r)
        done: set[Record] = set()
        for key, records in groups.items():
            fits = index.get(key, [])
            free = [s for s in fits if s.id not in self.taken]
            if not fits:
                for r in records:
                    self.reasons[r].append(f"no item has this {method}")
                continue
            if len(records) > len(free):
                self._too_many(records, fits, method)
            if len(free) > 1 and (
                len(records) < len(free) or len({r.completion for r in records}) > 1
            ):
                for r in records:
                    self.reasons[r].append(
                        f"{len(free)} items share this {method}; the records cannot be told apart"
                    )
                continue
            for r, s in zip(records, free, strict=False):
                self.take(r, s, method)
                done.add(r)
        self.pending = [r for r in self.pending if r not in done]

    def _too_many(self, records: Sequence[Record], fits: Sequence[Sample], method: str) -> NoReturn:
        """Raise: more records than items for one key; naming every claim and its rule."""
        held = [self.taken[s.id] for s in fits if s.id in self.taken]
        claims = [f"{self.where(m.record)} (by {m.method})" for m in held]
        claims += [f"{self.where(r)} (by {method})" for r in records]
        items = ", ".join(s.id for s in fits)
        raise CothubError(
            f"{len(claims)} records for {_n(len(fits), 'item')} {items}: "
            f"{', '.join(claims[:4])}; remove the duplicates, or import them as separate runs"
        )

    def by_position(self) -> None:
        """``@index``: record i of a file answers item ``<sub-task>/i`` of the file's sub-task.

        The sub-task is the selection's only one, or the one the file's prompt matches all
        belong to; every prompt match must sit at its item's position, else the file is not in
        dataset order and positions would be a guess.
        """
        subsets: dict[str, list[Sample]] = {}
        for s in self.samples:
            subsets.setdefault(s.subset, []).append(s)
        done: set[Record] = set()
        for f in self.files:
            subset = self._file_subset(f, subsets)
            items = subsets[subset]
            for i, s in enumerate(items):
                if s.id.rpartition("/")[2] != str(i):
                    raise CothubError(
                        f"--id-field {INDEX} needs item ids ending in their position; item {i} "
                        f"of {subset or 'the task'} is {s.id!r}: pass an id field instead"
                    )
            for m in self.taken.values():
                # The file's prompt matches must sit at their items' positions, or the file
                # is not in dataset order and positions would be a guess.
                at = m.record.index
                if m.record.file == f.number and (at >= len(items) or items[at] != m.sample):
                    raise CothubError(
                        f"--id-field {INDEX} contradicts matching by {m.method}: "
                        f"{self.where(m.record)} is item {m.sample.id}, so {f.path.name} is "
                        "not in dataset order; drop --id-field @index"
                    )
            for r in self.pending:
                if r.file != f.number:
                    continue
                if r.index < len(items):
                    self.take(r, items[r.index], "index")
                    done.add(r)
                else:
                    self.reasons[r].append(f"position {r.index} is past the last item")
        self.pending = [r for r in self.pending if r not in done]

    def _file_subset(self, f: SourceFile, subsets: Mapping[str, list[Sample]]) -> str:
        if len(subsets) == 1:
            return next(iter(subsets))
        seen = {m.sample.subset for m in self.taken.values() if m.record.file == f.number}
        if not seen:  # no prompt matched at all: most often the file answers another format
            raise CothubError(
                f"--id-field {INDEX}: cannot tell which sub-task {f.path.name} follows (no "
                "prompt in it matches an item in the format imported); if the file answers "
                "another prompt format, pass it (e.g. --format fewshot-direct for answer-only "
                "prompts; `cothub tasks TASK` lists the formats), else import it as TASK/SUB-TASK"
            )
        if len(seen) != 1:
            raise CothubError(
                f"--id-field {INDEX}: cannot tell which sub-task {f.path.name} follows (its "
                f"prompts match items of {len(seen)} sub-tasks); import it as TASK/SUB-TASK"
            )
        return seen.pop()


# ---- the run --------------------------------------------------------------------------------


def import_completions(
    config: ImportConfig,
    data_dir: str | Path | None = None,
    store_path: Path | None = None,
    json_path: Path | None = None,
) -> ImportReport:
    """Match imported completions to items, then run them through the execute loop of every
    run (plan -> manifest -> replay -> summary), stored as one run; nothing calls a model.

    ``json_path`` receives the same shape as ``cothub run --json`` (:meth:`RunResult.as_json`).
    """
    started = time.perf_counter()
    if not config.files:
        raise CothubError("no files to import; give one or more JSON / JSONL files")
    names = [p.name for p in config.files]
    files = [
        read_file(p, i, config.fields, p.name if names.count(p.name) == 1 else str(p))
        for i, p in enumerate(config.files)
    ]
    run = _run_config(config)
    p = plan(run, DataSource.resolve(data_dir), "completions")[0]
    prompts = {s.id: p.prompter.render(s) for s in p.samples}
    matching = match_records(files, p.samples, prompts, config.fields.id == INDEX)
    if not matching.matches:
        first = matching.unmatched[0]
        raise CothubError(
            f"no record matched an item of {config.task} (e.g. {first.where}: {first.reason}); "
            "check the task, --format and the --*-field options"
        )
    stops = _stops(config, p, prompts)
    replayed, recorded = _replayed(p, matching, files, prompts, stops)
    man = _manifest(config, p, files, matching, stops, recorded)
    store = open_store(store_path)
    try:
        replay = replace(run, strategy=Replay(recorded))
        runner = Runner(RecordedModel(config.model_name), store, replay)
        result = asyncio.run(runner.run([replayed], man))
    finally:
        store.close()
    result = replace(result, wall_s=time.perf_counter() - started)  # reading files included
    if json_path is not None:
        write_json(json_path, result.as_json())
    return ImportReport(
        result=result,
        records=sum(len(f.records) for f in files),
        methods=dict(Counter(m.method for m in matching.matches)),
        unmatched=matching.unmatched,
        items=len(p.samples),
        uncovered=len(p.samples) - len(matching.matches),
    )


def _run_config(config: ImportConfig) -> RunConfig:
    """The run an import is: the task's completion-style prompts, every item, one completion
    each (replayed, not generated); resolved exactly as ``run`` resolves its own."""
    if config.task.strip().lower() == "hub":
        raise CothubError("import one benchmark at a time (gsm8k, bbh, bbh/snarks, ...), not hub")
    return RunConfig(
        tasks=(config.task,),
        format=config.format,
        options=PromptOptions(style="completions"),
        limit=None,
        seed=0,
        max_tokens=None,
        temperature=0.0,
    )


def _replayed(
    p: TaskPlan,
    matching: Matching,
    files: Sequence[SourceFile],
    prompts: Mapping[str, Prompt],
    stops: Sequence[str],
) -> tuple[TaskPlan, dict[str, Recorded]]:
    """The plan of the matched items (each with the record's own gold, options and prompt where
    it has them) and each item's recorded completion, keyed by item id."""
    samples: list[Sample] = []
    own: dict[str, Prompt] = {}
    recorded: dict[str, Recorded] = {}
    for m in matching.matches:
        r, sample = m.record, m.sample
        if r.gold is not None:  # the record's own gold and options (--gold-field, ...)
            sample = dataclasses.replace(sample, gold=r.gold)
        if r.choices is not None:
            sample = dataclasses.replace(sample, choices=r.choices)
        samples.append(sample)
        own[sample.id] = (
            prompts[sample.id] if r.prompt is None
            else Prompt(style="completions", text=r.prompt)
        )  # fmt: skip
        # Graded as stored: a lone surrogate becomes U+FFFD; cut where a server would have.
        text = cut_at_stop(clean_text(r.completion), stops)
        recorded[sample.id] = Recorded(
            Completion(text=text, finish_reason=r.finish_reason),
            # No cache entry stands behind an imported completion; the key names its record.
            key=f"import:{files[r.file].sha256}#{r.index}",
            answer=r.answer,
            has_answer=r.has_answer,
        )
    render: Callable[[Sample], Prompt] = lambda s: own[s.id]  # noqa: E731
    return replace(p, samples=samples, prompter=replace(p.prompter, render=render)), recorded


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """``text`` up to the first of ``stops`` (as a server applying them would have returned),
    looked for after the first non-blank character: a leading "\n" is the reply's layout, and
    cutting there would leave nothing to grade."""
    end = len(text)
    begin = len(text) - len(text.lstrip())
    for stop in stops:
        if stop:
            at = text.find(stop, begin + 1 if begin < end else begin, end)
            if at >= 0:
                end = at
    return text[:end]


def _stops(config: ImportConfig, p: TaskPlan, prompts: Mapping[str, Prompt]) -> list[str]:
    """The stop sequences to apply: ``--stop``, else the task's completion-style ones."""
    if config.stop is not None:
        return list(config.stop)
    found: dict[str, None] = {}
    for prompt in prompts.values():
        found.update(dict.fromkeys(prompt.stop))
    return list(found)


def _manifest(
    config: ImportConfig,
    p: TaskPlan,
    files: Sequence[SourceFile],
    matching: Matching,
    stops: Sequence[str],
    recorded: Mapping[str, Recorded],
) -> RunManifest:
    """Everything that can move the numbers (the files and how they matched, not generation
    settings); its hash is the run id."""
    info: dict[str, object] = {
        "files": [_file_manifest(f, matching) for f in files],
        "matched": len(matching.matches),
        "unmatched": len(matching.unmatched),
        "uncovered": len(p.samples) - len(matching.matches),
        "stop": {
            "sequences": list(stops),
            "source": "--stop" if config.stop else "off" if config.stop == () else "task",
            "cut": sum(
                len(recorded[m.sample.id].completion.text) < len(m.record.completion)
                for m in matching.matches
            ),
        },
    }
    if config.fields.gold is not None:  # which gold was graded against, and how often it moved
        info["gold"] = {
            "field": config.fields.gold,
            "differs_from_dataset": sum(m.record.gold != m.sample.gold for m in matching.matches),
        }
    entry = replace(task_manifest(p), items=len(matching.matches), dataset_items=len(p.samples))
    return RunManifest(
        model=ModelId("import", config.model_name),
        tasks=((p.task.name, entry),),
        prompt_style="completions",
        grader="cothub/" + __version__,
        import_info=info,
        # Local paths are provenance, not identity: the same bytes give the same run anywhere.
        paths=tuple(str(f.path.resolve()) for f in files),
    )


def _file_manifest(f: SourceFile, matching: Matching) -> dict[str, object]:
    """Per file: name, hash, fields, and how each record matched (the usual method implied)."""
    mine = [m for m in matching.matches if m.record.file == f.number]
    counts = Counter(m.method for m in mine)
    usual = counts.most_common(1)[0][0] if counts else None
    return {
        "name": f.path.name,
        "sha256": f.sha256,
        "records": len(f.records),
        "fields": f.fields,
        "matched_by": dict(sorted(counts.items())),
        "method": usual,
        "other_methods": {
            str(m.record.index): [m.sample.id, m.method] for m in mine if m.method != usual
        },
        "unmatched": [u.record.index for u in matching.unmatched if u.record.file == f.number],
    }
